package dynamo_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outdial"
)

// TestConcurrentClaimersKeepWindowsAndSuppressions runs eight claimers
// (eight stores: eight Lambda environments) at once on one outdial
// through the DynamoDB double, whose locks turn overlapping transactions
// and writes into TransactionConflict as DynamoDB does: targets whose
// window is closed are deferred, never handed out; suppressed numbers are
// failed, never handed out; every open target is handed out exactly once
// and the counts stay exact.
func TestConcurrentClaimersKeepWindowsAndSuppressions(t *testing.T) {
	base, table := dynamotest.Table(t)
	d := ddbdouble.New(nil, ddbdouble.DefaultConfig())
	client := dynamodb.New(base.Options(), func(o *dynamodb.Options) { o.HTTPClient = d.Client() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	clock := dynamotest.NewClock(mondayNoonUTC) // 07:00 New York, 12:00 London
	store := func() *dynamo.Store { return dynamo.New(client, table).WithClock(clock.Now) }

	cust := uuid.NewString()
	id, _ := uuid.NewV7()
	o := &outdial.Outdial{ID: id.String(), CustomerID: cust, Name: "concurrent", RetryPolicy: outdial.DefaultRetryPolicy(),
		CallingWindow: nineToEightNY(), TMCreate: outdial.Time{Time: clock.Now()}, TMUpdate: outdial.Time{Time: clock.Now()}}
	s := store()
	if err := s.CreateOutdial(ctx, o); err != nil {
		t.Fatal(err)
	}
	const closed, open, suppressed = 150, 150, 30
	var nts []*outdial.NewTarget
	zoneOf := map[string]string{}
	for i := range closed + open {
		zone := "Europe/London"
		if i < closed {
			zone = "America/New_York"
		}
		number := fmt.Sprintf("+1555%07d", i)
		zoneOf[number] = zone
		nts = append(nts, zoned(number, zone))
	}
	if _, err := s.AddTargets(ctx, cust, o.ID, "import", nts); err != nil {
		t.Fatal(err)
	}
	var sup []string
	isSuppressed := map[string]bool{}
	for i := closed; i < closed+suppressed; i++ {
		n := fmt.Sprintf("+1555%07d", i)
		sup = append(sup, "tel:"+n)
		isSuppressed[n] = true
	}
	if _, _, err := s.AddSuppressions(ctx, cust, sup); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	handed := map[string]int{}
	g, gctx := errgroup.WithContext(ctx)
	for w := range 8 {
		st := store()
		g.Go(func() error {
			for empty := 0; empty < 2; {
				claims, err := st.ClaimTargets(gctx, cust, o.ID, 20, time.Minute)
				if err != nil {
					return fmt.Errorf("claimer %d: %w", w, err)
				}
				if len(claims) == 0 {
					empty++
					continue
				}
				mu.Lock()
				for _, c := range claims {
					handed[c.Destination.Target]++
				}
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for number, n := range handed {
		switch {
		case n > 1:
			t.Errorf("%s handed out %d times", number, n)
		case zoneOf[number] != "Europe/London":
			t.Errorf("%s handed out at 07:00 in its zone %s", number, zoneOf[number])
		case isSuppressed[number]:
			t.Errorf("suppressed %s handed out", number)
		}
	}
	if len(handed) != open-suppressed {
		t.Errorf("%d targets handed out, want %d", len(handed), open-suppressed)
	}
	got, err := s.GetOutdial(ctx, cust, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Counts; c.Idle != closed || c.Dialing != open-suppressed || c.Failed != suppressed {
		t.Errorf("counts %+v, want %d idle, %d dialing, %d failed", c, closed, open-suppressed, suppressed)
	}
	waiting := 0
	for cursor := ""; ; {
		list, next, err := s.ListTargets(ctx, cust, o.ID, outdial.TargetFilter{Reason: outdial.ReasonOutsideWindow}, outdial.Page{Size: 100, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		waiting += len(list)
		if next == "" {
			break
		}
		cursor = next
	}
	if waiting != closed {
		t.Errorf("%d targets wait for their window, want %d", waiting, closed)
	}
	st := d.Stats("")
	t.Logf("double: %d transactions, %d transaction conflicts, %d write conflicts, %d condition failures, %d throttled",
		st.Transactions, st.TransactionConflicts, st.WriteConflicts, st.ConditionFailures, st.Throttled)
}
