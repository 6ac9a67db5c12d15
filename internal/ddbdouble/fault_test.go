package ddbdouble_test

import (
	"context"
	"encoding/json"
	"errors"
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
