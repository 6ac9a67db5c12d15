package dynamo_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outdial"
)

// propChecks is how many random histories TestDialingStateMachine runs
// unless -rapid.checks or RAPID_CHECKS says otherwise; each one is a fresh
// outdial driven through up to propMaxSteps steps against DynamoDB Local.
const (
	propChecks   = 30
	propMaxSteps = 12
)

// propDest is the model of one destination.
type propDest struct {
	cur, max int
	exh      bool
}

// propTarget is the model of one target, written from the README's state
// machine without the store's AttemptPlan.
type propTarget struct {
	id      string
	dests   []propDest
	destIdx int
	status  outdial.Status
	tryCur  int
	last    outdial.Result
	due     int64  // ms, while idle
	attempt string // the current attempt, while dialing
	lease   int64  // ms, while dialing
	expired string // the attempt the last sweep expired, until the next claim
	expDest int    // its destination
}

// tryMax is the sum of the destinations' tries.
func (t *propTarget) tryMax() int {
	n := 0
	for _, d := range t.dests {
		n += d.max
	}
	return n
}

// nextWithTries returns the first destination after i with tries left, or -1.
func (t *propTarget) nextWithTries(i int) int {
	for j := i + 1; j < len(t.dests); j++ {
		if d := t.dests[j]; !d.exh && d.cur < d.max {
			return j
		}
	}
	return -1
}

// propModel is the expected state of one outdial (the store's lease grace
// is dynamo.DefaultLeaseGrace).
type propModel struct {
	e        *dialEnv
	policy   outdial.RetryPolicy
	targets  map[string]*propTarget
	attempts []propAttempt      // every attempt handed out
	sent     []outdial.Outcome  // every outcome delivered
	prev     map[string]propObs // stored state after the previous step
}

// propAttempt is one attempt handed out by a claim.
type propAttempt struct{ target, attempt string }

// propObs is what the transition check compares between steps.
type propObs struct {
	status outdial.Status
	tries  int
}

// end applies the end of the current attempt with result r at now (ms).
func (m *propModel) end(t *propTarget, r outdial.Result, retryAfter *time.Duration, now int64) {
	d := &t.dests[t.destIdx]
	d.cur++
	t.tryCur++
	t.last, t.attempt, t.lease = r, "", 0
	moveOn := func() {
		if n := t.nextWithTries(t.destIdx); n >= 0 {
			t.status, t.destIdx, t.due = outdial.StatusIdle, n, now
		} else {
			t.status = outdial.StatusFailed
		}
	}
	switch {
	case r == outdial.ResultAnswered:
		t.status = outdial.StatusFinished
	case r == outdial.ResultInvalid:
		d.exh = true
		moveOn()
	case d.cur < d.max:
		delay := m.policy.Delay(r)
		if retryAfter != nil {
			delay = *retryAfter
		}
		t.status, t.due = outdial.StatusIdle, now+delay.Milliseconds()
	default:
		moveOn()
	}
}

// limitRapidChecks sets -rapid.checks to n for this test unless the user
// chose a number.
func limitRapidChecks(t *testing.T, n int) {
	chosen := false
	flag.Visit(func(f *flag.Flag) { chosen = chosen || f.Name == "rapid.checks" })
	if _, env := os.LookupEnv("RAPID_CHECKS"); chosen || env {
		return
	}
	f := flag.Lookup("rapid.checks")
	if f == nil {
		return
	}
	old := f.Value.String()
	if err := f.Value.Set(strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

// TestDialingStateMachine drives random histories of claims (various limits
// and leases), outcomes (every result, with and without retry_after, for
// current and stale attempts), redeliveries and clock moves (lease
// expiries) through the real store, and after every step compares the
// stored targets and counts with a model:
//   - the counts equal those computed from the targets;
//   - try_count_current <= try_count_max, and both are the sums over the
//     destinations;
//   - statuses move only idle -> dialing -> idle/finished/failed, and
//     finished and failed are final;
//   - every target, destination, try count and next-attempt time is what
//     the model says.
func TestDialingStateMachine(t *testing.T) {
	limitRapidChecks(t, propChecks)
	client, table := dynamotest.Table(t)
	base := dynamo.New(client, table)
	start := time.Now()
	// Each history starts where the previous one's clock stopped: the
	// table (and its lease sweep cursor) is shared, and time must not run
	// backwards.
	next := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

	rapid.Check(t, func(rt *rapid.T) {
		delays := []int{0, 30, 90}
		policy := outdial.RetryPolicy{
			BusySeconds:     rapid.SampledFrom(delays).Draw(rt, "busy"),
			NoAnswerSeconds: rapid.SampledFrom(delays).Draw(rt, "no_answer"),
			FailedSeconds:   rapid.SampledFrom(delays).Draw(rt, "failed"),
			ExpiredSeconds:  rapid.SampledFrom([]int{0, 30}).Draw(rt, "expired"),
		}
		clock := dynamotest.NewClock(next)
		defer func() { next = clock.Now().Add(time.Minute) }()
		e := newOutdialEnv(rt, base.WithClock(clock.Now), clock, policy)
		m := &propModel{e: e, policy: policy, targets: map[string]*propTarget{}}

		// The targets: 1..3 destinations with 1..3 tries each.
		n := rapid.IntRange(5, 15).Draw(rt, "targets")
		lists := make([][]outdial.TargetDestination, n)
		for i := range lists {
			for j := range rapid.IntRange(1, 3).Draw(rt, "destinations") {
				lists[i] = append(lists[i], telDest(i*10+j, rapid.IntRange(1, 3).Draw(rt, "tries")))
			}
		}
		for i, id := range e.add(lists...) {
			pt := &propTarget{id: id, status: outdial.StatusIdle, due: clock.Now().UnixMilli()}
			for _, d := range lists[i] {
				pt.dests = append(pt.dests, propDest{max: d.TryCountMax})
			}
			m.targets[id] = pt
		}
		m.check(m.e.checkInvariants(), false)

		steps := rapid.IntRange(3, propMaxSteps).Draw(rt, "steps")
		for range steps {
			actions := []string{"claim", "claim", "advance", "advance", "sweep"}
			if len(m.attempts) > 0 {
				actions = append(actions, "outcome", "outcome", "outcome", "outcome")
			}
			if len(m.sent) > 0 {
				actions = append(actions, "redeliver")
			}
			switch rapid.SampledFrom(actions).Draw(rt, "action") {
			case "claim":
				m.claim(rt)
			case "sweep":
				m.sweep(rt)
			case "advance":
				// Only the clock moves: nothing in the table can change, so
				// the next step's check covers this one.
				clock.Advance(rapid.SampledFrom([]time.Duration{time.Second, 20 * time.Second, 50 * time.Second, 130 * time.Second, 200 * time.Second}).Draw(rt, "advance"))
			case "outcome":
				a := rapid.SampledFrom(m.attempts).Draw(rt, "attempt")
				o := outdial.Outcome{
					AttemptID: a.attempt, OutdialID: e.outdial, TargetID: a.target,
					Result: rapid.SampledFrom([]outdial.Result{outdial.ResultAnswered, outdial.ResultBusy, outdial.ResultNoAnswer, outdial.ResultFailed, outdial.ResultInvalid}).Draw(rt, "result"),
				}
				if s := rapid.SampledFrom([]int{-1, -1, 0, 20, 200}).Draw(rt, "retry_after"); s >= 0 {
					d := time.Duration(s) * time.Second
					o.RetryAfter = &d
				}
				m.deliver(rt, o)
			case "redeliver":
				m.deliver(rt, rapid.SampledFrom(m.sent).Draw(rt, "redelivered"))
			}
		}
	})
	t.Logf("state machine: %v", time.Since(start))
}

// claim runs one ClaimTargets and checks the claims against the model.
func (m *propModel) claim(rt *rapid.T) {
	limit := rapid.IntRange(1, 6).Draw(rt, "limit")
	lease := rapid.SampledFrom([]time.Duration{10 * time.Second, 45 * time.Second, 120 * time.Second}).Draw(rt, "lease")
	now := m.e.clock.Now().UnixMilli()

	claims := m.e.claim(limit, lease)
	stored := m.e.checkInvariants()

	// Claimable: idle and due; the claim takes the oldest due first.
	claimable := map[string]bool{}
	for id, pt := range m.targets {
		if pt.status == outdial.StatusIdle && pt.due <= now {
			claimable[id] = true
		}
	}
	if want := min(limit, len(claimable)); len(claims) != want {
		rt.Errorf("claim(limit %d): %d claims, want %d (%d claimable)", limit, len(claims), want, len(claimable))
	}
	var maxClaimed int64
	for _, c := range claims {
		pt := m.targets[c.Target.ID]
		if pt == nil || !claimable[c.Target.ID] {
			rt.Fatalf("claimed target %s was not claimable (model %+v)", c.Target.ID, pt)
		}
		delete(claimable, c.Target.ID)
		maxClaimed = max(maxClaimed, pt.due)
		dest := pt.destIdx
		if d := pt.dests[dest]; d.exh || d.cur >= d.max {
			dest = pt.nextWithTries(dest)
		}
		if c.DestIdx != dest || c.Destination != m.destAddress(c.Target, dest) {
			rt.Errorf("claim of %s dials destination %d %v, want %d", c.Target.ID, c.DestIdx, c.Destination, dest)
		}
		if c.LeaseExpire.UnixMilli() != now+lease.Milliseconds() {
			rt.Errorf("claim of %s: lease until %v, want now + %v", c.Target.ID, c.LeaseExpire.Time, lease)
		}
		plan, err := outdial.ParseAttemptID(c.AttemptID)
		if err != nil {
			rt.Fatalf("claim attempt id %q: %v", c.AttemptID, err)
		}
		d := pt.dests[dest]
		if want := (outdial.AttemptPlan{Dest: dest, LastTry: d.cur+1 == d.max, Next: pt.nextWithTries(dest)}); plan != want {
			rt.Errorf("claim of %s: plan %+v, want %+v", c.Target.ID, plan, want)
		}
		pt.status, pt.destIdx, pt.attempt, pt.lease, pt.expired = outdial.StatusDialing, dest, c.AttemptID, now+lease.Milliseconds(), ""
		m.attempts = append(m.attempts, propAttempt{target: c.Target.ID, attempt: c.AttemptID})
	}
	// Oldest due first, to within 10 s (within that, the claim's own
	// shard first).
	for id := range claimable {
		if pt := m.targets[id]; pt.due/10000 < maxClaimed/10000 {
			rt.Errorf("target %s (due %d) left idle while a later one (due %d) was claimed", id, pt.due, maxClaimed)
		}
	}
	m.check(stored, true)
}

// sweep runs one lease sweep: every lease whose end plus the grace has
// passed becomes an expired attempt, and no other.
func (m *propModel) sweep(rt *rapid.T) {
	now := m.e.clock.Now()
	rep, err := m.e.store.ExpireLeases(context.Background())
	if err != nil {
		rt.Fatalf("ExpireLeases: %v", err)
	}
	want := 0
	for _, id := range sortedIDs(m.targets) {
		pt := m.targets[id]
		if pt.status != outdial.StatusDialing || pt.lease+dynamo.DefaultLeaseGrace.Milliseconds() > now.UnixMilli() {
			continue
		}
		want++
		pt.expired, pt.expDest = pt.attempt, pt.destIdx
		m.end(pt, outdial.ResultExpired, nil, now.UnixMilli())
	}
	// The table is shared with earlier histories, whose leases a sweep
	// expires too; this outdial's targets are checked one by one below.
	if rep.Expired < want {
		rt.Errorf("sweep expired %d leases, want at least %d", rep.Expired, want)
	}
	m.check(m.e.checkInvariants(), false)
}

// destAddress returns destination i of the claimed target.
func (m *propModel) destAddress(t *outdial.Target, i int) outdial.Address {
	if len(t.Destinations) == 0 {
		return t.Destination
	}
	return t.Destinations[i].Address()
}

// deliver applies o one millisecond later (each SQS delivery happens at
// its own instant; same-instant duplicates are TestApplyOutcomeDuplicateEffect's)
// and checks its effect against the model.
func (m *propModel) deliver(rt *rapid.T, o outdial.Outcome) {
	m.e.clock.Advance(time.Millisecond)
	now := m.e.clock.Now().UnixMilli()
	pt := m.targets[o.TargetID]
	current := pt.status == outdial.StatusDialing && pt.attempt == o.AttemptID
	// An answer to an attempt the sweep expired, while nobody claimed the
	// target since, finishes it without another try.
	late := !current && o.Result == outdial.ResultAnswered && pt.expired == o.AttemptID

	eff, err := m.e.store.ApplyOutcome(context.Background(), o)
	m.sent = append(m.sent, o)
	switch {
	case err != nil:
		rt.Fatalf("ApplyOutcome(%s %s): %v", o.TargetID, o.Result, err)
	case (current || late) && eff != outdial.EffectApplied:
		rt.Errorf("outcome %s of the current (or expired, unclaimed) attempt of %s: %s, want applied", o.Result, o.TargetID, eff)
	case !current && !late && eff != outdial.EffectStale:
		rt.Errorf("outcome %s of a stale attempt of %s (target %s): %s, want stale", o.Result, o.TargetID, pt.status, eff)
	case current:
		m.end(pt, o.Result, o.RetryAfter, now)
	case late:
		pt.status, pt.last, pt.destIdx, pt.expired = outdial.StatusFinished, outdial.ResultAnswered, pt.expDest, ""
	}
	m.check(m.e.checkInvariants(), false)
}

// check compares the stored targets with the model and the previous step.
func (m *propModel) check(stored map[string]*outdial.Target, claimStep bool) {
	rt := m.e.t
	rt.Helper()
	if len(stored) != len(m.targets) {
		rt.Fatalf("%d targets stored, model has %d", len(stored), len(m.targets))
	}
	obs := map[string]propObs{}
	for id, pt := range m.targets {
		st := stored[id]
		if st == nil {
			rt.Fatalf("target %s missing", id)
		}
		obs[id] = propObs{status: st.Status, tries: st.TryCountCurrent}
		if st.Status != pt.status || st.TryCountCurrent != pt.tryCur || st.TryCountMax != pt.tryMax() ||
			st.DestinationIdx != pt.destIdx || st.LastResult != pt.last {
			rt.Fatalf("target %s: stored %s tries %d/%d dest %d last %q; model %s tries %d/%d dest %d last %q",
				id, st.Status, st.TryCountCurrent, st.TryCountMax, st.DestinationIdx, st.LastResult,
				pt.status, pt.tryCur, pt.tryMax(), pt.destIdx, pt.last)
		}
		if pt.status == outdial.StatusIdle && st.NextAttemptAt.UnixMilli() != pt.due {
			rt.Errorf("target %s: next attempt %v, model %v", id, st.NextAttemptAt.Time, time.UnixMilli(pt.due).UTC())
		}
		if len(st.Destinations) > 0 {
			for i, d := range st.Destinations {
				if w := pt.dests[i]; d.TryCountCurrent != w.cur || d.TryCountMax != w.max || d.Exhausted != w.exh {
					rt.Errorf("target %s destination %d: %d/%d exhausted %v; model %d/%d exhausted %v",
						id, i, d.TryCountCurrent, d.TryCountMax, d.Exhausted, w.cur, w.max, w.exh)
				}
			}
		}
		if prev, ok := m.prev[id]; ok {
			if err := legalMove(prev, obs[id], claimStep); err != nil {
				rt.Errorf("target %s: %v", id, err)
			}
		}
	}
	m.prev = obs
}

// legalMove reports whether a target may go from a to b in one step.
func legalMove(a, b propObs, claimStep bool) error {
	switch {
	case a == b:
		return nil
	case a.status == outdial.StatusIdle && b.status == outdial.StatusDialing && b.tries == a.tries && claimStep:
		return nil // claimed
	case a.status == outdial.StatusDialing && b.tries == a.tries+1 &&
		(b.status == outdial.StatusIdle || b.status == outdial.StatusFinished || b.status == outdial.StatusFailed):
		return nil // an outcome, or an expired lease
	case (a.status == outdial.StatusIdle || a.status == outdial.StatusFailed) && b.status == outdial.StatusFinished && b.tries == a.tries && !claimStep:
		return nil // the late answer of an expired attempt
	}
	return fmt.Errorf("illegal move %s (%d tries) -> %s (%d tries)", a.status, a.tries, b.status, b.tries)
}
