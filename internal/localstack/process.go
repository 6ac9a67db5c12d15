package localstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Timeouts of the process life cycle.
const (
	startTimeout   = 30 * time.Second       // exec to first answered request
	attemptTimeout = 2 * time.Second        // one readiness request
	pollInterval   = 100 * time.Millisecond // between readiness requests
	stopGrace      = 5 * time.Second        // SIGTERM to SIGKILL
	outputKept     = 64 << 10               // bytes of output kept for errors
)

// errPortInUse marks a start that failed because another process holds the
// port; with an automatically chosen port the start is tried again.
var errPortInUse = errors.New("port in use")

// Process is a stand-in running as a child process in its own process
// group. Stop it with Stop; if the Go program dies without doing so, the
// kernel kills it (Linux: Pdeathsig).
type Process struct {
	// Name identifies the stand-in in errors and log file names.
	Name string
	// Endpoint is the base URL for clients, such as http://127.0.0.1:8000.
	Endpoint string
	// Port is the TCP port the stand-in listens on.
	Port int
	// LogPath is the file that receives the stand-in's output. Stop removes
	// it after a clean run; it stays when the process failed.
	LogPath string
	// StartupTime is the time from exec to the first answered request.
	StartupTime time.Duration

	cmd     *exec.Cmd
	out     *ring
	logFile *os.File
	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // written before exited is closed

	stopOnce sync.Once
	stopErr  error
}

// PID returns the process id, which is also its process group id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited and been reaped, whether
// through Stop or on its own.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Output returns the last 64 KiB of the process's combined output.
func (p *Process) Output() string { return p.out.String() }

// Stop sends SIGTERM to the process group, waits up to 5 s, then sends
// SIGKILL, and reaps the process. It is safe to call more than once (and on
// a nil Process); later calls return the first call's result. It returns an
// error when the process had already exited on its own.
func (p *Process) Stop() error {
	if p == nil {
		return nil
	}
	p.stopOnce.Do(func() {
		p.stopErr = p.terminate()
		if p.stopErr == nil {
			os.Remove(p.LogPath)
		}
	})
	return p.stopErr
}

// terminate ends the process group and waits until the process is reaped.
func (p *Process) terminate() error {
	select {
	case <-p.exited:
		return fmt.Errorf("%s exited before Stop (%v); output in %s:\n%s", p.Name, p.waitErr, p.LogPath, p.out.Tail(4096))
	default:
	}
	// The group id equals the pid (Setpgid with Pgid 0). The process is not
	// reaped yet, so the id cannot have been reused.
	pgid := p.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s: %w", p.Name, err)
	}
	timer := time.NewTimer(stopGrace)
	defer timer.Stop()
	select {
	case <-p.exited:
		return nil
	case <-timer.C:
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s: %w", p.Name, err)
	}
	<-p.exited
	return nil
}

// spec describes how to run one stand-in on a given port.
type spec struct {
	name  string
	path  string
	args  []string
	env   []string // added to the parent's environment, overriding it
	dir   string
	ready func(ctx context.Context, endpoint string) error // one readiness request
}

// start runs the stand-in that mk describes. With port 0 it picks a free
// port and, should another process take that port before the stand-in
// binds it, tries again with a new one.
func start(ctx context.Context, root string, port int, mk func(port int) spec) (*Process, error) {
	const attempts = 3
	for i := 1; ; i++ {
		p := port
		if p == 0 {
			free, err := freePort()
			if err != nil {
				return nil, err
			}
			p = free
		}
		proc, err := launch(ctx, root, p, mk(p))
		if err == nil {
			return proc, nil
		}
		if port != 0 || !errors.Is(err, errPortInUse) || i == attempts {
			return nil, err
		}
	}
}

// launch execs the stand-in and waits until it answers on port.
func launch(ctx context.Context, root string, port int, s spec) (*Process, error) {
	// Open the log file under root/.local/logs.
	logDir := filepath.Join(root, localDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	logPath := filepath.Join(logDir, fmt.Sprintf("%s-%d.log", s.name, port))
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	p := &Process{
		Name:     s.name,
		Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port),
		Port:     port,
		LogPath:  logPath,
		out:      &ring{max: outputKept},
		logFile:  logFile,
		exited:   make(chan struct{}),
	}

	// Exec it in its own process group, output to the ring and the file.
	cmd := exec.Command(s.path, s.args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdin = nil
	cmd.Stdout = tee{p.out, logFile}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = 2 * time.Second
	began := time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	p.cmd = cmd
	go func() {
		p.waitErr = cmd.Wait()
		p.logFile.Close()
		close(p.exited)
	}()

	// Wait until it answers; on failure end it but keep its log.
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	if err := p.awaitReady(ctx, s.ready); err != nil {
		p.terminate()
		return nil, err
	}
	p.StartupTime = time.Since(began)
	return p, nil
}

// awaitReady polls ready until it succeeds, the process exits or ctx ends.
func (p *Process) awaitReady(ctx context.Context, ready func(context.Context, string) error) error {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := ready(actx, p.Endpoint)
		cancel()
		if err == nil {
			return p.checkOwnListener()
		}
		select {
		case <-p.exited:
			if portInUse(p.out.String()) {
				return fmt.Errorf("start %s: port %d: %w", p.Name, p.Port, errPortInUse)
			}
			return fmt.Errorf("start %s: exited during start-up (%v); output in %s:\n%s", p.Name, p.waitErr, p.LogPath, p.out.Tail(4096))
		case <-ctx.Done():
			return fmt.Errorf("start %s: no answer on %s: %w (last error: %v); output in %s:\n%s", p.Name, p.Endpoint, ctx.Err(), err, p.LogPath, p.out.Tail(4096))
		case <-tick.C:
		}
	}
}

// checkOwnListener makes sure the server that answered is this process and
// not another one that holds the port.
func (p *Process) checkOwnListener() error {
	select {
	case <-p.exited:
		return fmt.Errorf("start %s: another process answers on port %d: %w", p.Name, p.Port, errPortInUse)
	default:
	}
	owned, err := ownsListener(p.cmd.Process.Pid, p.Port)
	if err != nil || owned {
		// Without /proc there is nothing to check; trust the answer.
		return nil
	}
	return fmt.Errorf("start %s: another process answers on port %d: %w", p.Name, p.Port, errPortInUse)
}

// portInUse reports whether output shows a failed bind.
func portInUse(output string) bool {
	return strings.Contains(output, "Address already in use") || strings.Contains(output, "EADDRINUSE")
}

// freePort returns a TCP port that is free on 127.0.0.1 at the time of the
// call.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tee writes to both writers and never fails, so that a full disk cannot
// stop the output pipe from draining and block the child.
type tee struct {
	ring *ring
	file *os.File
}

func (t tee) Write(b []byte) (int, error) {
	t.ring.Write(b)
	t.file.Write(b)
	return len(b), nil
}

// ring keeps the last max bytes written to it.
type ring struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (r *ring) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, b...)
	if len(r.buf) > 2*r.max {
		r.buf = append([]byte(nil), r.buf[len(r.buf)-r.max:]...)
	}
	return len(b), nil
}

// String returns the last max bytes written.
func (r *ring) String() string { return r.Tail(r.max) }

// Tail returns the last n bytes written, at most max.
func (r *ring) Tail(n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return tail(r.buf, min(n, r.max))
}
