package deliver_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/outdial"
)

// batchMsg is an SQS record of a delivery to customer A of n events of
// type typ, ids id-0 ... id-(n-1), queued age ago, received count times.
func batchMsg(id string, typ events.Type, n int, age time.Duration, count int) lambdaevents.SQSMessage {
	d := events.Delivery{CustomerID: custA, FirstTry: now.Add(-age).UnixMilli()}
	for k := range n {
		eid := fmt.Sprintf("%s-%03d", id, k)
		d.Events = append(d.Events, events.Event{ID: eid, Type: typ, TM: outdial.Time{Time: now}, Data: json.RawMessage(`{"id":"` + eid + `"}`)})
	}
	b, _ := json.Marshal(d)
	return lambdaevents.SQSMessage{MessageId: "m-" + id, ReceiptHandle: "rh-" + id, Body: string(b),
		Attributes: map[string]string{"MessageGroupId": custA, "ApproximateReceiveCount": strconv.Itoa(count)}}
}

// tenOf is a full batch: ten records of n bulk events each, new.
func tenOf(n int) []lambdaevents.SQSMessage {
	var msgs []lambdaevents.SQSMessage
	for k := range 10 {
		msgs = append(msgs, batchMsg(fmt.Sprint("t", k), events.TargetCreated, n, 0, 1))
	}
	return msgs
}

// ids are the event ids of batchMsg(id, _, n, ...).
func ids(id string, n int) []string {
	var out []string
	for k := range n {
		out = append(out, fmt.Sprintf("%s-%03d", id, k))
	}
	return out
}

// TestCoalesce: a group's records are cut afresh into POSTs of 100 events,
// in order: the 37-event tail of one stream batch goes out with the next
// batch's events, not as a POST of its own.
func TestCoalesce(t *testing.T) {
	h := newHooks(t)
	handler, q, logs := setup(h)
	got := handle(t, handler, batchMsg("r1", events.TargetUpdated, 37, 0, 1), batchMsg("r2", events.TargetUpdated, 100, 0, 1),
		batchMsg("r3", events.TargetUpdated, 63, 0, 1))
	if len(got) != 0 || len(q.calls) != 0 {
		t.Errorf("failures %v, visibility %v; want none", got, q.calls)
	}
	if sizes := h.postSizes("/a"); !slices.Equal(sizes, []int{100, 100}) {
		t.Errorf("POSTs of %v events, want 100 100", sizes)
	}
	if n := handler.Deliverer.Store.(*store).reads; n != 1 {
		t.Errorf("the webhook was read %d times, want once for the group's two POSTs", n)
	}
	want := slices.Concat(ids("r1", 37), ids("r2", 100), ids("r3", 63))
	if a := h.received("/a"); !slices.Equal(a, want) {
		t.Errorf("received %d events out of order or not once each", len(a))
	}
	checkLogs(t, logs)
}

// TestHoldBulkTail: an import's partial last POST, on its first receive,
// is held (reported, visible again after Hold) and goes out with the next
// stream batch's events; the part of a record already delivered is not
// sent again.
func TestHoldBulkTail(t *testing.T) {
	h := newHooks(t)
	handler, q, _ := setup(h)
	// 60 + 60 events: a POST of 100, and 20 left of r2, held 5 s.
	got := handle(t, handler, batchMsg("r1", events.TargetCreated, 60, 0, 1), batchMsg("r2", events.TargetCreated, 60, 0, 1))
	if !slices.Equal(got, []string{"m-r2"}) {
		t.Fatalf("failures %v, want m-r2 (held)", got)
	}
	if want := map[string]int32{"rh-r2": 5}; !maps.Equal(q.calls, want) {
		t.Errorf("visibility %v, want %v", q.calls, want)
	}
	if sizes := h.postSizes("/a"); !slices.Equal(sizes, []int{100}) {
		t.Errorf("POSTs of %v events, want 100", sizes)
	}
	// r2 comes back with the next batch's 80: one POST of 100.
	q.calls = nil
	if got := handle(t, handler, batchMsg("r2", events.TargetCreated, 60, time.Second, 2), batchMsg("r3", events.TargetCreated, 80, time.Second, 1)); len(got) != 0 {
		t.Fatalf("failures %v, want none", got)
	}
	if sizes := h.postSizes("/a"); !slices.Equal(sizes, []int{100, 100}) {
		t.Errorf("POSTs of %v events, want 100 100", sizes)
	}
	if a, want := h.received("/a"), slices.Concat(ids("r1", 60), ids("r2", 60), ids("r3", 80)); !slices.Equal(a, want) {
		t.Errorf("received %d events, want %d once each in order", len(a), len(want))
	}
	if len(q.calls) != 0 {
		t.Errorf("visibility %v, want none", q.calls)
	}
}

// TestHoldOnlyYoungBulk: a partial POST is sent at once when it holds a
// status change, when a record in it was received more than twice, or
// when holding is off.
func TestHoldOnlyYoungBulk(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []lambdaevents.SQSMessage
		hold time.Duration
	}{
		{"status changes", []lambdaevents.SQSMessage{batchMsg("r1", events.TargetUpdated, 37, 0, 1)}, 0},
		{"bulk and a status change", []lambdaevents.SQSMessage{batchMsg("r1", events.TargetCreated, 30, 0, 1), batchMsg("r2", events.TargetUpdated, 1, 0, 1)}, 0},
		{"received twice before", []lambdaevents.SQSMessage{batchMsg("r1", events.TargetCreated, 37, 5*time.Second, 3)}, 0},
		{"received twice before, with a new one", []lambdaevents.SQSMessage{batchMsg("r1", events.TargetCreated, 37, 0, 3), batchMsg("r2", events.TargetCreated, 3, 0, 1)}, 0},
		{"holding off", []lambdaevents.SQSMessage{batchMsg("r1", events.TargetDeleted, 37, 0, 1)}, -1},
		{"a full batch that makes one partial POST", tenOf(5), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHooks(t)
			handler, q, _ := setup(h)
			handler.Hold = tc.hold
			if got := handle(t, handler, tc.msgs...); len(got) != 0 || len(q.calls) != 0 {
				t.Errorf("failures %v, visibility %v; want the events sent at once", got, q.calls)
			}
			if n := h.postCount("/a"); n != 1 {
				t.Errorf("%d POSTs, want 1", n)
			}
		})
	}
	// A partial bulk tail on its first receive is held, bulk deletes too,
	// however long it waited in the queue (behind a held one, say).
	h := newHooks(t)
	handler, q, _ := setup(h)
	if got := handle(t, handler, batchMsg("r1", events.TargetDeleted, 37, time.Minute, 1)); !slices.Equal(got, []string{"m-r1"}) {
		t.Errorf("failures %v, want m-r1 held", got)
	}
	if want := map[string]int32{"rh-r1": 5}; !maps.Equal(q.calls, want) {
		t.Errorf("visibility %v, want %v", q.calls, want)
	}
}

// TestHoldBounded: a record back from a hold with nothing new is sent; a
// record is held at most twice; a lone record of a few events is held too
// (an import's last poll may bring a few); the hold is rounded up to whole
// seconds; without the queue to make records visible again nothing is
// held.
func TestHoldBounded(t *testing.T) {
	h := newHooks(t)
	handler, q, _ := setup(h)
	handler.Hold = 2500 * time.Millisecond
	step := func(what string, wantHeld []string, msgs ...lambdaevents.SQSMessage) {
		t.Helper()
		q.calls = nil
		got := handle(t, handler, msgs...)
		if !slices.Equal(got, wantHeld) {
			t.Errorf("%s: failures %v, want %v", what, got, wantHeld)
		}
		for _, id := range wantHeld {
			if v, ok := q.calls["rh-"+strings.TrimPrefix(id, "m-")]; !ok || v != 3 {
				t.Errorf("%s: visibility %v, want 3 s (2.5 s rounded up) for %s", what, q.calls, id)
			}
		}
	}
	step("r1 new", []string{"m-r1"}, batchMsg("r1", events.TargetCreated, 10, 0, 1))
	step("r1 back alone", nil, batchMsg("r1", events.TargetCreated, 10, 3*time.Second, 2))
	step("r2 new", []string{"m-r2"}, batchMsg("r2", events.TargetCreated, 10, 0, 1))
	step("r2 back with r3", []string{"m-r2", "m-r3"}, batchMsg("r2", events.TargetCreated, 10, 3*time.Second, 2), batchMsg("r3", events.TargetCreated, 5, 0, 1))
	step("r2 back again with r3 and r4", nil, batchMsg("r2", events.TargetCreated, 10, 6*time.Second, 3), batchMsg("r3", events.TargetCreated, 5, 3*time.Second, 2),
		batchMsg("r4", events.TargetCreated, 5, 0, 1))
	step("a lone record of a few events", []string{"m-r5"}, batchMsg("r5", events.TargetCreated, 4, 0, 1))
	if sizes := h.postSizes("/a"); !slices.Equal(sizes, []int{10, 20}) {
		t.Errorf("POSTs of %v events, want 10 (r1), 20 (r2 r3 r4)", sizes)
	}
	handler.Queue = nil
	step("no queue", nil, batchMsg("r6", events.TargetCreated, 10, 0, 1))
}

// TestDeferWhenBatchFull: a group that fills the batch (10 records) likely
// has more queued: its partial bulk tail is made visible again at once,
// to come back with them; once.
func TestDeferWhenBatchFull(t *testing.T) {
	h := newHooks(t)
	handler, q, _ := setup(h)
	got := handle(t, handler, tenOf(95)...) // 950 events: 9 POSTs and 50 deferred
	if !slices.Equal(got, []string{"m-t9"}) {
		t.Fatalf("failures %v, want m-t9", got)
	}
	if want := map[string]int32{"rh-t9": 0}; !maps.Equal(q.calls, want) {
		t.Errorf("visibility %v, want %v", q.calls, want)
	}
	if n := h.postCount("/a"); n != 9 {
		t.Errorf("%d POSTs, want 9", n)
	}
	// Back with 9 more, again a full batch: t9 is not deferred again.
	q.calls = nil
	msgs := []lambdaevents.SQSMessage{batchMsg("t9", events.TargetCreated, 95, 0, 2)}
	for k := 10; k < 19; k++ {
		msgs = append(msgs, batchMsg(fmt.Sprint("r", k), events.TargetCreated, 1, 0, 1))
	}
	if got := handle(t, handler, msgs...); len(got) != 0 {
		t.Errorf("failures %v, want none (the tail holds t9, received before)", got)
	}
	if a := h.received("/a"); len(a) != 959 {
		t.Errorf("received %d events, want 959 once each", len(a))
	}
}

// TestSplitRecordRetried: when the second POST fails, the records wholly
// in the first are done, the record split across the two comes back, and
// this instance then sends only its rest; another instance sends it whole.
func TestSplitRecordRetried(t *testing.T) {
	h := newHooks(t)
	h.fail["r2-050"] = true // in the second POST
	handler, q, _ := setup(h)
	got := handle(t, handler, batchMsg("r1", events.TargetUpdated, 60, 0, 1), batchMsg("r2", events.TargetUpdated, 60, 0, 2))
	if !slices.Equal(got, []string{"m-r2"}) {
		t.Fatalf("failures %v, want m-r2 (r1 was wholly in the first POST)", got)
	}
	if want := map[string]int32{"rh-r2": 14}; !maps.Equal(q.calls, want) {
		t.Errorf("visibility %v, want %v (Backoff(2))", q.calls, want)
	}
	delete(h.fail, "r2-050")
	if got := handle(t, handler, batchMsg("r2", events.TargetUpdated, 60, 0, 3)); len(got) != 0 {
		t.Fatalf("failures %v, want none", got)
	}
	if a, want := h.received("/a"), slices.Concat(ids("r1", 60), ids("r2", 60)); !slices.Equal(a, want) {
		t.Errorf("received %d events, want %d once each in order", len(a), len(want))
	}
	// Another instance (a new handler) knows nothing of what was sent.
	other, _, _ := setup(h)
	if got := handle(t, other, batchMsg("r2", events.TargetUpdated, 60, 0, 4)); len(got) != 0 {
		t.Fatalf("failures %v, want none", got)
	}
	if n := len(h.received("/a")); n != 180 {
		t.Errorf("received %d events in all, want 180 (r2 whole again)", n)
	}
}

// TestOversizedEventDropped: an event too large for any delivery is
// dropped (logged); the records around it are done.
func TestOversizedEventDropped(t *testing.T) {
	h := newHooks(t)
	handler, q, logs := setup(h)
	big := batchMsg("big", events.TargetCreated, 1, time.Minute, 1)
	var d events.Delivery
	if err := json.Unmarshal([]byte(big.Body), &d); err != nil {
		t.Fatal(err)
	}
	d.Events[0].Data = json.RawMessage(`{"x":"` + strings.Repeat("y", events.MaxDeliveryBytes) + `"}`)
	b, _ := json.Marshal(d)
	big.Body = string(b)
	got := handle(t, handler, big, batchMsg("r2", events.TargetCreated, 100, time.Minute, 1), batchMsg("r3", events.TargetCreated, 10, 0, 1))
	if !slices.Equal(got, []string{"m-r3"}) {
		t.Errorf("failures %v, want m-r3 only (held); big and r2 are done", got)
	}
	if want := map[string]int32{"rh-r3": 5}; !maps.Equal(q.calls, want) {
		t.Errorf("visibility %v, want %v", q.calls, want)
	}
	if !strings.Contains(logs.String(), "larger than a delivery") {
		t.Errorf("the drop is not logged:\n%s", logs)
	}
}
