package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localstack"
)

// noSignals is a signal channel nothing is ever sent on.
var noSignals = make(chan os.Signal)

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"no command", nil, 2},
		{"only the separator", []string{"--"}, 2},
		{"help", []string{"-h"}, 0},
		{"unknown flag", []string{"-port", "8000", "true"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			if got := run(tt.args, noSignals, &stderr); got != tt.want {
				t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tt.args, got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), "usage:") {
				t.Errorf("run(%q) printed no usage:\n%s", tt.args, stderr.String())
			}
		})
	}
}

// TestGivenEndpointIsPassedOn checks that an endpoint in the environment
// reaches the command unchanged, nothing is started, and the command's
// exit code is teststack's.
func TestGivenEndpointIsPassedOn(t *testing.T) {
	t.Setenv(localstack.EnvDynamoDBEndpoint, "http://127.0.0.1:1")
	script := `test "$` + localstack.EnvDynamoDBEndpoint + `" = http://127.0.0.1:1 && exit 3`
	if got := run([]string{"--", "sh", "-c", script}, noSignals, io.Discard); got != 3 {
		t.Errorf("exit code %d, want 3 (the command's, with the endpoint it was given)", got)
	}
	if got := run([]string{"--", "no-such-command-teststack"}, noSignals, io.Discard); got != 127 {
		t.Errorf("exit code of a missing command %d, want 127", got)
	}
}

// TestSignalsArePassedOn checks that the first signal reaches the command
// and a second one kills it.
func TestSignalsArePassedOn(t *testing.T) {
	t.Setenv(localstack.EnvDynamoDBEndpoint, "http://127.0.0.1:1")
	tests := []struct {
		name   string
		script string // touches "$1" once it is ready for the signals
		sends  int
		want   int
	}{
		{"first signal ends the command", `: > "$1"; exec sleep 60`, 1, 128 + int(syscall.SIGTERM)},
		{"second signal kills it", `trap "" TERM; : > "$1"; while :; do sleep 0.1; done`, 2, 128 + int(syscall.SIGKILL)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "ready")
			sigs := make(chan os.Signal)
			go func() {
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
					if _, err := os.Stat(ready); err == nil {
						break
					}
				}
				for range tt.sends {
					sigs <- syscall.SIGTERM
				}
			}()
			if got := run([]string{"sh", "-c", tt.script, "sh", ready}, sigs, io.Discard); got != tt.want {
				t.Errorf("exit code %d, want %d", got, tt.want)
			}
		})
	}
}

// TestStartsAndStopsDynamoDB runs a command against the DynamoDB Local
// teststack starts and checks that it is gone afterwards.
func TestStartsAndStopsDynamoDB(t *testing.T) {
	dynamotest.SkipShort(t, "DynamoDB Local")
	t.Setenv(localstack.EnvDynamoDBEndpoint, "") // start one, even under make test
	seen := filepath.Join(t.TempDir(), "endpoint")
	script := `printf %s "$` + localstack.EnvDynamoDBEndpoint + `" > "$1"`
	var stderr strings.Builder
	if got := run([]string{"--", "sh", "-c", script, "sh", seen}, noSignals, &stderr); got != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", got, stderr.String())
	}
	b, err := os.ReadFile(seen)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := string(b)
	if !strings.HasPrefix(endpoint, "http://127.0.0.1:") {
		t.Fatalf("the command got %s=%q, want http://127.0.0.1:PORT", localstack.EnvDynamoDBEndpoint, endpoint)
	}

	// Stopped and reaped before run returned: nothing answers any more.
	client, err := localstack.DynamoDBClient(t.Context(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := client.ListTables(ctx, nil); err == nil {
		t.Errorf("DynamoDB Local still answers on %s after teststack ended", endpoint)
	}
}
