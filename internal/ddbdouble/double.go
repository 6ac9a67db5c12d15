// Package ddbdouble is a test and benchmark double of Amazon DynamoDB that
// adds to DynamoDB Local what DynamoDB Local lacks: concurrency. DynamoDB
// Local applies every transaction under one table lock, so it never shows a
// transaction conflict or a throttled partition; the double does.
//
// The double is an http.RoundTripper under the SDK client, in front of
// DynamoDB Local. It answers in DynamoDB's own wire format, so the SDK's
// error decoding and retryer see what they would see from DynamoDB, and it
// counts every HTTP request, SDK retries included. What it models, with
// AWS's documentation for each behaviour, is in docs/dynamodb-double.md:
//
//   - service latency: every request waits (Config.RequestLatency; a
//     transaction TransactionLatency + ActionLatency per action);
//   - item locks: a TransactWriteItems holds its items for its latency; a
//     second transaction that touches a held item is cancelled
//     (TransactionCanceledException, reason TransactionConflict for that
//     item, None for the others), a PutItem, UpdateItem or DeleteItem of a
//     held item fails with TransactionConflictException, and a resend of the
//     same ClientRequestToken while the first is held gets
//     TransactionInProgressException;
//   - per-partition-key budgets: write and read units per second of one
//     partition key value of the table or of an index, from item sizes;
//     beyond them requests are throttled
//     (ProvisionedThroughputExceededException with its ThrottlingReasons, or
//     reason ThrottlingError inside a transaction).
//
// Tests also use it to count and break calls: Config.Observe sees every
// request (Config.Served every answer), and Config.Fault answers the ones it picks with an error of
// DynamoDB's, a lost answer, a hang or a batch processed in part (see
// Fault).
//
// Use it as the HTTP client of the DynamoDB client:
//
//	d := ddbdouble.New(nil, ddbdouble.DefaultConfig())
//	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.HTTPClient = d.Client() })
package ddbdouble

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Config sets the double's behaviour. DefaultConfig gives the figures of
// docs/dynamodb-double.md.
type Config struct {
	// RequestLatency is how long every request other than a transaction
	// takes before it is served: single-item reads and writes, queries,
	// batches.
	RequestLatency time.Duration
	// A TransactWriteItems of n actions takes TransactionLatency + n *
	// ActionLatency, and holds its items for that long.
	TransactionLatency time.Duration
	ActionLatency      time.Duration
	// WriteUnitsPerKey and ReadUnitsPerKey are what one partition key value
	// (of the table or of an index) serves per second; 0 turns throttling
	// off.
	WriteUnitsPerKey float64
	ReadUnitsPerKey  float64
	// NoConflicts turns the item locks off, leaving latency and budgets.
	// Config{NoConflicts: true} is a double that only counts and calls
	// the hooks below: no latency, no item locks, no budgets (a resend of
	// a transaction in flight is still answered
	// TransactionInProgressException).
	NoConflicts bool

	// Observe, when set, is called with every request the double receives
	// (SDK retries included), before it is served: op is the operation
	// ("PutItem"), body the request's JSON, which it must not change. It
	// is called concurrently and may block the request.
	Observe func(op string, body []byte)
	// Served, when set, is called after the double has answered a request
	// (served, or answered with a Fault), before the answer reaches the
	// caller: what it does to the table happens after the request. It is
	// called concurrently and may block the answer.
	Served func(op string, body []byte)
	// Fault, when set, is asked about every request after Observe: a
	// Fault it returns is the answer (see Fault); nil lets the double serve
	// the request. It is called concurrently.
	Fault func(op string, body []byte) *Fault
}

// DefaultConfig returns the double's defaults: 4 ms per request, 10 ms +
// 0.3 ms per action per transaction, 1 000 write units and 3 000 read
// units per second per partition key.
func DefaultConfig() Config {
	return Config{
		RequestLatency:     4 * time.Millisecond,
		TransactionLatency: 10 * time.Millisecond,
		ActionLatency:      300 * time.Microsecond,
		WriteUnitsPerKey:   1000,
		ReadUnitsPerKey:    3000,
	}
}

// Double is the RoundTripper. Its zero value is not usable; call New.
type Double struct {
	next http.RoundTripper
	cfg  Config
	seq  atomic.Int64

	mu      sync.Mutex
	held    map[string]string // item key -> owner (token) of the transaction holding it
	buckets map[string]*bucket
	tables  map[string]*tableInfo
	shadow  map[string]shadowItem // what the double knows of stored items
	stats   map[string]*Stats     // by tag; "" is every request
}

// New returns a double that forwards to next (nil: an http.Transport made
// for many concurrent connections to one host).
func New(next http.RoundTripper, cfg Config) *Double {
	if next == nil {
		next = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        512,
			MaxIdleConnsPerHost: 512,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	return &Double{
		next: next, cfg: cfg,
		held: map[string]string{}, buckets: map[string]*bucket{}, tables: map[string]*tableInfo{},
		shadow: map[string]shadowItem{}, stats: map[string]*Stats{},
	}
}

// Client returns an HTTP client that goes through the double.
func (d *Double) Client() *http.Client { return &http.Client{Transport: d} }

// Config returns the double's configuration.
func (d *Double) Config() Config { return d.cfg }

type tagKey struct{}

// WithTag returns ctx with tag attached: the requests sent with it are
// counted under tag as well as in the total (Stats("")). Without a tag, a
// request sent from a Lambda invocation's context is counted under the
// function's name.
func WithTag(ctx context.Context, tag string) context.Context {
	return context.WithValue(ctx, tagKey{}, tag)
}

// tagOf returns the tag of a request: the one WithTag attached, or else
// the name of the Lambda function whose invocation sent it (the local
// stack gives each invocation a Lambda context).
func tagOf(ctx context.Context) string {
	if t, ok := ctx.Value(tagKey{}).(string); ok {
		return t
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		if i := strings.LastIndex(lc.InvokedFunctionArn, ":function:"); i >= 0 {
			return lc.InvokedFunctionArn[i+len(":function:"):]
		}
	}
	return ""
}

// Stats is what the double saw, for one tag or in total.
type Stats struct {
	// Requests counts every HTTP request by operation, SDK retries
	// included.
	Requests map[string]int
	// Transactions counts TransactWriteItems requests; SingleWrites counts
	// PutItem, UpdateItem and DeleteItem requests.
	Transactions, SingleWrites int
	// TransactionConflicts counts transactions cancelled with reason
	// TransactionConflict; WriteConflicts counts single writes refused with
	// TransactionConflictException.
	TransactionConflicts, WriteConflicts int
	// ConditionFailures counts transactions and writes the engine refused
	// because a condition failed.
	ConditionFailures int
	// TransactionsApplied counts the transactions the engine applied
	// (answered 200), those whose answer a Fault then replaced included.
	TransactionsApplied int
	// Throttled counts requests refused, and transactions cancelled, for
	// exceeding a partition key's budget.
	Throttled int
	// InProgress counts TransactionInProgressException answers.
	InProgress int
	// Faults counts the answers Config.Fault made: the requests it failed,
	// those served whose answer it replaced, and the batches it answered
	// in part.
	Faults int
	// WriteUnits are the write units of every write sent, from item sizes
	// (2 per KB in a transaction, 1 per KB outside; refused and cancelled
	// writes included); IndexWriteUnits is their index part (1 per KB per
	// index entry written or removed). ReadUnits are the read units
	// DynamoDB Local reported for the reads served.
	WriteUnits, IndexWriteUnits, ReadUnits float64
}

// Total is the number of requests.
func (s Stats) Total() int {
	n := 0
	for _, v := range s.Requests {
		n += v
	}
	return n
}

// Conflicts is the number of transactions cancelled and writes refused for
// a transaction conflict.
func (s Stats) Conflicts() int { return s.TransactionConflicts + s.WriteConflicts }

// Sub returns s minus before. Operations whose count comes out 0 are left
// out of Requests.
func (s Stats) Sub(before Stats) Stats {
	out := s
	out.Requests = maps.Clone(s.Requests)
	if out.Requests == nil {
		out.Requests = map[string]int{}
	}
	for k, v := range before.Requests {
		if out.Requests[k] -= v; out.Requests[k] == 0 {
			delete(out.Requests, k)
		}
	}
	out.Transactions -= before.Transactions
	out.SingleWrites -= before.SingleWrites
	out.TransactionConflicts -= before.TransactionConflicts
	out.WriteConflicts -= before.WriteConflicts
	out.ConditionFailures -= before.ConditionFailures
	out.TransactionsApplied -= before.TransactionsApplied
	out.Throttled -= before.Throttled
	out.InProgress -= before.InProgress
	out.Faults -= before.Faults
	out.WriteUnits -= before.WriteUnits
	out.IndexWriteUnits -= before.IndexWriteUnits
	out.ReadUnits -= before.ReadUnits
	return out
}

// Stats returns a copy of the counters of tag ("" for every request).
func (d *Double) Stats(tag string) Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s, ok := d.stats[tag]
	if !ok {
		return Stats{Requests: map[string]int{}}
	}
	out := *s
	out.Requests = maps.Clone(s.Requests)
	return out
}

// record applies fn to the counters of tag and of the total; d.mu is held.
func (d *Double) record(tag string, fn func(*Stats)) {
	for _, t := range []string{"", tag} {
		s, ok := d.stats[t]
		if !ok {
			s = &Stats{Requests: map[string]int{}}
			d.stats[t] = s
		}
		fn(s)
		if tag == "" {
			break
		}
	}
}

func (d *Double) recordLocked(tag string, fn func(*Stats)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.record(tag, fn)
}

// RoundTrip implements http.RoundTripper.
func (d *Double) RoundTrip(req *http.Request) (*http.Response, error) {
	op := strings.TrimPrefix(req.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	var body []byte
	if req.Body != nil {
		var err error
		body, err = io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	tag := tagOf(req.Context())
	d.recordLocked(tag, func(s *Stats) { s.Requests[op]++ })
	if d.cfg.Observe != nil {
		d.cfg.Observe(op, body)
	}
	if d.cfg.Served != nil {
		defer d.cfg.Served(op, body)
	}
	var f *Fault
	if d.cfg.Fault != nil {
		f = d.cfg.Fault(op, body)
	}
	if f == nil {
		return d.serve(req, tag, op, body)
	}
	if f.Partial != nil {
		if op == "BatchGetItem" || op == "BatchWriteItem" {
			return d.partial(req, tag, op, f.Partial, body)
		}
		return d.serve(req, tag, op, body)
	}
	if !f.After && !f.AfterAny {
		return d.inject(req, tag, f, body)
	}
	resp, err := d.serve(req, tag, op, body)
	if !f.AfterAny && (err != nil || resp.StatusCode != http.StatusOK) {
		return resp, err
	}
	if resp != nil {
		resp.Body.Close()
	}
	return d.inject(req, tag, f, body)
}

// serve serves one request as DynamoDB would, with the double's latency,
// locks and budgets.
func (d *Double) serve(req *http.Request, tag, op string, body []byte) (*http.Response, error) {
	switch op {
	case "TransactWriteItems":
		return d.transactWrite(req, tag, body)
	case "PutItem", "UpdateItem", "DeleteItem":
		return d.singleWrite(req, tag, op, body)
	case "GetItem", "Query", "BatchGetItem":
		return d.read(req, tag, op, body)
	case "BatchWriteItem":
		return d.batchWrite(req, tag, body)
	case "DeleteTable":
		var r singleRequest
		_ = json.Unmarshal(body, &r)
		d.forgetTable(r.TableName)
	}
	resp, _, err := d.forward(req, body)
	return resp, err
}

// forward sends body to DynamoDB Local and returns the response with its
// body read (and put back).
func (d *Double) forward(req *http.Request, body []byte) (*http.Response, []byte, error) {
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.ContentLength = int64(len(body))
	resp, err := d.next.RoundTrip(out)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, nil, err
	}
	resp.Body = nopCloser{bytes.NewReader(b)}
	return resp, b, nil
}

// call sends one request of the double's own (describing a table, reading
// items for their sizes) to DynamoDB Local, with req's credentials.
func (d *Double) call(req *http.Request, op string, in any) ([]byte, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	out, err := http.NewRequestWithContext(context.WithoutCancel(req.Context()), http.MethodPost, req.URL.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for _, h := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		if v := req.Header.Get(h); v != "" {
			out.Header.Set(h, v)
		}
	}
	out.Header.Set("Content-Type", "application/x-amz-json-1.0")
	out.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	resp, err := d.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ddbdouble: %s: %s: %s", op, resp.Status, b)
	}
	return b, nil
}

// errorType returns the short name of the exception in an error body.
func errorType(body []byte) string {
	var e struct {
		Type string `json:"__type"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Type[strings.LastIndexByte(e.Type, '#')+1:]
}

// sleep waits for dur or until ctx is done.
func sleep(ctx context.Context, dur time.Duration) error {
	if dur <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
