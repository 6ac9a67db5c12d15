// Package localruntest starts the local stack of `make run`
// (internal/localrun) for a test: on the test binary's DynamoDB Local
// (internal/dynamotest), in a table of its own, with an SQS stand-in of its
// own (or the one OUTDIAL_SQS_ENDPOINT names). The stack stops, and its table is dropped, when the test ends.
//
// The functions build their loggers on standard output while the stack
// starts; Start points standard output at a pipe for that moment, so that
// what they log (and what the gateway and the pollers log) is kept: see
// Stack.Logs, and Options.Tee for reading it as it is written.
//
// The test binary must use dynamotest.Main in its TestMain, and tests that
// call Start must not run in parallel (standard output is swapped). With
// -short (`make unit`) Start skips the test.
package localruntest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localstack"
)

// Options are the choices of Start; the zero value is a stack whose logs
// are kept and shown if the test fails.
type Options struct {
	// Prefix starts the table's name (default "localruntest").
	Prefix string
	// Tee, if set, gets every log line as it is written.
	Tee io.Writer
	// DiscardLogs keeps nothing in Stack.Logs (a long load test logs a
	// line per outcome).
	DiscardLogs bool
	// Parameters and ScheduleEvery are passed to localrun.Options: template
	// parameter overrides (a short LeaseGraceSeconds, say) and the period
	// of the scheduled functions (0: their schedules' rates).
	Parameters    map[string]string
	ScheduleEvery time.Duration
	// Double, if set, carries the functions' DynamoDB requests
	// (internal/ddbdouble: conflicts, throttling and latency of DynamoDB).
	Double *ddbdouble.Double
	// Events gives the table its stream and runs publish-events on it;
	// without it the stack has no event pipeline (the tests of other
	// paths keep the run's shared DynamoDB Local light; `make run` always
	// has it).
	Events bool
}

// Stack is a running local stack.
type Stack struct {
	*localrun.Stack
	Table string
	logs  *dynamotest.SyncBuffer
	out   io.Writer // logs, or io.Discard (Options.DiscardLogs)
}

// Logs returns everything the stack logged so far (JSON, a record a line).
func (s *Stack) Logs() string { return s.logs.String() }

// LogWriter is where the stack's log goes: more loggers of the test (a
// gateway of its own, say) can write there too.
func (s *Stack) LogWriter() io.Writer { return s.out }

// doubleClient returns d's HTTP client, or nil.
func doubleClient(d *ddbdouble.Double) aws.HTTPClient {
	if d == nil {
		return nil
	}
	return d.Client()
}

// startTimeout bounds starting the stack (npm ci of the stand-ins included).
const startTimeout = 3 * time.Minute

// Start starts the stack; a failure fails the test. With -short it skips
// the test instead.
func Start(t *testing.T, opt Options) *Stack {
	t.Helper()
	dynamotest.SkipShort(t, "the local stack (DynamoDB Local, fauxqs)")
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	db := dynamotest.Client(t) // starts DynamoDB Local, or fails the test
	prefix := opt.Prefix
	if prefix == "" {
		prefix = "localruntest"
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	table := prefix + "-" + hex.EncodeToString(suffix)

	logs := &dynamotest.SyncBuffer{}
	var out io.Writer = logs
	if opt.DiscardLogs {
		out = io.Discard
	}
	sink := out
	if opt.Tee != nil {
		sink = io.MultiWriter(out, &forgiving{w: opt.Tee})
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	drained := make(chan struct{})
	go func() {
		_, _ = io.Copy(sink, r)
		_, _ = io.Copy(io.Discard, r) // never leave the stack's loggers blocked
		close(drained)
	}()
	stop := func() {
		w.Close()
		<-drained
		r.Close()
	}

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	saved := os.Stdout
	os.Stdout = w // the functions build their loggers on it
	restore := sync.OnceFunc(func() { os.Stdout = saved })
	defer restore()
	start := time.Now()
	st, err := localrun.Start(ctx, localrun.Options{
		Root: root, Addr: "127.0.0.1:0", TableName: table, DynamoDBEndpoint: dynamotest.Endpoint(),
		SQSEndpoint: os.Getenv(localstack.EnvSQSEndpoint), // "": one of its own
		Parameters:  opt.Parameters, ScheduleEvery: opt.ScheduleEvery, NoEvents: !opt.Events,
		DynamoDBHTTPClient: doubleClient(opt.Double),
		Log:                slog.New(slog.NewJSONHandler(w, nil)),
	})
	restore()
	if err != nil {
		stop()
		t.Fatalf("localrun.Start: %v\nlogs:\n%s", err, logs.String())
	}
	t.Logf("stack up in %v at %s (table %s, SQS %s)", time.Since(start).Round(time.Millisecond), st.URL, table, st.SQSEndpoint)
	t.Cleanup(func() {
		st.Close()
		stop()
		if t.Failed() && !opt.DiscardLogs {
			t.Logf("stack logs (last 64 KiB):\n%s", tail(logs.String(), 64<<10))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		var notFound *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &notFound) {
			t.Errorf("cleanup: delete table %s: %v", table, err)
		}
	})
	return &Stack{Stack: st, Table: table, logs: logs, out: out}
}

// tail returns the last n bytes of s, from a line start.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// forgiving writes to w until w fails once, and then no more; it never
// fails itself, so that a reader that went away cannot stop the copy.
type forgiving struct {
	w      io.Writer
	failed bool
}

func (f *forgiving) Write(p []byte) (int, error) {
	if !f.failed {
		if _, err := f.w.Write(p); err != nil {
			f.failed = true
		}
	}
	return len(p), nil
}
