package ddbdouble

import (
	"encoding/json"
	"net/http"
)

// Fault is an answer Config.Fault gives a request in the double's stead.
// By default the request is not served: the answer is an error of
// DynamoDB's JSON protocol, the exception Type (for example
// "ThrottlingException", "ValidationException") with Message, at once.
// The SDK decodes it as it decodes DynamoDB's, and its retryer, which sits
// above the double, retries it when the code is retryable: a test that
// must see the error once injects it on every attempt or turns the
// client's retries off (aws.NopRetryer).
type Fault struct {
	// Status is the HTTP status; 0 is 400, or 500 for InternalServerError
	// and 503 for ServiceUnavailable.
	Status  int
	Type    string
	Message string
	// Reasons are, for a TransactionCanceledException, the cancellation
	// reason codes of the first actions of the transaction (for example
	// "TransactionConflict", "ThrottlingError"); the other actions get
	// "None". Its message is DynamoDB's, made of the codes; Message is
	// not used.
	Reasons []string
	// Err, when not nil, fails the request on its way instead: no answer
	// comes, the HTTP client returns Err (ErrTimeout: a network timeout).
	Err error
	// Hang holds the request, instead of answering, until its context is
	// done, and then fails it with the context's error: a request in
	// flight when the caller's deadline passes.
	Hang bool
	// After serves the request first, as without the fault. When it
	// succeeds (a write is applied), its answer is lost: the fault is
	// answered instead. An error answer is returned as it is, and not
	// counted as a fault.
	After bool
	// AfterAny is After whatever comes of the request: its answer is
	// lost even when it is an error (a failed condition, a throttle), or
	// when none came, and the fault is answered instead. The network
	// loses an answer without looking at it.
	AfterAny bool
	// Partial, when set, answers a BatchGetItem or BatchWriteItem in
	// part, as DynamoDB does when it cannot process all of a batch
	// (throttled partitions, an internal failure, the 16 MB answer limit
	// of BatchGetItem): of the n keys (BatchGetItem) or write requests
	// (BatchWriteItem) of each table, the double serves the first
	// Partial(table, n) (0 to n) and returns the others, as they were
	// sent, in UnprocessedKeys (with the table's ProjectionExpression,
	// ConsistentRead and other parameters) or UnprocessedItems of a
	// successful answer; what it withheld is neither read nor written.
	// When it withholds everything, nothing is served and the answer
	// lists every key or request as unprocessed (DynamoDB answers
	// ProvisionedThroughputExceededException instead when throttling alone
	// leaves nothing processed: use Type for that). An answer that
	// withholds something counts as a fault. The other fields are not
	// used; on any other operation the request is served as without a
	// fault.
	Partial func(table string, n int) int
}

// ErrTimeout is a network timeout as the HTTP client reports one (its
// Timeout() is true): Fault{Err: ErrTimeout} is a request whose answer
// never came.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "ddbdouble: read tcp: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// inject answers req with f and counts it.
func (d *Double) inject(req *http.Request, tag string, f *Fault, body []byte) (*http.Response, error) {
	d.recordLocked(tag, func(s *Stats) { s.Faults++ })
	switch {
	case f.Hang:
		<-req.Context().Done()
		return nil, req.Context().Err()
	case f.Err != nil:
		return nil, f.Err
	}
	status := f.Status
	if status == 0 {
		switch f.Type {
		case "InternalServerError":
			status = http.StatusInternalServerError
		case "ServiceUnavailable":
			status = http.StatusServiceUnavailable
		default:
			status = http.StatusBadRequest
		}
	}
	if f.Type != "TransactionCanceledException" {
		msg := f.Message
		if msg == "" {
			msg = "ddbdouble: injected " + f.Type
		}
		return d.response(req, status, simpleError(f.Type, msg)), nil
	}
	var tw transactWrite
	_ = json.Unmarshal(body, &tw)
	reasons := make([]cancellationReason, max(len(tw.TransactItems), len(f.Reasons)))
	for i := range reasons {
		reasons[i].Code = reasonNone
		if i < len(f.Reasons) {
			reasons[i].Code = f.Reasons[i]
		}
		switch reasons[i].Code {
		case reasonConflict:
			reasons[i].Message = msgConflict
		case reasonThrottling:
			reasons[i].Message = msgThrottling
		}
	}
	return d.response(req, status, cancelled(reasons)), nil
}
