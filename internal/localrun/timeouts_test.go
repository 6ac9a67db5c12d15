package localrun_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/localrun"
)

// serveWithTimeout serves a gateway with one unauthorized route, POST
// /echo, on NewServer with timeout, and counts the invocations of its
// function.
func serveWithTimeout(t *testing.T, timeout time.Duration) (addr string, invoked *atomic.Int32) {
	t.Helper()
	invoked = &atomic.Int32{}
	fn := &localrun.Function{Name: "echo", Timeout: 3 * time.Second, Handler: lambda.NewHandler(
		func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
			invoked.Add(1)
			return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: ev.Body}, nil
		})}
	gw := localrun.NewGateway(nil, slog.New(slog.DiscardHandler))
	gw.Route("POST", "/echo", fn, false)
	srv := localrun.NewServer(gw, timeout)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), invoked
}

// TestSlowBodyIsCutOffAtTheTimeout sends a request whose body is shorter
// than its Content-Length and then waits: the server must close the
// connection (or answer) once its timeout (1 s here, 30 s by default) has
// passed, without invoking the function with a cut body.
func TestSlowBodyIsCutOffAtTheTimeout(t *testing.T) {
	const timeout = time.Second
	addr, invoked := serveWithTimeout(t, timeout)

	// The control: a whole request on the same server is answered.
	res, err := http.Post("http://"+addr+"/echo", "application/json", strings.NewReader(`{"name":"whole"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || string(body) != `{"name":"whole"}` || invoked.Load() != 1 {
		t.Fatalf("whole request: %d %q, %d invocations; want 200, the body echoed, 1 invocation", res.StatusCode, body, invoked.Load())
	}

	// 9 of the 100 bytes announced, then nothing.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := fmt.Fprint(conn, "POST /echo HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\n"+
		"Content-Length: 100\r\n\r\n{\"name\":\""); err != nil {
		t.Fatal(err)
	}
	const patience = 10 * timeout
	_ = conn.SetReadDeadline(start.Add(patience))
	got, err := io.ReadAll(conn)
	elapsed := time.Since(start)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection is still open after %s (server timeout %s)", elapsed.Round(time.Millisecond), timeout)
	}
	if elapsed < timeout/2 {
		t.Errorf("the connection ended after %s, before the timeout of %s had a chance to pass", elapsed, timeout)
	}
	if elapsed > 3*timeout {
		t.Errorf("the connection ended after %s, want about the timeout of %s", elapsed, timeout)
	}
	// If there is an answer, it is an error, not the function's.
	if len(got) > 0 {
		res, err := http.ReadResponse(bufio.NewReader(strings.NewReader(string(got))), nil)
		if err != nil {
			t.Fatalf("answer %q is not HTTP: %v", got, err)
		}
		if res.StatusCode < 400 {
			t.Errorf("a cut body was answered %d", res.StatusCode)
		}
	}
	if n := invoked.Load(); n != 1 {
		t.Errorf("the function was invoked %d times in all, want 1 (the control only)", n)
	}
}

// TestNewServerDefaults checks the timeouts of `make run`'s server.
func TestNewServerDefaults(t *testing.T) {
	srv := localrun.NewServer(http.NotFoundHandler(), 0)
	if localrun.DefaultHTTPTimeout != 30*time.Second {
		t.Errorf("DefaultHTTPTimeout = %s, want 30s (API Gateway's integration timeout)", localrun.DefaultHTTPTimeout)
	}
	for name, got := range map[string]time.Duration{"ReadTimeout": srv.ReadTimeout, "WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout} {
		if got != localrun.DefaultHTTPTimeout {
			t.Errorf("%s = %s, want %s", name, got, localrun.DefaultHTTPTimeout)
		}
	}
	if srv.ReadHeaderTimeout <= 0 || srv.ReadHeaderTimeout > srv.ReadTimeout {
		t.Errorf("ReadHeaderTimeout = %s, want positive and at most ReadTimeout", srv.ReadHeaderTimeout)
	}
}
