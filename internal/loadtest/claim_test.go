package loadtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outdial"
)

// The load test's campaign with 16 claimers found problems of
// dynamo.Store.ClaimTargets; these tests show each on the store alone.

// claimAPI is a DynamoDB double under the store's client: it counts the
// claim transactions and can make the next ones "time out" after they
// were applied. The client does not retry (dynamotest.NoRetries), so the
// store sees each such answer, and a request is a call of the store's. A
// fault is taken up when the transaction is sent: one the engine refused
// would use it up unseen (these tests' claims are not refused).
type claimAPI struct {
	*ddbdouble.Double
	claimTx     atomic.Int64 // TransactWriteItems that move targets to dialing
	timeoutNext atomic.Int64 // how many more claim transactions report a timeout after succeeding
	// deadlineNext: how many more claim transactions are applied and then
	// held until the caller's context is done, which they then report
	// (a transaction in flight when the function's deadline passes).
	deadlineNext atomic.Int64
}

// isClaim reports whether the TransactWriteItems request body moves
// targets to dialing.
func isClaim(body []byte) bool {
	var in struct {
		TransactItems []struct {
			Update *struct{ UpdateExpression string }
		}
	}
	_ = json.Unmarshal(body, &in)
	for _, it := range in.TransactItems {
		if it.Update != nil && strings.HasPrefix(it.Update.UpdateExpression, "SET #st = :dialing") {
			return true
		}
	}
	return false
}

// fault is the double's Config.Fault.
func (a *claimAPI) fault(op string, body []byte) *ddbdouble.Fault {
	if op != "TransactWriteItems" || !isClaim(body) {
		return nil
	}
	a.claimTx.Add(1)
	if a.deadlineNext.Add(-1) >= 0 {
		return &ddbdouble.Fault{After: true, Hang: true}
	}
	if a.timeoutNext.Add(-1) >= 0 {
		// Applied, but the caller hears a timeout (the answer was lost).
		return &ddbdouble.Fault{After: true, Err: fmt.Errorf("send request: %w", context.DeadlineExceeded)}
	}
	return nil
}

// claimStore returns a store on a fresh table through api, with one
// outdial of n idle targets (retry delays 0) of customer.
func claimStore(t *testing.T, n int) (*dynamo.Store, *claimAPI, string, string) {
	t.Helper()
	client, table := dynamotest.Table(t)
	api := &claimAPI{}
	api.Double = ddbdouble.New(nil, ddbdouble.Config{NoConflicts: true, Fault: api.fault})
	s := dynamo.New(dynamotest.Through(client, api.Double, dynamotest.NoRetries), table)
	ctx := context.Background()
	customer := uuid.NewString()
	od := &outdial.Outdial{ID: uuid.NewString(), CustomerID: customer, Name: "claims", RetryPolicy: outdial.RetryPolicy{}}
	if err := s.CreateOutdial(ctx, od); err != nil {
		t.Fatal(err)
	}
	var nts []*outdial.NewTarget
	for i := range n {
		nts = append(nts, &outdial.NewTarget{Name: fmt.Sprint(i), Destinations: []outdial.TargetDestination{
			{Type: outdial.TypeTel, Target: fmt.Sprintf("+1555%07d", i), TryCountMax: 3},
		}})
	}
	for from := 0; from < n; from += outdial.MaxTargetsPerRequest {
		if _, err := s.AddTargets(ctx, customer, od.ID, "", nts[from:min(n, from+outdial.MaxTargetsPerRequest)]); err != nil {
			t.Fatal(err)
		}
	}
	return s, api, customer, od.ID
}

// TestConcurrentClaimersGetTheirLimit: while far more targets are due than
// the claimers ask for, 16 concurrent claimers together get at least 90 %
// of what they ask for, none comes back empty (a dialer would take that
// for "nothing due" and back off), and races cost few transactions: a
// claim of 25 is one transaction when nobody races it. When every claimer
// raced for the oldest targets (before the claims spread over the shards),
// a claim took up to 9 transactions and, in the load test, p90 10 s (the
// function's timeout).
func TestConcurrentClaimersGetTheirLimit(t *testing.T) {
	const claimers, limit, rounds = 16, 25, 2
	s, api, customer, outdialID := claimStore(t, 2*claimers*limit*rounds)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var (
		mu     sync.Mutex
		short  []string
		total  int
		empty  int
		failed []error
		wg     sync.WaitGroup
	)
	start := time.Now()
	for i := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				claims, err := s.ClaimTargets(ctx, customer, outdialID, limit, 5*time.Minute)
				mu.Lock()
				total += len(claims)
				if err != nil {
					failed = append(failed, err)
				} else if len(claims) != limit {
					short = append(short, fmt.Sprintf("claimer %d round %d: %d", i, r, len(claims)))
					if len(claims) == 0 {
						empty++
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	perClaimed := float64(api.claimTx.Load()) / float64(max(total, 1))
	t.Logf("%d claimers x %d rounds of %d: %d claimed in %v, %d claim transactions (%.2f per claimed target)",
		claimers, rounds, limit, total, time.Since(start).Round(time.Millisecond), api.claimTx.Load(), perClaimed)
	if len(failed) > 0 {
		t.Errorf("%d claims failed, first: %v", len(failed), failed[0])
	}
	// Under this much contention a claim may come back short (it hands
	// out what it won within its rounds; the dialer claims again), but
	// the claimers together must get nearly all they asked for.
	if asked := claimers * rounds * limit; total < asked*9/10 {
		t.Errorf("claimed %d of %d asked while enough were due; short claims: %v", total, asked, short)
	} else if len(short) > 0 {
		t.Logf("%d of %d claims came back short: %v", len(short), claimers*rounds, short)
	}
	if empty > 0 {
		t.Errorf("%d claims came back empty while targets were due: %v", empty, short)
	}
	if got, want := perClaimed, 0.25; got > want {
		t.Errorf("claim transactions per claimed target = %.2f, want <= %.1f", got, want)
	}
}

// TestClaimTimeoutLosesNoTarget: a claim transaction that is applied but
// whose answer is lost (the SDK reports a timeout; in the load test the
// claim function's 10 s deadline did this) must not leave targets dialing
// that no claim answer names: they would wait out the whole lease and then
// lose a try to "expired" without ever being dialed.
func TestClaimTimeoutLosesNoTarget(t *testing.T) {
	s, api, customer, outdialID := claimStore(t, 40)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	api.timeoutNext.Store(1)
	claims, err := s.ClaimTargets(ctx, customer, outdialID, 10, 5*time.Minute)
	if api.claimTx.Load() == 0 {
		t.Fatal("no claim transaction was sent: nothing timed out")
	}
	od, gerr := s.GetOutdial(ctx, customer, outdialID)
	if gerr != nil {
		t.Fatal(gerr)
	}
	t.Logf("claim: %d targets, err %v; outdial counts %+v", len(claims), err, od.Counts)
	if got, want := od.Counts.Dialing, int64(len(claims)); got != want {
		t.Errorf("targets dialing = %d, want %d (the ones the claim returned)", got, want)
	}
}

// TestClaimAtDeadlineLosesNoTarget: a claim whose transaction is applied
// as the request's deadline passes (the claim function's 10 s timeout, in
// the load test with 16 claimers: 9 claims answered 503 and 51 targets
// were left dialing after every outcome was applied) must either name the
// claimed targets in its answer or leave them idle. The store stops
// sending transactions 3 s before the deadline and keeps that time for
// sending again one whose answer was cut off. When the deadline cuts off
// that answer too, nothing in the function's life can find out whether
// the claim went through: the targets stay dialing under a lease nobody
// holds, and must come back with an expired attempt once it runs out.
func TestClaimAtDeadlineLosesNoTarget(t *testing.T) {
	tests := []struct {
		name     string
		lost     int64 // claim transactions applied whose answers are lost to the deadline
		stranded bool  // the claim's targets wait out the lease
	}{
		{"answer lost, resent in time", 1, false},
		{"resent answer lost too", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, api, customer, outdialID := claimStore(t, 40)
			// Long enough that the reads before the transaction finish within
			// the first two thirds even on a loaded machine.
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
			defer cancel()

			const lease = 5 * time.Minute
			api.deadlineNext.Store(tt.lost)
			began := time.Now()
			claims, err := s.ClaimTargets(ctx, customer, outdialID, 10, lease)
			t.Logf("claim took %v", time.Since(began))
			if api.claimTx.Load() < tt.lost {
				t.Fatalf("%d claim transactions sent, want at least %d (each held to the deadline)", api.claimTx.Load(), tt.lost)
			}
			check, done := context.WithTimeout(context.Background(), time.Minute)
			defer done()
			od, gerr := s.GetOutdial(check, customer, outdialID)
			if gerr != nil {
				t.Fatal(gerr)
			}
			t.Logf("claim: %d targets, err %v; outdial counts %+v", len(claims), err, od.Counts)
			if !tt.stranded {
				if got, want := od.Counts.Dialing, int64(len(claims)); got != want {
					t.Errorf("targets dialing = %d after a claim that answered %d targets (err %v)", got, want, err)
				}
				return
			}
			if err == nil || len(claims) != 0 {
				t.Fatalf("claim answered %d targets, err %v; want an error (its answer was lost)", len(claims), err)
			}
			stranded := od.Counts.Dialing
			if stranded == 0 {
				t.Fatalf("no target dialing: the fault did not strand the claim")
			}
			// After the lease and its grace, the lease sweep (another
			// instance: a new store with the clock past them) records the
			// expired attempts, and, with no retry delay, a claim hands the
			// targets out again.
			later := s.WithClock(func() time.Time { return time.Now().Add(lease + s.LeaseGrace() + time.Minute) })
			if _, err := later.ExpireLeases(check); err != nil {
				t.Fatal(err)
			}
			again, err := later.ClaimTargets(check, customer, outdialID, 40, lease)
			if err != nil {
				t.Fatal(err)
			}
			var expired int64
			for _, c := range again {
				if c.Target.LastResult == outdial.ResultExpired && c.Target.TryCountCurrent == 1 {
					expired++
				}
			}
			if expired != stranded || len(again) != 40 {
				t.Errorf("after the lease: %d claimed, %d of them with an expired attempt; want 40 and %d", len(again), expired, stranded)
			}
		})
	}
}
