// Package dynamotest gives a package's tests a real DynamoDB engine:
// DynamoDB Local, shared by all tests of one test binary, with a fresh
// table per test.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { dynamotest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		client, table := dynamotest.Table(t)
//		store := dynamo.New(client, table)
//		...
//	}
//
// DynamoDB Local starts on the first call that needs it, not in Main, so a
// binary whose selected tests (or fuzz workers) never touch the database
// starts no JVM. When OUTDIAL_DYNAMODB_ENDPOINT is set (`make test` sets it,
// through cmd/teststack, to one instance for the whole run), that endpoint
// is used and nothing is started; Main gives the test binary an access key
// of its own (localstack.EnvAccessKeyID), and so a database of its own in
// that instance.
//
// With -short (`make unit`) nothing is started at all: Client and Table
// skip the test that calls them, so the pure tests of a package still run.
//
// Tests of package dynamo itself must be in package dynamo_test: this
// package imports dynamo for the table schema.
package dynamotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/localstack"
)

// EnvEndpoint names an already running DynamoDB Local to use instead of
// starting one.
const EnvEndpoint = localstack.EnvDynamoDBEndpoint

// EnvDouble, when set (to anything), makes every client of this package
// go through the DynamoDB double (internal/ddbdouble, its defaults):
// latency, transaction conflicts and per-partition budgets of DynamoDB, for
// example `OUTDIAL_DYNAMODB_DOUBLE=1 go test ./internal/dynamo/`.
const EnvDouble = "OUTDIAL_DYNAMODB_DOUBLE"

// theDouble returns the test binary's DynamoDB double, made on first use.
var theDouble = sync.OnceValue(func() *ddbdouble.Double { return ddbdouble.New(nil, ddbdouble.DefaultConfig()) })

// startTimeout bounds installing (npm ci) and starting DynamoDB Local.
const startTimeout = 3 * time.Minute

// shared is the one DynamoDB Local of this test binary. It is package state
// because TestMain and the tests have nothing else in common; Main sets
// mainRan before any test runs, and once guards the start.
var shared struct {
	mainRan  bool
	once     sync.Once
	proc     *localstack.Process // nil when the endpoint came from the environment
	endpoint string
	err      error
}

// Main runs the tests of m and then stops the DynamoDB Local they started,
// if any; it exits the process with the tests' status (non-zero also when
// the stand-in could not be stopped cleanly). Call it from TestMain.
func Main(m *testing.M) {
	shared.mainRan = true
	// A database of its own in `make test`'s DynamoDB Local, which keeps
	// one per access key (localstack.StartDynamoDBPerKey): another
	// package's stream records cannot slow this one's writes down.
	if os.Getenv(localstack.EnvAccessKeyID) == "" {
		key := make([]byte, 8)
		rand.Read(key)
		os.Setenv(localstack.EnvAccessKeyID, "test"+hex.EncodeToString(key))
	}
	code := m.Run()
	if err := shared.proc.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "dynamotest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Endpoint returns the URL of the test binary's DynamoDB Local, starting it
// on first use. It panics when DynamoDB Local cannot be started, Main is
// not in use or the tests run with -short; tests should prefer Client or
// Table, which fail (or, with -short, skip) the test instead.
func Endpoint() string {
	endpoint, err := ensure()
	if err != nil {
		panic(err)
	}
	return endpoint
}

// Client returns a client of the test binary's DynamoDB Local, starting it
// on first use. With -short it skips the test instead.
func Client(t testing.TB) *dynamodb.Client {
	t.Helper()
	SkipShort(t, "DynamoDB Local")
	endpoint, err := ensure()
	if err != nil {
		t.Fatal(err)
	}
	client, err := localstack.DynamoDBClient(context.Background(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	// The retry settings the functions use; through the DynamoDB double
	// when OUTDIAL_DYNAMODB_DOUBLE is set (one double per test binary).
	return dynamodb.New(client.Options(), dynamo.ClientOptions, func(o *dynamodb.Options) {
		if os.Getenv(EnvDouble) != "" {
			o.HTTPClient = theDouble().Client()
		}
	})
}

// Through returns a client like base (its endpoint and the retries of
// dynamo.ClientOptions) whose requests go through the DynamoDB double d, the
// one way tests count DynamoDB requests and inject faults:
//
//	d := ddbdouble.New(nil, ddbdouble.Config{NoConflicts: true, Fault: ...})
//	store := dynamo.New(dynamotest.Through(client, d, dynamotest.NoRetries), table)
//
// base itself still goes straight to DynamoDB Local (setup and checks).
func Through(base *dynamodb.Client, d *ddbdouble.Double, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.New(base.Options(), append([]func(*dynamodb.Options){func(o *dynamodb.Options) { o.HTTPClient = d.Client() }}, opts...)...)
}

// NoRetries is a client option that turns the SDK's retries off. The SDK's
// retryer sits above the double, so it resends a retryable fault the
// double injects; without retries every fault reaches the caller once per
// call, as it would reach the store after the SDK's retries are spent.
func NoRetries(o *dynamodb.Options) { o.Retryer = aws.NopRetryer{} }

// Table creates a table with the production schema
// (dynamo.CreateTableInput) under a name no other test uses, and deletes it
// when the test ends. It returns a client and the table name. With -short
// it skips the test instead.
//
// The table has no stream: DynamoDB Local keeps the stream records of a
// database after their tables are deleted, and every later stream write of
// that database (the test binary's) gets slower with them; StreamTable
// makes one with the production stream for the tests that read it.
func Table(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	return table(t, false)
}

// StreamTable is Table with the production schema's stream (new and old
// images), for the tests of the event pipeline.
func StreamTable(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	return table(t, true)
}

func table(t testing.TB, stream bool) (*dynamodb.Client, string) {
	t.Helper()
	client := Client(t)
	name := tableName(t.Name())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := dynamo.CreateTableInput(name)
	if !stream {
		in.StreamSpecification = nil
	}
	if err := dynamo.CreateTable(ctx, client, in); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The test's own context is done by now; use a fresh one.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &notFound) {
			t.Errorf("delete table %s: %v", name, err)
		}
	})
	return client, name
}

// SkipShort skips t when the tests run with -short, the fast tier of
// `make unit` that starts no stand-in process (no JVM, no Node) and uses no
// network; needs names what the test would start, such as "DynamoDB Local"
// or "the local stack".
func SkipShort(t testing.TB, needs string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs " + needs)
	}
}

// ensure returns the endpoint, starting DynamoDB Local on the first call.
// With -short it starts nothing and returns an error.
func ensure() (string, error) {
	if shared.mainRan && testing.Short() {
		return "", errors.New("dynamotest: -short: DynamoDB Local is not started (skip the test with dynamotest.SkipShort)")
	}
	shared.once.Do(func() {
		if endpoint := os.Getenv(EnvEndpoint); endpoint != "" {
			shared.endpoint = endpoint
			return
		}
		if !shared.mainRan {
			// Without Main nobody would stop the JVM.
			shared.err = errors.New("dynamotest: call dynamotest.Main from TestMain, or set " + EnvEndpoint)
			return
		}
		root, err := localstack.RepoRoot()
		if err != nil {
			shared.err = fmt.Errorf("dynamotest: %w", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		proc, err := localstack.StartDynamoDB(ctx, root, 0)
		if err != nil {
			shared.err = fmt.Errorf("dynamotest: %w", err)
			return
		}
		shared.proc, shared.endpoint = proc, proc.Endpoint
	})
	return shared.endpoint, shared.err
}

// tableName turns a test name into a valid, unique table name: at most 255
// characters of [A-Za-z0-9_.-].
func tableName(testName string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		default:
			return '_'
		}
	}, testName)
	if len(clean) > 200 {
		clean = clean[:200]
	}
	suffix := make([]byte, 6)
	rand.Read(suffix)
	return clean + "-" + hex.EncodeToString(suffix)
}
