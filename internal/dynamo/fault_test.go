package dynamo_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/outdial"
)

// fault is what faultDB does to one TransactWriteItems request.
type fault int

const (
	faultNone           fault = iota
	faultThrottle             // ThrottlingException, nothing written
	faultCapacity             // ProvisionedThroughputExceededException, nothing written
	faultConflict             // TransactionCanceledException (TransactionConflict), nothing written
	faultTimeoutAfter         // the write succeeds, the caller sees a timeout
	faultDeadlineAfter        // the write succeeds, the caller sees context.DeadlineExceeded
	faultTimeoutNoWrite       // nothing written, the caller sees a timeout
)

// doubleFaults are the answers of the DynamoDB double for each fault.
var doubleFaults = map[fault]*ddbdouble.Fault{
	faultThrottle:       {Type: "ThrottlingException", Message: "Rate of requests exceeds the allowed throughput."},
	faultCapacity:       {Type: "ProvisionedThroughputExceededException"},
	faultConflict:       {Type: "TransactionCanceledException", Reasons: []string{"TransactionConflict"}},
	faultTimeoutAfter:   {After: true, Err: ddbdouble.ErrTimeout},
	faultDeadlineAfter:  {After: true, Err: fmt.Errorf("send request: %w", context.DeadlineExceeded)},
	faultTimeoutNoWrite: {Err: ddbdouble.ErrTimeout},
}

// faultDB is a DynamoDB double under the store's client that injects, on
// TransactWriteItems, the faults DynamoDB Local cannot produce on demand.
// The client does not retry (dialOptions.noRetries): the store sees every
// fault, as it sees the ones the SDK's retries leave, and a request is a
// call of the store's.
type faultDB struct {
	*ddbdouble.Double

	mu     sync.Mutex
	decide func(n int, in *txRequest) fault // n counts requests from 1 since arm
	n      int
	seen   map[fault]int
	armed  ddbdouble.Stats // the double's counters at arm
}

// txRequest is what the faults look at in a TransactWriteItems request.
type txRequest struct {
	TransactItems []struct {
		Put    *struct{ Item map[string]struct{ S string } }
		Update *struct{ Key map[string]struct{ S string } }
	}
}

func newFaultDB() *faultDB {
	f := &faultDB{}
	f.Double = ddbdouble.New(nil, ddbdouble.Config{NoConflicts: true, Fault: f.fault})
	return f
}

// fault is the double's Config.Fault.
func (f *faultDB) fault(op string, body []byte) *ddbdouble.Fault {
	if op != "TransactWriteItems" {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.decide == nil {
		return nil
	}
	var in txRequest
	_ = json.Unmarshal(body, &in)
	f.n++
	k := f.decide(f.n, &in)
	f.seen[k]++
	return doubleFaults[k]
}

// arm installs decide (nil disarms) and resets the call counters.
func (f *faultDB) arm(decide func(n int, in *txRequest) fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.decide, f.n, f.seen, f.armed = decide, 0, map[fault]int{}, f.Stats("")
}

// stats returns how many calls were made since arm, how many faults of
// kind k were injected, and how many real writes succeeded.
func (f *faultDB) stats(k fault) (calls, injected, writes int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// The transactions the engine applied.
	d := f.Stats("").Sub(f.armed)
	return f.n, f.seen[k], d.TransactionsApplied
}

// newFaultEnv is newDialEnv with a faultDB (disarmed) under the store's
// client.
func newFaultEnv(t *testing.T, opt dialOptions) (*dialEnv, *faultDB) {
	t.Helper()
	f := newFaultDB()
	opt.double, opt.noRetries = f.Double, true
	return newDialEnv(t, opt), f
}

// targetsOf returns the ids of every target a transaction updates.
func targetsOf(in *txRequest) []string {
	var ids []string
	for _, it := range in.TransactItems {
		if it.Update == nil {
			continue
		}
		if sk := it.Update.Key["SK"].S; strings.HasPrefix(sk, "TARGET#") {
			ids = append(ids, strings.TrimPrefix(sk, "TARGET#"))
		}
	}
	return ids
}

// always is a failure count: every call fails.
const always = -1

func TestFaultApplyOutcomeRetryable(t *testing.T) {
	tests := []struct {
		name     string
		fault    fault
		failures int  // calls that fail before the engine is reached
		applied  bool // false: ApplyOutcome gives up
	}{
		{"throttled twice", faultThrottle, 2, true},
		{"over capacity three times", faultCapacity, 3, true},
		{"transaction conflict once", faultConflict, 1, true},
		{"timeout without a write once", faultTimeoutNoWrite, 1, true},
		{"throttled throughout", faultThrottle, always, false},
		{"over capacity throughout", faultCapacity, always, false},
		{"transaction conflict throughout", faultConflict, always, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, f := newFaultEnv(t, dialOptions{})
			id := e.addTel(1, 3)[0]
			c := e.claimOne()
			f.arm(func(n int, _ *txRequest) fault {
				if tc.failures == always || n <= tc.failures {
					return tc.fault
				}
				return faultNone
			})
			// As in Lambda, the batch has a deadline: the store retries
			// inside it and gives up shortly before it.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			eff, err := e.store.ApplyOutcome(ctx, outcomeOf(c, outdial.ResultBusy))
			took := time.Since(start)
			calls, injected, writes := f.stats(tc.fault)
			f.arm(nil)
			t.Logf("%d calls, %d faults injected, %d writes", calls, injected, writes)
			if tc.applied {
				if err != nil || eff != outdial.EffectApplied {
					t.Fatalf("ApplyOutcome: %q, %v; want applied after %d retries", eff, err, tc.failures)
				}
				if calls != tc.failures+1 || writes != 1 {
					t.Errorf("%d calls and %d writes, want %d and 1", calls, writes, tc.failures+1)
				}
				e.wantTarget(id, outdial.StatusIdle, 1, outdial.ResultBusy)
				if got, want := e.counts(), (outdial.Counts{Idle: 1, Retry: 1}); got != want {
					t.Errorf("counts %+v, want %+v", got, want)
				}
				return
			}
			if got := outdial.ErrorCode(err); got != outdial.ECodeUnavailable {
				t.Fatalf("ApplyOutcome: %q, %v; want an error with code %s", eff, err, outdial.ECodeUnavailable)
			}
			if writes != 0 || calls < 3 {
				t.Errorf("%d calls, %d writes; want retries and no write", calls, writes)
			}
			// Backed off: 10 ms doubling to 640 ms fits about a dozen
			// store attempts in 2 s, each up to 3 requests when throttled
			// (10 to 33 calls measured); a loop that sent again at once
			// when the wait no longer fitted made 600 to 1 000.
			if calls > 100 {
				t.Errorf("%d calls in 2 s: the retries spin instead of backing off", calls)
			}
			if took > 2*time.Second {
				t.Errorf("gave up after %s, want before the 2 s deadline", took)
			}
			e.wantTarget(id, outdial.StatusDialing, 0, "")
			if got, want := e.counts(), (outdial.Counts{Dialing: 1}); got != want {
				t.Errorf("counts %+v, want %+v", got, want)
			}
			// The message is redelivered once the engine recovers.
			e.clock.Advance(time.Second)
			if got := e.apply(c, outdial.ResultBusy); got != outdial.EffectApplied {
				t.Errorf("redelivery: %s, want applied", got)
			}
			e.wantTarget(id, outdial.StatusIdle, 1, outdial.ResultBusy)
		})
	}
}

func TestFaultApplyOutcomeAmbiguousTimeout(t *testing.T) {
	tests := []struct {
		name  string
		fault fault
		times int // how many calls time out after the write
	}{
		{"timeout once", faultTimeoutAfter, 1},
		{"deadline once", faultDeadlineAfter, 1},
		{"timeout on every retry", faultTimeoutAfter, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, f := newFaultEnv(t, dialOptions{})
			id := e.addTel(1, 3)[0]
			c := e.claimOne()
			f.arm(func(n int, _ *txRequest) fault {
				if n <= tc.times {
					return tc.fault
				}
				return faultNone
			})
			eff, err := e.store.ApplyOutcome(context.Background(), outcomeOf(c, outdial.ResultNoAnswer))
			calls, _, writes := f.stats(tc.fault)
			f.arm(nil)
			t.Logf("first delivery: %q, %v after %d calls (%d reached the engine)", eff, err, calls, writes)
			if tc.times == 1 && (err != nil || eff != outdial.EffectApplied) {
				t.Errorf("first delivery: %q, %v; want applied (the retry is recognised)", eff, err)
			}
			if tc.times > 1 && err != nil && outdial.ErrorCode(err) != outdial.ECodeUnavailable {
				t.Errorf("first delivery: %q, %v; want an effect, or an error with code %s", eff, err, outdial.ECodeUnavailable)
			}
			// SQS delivers the message again (after a failure, or as an
			// at-least-once duplicate): nothing moves a second time.
			e.clock.Advance(time.Second)
			if got := e.apply(c, outdial.ResultNoAnswer); got != outdial.EffectStale {
				t.Errorf("second delivery: %s, want stale", got)
			}
			got := e.wantTarget(id, outdial.StatusIdle, 1, outdial.ResultNoAnswer)
			if got.NextAttemptAt.IsZero() {
				t.Errorf("no next attempt time")
			}
			if got, want := e.counts(), (outdial.Counts{Idle: 1, Retry: 1}); got != want {
				t.Errorf("counts %+v, want %+v", got, want)
			}
		})
	}
}

func TestFaultAddTargetsAmbiguousTimeout(t *testing.T) {
	const n = 400 // 25 per shard on average: one transaction per shard
	tests := []struct {
		name      string
		timeoutOn map[int]bool // call numbers that time out after the write
	}{
		{"one chunk, once", map[int]bool{3: true}},
		{"one chunk, twice", map[int]bool{3: true, 4: true}},
		{"three chunks", map[int]bool{1: true, 5: true, 9: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, f := newFaultEnv(t, dialOptions{})
			nts := make([]*outdial.NewTarget, n)
			for i := range nts {
				nts[i] = &outdial.NewTarget{Name: fmt.Sprint(i), Destinations: []outdial.TargetDestination{telDest(i, 2)}}
			}
			f.arm(func(n int, _ *txRequest) fault {
				if tc.timeoutOn[n] {
					return faultTimeoutAfter
				}
				return faultNone
			})
			res, err := e.store.AddTargets(context.Background(), e.customer, e.outdial, uuid.NewString(), nts)
			calls, injected, writes := f.stats(faultTimeoutAfter)
			f.arm(nil)
			t.Logf("%d calls, %d timeouts after the write, %d writes", calls, injected, writes)
			if injected == 0 || writes != calls {
				t.Errorf("%d timeouts after %d writes of %d calls; want timeouts, each after its write", injected, writes, calls)
			}
			if err != nil {
				t.Fatalf("AddTargets: %v", err)
			}
			if got := len(res.Created); got != n || len(res.Duplicates) != 0 {
				t.Errorf("AddTargets created %d and found %d duplicates, want %d and 0 (the retried chunk was written by the first try)",
					got, len(res.Duplicates), n)
			}
			if got, want := e.counts(), (outdial.Counts{Idle: n}); got != want {
				t.Errorf("counts %+v, want %+v", got, want)
			}
			if got := len(e.checkInvariants()); got != n {
				t.Errorf("%d targets listed, want %d", got, n)
			}

			// The client retries the import (a new request): nothing new.
			e.clock.Advance(time.Second)
			res, err = e.store.AddTargets(context.Background(), e.customer, e.outdial, uuid.NewString(), nts)
			if err != nil {
				t.Fatalf("retried AddTargets: %v", err)
			}
			if len(res.Created) != 0 || len(res.Duplicates) != n {
				t.Errorf("retried AddTargets created %d, found %d duplicates; want 0 and %d", len(res.Created), len(res.Duplicates), n)
			}
			for _, d := range res.Duplicates {
				if d.Reason != "exists" {
					t.Errorf("duplicate %d: reason %q, want exists", d.Index, d.Reason)
					break
				}
			}
			if got, want := e.counts(), (outdial.Counts{Idle: n}); got != want {
				t.Errorf("counts after the retry %+v, want %+v", got, want)
			}
		})
	}
}

// TestFaultAddTargetsGivesUp checks an import whose chunk times out on
// every try: AddTargets fails, and the client's retry of the whole import
// creates each target exactly once.
func TestFaultAddTargetsGivesUp(t *testing.T) {
	const n = 200
	e, f := newFaultEnv(t, dialOptions{})
	nts := make([]*outdial.NewTarget, n)
	for i := range nts {
		nts[i] = &outdial.NewTarget{Name: fmt.Sprint(i), Destinations: []outdial.TargetDestination{telDest(i, 2)}}
	}
	// Every transaction of the shard of target 0 times out after writing.
	id0, err := e.store.TargetIDOf(context.Background(), e.customer, e.outdial, nts[0].Destinations[0].Address())
	if err != nil {
		t.Fatal(err)
	}
	victim := dynamo.ShardOf(id0)
	f.arm(func(_ int, in *txRequest) fault {
		for _, it := range in.TransactItems {
			if it.Put != nil {
				sk := it.Put.Item["SK"].S
				if sk != "" && dynamo.ShardOf(strings.TrimPrefix(sk, "TARGET#")) == victim {
					return faultTimeoutAfter
				}
				return faultNone
			}
		}
		return faultNone
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := e.store.AddTargets(ctx, e.customer, e.outdial, uuid.NewString(), nts)
	_, injected, _ := f.stats(faultTimeoutAfter)
	f.arm(nil)
	if err == nil {
		t.Fatalf("AddTargets succeeded though shard %d timed out %d times", victim, injected)
	}
	if got := outdial.ErrorCode(err); got != outdial.ECodeUnavailable {
		t.Errorf("AddTargets: %v, want code %s", err, outdial.ECodeUnavailable)
	}
	reported := 0
	if res != nil {
		reported = len(res.Created)
	}
	stored := e.all()
	if got := e.counts(); got.Idle != int64(len(stored)) {
		t.Errorf("counts %+v, want idle %d (the stored targets)", got, len(stored))
	}
	t.Logf("first import: %d created reported, %d stored, %d timeouts", reported, len(stored), injected)

	e.clock.Advance(time.Second)
	res, err = e.store.AddTargets(context.Background(), e.customer, e.outdial, uuid.NewString(), nts)
	if err != nil {
		t.Fatalf("retried AddTargets: %v", err)
	}
	if got, want := len(res.Created)+len(res.Duplicates), n; got != want {
		t.Errorf("retry: %d created + %d duplicates, want %d rows", len(res.Created), len(res.Duplicates), want)
	}
	if got, want := len(res.Duplicates), len(stored); got != want {
		t.Errorf("retry: %d duplicates, want %d (the targets the first import stored)", got, want)
	}
	if got, want := e.counts(), (outdial.Counts{Idle: n}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	if got := len(e.checkInvariants()); got != n {
		t.Errorf("%d targets stored, want %d", got, n)
	}
}

func TestFaultProcessorReportsAffectedMessages(t *testing.T) {
	e, f := newFaultEnv(t, dialOptions{})
	e.addTel(8, 3)
	claims := e.claim(8, time.Minute)
	if len(claims) != 8 {
		t.Fatalf("claimed %d, want 8", len(claims))
	}
	sort.Slice(claims, func(i, j int) bool { return claims[i].Target.ID < claims[j].Target.ID })

	// Targets 1 and 5: throttled on every call; target 3: over capacity
	// throughout; target 6: timeout after its write once (recognised).
	faults := map[string]fault{
		claims[1].Target.ID: faultThrottle,
		claims[3].Target.ID: faultCapacity,
		claims[5].Target.ID: faultThrottle,
		claims[6].Target.ID: faultTimeoutAfter,
	}
	var mu sync.Mutex
	timedOut := map[string]bool{}
	f.arm(func(_ int, in *txRequest) fault {
		// A fault of any target in the request hits the whole request: a
		// batch transaction fails as a whole, then the store applies the
		// outcomes one by one.
		id := ""
		for _, tid := range targetsOf(in) {
			if faults[tid] != faultNone {
				id = tid
				break
			}
		}
		k := faults[id]
		if k == faultTimeoutAfter {
			mu.Lock()
			defer mu.Unlock()
			if timedOut[id] {
				return faultNone
			}
			timedOut[id] = true
		}
		return k
	})
	defer f.arm(nil)

	ev := events.SQSEvent{}
	for i, c := range claims {
		body := fmt.Sprintf(`{"attempt_id":%q,"outdial_id":%q,"target_id":%q,"result":"answered"}`, c.AttemptID, c.Target.OutdialID, c.Target.ID)
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: body})
	}
	var logs bytes.Buffer
	p := &outcome.Processor{Store: e.store, Log: slog.New(slog.NewJSONHandler(&logs, nil)), Concurrency: 4}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	resp, err := p.Handle(ctx, ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	var got []string
	for _, fl := range resp.BatchItemFailures {
		got = append(got, fl.ItemIdentifier)
	}
	sort.Strings(got)
	if want := []string{"m1", "m3", "m5"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("batch item failures %v, want %v", got, want)
	}
	f.arm(nil)
	for i, c := range claims {
		want := outdial.StatusFinished
		tries := 1
		if i == 1 || i == 3 || i == 5 {
			want, tries = outdial.StatusDialing, 0
		}
		got := e.target(c.Target.ID)
		if got.Status != want || got.TryCountCurrent != tries {
			t.Errorf("target %d: %s with %d tries, want %s with %d", i, got.Status, got.TryCountCurrent, want, tries)
		}
	}
	if got, want := e.counts(), (outdial.Counts{Finished: 5, Dialing: 3}); got != want {
		t.Errorf("counts %+v, want %+v", got, want)
	}
	for _, c := range claims {
		if strings.Contains(logs.String(), c.Destination.Target) {
			t.Errorf("log holds destination %s", c.Destination.Target)
		}
	}

	// SQS redelivers the whole batch once the engine recovers: the failed
	// three apply, the rest are stale, nothing fails.
	resp, err = p.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("redelivery: failures %v, error %v; want none", resp.BatchItemFailures, err)
	}
	if got, want := e.counts(), (outdial.Counts{Finished: 8}); got != want {
		t.Errorf("counts after redelivery %+v, want %+v", got, want)
	}
	e.checkInvariants()
}

// TestFaultErrorsAreClassified pins down that the errors the SDK makes of
// the injected faults are the kinds the store retries: a test fault the
// store does not recognise would prove nothing.
func TestFaultErrorsAreClassified(t *testing.T) {
	var next atomic.Pointer[ddbdouble.Fault]
	d := ddbdouble.New(nil, ddbdouble.Config{NoConflicts: true, Fault: func(string, []byte) *ddbdouble.Fault { return next.Load() }})
	client, table := dynamotest.Table(t)
	via := dynamotest.Through(client, d, dynamotest.NoRetries)
	tests := []struct {
		name  string
		fault *ddbdouble.Fault
		want  bool
	}{
		{"throttling", doubleFaults[faultThrottle], true},
		{"capacity", doubleFaults[faultCapacity], true},
		{"conflict", doubleFaults[faultConflict], true},
		{"timeout", doubleFaults[faultTimeoutNoWrite], true},
		{"timeout after the write", doubleFaults[faultTimeoutAfter], true},
		{"deadline after the write", doubleFaults[faultDeadlineAfter], true},
		{"condition", &ddbdouble.Fault{Type: "TransactionCanceledException", Reasons: []string{"ConditionalCheckFailed"}}, false},
		{"validation", &ddbdouble.Fault{Type: "ValidationException"}, false},
	}
	for i, tc := range tests {
		next.Store(tc.fault)
		_, err := via.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{
			Put: &types.Put{TableName: aws.String(table), Item: map[string]types.AttributeValue{
				"PK": &types.AttributeValueMemberS{Value: fmt.Sprint("classified-", i)}, "SK": &types.AttributeValueMemberS{Value: "x"},
			}},
		}}})
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		if got := dynamo.IsRetryable(err); got != tc.want {
			t.Errorf("IsRetryable(%s: %v) = %v, want %v", tc.name, err, got, tc.want)
		}
	}
	if dynamo.IsRetryable(errors.New("boom")) {
		t.Error("IsRetryable(an error of no known kind) = true, want false")
	}
}
