package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/api/webhooks"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/samtemplate"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }

var secretRE = regexp.MustCompile(`^whsec_[0-9a-f]{64}$`)

// fakeQueue is a webhook.Enqueuer that keeps what it is given, or fails
// with err.
type fakeQueue struct {
	mu         sync.Mutex
	deliveries []events.Delivery
	err        error
}

func (q *fakeQueue) Enqueue(_ context.Context, d events.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.deliveries = append(q.deliveries, d)
	return nil
}

func (q *fakeQueue) all() []events.Delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.deliveries)
}

// harness runs the webhook handlers on a fresh DynamoDB Local table, with
// requests built from the events/ fixtures.
type harness struct {
	t     *testing.T
	ctx   context.Context
	h     *webhooks.Handler
	queue *fakeQueue
	logs  *dynamotest.SyncBuffer
	root  string
	cust  string
	now   time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	client, table := dynamotest.Table(t)
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	a := &harness{
		t: t, ctx: ctx, root: root, cust: uuid.NewString(), queue: &fakeQueue{}, logs: &dynamotest.SyncBuffer{},
		now: time.Date(2024, 5, 24, 10, 15, 30, 123456000, time.UTC),
	}
	a.h = &webhooks.Handler{
		Store: dynamo.New(client, table),
		Queue: a.queue,
		Log:   slog.New(slog.NewJSONHandler(a.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:   func() time.Time { return a.now },
	}
	// No secret is ever logged.
	t.Cleanup(func() {
		if out := a.logs.String(); strings.Contains(out, "whsec_") {
			t.Errorf("the log has a secret: %s", out)
		}
	})
	return a
}

// as returns a copy of a for another customer.
func (a *harness) as(customerID string) *harness {
	c := *a
	c.cust = customerID
	return &c
}

// event loads events/<fixture>.json with a fresh request id and the
// harness's customer.
func (a *harness) event(fixture string) apigw.Request {
	a.t.Helper()
	data, err := os.ReadFile(samtemplate.EventPath(a.root, fixture))
	if err != nil {
		a.t.Fatal(err)
	}
	var req apigw.Request
	if err := json.Unmarshal(data, &req); err != nil {
		a.t.Fatalf("events/%s.json: %v", fixture, err)
	}
	req.RequestContext.RequestID += "-" + uuid.NewString()
	req.RequestContext.Authorizer.Lambda["customer_id"] = a.cust
	return req
}

// with is fixture's event with body.
func (a *harness) with(fixture, body string) apigw.Request {
	req := a.event(fixture)
	req.Body = body
	return req
}

// do runs fixture's handler on req; a handler never returns an error.
func (a *harness) do(fixture string, req apigw.Request) apigw.Response {
	a.t.Helper()
	fns := map[string]func(context.Context, apigw.Request) (apigw.Response, error){
		"put-webhook":    a.h.Put,
		"get-webhook":    a.h.Get,
		"delete-webhook": a.h.Delete,
		"rotate-webhook": a.h.Rotate,
		"test-webhook":   a.h.Test,
	}
	resp, err := fns[fixture](a.ctx, req)
	if err != nil {
		a.t.Fatalf("%s returned an error: %v", fixture, err)
	}
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		a.t.Errorf("%s: Content-Type = %q, want application/json", fixture, ct)
	}
	return resp
}

// ok runs req, wants status and decodes the body into v strictly.
func (a *harness) ok(fixture string, req apigw.Request, status int, v any) {
	a.t.Helper()
	resp := a.do(fixture, req)
	if resp.StatusCode != status {
		a.t.Fatalf("%s: status %d, want %d; body %s", fixture, resp.StatusCode, status, resp.Body)
	}
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		a.t.Fatalf("%s: decode %s: %v", fixture, resp.Body, err)
	}
}

func (a *harness) put(body string) webhooks.WebhookWithSecret {
	a.t.Helper()
	var w webhooks.WebhookWithSecret
	a.ok("put-webhook", a.with("put-webhook", body), http.StatusOK, &w)
	if !secretRE.MatchString(w.Secret) {
		a.t.Errorf("put: secret %q, want whsec_<64 hex>", w.Secret)
	}
	return w
}

func (a *harness) get() webhooks.Webhook {
	a.t.Helper()
	var w webhooks.Webhook
	a.ok("get-webhook", a.event("get-webhook"), http.StatusOK, &w)
	return w
}

func (a *harness) rotate() webhooks.WebhookWithSecret {
	a.t.Helper()
	var w webhooks.WebhookWithSecret
	a.ok("rotate-webhook", a.event("rotate-webhook"), http.StatusOK, &w)
	if !secretRE.MatchString(w.Secret) {
		a.t.Errorf("rotate: secret %q, want whsec_<64 hex>", w.Secret)
	}
	return w
}

// wantError checks resp is an error with status and code whose message
// names field (and whose envelope's field, when set, is field).
func wantError(t *testing.T, resp apigw.Response, status int, code, field string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d; body %s", resp.StatusCode, status, resp.Body)
	}
	var e apigw.ErrorBody
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %s: %v", resp.Body, err)
	}
	if e.Error.Code != code {
		t.Errorf("code = %q, want %q; body %s", e.Error.Code, code, resp.Body)
	}
	if e.Error.Reason != strings.ToUpper(code) || e.Error.Status == "" || e.Error.RequestID == "" {
		t.Errorf("envelope %+v", e.Error)
	}
	if field != "" && !strings.HasPrefix(e.Error.Message, field+": ") {
		t.Errorf("message %q does not start with the field %q", e.Error.Message, field)
	}
	if e.Error.Field != field {
		t.Errorf("field = %q, want %q", e.Error.Field, field)
	}
	if strings.Contains(resp.Body, "whsec_") {
		t.Errorf("an error shows a secret: %s", resp.Body)
	}
}

// TestWebhookFixtures runs every route on its events/ fixture: put, get,
// rotate, test, delete, then the 404s of a customer without a webhook.
func TestWebhookFixtures(t *testing.T) {
	a := newHarness(t)
	wantTypes := []events.Type{events.OutdialCompleted, events.TargetUpdated}

	var put webhooks.WebhookWithSecret
	a.ok("put-webhook", a.event("put-webhook"), http.StatusOK, &put)
	if put.URI != "https://hooks.example.com/outdial" || !slices.Equal(put.EventTypes, wantTypes) || !secretRE.MatchString(put.Secret) {
		t.Errorf("put = %+v", put)
	}

	// GET answers without the secret (ok decodes strictly).
	if got := a.get(); got.URI != put.URI || !slices.Equal(got.EventTypes, wantTypes) {
		t.Errorf("get = %+v, want %+v", got, put.Webhook)
	}
	if resp := a.do("get-webhook", a.event("get-webhook")); strings.Contains(resp.Body, "whsec_") || strings.Contains(resp.Body, "secret") {
		t.Errorf("get shows a secret: %s", resp.Body)
	}

	rot := a.rotate()
	if rot.Secret == put.Secret || rot.URI != put.URI || !slices.Equal(rot.EventTypes, wantTypes) {
		t.Errorf("rotate = %+v, want a new secret for the same webhook", rot)
	}

	var tr webhooks.TestResponse
	a.ok("test-webhook", a.event("test-webhook"), http.StatusAccepted, &tr)
	if !tr.Queued || uuid.Validate(tr.EventID) != nil {
		t.Errorf("test = %+v, want queued with a UUID event id", tr)
	}
	ds := a.queue.all()
	if len(ds) != 1 {
		t.Fatalf("%d deliveries queued, want 1", len(ds))
	}
	d := ds[0]
	if d.CustomerID != a.cust || d.FirstTry != a.now.UnixMilli() || len(d.Events) != 1 {
		t.Fatalf("delivery = %+v, want one event of the customer first tried now", d)
	}
	ev := d.Events[0]
	if ev.ID != tr.EventID || ev.Type != events.Ping || !ev.TM.Equal(a.now) || string(ev.Data) != `{"message":"ping"}` {
		t.Errorf("event = %+v (data %s)", ev, ev.Data)
	}
	body, err := json.Marshal(events.Body{Events: d.Events})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"events":[{"id":"` + tr.EventID + `","type":"ping","tm":"2024-05-24T10:15:30.123456Z","data":{"message":"ping"}}]}`; string(body) != want {
		t.Errorf("webhook body %s, want %s", body, want)
	}

	// A second test is another event.
	var tr2 webhooks.TestResponse
	a.ok("test-webhook", a.event("test-webhook"), http.StatusAccepted, &tr2)
	if tr2.EventID == tr.EventID {
		t.Errorf("two tests share the event id %s", tr.EventID)
	}

	var del webhooks.Webhook
	a.ok("delete-webhook", a.event("delete-webhook"), http.StatusOK, &del)
	if del.URI != put.URI || !slices.Equal(del.EventTypes, wantTypes) {
		t.Errorf("delete = %+v, want the removed webhook", del)
	}

	queued := len(a.queue.all())
	for _, f := range []string{"get-webhook", "delete-webhook", "rotate-webhook", "test-webhook"} {
		resp := a.do(f, a.event(f))
		wantError(t, resp, http.StatusNotFound, outdial.ECodeNotFound, "")
		if !strings.Contains(resp.Body, "webhook not found") {
			t.Errorf("%s: %s, want webhook not found", f, resp.Body)
		}
	}
	if n := len(a.queue.all()); n != queued {
		t.Errorf("a test without a webhook queued a delivery")
	}
}

// TestWebhookSecretKept: PUT keeps the secret, answers the current one
// after a rotation, and a new webhook after DELETE gets a new secret.
func TestWebhookSecretKept(t *testing.T) {
	a := newHarness(t)
	w1 := a.put(`{"uri":"https://hooks.example.com/a"}`)
	w2 := a.put(`{"uri":"https://hooks.example.com/b","event_types":["outdial_created"]}`)
	if w2.Secret != w1.Secret || w2.URI != "https://hooks.example.com/b" {
		t.Errorf("second put = %+v, want the first secret %s kept", w2, w1.Secret)
	}
	r := a.rotate()
	if r.URI != w2.URI || !slices.Equal(r.EventTypes, []events.Type{events.OutdialCreated}) {
		t.Errorf("rotate = %+v", r)
	}
	if w3 := a.put(`{"uri":"https://hooks.example.com/c"}`); w3.Secret != r.Secret {
		t.Errorf("put after rotate answers %s, want the rotated-in secret %s", w3.Secret, r.Secret)
	}
	r2 := a.rotate()
	if r2.Secret == r.Secret || r2.Secret == w1.Secret {
		t.Errorf("second rotation reused a secret")
	}

	// Another customer sees none of it.
	b := a.as(uuid.NewString())
	wantError(t, b.do("get-webhook", b.event("get-webhook")), http.StatusNotFound, outdial.ECodeNotFound, "")
	wantError(t, b.do("rotate-webhook", b.event("rotate-webhook")), http.StatusNotFound, outdial.ECodeNotFound, "")
	wantError(t, b.do("delete-webhook", b.event("delete-webhook")), http.StatusNotFound, outdial.ECodeNotFound, "")
	if got := a.get(); got.URI != "https://hooks.example.com/c" {
		t.Errorf("the webhook changed: %+v", got)
	}

	var del webhooks.Webhook
	a.ok("delete-webhook", a.event("delete-webhook"), http.StatusOK, &del)
	if w4 := a.put(`{"uri":"https://hooks.example.com/c"}`); w4.Secret == r2.Secret || w4.Secret == r.Secret || w4.Secret == w1.Secret {
		t.Errorf("a webhook made after a delete got an old secret")
	}
}

// TestWebhookEventTypes: absent and null subscribe to all and answer
// null; lists are kept in order without repeats; [] and non-types are
// refused, naming the entry.
func TestWebhookEventTypes(t *testing.T) {
	a := newHarness(t)
	for _, body := range []string{`{"uri":"https://hooks.example.com/"}`, `{"uri":"https://hooks.example.com/","event_types":null}`} {
		resp := a.do("put-webhook", a.with("put-webhook", body))
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"event_types":null`) {
			t.Errorf("put %s: %d %s, want event_types null", body, resp.StatusCode, resp.Body)
		}
		if resp := a.do("get-webhook", a.event("get-webhook")); !strings.Contains(resp.Body, `"event_types":null`) {
			t.Errorf("get after put %s: %s, want event_types null", body, resp.Body)
		}
	}

	w := a.put(`{"uri":"https://hooks.example.com/","event_types":["outdial_target_deleted","outdial_created","outdial_target_deleted","outdial_created"]}`)
	if want := []events.Type{events.TargetDeleted, events.OutdialCreated}; !slices.Equal(w.EventTypes, want) {
		t.Errorf("event_types = %v, want %v", w.EventTypes, want)
	}
	all := make([]string, len(events.Types))
	for i, ty := range events.Types {
		all[i] = string(ty)
	}
	allJSON, _ := json.Marshal(map[string]any{"uri": "https://hooks.example.com/", "event_types": all})
	if w := a.put(string(allJSON)); !slices.Equal(w.EventTypes, events.Types) {
		t.Errorf("every type listed: event_types = %v", w.EventTypes)
	}

	for _, c := range []struct{ body, code, field string }{
		{`{"uri":"https://hooks.example.com/","event_types":[]}`, outdial.ECodeInvalidField, "event_types"},
		{`{"uri":"https://hooks.example.com/","event_types":["ping"]}`, outdial.ECodeInvalidField, "event_types[0]"},
		{`{"uri":"https://hooks.example.com/","event_types":["outdial_created","OUTDIAL_UPDATED"]}`, outdial.ECodeInvalidField, "event_types[1]"},
		{`{"uri":"https://hooks.example.com/","event_types":["outdial_created",7]}`, outdial.ECodeInvalidField, "event_types[1]"},
		{`{"uri":"https://hooks.example.com/","event_types":[null]}`, outdial.ECodeInvalidField, "event_types[0]"},
		{`{"uri":"https://hooks.example.com/","event_types":"outdial_created"}`, outdial.ECodeInvalidField, "event_types"},
	} {
		wantError(t, a.do("put-webhook", a.with("put-webhook", c.body)), http.StatusBadRequest, c.code, c.field)
	}
	// Refused puts changed nothing.
	if got := a.get(); !slices.Equal(got.EventTypes, events.Types) {
		t.Errorf("after refused puts: %+v", got)
	}
}

// TestWebhookPutRefused: the body's shape and the URI rules.
func TestWebhookPutRefused(t *testing.T) {
	a := newHarness(t)
	for _, c := range []struct {
		body        string
		status      int
		code, field string
	}{
		{``, http.StatusBadRequest, outdial.ECodeInvalidJSON, ""},
		{`[]`, http.StatusBadRequest, outdial.ECodeInvalidJSON, ""},
		{`{"uri":`, http.StatusBadRequest, outdial.ECodeInvalidJSON, ""},
		{`{}`, http.StatusBadRequest, outdial.ECodeMissingField, "uri"},
		{`{"uri":null}`, http.StatusBadRequest, outdial.ECodeMissingField, "uri"},
		{`{"uri":""}`, http.StatusBadRequest, outdial.ECodeMissingField, "uri"},
		{`{"uri":5}`, http.StatusBadRequest, outdial.ECodeInvalidField, "uri"},
		{`{"uri":"https://hooks.example.com/","secret":"whsec_mine"}`, http.StatusBadRequest, outdial.ECodeUnknownField, "secret"},
		{`{"uri":"https://hooks.example.com/","URI":"https://hooks.example.com/"}`, http.StatusBadRequest, outdial.ECodeUnknownField, "URI"},
		{`{"uri":"http://hooks.example.com/"}`, http.StatusBadRequest, outdial.ECodeInvalidField, "uri"},
		{`{"uri":"https://10.0.0.1/hook"}`, http.StatusBadRequest, outdial.ECodeInvalidField, "uri"},
		{`{"uri":"https://169.254.169.254/latest"}`, http.StatusBadRequest, outdial.ECodeInvalidField, "uri"},
		{`{"uri":"http://127.0.0.1:8080/hook"}`, http.StatusBadRequest, outdial.ECodeInvalidField, "uri"},
		{`{"uri":"https://localhost/hook"}`, http.StatusBadRequest, outdial.ECodeInvalidField, "uri"},
		{`{"uri":"/relative"}`, http.StatusBadRequest, outdial.ECodeInvalidField, "uri"},
		{`{"uri":"https://hooks.example.com/` + strings.Repeat("a", webhooks.MaxBody) + `"}`, http.StatusRequestEntityTooLarge, outdial.ECodeBodyTooLarge, ""},
	} {
		resp := a.do("put-webhook", a.with("put-webhook", c.body))
		wantError(t, resp, c.status, c.code, c.field)
	}
	wantError(t, a.do("get-webhook", a.event("get-webhook")), http.StatusNotFound, outdial.ECodeNotFound, "")

	// The URI is answered in canonical form.
	if w := a.put(`{"uri":"HTTPS://Hooks.Example.COM/Path?q=1"}`); w.URI != "https://hooks.example.com/Path?q=1" {
		t.Errorf("uri = %q, want the scheme and host lower-cased", w.URI)
	}

	// make run accepts a local receiver.
	a.h.AllowLocal = true
	if w := a.put(`{"uri":"http://127.0.0.1:8080/hook"}`); w.URI != "http://127.0.0.1:8080/hook" {
		t.Errorf("local receiver: uri = %q", w.URI)
	}
	wantError(t, a.do("put-webhook", a.with("put-webhook", `{"uri":"http://10.0.0.1:8080/hook"}`)), http.StatusBadRequest, outdial.ECodeInvalidField, "uri")
}

// TestWebhookEmptyBodies: rotate and test take an empty body or {}, and
// refuse any field.
func TestWebhookEmptyBodies(t *testing.T) {
	a := newHarness(t)
	a.put(`{"uri":"https://hooks.example.com/"}`)
	for _, f := range []string{"rotate-webhook", "test-webhook"} {
		for _, body := range []string{"", " ", "{}"} {
			resp := a.do(f, a.with(f, body))
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
				t.Errorf("%s with body %q: %d %s", f, body, resp.StatusCode, resp.Body)
			}
		}
		wantError(t, a.do(f, a.with(f, `{"uri":"https://other.example.com/"}`)), http.StatusBadRequest, outdial.ECodeUnknownField, "uri")
		wantError(t, a.do(f, a.with(f, `[`)), http.StatusBadRequest, outdial.ECodeInvalidJSON, "")
	}
	if n := len(a.queue.all()); n != 3 {
		t.Errorf("%d deliveries queued, want 3", n)
	}
}

// TestWebhookTestQueueFails: a queue failure is a 500, logged without
// the secret.
func TestWebhookTestQueueFails(t *testing.T) {
	a := newHarness(t)
	a.put(`{"uri":"https://hooks.example.com/"}`)
	a.queue.err = errors.New("sqs is down")
	wantError(t, a.do("test-webhook", a.event("test-webhook")), http.StatusInternalServerError, outdial.ECodeInternal, "")
	if !strings.Contains(a.logs.String(), "sqs is down") {
		t.Errorf("the queue's error is not logged: %s", a.logs.String())
	}
}

// TestWebhookUnauthenticated: no customer in the context is a 401 on every
// route.
func TestWebhookUnauthenticated(t *testing.T) {
	a := newHarness(t)
	for _, f := range []string{"put-webhook", "get-webhook", "delete-webhook", "rotate-webhook", "test-webhook"} {
		req := a.event(f)
		delete(req.RequestContext.Authorizer.Lambda, "customer_id")
		wantError(t, a.do(f, req), http.StatusUnauthorized, outdial.ECodeUnauthenticated, "")
	}
}
