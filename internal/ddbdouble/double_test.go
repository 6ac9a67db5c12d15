package ddbdouble_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamotest"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

// fixture is a fresh table with clients through a double in front of it.
type fixture struct {
	d     *ddbdouble.Double
	c     *dynamodb.Client // through the double, the SDK's default retryer
	raw   *dynamodb.Client // through the double, retries off
	base  *dynamodb.Client // straight to DynamoDB Local
	table string
}

func newFixture(t *testing.T, cfg ddbdouble.Config) *fixture {
	t.Helper()
	base, table := dynamotest.Table(t)
	d := ddbdouble.New(nil, cfg)
	return &fixture{
		d:     d,
		c:     dynamodb.New(base.Options(), func(o *dynamodb.Options) { o.HTTPClient = d.Client() }),
		raw:   dynamodb.New(base.Options(), func(o *dynamodb.Options) { o.HTTPClient = d.Client(); o.Retryer = aws.NopRetryer{} }),
		base:  base,
		table: table,
	}
}

// key is the key of the test item of partition key pk (one item per
// partition key, SK "item").
func key(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"PK": s(pk), "SK": s("item")}
}

// sizedItem returns an item of partition key pk of size bytes as DynamoDB
// counts them (attribute names plus values), with GSI1 keys when gsi1pk is
// not empty.
func sizedItem(pk string, size int, gsi1pk string) map[string]types.AttributeValue {
	it := key(pk)
	used := len("PK") + len(pk) + len("SK") + len("item") + len("D")
	if gsi1pk != "" {
		it["GSI1PK"], it["GSI1SK"] = s(gsi1pk), n("1")
		used += len("GSI1PK") + len(gsi1pk) + len("GSI1SK") + 2
	}
	it["D"] = s(strings.Repeat("x", size-used))
	return it
}

// put writes a counter item (n = 0) for each pk through the double, so that
// the double knows them.
func (f *fixture) put(t *testing.T, pks ...string) {
	t.Helper()
	for _, pk := range pks {
		it := key(pk)
		it["n"] = n("0")
		if _, err := f.raw.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &f.table, Item: it}); err != nil {
			t.Fatal(err)
		}
	}
}

// addOne returns a transaction that adds 1 to n of the item of each pk.
func (f *fixture) addOne(token string, pks ...string) *dynamodb.TransactWriteItemsInput {
	in := &dynamodb.TransactWriteItemsInput{}
	if token != "" {
		in.ClientRequestToken = aws.String(token)
	}
	for _, pk := range pks {
		in.TransactItems = append(in.TransactItems, types.TransactWriteItem{Update: &types.Update{
			TableName: &f.table, Key: key(pk), UpdateExpression: aws.String("ADD n :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")},
		}})
	}
	return in
}

// get reads the item of pk straight from DynamoDB Local (nil when there is
// none).
func (f *fixture) get(t *testing.T, pk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := f.base.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: &f.table, Key: key(pk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

// count returns n of the item of pk.
func (f *fixture) count(t *testing.T, pk string) int {
	t.Helper()
	v, ok := f.get(t, pk)["n"].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("item %s has no n", pk)
	}
	got, err := strconv.Atoi(v.Value)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// hold sends the transaction in (retries off, tagged "holder") and returns
// once the double holds its items, with a channel that gets its result.
// The items must be known to the double (written through it), so that
// nothing but the JSON decoding lies between the request and the hold.
func (f *fixture) hold(t *testing.T, in *dynamodb.TransactWriteItemsInput) <-chan error {
	t.Helper()
	before := f.d.Stats("holder").Transactions
	done := make(chan error, 1)
	go func() {
		_, err := f.raw.TransactWriteItems(ddbdouble.WithTag(context.Background(), "holder"), in)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for f.d.Stats("holder").Transactions == before {
		if time.Now().After(deadline) {
			t.Fatal("the holding transaction never reached the double")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	return done
}

// wait fails the test when the holding transaction failed.
func wait(t *testing.T, done <-chan error) {
	t.Helper()
	if err := <-done; err != nil {
		t.Fatalf("holding transaction: %v", err)
	}
}

// reasonCodes returns the codes of the cancellation reasons of err, or nil
// when err is not a TransactionCanceledException.
func reasonCodes(err error) []string {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	codes := []string{}
	for _, r := range tce.CancellationReasons {
		codes = append(codes, aws.ToString(r.Code))
	}
	return codes
}

// throttlingReasons returns the reasons of a
// ProvisionedThroughputExceededException, or nil when err is not one.
func throttlingReasons(err error) []types.ThrottlingReason {
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) {
		return nil
	}
	return pte.ThrottlingReasons
}

const holdFor = 200 * time.Millisecond

func TestSecondTransactionOnAHeldItemIsCancelledAtThatItem(t *testing.T) {
	f := newFixture(t, ddbdouble.Config{RequestLatency: time.Millisecond, TransactionLatency: holdFor})
	ctx := context.Background()
	f.put(t, "a", "b", "c", "d", "e")

	done := f.hold(t, f.addOne("", "a"))
	var wg sync.WaitGroup
	var errConflict, errOther error
	wg.Go(func() { _, errConflict = f.raw.TransactWriteItems(ctx, f.addOne("", "b", "a", "c")) })
	wg.Go(func() { _, errOther = f.raw.TransactWriteItems(ctx, f.addOne("", "d", "e")) })
	wg.Wait()
	wait(t, done)

	if got, want := reasonCodes(errConflict), []string{"None", "TransactionConflict", "None"}; !slices.Equal(got, want) {
		t.Errorf("transaction on b, a, c while a is held: reasons %v (error %v), want %v", got, errConflict, want)
	}
	if errOther != nil {
		t.Errorf("transaction on d, e while a is held: %v, want success", errOther)
	}
	if _, err := f.raw.TransactWriteItems(ctx, f.addOne("", "b", "a", "c")); err != nil {
		t.Errorf("transaction on b, a, c once a is free: %v, want success", err)
	}
	for pk, want := range map[string]int{"a": 2, "b": 1, "c": 1, "d": 1, "e": 1} {
		if got := f.count(t, pk); got != want {
			t.Errorf("n of %s = %d, want %d", pk, got, want)
		}
	}
	st := f.d.Stats("")
	if st.TransactionConflicts != 1 || st.Conflicts() != 1 {
		t.Errorf("TransactionConflicts = %d, Conflicts() = %d, want 1, 1", st.TransactionConflicts, st.Conflicts())
	}
	if got, want := st.Transactions, 4; got != want {
		t.Errorf("Transactions = %d, want %d", got, want)
	}
	// The held one, d-e and the retry of b-a-c; not the conflicted one.
	if got, want := st.TransactionsApplied, 3; got != want {
		t.Errorf("TransactionsApplied = %d, want %d", got, want)
	}
}

func TestSingleWriteOfAHeldItemFailsWithTransactionConflict(t *testing.T) {
	f := newFixture(t, ddbdouble.Config{RequestLatency: time.Millisecond, TransactionLatency: holdFor})
	ctx := context.Background()
	writes := []struct {
		op    string
		write func(pk string) error
		check func(t *testing.T, it map[string]types.AttributeValue) // of a free item written
	}{
		{"PutItem", func(pk string) error {
			it := key(pk)
			it["by"] = s("PutItem")
			_, err := f.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: it})
			return err
		}, func(t *testing.T, it map[string]types.AttributeValue) {
			if _, ok := it["by"]; !ok {
				t.Errorf("item %v was not replaced", it)
			}
		}},
		{"UpdateItem", func(pk string) error {
			_, err := f.raw.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName: &f.table, Key: key(pk), UpdateExpression: aws.String("SET #by = :by"),
				ExpressionAttributeNames: map[string]string{"#by": "by"}, ExpressionAttributeValues: map[string]types.AttributeValue{":by": s("UpdateItem")},
			})
			return err
		}, func(t *testing.T, it map[string]types.AttributeValue) {
			if _, ok := it["by"]; !ok {
				t.Errorf("item %v was not updated", it)
			}
		}},
		{"DeleteItem", func(pk string) error {
			_, err := f.raw.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &f.table, Key: key(pk)})
			return err
		}, func(t *testing.T, it map[string]types.AttributeValue) {
			if it != nil {
				t.Errorf("item %v was not deleted", it)
			}
		}},
	}
	f.put(t, "held")
	for _, w := range writes {
		f.put(t, "free-"+w.op)
	}

	before := f.d.Stats("")
	done := f.hold(t, f.addOne("", "held"))
	errs := map[string]error{}
	for _, w := range writes {
		errs[w.op] = w.write("held")
	}
	refused := f.d.Stats("").Sub(before)
	wait(t, done)

	for _, w := range writes {
		t.Run(w.op, func(t *testing.T) {
			var tce *types.TransactionConflictException
			if !errors.As(errs[w.op], &tce) {
				t.Errorf("%s of a held item: %v, want a TransactionConflictException", w.op, errs[w.op])
			}
			if err := w.write("free-" + w.op); err != nil {
				t.Fatalf("%s of an item not held: %v, want success", w.op, err)
			}
			w.check(t, f.get(t, "free-"+w.op))
		})
	}
	it := f.get(t, "held")
	if _, ok := it["by"]; ok || f.count(t, "held") != 1 {
		t.Errorf("held item = %v, want only the holding transaction's change (n = 1, no by)", it)
	}
	if got, want := refused.WriteConflicts, len(writes); got != want {
		t.Errorf("WriteConflicts = %d, want %d", got, want)
	}
	// Refused writes are charged their table units: 1 each for these small
	// items.
	if got, want := refused.WriteUnits, float64(len(writes)); got != want {
		t.Errorf("WriteUnits of the refused writes = %v, want %v", got, want)
	}
}

func TestResendOfATransactionInFlightIsInProgress(t *testing.T) {
	f := newFixture(t, ddbdouble.Config{RequestLatency: time.Millisecond, TransactionLatency: holdFor})
	ctx := context.Background()
	f.put(t, "a")

	// Retries off: the resend sees the exception.
	done := f.hold(t, f.addOne("token-1", "a"))
	_, err := f.raw.TransactWriteItems(ctx, f.addOne("token-1", "a"))
	wait(t, done)
	var tipe *types.TransactionInProgressException
	if !errors.As(err, &tipe) {
		t.Fatalf("resend while the first is in flight: %v, want a TransactionInProgressException", err)
	}
	if got, want := f.d.Stats("").InProgress, 1; got != want {
		t.Errorf("InProgress = %d, want %d", got, want)
	}

	// The SDK's default retryer treats the exception as a throttle and
	// resends once the first is done; DynamoDB applies the token once.
	done = f.hold(t, f.addOne("token-2", "a"))
	_, err = f.c.TransactWriteItems(ddbdouble.WithTag(ctx, "resend"), f.addOne("token-2", "a"))
	wait(t, done)
	if err != nil {
		t.Fatalf("resend with the SDK's retryer: %v, want success", err)
	}
	if got := f.d.Stats("resend"); got.InProgress < 1 || got.Requests["TransactWriteItems"] < 2 {
		t.Errorf("resend: InProgress = %d over %d requests, want at least 1 over at least 2", got.InProgress, got.Requests["TransactWriteItems"])
	}
	if got, want := f.count(t, "a"), 2; got != want {
		t.Errorf("n = %d after two tokens each sent twice, want %d", got, want)
	}
}

func TestHammeredPartitionKeyIsThrottled(t *testing.T) {
	f := newFixture(t, ddbdouble.Config{WriteUnitsPerKey: 10})
	ctx := context.Background()

	// Items of 2.5 KB cost 3 units: the put that empties the budget leaves
	// it at least 2 units in debt, 200 ms of refill, time enough for what
	// follows.
	var err error
	var refused ddbdouble.Stats
	for i := 0; err == nil; i++ {
		if i == 50 {
			t.Fatal("50 puts of 3 units on one key at 10 units/s were never throttled")
		}
		before := f.d.Stats("")
		_, err = f.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: sizedItem("hot", 2560, "")})
		refused = f.d.Stats("").Sub(before)
	}
	reasons := throttlingReasons(err)
	if len(reasons) != 1 || aws.ToString(reasons[0].Reason) != "TableWriteKeyRangeThroughputExceeded" ||
		!strings.HasSuffix(aws.ToString(reasons[0].Resource), "table/"+f.table) {
		t.Fatalf("hammered key: %v, reasons %+v, want one TableWriteKeyRangeThroughputExceeded on table %s", err, reasons, f.table)
	}
	if refused.Throttled != 1 || refused.WriteUnits != 3 {
		t.Errorf("throttled put: Throttled = %d, WriteUnits = %v, want 1, 3", refused.Throttled, refused.WriteUnits)
	}

	if _, err := f.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: sizedItem("cold", 2560, "")}); err != nil {
		t.Errorf("put on another key: %v, want success", err)
	}
	tx := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &f.table, Item: sizedItem("cold-2", 100, "")}},
		{Put: &types.Put{TableName: &f.table, Item: sizedItem("hot", 100, "")}},
	}}
	before := f.d.Stats("")
	_, err = f.raw.TransactWriteItems(ctx, tx)
	if got, want := reasonCodes(err), []string{"None", "ThrottlingError"}; !slices.Equal(got, want) {
		t.Errorf("transaction on a throttled key: reasons %v (error %v), want %v", got, err, want)
	}
	// Cancelled, it is charged 2 units per KB of each item, at the larger
	// of the stored and the new size: 2 * (1 + 3).
	if got := f.d.Stats("").Sub(before); got.Throttled != 1 || got.WriteUnits != 8 {
		t.Errorf("throttled transaction: Throttled = %d, WriteUnits = %v, want 1, 8", got.Throttled, got.WriteUnits)
	}

	// A batch with one item on the throttled key is refused whole (where
	// DynamoDB would return that item unprocessed), charged 1 + 3.
	before = f.d.Stats("")
	_, err = f.raw.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{f.table: {
		{PutRequest: &types.PutRequest{Item: sizedItem("cold-3", 100, "")}},
		{PutRequest: &types.PutRequest{Item: sizedItem("hot", 100, "")}},
	}}})
	if reasons := throttlingReasons(err); len(reasons) != 1 || aws.ToString(reasons[0].Reason) != "TableWriteKeyRangeThroughputExceeded" {
		t.Errorf("batch on a throttled key: %v, reasons %+v, want one TableWriteKeyRangeThroughputExceeded", err, reasons)
	}
	if got := f.d.Stats("").Sub(before); got.Throttled != 1 || got.WriteUnits != 4 {
		t.Errorf("throttled batch: Throttled = %d, WriteUnits = %v, want 1, 4", got.Throttled, got.WriteUnits)
	}
	if it := f.get(t, "cold-3"); it != nil {
		t.Errorf("item of the refused batch on another key was written: %v", it)
	}

	// The SDK's retryer gets through, with more requests than calls.
	const calls = 3
	tagged := ddbdouble.WithTag(ctx, "retried")
	for i := range calls {
		it := sizedItem("hot", 500, "")
		it["SK"] = s(fmt.Sprint("retried-", i))
		if _, err := f.c.PutItem(tagged, &dynamodb.PutItemInput{TableName: &f.table, Item: it}); err != nil {
			t.Fatalf("put %d with the SDK's retryer: %v, want success", i, err)
		}
	}
	st := f.d.Stats("retried")
	if got := st.Requests["PutItem"]; got <= calls || st.Throttled != got-calls {
		t.Errorf("puts with the SDK's retryer: %d requests, %d throttled, for %d calls; want more requests than calls, the extra ones throttled", got, st.Throttled, calls)
	}
}

func TestHammeredPartitionKeyThrottlesReads(t *testing.T) {
	f := newFixture(t, ddbdouble.Config{ReadUnitsPerKey: 10})
	ctx := context.Background()
	for _, it := range []map[string]types.AttributeValue{sizedItem("hot", 100, "g-hot"), sizedItem("cold", 100, "g-cold")} {
		if _, err := f.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(pk string) error {
		_, err := f.raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: key(pk)})
		return err
	}
	query := func(gsi1pk string) error {
		_, err := f.raw.Query(ctx, &dynamodb.QueryInput{
			TableName: &f.table, IndexName: aws.String("GSI1"), KeyConditionExpression: aws.String("GSI1PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s(gsi1pk)},
		})
		return err
	}
	// hammer calls read until it fails; eventually consistent reads of
	// small items cost half a unit, so 10 units/s go in about 20 reads.
	hammer := func(read func() error) error {
		for range 500 {
			if err := read(); err != nil {
				return err
			}
		}
		return errors.New("500 reads of one key at 10 units/s were never throttled")
	}

	tests := []struct {
		name       string
		hot, cold  func() error
		wantReason string
		resource   string
	}{
		{"GetItem", func() error { return get("hot") }, func() error { return get("cold") },
			"TableReadKeyRangeThroughputExceeded", "table/" + f.table},
		{"Query GSI1", func() error { return query("g-hot") }, func() error { return query("g-cold") },
			"IndexReadKeyRangeThroughputExceeded", "table/" + f.table + "/index/GSI1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := hammer(tt.hot)
			reasons := throttlingReasons(err)
			if len(reasons) != 1 || aws.ToString(reasons[0].Reason) != tt.wantReason ||
				!strings.HasSuffix(aws.ToString(reasons[0].Resource), tt.resource) {
				t.Fatalf("hammered key: %v, reasons %+v, want one %s on %s", err, reasons, tt.wantReason, tt.resource)
			}
			if err := tt.cold(); err != nil {
				t.Errorf("read of another key: %v, want success", err)
			}
		})
	}
	if st := f.d.Stats(""); st.Throttled != len(tests) || st.ReadUnits < 10 {
		t.Errorf("Throttled = %d, ReadUnits = %v; want %d and at least a second's budget", st.Throttled, st.ReadUnits, len(tests))
	}
}

func TestLatencyIsInjected(t *testing.T) {
	cfg := ddbdouble.Config{RequestLatency: 40 * time.Millisecond, TransactionLatency: 30 * time.Millisecond, ActionLatency: 10 * time.Millisecond}
	f := newFixture(t, cfg)
	ctx := context.Background()
	f.put(t, "a", "b", "c", "d", "e")
	tests := []struct {
		name string
		call func() error
		want time.Duration
	}{
		{"GetItem", func() error {
			_, err := f.raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: key("a")})
			return err
		}, cfg.RequestLatency},
		{"PutItem", func() error {
			_, err := f.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: key("z")})
			return err
		}, cfg.RequestLatency},
		{"Query", func() error {
			_, err := f.raw.Query(ctx, &dynamodb.QueryInput{TableName: &f.table, KeyConditionExpression: aws.String("PK = :pk"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":pk": s("a")}})
			return err
		}, cfg.RequestLatency},
		{"BatchGetItem", func() error {
			_, err := f.raw.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{
				f.table: {Keys: []map[string]types.AttributeValue{key("a"), key("b")}}}})
			return err
		}, cfg.RequestLatency},
		{"TransactWriteItems of 1", func() error {
			_, err := f.raw.TransactWriteItems(ctx, f.addOne("", "a"))
			return err
		}, cfg.TransactionLatency + cfg.ActionLatency},
		{"TransactWriteItems of 5", func() error {
			_, err := f.raw.TransactWriteItems(ctx, f.addOne("", "a", "b", "c", "d", "e"))
			return err
		}, cfg.TransactionLatency + 5*cfg.ActionLatency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			if got := time.Since(start); got < tt.want {
				t.Errorf("took %v, want at least %v", got, tt.want)
			}
		})
	}
}

func TestWriteUnitsComeFromItemSizes(t *testing.T) {
	f := newFixture(t, ddbdouble.Config{})
	ctx := context.Background()
	putItem := func(it map[string]types.AttributeValue) error {
		_, err := f.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: it})
		return err
	}
	txPut := func(it map[string]types.AttributeValue) error {
		_, err := f.raw.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: &f.table, Item: it}}}})
		return err
	}
	setGSI1PK := &types.Update{UpdateExpression: aws.String("SET GSI1PK = :g"), ExpressionAttributeValues: map[string]types.AttributeValue{":g": s("g-new")}}
	setX := &types.Update{UpdateExpression: aws.String("SET X = :x"), ExpressionAttributeValues: map[string]types.AttributeValue{":x": s("x")}}
	update := func(pk string, u *types.Update) error {
		_, err := f.raw.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &f.table, Key: key(pk),
			UpdateExpression: u.UpdateExpression, ExpressionAttributeValues: u.ExpressionAttributeValues})
		return err
	}
	txUpdate := func(pk string, u *types.Update) error {
		v := *u
		v.TableName, v.Key = &f.table, key(pk)
		_, err := f.raw.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{{Update: &v}}})
		return err
	}
	deleteItem := func(pk string) error {
		_, err := f.raw.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &f.table, Key: key(pk)})
		return err
	}
	txDelete := func(pk string) error {
		_, err := f.raw.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Delete: &types.Delete{TableName: &f.table, Key: key(pk)}}}})
		return err
	}

	tests := []struct {
		name                 string
		setup                func(pk string) error // not counted
		write                func(pk string) error
		wantUnits, wantIndex float64
	}{
		{"put of 1000 bytes, indexed", nil,
			func(pk string) error { return putItem(sizedItem(pk, 1000, "g")) }, 1 + 1, 1},
		{"put of 1000 bytes, indexed, in a transaction", nil,
			func(pk string) error { return txPut(sizedItem(pk, 1000, "g")) }, 2 + 1, 1},
		{"put of 1000 bytes, not indexed", nil,
			func(pk string) error { return putItem(sizedItem(pk, 1000, "")) }, 1, 0},
		{"put of 1.5 KB, indexed", nil,
			func(pk string) error { return putItem(sizedItem(pk, 1536, "g")) }, 2 + 2, 2},
		{"put of 1.5 KB, indexed, in a transaction", nil,
			func(pk string) error { return txPut(sizedItem(pk, 1536, "g")) }, 4 + 2, 2},
		{"update that changes GSI1PK removes an index entry and writes one",
			func(pk string) error { return putItem(sizedItem(pk, 500, "g")) },
			func(pk string) error { return update(pk, setGSI1PK) }, 1 + 2, 2},
		{"update that changes GSI1PK, in a transaction",
			func(pk string) error { return putItem(sizedItem(pk, 500, "g")) },
			func(pk string) error { return txUpdate(pk, setGSI1PK) }, 2 + 2, 2},
		{"update that grows an item past 1 KB costs the larger size",
			func(pk string) error { return putItem(sizedItem(pk, 1000, "")) },
			func(pk string) error {
				_, err := f.raw.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &f.table, Key: key(pk),
					UpdateExpression: aws.String("SET X = :x"), ExpressionAttributeValues: map[string]types.AttributeValue{":x": s(strings.Repeat("x", 200))}})
				return err
			}, 2, 0},
		{"update that shrinks an item below 1 KB costs the larger size",
			func(pk string) error { return putItem(sizedItem(pk, 1536, "")) },
			func(pk string) error {
				_, err := f.raw.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &f.table, Key: key(pk), UpdateExpression: aws.String("REMOVE D")})
				return err
			}, 2, 0},
		{"update of an item written around the double",
			func(pk string) error {
				_, err := f.base.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: sizedItem(pk, 1536, "g")})
				return err
			},
			func(pk string) error { return update(pk, setX) }, 2 + 2, 2},
		{"delete of an indexed item",
			func(pk string) error { return putItem(sizedItem(pk, 1000, "g")) },
			deleteItem, 1 + 1, 1},
		{"delete of an indexed item, in a transaction",
			func(pk string) error { return putItem(sizedItem(pk, 1000, "g")) },
			txDelete, 2 + 1, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pk := fmt.Sprint("item-", i)
			if tt.setup != nil {
				if err := tt.setup(pk); err != nil {
					t.Fatal(err)
				}
			}
			before := f.d.Stats("")
			if err := tt.write(pk); err != nil {
				t.Fatal(err)
			}
			got := f.d.Stats("").Sub(before)
			if got.WriteUnits != tt.wantUnits || got.IndexWriteUnits != tt.wantIndex {
				t.Errorf("WriteUnits = %v, IndexWriteUnits = %v; want %v, %v", got.WriteUnits, got.IndexWriteUnits, tt.wantUnits, tt.wantIndex)
			}
		})
	}
}

func TestNoConflictsTurnsItemLocksOff(t *testing.T) {
	f := newFixture(t, ddbdouble.Config{RequestLatency: time.Millisecond, TransactionLatency: holdFor, NoConflicts: true})
	ctx := context.Background()
	f.put(t, "a")

	done := f.hold(t, f.addOne("", "a"))
	_, errTx := f.raw.TransactWriteItems(ctx, f.addOne("", "a"))
	_, errUpdate := f.raw.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: &f.table, Key: key("a"),
		UpdateExpression: aws.String("ADD n :one"), ExpressionAttributeValues: map[string]types.AttributeValue{":one": n("1")}})
	wait(t, done)

	if errTx != nil || errUpdate != nil {
		t.Errorf("writes of a held item with NoConflicts: transaction %v, update %v; want both to succeed", errTx, errUpdate)
	}
	if got, want := f.count(t, "a"), 3; got != want {
		t.Errorf("n = %d, want %d", got, want)
	}
	if got := f.d.Stats("").Conflicts(); got != 0 {
		t.Errorf("Conflicts() = %d, want 0", got)
	}
}

func TestStatsAreCountedPerTag(t *testing.T) {
	f := newFixture(t, ddbdouble.Config{})
	ctx := context.Background()
	tagged := ddbdouble.WithTag(ctx, "x")
	getItem := func(ctx context.Context) {
		t.Helper()
		if _, err := f.raw.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: key("a")}); err != nil {
			t.Fatal(err)
		}
	}
	putItem := func(ctx context.Context) {
		t.Helper()
		if _, err := f.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: key("a")}); err != nil {
			t.Fatal(err)
		}
	}

	// Before: untagged requests, one of an operation not sent again.
	putItem(ctx)
	getItem(ctx)
	if _, err := f.raw.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &f.table, Key: key("b")}); err != nil {
		t.Fatal(err)
	}
	before := f.d.Stats("")

	putItem(tagged)
	getItem(tagged)
	getItem(ctx)

	tests := []struct {
		name         string
		got          ddbdouble.Stats
		wantRequests map[string]int
		wantWrites   int
		wantUnits    float64
	}{
		{"tag x", f.d.Stats("x"), map[string]int{"PutItem": 1, "GetItem": 1}, 1, 1},
		{"total since before", f.d.Stats("").Sub(before), map[string]int{"PutItem": 1, "GetItem": 2}, 1, 1},
		{"total", f.d.Stats(""), map[string]int{"PutItem": 2, "GetItem": 3, "DeleteItem": 1}, 3, 3},
		{"tag never used", f.d.Stats("y"), map[string]int{}, 0, 0},
		{"total since now", f.d.Stats("").Sub(f.d.Stats("")), map[string]int{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !maps.Equal(tt.got.Requests, tt.wantRequests) {
				t.Errorf("Requests = %v, want %v", tt.got.Requests, tt.wantRequests)
			}
			if got, want := tt.got.Total(), tt.got.Requests["PutItem"]+tt.got.Requests["GetItem"]+tt.got.Requests["DeleteItem"]; got != want {
				t.Errorf("Total() = %d, want %d", got, want)
			}
			if tt.got.SingleWrites != tt.wantWrites || tt.got.WriteUnits != tt.wantUnits {
				t.Errorf("SingleWrites = %d, WriteUnits = %v; want %d, %v", tt.got.SingleWrites, tt.got.WriteUnits, tt.wantWrites, tt.wantUnits)
			}
		})
	}
	if got, want := f.d.Stats("x").ReadUnits, f.d.Stats("").Sub(before).ReadUnits/2; got != want {
		t.Errorf("ReadUnits of tag x = %v, want half of the reads since before (%v)", got, want)
	}
}
