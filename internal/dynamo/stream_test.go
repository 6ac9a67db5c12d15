package dynamo_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// streamFixture is a table with a store on it whose clock stands still
// (moved by hand), and raw access to the items: the stream tests decode
// the images DynamoDB really stores.
type streamFixture struct {
	t      *testing.T
	ctx    context.Context
	client *dynamodb.Client
	table  string
	double *ddbdouble.Double // the store's requests go through it
	store  *dynamo.Store
	now    time.Time
	// beforeUpdate, when set, runs before the store's next UpdateItem
	// request is served.
	beforeUpdate atomic.Pointer[func()]
}

func newStreamFixture(t *testing.T) *streamFixture {
	t.Helper()
	client, table := dynamotest.StreamTable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	f := &streamFixture{t: t, ctx: ctx, client: client, table: table, now: time.Now().UTC().Truncate(time.Millisecond)}
	f.double = ddbdouble.New(nil, ddbdouble.Config{NoConflicts: true, Observe: func(op string, _ []byte) {
		if op != "UpdateItem" {
			return
		}
		if fn := f.beforeUpdate.Swap(nil); fn != nil {
			(*fn)()
		}
	}})
	f.store = dynamo.New(dynamotest.Through(client, f.double), table).WithClock(func() time.Time { return f.now })
	return f
}

// gets and updates return how many GetItem and UpdateItem requests the
// store has sent.
func (f *streamFixture) gets() int    { return f.double.Stats("").Requests["GetItem"] }
func (f *streamFixture) updates() int { return f.double.Stats("").Requests["UpdateItem"] }

func (f *streamFixture) createOutdial(customerID string, w *outdial.CallingWindow) *outdial.Outdial {
	f.t.Helper()
	id, _ := uuid.NewV7()
	tm := outdial.Time{Time: f.now}
	o := &outdial.Outdial{
		ID: id.String(), CustomerID: customerID, Name: "spring", Detail: "campaign",
		RetryPolicy: outdial.DefaultRetryPolicy(), CallingWindow: w, TMCreate: tm, TMUpdate: tm,
	}
	if err := f.store.CreateOutdial(f.ctx, o); err != nil {
		f.t.Fatal(err)
	}
	return o
}

func (f *streamFixture) addTargets(customerID, outdialID string, from, to int) []string {
	f.t.Helper()
	var nts []*outdial.NewTarget
	for n := from; n < to; n++ {
		nts = append(nts, &outdial.NewTarget{Name: fmt.Sprint("t", n), Destinations: []outdial.TargetDestination{{Type: outdial.TypeTel, Target: fmt.Sprintf("+1555%07d", n), TryCountMax: 3}}})
	}
	res, err := f.store.AddTargets(f.ctx, customerID, outdialID, uuid.NewString(), nts)
	if err != nil {
		f.t.Fatal(err)
	}
	ids := make([]string, len(res.Created))
	for i, c := range res.Created {
		ids[i] = c.Target.ID
	}
	return ids
}

func (f *streamFixture) get(pk, sk string) map[string]types.AttributeValue {
	f.t.Helper()
	res, err := f.client.GetItem(f.ctx, &dynamodb.GetItemInput{
		TableName: &f.table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk}},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.Item
}

// slot returns a count slot of the outdial, nil if it has none.
func (f *streamFixture) slot(outdialID string) map[string]types.AttributeValue {
	f.t.Helper()
	if slots := slotItems(f.t, f.client, f.table, outdialID); len(slots) > 0 {
		return slots[0]
	}
	return nil
}

func (f *streamFixture) head(outdialID string) map[string]types.AttributeValue {
	return f.get("OUTDIAL#"+outdialID, "#HEAD")
}

func (f *streamFixture) target(outdialID, targetID string) map[string]types.AttributeValue {
	return f.get(fmt.Sprintf("OUTDIAL#%s#%02d", outdialID, dynamo.ShardOf(targetID)), "TARGET#"+targetID)
}

func (f *streamFixture) decode(op string, oldImg, newImg map[string]types.AttributeValue) dynamo.Change {
	f.t.Helper()
	c, err := dynamo.DecodeChange(op, oldImg, newImg, f.now)
	if err != nil {
		f.t.Fatalf("DecodeChange(%s): %v", op, err)
	}
	return c
}

func (f *streamFixture) claimAll(customerID, outdialID string) []*outdial.Claim {
	f.t.Helper()
	claims, err := f.store.ClaimTargets(f.ctx, customerID, outdialID, 100, time.Minute)
	if err != nil {
		f.t.Fatal(err)
	}
	return claims
}

func (f *streamFixture) outcome(outdialID string, c *outdial.Claim, r outdial.Result) {
	f.t.Helper()
	eff, err := f.store.ApplyOutcome(f.ctx, outdial.Outcome{AttemptID: c.AttemptID, OutdialID: outdialID, TargetID: c.Target.ID, Result: r})
	if err != nil || eff != outdial.EffectApplied {
		f.t.Fatalf("ApplyOutcome = %v, %v", eff, err)
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// withoutCounts is o as a stream change shows it: counts are other items.
func withoutCounts(o *outdial.Outdial) *outdial.Outdial {
	c := *o
	c.Counts, c.TargetCount = outdial.Counts{}, 0
	return &c
}

func TestDecodeChangeOutdial(t *testing.T) {
	f := newStreamFixture(t)
	cust := uuid.NewString()
	o := f.createOutdial(cust, nil)
	v1 := f.head(o.ID)

	c := f.decode(dynamo.OpInsert, nil, v1)
	if c.Kind != dynamo.KindOutdial || c.Op != dynamo.OpInsert || c.OutdialID != o.ID || c.CustomerID != cust || c.TargetID != "" || c.Old != nil {
		t.Fatalf("INSERT = %+v", c)
	}
	got, err := f.store.GetOutdial(f.ctx, cust, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := jsonOf(t, c.New), jsonOf(t, withoutCounts(got)); a != b {
		t.Errorf("INSERT New =\n%s\nwant (GetOutdial)\n%s", a, b)
	}

	// Its own field changes.
	f.now = f.now.Add(time.Second)
	name := "autumn"
	if _, err := f.store.UpdateOutdial(f.ctx, cust, o.ID, &outdial.OutdialUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	v2 := f.head(o.ID)
	c = f.decode(dynamo.OpModify, v1, v2)
	if !c.OwnFieldsChanged || c.Old.(*outdial.Outdial).Name != "spring" || c.New.(*outdial.Outdial).Name != "autumn" {
		t.Errorf("MODIFY name: changed %v, old %+v, new %+v", c.OwnFieldsChanged, c.Old, c.New)
	}

	// Internal attributes only: win_min, id_key, the completion marker.
	if _, err := f.client.UpdateItem(f.ctx, &dynamodb.UpdateItemInput{
		TableName: &f.table, Key: map[string]types.AttributeValue{"PK": v2["PK"], "SK": v2["SK"]},
		UpdateExpression: aws.String("SET win_min = :n, id_key = :k, done = :d"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": &types.AttributeValueMemberN{Value: "3"}, ":k": &types.AttributeValueMemberB{Value: []byte("another key")},
			":d": &types.AttributeValueMemberS{Value: "x"},
		},
	}); err != nil {
		t.Fatal(err)
	}
	v3 := f.head(o.ID)
	if c := f.decode(dynamo.OpModify, v2, v3); c.Kind != dynamo.KindOutdial || c.OwnFieldsChanged {
		t.Errorf("MODIFY of internal attributes: kind %q, changed %v", c.Kind, c.OwnFieldsChanged)
	}

	f.addTargets(cust, o.ID, 0, 1) // makes a count slot (below)

	// Archive: its own fields.
	if _, err := f.store.SetArchived(f.ctx, cust, o.ID, true); err != nil {
		t.Fatal(err)
	}
	v4 := f.head(o.ID)
	if c := f.decode(dynamo.OpModify, v3, v4); !c.OwnFieldsChanged || !c.New.(*outdial.Outdial).Archived {
		t.Errorf("MODIFY archive: changed %v, new %+v", c.OwnFieldsChanged, c.New)
	}

	// Items that make no events: the list copy, a count slot (made by the
	// import above).
	for _, item := range []map[string]types.AttributeValue{f.get("CUSTOMER#"+cust, "OUTDIAL#"+o.ID), f.slot(o.ID)} {
		if item == nil {
			t.Fatal("item missing")
		}
		for _, op := range []string{dynamo.OpInsert, dynamo.OpModify, dynamo.OpRemove} {
			if c := f.decode(op, item, item); c.Kind != "" {
				t.Errorf("%s of %v: kind %q, want none", op, item["PK"], c.Kind)
			}
		}
	}

	if _, err := f.store.DeleteOutdial(f.ctx, cust, o.ID, nil); err != nil {
		t.Fatal(err)
	}
	c = f.decode(dynamo.OpRemove, v4, nil)
	if c.Kind != dynamo.KindOutdial || c.New != nil || c.Old.(*outdial.Outdial).ID != o.ID || c.CustomerID != cust {
		t.Errorf("REMOVE = %+v", c)
	}
}

func TestDecodeChangeTarget(t *testing.T) {
	f := newStreamFixture(t)
	cust := uuid.NewString()
	o := f.createOutdial(cust, nil)
	ids := f.addTargets(cust, o.ID, 0, 2)
	tid := ids[0]
	v1 := f.target(o.ID, tid)

	c := f.decode(dynamo.OpInsert, nil, v1)
	if c.Kind != dynamo.KindTarget || c.OutdialID != o.ID || c.TargetID != tid || c.CustomerID != "" {
		t.Fatalf("INSERT = %+v", c)
	}
	want, err := f.store.GetTarget(f.ctx, cust, o.ID, tid)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := jsonOf(t, c.New), jsonOf(t, want); a != b {
		t.Errorf("INSERT New =\n%s\nwant (GetTarget)\n%s", a, b)
	}
	if before, after := c.TargetStatuses(); before != "" || after != outdial.StatusIdle {
		t.Errorf("INSERT statuses %q → %q", before, after)
	}

	// Claimed: idle → dialing.
	claims := f.claimAll(cust, o.ID)
	v2 := f.target(o.ID, tid)
	c = f.decode(dynamo.OpModify, v1, v2)
	if before, after := c.TargetStatuses(); !c.OwnFieldsChanged || before != outdial.StatusIdle || after != outdial.StatusDialing {
		t.Errorf("claim: changed %v, %q → %q", c.OwnFieldsChanged, before, after)
	}
	if c.New.(*outdial.Target).Reason != outdial.ReasonDialing {
		t.Errorf("claim: reason %q", c.New.(*outdial.Target).Reason)
	}

	// An internal attribute only (an expired attempt noted).
	if _, err := f.client.UpdateItem(f.ctx, &dynamodb.UpdateItemInput{
		TableName: &f.table, Key: map[string]types.AttributeValue{"PK": v2["PK"], "SK": v2["SK"]},
		UpdateExpression:          aws.String("SET exp_attempt = :a"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": &types.AttributeValueMemberS{Value: "x"}},
	}); err != nil {
		t.Fatal(err)
	}
	v3 := f.target(o.ID, tid)
	if c := f.decode(dynamo.OpModify, v2, v3); c.OwnFieldsChanged {
		t.Error("exp_attempt alone: OwnFieldsChanged")
	}

	// Answered: dialing → finished.
	for _, cl := range claims {
		if cl.Target.ID == tid {
			f.outcome(o.ID, cl, outdial.ResultAnswered)
		}
	}
	v4 := f.target(o.ID, tid)
	c = f.decode(dynamo.OpModify, v3, v4)
	if before, after := c.TargetStatuses(); !c.OwnFieldsChanged || before != outdial.StatusDialing || after != outdial.StatusFinished {
		t.Errorf("answered: changed %v, %q → %q", c.OwnFieldsChanged, before, after)
	}
	want, err = f.store.GetTarget(f.ctx, cust, o.ID, tid)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := jsonOf(t, c.New), jsonOf(t, want); a != b {
		t.Errorf("answered New =\n%s\nwant (GetTarget)\n%s", a, b)
	}

	if _, err := f.store.DeleteTarget(f.ctx, cust, o.ID, tid); err != nil {
		t.Fatal(err)
	}
	c = f.decode(dynamo.OpRemove, v4, nil)
	if c.Kind != dynamo.KindTarget || c.New != nil || c.Old.(*outdial.Target).ID != tid {
		t.Errorf("REMOVE = %+v", c)
	}
	if before, after := c.TargetStatuses(); before != outdial.StatusFinished || after != "" {
		t.Errorf("REMOVE statuses %q → %q", before, after)
	}

	// Malformed records.
	if _, err := dynamo.DecodeChange("UPSERT", nil, v1, f.now); err == nil {
		t.Error("unknown operation: no error")
	}
	if _, err := dynamo.DecodeChange(dynamo.OpModify, nil, v1, f.now); err == nil {
		t.Error("MODIFY without an old image: no error")
	}
	if _, err := dynamo.DecodeChange(dynamo.OpRemove, nil, nil, f.now); err == nil {
		t.Error("no image: no error")
	}
	bad := map[string]types.AttributeValue{}
	for k, v := range v1 {
		bad[k] = v
	}
	bad["try_cur"] = &types.AttributeValueMemberS{Value: "three"}
	if _, err := dynamo.DecodeChange(dynamo.OpInsert, nil, bad, f.now); err == nil {
		t.Error("malformed target: no error")
	}
}

// A target's reason depends on its outdial's calling window: Resolve
// works the views out against the head, as GetTarget does.
func TestResolveTargetWithWindow(t *testing.T) {
	f := newStreamFixture(t)
	cust := uuid.NewString()
	// A window that is closed now: one hour, twelve hours from now.
	at := f.now.Add(12 * time.Hour)
	w := &outdial.CallingWindow{Start: at.Format("15:04"), End: at.Add(time.Hour).Format("15:04"), Timezone: "UTC"}
	if at.Hour() == 23 {
		w.End = "24:00"
	}
	if err := w.Validate("calling_window"); err != nil {
		t.Fatal(err)
	}
	o := f.createOutdial(cust, w)
	tid := f.addTargets(cust, o.ID, 0, 1)[0]
	img := f.target(o.ID, tid)

	c := f.decode(dynamo.OpInsert, nil, img)
	if r := c.New.(*outdial.Target).Reason; r != outdial.ReasonDue {
		t.Errorf("without the head: reason %q, want due", r)
	}
	if err := f.store.Resolve(f.ctx, &c); err != nil {
		t.Fatal(err)
	}
	want, err := f.store.GetTarget(f.ctx, cust, o.ID, tid)
	if err != nil {
		t.Fatal(err)
	}
	if want.Reason != outdial.ReasonOutsideWindow {
		t.Fatalf("GetTarget reason %q, want outside_calling_window", want.Reason)
	}
	if c.CustomerID != cust {
		t.Errorf("Resolve: customer %q, want %q", c.CustomerID, cust)
	}
	if a, b := jsonOf(t, c.New), jsonOf(t, want); a != b {
		t.Errorf("Resolve New =\n%s\nwant (GetTarget)\n%s", a, b)
	}

	// Store.Decode does both; the head is read once.
	gets := f.gets()
	c2, err := f.store.Decode(f.ctx, dynamo.OpInsert, nil, img, f.now)
	if err != nil {
		t.Fatal(err)
	}
	if jsonOf(t, c2.New) != jsonOf(t, want) || f.gets() != gets {
		t.Errorf("Decode: %s, %d reads", jsonOf(t, c2.New), f.gets()-gets)
	}
}

func TestOwnerOf(t *testing.T) {
	f := newStreamFixture(t)
	cust := uuid.NewString()
	o := f.createOutdial(cust, nil)

	gets := f.gets()
	for range 3 {
		got, gone, err := f.store.OwnerOf(f.ctx, o.ID)
		if err != nil || got != cust || gone {
			t.Fatalf("OwnerOf = %q, %v, %v", got, gone, err)
		}
	}
	if n := f.gets() - gets; n != 1 {
		t.Errorf("OwnerOf read the head %d times, want 1", n)
	}

	mark := f.store.StreamMark()
	if _, err := f.store.DeleteOutdial(f.ctx, cust, o.ID, nil); err != nil {
		t.Fatal(err)
	}
	// Cached: the deletion is not seen...
	if got, gone, err := f.store.OwnerOf(f.ctx, o.ID); err != nil || got != cust || gone {
		t.Errorf("OwnerOf after delete (cached) = %q, %v, %v", got, gone, err)
	}
	// ...until a read after the mark: the head read before it does not count.
	if got, gone, err := f.store.OwnerSince(f.ctx, o.ID, mark); err != nil || got != cust || !gone {
		t.Errorf("OwnerSince after delete = %q, %v, %v; want gone", got, gone, err)
	}
	// Gone stays gone, without reads.
	gets = f.gets()
	if _, gone, _ := f.store.OwnerSince(f.ctx, o.ID, f.store.StreamMark()); !gone {
		t.Error("not gone")
	}
	if _, gone, _ := f.store.OwnerOf(f.ctx, o.ID); !gone {
		t.Error("not gone")
	}
	if n := f.gets() - gets; n != 0 {
		t.Errorf("%d reads of a gone head", n)
	}

	// An outdial that never was.
	if got, gone, err := f.store.OwnerOf(f.ctx, uuid.NewString()); err != nil || got != "" || !gone {
		t.Errorf("OwnerOf(unknown) = %q, %v, %v", got, gone, err)
	}

	// A fresh check sees an outdial still there.
	o2 := f.createOutdial(cust, nil)
	if _, _, err := f.store.OwnerOf(f.ctx, o2.ID); err != nil {
		t.Fatal(err)
	}
	mark = f.store.StreamMark()
	gets = f.gets()
	if got, gone, err := f.store.OwnerSince(f.ctx, o2.ID, mark); err != nil || got != cust || gone {
		t.Errorf("OwnerSince = %q, %v, %v", got, gone, err)
	}
	if got, gone, err := f.store.OwnerSince(f.ctx, o2.ID, mark); err != nil || got != cust || gone {
		t.Errorf("OwnerSince again = %q, %v, %v", got, gone, err)
	}
	if n := f.gets() - gets; n != 1 {
		t.Errorf("OwnerSince read %d times with one mark, want 1", n)
	}
}

func (f *streamFixture) done(outdialID string) string {
	f.t.Helper()
	if v, ok := f.head(outdialID)["done"].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func TestMarkCompleted(t *testing.T) {
	f := newStreamFixture(t)
	cust := uuid.NewString()
	o := f.createOutdial(cust, nil)

	// No targets: nothing to complete.
	if got, err := f.store.MarkCompleted(f.ctx, o.ID); err != nil || got != nil {
		t.Fatalf("MarkCompleted(empty) = %v, %v", got, err)
	}
	f.addTargets(cust, o.ID, 0, 2)
	if got, err := f.store.MarkCompleted(f.ctx, o.ID); err != nil || got != nil {
		t.Fatalf("MarkCompleted(idle) = %v, %v", got, err)
	}
	claims := f.claimAll(cust, o.ID)
	f.outcome(o.ID, claims[0], outdial.ResultAnswered)
	if got, err := f.store.MarkCompleted(f.ctx, o.ID); err != nil || got != nil {
		t.Fatalf("MarkCompleted(dialing) = %v, %v", got, err)
	}
	f.outcome(o.ID, claims[1], outdial.ResultAnswered)

	got, err := f.store.MarkCompletedAs(f.ctx, o.ID, "tok-1")
	if err != nil || got == nil {
		t.Fatalf("MarkCompletedAs = %v, %v", got, err)
	}
	if got.ID != o.ID || got.CustomerID != cust || got.Counts.Finished != 2 || got.TargetCount != 2 || got.Counts.Idle+got.Counts.Dialing != 0 {
		t.Errorf("completed outdial = %+v", got)
	}
	if d := f.done(o.ID); d != "tok-1" {
		t.Errorf("done = %q, want tok-1", d)
	}
	// Once: another token does not complete it again; the same one does
	// (a redelivered batch makes the same event).
	if got, err := f.store.MarkCompleted(f.ctx, o.ID); err != nil || got != nil {
		t.Errorf("MarkCompleted again = %v, %v", got, err)
	}
	if got, err := f.store.MarkCompletedAs(f.ctx, o.ID, "tok-1"); err != nil || got == nil {
		t.Errorf("MarkCompletedAs(same token) = %v, %v", got, err)
	}
	// The marker is no part of the outdial as the API shows it.
	if g, err := f.store.GetOutdial(f.ctx, cust, o.ID); err != nil || jsonOf(t, withoutCounts(g)) != jsonOf(t, withoutCounts(got)) {
		t.Errorf("GetOutdial = %v, %v", g, err)
	}

	// New work, marked active: it completes again when done.
	f.addTargets(cust, o.ID, 2, 3)
	if err := f.store.MarkActive(f.ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	if d := f.done(o.ID); d != "" {
		t.Errorf("after MarkActive done = %q", d)
	}
	if got, err := f.store.MarkCompleted(f.ctx, o.ID); err != nil || got != nil {
		t.Errorf("MarkCompleted(new idle) = %v, %v", got, err)
	}
	claims = f.claimAll(cust, o.ID)
	f.outcome(o.ID, claims[0], outdial.ResultAnswered)
	if got, err := f.store.MarkCompletedAs(f.ctx, o.ID, "tok-2"); err != nil || got == nil || got.Counts.Finished != 3 {
		t.Errorf("MarkCompletedAs(second time) = %+v, %v", got, err)
	}

	// ClearCompleted takes back only its own token.
	if err := f.store.ClearCompleted(f.ctx, o.ID, "tok-1"); err != nil || f.done(o.ID) != "tok-2" {
		t.Errorf("ClearCompleted(other token): %v, done %q", err, f.done(o.ID))
	}
	if err := f.store.ClearCompleted(f.ctx, o.ID, "tok-2"); err != nil || f.done(o.ID) != "" {
		t.Errorf("ClearCompleted: %v, done %q", err, f.done(o.ID))
	}

	// Deleted: nothing.
	if _, err := f.store.DeleteOutdial(f.ctx, cust, o.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := f.store.MarkCompleted(f.ctx, o.ID); err != nil || got != nil {
		t.Errorf("MarkCompleted(deleted) = %v, %v", got, err)
	}
	if err := f.store.MarkActive(f.ctx, o.ID); err != nil {
		t.Errorf("MarkActive(deleted) = %v", err)
	}
}

// Work that appears between the count read and the marker's write (an
// import whose MarkActive found no marker) takes the completion back.
func TestMarkCompletedRace(t *testing.T) {
	f := newStreamFixture(t)
	cust := uuid.NewString()
	o := f.createOutdial(cust, nil)
	f.addTargets(cust, o.ID, 0, 1)
	f.outcome(o.ID, f.claimAll(cust, o.ID)[0], outdial.ResultAnswered)

	other := dynamo.New(f.client, f.table)
	race := func() {
		if _, err := other.AddTargets(f.ctx, cust, o.ID, uuid.NewString(), []*outdial.NewTarget{{Destinations: []outdial.TargetDestination{{Type: outdial.TypeTel, Target: "+15559999999", TryCountMax: 1}}}}); err != nil {
			t.Error(err)
		}
		if err := other.MarkActive(f.ctx, o.ID); err != nil { // finds no marker yet
			t.Error(err)
		}
	}
	f.beforeUpdate.Store(&race)
	if got, err := f.store.MarkCompleted(f.ctx, o.ID); err != nil || got != nil {
		t.Errorf("MarkCompleted with an import racing = %+v, %v; want nil", got, err)
	}
	if d := f.done(o.ID); d != "" {
		t.Errorf("done = %q, want none", d)
	}
	// The new target finishes: now it completes.
	f.now = time.Now().Add(time.Second) // the other store imported at its own time
	f.outcome(o.ID, f.claimAll(cust, o.ID)[0], outdial.ResultAnswered)
	if got, err := f.store.MarkCompleted(f.ctx, o.ID); err != nil || got == nil || got.Counts.Finished != 2 {
		t.Errorf("MarkCompleted = %+v, %v", got, err)
	}
}

// MarkActiveSince reads once per mark, and writes only when the outdial
// was complete.
func TestMarkActiveSince(t *testing.T) {
	f := newStreamFixture(t)
	cust := uuid.NewString()
	o := f.createOutdial(cust, nil)
	f.addTargets(cust, o.ID, 0, 1)

	gets, updates := f.gets(), f.updates()
	mark := f.store.StreamMark()
	for range 5 {
		if err := f.store.MarkActiveSince(f.ctx, o.ID, mark); err != nil {
			t.Fatal(err)
		}
	}
	if g, u := f.gets()-gets, f.updates()-updates; g != 1 || u != 0 {
		t.Errorf("5 × MarkActiveSince(one mark): %d reads, %d writes; want 1, 0", g, u)
	}
	// A later mark checks again.
	if err := f.store.MarkActiveSince(f.ctx, o.ID, f.store.StreamMark()); err != nil {
		t.Fatal(err)
	}
	if g := f.gets() - gets; g != 2 {
		t.Errorf("reads %d, want 2", g)
	}

	// Complete, then new work: one write takes the marker back.
	f.outcome(o.ID, f.claimAll(cust, o.ID)[0], outdial.ResultAnswered)
	if got, err := f.store.MarkCompleted(f.ctx, o.ID); err != nil || got == nil {
		t.Fatalf("MarkCompleted = %v, %v", got, err)
	}
	f.addTargets(cust, o.ID, 1, 2)
	updates = f.updates()
	mark = f.store.StreamMark()
	for range 3 {
		if err := f.store.MarkActiveSince(f.ctx, o.ID, mark); err != nil {
			t.Fatal(err)
		}
	}
	if u := f.updates() - updates; u != 1 || f.done(o.ID) != "" {
		t.Errorf("MarkActiveSince on a complete outdial: %d writes, done %q; want 1, none", u, f.done(o.ID))
	}
}
