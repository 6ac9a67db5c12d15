// Package invoke runs a Lambda function of the template the way `sam local
// invoke` does, without Docker: it builds the function's bootstrap for this
// machine (CGO_ENABLED=0, -tags lambda.norpc), starts it under the AWS
// Lambda Runtime Interface Emulator (aws-lambda-rie, a tool of go.mod that
// InstallRIE builds into .local/bin) bound to 127.0.0.1, with the
// environment the template gives the function resolved for the local
// stack, posts an event to the emulator's invoke endpoint and stops the
// emulator again.
//
// `make invoke` (cmd/invoke) and the tests of this package use it; the
// emulator crashes on overlapping invokes, so one emulator only ever gets
// one request at a time.
package invoke

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/outdial/outdial/internal/samtemplate"
)

// The Runtime Interface Emulator is a tool of the module: go.mod's tool
// directive names RIEPackage and its require line pins RIEModule (the
// module publishes no tagged releases, so at the pseudo-version of a
// commit the Go module proxy serves); go.sum holds its hashes. `go tool
// aws-lambda-rie` runs it; InstallRIE builds it into RIEPath.
const (
	RIEModule  = "github.com/aws/aws-lambda-runtime-interface-emulator"
	RIEPackage = RIEModule + "/cmd/aws-lambda-rie"
)

// RIEPath is where InstallRIE puts the emulator, relative to the repository
// root.
const RIEPath = ".local/bin/aws-lambda-rie"

// BuildTags and the environment of Build: a static binary (CGO_ENABLED=0)
// without the legacy Go RPC server, stripped, like the deployed ones, but
// for this machine's GOOS/GOARCH instead of linux/arm64. Unlike build.mk
// it does not pass -trimpath, which only changes file names in the binary
// and would keep these builds from sharing the build cache with
// CGO_ENABLED=0 test builds.
const BuildTags = "lambda.norpc"

// RIEVersion returns the version of RIEModule that the go.mod under root
// requires, after checking that go.mod also lists RIEPackage as a tool.
func RIEVersion(root string) (string, error) {
	path := filepath.Join(root, "go.mod")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("emulator version: %w", err)
	}
	f, err := modfile.Parse(path, data, nil)
	if err != nil {
		return "", fmt.Errorf("emulator version: %w", err)
	}
	if !slices.ContainsFunc(f.Tool, func(t *modfile.Tool) bool { return t.Path == RIEPackage }) {
		return "", fmt.Errorf("emulator version: %s has no tool directive for %s", path, RIEPackage)
	}
	for _, r := range f.Require {
		if r.Mod.Path == RIEModule {
			return r.Mod.Version, nil
		}
	}
	return "", fmt.Errorf("emulator version: %s does not require %s", path, RIEModule)
}

// InstallRIE returns the path of the emulator under root, building it
// with `go build -o` from the version go.mod pins when it is missing or of
// another version. Once the module cache holds that version it needs no
// network. out receives go's output; nil discards it.
func InstallRIE(ctx context.Context, root string, out io.Writer) (string, error) {
	version, err := RIEVersion(root)
	if err != nil {
		return "", err
	}
	// go build rewrites its output even when it is up to date, which would
	// pull the binary from under an emulator another test binary runs; so
	// build only when the version differs.
	path := filepath.Join(root, RIEPath)
	if rieVersion(path) == version {
		return path, nil
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", path, RIEPackage)
	cmd.Dir = root
	cmd.Env = hostGoEnv()
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = teeTo(&buf, out), teeTo(&buf, out)
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build -o %s %s: %w\n%s", path, RIEPackage, err, buf.String())
	}
	if got := rieVersion(path); got != version {
		return "", fmt.Errorf("go build put %s at version %q, want %s", path, got, version)
	}
	return path, nil
}

// rieVersion returns the module version the binary at path was built from
// ("" if there is none or it is not the emulator). A tool built in this
// module records the tool's module as its main module.
func rieVersion(path string) string {
	info, err := buildinfo.ReadFile(path)
	if err != nil || info.Main.Path != RIEModule {
		return ""
	}
	return info.Main.Version
}

// hostGoEnv is the environment for go commands that build for this
// machine: the caller's, without a GOOS/GOARCH aimed elsewhere, and with
// module mode as the repository sets it (no -mod from GOFLAGS).
func hostGoEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOOS", "GOARCH", "CGO_ENABLED", "GOBIN":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
}

func teeTo(buf *bytes.Buffer, out io.Writer) io.Writer {
	if out == nil {
		return buf
	}
	return io.MultiWriter(buf, out)
}

// Build builds the bootstraps of fns for this machine into
// <dir>/<name>/bootstrap with one `go build` and returns their paths by
// function name.
func Build(ctx context.Context, root, dir string, fns ...*samtemplate.Function) (map[string]string, error) {
	if len(fns) == 0 {
		return nil, errors.New("build: no functions")
	}
	bin := filepath.Join(dir, ".bin")
	if err := os.RemoveAll(bin); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return nil, err
	}
	args := []string{"build", "-tags", BuildTags, "-ldflags", "-s -w", "-o", bin + string(filepath.Separator)}
	for _, f := range fns {
		args = append(args, "./"+filepath.ToSlash(f.Dir))
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(hostGoEnv(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	paths := map[string]string{}
	for _, f := range fns {
		// go build names each binary after its package directory.
		dst := filepath.Join(dir, f.Name, "bootstrap")
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := os.Rename(filepath.Join(bin, filepath.Base(f.Dir)), dst); err != nil {
			return nil, fmt.Errorf("build %s: %w", f.LogicalID, err)
		}
		paths[f.Name] = dst
	}
	return paths, os.RemoveAll(bin)
}

// Options describe one emulator session.
type Options struct {
	RIE       string            // path of aws-lambda-rie
	Bootstrap string            // path of the function's bootstrap
	Env       map[string]string // the function's whole environment (nothing else is passed)
	// Timeout bounds each invocation; also passed to the emulator as the
	// function's timeout. Default 30 s.
	Timeout time.Duration
	// Output receives the emulator's and the function's output as it
	// comes; it is also kept in Session.Output.
	Output io.Writer
}

// Session is a running emulator with one function.
type Session struct {
	URL string // the emulator's invoke endpoint
	// Ready is how long the emulator took from process start to accepting
	// connections.
	Ready time.Duration

	cmd     *exec.Cmd
	started time.Time
	timeout time.Duration
	out     *syncBuffer
	exited  chan struct{}
	waitErr error
	mu      sync.Mutex // one invoke at a time: the emulator crashes on overlapping ones
	invokes int
	stopped bool
}

// Result is the answer to one invoke.
type Result struct {
	Status  int    // HTTP status of the emulator's answer (200 unless the function failed)
	Payload []byte // the function's response (or the emulator's error)
	// Latency is from sending the event to the answer; for the first
	// invoke it includes starting the bootstrap and its init.
	Latency time.Duration
	// ColdStart, for the first invoke only, is from starting the emulator
	// process to the answer.
	ColdStart time.Duration
	// Init and Duration are the emulator's own figures from its REPORT line
	// (Init only on the first invoke); zero when it printed none.
	Init, Duration time.Duration
}

// Start starts the emulator with the bootstrap and waits until it listens.
// Nothing of the bootstrap runs until the first Invoke.
func Start(ctx context.Context, opt Options) (*Session, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(ctx, opt)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break
		}
		// Most likely another process took a port between picking it and
		// the emulator binding it: try other ports.
	}
	return nil, lastErr
}

var errExited = errors.New("the emulator exited")

func start(ctx context.Context, opt Options) (*Session, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	cmd := exec.Command(opt.RIE,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		"--log-level", "warn",
		opt.Bootstrap)
	cmd.Dir = filepath.Dir(opt.Bootstrap)
	env := make([]string, 0, len(opt.Env)+1)
	for k, v := range opt.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	cmd.Env = append(env, "AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(int((opt.Timeout+time.Second-1)/time.Second)))
	s := &Session{
		URL:     "http://" + addr + "/2015-03-31/functions/function/invocations",
		cmd:     cmd,
		timeout: opt.Timeout,
		out:     &syncBuffer{w: opt.Output},
		exited:  make(chan struct{}),
	}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	cmd.SysProcAttr = sysProcAttr()
	s.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", opt.RIE, err)
	}
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()

	// Wait until the emulator accepts connections.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			s.Ready = time.Since(s.started)
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("%w before listening on %s (%v):\n%s", errExited, addr, s.waitErr, s.out.String())
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("the emulator did not listen on %s within 10 s:\n%s", addr, s.out.String())
		}
	}
}

// initRE and durationRE read the emulator's REPORT line.
var (
	initRE     = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)
	durationRE = regexp.MustCompile(`\tDuration: ([0-9.]+) ms`)
)

// Invoke posts event to the function and returns its answer. Calls are
// serialised.
func (s *Session) Invoke(ctx context.Context, event []byte) (*Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, errors.New("invoke: the emulator is stopped")
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout+5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(event))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	mark := s.out.Len()
	sent := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		select {
		case <-s.exited:
			return nil, fmt.Errorf("invoke: the emulator exited (%v):\n%s", s.waitErr, s.out.String())
		default:
		}
		return nil, fmt.Errorf("invoke: %w", err)
	}
	payload, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("invoke: read the answer: %w", err)
	}
	r := &Result{Status: res.StatusCode, Payload: payload, Latency: time.Since(sent)}
	if s.invokes == 0 {
		r.ColdStart = time.Since(s.started)
	}
	s.invokes++
	// The emulator prints REPORT before it writes the answer, but its
	// output reaches us through a pipe: give it a moment.
	var report string
	for wait := time.Now().Add(500 * time.Millisecond); ; {
		report = s.out.String()[mark:]
		if strings.Contains(report, "REPORT RequestId") || time.Now().After(wait) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	r.Init = parseMS(initRE, report)
	r.Duration = parseMS(durationRE, report)
	return r, nil
}

func parseMS(re *regexp.Regexp, s string) time.Duration {
	m := re.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// Output returns everything the emulator and the function printed so far.
func (s *Session) Output() string { return s.out.String() }

// Stop ends the emulator and the bootstrap (their whole process group) and
// waits for them. It is safe to call more than once.
func (s *Session) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	select {
	case <-s.exited:
		return
	default:
	}
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(2 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-s.exited
	}
	// The bootstrap is in the same group; make sure nothing lingers.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// Run starts an emulator, invokes the function once with event and stops
// the emulator: `sam local invoke` in one call.
func Run(ctx context.Context, opt Options, event []byte) (*Result, string, error) {
	s, err := Start(ctx, opt)
	if err != nil {
		return nil, "", err
	}
	defer s.Stop()
	r, err := s.Invoke(ctx, event)
	return r, s.Output(), err
}

// freePorts returns n distinct TCP ports free on 127.0.0.1 right now.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// syncBuffer collects a process's output and copies it to w.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   io.Writer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.w != nil {
		_, _ = b.w.Write(p)
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}
