package publish

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/outdial/outdial/internal/events"
)

func pendings(n, dataBytes int) []pending {
	out := make([]pending, n)
	for i := range out {
		data, _ := json.Marshal(map[string]string{"data": strings.Repeat("x", dataBytes)})
		out[i] = pending{idx: i, ev: events.Event{ID: fmt.Sprint("e", i), Type: events.TargetCreated, Data: data}}
	}
	return out
}

func checkCut(t *testing.T, in []pending, chunks [][]pending) {
	t.Helper()
	n := 0
	for _, ch := range chunks {
		d := events.Delivery{CustomerID: "c", FirstTry: 1700000000000}
		for _, p := range ch {
			if p.idx != n {
				t.Fatalf("event %d where %d was due: order lost", p.idx, n)
			}
			n++
			d.Events = append(d.Events, p.ev)
		}
		msg, _ := json.Marshal(d)
		if len(ch) == 0 || len(ch) > events.MaxEventsPerDelivery || len(msg) > events.MaxDeliveryBytes {
			t.Errorf("delivery of %d events, %d bytes", len(ch), len(msg))
		}
	}
	if n != len(in) {
		t.Errorf("%d events cut, want %d", n, len(in))
	}
}

func TestCut(t *testing.T) {
	noDrop := func(e pending, size int) { t.Errorf("event %s (%d bytes) dropped", e.ev.ID, size) }
	for _, tc := range []struct {
		n, data, want int
	}{
		{0, 10, 0},
		{1, 10, 1},
		{100, 10, 1},
		{101, 10, 2},
		{10000, 100, 100},
		{100, 5000, 2},  // ~5 KB each: 51 fit in 256 KB
		{3, 120_000, 2}, // two of ~120 KB fit, not three
		{2, 262_000, 2}, // each alone, just under the limit
	} {
		in := pendings(tc.n, tc.data)
		chunks := cut("c", in, 1700000000000, noDrop)
		checkCut(t, in, chunks)
		if len(chunks) != tc.want {
			t.Errorf("%d events of %d bytes: %d deliveries, want %d", tc.n, tc.data, len(chunks), tc.want)
		}
	}
	// An event larger than any delivery is dropped, the rest go.
	in := append(pendings(2, 10), pendings(1, events.MaxDeliveryBytes)...)
	in[2].idx = 2
	var dropped []string
	chunks := cut("c", in, 1700000000000, func(e pending, _ int) { dropped = append(dropped, e.ev.ID) })
	if len(dropped) != 1 || len(chunks) != 1 || len(chunks[0]) != 2 {
		t.Errorf("dropped %v, %d deliveries", dropped, len(chunks))
	}
}
