package dynamo_test

import (
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outdial"
)

// TestPurgeTargets checks that a purge waits for the outdial's delete,
// then removes every target item of the outdial and nothing of another.
func TestPurgeTargets(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	doomed := h.outdial(cust, "doomed")
	kept := h.outdial(cust, "kept")
	if _, err := h.store.AddTargets(h.ctx, cust, doomed.ID, "r1", tels(0, 300)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.AddTargets(h.ctx, cust, kept.ID, "r2", tels(0, 50)); err != nil {
		t.Fatal(err)
	}

	// While the outdial exists the purge refuses and deletes nothing.
	n, err := h.store.PurgeTargets(h.ctx, cust, doomed.ID, false)
	wantCode(t, "PurgeTargets before the delete", err, outdial.ECodeFailedPrecondition)
	if n != 0 {
		t.Errorf("PurgeTargets before the delete deleted %d, want 0", n)
	}
	if got := len(h.listAll(cust, doomed.ID, "", 100)); got != 300 {
		t.Fatalf("after a refused purge: %d targets, want 300", got)
	}

	if _, err := h.store.DeleteOutdial(h.ctx, cust, doomed.ID, nil); err != nil {
		t.Fatal(err)
	}
	if !h.hasPurgeMarker(doomed.ID) {
		t.Fatal("the delete left no purge marker")
	}
	// A purge that names another customer than the delete's is refused.
	n, err = h.store.PurgeTargets(h.ctx, h.customer(), doomed.ID, false)
	wantCode(t, "PurgeTargets naming another customer", err, outdial.ECodeFailedPrecondition)
	if n != 0 || h.rawTargetItems(doomed.ID) != 300 {
		t.Fatalf("a purge naming another customer deleted %d targets (%d left), want 0", n, h.rawTargetItems(doomed.ID))
	}
	n, err = h.store.PurgeTargets(h.ctx, cust, doomed.ID, false)
	if err != nil || n != 300 {
		t.Fatalf("PurgeTargets = %d, %v; want 300, nil", n, err)
	}
	if h.hasPurgeMarker(doomed.ID) {
		t.Error("the purge marker is left after the purge")
	}
	// Running it again, reading every shard (unmarked: a marked one
	// would stop at the missing marker), finds nothing left.
	if n, err := h.store.PurgeTargets(h.ctx, cust, doomed.ID, true); err != nil || n != 0 {
		t.Errorf("second PurgeTargets = %d, %v; want 0, nil", n, err)
	}
	// No target item of the deleted outdial is left (the API cannot see
	// them any more, so look at the items themselves).
	if left := h.rawTargetItems(doomed.ID); left != 0 {
		t.Errorf("%d target items of the deleted outdial are left", left)
	}
	// The other outdial is untouched.
	if got := len(h.listAll(cust, kept.ID, "", 100)); got != 50 {
		t.Errorf("other outdial: %d targets, want 50", got)
	}
	if c := h.counts(cust, kept.ID); c.Idle != 50 {
		t.Errorf("other outdial counts = %+v, want 50 idle", c)
	}
}

// TestPurgeWithoutMarker checks what a purge does when the delete's purge
// marker is not there: a marked message (every message queued since
// deletes leave markers) has nothing to do and reads only the head and the
// marker, however many shards the outdial had; an unmarked one (queued by
// a delete from before markers) reads every shard and deletes what it
// finds.
func TestPurgeWithoutMarker(t *testing.T) {
	h := newStoreHarness(t)
	d := ddbdouble.New(nil, ddbdouble.Config{}) // counters only
	through := dynamo.New(dynamotest.Through(h.client, d), h.table)
	cust := h.customer()

	// An outdial that was never there.
	n, err := through.PurgeTargets(h.ctx, cust, uuid.NewString(), false)
	if err != nil || n != 0 {
		t.Fatalf("PurgeTargets of an unknown outdial = %d, %v; want 0, nil", n, err)
	}
	if got := d.Stats("").Requests; got["GetItem"] != 2 || d.Stats("").Total() != 2 {
		t.Errorf("a marked purge of an unknown outdial made %v; want the head and the marker read (2 GetItems)", got)
	}

	// An outdial deleted as before markers: its marker is removed by hand.
	o := h.outdial(cust, "old")
	if _, err := h.store.AddTargets(h.ctx, cust, o.ID, "r1", tels(0, 40)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.DeleteOutdial(h.ctx, cust, o.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DeleteItem(h.ctx, &dynamodb.DeleteItemInput{TableName: &h.table, Key: purgeMarkerKey(o.ID)}); err != nil {
		t.Fatal(err)
	}
	if n, err := h.store.PurgeTargets(h.ctx, cust, o.ID, false); err != nil || n != 0 || h.rawTargetItems(o.ID) != 40 {
		t.Fatalf("marked PurgeTargets without a marker = %d, %v, %d targets left; want 0, nil, 40", n, err, h.rawTargetItems(o.ID))
	}
	if n, err := h.store.PurgeTargets(h.ctx, cust, o.ID, true); err != nil || n != 40 {
		t.Fatalf("unmarked PurgeTargets = %d, %v; want 40, nil", n, err)
	}
	if left := h.rawTargetItems(o.ID); left != 0 {
		t.Errorf("%d target items left after the unmarked purge", left)
	}
}

func purgeMarkerKey(outdialID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "OUTDIAL#" + outdialID}, "SK": &types.AttributeValueMemberS{Value: "#PURGE"},
	}
}

// hasPurgeMarker reports whether the purge marker of outdialID is stored.
func (h *storeHarness) hasPurgeMarker(outdialID string) bool {
	h.t.Helper()
	res, err := h.client.GetItem(h.ctx, &dynamodb.GetItemInput{TableName: &h.table, Key: purgeMarkerKey(outdialID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Item != nil
}

// TestPurgeOvertakenByItsDelete: the delete lands while the purge is
// reading, right after its first read. The purge must not take a marker
// missing before the delete for "nothing to purge": it refuses, and its
// redelivery deletes every target and the marker. Reading the marker
// before the head fails here.
func TestPurgeOvertakenByItsDelete(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "deleted during its purge")
	if _, err := h.store.AddTargets(h.ctx, cust, o.ID, "r1", tels(0, 25)); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	fired := false
	d := ddbdouble.New(nil, ddbdouble.Config{Served: func(op string, _ []byte) {
		if op == "GetItem" {
			once.Do(func() {
				fired = true
				if _, err := h.store.DeleteOutdial(h.ctx, cust, o.ID, nil); err != nil {
					t.Errorf("delete: %v", err)
				}
			})
		}
	}})
	purger := dynamo.New(dynamotest.Through(h.client, d), h.table)
	n, err := purger.PurgeTargets(h.ctx, cust, o.ID, false)
	if !fired {
		t.Fatal("the purge read nothing")
	}
	if err == nil {
		t.Fatalf("the purge answered done (%d deleted) though the outdial was there at its first read; %d targets left", n, h.rawTargetItems(o.ID))
	}
	wantCode(t, "the purge the delete overtook", err, outdial.ECodeFailedPrecondition)
	if n, err := purger.PurgeTargets(h.ctx, cust, o.ID, false); err != nil || n != 25 {
		t.Fatalf("the redelivered purge = %d, %v; want 25, nil", n, err)
	}
	if left := h.rawTargetItems(o.ID); left != 0 || h.hasPurgeMarker(o.ID) {
		t.Errorf("after the redelivery: %d targets left, marker left %v; want none", left, h.hasPurgeMarker(o.ID))
	}
}
