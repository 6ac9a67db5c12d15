package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/webhook"
)

const (
	customer = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"
	secret   = "receiver-test-secret-0123456789"
)

// store holds one webhook.
type store struct{ cfg webhook.Config }

func (s *store) GetWebhook(context.Context, string) (*webhook.Config, error) {
	c := s.cfg
	return &c, nil
}
func (s *store) PutWebhook(context.Context, string, string, []events.Type) (*webhook.Config, error) {
	return nil, errors.New("not used")
}
func (s *store) DeleteWebhook(context.Context, string) error { return errors.New("not used") }
func (s *store) RotateWebhook(context.Context, string) (*webhook.Config, error) {
	return nil, errors.New("not used")
}

// sender returns a Deliverer posting to the receiver rv, signing with
// secrets.
func sender(t *testing.T, rv *receiver, secrets ...string) *webhook.Deliverer {
	t.Helper()
	srv := httptest.NewServer(rv)
	t.Cleanup(srv.Close)
	cfg := webhook.Config{CustomerID: customer, URI: srv.URL + "/"}
	for _, s := range secrets {
		cfg.Secrets = append(cfg.Secrets, webhook.Secret{Value: s})
	}
	return &webhook.Deliverer{Client: webhook.NewClient(true), Store: &store{cfg}, AllowLocal: true}
}

func fixed(s string) func() (string, error) { return func() (string, error) { return s, nil } }

func delivery(evs ...events.Event) events.Delivery {
	return events.Delivery{CustomerID: customer, Events: evs, FirstTry: time.Now().UnixMilli()}
}

func targetEvent(id, status, reason string) events.Event {
	return events.Event{ID: id, Type: events.TargetUpdated, TM: outdial.Time{Time: time.Now()}, Data: json.RawMessage(
		`{"id":"t-` + id + `","outdial_id":"o-1","status":"` + status + `","reason":"` + reason + `","last_result":"busy",` +
			`"try_count_current":1,"try_count_max":3,"destination":{"type":"tel","target":"+15550001234"}}`)}
}

func TestReceiverVerifiesAndPrints(t *testing.T) {
	var out dynamotest.SyncBuffer
	rv := newReceiver(fixed(secret), 0, &out)
	// During a rotation the delivery carries two signatures; the
	// receiver holds the old secret and still verifies it.
	d := sender(t, rv, "the-new-secret-0123456789", secret)
	completed := events.Event{ID: "e-done", Type: events.OutdialCompleted, TM: outdial.Time{Time: time.Now()}, Data: json.RawMessage(
		`{"id":"o-1","name":"x","target_count":5,"target_counts":{"idle":0,"dialing":0,"finished":4,"failed":1,"retry_pending":0}}`)}
	if err := d.Deliver(context.Background(), delivery(targetEvent("e1", "retry_pending", "busy_retry"), completed)); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("printed %q, want 2 lines", lines)
	}
	for _, want := range []string{"outdial_target_updated e1 ", "target=t-e1", "outdial=o-1", "status=retry_pending", "reason=busy_retry", "result=busy", "tries=1/3"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line %q lacks %q", lines[0], want)
		}
	}
	for _, want := range []string{"outdial_completed e-done ", "outdial=o-1", "targets=5", "finished:4", "failed:1"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("line %q lacks %q", lines[1], want)
		}
	}
	if strings.Contains(out.String(), "+1555") {
		t.Error("the receiver printed a destination")
	}
}

func TestReceiverRefusesBadSignature(t *testing.T) {
	var out dynamotest.SyncBuffer
	rv := newReceiver(fixed(secret), 0, &out)
	err := sender(t, rv, "some-other-secret-0123456789").Deliver(context.Background(), delivery(targetEvent("e1", "idle", "")))
	var de *webhook.DeliveryError
	if !errors.As(err, &de) || de.StatusCode != http.StatusUnauthorized {
		t.Errorf("Deliver with the wrong secret = %v, want a 401", err)
	}
	if strings.Contains(out.String(), " e1 ") || !strings.Contains(out.String(), "(401)") {
		t.Errorf("output %q", out.String())
	}

	// A tampered body, sent by hand.
	body := []byte(`{"events":[]}`)
	ts := time.Now().Unix()
	sig := webhook.Sign([]string{secret}, ts, body)
	for _, tc := range []struct {
		name string
		body string
		ts   int64
	}{{"tampered body", `{"events":[] }`, ts}, {"replayed an hour later", string(body), ts - 3600}} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
		req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(tc.ts, 10))
		req.Header.Set(webhook.HeaderSignature, sig)
		w := httptest.NewRecorder()
		rv.ServeHTTP(w, req)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", tc.name, w.Code)
		}
	}
}

// TestReceiverFailFirstAndDedupe: -fail-first answers 500 to the first
// deliveries; the redelivery is printed once; a duplicate event is
// skipped.
func TestReceiverFailFirstAndDedupe(t *testing.T) {
	var out dynamotest.SyncBuffer
	rv := newReceiver(fixed(secret), 2, &out)
	d := sender(t, rv, secret)
	del := delivery(targetEvent("e1", "dialing", ""), targetEvent("e2", "finished", ""))
	for i := range 2 {
		var de *webhook.DeliveryError
		if err := d.Deliver(context.Background(), del); !errors.As(err, &de) || de.StatusCode != http.StatusInternalServerError {
			t.Fatalf("delivery %d = %v, want a 500", i+1, err)
		}
	}
	if err := d.Deliver(context.Background(), del); err != nil {
		t.Fatalf("third delivery: %v", err)
	}
	// At least once: the same events again, one new.
	if err := d.Deliver(context.Background(), delivery(targetEvent("e2", "finished", ""), targetEvent("e3", "idle", ""))); err != nil {
		t.Fatalf("fourth delivery: %v", err)
	}
	o := out.String()
	if n := strings.Count(o, "(-fail-first 2)"); n != 2 {
		t.Errorf("%d deliveries failed on purpose, want 2:\n%s", n, o)
	}
	for id, want := range map[string]int{" e1 ": 1, " e2 ": 1, " e3 ": 1} {
		if n := strings.Count(o, "ms outdial_target_updated"+id); n != want {
			t.Errorf("event%sprinted %d times, want %d:\n%s", id, n, want, o)
		}
	}
	if !strings.Contains(o, "duplicate outdial_target_updated e2 skipped") {
		t.Errorf("the duplicate is not reported:\n%s", o)
	}
	if s := rv.summary(); !strings.Contains(s, "3 events, 1 duplicates skipped") || !strings.Contains(s, "2 answered 500") {
		t.Errorf("summary %q", s)
	}
}

// TestRun starts the command on a free port with the secret from a file
// written after it started, sends it a delivery and stops it.
func TestRun(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr dynamotest.SyncBuffer
	addr := make(chan string, 1)
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-port", "0", "-secret-file", file}, func(string) string { return "" }, &stdout, &stderr,
			func(a string) { addr <- a })
	}()
	var a string
	select {
	case a = <-addr:
	case c := <-code:
		t.Fatalf("run ended with %d: %s", c, stderr.String())
	}
	cfg := webhook.Config{URI: "http://" + a + "/", Secrets: []webhook.Secret{{Value: secret}}}
	d := &webhook.Deliverer{Client: webhook.NewClient(true), Store: &store{cfg}, AllowLocal: true}
	var de *webhook.DeliveryError
	if err := d.Deliver(ctx, delivery(targetEvent("e1", "idle", ""))); !errors.As(err, &de) || de.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("Deliver before the secret file exists = %v, want a 503", err)
	}
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Deliver(ctx, delivery(targetEvent("e1", "idle", ""))); err != nil {
		t.Errorf("Deliver: %v", err)
	}
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("exit code %d: %s", c, stderr.String())
	}
	if o := stdout.String(); !strings.Contains(o, "listening on http://127.0.0.1:") || !strings.Contains(o, " e1 ") || !strings.Contains(o, "1 events") {
		t.Errorf("stdout:\n%s", o)
	}
}

func TestRunRefusals(t *testing.T) {
	env := func(k string) string { return map[string]string{EnvSecret: "from-env"}[k] }
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		args   []string
		getenv func(string) string
	}{
		{nil, noEnv},
		{[]string{"-secret-file", "x"}, env},
		{[]string{"-port", "-1", "-secret", "s"}, noEnv},
		{[]string{"-fail-first", "-1", "-secret", "s"}, noEnv},
		{[]string{"-secret", "s", "extra"}, noEnv},
		{[]string{"-nope"}, noEnv},
	} {
		var out, errb bytes.Buffer
		if c := run(context.Background(), tc.args, tc.getenv, &out, &errb, nil); c != 2 {
			t.Errorf("run %q = %d, want 2", tc.args, c)
		}
	}
}

// fakeAPI stands in for the service's webhook routes: PUT answers a
// secret, test delivers a ping to the registered URI (signed, as
// deliver-webhooks does), DELETE is recorded.
type fakeAPI struct {
	t       *testing.T
	mu      sync.Mutex
	uri     string
	types   []string
	auth    string
	calls   []string
	deleted bool
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	f.auth = r.Header.Get("Authorization")
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch r.Method + " " + r.URL.Path {
	case "PUT /v1.0/webhook":
		var in struct {
			URI        string   `json:"uri"`
			EventTypes []string `json:"event_types"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.uri, f.types = in.URI, in.EventTypes
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"uri": in.URI, "event_types": in.EventTypes, "secret": secret})
	case "POST /v1.0/webhook/test":
		f.mu.Lock()
		cfg := webhook.Config{CustomerID: customer, URI: f.uri, Secrets: []webhook.Secret{{Value: secret}}}
		f.mu.Unlock()
		go func() {
			d := &webhook.Deliverer{Client: webhook.NewClient(true), Store: &store{cfg}, AllowLocal: true}
			ping := events.Event{ID: "ping-1", Type: events.Ping, TM: outdial.Time{Time: time.Now()}, Data: json.RawMessage(`{"message":"ping"}`)}
			if err := d.Deliver(context.Background(), delivery(ping)); err != nil {
				f.t.Errorf("the ping was refused: %v", err)
			}
		}()
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"queued":true,"event_id":"ping-1"}`))
	case "DELETE /v1.0/webhook":
		f.mu.Lock()
		f.deleted = true
		f.mu.Unlock()
		_, _ = w.Write([]byte(`{"uri":"x","event_types":null}`))
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"error":{"code":"not_found","message":"no route"}}`))
	}
}

// TestRegister runs the command as make events does: it registers itself
// through the API (a token minted for the demo customer), gets the ping,
// runs a command whose output is relayed, drains, removes the webhook and
// exits with the command's status.
func TestRegister(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	fake := &fakeAPI{t: t}
	apiSrv := httptest.NewServer(fake)
	defer apiSrv.Close()
	var stdout, stderr dynamotest.SyncBuffer
	args := []string{"-register", "-api", apiSrv.URL, "-port", "0", "-event-types", "outdial_completed, outdial_target_updated", "-drain", "300ms",
		"--", "sh", "-c", "sleep 1; echo from the command; exit 3"}
	code := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr, nil)
	if code != 3 {
		t.Errorf("exit code %d, want the command's 3; stderr: %s", code, stderr.String())
	}
	o := stdout.String()
	for _, want := range []string{"registered http://127.0.0.1:", "as the webhook of customer " + demoCustomer, "(outdial_completed, outdial_target_updated)",
		"ping ping-1 queued", "ping ping-1", "| from the command", "webhook removed", "1 events"} {
		if !strings.Contains(o, want) {
			t.Errorf("stdout lacks %q:\n%s", want, o)
		}
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if !fake.deleted || !strings.HasPrefix(fake.uri, "http://127.0.0.1:") || strings.Join(fake.types, ",") != "outdial_completed,outdial_target_updated" {
		t.Errorf("the API saw uri %q types %v deleted %v; calls %v", fake.uri, fake.types, fake.deleted, fake.calls)
	}
	// The token: minted with the development secret for the demo customer.
	v, err := auth.NewVerifier(auth.DevSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Verify(strings.TrimPrefix(fake.auth, "Bearer ")); err != nil || got != demoCustomer {
		t.Errorf("the API got a token of %q (%v), want the demo customer's", got, err)
	}
}

func TestRegisterRefusals(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"-register", "-secret", "s"}, 2},                                // the secret comes from the API
		{[]string{"-register", "-api", "https://api.example.com"}, 2},             // no token for a remote API
		{[]string{"sh", "-c", "true"}, 2},                                         // a command needs -register
		{[]string{"-register", "-api", "http://127.0.0.1:1", "-port", "0"}, 1},    // nothing listens there
		{[]string{"-register", "-drain", "-1s", "-api", "http://127.0.0.1:1"}, 2}, // negative drain
	} {
		var out, errb bytes.Buffer
		if c := run(context.Background(), tc.args, noEnv, &out, &errb, nil); c != tc.want {
			t.Errorf("run %q = %d, want %d; stderr %s", tc.args, c, tc.want, errb.String())
		}
	}
}
