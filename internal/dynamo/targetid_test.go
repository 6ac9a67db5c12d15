package dynamo_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/outdial"
)

// TestTargetIDsDoNotRevealTheDestination checks target ids are keyed: the
// old derivation (UUIDv5 of "tel:+E164" in the outdial id's namespace,
// which anyone could recompute by trying the numbering plan) no longer
// gives a target's id, the same number has another id in another outdial,
// and re-importing a number still finds the same target (exactly-once
// imports). The id key is stored on the outdial's head and nowhere else,
// and no answer of the store carries it.
func TestTargetIDsDoNotRevealTheDestination(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "keyed ids")
	other := h.outdial(cust, "another list")
	const number = "+15550001234"
	target := func() []*outdial.NewTarget {
		return []*outdial.NewTarget{{Destinations: []outdial.TargetDestination{{Type: outdial.TypeTel, Target: number, TryCountMax: 3}}}}
	}

	first := h.add(cust, o.ID, "", target())
	if len(first.Created) != 1 {
		t.Fatalf("first import: %s", asJSON(first))
	}
	id := first.Created[0].Target.ID

	oldID := uuid.NewSHA1(uuid.MustParse(o.ID), []byte("tel:"+number)).String()
	if id == oldID {
		t.Errorf("target id %s is still the UUIDv5 of the destination", id)
	}
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 8 || u.Variant() != uuid.RFC4122 || u.String() != id {
		t.Errorf("target id %s is not a canonical UUID of version 8 (%v)", id, err)
	}

	// Re-importing the number, alone or among others, finds the same target.
	again := h.add(cust, o.ID, "", target())
	if len(again.Created) != 0 || len(again.Duplicates) != 1 || again.Duplicates[0].TargetID != id || again.Duplicates[0].Reason != "exists" {
		t.Errorf("re-import = %s, want one duplicate of %s (exists)", asJSON(again), id)
	}
	mixed := append(tels(0, 3), target()...)
	res := h.add(cust, o.ID, "", mixed)
	if len(res.Created) != 3 || len(res.Duplicates) != 1 || res.Duplicates[0].TargetID != id {
		t.Errorf("import with the number among others = %s, want 3 created and %s as a duplicate", asJSON(res), id)
	}
	if got, err := h.store.TargetIDOf(h.ctx, cust, o.ID, outdial.Address{Type: outdial.TypeTel, Target: number}); err != nil || got != id {
		t.Errorf("TargetIDOf = %s, %v; want %s", got, err, id)
	}
	// A store that has never seen the outdial (another Lambda) agrees.
	fresh := dynamo.New(h.client, h.table)
	if got, err := fresh.TargetIDOf(h.ctx, cust, o.ID, outdial.Address{Type: outdial.TypeTel, Target: number}); err != nil || got != id {
		t.Errorf("TargetIDOf in a fresh store = %s, %v; want %s", got, err, id)
	}
	if _, err := fresh.TargetIDOf(h.ctx, h.customer(), o.ID, outdial.Address{Type: outdial.TypeTel, Target: number}); outdial.ErrorCode(err) != outdial.ECodeNotFound {
		t.Errorf("TargetIDOf for another customer: %v, want not_found", err)
	}

	// The same number in another outdial has another id.
	elsewhere := h.add(cust, other.ID, "", target())
	if len(elsewhere.Created) != 1 || elsewhere.Created[0].Target.ID == id {
		t.Errorf("the number in another outdial = %s, want a new target with an id other than %s", asJSON(elsewhere), id)
	}

	// The key lives on the head only, is 32 random bytes, and no answer
	// carries it.
	got, err := h.client.GetItem(h.ctx, &dynamodb.GetItemInput{TableName: aws.String(h.table), Key: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "OUTDIAL#" + o.ID}, "SK": &types.AttributeValueMemberS{Value: "#HEAD"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	key, ok := got.Item["id_key"].(*types.AttributeValueMemberB)
	if !ok || len(key.Value) != outdial.IDKeyLen {
		t.Fatalf("head item has no %d-byte id_key: %v", outdial.IDKeyLen, got.Item["id_key"])
	}
	if outdial.KeyedTargetID(key.Value, "tel:"+number) != id {
		t.Errorf("the id is not the destination under the head's key")
	}
	scan, err := h.client.Scan(h.ctx, &dynamodb.ScanInput{TableName: aws.String(h.table)})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range scan.Items {
		if _, has := it["id_key"]; has && it["SK"].(*types.AttributeValueMemberS).Value != "#HEAD" {
			t.Errorf("item %v carries the id key", it["SK"])
		}
	}
	read, err := h.store.GetOutdial(h.ctx, cust, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	list, _, err := h.store.ListOutdials(h.ctx, cust, false, outdial.Page{Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal([]any{read, list, h.get(cust, o.ID, id), first, again})
	if strings.Contains(string(b), "id_key") || strings.Contains(string(b), string(key.Value)) {
		t.Errorf("an answer carries the id key: %s", b)
	}
}

// TestKeyedTargetID checks the derivation itself: deterministic under one
// key, different under another key or for another destination.
func TestKeyedTargetID(t *testing.T) {
	k1, k2 := outdial.NewIDKey(), outdial.NewIDKey()
	if string(k1) == string(k2) || len(k1) != outdial.IDKeyLen {
		t.Fatalf("NewIDKey gave %x and %x", k1, k2)
	}
	a := outdial.KeyedTargetID(k1, "tel:+15550001234")
	if a != outdial.KeyedTargetID(k1, "tel:+15550001234") {
		t.Error("KeyedTargetID is not deterministic")
	}
	for _, other := range []string{outdial.KeyedTargetID(k2, "tel:+15550001234"), outdial.KeyedTargetID(k1, "tel:+15550001235")} {
		if other == a {
			t.Errorf("two inputs share id %s", a)
		}
	}
}
