package dynamo_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outdial"
)

// suppressionHarness is a storeHarness whose store counts its requests.
type suppressionHarness struct {
	*storeHarness
	db *requestCounter
}

func newSuppressionHarness(t *testing.T) *suppressionHarness {
	t.Helper()
	h := newStoreHarness(t)
	db := newRequestCounter()
	h.store = dynamo.New(dynamotest.Through(h.client, db.Double), h.table).WithClock(h.clock.Now)
	return &suppressionHarness{storeHarness: h, db: db}
}

// telKeys returns the keys of the fictional numbers from .. to-1.
func telKeys(from, to int) []string {
	out := make([]string, 0, to-from)
	for n := from; n < to; n++ {
		out = append(out, outdial.Address{Type: outdial.TypeTel, Target: telNumber(n)}.Key())
	}
	return out
}

func (h *suppressionHarness) add(cust string, keys []string) (int, int) {
	h.t.Helper()
	added, existing, err := h.store.AddSuppressions(h.ctx, cust, keys)
	if err != nil {
		h.t.Fatalf("AddSuppressions: %v", err)
	}
	return added, existing
}

func (h *suppressionHarness) suppressed(cust string, keys []string) map[string]bool {
	h.t.Helper()
	on, err := h.store.Suppressed(h.ctx, cust, keys)
	if err != nil {
		h.t.Fatalf("Suppressed: %v", err)
	}
	return on
}

// listSuppressions pages through the customer's list with page size
// size; it fails the test on an entry listed twice or out of order.
func (h *suppressionHarness) listSuppressions(cust string, size int) []outdial.Suppression {
	h.t.Helper()
	var out []outdial.Suppression
	seen := map[string]bool{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100000 {
			h.t.Fatal("ListSuppressions: no last page")
		}
		list, next, err := h.store.ListSuppressions(h.ctx, cust, outdial.Page{Size: size, Cursor: cursor})
		if err != nil {
			h.t.Fatalf("ListSuppressions(size %d, page %d): %v", size, pages, err)
		}
		if len(list) > size {
			h.t.Fatalf("page of %d entries, want at most %d", len(list), size)
		}
		if next != "" && len(list) != size {
			h.t.Fatalf("page %d: %d entries and a next cursor, want a full page of %d", pages, len(list), size)
		}
		for _, s := range list {
			if seen[s.Address] {
				h.t.Fatalf("%s listed twice (page size %d)", s.Address, size)
			}
			seen[s.Address] = true
			out = append(out, s)
		}
		if next == "" {
			return out
		}
		cursor = next
	}
}

// listOrder is the documented order of the list: bucket, then key.
func listOrder(a, b outdial.Suppression) int {
	ka, kb := storeKey(a.Address), storeKey(b.Address)
	if c := dynamo.SuppressionBucket(ka) - dynamo.SuppressionBucket(kb); c != 0 {
		return c
	}
	switch {
	case ka < kb:
		return -1
	case ka > kb:
		return 1
	}
	return 0
}

// storeKey is the key of a written address (sip written as its URI).
func storeKey(written string) string {
	a, err := outdial.ParseWrittenAddress("a", written)
	if err != nil {
		panic(err)
	}
	return a.Key()
}

func TestSuppressionsAddDedupe(t *testing.T) {
	h := newSuppressionHarness(t)
	cust := h.customer()
	k := telKeys(0, 5)

	// Repeats within one request count once.
	if added, existing := h.add(cust, []string{k[0], k[1], k[0], k[2], k[1]}); added != 3 || existing != 0 {
		t.Errorf("first add = %d added, %d existing; want 3, 0", added, existing)
	}
	// Known keys are existing; new ones added.
	if added, existing := h.add(cust, []string{k[2], k[3], k[0], k[3], k[4]}); added != 2 || existing != 2 {
		t.Errorf("second add = %d added, %d existing; want 2, 2", added, existing)
	}
	if added, existing := h.add(cust, k); added != 0 || existing != 5 {
		t.Errorf("third add = %d added, %d existing; want 0, 5", added, existing)
	}
	on := h.suppressed(cust, append(k, telKeys(5, 8)...))
	if len(on) != 5 {
		t.Errorf("Suppressed = %v, want the 5 added", on)
	}
	for _, key := range k {
		if !on[key] {
			t.Errorf("%s not suppressed", key)
		}
	}

	// An empty add and check send nothing.
	before := h.db.total()
	if added, existing := h.add(cust, nil); added != 0 || existing != 0 {
		t.Errorf("empty add = %d, %d", added, existing)
	}
	if on := h.suppressed(cust, nil); len(on) != 0 {
		t.Errorf("empty check = %v", on)
	}
	if n := h.db.total() - before; n != 0 {
		t.Errorf("empty add and check sent %d requests", n)
	}

	// An empty key is refused, not sent.
	if _, _, err := h.store.AddSuppressions(h.ctx, cust, []string{k[0], ""}); outdial.ErrorCode(err) != outdial.ECodeInvalidField {
		t.Errorf("add of an empty key: %v, want invalid_field", err)
	}
}

func TestSuppressionsItems(t *testing.T) {
	h := newSuppressionHarness(t)
	cust := h.customer()
	keys := telKeys(0, 200)
	sip := outdial.Address{Type: outdial.TypeSIP, Target: "sip:alice@example.com"}.Key()
	email := outdial.Address{Type: outdial.TypeEmail, Target: "a@example.com"}.Key()
	keys = append(keys, sip, email)
	h.add(cust, keys)

	// Every key is in its bucket's partition with its attributes; the
	// 16 buckets are all used.
	total := 0
	for b := range dynamo.SuppressionBuckets {
		pk := fmt.Sprintf("SUPP#%s#%02d", cust, b)
		res, err := h.client.Query(h.ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(h.table),
			KeyConditionExpression:    aws.String("PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) == 0 {
			t.Errorf("bucket %02d is empty: 202 keys should use all 16", b)
		}
		for _, it := range res.Items {
			var m map[string]string
			if err := attributevalue.UnmarshalMap(it, &m); err != nil {
				t.Fatal(err)
			}
			addr := m["address"]
			if m["SK"] != "A#"+addr || m["type"] != "suppression" || m["tm_create"] != h.clock.Now().UTC().Format(time.RFC3339Nano) {
				t.Errorf("item %v: want SK A#<address>, type suppression and tm_create %s", m, h.clock.Now().UTC())
			}
			if got := dynamo.SuppressionBucket(addr); got != b {
				t.Errorf("%s in bucket %02d, want %02d", addr, b, got)
			}
			if len(m) != 5 {
				t.Errorf("item has attributes %v, want PK, SK, type, address, tm_create", m)
			}
		}
		total += len(res.Items)
	}
	if total != len(keys) {
		t.Errorf("%d items, want %d", total, len(keys))
	}
}

func TestSuppressionsCheckAcrossBuckets(t *testing.T) {
	h := newSuppressionHarness(t)
	cust := h.customer()
	listed := telKeys(0, 150)
	h.add(cust, listed)

	// 100 distinct keys: one BatchGetItem.
	before := h.db.count("BatchGetItem")
	check := append(telKeys(100, 150), telKeys(1000, 1050)...)
	on := h.suppressed(cust, check)
	if n := h.db.count("BatchGetItem") - before; n != 1 {
		t.Errorf("checking 100 keys sent %d BatchGetItem calls, want 1", n)
	}
	if len(on) != 50 {
		t.Errorf("%d of 100 suppressed, want 50", len(on))
	}
	for _, k := range telKeys(100, 150) {
		if !on[k] {
			t.Errorf("%s not suppressed", k)
		}
	}

	// Repeats are read once: 100 distinct keys sent twice is one call.
	before = h.db.count("BatchGetItem")
	if on := h.suppressed(cust, append(check, check...)); len(on) != 50 {
		t.Errorf("%d suppressed, want 50", len(on))
	}
	if n := h.db.count("BatchGetItem") - before; n != 1 {
		t.Errorf("checking 100 keys twice over sent %d BatchGetItem calls, want 1", n)
	}

	// 250 keys: three calls of at most 100.
	before = h.db.count("BatchGetItem")
	check = telKeys(0, 250)
	on = h.suppressed(cust, check)
	if n := h.db.count("BatchGetItem") - before; n != 3 {
		t.Errorf("checking 250 keys sent %d BatchGetItem calls, want 3", n)
	}
	if len(on) != 150 {
		t.Errorf("%d of 250 suppressed, want 150", len(on))
	}
	for _, k := range listed {
		if !on[k] {
			t.Errorf("%s not suppressed", k)
		}
	}
}

func TestSuppressionsManyWrites(t *testing.T) {
	h := newSuppressionHarness(t)
	cust := h.customer()
	keys := telKeys(0, 1000)
	before := h.db.snapshot()
	if added, existing := h.add(cust, keys); added != 1000 || existing != 0 {
		t.Fatalf("add = %d, %d; want 1000, 0", added, existing)
	}
	d := h.db.since(before)
	if d["BatchGetItem"] != 10 || d["BatchWriteItem"] != 40 {
		t.Errorf("adding 1000 keys sent %v, want 10 BatchGetItem and 40 BatchWriteItem", d)
	}
	if on := h.suppressed(cust, keys); len(on) != 1000 {
		t.Errorf("%d suppressed, want 1000", len(on))
	}
	if n, err := h.store.DeleteSuppressions(h.ctx, cust, keys); err != nil || n != 1000 {
		t.Errorf("delete = %d, %v; want 1000", n, err)
	}
	if list := h.listSuppressions(cust, 100); len(list) != 0 {
		t.Errorf("%d left after deleting all", len(list))
	}
}

func TestSuppressionsDelete(t *testing.T) {
	h := newSuppressionHarness(t)
	cust := h.customer()
	k := telKeys(0, 10)
	h.add(cust, k[:6])

	// Listed keys count once each; unknown ones not at all.
	n, err := h.store.DeleteSuppressions(h.ctx, cust, []string{k[0], k[1], k[0], k[7], k[8]})
	if err != nil || n != 2 {
		t.Errorf("delete = %d, %v; want 2", n, err)
	}
	on := h.suppressed(cust, k)
	if len(on) != 4 || on[k[0]] || on[k[1]] {
		t.Errorf("after delete: %v, want %v", on, k[2:6])
	}
	// Deleting again deletes nothing.
	if n, err := h.store.DeleteSuppressions(h.ctx, cust, k[:2]); err != nil || n != 0 {
		t.Errorf("second delete = %d, %v; want 0", n, err)
	}
	// A deleted key can be added again.
	if added, existing := h.add(cust, k[:3]); added != 2 || existing != 1 {
		t.Errorf("re-add = %d added, %d existing; want 2, 1", added, existing)
	}
}

func TestSuppressionsList(t *testing.T) {
	h := newSuppressionHarness(t)
	cust := h.customer()

	// An empty list: one empty page.
	list, next, err := h.store.ListSuppressions(h.ctx, cust, outdial.Page{Size: 10})
	if err != nil || len(list) != 0 || next != "" {
		t.Fatalf("empty list = %v, %q, %v", list, next, err)
	}

	keys := telKeys(0, 57)
	keys = append(keys,
		outdial.Address{Type: outdial.TypeSIP, Target: "sip:alice@example.com"}.Key(),
		outdial.Address{Type: outdial.TypeSIP, Target: "sips:bob@example.com:5061"}.Key(),
		outdial.Address{Type: outdial.TypeEmail, Target: "a@example.com"}.Key(),
	)
	h.add(cust, keys)
	want := map[string]bool{}
	for _, k := range keys {
		want[outdial.WrittenKey(k)] = true
	}
	for _, size := range []int{1, 2, 3, 7, 16, 59, 60, 61, 100} {
		t.Run(fmt.Sprint("size", size), func(t *testing.T) {
			h := *h
			h.storeHarness = &storeHarness{t: t, ctx: h.ctx, store: h.store, client: h.client, table: h.table, clock: h.clock}
			all := h.listSuppressions(cust, size)
			if len(all) != len(keys) {
				t.Errorf("listed %d entries, want %d", len(all), len(keys))
			}
			for _, s := range all {
				if !want[s.Address] {
					t.Errorf("listed %q, which was not added", s.Address)
				}
				if !s.TMCreate.Equal(h.clock.Now()) {
					t.Errorf("%s: tm_create %v, want %v", s.Address, s.TMCreate, h.clock.Now())
				}
			}
			if !slices.IsSortedFunc(all, listOrder) {
				t.Error("not in the order bucket, then address")
			}
		})
	}

	// SIP addresses are listed in their written form, the URI.
	all := h.listSuppressions(cust, 100)
	for _, w := range []string{"sip:alice@example.com", "sips:bob@example.com:5061", "email:a@example.com", "tel:+15550000000"} {
		if !slices.ContainsFunc(all, func(s outdial.Suppression) bool { return s.Address == w }) {
			t.Errorf("%s not listed", w)
		}
	}

	// The page after the last.
	list, next, err = h.store.ListSuppressions(h.ctx, cust, outdial.Page{Size: 10, End: true})
	if err != nil || len(list) != 0 || next != "" {
		t.Errorf("end page = %v, %q, %v", list, next, err)
	}
}

func TestSuppressionsBadCursor(t *testing.T) {
	h := newSuppressionHarness(t)
	cust := h.customer()
	h.add(cust, telKeys(0, 3))
	k := telKeys(0, 1)[0]
	wrongBucket := (dynamo.SuppressionBucket(k) + 1) % dynamo.SuppressionBuckets
	for _, c := range []string{
		"garbage", "{}", `{"b":1}`, `{"a":"tel:+15550000000"}`, `{"b":-1,"a":"x"}`, `{"b":16,"a":"x"}`,
		`{"b":"1","a":"x"}`, `{"b":1.5,"a":"x"}`, fmt.Sprintf(`{"b":%d,"a":%q}`, wrongBucket, k),
		fmt.Sprintf(`{"b":%d,"a":%q,"x":1}`, dynamo.SuppressionBucket(k), k),
		fmt.Sprintf(`{"b":%d,"a":%q} {}`, dynamo.SuppressionBucket(k), k), "null", "[]",
	} {
		_, _, err := h.store.ListSuppressions(h.ctx, cust, outdial.Page{Size: 10, Cursor: c})
		var e *outdial.Error
		if !errors.As(err, &e) || e.Code != outdial.ECodeInvalidPageToken || e.Field != "page_token" {
			t.Errorf("cursor %q: %v, want invalid_page_token on page_token", c, err)
		}
	}
	// A well-formed cursor resumes after its address.
	list, _, err := h.store.ListSuppressions(h.ctx, cust, outdial.Page{Size: 10, Cursor: fmt.Sprintf(`{"b":%d,"a":%q}`, dynamo.SuppressionBucket(k), k)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.Address == k {
			t.Errorf("the cursor's own entry %s was listed again", k)
		}
	}
}

func TestSuppressionsCustomerIsolation(t *testing.T) {
	h := newSuppressionHarness(t)
	a, b := h.customer(), h.customer()
	keys := telKeys(0, 20)
	h.add(a, keys)

	if on := h.suppressed(b, keys); len(on) != 0 {
		t.Errorf("customer b sees %d of a's suppressions", len(on))
	}
	if list := h.listSuppressions(b, 5); len(list) != 0 {
		t.Errorf("customer b lists %d of a's suppressions", len(list))
	}
	if n, err := h.store.DeleteSuppressions(h.ctx, b, keys); err != nil || n != 0 {
		t.Errorf("customer b deleted %d of a's suppressions (%v)", n, err)
	}
	if added, existing := h.add(b, keys[:5]); added != 5 || existing != 0 {
		t.Errorf("customer b add = %d, %d; want 5 added, 0 existing", added, existing)
	}
	if on := h.suppressed(a, keys); len(on) != 20 {
		t.Errorf("customer a has %d suppressions after b's calls, want 20", len(on))
	}
	if n, err := h.store.DeleteSuppressions(h.ctx, b, keys); err != nil || n != 5 {
		t.Errorf("customer b delete = %d, %v; want 5", n, err)
	}
	if list := h.listSuppressions(a, 7); len(list) != 20 {
		t.Errorf("customer a lists %d, want 20", len(list))
	}
}

// TestSuppressionsListReadsOnlyBucketsWithEntries: a page reads the list
// marker, then only the buckets that have had entries: a customer without
// a list costs one GetItem, a list in three buckets three Queries. A
// marker written before markers kept buckets makes a page read every
// bucket, and the next add keeps it so, so that older entries stay
// listed.
func TestSuppressionsListReadsOnlyBucketsWithEntries(t *testing.T) {
	h := newSuppressionHarness(t)
	page := func(cust string) ([]outdial.Suppression, map[string]int) {
		t.Helper()
		before := h.db.snapshot()
		list, next, err := h.store.ListSuppressions(h.ctx, cust, outdial.Page{Size: 100})
		if err != nil || next != "" {
			t.Fatalf("ListSuppressions: %v, next %q", err, next)
		}
		after := h.db.snapshot()
		return list, map[string]int{"GetItem": after["GetItem"] - before["GetItem"], "Query": after["Query"] - before["Query"]}
	}

	cust := h.customer()
	if list, got := page(cust); len(list) != 0 || got["GetItem"] != 1 || got["Query"] != 0 {
		t.Errorf("no list: %d entries, requests %v; want none, 1 GetItem and no Query", len(list), got)
	}
	// Three addresses in three different buckets.
	var keys []string
	buckets := map[int]bool{}
	for n := 0; len(keys) < 3; n++ {
		k := telKeys(n, n+1)[0]
		if b := dynamo.SuppressionBucket(k); !buckets[b] {
			buckets[b] = true
			keys = append(keys, k)
		}
	}
	h.add(cust, keys)
	if list, got := page(cust); len(list) != 3 || got["GetItem"] != 1 || got["Query"] != 3 {
		t.Errorf("a list in 3 buckets: %d entries, requests %v; want 3, 1 GetItem and 3 Queries", len(list), got)
	}
	// Deleted entries leave their buckets read (the marker only grows).
	if _, err := h.store.DeleteSuppressions(h.ctx, cust, keys); err != nil {
		t.Fatal(err)
	}
	if list, got := page(cust); len(list) != 0 || got["Query"] != 3 {
		t.Errorf("an emptied list: %d entries, requests %v; want none and 3 Queries", len(list), got)
	}

	// An older marker (no buckets) over entries in two buckets.
	old := h.customer()
	for _, k := range keys[:2] {
		if _, err := h.client.PutItem(h.ctx, &dynamodb.PutItemInput{TableName: &h.table, Item: map[string]types.AttributeValue{
			"PK":   &types.AttributeValueMemberS{Value: fmt.Sprintf("SUPP#%s#%02d", old, dynamo.SuppressionBucket(k))},
			"SK":   &types.AttributeValueMemberS{Value: "A#" + k},
			"type": &types.AttributeValueMemberS{Value: "suppression"}, "address": &types.AttributeValueMemberS{Value: k},
			"tm_create": &types.AttributeValueMemberS{Value: "2026-12-01T00:00:00Z"},
		}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.client.PutItem(h.ctx, &dynamodb.PutItemInput{TableName: &h.table, Item: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "SUPP#" + old}, "SK": &types.AttributeValueMemberS{Value: "#LIST"},
		"type": &types.AttributeValueMemberS{Value: "suppression_list"}, "tm_create": &types.AttributeValueMemberS{Value: "2026-12-01T00:00:00Z"},
	}}); err != nil {
		t.Fatal(err)
	}
	if list, got := page(old); len(list) != 2 || got["Query"] != dynamo.SuppressionBuckets {
		t.Errorf("an older marker: %d entries, requests %v; want 2 and %d Queries", len(list), got, dynamo.SuppressionBuckets)
	}
	h.add(old, keys[2:])
	if list, got := page(old); len(list) != 3 || got["Query"] != dynamo.SuppressionBuckets {
		t.Errorf("an older marker after an add: %d entries, requests %v; want 3 and %d Queries", len(list), got, dynamo.SuppressionBuckets)
	}
}
