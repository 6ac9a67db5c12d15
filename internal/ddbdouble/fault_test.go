package ddbdouble_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/outdial/outdial/internal/ddbdouble"
)

// faultFixture is a fixture whose double answers with next, when set, the
// requests of next's operation.
type faultFixture struct {
	*fixture
	op   atomic.Pointer[string]
	next atomic.Pointer[ddbdouble.Fault]
}

func newFaultFixture(t *testing.T) *faultFixture {
	t.Helper()
	ff := &faultFixture{}
	ff.fixture = newFixture(t, ddbdouble.Config{NoConflicts: true, Fault: func(op string, _ []byte) *ddbdouble.Fault {
		if want := ff.op.Load(); want == nil || *want != op {
			return nil
		}
		return ff.next.Load()
	}})
	return ff
}

// arm makes the double answer every request of op with f (nil: none).
func (ff *faultFixture) arm(op string, f *ddbdouble.Fault) {
	ff.op.Store(&op)
	ff.next.Store(f)
}

// status returns the HTTP status of the answer that failed with err, or 0.
func status(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// timeout reports whether err is a network timeout.
func timeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

func TestFaultAnswersInsteadOfServing(t *testing.T) {
	ff := newFaultFixture(t)
	put := func(ctx context.Context, pk string) error {
		_, err := ff.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: &ff.table, Item: key(pk)})
		return err
	}
	tests := []struct {
		name  string
		fault ddbdouble.Fault
		check func(t *testing.T, err error)
	}{
		{"throttling", ddbdouble.Fault{Type: "ThrottlingException"}, func(t *testing.T, err error) {
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ThrottlingException" || status(err) != http.StatusBadRequest {
				t.Errorf("%v (status %d), want a ThrottlingException with status 400", err, status(err))
			}
		}},
		{"capacity", ddbdouble.Fault{Type: "ProvisionedThroughputExceededException", Message: "too much"}, func(t *testing.T, err error) {
			var pte *types.ProvisionedThroughputExceededException
			if !errors.As(err, &pte) || pte.ErrorMessage() != "too much" {
				t.Errorf("%v, want a ProvisionedThroughputExceededException with message %q", err, "too much")
			}
		}},
		{"validation", ddbdouble.Fault{Type: "ValidationException"}, func(t *testing.T, err error) {
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != "ValidationException" || status(err) != http.StatusBadRequest {
				t.Errorf("%v (status %d), want a ValidationException with status 400", err, status(err))
			}
		}},
		{"internal", ddbdouble.Fault{Type: "InternalServerError"}, func(t *testing.T, err error) {
			var ise *types.InternalServerError
			if !errors.As(err, &ise) || status(err) != http.StatusInternalServerError {
				t.Errorf("%v (status %d), want an InternalServerError with status 500", err, status(err))
			}
		}},
		{"timeout", ddbdouble.Fault{Err: ddbdouble.ErrTimeout}, func(t *testing.T, err error) {
			if !timeout(err) {
				t.Errorf("%v, want a timeout", err)
			}
		}},
		{"hang", ddbdouble.Fault{Hang: true}, func(t *testing.T, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%v, want the context's deadline", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ff.arm("PutItem", &tt.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			before := ff.d.Stats("")
			err := put(ctx, tt.name)
			got := ff.d.Stats("").Sub(before)
			ff.arm("", nil)
			tt.check(t, err)
			if it := ff.get(t, tt.name); it != nil {
				t.Errorf("the refused put was written: %v", it)
			}
			if got.Faults != 1 || got.Requests["PutItem"] != 1 || got.SingleWrites != 0 {
				t.Errorf("Faults = %d, PutItem requests = %d, SingleWrites = %d; want 1, 1, 0 (counted, not served)", got.Faults, got.Requests["PutItem"], got.SingleWrites)
			}
			if err := put(context.Background(), tt.name); err != nil {
				t.Errorf("put once disarmed: %v", err)
			}
		})
	}
}

func TestFaultCancelsATransactionWithItsReasons(t *testing.T) {
	ff := newFaultFixture(t)
	ff.put(t, "a", "b", "c")
	ff.arm("TransactWriteItems", &ddbdouble.Fault{Type: "TransactionCanceledException", Reasons: []string{"None", "ThrottlingError"}})
	_, err := ff.raw.TransactWriteItems(context.Background(), ff.addOne("", "a", "b", "c"))
	ff.arm("", nil)
	if got, want := reasonCodes(err), []string{"None", "ThrottlingError", "None"}; !slices.Equal(got, want) {
		t.Errorf("reasons %v (error %v), want %v", got, err, want)
	}
	for _, pk := range []string{"a", "b", "c"} {
		if got := ff.count(t, pk); got != 0 {
			t.Errorf("n of %s = %d, want 0 (cancelled)", pk, got)
		}
	}
}

func TestFaultAfterAppliesTheWriteAndLosesItsAnswer(t *testing.T) {
	ff := newFaultFixture(t)
	ff.put(t, "a", "b")
	ctx := context.Background()

	ff.arm("TransactWriteItems", &ddbdouble.Fault{After: true, Err: ddbdouble.ErrTimeout})
	_, err := ff.raw.TransactWriteItems(ctx, ff.addOne("", "a"))
	if !timeout(err) || ff.count(t, "a") != 1 {
		t.Errorf("timeout after the write: %v, n = %d; want a timeout and n = 1", err, ff.count(t, "a"))
	}

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	ff.arm("TransactWriteItems", &ddbdouble.Fault{After: true, Hang: true})
	_, err = ff.raw.TransactWriteItems(short, ff.addOne("", "b"))
	if !errors.Is(err, context.DeadlineExceeded) || ff.count(t, "b") != 1 {
		t.Errorf("hang after the write: %v, n = %d; want the deadline and n = 1", err, ff.count(t, "b"))
	}

	// A write that fails keeps its answer: only an applied write's is lost
	// (the hang would last until the deadline).
	bounded, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	before := ff.d.Stats("")
	in := ff.addOne("", "a")
	in.TransactItems[0].Update.ConditionExpression = aws.String("attribute_not_exists(PK)")
	_, err = ff.raw.TransactWriteItems(bounded, in)
	if got := reasonCodes(err); !slices.Equal(got, []string{"ConditionalCheckFailed"}) {
		t.Errorf("failed write with a fault after it: %v, want its own cancellation (ConditionalCheckFailed)", err)
	}
	if got := ff.d.Stats("").Sub(before); got.Faults != 0 || got.ConditionFailures != 1 {
		t.Errorf("Faults = %d, ConditionFailures = %d; want 0, 1", got.Faults, got.ConditionFailures)
	}
	if got := ff.d.Stats(""); got.Faults != 2 {
		t.Errorf("Faults = %d in all, want 2", got.Faults)
	}
}

// The SDK's retryer is above the double: it resends a retryable fault,
// and Observe sees every attempt, with its body.
func TestObserveSeesEveryAttempt(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string // op and table of each request
	)
	var throttles atomic.Int64
	throttles.Store(2)
	f := newFixture(t, ddbdouble.Config{NoConflicts: true,
		Observe: func(op string, body []byte) {
			var r struct{ TableName string }
			_ = json.Unmarshal(body, &r)
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, op+" "+r.TableName)
		},
		Fault: func(op string, _ []byte) *ddbdouble.Fault {
			if op == "PutItem" && throttles.Add(-1) >= 0 {
				return &ddbdouble.Fault{Type: "ThrottlingException"}
			}
			return nil
		},
	})
	ctx := context.Background()
	if _, err := f.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: key("a")}); err != nil {
		t.Fatalf("put with the SDK's retryer through two throttles: %v", err)
	}
	if _, err := f.c.GetItem(ctx, &dynamodb.GetItemInput{TableName: &f.table, Key: key("a")}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := slices.Clone(seen)
	mu.Unlock()
	p, g := "PutItem "+f.table, "GetItem "+f.table
	if want := []string{p, p, p, g}; !slices.Equal(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
	if st := f.d.Stats(""); st.Requests["PutItem"] != 3 || st.Faults != 2 || st.SingleWrites != 1 {
		t.Errorf("PutItem requests = %d, Faults = %d, SingleWrites = %d; want 3, 2, 1", st.Requests["PutItem"], st.Faults, st.SingleWrites)
	}
	if f.get(t, "a") == nil {
		t.Error("the put was not written")
	}
}

// Served is called after the request is served: a write is in the table
// by then, and a write Served makes lands after the request (a read
// answers what was there before it).
func TestServedComesAfterTheRequest(t *testing.T) {
	var f *fixture
	var once sync.Once
	f = newFixture(t, ddbdouble.Config{NoConflicts: true,
		Served: func(op string, _ []byte) {
			if op != "PutItem" {
				return
			}
			once.Do(func() {
				if f.get(t, "a") == nil {
					t.Error("Served of a PutItem: the item is not written yet")
				}
				if _, err := f.base.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: &f.table, Item: key("b")}); err != nil {
					t.Error(err)
				}
			})
		},
	})
	ctx := context.Background()
	if _, err := f.c.PutItem(ctx, &dynamodb.PutItemInput{TableName: &f.table, Item: key("a")}); err != nil {
		t.Fatal(err)
	}
	if f.get(t, "b") == nil {
		t.Error("the put Served made is not in the table")
	}
}

// An error answer is lost too with AfterAny: the caller sees the fault,
// not the failed condition, and the engine did refuse the write.
func TestFaultAfterAnyLosesAnErrorAnswerToo(t *testing.T) {
	ff := newFaultFixture(t)
	ff.put(t, "a")
	ctx := context.Background()
	conditional := func(pk string) *dynamodb.PutItemInput {
		it := key(pk)
		it["n"] = n("5")
		return &dynamodb.PutItemInput{TableName: &ff.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")}
	}

	ff.arm("PutItem", &ddbdouble.Fault{AfterAny: true, Err: ddbdouble.ErrTimeout})
	before := ff.d.Stats("")
	_, err := ff.raw.PutItem(ctx, conditional("a"))
	got := ff.d.Stats("").Sub(before)
	if !timeout(err) {
		t.Errorf("failed condition under AfterAny: %v, want a timeout (the answer lost)", err)
	}
	if got.Faults != 1 || got.ConditionFailures != 1 || got.SingleWrites != 1 {
		t.Errorf("Faults = %d, ConditionFailures = %d, SingleWrites = %d; want 1, 1, 1 (served, refused, its answer lost)", got.Faults, got.ConditionFailures, got.SingleWrites)
	}
	if c := ff.count(t, "a"); c != 0 {
		t.Errorf("n of a = %d, want 0: the condition failed", c)
	}

	// A write that succeeds is applied and its answer lost, as with After.
	_, err = ff.raw.PutItem(ctx, conditional("b"))
	if !timeout(err) || ff.count(t, "b") != 5 {
		t.Errorf("applied write under AfterAny: %v, b = %v; want a timeout and b written", err, ff.get(t, "b"))
	}

	// The same failed condition with After keeps its answer.
	ff.arm("PutItem", &ddbdouble.Fault{After: true, Err: ddbdouble.ErrTimeout})
	_, err = ff.raw.PutItem(ctx, conditional("a"))
	ff.arm("", nil)
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Errorf("failed condition under After: %v, want its ConditionalCheckFailedException", err)
	}
}

// batchGet returns a BatchGetItem of the keys of pks, strongly consistent,
// projected on PK and n.
func (ff *faultFixture) batchGet(pks ...string) *dynamodb.BatchGetItemInput {
	ka := types.KeysAndAttributes{ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("PK, #n"), ExpressionAttributeNames: map[string]string{"#n": "n"}}
	for _, pk := range pks {
		ka.Keys = append(ka.Keys, key(pk))
	}
	return &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{ff.table: ka}}
}

// pksOf returns the PK of each item or key.
func pksOf(items []map[string]types.AttributeValue) []string {
	out := []string{}
	for _, it := range items {
		if v, ok := it["PK"].(*types.AttributeValueMemberS); ok {
			out = append(out, v.Value)
		}
	}
	return out
}

func TestFaultPartialBatchGetItem(t *testing.T) {
	ff := newFaultFixture(t)
	ff.put(t, "a", "b", "c", "d", "e")
	ctx := context.Background()
	for _, tc := range []struct {
		name            string
		serve           int
		read, withheld  []string
		faults          int
		readUnitsServed bool
	}{
		{"first two", 2, []string{"a", "b"}, []string{"c", "d", "e"}, 1, true},
		{"none", 0, []string{}, []string{"a", "b", "c", "d", "e"}, 1, false},
		{"all", 7, []string{"a", "b", "c", "d", "e"}, []string{}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			var mu sync.Mutex
			ff.arm("BatchGetItem", &ddbdouble.Fault{Partial: func(table string, n int) int {
				mu.Lock()
				defer mu.Unlock()
				asked = append(asked, fmt.Sprintf("%s %d", table, n))
				return tc.serve
			}})
			before := ff.d.Stats("")
			out, err := ff.raw.BatchGetItem(ctx, ff.batchGet("a", "b", "c", "d", "e"))
			got := ff.d.Stats("").Sub(before)
			ff.arm("", nil)
			if err != nil {
				t.Fatalf("BatchGetItem answered in part: %v, want success", err)
			}
			if want := []string{ff.table + " 5"}; !slices.Equal(asked, want) {
				t.Errorf("Partial asked %v, want %v", asked, want)
			}
			read := pksOf(out.Responses[ff.table])
			slices.Sort(read)
			if !slices.Equal(read, tc.read) {
				t.Errorf("read %v, want %v", read, tc.read)
			}
			for _, it := range out.Responses[ff.table] {
				if _, ok := it["SK"]; ok || it["n"] == nil {
					t.Errorf("item %v not projected on PK, n", it)
				}
			}
			u, ok := out.UnprocessedKeys[ff.table]
			if got := pksOf(u.Keys); !slices.Equal(got, tc.withheld) {
				t.Errorf("unprocessed %v, want %v (in the order sent)", got, tc.withheld)
			}
			if len(tc.withheld) == 0 && ok {
				t.Errorf("UnprocessedKeys has the table with nothing withheld: %+v", u)
			}
			if len(tc.withheld) > 0 && (!aws.ToBool(u.ConsistentRead) || aws.ToString(u.ProjectionExpression) != "PK, #n" || u.ExpressionAttributeNames["#n"] != "n") {
				t.Errorf("unprocessed keys lost their parameters: consistent %v, projection %q, names %v", aws.ToBool(u.ConsistentRead), aws.ToString(u.ProjectionExpression), u.ExpressionAttributeNames)
			}
			if got.Faults != tc.faults || got.Requests["BatchGetItem"] != 1 {
				t.Errorf("Faults = %d, BatchGetItem requests = %d; want %d, 1", got.Faults, got.Requests["BatchGetItem"], tc.faults)
			}
			if (got.ReadUnits > 0) != tc.readUnitsServed {
				t.Errorf("ReadUnits = %v: the engine read %v, want %v", got.ReadUnits, got.ReadUnits > 0, tc.readUnitsServed)
			}
			// The unprocessed keys, sent again as they are, are read.
			if len(u.Keys) > 0 {
				again, err := ff.raw.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: out.UnprocessedKeys})
				if err != nil {
					t.Fatal(err)
				}
				got := pksOf(again.Responses[ff.table])
				slices.Sort(got)
				if !slices.Equal(got, tc.withheld) || len(again.UnprocessedKeys) != 0 {
					t.Errorf("the unprocessed keys sent again read %v (unprocessed %v), want %v", got, again.UnprocessedKeys, tc.withheld)
				}
			}
		})
	}
}

func TestFaultPartialBatchWriteItem(t *testing.T) {
	ff := newFaultFixture(t)
	ff.put(t, "x", "y")
	ctx := context.Background()
	var reqs []types.WriteRequest
	for _, pk := range []string{"a", "b", "c"} {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: key(pk)}})
	}
	for _, pk := range []string{"x", "y"} {
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key(pk)}})
	}
	in := &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{ff.table: reqs}}
	exists := func(pks ...string) []string {
		var out []string
		for _, pk := range pks {
			if ff.get(t, pk) != nil {
				out = append(out, pk)
			}
		}
		return out
	}

	// Partial on another operation: served whole, no fault.
	ff.arm("PutItem", &ddbdouble.Fault{Partial: func(string, int) int { return 0 }})
	if _, err := ff.raw.PutItem(ctx, &dynamodb.PutItemInput{TableName: &ff.table, Item: key("z")}); err != nil || ff.get(t, "z") == nil || ff.d.Stats("").Faults != 0 {
		t.Errorf("PutItem under a Partial fault: %v, written %v, Faults %d; want served, no fault", err, ff.get(t, "z") != nil, ff.d.Stats("").Faults)
	}

	ff.arm("BatchWriteItem", &ddbdouble.Fault{Partial: func(string, int) int { return 2 }})
	before := ff.d.Stats("")
	out, err := ff.raw.BatchWriteItem(ctx, in)
	got := ff.d.Stats("").Sub(before)
	if err != nil {
		t.Fatalf("BatchWriteItem answered in part: %v, want success", err)
	}
	if got := exists("a", "b", "c", "x", "y"); !slices.Equal(got, []string{"a", "b", "x", "y"}) {
		t.Errorf("after the partial batch %v exist, want a, b (written), x, y (not deleted)", got)
	}
	left := out.UnprocessedItems[ff.table]
	if len(left) != 3 || left[0].PutRequest == nil || pksOf([]map[string]types.AttributeValue{left[0].PutRequest.Item})[0] != "c" ||
		left[1].DeleteRequest == nil || left[2].DeleteRequest == nil || !slices.Equal(pksOf([]map[string]types.AttributeValue{left[1].DeleteRequest.Key, left[2].DeleteRequest.Key}), []string{"x", "y"}) {
		t.Errorf("unprocessed %+v, want the put of c and the deletes of x, y, as sent", left)
	}
	if got.Faults != 1 || got.Requests["BatchWriteItem"] != 1 {
		t.Errorf("Faults = %d, BatchWriteItem requests = %d; want 1, 1", got.Faults, got.Requests["BatchWriteItem"])
	}

	// Nothing processed: nothing written, everything unprocessed.
	ff.arm("BatchWriteItem", &ddbdouble.Fault{Partial: func(string, int) int { return 0 }})
	out, err = ff.raw.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: out.UnprocessedItems})
	if err != nil || len(out.UnprocessedItems[ff.table]) != 3 {
		t.Fatalf("BatchWriteItem with nothing processed: %v, %d unprocessed; want success, 3", err, len(out.UnprocessedItems[ff.table]))
	}
	if got := exists("c", "x", "y"); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("after a batch with nothing processed %v exist, want x, y", got)
	}

	// Sent again without the fault, the rest is done.
	ff.arm("", nil)
	out, err = ff.raw.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: out.UnprocessedItems})
	if err != nil || len(out.UnprocessedItems) != 0 {
		t.Fatalf("the unprocessed requests sent again: %v, unprocessed %v", err, out.UnprocessedItems)
	}
	if got := exists("a", "b", "c", "x", "y"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("in the end %v exist, want a, b, c", got)
	}
}
