package deliver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/outdial/outdial/internal/deliver"
	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/webhook"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	custA    = "aaaaaaaa-0000-4000-8000-000000000001"
	custB    = "bbbbbbbb-0000-4000-8000-000000000002"
	custNone = "cccccccc-0000-4000-8000-000000000003"
	secretA  = "secret-of-a-0123456789"
	secretB  = "secret-of-b-0123456789"
	tokenA   = "query-token-of-a"
	queueURL = "http://sqs.local/000000000000/deliveries.fifo"
	dataMark = "+15550001234" // in every event's data: must never be logged
)

// store is a webhook.Store of fixed configs; it counts the reads.
type store struct {
	cfgs  map[string]*webhook.Config
	mu    sync.Mutex
	reads int
}

func (s *store) GetWebhook(_ context.Context, id string) (*webhook.Config, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	if c, ok := s.cfgs[id]; ok {
		cp := *c
		return &cp, nil
	}
	return nil, outdial.ErrNotFound("webhook")
}
func (s *store) PutWebhook(context.Context, string, string, []events.Type) (*webhook.Config, error) {
	return nil, errors.New("not used")
}
func (s *store) DeleteWebhook(context.Context, string) error { return errors.New("not used") }
func (s *store) RotateWebhook(context.Context, string) (*webhook.Config, error) {
	return nil, errors.New("not used")
}

// visibility is a fake of SQS's ChangeMessageVisibilityBatch: it records
// the visibility set for each receipt handle, and the requests.
type visibility struct {
	mu       sync.Mutex
	calls    map[string]int32 // receipt handle -> seconds
	requests int
}

func (v *visibility) ChangeMessageVisibilityBatch(_ context.Context, in *sqs.ChangeMessageVisibilityBatchInput, _ ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if aws.ToString(in.QueueUrl) != queueURL {
		return nil, errors.New("wrong queue")
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		return nil, fmt.Errorf("%d entries", len(in.Entries))
	}
	if v.calls == nil {
		v.calls = map[string]int32{}
	}
	v.requests++
	out := &sqs.ChangeMessageVisibilityBatchOutput{}
	for _, e := range in.Entries {
		v.calls[aws.ToString(e.ReceiptHandle)] = e.VisibilityTimeout
		out.Successful = append(out.Successful, sqstypes.ChangeMessageVisibilityBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// hooks is the customers' webhooks: one httptest server, a path per
// customer, recording the event ids each received in order and failing
// (500) deliveries holding an event id in fail.
type hooks struct {
	srv   *httptest.Server
	mu    sync.Mutex
	got   map[string][]string // path -> event ids, in order of arrival
	posts map[string][]int    // path -> events of each POST answered 2xx
	fail  map[string]bool
}

func newHooks(t *testing.T) *hooks {
	h := &hooks{got: map[string][]string{}, posts: map[string][]int{}, fail: map[string]bool{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		secret := map[string]string{"/a": secretA, "/b": secretB}[r.URL.Path]
		if err := webhook.VerifyRequest(secret, r.Header, body, now, 0); err != nil {
			t.Errorf("delivery to %s does not verify: %v", r.URL.Path, err)
		}
		var b events.Body
		if err := json.Unmarshal(body, &b); err != nil {
			t.Errorf("body: %v", err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, e := range b.Events {
			if h.fail[e.ID] {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
		}
		for _, e := range b.Events {
			h.got[r.URL.Path] = append(h.got[r.URL.Path], e.ID)
		}
		h.posts[r.URL.Path] = append(h.posts[r.URL.Path], len(b.Events))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// postCount is how many POSTs to path were answered 2xx.
func (h *hooks) postCount(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.posts[path])
}

// postSizes is the number of events of each POST to path answered 2xx.
func (h *hooks) postSizes(path string) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.posts[path])
}

func (h *hooks) received(path string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.got[path])
}

// setup returns a handler delivering to h, its fake queue and its log.
func setup(h *hooks) (*deliver.Handler, *visibility, *bytes.Buffer) {
	s := &store{cfgs: map[string]*webhook.Config{
		custA: {CustomerID: custA, URI: h.srv.URL + "/a?token=" + tokenA, Secrets: []webhook.Secret{{Value: secretA}}},
		custB: {CustomerID: custB, URI: h.srv.URL + "/b", Secrets: []webhook.Secret{{Value: secretB}}},
	}}
	q := &visibility{}
	var logs bytes.Buffer
	clock := func() time.Time { return now }
	return &deliver.Handler{
		Deliverer: &webhook.Deliverer{Client: webhook.NewClient(true), Store: s, Now: clock, AllowLocal: true},
		Queue:     q,
		QueueURL:  queueURL,
		Backoff:   func(attempt int) time.Duration { return time.Duration(attempt) * 7 * time.Second },
		Log:       slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:       clock,
	}, q, &logs
}

// msg is an SQS record of a delivery of one event, id, to customer, in
// group customer, first tried age ago and received count times.
func msg(id, customer string, age time.Duration, count int) lambdaevents.SQSMessage {
	d := events.Delivery{CustomerID: customer, FirstTry: now.Add(-age).UnixMilli(), Events: []events.Event{{
		ID: id, Type: events.TargetUpdated, TM: outdial.Time{Time: now},
		Data: json.RawMessage(`{"id":"` + id + `","destination":{"type":"tel","target":"` + dataMark + `"}}`),
	}}}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err)
	}
	return lambdaevents.SQSMessage{
		MessageId: "m-" + id, ReceiptHandle: "rh-" + id, Body: string(b),
		Attributes: map[string]string{"MessageGroupId": customer, "ApproximateReceiveCount": strconv.Itoa(count)},
	}
}

func failures(r lambdaevents.SQSEventResponse) []string {
	var ids []string
	for _, f := range r.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	slices.Sort(ids)
	return ids
}

func handle(t *testing.T, h *deliver.Handler, recs ...lambdaevents.SQSMessage) []string {
	t.Helper()
	resp, err := h.Handle(context.Background(), lambdaevents.SQSEvent{Records: recs})
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	return failures(resp)
}

// checkLogs fails if the log carries a secret, a URI's query, or event
// data.
func checkLogs(t *testing.T, logs *bytes.Buffer) {
	t.Helper()
	for _, leak := range []string{secretA, secretB, tokenA, "token=", dataMark, "/a?", "127.0.0.1"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("the log carries %q:\n%s", leak, logs)
		}
	}
}

func TestInOrderPerGroup(t *testing.T) {
	h := newHooks(t)
	handler, q, logs := setup(h)
	got := handle(t, handler,
		msg("a1", custA, 0, 1), msg("b1", custB, 0, 1), msg("a2", custA, 0, 1),
		msg("a3", custA, 0, 1), msg("b2", custB, 0, 1), msg("n1", custNone, 0, 1))
	if len(got) != 0 {
		t.Errorf("failures %v, want none", got)
	}
	if a := h.received("/a"); !slices.Equal(a, []string{"a1", "a2", "a3"}) {
		t.Errorf("customer A's webhook got %v, want a1 a2 a3 in order", a)
	}
	if b := h.received("/b"); !slices.Equal(b, []string{"b1", "b2"}) {
		t.Errorf("customer B's webhook got %v, want b1 b2 in order", b)
	}
	if len(q.calls) != 0 {
		t.Errorf("visibility changed: %v", q.calls)
	}
	if !strings.Contains(logs.String(), "no webhook") {
		t.Errorf("the delivery to a customer without a webhook was not logged as dropped:\n%s", logs)
	}
	checkLogs(t, logs)
}

// TestFailedGroupHeldBack: a group's records go out together (one POST
// here); when it fails, every record of the group is reported, with the
// backoff of the most received one, and none of it is delivered; other
// groups go on.
func TestFailedGroupHeldBack(t *testing.T) {
	h := newHooks(t)
	h.fail["a2"] = true
	handler, q, logs := setup(h)
	got := handle(t, handler,
		msg("a1", custA, 0, 1), msg("a2", custA, time.Minute, 3), msg("b1", custB, 0, 1),
		msg("a3", custA, 0, 1), msg("b2", custB, 0, 1), msg("a4", custA, 0, 2))
	if want := []string{"m-a1", "m-a2", "m-a3", "m-a4"}; !slices.Equal(got, want) {
		t.Errorf("failures %v, want %v", got, want)
	}
	if a := h.received("/a"); len(a) != 0 {
		t.Errorf("customer A's webhook got %v, want nothing (its POST failed)", a)
	}
	if b := h.received("/b"); !slices.Equal(b, []string{"b1", "b2"}) {
		t.Errorf("customer B's webhook got %v, want b1 b2", b)
	}
	if n := h.postCount("/b"); n != 1 {
		t.Errorf("customer B got %d POSTs, want 1 (b1 and b2 together)", n)
	}
	// a2 was received 3 times: Backoff(3) = 21 s, for the whole group,
	// in one request.
	want := map[string]int32{"rh-a1": 21, "rh-a2": 21, "rh-a3": 21, "rh-a4": 21}
	if !maps.Equal(q.calls, want) || q.requests != 1 {
		t.Errorf("visibility %v in %d requests, want %v in 1", q.calls, q.requests, want)
	}
	checkLogs(t, logs)

	// Next time round the receiver is back: the group goes through, in order.
	delete(h.fail, "a2")
	q.calls = nil
	if got := handle(t, handler, msg("a1", custA, 0, 2), msg("a2", custA, time.Minute, 4), msg("a3", custA, 0, 2), msg("a4", custA, 0, 3)); len(got) != 0 {
		t.Errorf("failures %v, want none", got)
	}
	if a := h.received("/a"); !slices.Equal(a, []string{"a1", "a2", "a3", "a4"}) {
		t.Errorf("customer A's webhook got %v, want a1 a2 a3 a4", a)
	}
}

// TestRetryWindowExceeded: a record failing past the retry window is
// dropped (reported as a success, logged), and the rest of its group is
// attempted.
func TestRetryWindowExceeded(t *testing.T) {
	h := newHooks(t)
	h.fail["a1"] = true
	handler, q, logs := setup(h)
	handler.RetryWindow = time.Hour
	got := handle(t, handler, msg("a1", custA, time.Hour+time.Second, 30), msg("a2", custA, 0, 1))
	if len(got) != 0 {
		t.Errorf("failures %v, want none (a1 dropped, a2 delivered)", got)
	}
	if a := h.received("/a"); !slices.Equal(a, []string{"a2"}) {
		t.Errorf("customer A's webhook got %v, want a2", a)
	}
	if len(q.calls) != 0 {
		t.Errorf("visibility changed: %v", q.calls)
	}
	if !strings.Contains(logs.String(), "retry window exceeded") || !strings.Contains(logs.String(), "m-a1") {
		t.Errorf("the drop is not logged:\n%s", logs)
	}
	checkLogs(t, logs)

	// Within the window (the default, 24 h) it is retried.
	handler.RetryWindow = 0
	if got := handle(t, handler, msg("a1", custA, 23*time.Hour, 30)); !slices.Equal(got, []string{"m-a1"}) {
		t.Errorf("failures %v, want m-a1", got)
	}
}

func TestMalformedDropped(t *testing.T) {
	h := newHooks(t)
	handler, _, logs := setup(h)
	bad := lambdaevents.SQSMessage{MessageId: "m-bad", ReceiptHandle: "rh-bad", Body: `{"customer_id":"` + dataMark,
		Attributes: map[string]string{"MessageGroupId": custA}}
	if got := handle(t, handler, bad, msg("a1", custA, 0, 1)); len(got) != 0 {
		t.Errorf("failures %v, want none", got)
	}
	if a := h.received("/a"); !slices.Equal(a, []string{"a1"}) {
		t.Errorf("customer A's webhook got %v, want a1", a)
	}
	if !strings.Contains(logs.String(), "malformed delivery dropped") {
		t.Errorf("not logged:\n%s", logs)
	}
	checkLogs(t, logs)
}

// TestNoGroupAttribute: without MessageGroupId (a stand-in queue), the
// customer id groups the records.
func TestNoGroupAttribute(t *testing.T) {
	h := newHooks(t)
	h.fail["a1"] = true
	handler, _, _ := setup(h)
	a1, a2, b1 := msg("a1", custA, 0, 1), msg("a2", custA, 0, 1), msg("b1", custB, 0, 1)
	for _, m := range []*lambdaevents.SQSMessage{&a1, &a2, &b1} {
		m.Attributes = nil
	}
	if got := handle(t, handler, a1, b1, a2); !slices.Equal(got, []string{"m-a1", "m-a2"}) {
		t.Errorf("failures %v, want m-a1 m-a2", got)
	}
	if b := h.received("/b"); !slices.Equal(b, []string{"b1"}) {
		t.Errorf("customer B's webhook got %v", b)
	}
}

func TestExpBackoff(t *testing.T) {
	b := deliver.ExpBackoff(10*time.Second, time.Hour)
	for _, tc := range []struct {
		attempt int
		nominal time.Duration
	}{{0, 10 * time.Second}, {1, 10 * time.Second}, {2, 20 * time.Second}, {3, 40 * time.Second}, {9, 2560 * time.Second}, {10, time.Hour}, {1000, time.Hour}} {
		for range 50 {
			d := b(tc.attempt)
			if lo, hi := tc.nominal*8/10, tc.nominal*12/10; d < lo || d > hi {
				t.Fatalf("backoff(%d) = %v, want %v ±20%%", tc.attempt, d, tc.nominal)
			}
		}
	}
	if d := deliver.ExpBackoff(0, 0)(5); d != 0 {
		t.Errorf("zero schedule gave %v", d)
	}
	// The default schedule retries for a day in few enough receives for
	// the queue's maxReceiveCount.
	var total time.Duration
	n := 0
	for n = 1; total < deliver.DefaultRetryWindow; n++ {
		total += deliver.DefaultBackoff(n)
	}
	if n > 40 {
		t.Errorf("the default schedule takes %d receives to cover the retry window", n)
	}
}

// TestInvocationEnding: with too little time left for another attempt,
// records are reported without being sent and made visible again at once.
func TestInvocationEnding(t *testing.T) {
	h := newHooks(t)
	handler, q, _ := setup(h)
	ctx, cancel := context.WithTimeout(context.Background(), webhook.Timeout/2)
	defer cancel()
	resp, err := handler.Handle(ctx, lambdaevents.SQSEvent{Records: []lambdaevents.SQSMessage{msg("a1", custA, 0, 1), msg("a2", custA, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); !slices.Equal(got, []string{"m-a1", "m-a2"}) {
		t.Errorf("failures %v, want m-a1 m-a2", got)
	}
	if a := h.received("/a"); len(a) != 0 {
		t.Errorf("sent %v", a)
	}
	if want := map[string]int32{"rh-a1": 0, "rh-a2": 0}; !maps.Equal(q.calls, want) {
		t.Errorf("visibility %v, want %v", q.calls, want)
	}
}
