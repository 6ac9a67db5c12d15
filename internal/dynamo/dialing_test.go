package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outdial"
)

// dialTB is the part of testing.TB (and of *rapid.T) the helpers use.
type dialTB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// dialEnv is one outdial in a fresh table and a store on a hand-moved clock.
type dialEnv struct {
	t        dialTB
	client   *dynamodb.Client // the engine, not through the store's double
	table    string
	store    *dynamo.Store
	clock    *dynamotest.Clock
	customer string
	outdial  string
}

// dialOptions tune newDialEnv.
type dialOptions struct {
	double    *ddbdouble.Double    // the store's client goes through it (counting, faults)
	noRetries bool                 // the store's client does not retry (dynamotest.NoRetries)
	policy    *outdial.RetryPolicy // default: outdial.DefaultRetryPolicy()
	realClock bool                 // use time.Now instead of a hand-moved clock
}

// newDialEnv creates a table, a store and one empty outdial.
func newDialEnv(t testing.TB, opt dialOptions) *dialEnv {
	t.Helper()
	client, table := dynamotest.Table(t)
	db := client
	if opt.double != nil {
		var opts []func(*dynamodb.Options)
		if opt.noRetries {
			opts = append(opts, dynamotest.NoRetries)
		}
		db = dynamotest.Through(client, opt.double, opts...)
	}
	store := dynamo.New(db, table)
	clock := dynamotest.NewClock(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	if !opt.realClock {
		store = store.WithClock(clock.Now)
	}
	policy := outdial.DefaultRetryPolicy()
	if opt.policy != nil {
		policy = *opt.policy
	}
	e := newOutdialEnv(t, store, clock, policy)
	e.client, e.table = client, table
	return e
}

// raw returns the client of the engine (not through the double) and the
// table.
func (e *dialEnv) raw() (*dynamodb.Client, string) { return e.client, e.table }

// newOutdialEnv creates an empty outdial with policy through store.
func newOutdialEnv(t dialTB, store *dynamo.Store, clock *dynamotest.Clock, policy outdial.RetryPolicy) *dialEnv {
	t.Helper()
	e := &dialEnv{t: t, store: store, clock: clock, customer: uuid.NewString()}
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatalf("uuid: %v", err)
	}
	now := clock.Now()
	o := &outdial.Outdial{
		ID: id.String(), CustomerID: e.customer, Name: "dialing test", RetryPolicy: policy,
		TMCreate: outdial.Time{Time: now}, TMUpdate: outdial.Time{Time: now},
	}
	if err := e.store.CreateOutdial(context.Background(), o); err != nil {
		t.Fatalf("CreateOutdial: %v", err)
	}
	e.outdial = o.ID
	return e
}

// telDest returns the n-th test phone number as a destination with max tries.
func telDest(n, max int) outdial.TargetDestination {
	return outdial.TargetDestination{Type: outdial.TypeTel, Target: fmt.Sprintf("+1555%07d", n), TryCountMax: max}
}

// add stores targets with the given destination lists and returns their ids
// in the same order.
func (e *dialEnv) add(dests ...[]outdial.TargetDestination) []string {
	e.t.Helper()
	nts := make([]*outdial.NewTarget, len(dests))
	for i, d := range dests {
		nts[i] = &outdial.NewTarget{Name: fmt.Sprintf("target %d", i), Destinations: d}
	}
	res, err := e.store.AddTargets(context.Background(), e.customer, e.outdial, uuid.NewString(), nts)
	if err != nil {
		e.t.Fatalf("AddTargets: %v", err)
	}
	if got, want := len(res.Created), len(dests); got != want {
		e.t.Fatalf("AddTargets created %d targets, want %d (duplicates %v)", got, want, res.Duplicates)
	}
	ids := make([]string, len(res.Created))
	for i, c := range res.Created {
		ids[i] = c.Target.ID
	}
	return ids
}

// addTel stores n one-destination targets with max tries each.
func (e *dialEnv) addTel(n, max int) []string {
	e.t.Helper()
	dests := make([][]outdial.TargetDestination, n)
	for i := range dests {
		dests[i] = []outdial.TargetDestination{telDest(i, max)}
	}
	return e.add(dests...)
}

// claim claims up to limit targets with lease and fails the test on error.
func (e *dialEnv) claim(limit int, lease time.Duration) []*outdial.Claim {
	e.t.Helper()
	claims, err := e.store.ClaimTargets(context.Background(), e.customer, e.outdial, limit, lease)
	if err != nil {
		e.t.Fatalf("ClaimTargets(limit %d): %v", limit, err)
	}
	if len(claims) > limit {
		e.t.Fatalf("ClaimTargets(limit %d) returned %d claims", limit, len(claims))
	}
	return claims
}

// claimOne claims exactly one target and fails the test otherwise.
func (e *dialEnv) claimOne() *outdial.Claim {
	e.t.Helper()
	claims := e.claim(1, time.Minute)
	if len(claims) != 1 {
		e.t.Fatalf("ClaimTargets(1) returned %d claims, want 1", len(claims))
	}
	return claims[0]
}

// apply applies result r to claim c and fails the test on error.
func (e *dialEnv) apply(c *outdial.Claim, r outdial.Result) outdial.OutcomeEffect {
	e.t.Helper()
	eff, err := e.store.ApplyOutcome(context.Background(), outcomeOf(c, r))
	if err != nil {
		e.t.Fatalf("ApplyOutcome(%s): %v", r, err)
	}
	return eff
}

// outcomeOf is the outcome message a dialer would send for claim c.
func outcomeOf(c *outdial.Claim, r outdial.Result) outdial.Outcome {
	return outdial.Outcome{AttemptID: c.AttemptID, OutdialID: c.Target.OutdialID, TargetID: c.Target.ID, Result: r}
}

// target reads one target.
func (e *dialEnv) target(id string) *outdial.Target {
	e.t.Helper()
	got, err := e.store.GetTarget(context.Background(), e.customer, e.outdial, id)
	if err != nil {
		e.t.Fatalf("GetTarget(%s): %v", id, err)
	}
	return got
}

// counts reads the outdial's stored counts.
func (e *dialEnv) counts() outdial.Counts {
	e.t.Helper()
	o, err := e.store.GetOutdial(context.Background(), e.customer, e.outdial)
	if err != nil {
		e.t.Fatalf("GetOutdial: %v", err)
	}
	if o.TargetCount != o.Counts.Total() {
		e.t.Errorf("target_count %d, want the sum of the counts %d", o.TargetCount, o.Counts.Total())
	}
	return o.Counts
}

// all lists every target of the outdial, by id.
func (e *dialEnv) all() map[string]*outdial.Target {
	e.t.Helper()
	out := map[string]*outdial.Target{}
	page := outdial.Page{Size: 500}
	for {
		list, next, err := e.store.ListTargets(context.Background(), e.customer, e.outdial, outdial.TargetFilter{}, page)
		if err != nil {
			e.t.Fatalf("ListTargets: %v", err)
		}
		for _, t := range list {
			if _, dup := out[t.ID]; dup {
				e.t.Fatalf("ListTargets returned target %s twice", t.ID)
			}
			out[t.ID] = t
		}
		if next == "" {
			return out
		}
		page.Cursor = next
	}
}

// countTargets computes the counts the stored ones must equal.
func countTargets(targets map[string]*outdial.Target) outdial.Counts {
	var c outdial.Counts
	for _, t := range targets {
		switch t.Status {
		case outdial.StatusIdle:
			c.Idle++
			if t.TryCountCurrent > 0 {
				c.Retry++
			}
		case outdial.StatusDialing:
			c.Dialing++
		case outdial.StatusFinished:
			c.Finished++
		case outdial.StatusFailed:
			c.Failed++
		}
	}
	return c
}

// checkInvariants compares the stored counts with the targets and checks
// every target's try counts; it returns the targets.
func (e *dialEnv) checkInvariants() map[string]*outdial.Target {
	e.t.Helper()
	targets := e.all()
	if got, want := e.counts(), countTargets(targets); got != want {
		e.t.Errorf("stored counts %+v, want %+v (computed from the targets)", got, want)
	}
	for id, t := range targets {
		if t.TryCountCurrent > t.TryCountMax {
			e.t.Errorf("target %s: try_count_current %d > try_count_max %d", id, t.TryCountCurrent, t.TryCountMax)
		}
		if len(t.Destinations) > 0 {
			cur, max := 0, 0
			for _, d := range t.Destinations {
				cur += d.TryCountCurrent
				max += d.TryCountMax
				if d.TryCountCurrent > d.TryCountMax {
					e.t.Errorf("target %s destination %s: try_count_current %d > try_count_max %d", id, d.Target, d.TryCountCurrent, d.TryCountMax)
				}
			}
			if cur != t.TryCountCurrent || max != t.TryCountMax {
				e.t.Errorf("target %s: try counts %d/%d, want the destinations' sums %d/%d", id, t.TryCountCurrent, t.TryCountMax, cur, max)
			}
		}
	}
	return targets
}

// wantTarget checks a target's status, try count and last result.
func (e *dialEnv) wantTarget(id string, status outdial.Status, tries int, last outdial.Result) *outdial.Target {
	e.t.Helper()
	got := e.target(id)
	if got.Status != status || got.TryCountCurrent != tries || got.LastResult != last {
		e.t.Errorf("target %s: status %s, try_count_current %d, last_result %q; want %s, %d, %q",
			id, got.Status, got.TryCountCurrent, got.LastResult, status, tries, last)
	}
	return got
}

// policyOf returns a retry policy with every delay set to s seconds.
func policyOf(s int) *outdial.RetryPolicy {
	return &outdial.RetryPolicy{BusySeconds: s, NoAnswerSeconds: s, FailedSeconds: s, ExpiredSeconds: s}
}

func TestApplyOutcomeConcurrentDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name       string
		result     outdial.Result
		wantStatus outdial.Status
		want       outdial.Counts
	}{
		{"busy", outdial.ResultBusy, outdial.StatusIdle, outdial.Counts{Idle: 1, Retry: 1}},
		{"answered", outdial.ResultAnswered, outdial.StatusFinished, outdial.Counts{Finished: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A real clock: 50 deliveries of one message arrive at
			// different moments, as they would from SQS.
			e := newDialEnv(t, dialOptions{realClock: true})
			id := e.addTel(1, 3)[0]
			c := e.claimOne()

			const deliveries = 50
			var (
				wg      sync.WaitGroup
				applied atomic.Int32
				start   = make(chan struct{})
				errs    = make(chan error, deliveries)
			)
			for range deliveries {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					eff, err := e.store.ApplyOutcome(context.Background(), outcomeOf(c, tc.result))
					switch {
					case err != nil:
						errs <- err
					case eff == outdial.EffectApplied:
						applied.Add(1)
					case eff != outdial.EffectStale:
						errs <- fmt.Errorf("effect %q", eff)
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("ApplyOutcome: %v", err)
			}
			if got := applied.Load(); got != 1 {
				t.Errorf("%d of %d deliveries applied, want exactly 1", got, deliveries)
			}
			e.wantTarget(id, tc.wantStatus, 1, tc.result)
			if got := e.counts(); got != tc.want {
				t.Errorf("counts %+v, want %+v", got, tc.want)
			}
			e.checkInvariants()
		})
	}
}

// TestApplyOutcomeDuplicateEffect checks that of concurrent deliveries of
// one outcome, made at the same instant, exactly one reports
// EffectApplied: the others changed nothing and must say so (the processor
// logs the effect).
func TestApplyOutcomeDuplicateEffect(t *testing.T) {
	e := newDialEnv(t, dialOptions{})
	e.addTel(1, 3)
	c := e.claimOne()
	var effects []outdial.OutcomeEffect
	for range 3 {
		effects = append(effects, e.apply(c, outdial.ResultBusy))
	}
	want := []outdial.OutcomeEffect{outdial.EffectApplied, outdial.EffectStale, outdial.EffectStale}
	if fmt.Sprint(effects) != fmt.Sprint(want) {
		t.Errorf("effects of 3 deliveries at one instant: %v, want %v", effects, want)
	}
	if got, want := e.counts(), (outdial.Counts{Idle: 1, Retry: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

func TestApplyOutcomeReplayedSequence(t *testing.T) {
	e := newDialEnv(t, dialOptions{})
	id := e.addTel(1, 3)[0]

	a := e.claimOne()
	if got := e.apply(a, outdial.ResultBusy); got != outdial.EffectApplied {
		t.Fatalf("outcome of attempt A: %s, want applied", got)
	}
	e.clock.Advance(time.Duration(outdial.DefaultRetryPolicy().BusySeconds) * time.Second)
	b := e.claimOne()
	if b.AttemptID == a.AttemptID {
		t.Fatalf("re-claim reused attempt id %s", a.AttemptID)
	}
	// A again while B is in flight: the target is dialing, but not with A.
	if got := e.apply(a, outdial.ResultAnswered); got != outdial.EffectStale {
		t.Errorf("outcome of attempt A during attempt B: %s, want stale", got)
	}
	e.wantTarget(id, outdial.StatusDialing, 1, outdial.ResultBusy)
	if got := e.apply(b, outdial.ResultNoAnswer); got != outdial.EffectApplied {
		t.Fatalf("outcome of attempt B: %s, want applied", got)
	}
	e.clock.Advance(time.Millisecond)
	for _, r := range []outdial.Result{outdial.ResultBusy, outdial.ResultAnswered, outdial.ResultInvalid} {
		if got := e.apply(a, r); got != outdial.EffectStale {
			t.Errorf("replayed outcome %s of attempt A: %s, want stale", r, got)
		}
	}
	if got := e.apply(b, outdial.ResultNoAnswer); got != outdial.EffectStale {
		t.Errorf("replayed outcome of attempt B: %s, want stale", got)
	}
	e.wantTarget(id, outdial.StatusIdle, 2, outdial.ResultNoAnswer)
	if got, want := e.counts(), (outdial.Counts{Idle: 1, Retry: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	e.checkInvariants()
}

func TestApplyOutcomeTryCountMax(t *testing.T) {
	e := newDialEnv(t, dialOptions{policy: policyOf(0)})
	id := e.addTel(1, 3)[0]
	var claims []*outdial.Claim
	for i := 1; i <= 3; i++ {
		c := e.claimOne()
		claims = append(claims, c)
		if got := e.apply(c, outdial.ResultNoAnswer); got != outdial.EffectApplied {
			t.Fatalf("attempt %d: %s, want applied", i, got)
		}
		want := outdial.StatusIdle
		if i == 3 {
			want = outdial.StatusFailed
		}
		e.wantTarget(id, want, i, outdial.ResultNoAnswer)
		e.clock.Advance(time.Millisecond)
	}
	if got := e.claim(10, time.Minute); len(got) != 0 {
		t.Errorf("a failed target was claimed: %+v", got[0].Target)
	}
	for _, c := range claims {
		for _, r := range []outdial.Result{outdial.ResultAnswered, outdial.ResultBusy, outdial.ResultInvalid} {
			if got := e.apply(c, r); got != outdial.EffectStale {
				t.Errorf("outcome %s after failed: %s, want stale", r, got)
			}
		}
	}
	e.wantTarget(id, outdial.StatusFailed, 3, outdial.ResultNoAnswer)
	if got, want := e.counts(), (outdial.Counts{Failed: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	e.checkInvariants()
}

func TestApplyOutcomeResults(t *testing.T) {
	tests := []struct {
		name      string
		result    outdial.Result
		status    outdial.Status
		exhausted bool
		counts    outdial.Counts
	}{
		{"answered finishes", outdial.ResultAnswered, outdial.StatusFinished, false, outdial.Counts{Finished: 1}},
		{"busy retries", outdial.ResultBusy, outdial.StatusIdle, false, outdial.Counts{Idle: 1, Retry: 1}},
		{"no_answer retries", outdial.ResultNoAnswer, outdial.StatusIdle, false, outdial.Counts{Idle: 1, Retry: 1}},
		{"failed retries", outdial.ResultFailed, outdial.StatusIdle, false, outdial.Counts{Idle: 1, Retry: 1}},
		{"invalid exhausts the only destination", outdial.ResultInvalid, outdial.StatusFailed, true, outdial.Counts{Failed: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newDialEnv(t, dialOptions{})
			// Two destinations so that the per-destination state is visible;
			// the second one has a single try.
			id := e.add([]outdial.TargetDestination{telDest(1, 3), telDest(2, 1)})[0]
			c := e.claimOne()
			if c.DestIdx != 0 || c.Destination != telDest(1, 3).Address() {
				t.Fatalf("claim dials destination %d %v, want 0 %v", c.DestIdx, c.Destination, telDest(1, 3).Address())
			}
			e.apply(c, tc.result)
			status := tc.status
			if tc.result == outdial.ResultInvalid {
				status = outdial.StatusIdle // on to the second destination
			}
			got := e.wantTarget(id, status, 1, tc.result)
			if len(got.Destinations) != 2 {
				t.Fatalf("target has %d destinations, want 2", len(got.Destinations))
			}
			if d := got.Destinations[0]; d.TryCountCurrent != 1 || d.Exhausted != tc.exhausted {
				t.Errorf("destination 0: try_count_current %d, exhausted %v; want 1, %v", d.TryCountCurrent, d.Exhausted, tc.exhausted)
			}
			if tc.result == outdial.ResultInvalid {
				// The second destination is due at once.
				c := e.claimOne()
				if c.DestIdx != 1 || c.Destination != telDest(2, 1).Address() {
					t.Errorf("after invalid, claim dials destination %d %v, want 1 %v", c.DestIdx, c.Destination, telDest(2, 1).Address())
				}
				e.apply(c, tc.result)
				e.wantTarget(id, tc.status, 2, tc.result)
			}
			if got := e.counts(); got != tc.counts {
				t.Errorf("counts %+v, want %+v", got, tc.counts)
			}
			e.checkInvariants()
		})
	}
}

func TestApplyOutcomeSingleDestinationInvalid(t *testing.T) {
	e := newDialEnv(t, dialOptions{})
	id := e.addTel(1, 5)[0]
	e.apply(e.claimOne(), outdial.ResultInvalid)
	e.wantTarget(id, outdial.StatusFailed, 1, outdial.ResultInvalid)
	if got, want := e.counts(), (outdial.Counts{Failed: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

func TestMultiDestinationProgress(t *testing.T) {
	e := newDialEnv(t, dialOptions{policy: policyOf(30)})
	dests := []outdial.TargetDestination{telDest(1, 2), telDest(2, 1), telDest(3, 2)}
	id := e.add(dests)[0]

	// busy on 0 until its tries are used, then 1 (one try), then 2.
	steps := []struct {
		dest   int
		result outdial.Result
		status outdial.Status // afterwards
		wait   bool           // the next attempt waits for the retry delay
	}{
		{0, outdial.ResultBusy, outdial.StatusIdle, true},
		{0, outdial.ResultBusy, outdial.StatusIdle, false}, // last try of 0: on to 1 at once
		{1, outdial.ResultNoAnswer, outdial.StatusIdle, false},
		{2, outdial.ResultFailed, outdial.StatusIdle, true},
		{2, outdial.ResultBusy, outdial.StatusFailed, false},
	}
	for i, s := range steps {
		c := e.claimOne()
		if c.DestIdx != s.dest || c.Destination != dests[s.dest].Address() {
			t.Fatalf("step %d: claim dials destination %d %v, want %d %v", i, c.DestIdx, c.Destination, s.dest, dests[s.dest].Address())
		}
		if c.Target.DestinationIdx != s.dest {
			t.Errorf("step %d: claimed target's destination_index %d, want %d", i, c.Target.DestinationIdx, s.dest)
		}
		e.apply(c, s.result)
		got := e.wantTarget(id, s.status, i+1, s.result)
		if got.TryCountCurrent > got.TryCountMax {
			t.Errorf("step %d: try_count_current %d > try_count_max %d", i, got.TryCountCurrent, got.TryCountMax)
		}
		if s.wait {
			if got := e.claim(1, time.Minute); len(got) != 0 {
				t.Errorf("step %d: claimed before the retry delay", i)
			}
			e.clock.Advance(30 * time.Second)
		}
		e.checkInvariants()
	}
	got := e.target(id)
	for i, d := range got.Destinations {
		if d.TryCountCurrent != dests[i].TryCountMax {
			t.Errorf("destination %d: try_count_current %d, want %d", i, d.TryCountCurrent, dests[i].TryCountMax)
		}
	}
	if got.TryCountMax != 5 {
		t.Errorf("try_count_max %d, want 5", got.TryCountMax)
	}
	if c := e.claim(5, time.Minute); len(c) != 0 {
		t.Errorf("a failed target was claimed")
	}
	if got, want := e.counts(), (outdial.Counts{Failed: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

func TestRetryDelays(t *testing.T) {
	policy := &outdial.RetryPolicy{BusySeconds: 60, NoAnswerSeconds: 300, FailedSeconds: 120, ExpiredSeconds: 45}
	secs := func(s int) *time.Duration { d := time.Duration(s) * time.Second; return &d }
	tests := []struct {
		name       string
		result     outdial.Result
		retryAfter *time.Duration
		wait       time.Duration
	}{
		{"busy uses the policy", outdial.ResultBusy, nil, 60 * time.Second},
		{"no_answer uses the policy", outdial.ResultNoAnswer, nil, 300 * time.Second},
		{"failed uses the policy", outdial.ResultFailed, nil, 120 * time.Second},
		{"retry_after shorter than the policy", outdial.ResultNoAnswer, secs(10), 10 * time.Second},
		{"retry_after longer than the policy", outdial.ResultBusy, secs(600), 600 * time.Second},
		{"retry_after zero", outdial.ResultBusy, secs(0), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newDialEnv(t, dialOptions{policy: policy})
			id := e.addTel(1, 3)[0]
			c := e.claimOne()
			o := outcomeOf(c, tc.result)
			o.RetryAfter = tc.retryAfter
			if eff, err := e.store.ApplyOutcome(context.Background(), o); err != nil || eff != outdial.EffectApplied {
				t.Fatalf("ApplyOutcome: %s, %v", eff, err)
			}
			got := e.wantTarget(id, outdial.StatusIdle, 1, tc.result)
			if want := e.clock.Now().Add(tc.wait); !got.NextAttemptAt.Equal(want) {
				t.Errorf("next_attempt_at %v, want %v", got.NextAttemptAt.Time, want)
			}
			if tc.wait > 0 {
				e.clock.Advance(tc.wait - time.Millisecond)
				if got := e.claim(1, time.Minute); len(got) != 0 {
					t.Fatalf("claimed %v before the retry delay", tc.wait-time.Millisecond)
				}
				e.clock.Advance(time.Millisecond)
			}
			if c2 := e.claimOne(); c2.Target.ID != id || c2.Target.TryCountCurrent != 1 {
				t.Errorf("re-claim: target %s with try_count_current %d, want %s with 1", c2.Target.ID, c2.Target.TryCountCurrent, id)
			}
		})
	}
}

// TestRetryPolicyChange checks that a changed policy applies to the
// attempts claimed after the change.
func TestRetryPolicyChange(t *testing.T) {
	e := newDialEnv(t, dialOptions{})
	id := e.addTel(1, 3)[0]
	zero := 0
	if _, err := e.store.UpdateOutdial(context.Background(), e.customer, e.outdial,
		&outdial.OutdialUpdate{RetryPolicy: &outdial.RetryPolicyPatch{BusySeconds: &zero}}); err != nil {
		t.Fatalf("UpdateOutdial: %v", err)
	}
	e.apply(e.claimOne(), outdial.ResultBusy)
	c := e.claimOne()
	if c.Target.ID != id {
		t.Fatalf("claimed %s, want %s", c.Target.ID, id)
	}
	e.apply(c, outdial.ResultBusy)
	e.wantTarget(id, outdial.StatusIdle, 2, outdial.ResultBusy)
}

func TestClaimOldestDueFirst(t *testing.T) {
	e := newDialEnv(t, dialOptions{policy: policyOf(0)})
	ids := e.addTel(5, 3)
	// Retry targets 0..2 one after the other: their next attempts come
	// after those of 3 and 4, which were never dialed.
	first := e.claim(5, time.Minute)
	if len(first) != 5 {
		t.Fatalf("claimed %d, want 5", len(first))
	}
	byID := map[string]*outdial.Claim{}
	for _, c := range first {
		byID[c.Target.ID] = c
	}
	// Due at least 10 s apart: a claim orders by due time to within 10 s
	// (and within that by shard, its own first).
	for _, i := range []int{2, 0, 1} {
		e.clock.Advance(11 * time.Second)
		e.apply(byID[ids[i]], outdial.ResultBusy)
	}
	for _, i := range []int{3, 4} {
		e.clock.Advance(time.Second)
		e.apply(byID[ids[i]], outdial.ResultAnswered)
	}
	var got []string
	for range 3 {
		got = append(got, e.claimOne().Target.ID)
	}
	want := []string{ids[2], ids[0], ids[1]}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("claim order %v, want %v", got, want)
	}
}

func TestClaimConcurrent(t *testing.T) {
	const (
		targets  = 1000
		claimers = 8
	)
	e := newDialEnv(t, dialOptions{realClock: true})
	e.addTel(targets, 3)

	// A backstop only: on a loaded 2-core machine the claims take ~35 s.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		mu       sync.Mutex
		claimed  = map[string]int{}
		attempts = map[string]bool{}
		total    atomic.Int32
		busy     atomic.Int32 // unavailable answers, retried as a dialer would
		calls    atomic.Int32
		wg       sync.WaitGroup
		errs     = make(chan error, claimers)
	)
	for g := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; total.Load() < targets; n++ {
				if ctx.Err() != nil {
					errs <- fmt.Errorf("claimer %d: gave up with %d of %d claimed", g, total.Load(), targets)
					return
				}
				limit := 10 + (g*7+n)%16 // 10..25
				got, err := e.store.ClaimTargets(ctx, e.customer, e.outdial, limit, 10*time.Minute)
				calls.Add(1)
				if outdial.ErrorCode(err) == outdial.ECodeUnavailable {
					busy.Add(1)
					continue
				}
				if err != nil {
					errs <- fmt.Errorf("claimer %d: %w", g, err)
					return
				}
				if len(got) > limit {
					errs <- fmt.Errorf("claimer %d: %d claims for limit %d", g, len(got), limit)
					return
				}
				mu.Lock()
				for _, c := range got {
					claimed[c.Target.ID]++
					if attempts[c.AttemptID] {
						errs <- fmt.Errorf("attempt id %s handed out twice", c.AttemptID)
					}
					attempts[c.AttemptID] = true
				}
				mu.Unlock()
				total.Add(int32(len(got)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d claimers took %d targets in %d calls (%d unavailable answers retried)", claimers, total.Load(), calls.Load(), busy.Load())
	if len(claimed) != targets {
		t.Errorf("%d distinct targets claimed, want %d", len(claimed), targets)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("target %s claimed %d times, want once", id, n)
		}
	}
	if got := e.claim(25, 10*time.Minute); len(got) != 0 {
		t.Errorf("claim after all were taken returned %d targets", len(got))
	}
	if got, want := e.counts(), (outdial.Counts{Dialing: targets}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	e.checkInvariants()
}

func TestClaimUnknownOutdial(t *testing.T) {
	e := newDialEnv(t, dialOptions{})
	for _, tc := range []struct{ name, customer, outdial string }{
		{"no such outdial", e.customer, uuid.NewString()},
		{"another customer's outdial", uuid.NewString(), e.outdial},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.store.ClaimTargets(context.Background(), tc.customer, tc.outdial, 1, time.Minute)
			if got := outdial.ErrorCode(err); got != outdial.ECodeNotFound {
				t.Errorf("ClaimTargets: %v, want code %s", err, outdial.ECodeNotFound)
			}
		})
	}
}

func TestApplyOutcomeUnknownTarget(t *testing.T) {
	e := newDialEnv(t, dialOptions{})
	e.addTel(1, 3)
	c := e.claimOne()
	tests := []struct {
		name string
		o    outdial.Outcome
	}{
		{"unknown target", outdial.Outcome{AttemptID: c.AttemptID, OutdialID: e.outdial, TargetID: uuid.NewString(), Result: outdial.ResultBusy}},
		{"unknown outdial", outdial.Outcome{AttemptID: c.AttemptID, OutdialID: uuid.NewString(), TargetID: c.Target.ID, Result: outdial.ResultBusy}},
		{"attempt id never issued", outdial.Outcome{AttemptID: outdial.NewAttemptID(outdial.AttemptPlan{Dest: 0, Next: -1}), OutdialID: e.outdial, TargetID: c.Target.ID, Result: outdial.ResultAnswered}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eff, err := e.store.ApplyOutcome(context.Background(), tc.o)
			if err != nil || eff != outdial.EffectStale {
				t.Errorf("ApplyOutcome: %q, %v; want stale", eff, err)
			}
		})
	}
	_, err := e.store.ApplyOutcome(context.Background(), outdial.Outcome{AttemptID: uuid.NewString(), OutdialID: e.outdial, TargetID: c.Target.ID, Result: outdial.ResultBusy})
	var oe *outdial.Error
	if !errors.As(err, &oe) || oe.Field != "attempt_id" {
		t.Errorf("ApplyOutcome with a UUIDv4 attempt id: %v, want an attempt_id field error", err)
	}
	e.wantTarget(c.Target.ID, outdial.StatusDialing, 0, "")
	if got, want := e.counts(), (outdial.Counts{Dialing: 1}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
}

// sortedIDs returns the keys of m in order (stable failure messages).
func sortedIDs[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
