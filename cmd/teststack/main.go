// Command teststack runs a command, such as `go test ./...`, against one
// DynamoDB Local for the whole run: it starts DynamoDB Local
// (internal/localstack: the jar of node_modules, in memory, on a free
// port), passes its URL to the command as OUTDIAL_DYNAMODB_ENDPOINT, so
// that every test binary uses that instance (internal/dynamotest) instead
// of starting a JVM of its own, and stops it when the command ends.
// `make test` runs
//
//	go build -o .local/bin/teststack ./cmd/teststack
//	.local/bin/teststack -- go test ./... -count=1 -timeout 20m
//
// DynamoDB Local keeps a database per access key there
// (localstack.StartDynamoDBPerKey) and internal/dynamotest gives each test
// binary a key of its own, so the binaries share the JVM, not the data.
//
// DynamoDB Local has no bind option and listens on all interfaces; the
// URL the command gets is on 127.0.0.1. When OUTDIAL_DYNAMODB_ENDPOINT is
// already set, that instance is used and nothing is started.
//
// SIGINT, SIGTERM and SIGHUP are passed on to the command (a second one
// kills it), and DynamoDB Local is stopped once the command has exited.
// The exit code is the command's (128+n when signal n ended it); 1 when
// DynamoDB Local could not be started or died before the command ended;
// 2 for a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/outdial/outdial/internal/localstack"
)

// startTimeout bounds starting DynamoDB Local (npm ci included).
const startTimeout = 3 * time.Minute

// stopSignals are the signals passed on to the command.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

func main() {
	// Registered before DynamoDB Local starts, so that no signal can end
	// this process while it runs.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, stopSignals...)
	os.Exit(run(os.Args[1:], sigs, os.Stderr))
}

// run is the whole command; sigs delivers the signals to pass on.
func run(args []string, sigs <-chan os.Signal, stderr io.Writer) int {
	fs := flag.NewFlagSet("teststack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: teststack [--] command [argument ...]")
		fmt.Fprintln(stderr, "runs the command with "+localstack.EnvDynamoDBEndpoint+" set to a DynamoDB Local started for it")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}

	// Start DynamoDB Local, unless the environment names one.
	env := os.Environ()
	var proc *localstack.Process
	if endpoint := os.Getenv(localstack.EnvDynamoDBEndpoint); endpoint != "" {
		fmt.Fprintf(stderr, "teststack: using DynamoDB Local at %s (%s)\n", endpoint, localstack.EnvDynamoDBEndpoint)
	} else {
		var err error
		if proc, err = startDynamoDB(sigs, stderr); err != nil {
			fmt.Fprintf(stderr, "teststack: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "teststack: DynamoDB Local (pid %d) answers on %s after %d ms\n",
			proc.PID(), proc.Endpoint, proc.StartupTime.Milliseconds())
		// Each test binary picks an access key, and so a database, of its
		// own (internal/dynamotest); one exported for all would put them
		// back into one.
		env = slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, localstack.EnvAccessKeyID+"=") })
		env = append(env, localstack.EnvDynamoDBEndpoint+"="+proc.Endpoint)
	}

	// Run the command, then stop what was started.
	code := runCommand(fs.Args(), env, sigs, stderr)
	if err := proc.Stop(); err != nil {
		fmt.Fprintf(stderr, "teststack: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// startDynamoDB starts DynamoDB Local under the repository root; a signal
// during the start ends it.
func startDynamoDB(sigs <-chan os.Signal, stderr io.Writer) (*localstack.Process, error) {
	root, err := localstack.RepoRoot()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	started := make(chan struct{})
	defer close(started)
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(stderr, "teststack: %v while DynamoDB Local starts; stopping\n", sig)
			cancel()
		case <-started:
		}
	}()
	proc, err := localstack.StartDynamoDBPerKey(ctx, root, 0)
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		// The signal came as the start succeeded.
		return nil, errors.Join(errors.New("interrupted"), proc.Stop())
	}
	return proc, nil
}

// runCommand runs args with env and standard input and output, passes the
// first signal from sigs on to it and kills it on the second, and returns
// its exit code.
func runCommand(args, env []string, sigs <-chan os.Signal, stderr io.Writer) int {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "teststack: %v\n", err)
		return 127
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for signalled := false; ; {
		select {
		case err := <-done:
			return exitCode(err, stderr)
		case sig := <-sigs:
			// From a terminal the command has the signal already (one
			// process group); from kill(1) or a CI runner it may not.
			if !signalled {
				signalled = true
				fmt.Fprintf(stderr, "teststack: %v: passed on to %s; another one kills it\n", sig, args[0])
				_ = cmd.Process.Signal(sig)
			} else {
				_ = cmd.Process.Kill()
			}
		}
	}
}

// exitCode turns the result of Wait into an exit code: the command's own,
// or 128+n when signal n ended it.
func exitCode(err error, stderr io.Writer) int {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	default:
		fmt.Fprintf(stderr, "teststack: %v\n", err)
		return 1
	}
}
