// Command webhookrecv is a local webhook receiver for `make events`: it
// listens on 127.0.0.1, verifies each delivery's signature the way a
// customer's receiver should (webhook.Verify: HMAC-SHA-256 of
// "<X-Outdial-Timestamp>.<body>", any v1 entry of X-Outdial-Signature,
// timestamp within 5 minutes), dedupes events by id (delivery is at least
// once) and prints one line per event as it arrives:
//
//	15:04:05.123 +84ms outdial_target_updated 0b6f…  target=… outdial=… status=finished result=answered tries=1/3
//
// the time of arrival, how long after the event's tm it arrived, its
// type and id, and a summary of its data (a target's status and reason,
// an outdial's counts). It answers 200, 401 to a delivery whose signature
// does not verify, and 500 to the first -fail-first deliveries (to show
// the service's retries).
//
//	go run ./cmd/webhookrecv -port 8765 -secret "$SECRET"
//
// The secret is -secret, or $OUTDIAL_WEBHOOK_SECRET, or the contents of
// -secret-file, read at each delivery (so the receiver can start before
// PUT /v1.0/webhook answers the secret). Register it with make run's
// API as http://127.0.0.1:<port>/ (make run allows http to 127.0.0.1).
// It prints a summary when interrupted.
//
// With -register it does that itself: it PUTs http://127.0.0.1:<port>/
// (or -uri) as the webhook of -customer (the demo customer of make run
// and make demo, with a token minted as cmd/dialsim mints one, or -token /
// $TOKEN) through -api, verifies with the secret the PUT answers, asks
// for a ping (POST /v1.0/webhook/test), and removes the webhook when it
// stops (unless -keep). Arguments after the flags are then a command run
// once the webhook is registered; when it ends, the receiver waits until
// no delivery has arrived for -drain, prints its summary and exits with
// the command's status (1 if any delivery failed verification). The
// command's output is printed with a "| " prefix among the events.
// `make events` (mk/events.mk) runs the demo campaign this way:
//
//	go run ./cmd/webhookrecv -register -- go run ./cmd/dialsim -create 50
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/webhook"
)

// EnvSecret is the environment variable holding the webhook's secret.
const EnvSecret = "OUTDIAL_WEBHOOK_SECRET"

// tolerance bounds how far a delivery's timestamp may be from this clock.
const tolerance = 5 * time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil))
}

// run is the whole command: it serves until ctx ends (or, with a command,
// until the command ends and the deliveries drain) and answers the exit
// code (2 for bad flags). ready, when set, is told the address listened
// on.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready func(addr string)) int {
	fs := flag.NewFlagSet("webhookrecv", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: webhookrecv [flags] [-register [-- command [args...]]]\n\nA local webhook receiver for Outdial (see go doc ./cmd/webhookrecv).\n\n")
		fs.PrintDefaults()
	}
	port := fs.Int("port", 8765, "port to listen on, on 127.0.0.1 (0: any free port)")
	secret := fs.String("secret", "", "the webhook's signing secret (default $"+EnvSecret+")")
	secretFile := fs.String("secret-file", "", "a file holding the secret, read at each delivery (instead of -secret)")
	failFirst := fs.Int("fail-first", 0, "answer 500 to the first N deliveries, to show retries")
	register := fs.Bool("register", false, "register this receiver as the customer's webhook (PUT /v1.0/webhook through -api) and verify with the secret it answers; remove it at exit unless -keep")
	apiURL := fs.String("api", "http://127.0.0.1:3000", "with -register: base URL of the HTTP API")
	token := fs.String("token", "", "with -register: bearer token (default $TOKEN; for an API on this machine one is minted for -customer with $OUTDIAL_TOKEN_SECRET or the development secret)")
	customer := fs.String("customer", demoCustomer, "with -register: customer id of a minted token (default: make run's demo customer, whose outdials make demo creates)")
	uri := fs.String("uri", "", "with -register: the URI to register (default http://127.0.0.1:<port>/, which make run allows)")
	eventTypes := fs.String("event-types", "", "with -register: comma-separated event types to subscribe to (default every type)")
	ping := fs.Bool("ping", true, "with -register: ask for a ping event once registered (POST /v1.0/webhook/test)")
	keep := fs.Bool("keep", false, "with -register: leave the webhook registered at exit")
	drain := fs.Duration("drain", 5*time.Second, "with a command: once it ends, stop when no delivery has arrived for this long (at most a minute after it ended)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	command := fs.Args()
	if len(command) > 0 && !*register {
		fmt.Fprintf(stderr, "webhookrecv: unexpected arguments %q (a command needs -register)\n", command)
		return 2
	}
	if *port < 0 || *port > 65535 || *failFirst < 0 || *drain < 0 {
		fmt.Fprintln(stderr, "webhookrecv: -port must be 0 to 65535, -fail-first and -drain not negative")
		return 2
	}
	if *secret == "" && !*register {
		*secret = getenv(EnvSecret)
	}
	secrets := &secretSource{}
	switch {
	case *register && (*secret != "" || *secretFile != ""):
		fmt.Fprintln(stderr, "webhookrecv: -register takes the secret from the API's answer; give no -secret or -secret-file")
		return 2
	case *register:
		// Set once PUT /v1.0/webhook answers.
	case *secret != "" && *secretFile != "":
		fmt.Fprintln(stderr, "webhookrecv: give -secret (or $"+EnvSecret+") or -secret-file, not both")
		return 2
	case *secret != "":
		secrets.set(*secret)
	case *secretFile != "":
		secrets.file = *secretFile
	default:
		fmt.Fprintln(stderr, "webhookrecv: no secret: give -secret, $"+EnvSecret+", -secret-file or -register")
		return 2
	}
	var client *api
	if *register {
		tok, err := auth.ClientToken(*token, *apiURL, *customer, getenv)
		if err != nil {
			fmt.Fprintln(stderr, "webhookrecv:", err)
			return 2
		}
		client = &api{base: *apiURL, token: tok, client: &http.Client{Timeout: 30 * time.Second}}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(stderr, "webhookrecv:", err)
		return 1
	}
	out := &lockedWriter{w: stdout}
	rv := newReceiver(secrets.get, *failFirst, out)
	srv := &http.Server{Handler: rv, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second}
	fmt.Fprintf(out, "webhookrecv: listening on http://%s/ (signatures verified, tolerance %s)\n", ln.Addr(), tolerance)
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	stop := func() {
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}

	if client != nil {
		target := *uri
		if target == "" {
			target = "http://" + ln.Addr().String() + "/"
		}
		w, err := client.register(ctx, target, splitTypes(*eventTypes))
		if err != nil {
			fmt.Fprintln(stderr, "webhookrecv: register:", err)
			if errors.Is(err, syscall.ECONNREFUSED) && auth.IsLocalURL(*apiURL) {
				fmt.Fprintln(stderr, "webhookrecv: is the service running? Start it with `make run` in another terminal.")
			}
			stop()
			return 1
		}
		secrets.set(w.Secret)
		types := "every type"
		if len(w.EventTypes) > 0 {
			types = strings.Join(w.EventTypes, ", ")
		}
		fmt.Fprintf(out, "webhookrecv: registered %s as the webhook of customer %s (%s)\n", w.URI, *customer, types)
		if !*keep {
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := client.unregister(ctx); err != nil {
					fmt.Fprintln(stderr, "webhookrecv: remove the webhook:", err)
					return
				}
				fmt.Fprintln(out, "webhookrecv: webhook removed")
			}()
		}
		if *ping {
			id, err := client.ping(ctx)
			if err != nil {
				fmt.Fprintln(stderr, "webhookrecv: ping:", err)
			} else {
				fmt.Fprintf(out, "webhookrecv: ping %s queued\n", id)
			}
		}
	}

	code := 0
	if len(command) > 0 {
		code = runCommand(ctx, command, out, stderr)
		if ctx.Err() == nil {
			rv.drain(ctx, *drain, time.Minute)
		}
		stop()
		if rv.refused() > 0 && code == 0 {
			code = 1
		}
	} else {
		select {
		case <-ctx.Done():
			stop()
		case err := <-errc:
			fmt.Fprintln(stderr, "webhookrecv:", err)
			return 1
		}
	}
	fmt.Fprintln(out, rv.summary())
	return code
}

// runCommand runs command with its output, each line prefixed with "| ",
// on out, and answers its exit status. When ctx ends first (an
// interrupt), the command is sent one too, and awaited.
func runCommand(ctx context.Context, command []string, out, stderr io.Writer) int {
	cmd := exec.Command(command[0], command[1:]...)
	pw := &prefixWriter{prefix: "| ", w: out}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(stderr, "webhookrecv:", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Signal(os.Interrupt)
		err = <-done
	}
	pw.flush()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		if c := exit.ExitCode(); c > 0 {
			return c
		}
		return 1
	case err != nil:
		fmt.Fprintln(stderr, "webhookrecv:", err)
		return 1
	}
	return 0
}

// secretSource is where the receiver takes the secret from, at each
// delivery: a value (set at start, or once registered) or a file.
type secretSource struct {
	mu   sync.Mutex
	v    string
	file string
}

func (s *secretSource) set(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v = v
}

func (s *secretSource) get() (string, error) {
	s.mu.Lock()
	v, file := s.v, s.file
	s.mu.Unlock()
	switch {
	case v != "":
		return v, nil
	case file == "":
		return "", errors.New("not registered yet")
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	if v = strings.TrimSpace(string(b)); v == "" {
		return "", errors.New("the secret file is empty")
	}
	return v, nil
}

// lockedWriter serialises writes (the receiver's lines and the command's).
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter writes whole lines to w, each with prefix.
type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	w      io.Writer
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := strings.IndexByte(string(p.buf), '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(p.buf[:i]), "\r")
		p.buf = p.buf[i+1:]
		if _, err := io.WriteString(p.w, p.prefix+line+"\n"); err != nil {
			return len(b), err
		}
	}
	return len(b), nil
}

// flush writes what is left without a newline.
func (p *prefixWriter) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) > 0 {
		_, _ = io.WriteString(p.w, p.prefix+string(p.buf)+"\n")
		p.buf = nil
	}
}

// receiver is the HTTP handler: it verifies, dedupes and prints.
type receiver struct {
	secret    func() (string, error)
	failFirst int
	out       io.Writer
	now       func() time.Time

	mu         sync.Mutex
	deliveries int            // requests that reached the verification
	seen       map[string]int // event id -> times received
	events     int            // distinct events printed
	dups       int            // duplicates skipped
	bad        int            // deliveries refused (401)
	failed     int            // deliveries answered 500 on purpose
	byType     map[events.Type]int
	last       time.Time // when the last request arrived
}

func newReceiver(secret func() (string, error), failFirst int, out io.Writer) *receiver {
	return &receiver{secret: secret, failFirst: failFirst, out: out, now: time.Now,
		seen: map[string]int{}, byType: map[events.Type]int{}}
}

func (rv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, events.MaxDeliveryBytes+1))
	if err != nil {
		http.Error(w, "could not read the body", http.StatusBadRequest)
		return
	}
	now := rv.now()
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rv.last = now
	if len(body) > events.MaxDeliveryBytes {
		rv.bad++
		rv.printf(now, "refused a delivery of more than %d bytes (413)", events.MaxDeliveryBytes)
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
		return
	}
	secret, err := rv.secret()
	if err != nil {
		rv.printf(now, "no secret to verify with (%v): 503", err)
		http.Error(w, "no secret yet", http.StatusServiceUnavailable)
		return
	}
	if err := webhook.VerifyRequest(secret, r.Header, body, now, tolerance); err != nil {
		rv.bad++
		rv.printf(now, "refused a delivery: %v (401)", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var b events.Body
	if err := json.Unmarshal(body, &b); err != nil {
		rv.bad++
		rv.printf(now, "refused a delivery that is not {\"events\":[...]}: %v (400)", err)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	rv.deliveries++
	if rv.deliveries <= rv.failFirst {
		rv.failed++
		rv.printf(now, "answering 500 to delivery %d of %d events (-fail-first %d)", rv.deliveries, len(b.Events), rv.failFirst)
		http.Error(w, "failing on purpose", http.StatusInternalServerError)
		return
	}
	for _, e := range b.Events {
		rv.seen[e.ID]++
		if rv.seen[e.ID] > 1 {
			rv.dups++
			rv.printf(now, "duplicate %s %s skipped", e.Type, e.ID)
			continue
		}
		rv.events++
		rv.byType[e.Type]++
		lag := ""
		if !e.TM.IsZero() {
			lag = fmt.Sprintf("+%dms ", now.Sub(e.TM.Time).Milliseconds())
		}
		rv.printf(now, "%s%s %s %s", lag, e.Type, e.ID, summarize(e))
	}
	w.WriteHeader(http.StatusOK)
}

// refused is how many deliveries failed verification (or were not a
// delivery at all).
func (rv *receiver) refused() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.bad
}

// drain returns once no request has arrived for quiet, or max after it
// was called, or when ctx ends.
func (rv *receiver) drain(ctx context.Context, quiet, max time.Duration) {
	start := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		rv.mu.Lock()
		last := rv.last
		rv.mu.Unlock()
		if last.Before(start) {
			last = start
		}
		if time.Since(last) >= quiet || time.Since(start) >= max {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// printf prints one line stamped with t; rv.mu is held.
func (rv *receiver) printf(t time.Time, format string, args ...any) {
	fmt.Fprintf(rv.out, "%s %s\n", t.Format("15:04:05.000"), strings.TrimRight(fmt.Sprintf(format, args...), " "))
}

// summary is the line printed at exit.
func (rv *receiver) summary() string {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	types := make([]string, 0, len(rv.byType))
	for t, n := range rv.byType {
		types = append(types, fmt.Sprintf("%s=%d", t, n))
	}
	sort.Strings(types)
	return fmt.Sprintf("webhookrecv: %d deliveries verified (%d answered 500 on purpose), %d refused; %d events, %d duplicates skipped; %s",
		rv.deliveries, rv.failed, rv.bad, rv.events, rv.dups, strings.Join(types, " "))
}

// summarize is a short account of an event's data: ids, a target's
// status, reason, last result and tries, an outdial's counts. It never
// prints destinations.
func summarize(e events.Event) string {
	var d struct {
		ID              string `json:"id"`
		OutdialID       string `json:"outdial_id"`
		Status          string `json:"status"`
		Reason          string `json:"reason"`
		LastResult      string `json:"last_result"`
		TryCountCurrent *int   `json:"try_count_current"`
		TryCountMax     *int   `json:"try_count_max"`
		TargetCount     *int64 `json:"target_count"`
		Archived        bool   `json:"archived"`
		Counts          *struct {
			Idle     int64 `json:"idle"`
			Dialing  int64 `json:"dialing"`
			Retry    int64 `json:"retry_pending"`
			Finished int64 `json:"finished"`
			Failed   int64 `json:"failed"`
		} `json:"target_counts"`
	}
	if len(e.Data) == 0 || json.Unmarshal(e.Data, &d) != nil {
		return ""
	}
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	switch {
	case strings.HasPrefix(string(e.Type), "outdial_target_"):
		add("target", d.ID)
		add("outdial", d.OutdialID)
		add("status", d.Status)
		add("reason", d.Reason)
		add("result", d.LastResult)
		if d.TryCountCurrent != nil && d.TryCountMax != nil {
			add("tries", fmt.Sprintf("%d/%d", *d.TryCountCurrent, *d.TryCountMax))
		}
	case strings.HasPrefix(string(e.Type), "outdial_"):
		add("outdial", d.ID)
		if d.TargetCount != nil {
			add("targets", strconv.FormatInt(*d.TargetCount, 10))
		}
		if c := d.Counts; c != nil {
			add("counts", fmt.Sprintf("idle:%d dialing:%d retry:%d finished:%d failed:%d", c.Idle, c.Dialing, c.Retry, c.Finished, c.Failed))
		}
		if d.Archived {
			add("archived", "true")
		}
	}
	return strings.Join(parts, " ")
}
