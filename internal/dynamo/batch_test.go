package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/outdial"
)

// TestApplyOutcomesBatch checks that a clean batch costs one request and
// applies every outcome as ApplyOutcome would, and that a batch with stale
// outcomes and two outcomes of one target still applies each exactly once.
func TestApplyOutcomesBatch(t *testing.T) {
	db := newRequestCounter()
	e := newDialEnv(t, dialOptions{policy: policyOf(0), double: db.Double})
	e.addTel(12, 2)
	claims := e.claim(12, time.Minute)
	if len(claims) != 12 {
		t.Fatalf("claimed %d, want 12", len(claims))
	}

	// A clean batch of 8: answered x4, busy x4 (retry, tries left).
	var batch []outdial.Outcome
	for i, c := range claims[:8] {
		r := outdial.ResultAnswered
		if i%2 == 1 {
			r = outdial.ResultBusy
		}
		batch = append(batch, outcomeOf(c, r))
	}
	before := db.count("TransactWriteItems")
	res := e.store.ApplyOutcomes(context.Background(), batch)
	if got := db.count("TransactWriteItems") - before; got != 1 {
		t.Errorf("a clean batch of 8 took %d transactions, want 1", got)
	}
	for i, r := range res {
		if r.Err != nil || r.Effect != outdial.EffectApplied {
			t.Errorf("outcome %d: %v, %v; want applied", i, r.Effect, r.Err)
		}
	}
	if got, want := e.counts(), (outdial.Counts{Finished: 4, Idle: 4, Retry: 4, Dialing: 4}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}

	// A mixed batch: the same 8 again (stale now), the 4 still dialing
	// (one of them twice, with another result), and one for an unknown
	// target.
	mixed := append([]outdial.Outcome{}, batch...)
	for _, c := range claims[8:] {
		mixed = append(mixed, outcomeOf(c, outdial.ResultNoAnswer))
	}
	mixed = append(mixed, outcomeOf(claims[8], outdial.ResultAnswered))
	ghost := outcomeOf(claims[9], outdial.ResultBusy)
	ghost.TargetID = "00000000-0000-4000-8000-000000000000"
	mixed = append(mixed, ghost)
	res = e.store.ApplyOutcomes(context.Background(), mixed)
	want := []outdial.OutcomeEffect{}
	for range batch {
		want = append(want, outdial.EffectStale)
	}
	want = append(want, outdial.EffectApplied, outdial.EffectApplied, outdial.EffectApplied, outdial.EffectApplied,
		outdial.EffectStale, // the second outcome of claims[8]'s attempt
		outdial.EffectStale) // unknown target
	for i, r := range res {
		if r.Err != nil || r.Effect != want[i] {
			t.Errorf("mixed outcome %d: %v, %v; want %v", i, r.Effect, r.Err, want[i])
		}
	}
	for _, c := range claims[8:] {
		e.wantTarget(c.Target.ID, outdial.StatusIdle, 1, outdial.ResultNoAnswer)
	}
	if got, want := e.counts(), (outdial.Counts{Finished: 4, Idle: 8, Retry: 8}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	e.checkInvariants()
}
