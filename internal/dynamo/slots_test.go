package dynamo_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outdial"
)

// Count slots are made by their first writer (docs/design.md "Counts").

// slotItems returns the count slot items of outdialID, read strongly
// consistently from the engine.
func slotItems(t testing.TB, client *dynamodb.Client, table, outdialID string) []map[string]types.AttributeValue {
	t.Helper()
	res, err := client.Query(context.Background(), &dynamodb.QueryInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": &types.AttributeValueMemberS{Value: "OUTDIAL#" + outdialID}, ":sk": &types.AttributeValueMemberS{Value: "#C#"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Items
}

// TestCreateOutdialMakesNoCountSlots: a create is one transaction of the
// head and the list copy; the first import makes one slot, owned by its
// writer, and the counts are right before and after.
func TestCreateOutdialMakesNoCountSlots(t *testing.T) {
	d := ddbdouble.New(nil, ddbdouble.Config{}) // counters only
	e := newDialEnv(t, dialOptions{double: d})  // creates the outdial through the double
	got := d.Stats("")
	if got.Total() != 1 || got.Transactions != 1 || got.WriteUnits != 4 {
		t.Errorf("create: %d requests %v, %.1f write units; want one transaction of two items (4 units)", got.Total(), got.Requests, got.WriteUnits)
	}
	if n := len(slotItems(t, e.client, e.table, e.outdial)); n != 0 {
		t.Errorf("a new outdial has %d count slots, want none", n)
	}
	if c := e.counts(); c != (outdial.Counts{}) {
		t.Errorf("counts of a new outdial %+v, want zero", c)
	}

	// The import reads the head to check the outdial, then makes its slot:
	// a put and the head read again, not a third read before the put
	// (createSlot: the head was read present just now).
	before := d.Stats("")
	e.addTel(30, 2)
	if got := d.Stats("").Sub(before).Requests; got["GetItem"] != 2 || got["PutItem"] != 1 {
		t.Errorf("the first import: %v; want 2 GetItems (the head, then again after the put) and 1 PutItem", got)
	}
	slots := slotItems(t, e.client, e.table, e.outdial)
	if len(slots) != 1 {
		t.Fatalf("%d count slots after one writer's import, want 1", len(slots))
	}
	if _, ok := slots[0]["o"].(*types.AttributeValueMemberS); !ok {
		t.Errorf("the slot made by the import has no owner: %v", slots[0])
	}
	if c := e.counts(); c != (outdial.Counts{Idle: 30}) {
		t.Errorf("counts %+v, want 30 idle", c)
	}
	// The same writer again: its slot, no other made.
	e.add([]outdial.TargetDestination{telDest(100, 1)})
	if n := len(slotItems(t, e.client, e.table, e.outdial)); n != 1 {
		t.Errorf("%d count slots after a second import by the same writer, want 1", n)
	}
}

// TestNoCountSlotOutlivesItsOutdial: once DeleteOutdial has returned, the
// outdial has no slot, and neither a writer that wrote it before (its slot
// remembered as owned) nor one that never did makes one again: their
// writes are refused as for a deleted outdial.
func TestNoCountSlotOutlivesItsOutdial(t *testing.T) {
	e := newDialEnv(t, dialOptions{})
	e.addTel(20, 2)
	claims := e.claim(5, time.Minute)
	if len(claims) != 5 {
		t.Fatalf("claimed %d, want 5", len(claims))
	}
	if n := len(slotItems(t, e.client, e.table, e.outdial)); n != 2 {
		t.Errorf("%d count slots after an import and a claim, want 2 (one for each range)", n)
	}
	if _, err := e.store.DeleteOutdial(context.Background(), e.customer, e.outdial, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(slotItems(t, e.client, e.table, e.outdial)); n != 0 {
		t.Fatalf("%d count slots after the delete, want none", n)
	}
	fresh := dynamo.New(e.client, e.table)
	for _, s := range []struct {
		name  string
		store *dynamo.Store
	}{{"the writer that owned slots", e.store}, {"a new writer", fresh}} {
		_, err := s.store.AddTargets(context.Background(), e.customer, e.outdial, uuid.NewString(),
			[]*outdial.NewTarget{{Destinations: []outdial.TargetDestination{telDest(500, 1)}}})
		if outdial.ErrorCode(err) != outdial.ECodeNotFound {
			t.Errorf("%s: import into the deleted outdial: %v, want not found", s.name, err)
		}
		// Its target is still there (the purge has not run); the outcome
		// finds no slot and makes none.
		_, _ = s.store.ApplyOutcome(context.Background(), outcomeOf(claims[0], outdial.ResultAnswered))
		if n := len(slotItems(t, e.client, e.table, e.outdial)); n != 0 {
			t.Errorf("%s: %d count slots of the deleted outdial, want none", s.name, n)
		}
	}
}

// TestAVanishedCountSlotIsMadeAgain: a writer whose slot is not there
// while its outdial is (deleted by hand here; otherwise a write that picked
// a slot nobody had made) asks the head, takes another slot, making it,
// and its write goes through once.
func TestAVanishedCountSlotIsMadeAgain(t *testing.T) {
	e := newDialEnv(t, dialOptions{})
	e.addTel(10, 2)
	slots := slotItems(t, e.client, e.table, e.outdial)
	if len(slots) != 1 {
		t.Fatalf("%d count slots, want 1", len(slots))
	}
	if _, err := e.client.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{
		TableName: aws.String(e.table), Key: map[string]types.AttributeValue{"PK": slots[0]["PK"], "SK": slots[0]["SK"]},
	}); err != nil {
		t.Fatal(err)
	}
	e.add([]outdial.TargetDestination{telDest(200, 1)}, []outdial.TargetDestination{telDest(201, 1)})
	after := slotItems(t, e.client, e.table, e.outdial)
	if len(after) != 1 {
		t.Fatalf("%d count slots, want 1", len(after))
	}
	// The deleted slot held the first 10; the new one holds the 2.
	if c := e.counts(); c != (outdial.Counts{Idle: 2}) {
		t.Errorf("counts %+v, want the 2 of the second import", c)
	}
}

// TestSlotsMadeWhileTheOutdialIsDeleted runs twelve writers (twelve
// stores, each making its own slot) importing into a new outdial through
// the DynamoDB double, whose locks turn overlapping transactions and
// writes into TransactionConflict as DynamoDB does, while the outdial is
// deleted: every import either went through or was refused as not found,
// and once the writers have stopped and the purge the delete queues has
// run, neither a count slot nor a target is left. (A slot put after the
// delete read the slots is not used: its writer reads the head again.)
func TestSlotsMadeWhileTheOutdialIsDeleted(t *testing.T) {
	h := newStoreHarness(t)
	base, table := h.client, h.table
	d := ddbdouble.New(nil, ddbdouble.DefaultConfig())
	client := dynamotest.Through(base, d)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for round := range 3 {
		cust := h.customer()
		o := h.outdial(cust, "deleted while written")
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		start := make(chan struct{})
		var imported atomic.Int64
		var deleted atomic.Bool
		first := make(chan struct{})
		var once sync.Once
		for w := range 12 {
			s := dynamo.New(client, table)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				// Until the outdial is gone (at most 200 imports).
				for i := range 200 {
					nt := &outdial.NewTarget{Destinations: []outdial.TargetDestination{telDest(round*10000+w*200+i, 1)}}
					late := deleted.Load()
					_, err := s.AddTargets(ctx, cust, o.ID, uuid.NewString(), []*outdial.NewTarget{nt})
					switch code := outdial.ErrorCode(err); {
					case err == nil && late:
						errs <- fmt.Errorf("writer %d: an import begun after the delete returned went through", w)
						return
					case err == nil:
						imported.Add(1)
						once.Do(func() { close(first) })
					case code == outdial.ECodeNotFound:
						return
					case code == outdial.ECodeUnavailable:
						// Busy (conflicts): the client retries; so do we.
					default:
						errs <- fmt.Errorf("writer %d: %w", w, err)
						return
					}
				}
			}()
		}
		close(start)
		// The delete while the writers are at it: after the first import,
		// and later each round (more writers have made their slots).
		<-first
		time.Sleep(time.Duration(round*20) * time.Millisecond)
		var derr error
		for {
			_, derr = dynamo.New(client, table).DeleteOutdial(ctx, cust, o.ID, nil)
			if outdial.ErrorCode(derr) != outdial.ECodeUnavailable {
				break
			}
		}
		if derr != nil {
			t.Fatalf("round %d: delete: %v", round, derr)
		}
		deleted.Store(true)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		left, err := dynamo.New(client, table).PurgeTargets(ctx, cust, o.ID, false)
		if err != nil {
			t.Fatalf("round %d: purge: %v", round, err)
		}
		if n := len(slotItems(t, base, table, o.ID)); n != 0 {
			t.Errorf("round %d: %d count slots after the purge, want none", round, n)
		}
		// Again, reading every shard (unmarked): nothing left.
		if again, err := dynamo.New(client, table).PurgeTargets(ctx, cust, o.ID, true); err != nil || again != 0 {
			t.Errorf("round %d: a second purge deleted %d targets (%v), want none: the first left some", round, again, err)
		}
		t.Logf("round %d: %d imports went through, the purge deleted %d targets", round, imported.Load(), left)
		if int64(left) != imported.Load() {
			t.Errorf("round %d: the purge deleted %d targets, want the %d imported", round, left, imported.Load())
		}
	}
	t.Logf("double: %+v", d.Stats(""))
}

// TestASlotPutAfterTheDeleteIsNotUsed: the outdial is deleted while a
// writer's put of a new slot is on its way (after the writer read the
// head, before DynamoDB serves the put, so after the delete read the
// slots): the writer reads the head again, answers not found and writes
// no target; the purge then leaves nothing.
func TestASlotPutAfterTheDeleteIsNotUsed(t *testing.T) {
	h := newStoreHarness(t)
	base, table, ctx := h.client, h.table, h.ctx
	cust := h.customer()
	o := h.outdial(cust, "deleted under a put")
	var once sync.Once
	fired := false
	d := ddbdouble.New(nil, ddbdouble.Config{Observe: func(op string, body []byte) {
		if op == "PutItem" && strings.Contains(string(body), `"#C#`) {
			once.Do(func() {
				fired = true
				if _, err := dynamo.New(base, table).DeleteOutdial(ctx, cust, o.ID, nil); err != nil {
					t.Errorf("delete: %v", err)
				}
			})
		}
	}})
	writer := dynamo.New(dynamotest.Through(base, d), table)
	_, err := writer.AddTargets(ctx, cust, o.ID, uuid.NewString(), []*outdial.NewTarget{{Destinations: []outdial.TargetDestination{telDest(1, 1)}}})
	if !fired {
		t.Fatal("the writer put no count slot")
	}
	if outdial.ErrorCode(err) != outdial.ECodeNotFound {
		t.Errorf("import: %v, want not found", err)
	}
	if n := len(slotItems(t, base, table, o.ID)); n != 1 {
		t.Errorf("%d count slots before the purge, want the 1 put after the delete", n)
	}
	purged, err := dynamo.New(base, table).PurgeTargets(ctx, cust, o.ID, false)
	if err != nil || purged != 0 {
		t.Errorf("purge: %d targets, %v; want none written", purged, err)
	}
	if n := len(slotItems(t, base, table, o.ID)); n != 0 {
		t.Errorf("%d count slots after the purge, want none", n)
	}
}
