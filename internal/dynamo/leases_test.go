package dynamo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/outdial"
)

// sweep runs one lease sweep and returns its report.
func (e *dialEnv) sweep() dynamo.LeaseSweep {
	e.t.Helper()
	rep, err := e.store.ExpireLeases(context.Background())
	if err != nil {
		e.t.Fatalf("ExpireLeases: %v", err)
	}
	return rep
}

func TestLeaseExpiresOnlyAfterItsEndPlusTheGrace(t *testing.T) {
	policy := &outdial.RetryPolicy{BusySeconds: 60, NoAnswerSeconds: 60, FailedSeconds: 60, ExpiredSeconds: 0}
	e := newDialEnv(t, dialOptions{policy: policy})
	if got := e.store.LeaseGrace(); got != dynamo.DefaultLeaseGrace {
		t.Fatalf("grace %s, want the default %s", got, dynamo.DefaultLeaseGrace)
	}
	id := e.addTel(1, 3)[0]
	lost := e.claim(1, 30*time.Second)[0]

	// After the lease, within the grace: still the dialer's.
	e.clock.Advance(30*time.Second + dynamo.DefaultLeaseGrace - time.Second)
	if rep := e.sweep(); rep.Expired != 0 {
		t.Fatalf("a sweep within the grace expired %d leases", rep.Expired)
	}
	e.wantTarget(id, outdial.StatusDialing, 0, "")

	// After the grace: an expired attempt, due again (expired_seconds 0).
	e.clock.Advance(2 * time.Second)
	if rep := e.sweep(); rep.Expired != 1 || rep.Outdials != 1 {
		t.Fatalf("sweep after the grace: %+v, want 1 outdial, 1 expired", rep)
	}
	e.wantTarget(id, outdial.StatusIdle, 1, outdial.ResultExpired)
	if got, want := e.counts(), (outdial.Counts{Idle: 1, Retry: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	again := e.claimOne()
	if again.Target.ID != id || again.AttemptID == lost.AttemptID {
		t.Fatalf("re-claim: target %s attempt %s; want %s with a new attempt", again.Target.ID, again.AttemptID, id)
	}

	// Re-claimed: the lost dialer's late reports change nothing, not even
	// an answer.
	for _, r := range []outdial.Result{outdial.ResultAnswered, outdial.ResultBusy} {
		if got := e.apply(lost, r); got != outdial.EffectStale {
			t.Errorf("late %s of the expired attempt after a re-claim: %s, want stale", r, got)
		}
	}
	e.apply(again, outdial.ResultAnswered)
	e.wantTarget(id, outdial.StatusFinished, 2, outdial.ResultAnswered)
	e.checkInvariants()
}

// TestLateAnswerOfAnExpiredAttemptFinishesTheTarget: a person answered,
// but the outcome came after the lease was expired; nobody claimed the
// target since. The answer is applied, the target finishes without
// another try counted, and it is not dialed again.
func TestLateAnswerOfAnExpiredAttemptFinishesTheTarget(t *testing.T) {
	tests := []struct {
		name       string
		max        int            // try_count_max
		afterSweep outdial.Status // the status the expired attempt leaves
		counts     outdial.Counts // before the late answer
	}{
		{"tries left: idle, then finished", 3, outdial.StatusIdle, outdial.Counts{Idle: 1, Retry: 1}},
		{"last try: failed, then finished", 1, outdial.StatusFailed, outdial.Counts{Failed: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newDialEnv(t, dialOptions{policy: policyOf(300)})
			id := e.addTel(1, tc.max)[0]
			lost := e.claim(1, 10*time.Second)[0]
			e.clock.Advance(10*time.Second + dynamo.DefaultLeaseGrace + time.Second)
			e.sweep()
			e.wantTarget(id, tc.afterSweep, 1, outdial.ResultExpired)
			if got := e.counts(); got != tc.counts {
				t.Fatalf("counts after the sweep %+v, want %+v", got, tc.counts)
			}

			// A late busy is still ignored; a late answer counts.
			if got := e.apply(lost, outdial.ResultBusy); got != outdial.EffectStale {
				t.Errorf("late busy: %s, want stale", got)
			}
			if got := e.apply(lost, outdial.ResultAnswered); got != outdial.EffectApplied {
				t.Fatalf("late answer: %s, want applied", got)
			}
			e.wantTarget(id, outdial.StatusFinished, 1, outdial.ResultAnswered)
			if got, want := e.counts(), (outdial.Counts{Finished: 1}); got != want {
				t.Errorf("counts %+v, want %+v", got, want)
			}
			// Once: the same answer again is stale, and nothing is due.
			if got := e.apply(lost, outdial.ResultAnswered); got != outdial.EffectStale {
				t.Errorf("the late answer again: %s, want stale", got)
			}
			e.clock.Advance(time.Hour)
			if got := e.claim(1, time.Minute); len(got) != 0 {
				t.Errorf("claimed a target whose callee answered")
			}
			e.checkInvariants()
		})
	}
}

// TestLateAnswerInABatch: the late answer works inside a batch, beside
// outcomes applied as usual.
func TestLateAnswerInABatch(t *testing.T) {
	e := newDialEnv(t, dialOptions{policy: policyOf(300)})
	e.addTel(3, 3)
	lost := e.claim(1, 10*time.Second)[0]
	e.clock.Advance(10*time.Second + dynamo.DefaultLeaseGrace + time.Second)
	e.sweep()
	live := e.claim(2, time.Minute)
	for _, c := range live {
		if c.Target.ID == lost.Target.ID {
			t.Fatalf("the expired target was due again before its retry delay")
		}
	}
	res := e.store.ApplyOutcomes(context.Background(), []outdial.Outcome{
		outcomeOf(live[0], outdial.ResultBusy), outcomeOf(lost, outdial.ResultAnswered), outcomeOf(live[1], outdial.ResultAnswered),
	})
	for i, r := range res {
		if r.Err != nil || r.Effect != outdial.EffectApplied {
			t.Errorf("outcome %d: %s, %v; want applied", i, r.Effect, r.Err)
		}
	}
	e.wantTarget(lost.Target.ID, outdial.StatusFinished, 1, outdial.ResultAnswered)
	if got, want := e.counts(), (outdial.Counts{Finished: 2, Idle: 1, Retry: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	e.checkInvariants()
}

// TestExpiredAttemptsUseUpTries: a target whose every lease runs out ends
// failed instead of looping.
func TestExpiredAttemptsUseUpTries(t *testing.T) {
	e := newDialEnv(t, dialOptions{policy: policyOf(0)})
	id := e.addTel(1, 2)[0]
	for i := 0; i < 2; i++ {
		if got := e.claim(1, 10*time.Second); len(got) != 1 {
			t.Fatalf("claim %d: %d targets, want 1", i, len(got))
		}
		e.clock.Advance(10*time.Second + dynamo.DefaultLeaseGrace + time.Second)
		e.sweep()
	}
	if got := e.claim(1, 10*time.Second); len(got) != 0 {
		t.Errorf("claimed a target whose tries are used up")
	}
	e.wantTarget(id, outdial.StatusFailed, 2, outdial.ResultExpired)
	if got, want := e.counts(), (outdial.Counts{Failed: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

// TestExpiredAttemptWaitsTheExpiredDelay checks the policy's
// expired_seconds.
func TestExpiredAttemptWaitsTheExpiredDelay(t *testing.T) {
	policy := &outdial.RetryPolicy{BusySeconds: 1, NoAnswerSeconds: 1, FailedSeconds: 1, ExpiredSeconds: 90}
	e := newDialEnv(t, dialOptions{policy: policy})
	id := e.addTel(1, 3)[0]
	e.claim(1, 10*time.Second)
	e.clock.Advance(10*time.Second + dynamo.DefaultLeaseGrace + time.Millisecond)
	e.sweep()
	if got := e.claim(1, time.Minute); len(got) != 0 {
		t.Fatalf("claimed before the expired retry delay")
	}
	e.wantTarget(id, outdial.StatusIdle, 1, outdial.ResultExpired)
	e.clock.Advance(90 * time.Second)
	if got := e.claimOne(); got.Target.ID != id {
		t.Errorf("claimed %s, want %s", got.Target.ID, id)
	}
}

// TestSweepCostDoesNotGrowWithTargets: the sweep reads the registrations
// and the dialing partitions of the outdials registered, never the idle
// ones; a crashed dialer's many leases are expired 50 to a transaction.
func TestSweepCostDoesNotGrowWithTargets(t *testing.T) {
	tests := []struct {
		targets, claimed int
		wantTx           int
	}{
		{10, 1, 1},
		{2000, 1, 1},
		{2000, 120, 3},
	}
	var queries []int
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d targets, %d leases", tc.targets, tc.claimed), func(t *testing.T) {
			db := newRequestCounter()
			e := newDialEnv(t, dialOptions{double: db.Double})
			e.addTel(tc.targets, 3)
			// A second outdial with idle targets and no leases.
			other := newOutdialEnv(t, e.store, e.clock, outdial.DefaultRetryPolicy())
			other.addTel(50, 3)
			for n := 0; n < tc.claimed; n += 100 {
				e.claim(min(100, tc.claimed-n), 10*time.Second)
			}
			e.clock.Advance(10*time.Second + dynamo.DefaultLeaseGrace + time.Minute)
			before := db.snapshot()
			rep := e.sweep()
			d := db.since(before)
			t.Logf("sweep %+v: %v", rep, d)
			if rep.Expired != tc.claimed || rep.Outdials != 1 {
				t.Errorf("sweep %+v, want %d expired in 1 outdial", rep, tc.claimed)
			}
			if d["Query:idle"] != 0 {
				t.Errorf("the sweep read %d idle partitions", d["Query:idle"])
			}
			if d["Query:dialing"] != dynamo.Shards {
				t.Errorf("the sweep read %d dialing partitions, want %d (one outdial)", d["Query:dialing"], dynamo.Shards)
			}
			if d["TransactWriteItems"] != tc.wantTx {
				t.Errorf("%d transactions, want %d", d["TransactWriteItems"], tc.wantTx)
			}
			queries = append(queries, d["Query"])
			if got, want := e.counts(), (outdial.Counts{Idle: int64(tc.targets), Retry: int64(tc.claimed)}); got != want {
				t.Errorf("counts %+v, want %+v", got, want)
			}

			// Registrations go once their minute has been over for a
			// minute: a sweep two minutes on deletes them, and the next
			// looks at no outdial.
			e.clock.Advance(2 * time.Minute)
			if rep = e.sweep(); rep.Expired != 0 {
				t.Errorf("second sweep %+v, want nothing expired", rep)
			}
			if rep = e.sweep(); rep.Outdials != 0 || rep.Expired != 0 {
				t.Errorf("third sweep %+v, want nothing to do", rep)
			}
		})
	}
	if len(queries) == 3 && queries[0] != queries[1] {
		t.Errorf("sweep queries: %d with 10 targets, %d with 2000; want the same", queries[0], queries[1])
	}
}

// TestClaimsRegisterOncePerMinute: a busy claimer writes one registration
// per outdial and minute, and none for an outdial it does not own.
func TestClaimsRegisterOncePerMinute(t *testing.T) {
	db := newRequestCounter()
	e := newDialEnv(t, dialOptions{double: db.Double})
	e.addTel(20, 3)
	before := db.snapshot()
	for i := 0; i < 5; i++ {
		e.claim(2, time.Minute)
	}
	// The cursor, once, and one registration; and the claim slot the
	// first claim made.
	if got := db.since(before); got["PutItem"]-got["PutItem:slot"] != 2 || got["PutItem:slot"] != 1 {
		t.Errorf("5 claims in one minute wrote %d items, %d of them count slots; want 2 (cursor, registration) and 1 slot", got["PutItem"], got["PutItem:slot"])
	}
	e.clock.Advance(time.Minute)
	before = db.snapshot()
	e.claim(2, time.Minute)
	if got := db.since(before)["PutItem"]; got != 1 {
		t.Errorf("a claim a minute later wrote %d items, want 1", got)
	}

	// Another customer's claim is refused before anything is written.
	before = db.snapshot()
	if _, err := e.store.ClaimTargets(context.Background(), "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d", e.outdial, 1, 2*time.Hour); outdial.ErrorCode(err) != outdial.ECodeNotFound {
		t.Fatalf("another customer's claim: %v, want not found", err)
	}
	if got := db.since(before)["PutItem"]; got != 0 {
		t.Errorf("another customer's claim wrote %d items", got)
	}
}

// TestCountSlotsAreOwnedPerWriter: two stores (two processes) write
// different count slots, and the counts are the sum.
func TestCountSlotsAreOwnedPerWriter(t *testing.T) {
	e := newDialEnv(t, dialOptions{policy: policyOf(0)})
	e.addTel(40, 3)
	other := e.store.WithClock(e.clock.Now)
	var claims []*outdial.Claim
	for i := 0; i < 4; i++ {
		for _, s := range []*dynamo.Store{e.store, other} {
			got, err := s.ClaimTargets(context.Background(), e.customer, e.outdial, 5, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			claims = append(claims, got...)
		}
	}
	if got, want := e.counts(), (outdial.Counts{Idle: 0, Dialing: 40}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	writers := map[string]bool{}
	for _, w := range slotOwners(t, e) {
		writers[w] = true
	}
	if len(writers) != 2 {
		t.Errorf("slot owners %v; want the two stores", writers)
	}
	if len(claims) != 40 {
		t.Errorf("claimed %d, want 40", len(claims))
	}
}

// slotOwners returns the owners of the outdial's count slots, by slot.
func slotOwners(t *testing.T, e *dialEnv) map[string]string {
	t.Helper()
	client, table := e.raw()
	items := slotItems(t, client, table, e.outdial)
	// A slot is made by the writer that takes it first: every one has an
	// owner (recently enough, in a test).
	if len(items) == 0 || len(items) > dynamo.CountSlots {
		t.Errorf("%d count slots, want 1 to %d", len(items), dynamo.CountSlots)
	}
	out := map[string]string{}
	for _, it := range items {
		sk := it["SK"].(*types.AttributeValueMemberS).Value
		if own, ok := it["o"].(*types.AttributeValueMemberS); ok {
			out[sk] = own.Value
		} else {
			t.Errorf("count slot %s has no owner", sk)
		}
	}
	return out
}
