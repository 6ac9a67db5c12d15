package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/webhook"
)

// store is a webhook.Store holding configs in memory.
type store struct {
	mu   sync.Mutex
	cfgs map[string]*webhook.Config
	err  error
}

func (s *store) GetWebhook(_ context.Context, customerID string) (*webhook.Config, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	c, ok := s.cfgs[customerID]
	if !ok {
		return nil, outdial.ErrNotFound("webhook")
	}
	cp := *c
	return &cp, nil
}

func (s *store) PutWebhook(context.Context, string, string, []events.Type) (*webhook.Config, error) {
	return nil, errors.New("not used")
}
func (s *store) DeleteWebhook(context.Context, string) error { return errors.New("not used") }
func (s *store) RotateWebhook(context.Context, string) (*webhook.Config, error) {
	return nil, errors.New("not used")
}

// request is what the test server received.
type request struct {
	method, path string
	header       http.Header
	body         []byte
}

// receiver is an httptest server on 127.0.0.1 that records requests and
// answers status.
func receiver(t *testing.T, status int) (*httptest.Server, func() []request) {
	t.Helper()
	var (
		mu   sync.Mutex
		reqs []request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, request{r.Method, r.URL.Path, r.Header.Clone(), b})
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), reqs...)
	}
}

const customer = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func event(id string, typ events.Type) events.Event {
	return events.Event{ID: id, Type: typ, TM: outdial.Time{Time: now.Add(-time.Second)}, Data: json.RawMessage(`{"id":"` + id + `","status":"finished"}`)}
}

func deliverer(s webhook.Store) *webhook.Deliverer {
	return &webhook.Deliverer{Client: webhook.NewClient(true), Store: s, Now: func() time.Time { return now }, AllowLocal: true}
}

func TestDeliverRequest(t *testing.T) {
	srv, got := receiver(t, http.StatusNoContent)
	s := &store{cfgs: map[string]*webhook.Config{customer: {
		CustomerID: customer, URI: srv.URL + "/hooks/outdial?k=v",
		EventTypes: []events.Type{events.TargetUpdated, events.OutdialCompleted},
		Secrets: []webhook.Secret{
			{Value: "current-secret"},
			{Value: "rotated-secret", Until: now.Add(time.Hour)},
			{Value: "expired-secret", Until: now.Add(-time.Second)},
		},
	}}}
	d := events.Delivery{CustomerID: customer, FirstTry: now.UnixMilli(), Events: []events.Event{
		event("e1", events.TargetCreated),
		event("e2", events.TargetUpdated),
		event("e3", events.Ping),
		event("e4", events.OutdialUpdated),
		event("e5", events.OutdialCompleted),
		event("e6", events.TargetUpdated),
	}}
	res, err := deliverer(s).Send(context.Background(), d)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.Status != webhook.Delivered || res.Events != 4 || res.StatusCode != http.StatusNoContent {
		t.Errorf("Send = %+v, want delivered, 4 events, 204", res)
	}
	reqs := got()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost || r.path != "/hooks/outdial" {
		t.Errorf("request %s %s", r.method, r.path)
	}
	for h, want := range map[string]string{
		"Content-Type":          "application/json",
		"User-Agent":            "Outdial-Webhooks/1",
		webhook.HeaderTimestamp: strconv.FormatInt(now.Unix(), 10),
	} {
		if v := r.header.Get(h); v != want {
			t.Errorf("header %s = %q, want %q", h, v, want)
		}
	}
	// Signed with the two secrets valid now, the current one first; the
	// expired one is gone.
	sig := r.header.Get(webhook.HeaderSignature)
	if want := webhook.Sign([]string{"current-secret", "rotated-secret"}, now.Unix(), r.body); sig != want {
		t.Errorf("signature %q, want %q", sig, want)
	}
	for _, secret := range []string{"current-secret", "rotated-secret"} {
		if err := webhook.VerifyRequest(secret, r.header, r.body, now, 0); err != nil {
			t.Errorf("VerifyRequest with %s: %v", secret, err)
		}
	}
	if err := webhook.VerifyRequest("expired-secret", r.header, r.body, now, 0); err == nil {
		t.Error("the expired secret still signs")
	}
	// The body: the wanted events, in order, as {"events":[...]}.
	var body map[string][]events.Event
	if err := json.Unmarshal(r.body, &body); err != nil || len(body) != 1 {
		t.Fatalf("body %s: %v", r.body, err)
	}
	var ids []string
	for _, e := range body["events"] {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, ",") != "e2,e3,e5,e6" {
		t.Errorf("events sent %v, want e2,e3,e5,e6 (the subscribed types and ping, in order)", ids)
	}
	if !strings.HasPrefix(string(r.body), `{"events":[{"id":"e2","type":"outdial_target_updated","tm":"`) {
		t.Errorf("body %s", r.body)
	}
}

func TestDeliverAllTypesWhenNoneListed(t *testing.T) {
	srv, got := receiver(t, http.StatusOK)
	s := &store{cfgs: map[string]*webhook.Config{customer: {URI: srv.URL, Secrets: []webhook.Secret{{Value: "s"}}}}}
	d := events.Delivery{CustomerID: customer, Events: []events.Event{event("a", events.OutdialCreated), event("b", events.TargetDeleted)}}
	if err := deliverer(s).Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if reqs := got(); len(reqs) != 1 || !strings.Contains(string(reqs[0].body), `"b"`) || !strings.Contains(string(reqs[0].body), `"a"`) {
		t.Errorf("requests %v", reqs)
	}
}

func TestDeliverNothingToSend(t *testing.T) {
	srv, got := receiver(t, http.StatusOK)
	s := &store{cfgs: map[string]*webhook.Config{"other-customer": {URI: srv.URL, Secrets: []webhook.Secret{{Value: "s"}}}}}
	s.cfgs[customer] = &webhook.Config{URI: srv.URL, EventTypes: []events.Type{events.OutdialCompleted}, Secrets: []webhook.Secret{{Value: "s"}}}
	dl := deliverer(s)

	// No webhook: dropped, nil, nothing sent (and nothing to another
	// customer's webhook).
	res, err := dl.Send(context.Background(), events.Delivery{CustomerID: "no-webhook", Events: []events.Event{event("a", events.TargetUpdated)}})
	if err != nil || res.Status != webhook.NoWebhook {
		t.Errorf("Send without a webhook = %+v, %v; want NoWebhook, nil", res, err)
	}
	// Nothing subscribed to.
	res, err = dl.Send(context.Background(), events.Delivery{CustomerID: customer, Events: []events.Event{event("a", events.TargetUpdated)}})
	if err != nil || res.Status != webhook.NotWanted {
		t.Errorf("Send of unwanted events = %+v, %v; want NotWanted, nil", res, err)
	}
	if n := len(got()); n != 0 {
		t.Errorf("%d requests, want 0", n)
	}
	// The store failing is retryable.
	s.err = outdial.Errorf(outdial.ECodeUnavailable, "throttled")
	if err := dl.Deliver(context.Background(), events.Delivery{CustomerID: customer, Events: []events.Event{event("a", events.Ping)}}); err == nil {
		t.Error("Deliver with the store failing = nil, want an error")
	}
}

func TestDeliverFailures(t *testing.T) {
	ping := []events.Event{event("p", events.Ping)}
	cases := []struct {
		name   string
		status int
		prod   bool // a production deliverer (its client refuses 127.0.0.1)
		want   int  // DeliveryError.StatusCode
	}{
		{"500", http.StatusInternalServerError, false, 500},
		{"404", http.StatusNotFound, false, 404},
		{"redirect", http.StatusFound, false, 302},
		{"304", http.StatusNotModified, false, 304},
		{"refused address", http.StatusOK, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv, got := receiver(t, tc.status)
			s := &store{cfgs: map[string]*webhook.Config{customer: {URI: srv.URL, Secrets: []webhook.Secret{{Value: "s"}}}}}
			dl := deliverer(s)
			if tc.prod {
				// The URI check fails first; with it passed (a host name
				// rebound to loopback), the dialer would: see
				// TestClientRefusesLoopback.
				dl = &webhook.Deliverer{Client: webhook.NewClient(false), Store: s, Now: dl.Now}
			}
			err := dl.Deliver(context.Background(), events.Delivery{CustomerID: customer, Events: ping})
			var de *webhook.DeliveryError
			if !errors.As(err, &de) || de.StatusCode != tc.want {
				t.Fatalf("Deliver = %v, want a DeliveryError with status %d", err, tc.want)
			}
			if tc.prod && len(got()) != 0 {
				t.Error("a production deliverer reached 127.0.0.1")
			}
		})
	}
	t.Run("production client, local URI allowed by the deliverer", func(t *testing.T) {
		srv, got := receiver(t, http.StatusOK)
		s := &store{cfgs: map[string]*webhook.Config{customer: {URI: srv.URL, Secrets: []webhook.Secret{{Value: "s"}}}}}
		dl := &webhook.Deliverer{Client: webhook.NewClient(false), Store: s, AllowLocal: true}
		err := dl.Deliver(context.Background(), events.Delivery{CustomerID: customer, Events: ping})
		if !errors.Is(err, webhook.ErrAddressRefused) {
			t.Errorf("Deliver = %v, want ErrAddressRefused from the dialer", err)
		}
		if len(got()) != 0 {
			t.Error("the production client reached 127.0.0.1")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		defer srv.Close()
		defer close(release)
		s := &store{cfgs: map[string]*webhook.Config{customer: {URI: srv.URL, Secrets: []webhook.Secret{{Value: "s"}}}}}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		err := deliverer(s).Deliver(ctx, events.Delivery{CustomerID: customer, Events: ping})
		var de *webhook.DeliveryError
		if !errors.As(err, &de) || de.StatusCode != 0 {
			t.Errorf("Deliver = %v, want a DeliveryError without status", err)
		}
	})
}

// TestDeliverErrorsNameNoURI: a failed delivery's error does not carry
// the URI (its query string may hold the customer's own token).
func TestDeliverErrorsNameNoURI(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	uri := srv.URL + "/hook?token=very-secret-token"
	srv.Close() // connection refused
	s := &store{cfgs: map[string]*webhook.Config{customer: {URI: uri, Secrets: []webhook.Secret{{Value: "signing-secret"}}}}}
	err := deliverer(s).Deliver(context.Background(), events.Delivery{CustomerID: customer, Events: []events.Event{event("p", events.Ping)}})
	if err == nil {
		t.Fatal("Deliver to a closed server = nil")
	}
	for _, leak := range []string{"very-secret-token", "/hook", "signing-secret"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q carries %q", err, leak)
		}
	}
}

// TestDeliverRechecksURI: a stored URI that no longer passes ValidateURI
// is not sent to.
func TestDeliverRechecksURI(t *testing.T) {
	srv, got := receiver(t, http.StatusOK)
	uri := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	s := &store{cfgs: map[string]*webhook.Config{customer: {URI: uri, Secrets: []webhook.Secret{{Value: "s"}}}}}
	err := deliverer(s).Deliver(context.Background(), events.Delivery{CustomerID: customer, Events: []events.Event{event("p", events.Ping)}})
	if !errors.Is(err, webhook.ErrURIRefused) {
		t.Errorf("Deliver to %s = %v, want ErrURIRefused", uri, err)
	}
	if len(got()) != 0 {
		t.Error("sent to a URI ValidateURI refuses")
	}
}
