package localstack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// StartDynamoDB starts DynamoDB Local (in memory, one shared database,
// telemetry off) from node_modules under root, installing it first if
// needed, and returns once it answers ListTables. Port 0 picks a free port.
// ctx bounds the start-up only (at most 30 s); the process runs until Stop.
//
// DynamoDB Local has no bind option and listens on all interfaces; connect
// to it through Endpoint, which is on 127.0.0.1.
func StartDynamoDB(ctx context.Context, root string, port int) (*Process, error) {
	return startDynamoDB(ctx, root, port, true)
}

// StartDynamoDBPerKey is StartDynamoDB without -sharedDb: DynamoDB Local
// then keeps a database per access key id and region ("If you omit
// -sharedDb, the database file is named myaccesskeyid_region.db, with the
// AWS access key ID and AWS Region as they appear in your application
// configuration",
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/DynamoDBLocal.UsageNotes.html),
// so clients with different keys (EnvAccessKeyID) have separate tables.
// The page says -inMemory requires -sharedDb; DynamoDB Local 3.3 keeps
// the in-memory databases apart by key all the same
// (TestStartDynamoDBPerKey).
//
// `make test` runs one for every test binary (cmd/teststack), each binary
// with a key of its own: DynamoDB Local keeps the stream records of a
// database after their tables are deleted, and every stream write gets
// slower with them (measured here: 1 000 targets into a stream table took
// 1.4 s in a fresh database and 35 s after one shared test run), so one
// database for the whole run made the event tests' imports crawl and
// stalled the other packages' requests behind them for up to 12 s.
func StartDynamoDBPerKey(ctx context.Context, root string, port int) (*Process, error) {
	return startDynamoDB(ctx, root, port, false)
}

func startDynamoDB(ctx context.Context, root string, port int, sharedDB bool) (*Process, error) {
	if err := EnsureNodeModules(root); err != nil {
		return nil, err
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("start dynamodb-local: java not found in PATH; DynamoDB Local needs Java 17 or later (Debian: apt-get install openjdk-17-jre-headless)")
	}
	jars, err := filepath.Glob(filepath.Join(root, dynamoDBJarGlob))
	if err != nil || len(jars) == 0 {
		return nil, fmt.Errorf("start dynamodb-local: no %s under %s; run `npm ci`", dynamoDBJarGlob, root)
	}
	// The directory is dated (dynamodb_local_2026-01-16); take the newest.
	slices.Sort(jars)
	jar := jars[len(jars)-1]
	lib := filepath.Join(filepath.Dir(jar), "DynamoDBLocal_lib")

	return start(ctx, root, port, func(port int) spec {
		client, _ := DynamoDBClient(ctx, fmt.Sprintf("http://127.0.0.1:%d", port))
		args := []string{
			"-Djava.library.path=" + lib,
			// A small test database needs neither a parallel collector
			// nor the optimising compiler; both cost start-up CPU.
			"-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
			"-jar", jar,
			"-inMemory", "-disableTelemetry",
			"-port", strconv.Itoa(port),
		}
		if sharedDB {
			args = append(args, "-sharedDb")
		}
		return spec{
			name: "dynamodb-local",
			path: java,
			args: args,
			// DynamoDB Local writes files (telemetry metadata) to its
			// working directory; keep them out of the work tree.
			dir: filepath.Join(root, localDir),
			ready: func(ctx context.Context, _ string) error {
				_, err := client.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)},
					func(o *dynamodb.Options) { o.Retryer = aws.NopRetryer{} })
				return err
			},
		}
	})
}

// fauxqsLoopback runs fauxqs's CLI (path in argv[1]) with two changes:
//   - its listening socket moved from 0.0.0.0, which fauxqs 1.9 hard-codes,
//     to 127.0.0.1;
//   - a FIFO receive as SQS does it ("SQS returns as many messages with
//     the same message group ID as possible",
//     https://repost.aws/knowledge-center/sqs-fifo-messages-not-returned):
//     fauxqs 1.9 hands out one message per group and receive, and puts
//     messages made visible again back at the front of their group one by
//     one, so several come back in reverse order. The shim's dequeueFifo
//     sorts each group by sequence number (fauxqs's are zero-padded
//     decimal strings) and takes one message at a time, with the groups it
//     locked during this receive seen as open, so a receive fills from one
//     group, in order, before the next.
const fauxqsLoopback = `import net from "node:net";
import { pathToFileURL } from "node:url";
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const o = args[0];
  if (o !== null && typeof o === "object" && (o.host === "0.0.0.0" || o.host === "::")) {
    args[0] = { ...o, host: "127.0.0.1" };
  }
  return listen.apply(this, args);
};
const cli = pathToFileURL(process.argv[1]);
const { SqsQueue } = await import(new URL("./sqs/sqsStore.js", cli).href);
const dequeueFifo = SqsQueue.prototype.dequeueFifo;
if (typeof dequeueFifo !== "function") throw new Error("fauxqs: SqsQueue.prototype.dequeueFifo not found");
const bySequence = (a, b) => (a.sequenceNumber < b.sequenceNumber ? -1 : a.sequenceNumber > b.sequenceNumber ? 1 : 0);
SqsQueue.prototype.dequeueFifo = function (maxCount, ...rest) {
  this.processTimers();
  for (const msgs of this.fifoMessages.values()) msgs.sort(bySequence);
  const locks = this.fifoLockedGroups;
  const before = new Set(locks.keys());
  const view = {
    has: (g) => before.has(g),
    get: (g) => locks.get(g),
    set: (g, v) => { locks.set(g, v); return view; },
    delete: (g) => locks.delete(g),
  };
  const count = Math.min(maxCount, 10);
  const out = [];
  this.fifoLockedGroups = view;
  try {
    while (out.length < count) {
      const got = dequeueFifo.call(this, 1, ...rest);
      if (got.length === 0) break;
      out.push(...got);
    }
  } finally {
    this.fifoLockedGroups = locks;
  }
  return out;
};
await import(cli.href);
`

// StartSQS starts fauxqs, an SQS JSON-protocol server, from node_modules
// under root, listening on 127.0.0.1 only, and returns once it answers
// ListQueues. Port 0 picks a free port. ctx bounds the start-up only.
//
// Queue URLs look like http://sqs.us-east-1.localhost:PORT/000000000000/NAME;
// clients send requests to Endpoint and pass those URLs as parameters.
// Request logging is off unless FAUXQS_LOGGER=true is in the environment.
func StartSQS(ctx context.Context, root string, port int) (*Process, error) {
	if err := EnsureNodeModules(root); err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("start fauxqs: node not found in PATH; install Node.js 20 or later (Debian: apt-get install nodejs)")
	}
	cli := filepath.Join(root, fauxqsCLI)

	return start(ctx, root, port, func(port int) spec {
		client, _ := SQSClient(ctx, fmt.Sprintf("http://127.0.0.1:%d", port))
		env := []string{
			"FAUXQS_PORT=" + strconv.Itoa(port),
			"FAUXQS_DEFAULT_REGION=" + Region,
		}
		if _, ok := os.LookupEnv("FAUXQS_LOGGER"); !ok {
			env = append(env, "FAUXQS_LOGGER=false")
		}
		return spec{
			name: "fauxqs",
			path: node,
			args: []string{"--input-type=module", "-e", fauxqsLoopback, cli},
			env:  env,
			dir:  root,
			ready: func(ctx context.Context, _ string) error {
				_, err := client.ListQueues(ctx, &sqs.ListQueuesInput{},
					func(o *sqs.Options) { o.Retryer = aws.NopRetryer{} })
				return err
			},
		}
	})
}

// SharedSQS returns the SQS stand-in a test uses: the one named by
// OUTDIAL_SQS_ENDPOINT (make test shares one across test binaries), or a
// fauxqs of its own that stop ends.
func SharedSQS(ctx context.Context) (endpoint string, stop func(), err error) {
	if endpoint := os.Getenv(EnvSQSEndpoint); endpoint != "" {
		return endpoint, func() {}, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", nil, err
	}
	p, err := StartSQS(ctx, root, 0)
	if err != nil {
		return "", nil, err
	}
	return p.Endpoint, func() { p.Stop() }, nil
}
