package deliver_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
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
	want := slices.Concat(ids("r1", 37), ids("r2", 100), ids("r3", 63))
	if a := h.received("/a"); !slices.Equal(a, want) {
		t.Errorf("received %d events out of order or not once each", len(a))
	}
	checkLogs(t, logs)
}

// TestHoldBulkTail: an import's partial last POST, queued less than Hold
// ago, is held (reported, visible again when Hold has passed) and goes out
// with the next stream batch's events; the part of a record already
// delivered is not sent again.
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
// status change, when its newest record was queued Hold ago or more, or
// when holding is off.
func TestHoldOnlyYoungBulk(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []lambdaevents.SQSMessage
		hold time.Duration
	}{
		{"status changes", []lambdaevents.SQSMessage{batchMsg("r1", events.TargetUpdated, 37, 0, 1)}, 0},
		{"bulk and a status change", []lambdaevents.SQSMessage{batchMsg("r1", events.TargetCreated, 30, 0, 1), batchMsg("r2", events.TargetUpdated, 1, 0, 1)}, 0},
		{"queued 5 s ago", []lambdaevents.SQSMessage{batchMsg("r1", events.TargetCreated, 37, 5*time.Second, 2)}, 0},
		{"holding off", []lambdaevents.SQSMessage{batchMsg("r1", events.TargetDeleted, 37, 0, 1)}, -1},
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
	// A young partial bulk tail is held, bulk deletes too.
	h := newHooks(t)
	handler, q, _ := setup(h)
	if got := handle(t, handler, batchMsg("r1", events.TargetDeleted, 37, 4700*time.Millisecond, 1)); !slices.Equal(got, []string{"m-r1"}) {
		t.Errorf("failures %v, want m-r1 held", got)
	}
	if want := map[string]int32{"rh-r1": 1}; !maps.Equal(q.calls, want) {
		t.Errorf("visibility %v, want %v (the rest of the 5 s, at least 1 s)", q.calls, want)
	}
}
