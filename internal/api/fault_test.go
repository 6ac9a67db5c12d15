package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/api"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outdial"
)

// faultKind is one failure of a DynamoDB call that DynamoDB Local cannot
// produce on demand.
type faultKind string

const (
	faultThrottle     faultKind = "throttling"    // ThrottlingException, nothing done
	faultCapacity     faultKind = "capacity"      // ProvisionedThroughputExceededException, nothing done
	faultRequestLimit faultKind = "request_limit" // RequestLimitExceeded, nothing done
	faultTimeout      faultKind = "timeout"       // a network timeout (Timeout() true) before DynamoDB saw the call
	faultDeadline     faultKind = "deadline"      // context.DeadlineExceeded before DynamoDB saw the call
	faultConflict     faultKind = "conflict"      // TransactionCanceledException{TransactionConflict} (TransactWriteItems) or TransactionConflictException, nothing done
	faultInternal     faultKind = "internal"      // InternalServerError, nothing done
	faultLostReply    faultKind = "lost_reply"    // the call runs on DynamoDB, its reply is lost: the caller sees a timeout
	faultUnprocessed  faultKind = "unprocessed"   // BatchGetItem: no error, every key comes back unprocessed
	faultPartial      faultKind = "partial"       // BatchGetItem: no error, only the first half of the keys is read
)

// faultReadKinds can hit any call; faultWriteKinds only calls that write.
var (
	faultReadKinds  = []faultKind{faultThrottle, faultCapacity, faultRequestLimit, faultTimeout, faultDeadline, faultInternal}
	faultWriteKinds = append(append([]faultKind(nil), faultReadKinds...), faultConflict, faultLostReply)
)

// faultFullCheck are the kinds whose cases each get a fresh state and
// check it all before and after the fault. The others take the same paths
// in the store (a retryable error, nothing written): they run together on
// one state per route and operation (faultLightGroup), which must stay
// consistent, and each must answer 503.
var faultFullCheck = map[faultKind]bool{faultThrottle: true, faultLostReply: true}

// faultWriteOps are the dynamo.API operations that change the table.
var faultWriteOps = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true, "TransactWriteItems": true}

// faultRule says which calls fail, and how.
type faultRule struct {
	op    string         // operation, e.g. "TransactWriteItems"
	kind  faultKind      // what happens to it
	first int            // fail only the first n matching calls; 0: every one
	match func(any) bool // which inputs of op match; nil: all
}

// faultDB is a dynamo.API around the real DynamoDB Local client that
// injects the faults of its rule and counts every call per operation.
type faultDB struct {
	dynamo.API

	mu       sync.Mutex
	rule     *faultRule
	matched  int            // calls that matched the rule since arm
	calls    map[string]int // calls per operation since arm
	injected int            // faults injected since arm
}

// arm installs r (nil: no faults) and resets the counters.
func (f *faultDB) arm(r *faultRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rule, f.matched, f.calls, f.injected = r, 0, map[string]int{}, 0
}

// stats returns the calls per operation and the faults injected since arm.
func (f *faultDB) stats() (map[string]int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	calls := make(map[string]int, len(f.calls))
	for k, v := range f.calls {
		calls[k] = v
	}
	return calls, f.injected
}

// decide counts one call of op and returns its fault ("" for none).
func (f *faultDB) decide(op string, in any) faultKind {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	r := f.rule
	if r == nil || r.op != op || (r.match != nil && !r.match(in)) {
		return ""
	}
	f.matched++
	if r.first > 0 && f.matched > r.first {
		return ""
	}
	f.injected++
	return r.kind
}

// faultTimeoutError is a network timeout as the SDK's HTTP client reports one.
type faultTimeoutError struct{}

func (faultTimeoutError) Error() string {
	return "read tcp 127.0.0.1:40000->127.0.0.1:8000: i/o timeout"
}
func (faultTimeoutError) Timeout() bool   { return true }
func (faultTimeoutError) Temporary() bool { return true }

// faultErr returns the error of kind k for a call of op with input in,
// wrapped the way the SDK wraps every error of an operation.
func faultErr(op string, k faultKind, in any) error {
	var err error
	switch k {
	case faultThrottle:
		err = &types.ThrottlingException{Message: aws.String("Rate of requests exceeds the allowed throughput.")}
	case faultCapacity:
		err = &types.ProvisionedThroughputExceededException{Message: aws.String("The level of configured provisioned throughput for the table was exceeded.")}
	case faultRequestLimit:
		err = &types.RequestLimitExceeded{Message: aws.String("Throughput exceeds the current throughput limit for your account.")}
	case faultTimeout, faultLostReply:
		err = faultTimeoutError{}
	case faultDeadline:
		err = fmt.Errorf("send request: %w", context.DeadlineExceeded)
	case faultInternal:
		err = &types.InternalServerError{Message: aws.String("Internal server error")}
	case faultConflict:
		if tx, ok := in.(*dynamodb.TransactWriteItemsInput); ok {
			reasons := make([]types.CancellationReason, len(tx.TransactItems))
			for i := range reasons {
				reasons[i].Code = aws.String("None")
			}
			reasons[0].Code = aws.String("TransactionConflict")
			reasons[0].Message = aws.String("Transaction is ongoing for the item")
			err = &types.TransactionCanceledException{Message: aws.String("Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]"), CancellationReasons: reasons}
		} else {
			err = &types.TransactionConflictException{Message: aws.String("Transaction is ongoing for the item")}
		}
	default:
		panic("unknown fault " + k)
	}
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: op, Err: err}
}

// faultCall runs one call of op through f's rule: real runs the call on
// DynamoDB Local.
func faultCall[O any](f *faultDB, op string, in any, real func() (*O, error)) (*O, error) {
	k := f.decide(op, in)
	if k == "" {
		return real()
	}
	if k == faultLostReply {
		// The request reaches DynamoDB and does whatever it does; the
		// reply never comes back.
		_, _ = real()
	}
	return nil, faultErr(op, k, in)
}

func (f *faultDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return faultCall(f, "GetItem", in, func() (*dynamodb.GetItemOutput, error) { return f.API.GetItem(ctx, in, opts...) })
}

func (f *faultDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return faultCall(f, "PutItem", in, func() (*dynamodb.PutItemOutput, error) { return f.API.PutItem(ctx, in, opts...) })
}

func (f *faultDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return faultCall(f, "UpdateItem", in, func() (*dynamodb.UpdateItemOutput, error) { return f.API.UpdateItem(ctx, in, opts...) })
}

func (f *faultDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return faultCall(f, "DeleteItem", in, func() (*dynamodb.DeleteItemOutput, error) { return f.API.DeleteItem(ctx, in, opts...) })
}

func (f *faultDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return faultCall(f, "Query", in, func() (*dynamodb.QueryOutput, error) { return f.API.Query(ctx, in, opts...) })
}

// BatchGetItem also answers partial results: DynamoDB throttles a batch
// read by returning keys unprocessed rather than failing it.
func (f *faultDB) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	real := func() (*dynamodb.BatchGetItemOutput, error) { return f.API.BatchGetItem(ctx, in, opts...) }
	f.mu.Lock()
	r := f.rule
	f.mu.Unlock()
	if r == nil || r.op != "BatchGetItem" || (r.kind != faultUnprocessed && r.kind != faultPartial) {
		return faultCall(f, "BatchGetItem", in, real)
	}
	if f.decide("BatchGetItem", in) == "" {
		return real()
	}
	read := map[string]types.KeysAndAttributes{}
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}, UnprocessedKeys: map[string]types.KeysAndAttributes{}}
	for table, ka := range in.RequestItems {
		n := 0
		if r.kind == faultPartial {
			n = (len(ka.Keys) + 1) / 2
		}
		head, tail := ka, ka
		head.Keys, tail.Keys = ka.Keys[:n], ka.Keys[n:]
		if len(head.Keys) > 0 {
			read[table] = head
		}
		if len(tail.Keys) > 0 {
			out.UnprocessedKeys[table] = tail
		}
	}
	if len(read) == 0 {
		return out, nil
	}
	got, err := f.API.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: read}, opts...)
	if err != nil {
		return nil, err
	}
	for table, items := range got.Responses {
		out.Responses[table] = append(out.Responses[table], items...)
	}
	for table, ka := range got.UnprocessedKeys {
		u := out.UnprocessedKeys[table]
		u.Keys = append(u.Keys, ka.Keys...)
		if u.ConsistentRead == nil {
			u.ConsistentRead = ka.ConsistentRead
		}
		out.UnprocessedKeys[table] = u
	}
	return out, nil
}

func (f *faultDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	return faultCall(f, "BatchWriteItem", in, func() (*dynamodb.BatchWriteItemOutput, error) { return f.API.BatchWriteItem(ctx, in, opts...) })
}

func (f *faultDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	return faultCall(f, "TransactWriteItems", in, func() (*dynamodb.TransactWriteItemsOutput, error) { return f.API.TransactWriteItems(ctx, in, opts...) })
}

var _ dynamo.API = (*faultDB)(nil)

// faultTable is one DynamoDB Local table shared by the fault tests of a
// test function; every case works under a customer of its own.
type faultTable struct {
	client *dynamodb.Client
	name   string
	root   string
}

func newFaultTable(t *testing.T) *faultTable {
	t.Helper()
	client, name := dynamotest.Table(t)
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return &faultTable{client: client, name: name, root: root}
}

// faultEnv is one fault case: a customer of its own, handlers on a faultDB
// (faulty) and on the plain client (clean, for setup and checks).
type faultEnv struct {
	t      *testing.T
	ctx    context.Context
	tab    *faultTable
	cust   string
	db     *faultDB
	purges *recordingPurger
	faulty *apiHarness
	clean  *apiHarness

	outdialID string   // the outdial the route works on
	targetIDs []string // its targets, in import order
}

// env returns a case of its own on the table, with no fault armed.
func (tab *faultTable) env(t *testing.T) *faultEnv {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &faultEnv{t: t, ctx: ctx, tab: tab, cust: uuid.NewString(), db: &faultDB{API: tab.client}, purges: &recordingPurger{}}
	e.faulty = e.harness(e.db, 0)
	e.clean = e.harness(tab.client, 0)
	return e
}

// harness returns handlers over db whose clock runs shift ahead of the
// real one.
func (e *faultEnv) harness(db dynamo.API, shift time.Duration) *apiHarness {
	store := dynamo.New(db, e.tab.name)
	now := time.Now
	if shift != 0 {
		now = func() time.Time { return time.Now().Add(shift) }
		store = store.WithClock(now)
	}
	return &apiHarness{
		t: e.t, ctx: e.ctx, store: store, root: e.tab.root,
		h: &api.Handlers{
			Store:  store,
			Pages:  apigw.NewPageTokens([]byte("api fault test page secret")),
			Log:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			Now:    now,
			Purges: e.purges,
		},
	}
}

// req builds the request of fixture for the env's customer and outdial.
func (e *faultEnv) req(fixture, body string) apigw.Request {
	e.t.Helper()
	r := e.clean.event(fixture, e.cust, e.outdialID)
	if body != "" {
		r.Body = body
		r.IsBase64Encoded = false
	}
	if r.PathParameters != nil {
		if _, ok := r.PathParameters["target_id"]; ok && len(e.targetIDs) > 0 {
			r.PathParameters["target_id"] = e.targetIDs[0]
		}
	}
	return r
}

// call runs fixture's handler of h on r and fails the test if it returns
// an error (API Gateway would answer 502).
func (e *faultEnv) call(h *apiHarness, fixture string, r apigw.Request) apigw.Response {
	e.t.Helper()
	resp, err := h.handler(fixture)(e.ctx, r)
	if err != nil {
		e.t.Fatalf("%s returned an error: %v", fixture, err)
	}
	return resp
}

// okJSON wants 200 from resp and decodes its body into v.
func (e *faultEnv) okJSON(what string, resp apigw.Response, v any) {
	e.t.Helper()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("%s: status %d, want 200; body %s", what, resp.StatusCode, resp.Body)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(resp.Body), v); err != nil {
			e.t.Fatalf("%s: decode %s: %v", what, resp.Body, err)
		}
	}
}

// createOutdial creates an outdial of the env's customer (clean) and makes
// it the env's outdial.
func (e *faultEnv) createOutdial(name string) *outdial.Outdial {
	e.t.Helper()
	var o outdial.Outdial
	e.okJSON("create outdial", e.call(e.clean, "create-outdial", e.clean.event("create-outdial", e.cust, "")), &o)
	if name != "" {
		r := e.clean.event("update-outdial", e.cust, o.ID)
		r.Body = fmt.Sprintf(`{"name": %q}`, name)
		e.okJSON("name outdial", e.call(e.clean, "update-outdial", r), &o)
	}
	e.outdialID = o.ID
	return &o
}

// faultTels are the numbers the cases import: they fall in several shards.
var faultTels = []string{"+15550000001", "+15550000002", "+15550000003", "+15550000004", "+15550000005", "+15550000006"}

// faultBatch is an import of faultTels plus a row repeating the first.
func faultBatch() string {
	var rows []string
	for _, tel := range append(faultTels, faultTels[0]) {
		rows = append(rows, fmt.Sprintf(`{"destination": {"type": "tel", "target": %q}, "try_count_max": 3}`, tel))
	}
	return `{"targets": [` + strings.Join(rows, ", ") + `]}`
}

// importTargets imports faultTels into the env's outdial through h.
func (e *faultEnv) importTargets(h *apiHarness) api.ImportResponse {
	e.t.Helper()
	var res api.ImportResponse
	e.okJSON("import", e.call(h, "add-targets", e.req("add-targets", faultBatch())), &res)
	if res.Created != len(faultTels) {
		e.t.Fatalf("setup import created %d, want %d: %+v", res.Created, len(faultTels), res)
	}
	e.targetIDs = nil
	for _, c := range res.CreatedTargets {
		e.targetIDs = append(e.targetIDs, c.TargetID)
	}
	return res
}

// status returns the HTTP status of fixture for the env's outdial (clean).
func (e *faultEnv) status(fixture string) int {
	e.t.Helper()
	return e.call(e.clean, fixture, e.req(fixture, "")).StatusCode
}

// outdials lists the customer's outdials (clean, every page).
func (e *faultEnv) outdials() []*outdial.Outdial {
	e.t.Helper()
	var out []*outdial.Outdial
	token := ""
	for page := 0; page < 100; page++ {
		r := e.clean.event("list-outdials", e.cust, "")
		r.QueryStringParameters = map[string]string{"page_size": "2"}
		if token != "" {
			r.QueryStringParameters["page_token"] = token
		}
		var list apigw.List[*outdial.Outdial]
		e.okJSON("list outdials", e.call(e.clean, "list-outdials", r), &list)
		out = append(out, list.Result...)
		if token = list.NextPageToken; token == "" {
			return out
		}
	}
	e.t.Fatalf("list outdials: no last page")
	return nil
}

// targets lists the outdial's targets (clean; status may be empty),
// failing on a target listed twice.
func (e *faultEnv) targets(outdialID string, status outdial.Status) []*outdial.Target {
	e.t.Helper()
	var out []*outdial.Target
	seen := map[string]bool{}
	token := ""
	for page := 0; page < 1000; page++ {
		r := e.clean.event("list-targets", e.cust, outdialID)
		r.QueryStringParameters = map[string]string{"page_size": "100"}
		if status != "" {
			r.QueryStringParameters["status"] = string(status)
		}
		if token != "" {
			r.QueryStringParameters["page_token"] = token
		}
		var list apigw.List[*outdial.Target]
		e.okJSON("list targets", e.call(e.clean, "list-targets", r), &list)
		for _, tg := range list.Result {
			if seen[tg.ID] {
				e.t.Fatalf("target %s listed twice", tg.ID)
			}
			seen[tg.ID] = true
			out = append(out, tg)
		}
		if token = list.NextPageToken; token == "" {
			return out
		}
	}
	e.t.Fatalf("list targets: no last page")
	return nil
}

// snapshot is what the API shows of an outdial: the outdial with its
// counts and its targets by id.
type snapshot struct {
	outdial *outdial.Outdial
	targets map[string]*outdial.Target
}

// consistent reads the outdial and all its targets through the API (no
// faults) and checks that the counts GET answers are exactly what the
// listing holds, status by status.
func (e *faultEnv) consistent(outdialID string) snapshot {
	e.t.Helper()
	return e.check(outdialID, false)
}

// check is consistent; with byStatus it also checks that every status
// list (GSI1) holds exactly the targets of that status.
func (e *faultEnv) check(outdialID string, byStatusLists bool) snapshot {
	e.t.Helper()
	var o outdial.Outdial
	e.okJSON("get outdial", e.call(e.clean, "get-outdial", e.clean.event("get-outdial", e.cust, outdialID)), &o)
	all := e.targets(outdialID, "")
	var counted outdial.Counts
	byStatus := map[outdial.Status][]string{}
	snap := snapshot{outdial: &o, targets: map[string]*outdial.Target{}}
	for _, tg := range all {
		snap.targets[tg.ID] = tg
		byStatus[tg.Status] = append(byStatus[tg.Status], tg.ID)
		switch tg.Status {
		case outdial.StatusIdle:
			counted.Idle++
			if tg.TryCountCurrent > 0 {
				counted.Retry++
			}
		case outdial.StatusDialing:
			counted.Dialing++
		case outdial.StatusFinished:
			counted.Finished++
		case outdial.StatusFailed:
			counted.Failed++
		default:
			e.t.Errorf("target %s has status %q", tg.ID, tg.Status)
		}
	}
	if o.Counts != counted || o.TargetCount != int64(len(all)) {
		e.t.Errorf("GET outdial counts %+v (target_count %d), but the listing holds %+v (%d targets)", o.Counts, o.TargetCount, counted, len(all))
	}
	if !byStatusLists {
		return snap
	}
	for _, st := range []outdial.Status{outdial.StatusIdle, outdial.StatusDialing, outdial.StatusFinished, outdial.StatusFailed} {
		var got []string
		for _, tg := range e.targets(outdialID, st) {
			got = append(got, tg.ID)
		}
		want := byStatus[st]
		sort.Strings(got)
		sort.Strings(want)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			e.t.Errorf("list ?status=%s = %v, but the targets with that status are %v", st, got, want)
		}
	}
	return snap
}

// sameTargets reports how the targets of two snapshots differ (status, try
// count, last result), or "".
func sameTargets(a, b snapshot) string {
	var diffs []string
	for id, ta := range a.targets {
		tb := b.targets[id]
		switch {
		case tb == nil:
			diffs = append(diffs, id+" gone")
		case ta.Status != tb.Status || ta.TryCountCurrent != tb.TryCountCurrent || ta.LastResult != tb.LastResult:
			diffs = append(diffs, fmt.Sprintf("%s %s/%d/%s -> %s/%d/%s", id, ta.Status, ta.TryCountCurrent, ta.LastResult, tb.Status, tb.TryCountCurrent, tb.LastResult))
		}
	}
	for id := range b.targets {
		if a.targets[id] == nil {
			diffs = append(diffs, id+" new")
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

// wantUnavailable checks resp is the 503 "unavailable" envelope.
func wantUnavailable(t *testing.T, what string, resp apigw.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("%s: status %d, want 503 unavailable; body %s", what, resp.StatusCode, resp.Body)
	}
	wantError(t, resp, http.StatusServiceUnavailable, outdial.ECodeUnavailable, "")
}

// faultRoute is one route under faults: setup builds the state, body is
// the request body ("" keeps the fixture's), and after checks the state
// once the faults are off and retries the request.
type faultRoute struct {
	fixture string
	name    string // subtest name; fixture when empty
	body    string
	setup   func(e *faultEnv)
	// after runs with the faults off; before is the snapshot taken after
	// setup (zero for routes without an outdial).
	after func(e *faultEnv, op string, k faultKind, before snapshot)
	// bugs names known bugs by op+"/"+kind: such a case is skipped when
	// its answer shows the bug (is not 503), and runs in full otherwise.
	bugs map[string]string
	// statusLists: the route moves targets, so the status lists (GSI1)
	// are checked too at the end of its write-fault cases.
	statusLists bool
}

// setupTargets is the setup of most routes: an outdial with faultTels.
func setupTargets(e *faultEnv) {
	e.createOutdial("")
	e.importTargets(e.clean)
}

// retryOK runs the route's request again with the faults off and wants 200.
func (e *faultEnv) retryOK(fixture, body string, v any) {
	e.t.Helper()
	e.okJSON("retry "+fixture, e.call(e.faulty, fixture, e.req(fixture, body)), v)
}

// unchanged checks that the outdial and its targets are as before.
func (e *faultEnv) unchanged(before snapshot) snapshot {
	e.t.Helper()
	now := e.consistent(before.outdial.ID)
	if d := sameTargets(before, now); d != "" {
		e.t.Errorf("targets changed under a failed request: %s", d)
	}
	if asJSON(now.outdial) != asJSON(before.outdial) {
		e.t.Errorf("outdial changed under a failed request:\n%s\nwas\n%s", asJSON(now.outdial), asJSON(before.outdial))
	}
	return now
}

// faultRoutes are the HTTP routes with what must hold after a fault.
func faultRoutes() []faultRoute {
	updateAfter := func(fixture string, changed func(*outdial.Outdial) bool) func(e *faultEnv, op string, k faultKind, before snapshot) {
		return func(e *faultEnv, op string, k faultKind, before snapshot) {
			// The write lands when the UpdateItem itself went through
			// (lost reply) or when only the counts read after it failed.
			landed := (op == "UpdateItem" && k == faultLostReply) || op == "BatchGetItem"
			now := e.consistent(e.outdialID)
			if changed(now.outdial) != landed {
				e.t.Errorf("after a 503 (%s on %s) the update landed = %v, want %v", k, op, changed(now.outdial), landed)
			}
			if !landed && asJSON(now.outdial) != asJSON(before.outdial) {
				e.t.Errorf("outdial changed under a failed update:\n%s\nwas\n%s", asJSON(now.outdial), asJSON(before.outdial))
			}
			var o outdial.Outdial
			e.retryOK(fixture, "", &o)
			if !changed(&o) {
				e.t.Errorf("retried update answered %s", asJSON(&o))
			}
			if got := e.consistent(e.outdialID); asJSON(got.outdial) != asJSON(&o) {
				e.t.Errorf("GET after the retried update =\n%s\nwant what it answered\n%s", asJSON(got.outdial), asJSON(&o))
			}
		}
	}
	return []faultRoute{
		{
			fixture: "create-outdial",
			setup:   func(e *faultEnv) {},
			after: func(e *faultEnv, op string, k faultKind, _ snapshot) {
				// Nothing or the whole outdial (item + 16 counts): a
				// transaction is never half-written.
				list := e.outdials()
				want := 0
				if k == faultLostReply {
					want = 1
				}
				if len(list) != want {
					e.t.Fatalf("after a 503 (%s) the customer has %d outdials, want %d", k, len(list), want)
				}
				for _, o := range list {
					if s := e.consistent(o.ID); s.outdial.Name != "January Leads" || s.outdial.TargetCount != 0 {
						e.t.Errorf("outdial written under the fault = %s", asJSON(s.outdial))
					}
				}
				// A retry creates a new outdial: ids are the server's, so
				// after a lost reply the customer has the orphan too.
				var o outdial.Outdial
				e.retryOK("create-outdial", "", &o)
				if got := e.outdials(); len(got) != want+1 || got[0].ID != o.ID {
					e.t.Errorf("after the retry the customer has %v, want %d outdials, the newest %s", outdialIDs(got), want+1, o.ID)
				}
				e.consistent(o.ID)
			},
		},
		{
			fixture: "get-outdial",
			setup:   setupTargets,
			after: func(e *faultEnv, _ string, _ faultKind, before snapshot) {
				e.unchanged(before)
				var o outdial.Outdial
				e.retryOK("get-outdial", "", &o)
				if asJSON(&o) != asJSON(before.outdial) {
					e.t.Errorf("retried GET = %s, want %s", asJSON(&o), asJSON(before.outdial))
				}
			},
		},
		{
			fixture: "list-outdials",
			setup: func(e *faultEnv) {
				e.createOutdial("first")
				e.createOutdial("second")
				e.importTargets(e.clean)
			},
			after: func(e *faultEnv, _ string, _ faultKind, before snapshot) {
				e.unchanged(before)
				var list apigw.List[*outdial.Outdial]
				e.retryOK("list-outdials", "", &list)
				if len(list.Result) != 2 || list.Result[0].ID != e.outdialID || list.Result[0].TargetCount != int64(len(faultTels)) || list.Result[1].TargetCount != 0 {
					e.t.Errorf("retried list = %s", asJSON(list))
				}
			},
		},
		{fixture: "update-outdial", setup: setupTargets, after: updateAfter("update-outdial", func(o *outdial.Outdial) bool { return o.Name == "January Leads (revised)" })},
		{fixture: "update-outdial-campaign", setup: setupTargets, after: updateAfter("update-outdial-campaign", func(o *outdial.Outdial) bool { return o.CampaignID != nil })},
		{fixture: "update-outdial-data", setup: setupTargets, after: updateAfter("update-outdial-data", func(o *outdial.Outdial) bool { return string(o.Data) != "null" })},
		{
			fixture: "delete-outdial",
			setup:   setupTargets,
			after: func(e *faultEnv, op string, k faultKind, before snapshot) {
				// The purge is queued once the outdial is known to be the
				// customer's, before the delete transaction.
				queued := len(e.purges.queued)
				if wantQueued := map[bool]int{true: 1, false: 0}[op == "TransactWriteItems"]; queued != wantQueued {
					e.t.Errorf("%d purges queued, want %d", queued, wantQueued)
				}
				if op == "TransactWriteItems" && k == faultLostReply {
					// The delete went through: a retry finds nothing.
					if got := e.status("get-outdial"); got != http.StatusNotFound {
						e.t.Errorf("GET after a delete whose reply was lost = %d, want 404", got)
					}
					wantError(e.t, e.call(e.faulty, "delete-outdial", e.req("delete-outdial", "")), http.StatusNotFound, outdial.ECodeNotFound, "")
					return
				}
				e.unchanged(before)
				var o outdial.Outdial
				e.retryOK("delete-outdial", "", &o)
				if o.ID != e.outdialID || o.TargetCount != int64(len(faultTels)) {
					e.t.Errorf("retried delete answered %s", asJSON(&o))
				}
				if got := e.status("get-outdial"); got != http.StatusNotFound {
					e.t.Errorf("GET after the retried delete = %d, want 404", got)
				}
			},
		},
		{
			fixture:     "add-targets",
			name:        "add-targets/batch",
			statusLists: true,
			body:        faultBatch(),
			setup:       func(e *faultEnv) { e.createOutdial("") },
			after: func(e *faultEnv, op string, k faultKind, _ snapshot) {
				// Every shard's transaction failed the same way: nothing
				// was created, or (lost replies) everything, once.
				landed := op == "TransactWriteItems" && k == faultLostReply
				want := map[bool]int{true: len(faultTels), false: 0}[landed]
				if s := e.consistent(e.outdialID); len(s.targets) != want || s.outdial.Counts.Idle != int64(want) {
					e.t.Errorf("after a 503 (%s on %s): %d targets, counts %+v; want %d idle", k, op, len(s.targets), s.outdial.Counts, want)
				}
				// The retry creates the rest exactly once and reports what
				// is there as duplicates.
				var res api.ImportResponse
				e.retryOK("add-targets", faultBatch(), &res)
				exists := 0
				for _, d := range res.DuplicateTargets {
					if d.Reason == "exists" {
						exists++
					}
				}
				if res.Created != len(faultTels)-want || exists != want || res.Duplicates != want+1 || res.Rejected != 0 {
					e.t.Errorf("retried import: created %d, duplicates %d (%d exists), rejected %d; want %d, %d (%d), 0",
						res.Created, res.Duplicates, exists, res.Rejected, len(faultTels)-want, want+1, want)
				}
				if s := e.consistent(e.outdialID); len(s.targets) != len(faultTels) || s.outdial.Counts != (outdial.Counts{Idle: int64(len(faultTels))}) {
					e.t.Errorf("after the retry: %d targets, counts %+v; want %d idle", len(s.targets), s.outdial.Counts, len(faultTels))
				}
			},
		},
		{
			fixture:     "add-targets",
			name:        "add-targets/single",
			statusLists: true,
			body:        `{"destination": {"type": "tel", "target": "+15550000001"}, "try_count_max": 2}`,
			setup:       func(e *faultEnv) { e.createOutdial("") },
			after: func(e *faultEnv, op string, k faultKind, _ snapshot) {
				landed := op == "TransactWriteItems" && k == faultLostReply
				want := map[bool]int{true: 1, false: 0}[landed]
				if s := e.consistent(e.outdialID); len(s.targets) != want {
					e.t.Errorf("after a 503 (%s on %s): %d targets, want %d", k, op, len(s.targets), want)
				}
				// The retry answers the target, new or existing.
				var tg outdial.Target
				e.retryOK("add-targets", `{"destination": {"type": "tel", "target": "+15550000001"}, "try_count_max": 2}`, &tg)
				if tg.ID != telID(e.outdialID, "+15550000001") || tg.TryCountMax != 2 || tg.Status != outdial.StatusIdle {
					e.t.Errorf("retried single import answered %s", asJSON(&tg))
				}
				if s := e.consistent(e.outdialID); len(s.targets) != 1 || s.outdial.Counts != (outdial.Counts{Idle: 1}) {
					e.t.Errorf("after the retry: %d targets, counts %+v; want 1 idle", len(s.targets), s.outdial.Counts)
				}
			},
		},
		{
			fixture: "list-targets",
			setup:   setupTargets,
			after: func(e *faultEnv, _ string, _ faultKind, before snapshot) {
				e.unchanged(before)
				var list apigw.List[*outdial.Target]
				e.retryOK("list-targets", "", &list)
				if len(list.Result) != len(faultTels) {
					e.t.Errorf("retried list: %d targets, want %d", len(list.Result), len(faultTels))
				}
			},
		},
		{
			fixture: "get-target",
			setup:   setupTargets,
			after: func(e *faultEnv, _ string, _ faultKind, before snapshot) {
				e.unchanged(before)
				var tg outdial.Target
				e.retryOK("get-target", "", &tg)
				if asJSON(&tg) != asJSON(before.targets[e.targetIDs[0]]) {
					e.t.Errorf("retried GET target = %s, want %s", asJSON(&tg), asJSON(before.targets[e.targetIDs[0]]))
				}
			},
		},
		{
			fixture:     "delete-target",
			setup:       setupTargets,
			statusLists: true,
			after: func(e *faultEnv, op string, k faultKind, before snapshot) {
				if op == "TransactWriteItems" && k == faultLostReply {
					// The delete went through; nothing answered it.
					s := e.consistent(e.outdialID)
					if s.targets[e.targetIDs[0]] != nil || len(s.targets) != len(faultTels)-1 {
						e.t.Errorf("after a delete whose reply was lost: %d targets, the deleted one there = %v", len(s.targets), s.targets[e.targetIDs[0]] != nil)
					}
					return
				}
				e.unchanged(before)
				var tg outdial.Target
				e.retryOK("delete-target", "", &tg)
				if tg.ID != e.targetIDs[0] {
					e.t.Errorf("retried delete answered %s", asJSON(&tg))
				}
				if s := e.consistent(e.outdialID); s.targets[e.targetIDs[0]] != nil || s.outdial.Counts != (outdial.Counts{Idle: int64(len(faultTels) - 1)}) {
					e.t.Errorf("after the retried delete: target there = %v, counts %+v", s.targets[e.targetIDs[0]] != nil, s.outdial.Counts)
				}
			},
		},
		{
			fixture:     "claim-targets",
			body:        `{"limit": 3, "lease_seconds": 60}`,
			statusLists: true,
			setup: func(e *faultEnv) {
				// Targets due an hour ago, one of them claimed then under
				// a lease that has long run out.
				past := e.harness(e.tab.client, -time.Hour)
				e.createOutdial("")
				e.importTargets(past)
				var claimed struct{ Result []*outdial.Claim }
				e.okJSON("claim an hour ago", e.call(past, "claim-targets", e.req("claim-targets", `{"limit": 1, "lease_seconds": 10}`)), &claimed)
				if len(claimed.Result) != 1 {
					e.t.Fatalf("setup claimed %d targets, want 1", len(claimed.Result))
				}
			},
			after: func(e *faultEnv, op string, k faultKind, before snapshot) {
				claimAfter(e, op, k, before)
			},
		},
	}
}

// claimAfter checks the state after a claim answered 503. Only lost
// replies of TransactWriteItems change anything: the expired lease is
// recorded (its outcome transaction went through), and the targets the
// claim moved to dialing are held by nobody until their lease runs out;
// the next claim after that records an "expired" attempt for each, so
// they come back, with the lost attempt counted.
func claimAfter(e *faultEnv, op string, k faultKind, before snapshot) {
	now := e.consistent(e.outdialID)
	var lost []string
	if op == "TransactWriteItems" && k == faultLostReply {
		for id, tg := range now.targets {
			b := before.targets[id]
			switch {
			case b.Status == outdial.StatusDialing:
				// The expired lease: recorded as an attempt.
				if tg.Status != outdial.StatusIdle || tg.TryCountCurrent != 1 || tg.LastResult != outdial.ResultExpired {
					e.t.Errorf("expired lease of %s: %s/%d/%s, want idle/1/expired", id, tg.Status, tg.TryCountCurrent, tg.LastResult)
				}
			case tg.Status == outdial.StatusDialing:
				lost = append(lost, id)
			}
		}
		if len(lost) != 3 {
			e.t.Errorf("%d targets moved to dialing by the failed claim, want 3 (its limit)", len(lost))
		}
	} else if d := sameTargets(before, now); d != "" {
		e.t.Errorf("targets changed under a failed claim: %s", d)
	}

	// A retry hands out due targets, each now dialing.
	var res struct{ Result []*outdial.Claim }
	e.retryOK("claim-targets", `{"limit": 3, "lease_seconds": 60}`, &res)
	want := 3
	if len(lost) > 0 {
		want = len(faultTels) - 1 - len(lost) // the expired one waits for its retry delay
	}
	if len(res.Result) != want {
		e.t.Errorf("retried claim handed out %d targets, want %d", len(res.Result), want)
	}
	now = e.consistent(e.outdialID)
	for _, c := range res.Result {
		if tg := now.targets[c.Target.ID]; tg == nil || tg.Status != outdial.StatusDialing {
			e.t.Errorf("claimed target %s is not dialing", c.Target.ID)
		}
	}
	if len(lost) == 0 {
		return
	}

	// After the lease (60 s) the next claim records the lost attempts.
	later := e.harness(e.tab.client, 61*time.Second)
	e.okJSON("claim after the lease", e.call(later, "claim-targets", e.req("claim-targets", `{"limit": 100, "lease_seconds": 60}`)), &res)
	now = e.consistent(e.outdialID)
	handed := map[string]bool{}
	for _, c := range res.Result {
		handed[c.Target.ID] = true
	}
	for _, id := range lost {
		tg := now.targets[id]
		if handed[id] || tg.Status != outdial.StatusIdle || tg.TryCountCurrent != 1 || tg.LastResult != outdial.ResultExpired {
			e.t.Errorf("lost claim of %s after its lease: %s/%d/%s (handed out again: %v), want idle/1/expired, due after the retry delay",
				id, tg.Status, tg.TryCountCurrent, tg.LastResult, handed[id])
		}
	}
}

// discoverOps runs the route once without faults and returns the
// operations its handler calls.
func discoverOps(t *testing.T, tab *faultTable, r faultRoute) []string {
	e := tab.env(t)
	r.setup(e)
	e.db.arm(nil)
	resp := e.call(e.faulty, r.fixture, e.req(r.fixture, r.body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s without faults: %d %s", r.fixture, resp.StatusCode, resp.Body)
	}
	calls, _ := e.db.stats()
	var ops []string
	for op := range calls {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	return ops
}

// TestFaultRoutes calls every route with each DynamoDB operation it makes
// failing on every call, in every way: throttling, capacity, request
// limit, timeouts, transaction conflicts, internal errors, and (for
// writes) replies lost after the write went through. Each must answer 503
// "unavailable" (never 500, never 200), leave the state consistent (counts
// equal to the listing, nothing half-written, nothing twice), and a retry
// without faults must converge.
func TestFaultRoutes(t *testing.T) {
	t.Parallel()
	tab := newFaultTable(t)
	type job struct {
		r     faultRoute
		op    string
		kinds []faultKind // one kind: a full case; more: a light group
	}
	var jobs []job
	for _, r := range faultRoutes() {
		ops := discoverOps(t, tab, r)
		if len(ops) == 0 {
			t.Fatalf("%s calls no DynamoDB operation", r.fixture)
		}
		t.Logf("%s calls %v", r.fixture, ops)
		for _, op := range ops {
			kinds := faultReadKinds
			if faultWriteOps[op] {
				kinds = faultWriteKinds
			}
			if op == "BatchGetItem" {
				kinds = append(append([]faultKind(nil), kinds...), faultUnprocessed)
			}
			var light []faultKind
			for _, k := range kinds {
				if faultFullCheck[k] {
					jobs = append(jobs, job{r, op, []faultKind{k}})
				} else {
					light = append(light, k)
				}
			}
			jobs = append(jobs, job{r, op, light})
		}
	}

	// The cases run at once, 16 at a time whatever -parallel says: much
	// of their time is spent in the store's retry back-off.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for _, j := range jobs {
		name := j.r.name
		if name == "" {
			name = j.r.fixture
		}
		name += "/" + j.op + "/" + string(j.kinds[0])
		if len(j.kinds) > 1 {
			name = strings.TrimSuffix(name, string(j.kinds[0])) + "others"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(name, func(t *testing.T) {
				if len(j.kinds) > 1 {
					faultLightGroup(t, tab, j.r, j.op, j.kinds)
					return
				}
				k := j.kinds[0]
				e := tab.env(t)
				j.r.setup(e)
				var before snapshot
				if e.outdialID != "" {
					before = e.consistent(e.outdialID)
				}
				e.db.arm(&faultRule{op: j.op, kind: k})
				resp := e.call(e.faulty, j.r.fixture, e.req(j.r.fixture, j.r.body))
				calls, injected := e.db.stats()
				e.db.arm(nil)
				t.Logf("%d faults injected; calls %v", injected, calls)
				if injected == 0 {
					t.Fatalf("no %s call was made", j.op)
				}
				if bug := j.r.bugs[j.op+"/"+string(k)]; bug != "" && resp.StatusCode != http.StatusServiceUnavailable {
					t.Skipf("BUG: %s (answered %d %s)", bug, resp.StatusCode, resp.Body)
				}
				wantUnavailable(t, j.r.fixture, resp)
				j.r.after(e, j.op, k, before)
				if j.r.statusLists && faultWriteOps[j.op] {
					e.check(e.outdialID, true)
				}
			})
		}()
	}
	wg.Wait()
}

// faultLightGroup runs the route once per kind, at once on one state, each
// with op failing in its way on every call: each must answer 503. None of
// these faults lets a write through, so the state stays as setup left it,
// and a retry without faults then succeeds.
func faultLightGroup(t *testing.T, tab *faultTable, r faultRoute, op string, kinds []faultKind) {
	e := tab.env(t)
	r.setup(e)
	var wg sync.WaitGroup
	for _, k := range kinds {
		db := &faultDB{API: tab.client}
		db.arm(&faultRule{op: op, kind: k})
		h := e.harness(db, 0)
		wg.Add(1)
		go t.Run(string(k), func(t *testing.T) {
			defer wg.Done()
			resp, err := h.handler(r.fixture)(e.ctx, e.req(r.fixture, r.body))
			if err != nil {
				t.Fatalf("%s returned an error: %v", r.fixture, err)
			}
			if _, injected := db.stats(); injected == 0 {
				t.Fatalf("no %s call was made", op)
			}
			wantUnavailable(t, r.fixture, resp)
		})
	}
	wg.Wait()
	if e.outdialID != "" {
		e.consistent(e.outdialID)
	}
	e.retryOK(r.fixture, r.body, nil)
}

// TestFaultImportSomeShardsFail fails the transactions of some shards
// only: the import answers 503 though other shards' targets were created,
// and the retry creates the rest exactly once and reports the others as
// existing.
func TestFaultImportSomeShardsFail(t *testing.T) {
	t.Parallel()
	tab := newFaultTable(t)
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, k := range []faultKind{faultThrottle, faultLostReply} {
		wg.Add(1)
		go t.Run(string(k), func(t *testing.T) {
			defer wg.Done()
			e := tab.env(t)
			e.createOutdial("")
			ids := map[string]bool{}
			for _, tel := range faultTels {
				ids[telID(e.outdialID, tel)] = true
			}
			// Fail the shards of the first two numbers.
			failing := map[int]bool{dynamo.ShardOf(telID(e.outdialID, faultTels[0])): true, dynamo.ShardOf(telID(e.outdialID, faultTels[1])): true}
			wantFailed := 0
			for _, tel := range faultTels {
				if failing[dynamo.ShardOf(telID(e.outdialID, tel))] {
					wantFailed++
				}
			}
			if wantFailed == len(faultTels) {
				t.Fatalf("every number is in a failing shard; pick other numbers")
			}
			e.db.arm(&faultRule{op: "TransactWriteItems", kind: k, match: func(in any) bool {
				return failing[txShard(in.(*dynamodb.TransactWriteItemsInput))]
			}})
			resp := e.call(e.faulty, "add-targets", e.req("add-targets", faultBatch()))
			e.db.arm(nil)
			wantUnavailable(t, "import", resp)

			landed := len(faultTels) - wantFailed
			if k == faultLostReply {
				landed = len(faultTels)
			}
			if s := e.consistent(e.outdialID); len(s.targets) != landed {
				t.Errorf("after the 503: %d targets, want %d", len(s.targets), landed)
			}
			var res api.ImportResponse
			e.retryOK("add-targets", faultBatch(), &res)
			if res.Created != len(faultTels)-landed || res.Duplicates != landed+1 {
				t.Errorf("retry: created %d, duplicates %d; want %d, %d", res.Created, res.Duplicates, len(faultTels)-landed, landed+1)
			}
			if s := e.check(e.outdialID, true); len(s.targets) != len(faultTels) || s.outdial.Counts != (outdial.Counts{Idle: int64(len(faultTels))}) {
				t.Errorf("after the retry: %d targets, counts %+v", len(s.targets), s.outdial.Counts)
			}
		})
	}
}

// txShard returns the shard of the counts item a transaction updates, or -1.
func txShard(in *dynamodb.TransactWriteItemsInput) int {
	for _, it := range in.TransactItems {
		if it.Update == nil {
			continue
		}
		pk, _ := it.Update.Key["PK"].(*types.AttributeValueMemberS)
		sk, _ := it.Update.Key["SK"].(*types.AttributeValueMemberS)
		if pk == nil || sk == nil || sk.Value != "#COUNTS" {
			continue
		}
		var k int
		if _, err := fmt.Sscanf(pk.Value[strings.LastIndexByte(pk.Value, '#')+1:], "%d", &k); err == nil {
			return k
		}
	}
	return -1
}

// TestFaultLostReplyOnce loses the reply of the first write of each
// writing route only; the store's own retry reaches DynamoDB. The request
// must then succeed (or answer 503) without a duplicate or lost effect.
func TestFaultLostReplyOnce(t *testing.T) {
	tab := newFaultTable(t)
	t.Run("import", func(t *testing.T) {
		e := tab.env(t)
		e.createOutdial("")
		e.db.arm(&faultRule{op: "TransactWriteItems", kind: faultLostReply, first: 1})
		resp := e.call(e.faulty, "add-targets", e.req("add-targets", faultBatch()))
		e.db.arm(nil)
		// The retried transaction carries the same ClientRequestToken:
		// DynamoDB answers it as done, and the rows count as created.
		var res api.ImportResponse
		e.okJSON("import", resp, &res)
		if res.Created != len(faultTels) || res.Duplicates != 1 {
			t.Errorf("import with one lost reply: created %d, duplicates %d; want %d, 1: %s", res.Created, res.Duplicates, len(faultTels), resp.Body)
		}
		if s := e.consistent(e.outdialID); s.outdial.Counts != (outdial.Counts{Idle: int64(len(faultTels))}) {
			t.Errorf("counts %+v, want %d idle", s.outdial.Counts, len(faultTels))
		}
	})
	t.Run("delete-target", func(t *testing.T) {
		e := tab.env(t)
		setupTargets(e)
		e.db.arm(&faultRule{op: "TransactWriteItems", kind: faultLostReply, first: 1})
		resp := e.call(e.faulty, "delete-target", e.req("delete-target", ""))
		e.db.arm(nil)
		if s := e.consistent(e.outdialID); s.targets[e.targetIDs[0]] != nil {
			t.Errorf("target still there after its delete went through")
		}
		switch resp.StatusCode {
		case http.StatusOK, http.StatusServiceUnavailable:
		default:
			t.Errorf("DELETE target whose first delete went through but whose reply was lost answers %d %s, want 200 (or 503)", resp.StatusCode, resp.Body)
		}
	})
	t.Run("claim", func(t *testing.T) {
		// One target with one try: the claim's first transaction goes
		// through, its reply is lost, the store retries.
		e := tab.env(t)
		e.createOutdial("")
		var tg outdial.Target
		e.okJSON("import", e.call(e.clean, "add-targets", e.req("add-targets", `{"destination": {"type": "tel", "target": "+15550000001"}, "try_count_max": 1}`)), &tg)
		e.db.arm(&faultRule{op: "TransactWriteItems", kind: faultLostReply, first: 1})
		resp := e.call(e.faulty, "claim-targets", e.req("claim-targets", `{"limit": 1, "lease_seconds": 60}`))
		e.db.arm(nil)
		var first struct{ Result []*outdial.Claim }
		if resp.StatusCode != http.StatusServiceUnavailable {
			e.okJSON("claim", resp, &first)
		}
		s := e.check(e.outdialID, true)
		t.Logf("claim answered %d with %d claims; the target is %s", resp.StatusCode, len(first.Result), s.targets[tg.ID].Status)
		if s.targets[tg.ID].Status == outdial.StatusDialing && len(first.Result) == 0 {
			// What becomes of it: after the lease the next claim records
			// an expired attempt, charged to a target nobody dialed.
			later := e.harness(e.tab.client, 61*time.Second)
			e.okJSON("claim after the lease", e.call(later, "claim-targets", e.req("claim-targets", "")), nil)
			after := e.check(e.outdialID, true).targets[tg.ID]
			t.Fatalf("a claim whose transaction went through but whose reply was lost answers %d with no claim and leaves the target dialing under a lease nobody holds; "+
				"when the lease runs out the target is charged an expired attempt (here %s/%d/%s)", resp.StatusCode, after.Status, after.TryCountCurrent, after.LastResult)
		}
		switch {
		case resp.StatusCode == http.StatusServiceUnavailable:
			// Allowed, if nothing is left dialing (checked above).
			if got := s.targets[tg.ID]; got.Status != outdial.StatusIdle || got.TryCountCurrent != 0 {
				t.Errorf("after a 503 the target is %s/%d, want idle/0", got.Status, got.TryCountCurrent)
			}
		case len(first.Result) != 1 || first.Result[0].Target.ID != tg.ID:
			t.Fatalf("claim answered %s, want the one target", resp.Body)
		default:
			// The attempt handed out is the one the target holds: its
			// outcome applies.
			c := first.Result[0]
			eff, err := e.clean.store.ApplyOutcome(e.ctx, outdial.Outcome{AttemptID: c.AttemptID, OutdialID: e.outdialID, TargetID: tg.ID, Result: outdial.ResultAnswered})
			if err != nil || eff != outdial.EffectApplied {
				t.Errorf("outcome of the attempt the claim answered: %q, %v; want applied", eff, err)
			}
			if got := e.check(e.outdialID, true).targets[tg.ID]; got.Status != outdial.StatusFinished || got.TryCountCurrent != 1 {
				t.Errorf("after its outcome the target is %s/%d, want finished/1", got.Status, got.TryCountCurrent)
			}
		}
	})
}

// TestFaultErrorsAreNotLeaked checks that a 503 says nothing of the fault
// (no SDK message, no table name).
func TestFaultErrorsAreNotLeaked(t *testing.T) {
	tab := newFaultTable(t)
	e := tab.env(t)
	setupTargets(e)
	e.db.arm(&faultRule{op: "BatchGetItem", kind: faultInternal})
	resp := e.call(e.faulty, "get-outdial", e.req("get-outdial", ""))
	e.db.arm(nil)
	wantUnavailable(t, "get outdial", resp)
	for _, leak := range []string{tab.name, "InternalServerError", "Internal server error", "BatchGetItem", "127.0.0.1"} {
		if strings.Contains(resp.Body, leak) {
			t.Errorf("503 body %s contains %q", resp.Body, leak)
		}
	}
}

// TestFaultBatchGetPartial answers every BatchGetItem with only half of its
// keys read and the rest unprocessed, as DynamoDB does under throttling:
// the reads must retry the rest and answer exactly what they answer
// without the fault (counts included), never a partial result.
func TestFaultBatchGetPartial(t *testing.T) {
	t.Parallel()
	tab := newFaultTable(t)
	e := tab.env(t)
	e.createOutdial("other")
	e.createOutdial("")
	e.importTargets(e.clean)
	// Some targets in every status but failed, so that every count is
	// non-zero somewhere.
	var claimed struct{ Result []*outdial.Claim }
	e.okJSON("claim", e.call(e.clean, "claim-targets", e.req("claim-targets", `{"limit": 2}`)), &claimed)
	if len(claimed.Result) != 2 {
		t.Fatalf("claimed %d, want 2", len(claimed.Result))
	}
	for _, fixture := range []string{"get-outdial", "list-outdials", "get-target"} {
		t.Run(fixture, func(t *testing.T) {
			want := e.call(e.clean, fixture, e.req(fixture, ""))
			if want.StatusCode != http.StatusOK {
				t.Fatalf("without faults: %d %s", want.StatusCode, want.Body)
			}
			e.db.arm(&faultRule{op: "BatchGetItem", kind: faultPartial})
			got := e.call(e.faulty, fixture, e.req(fixture, ""))
			calls, injected := e.db.stats()
			e.db.arm(nil)
			if injected < 2 {
				t.Errorf("%d partial answers injected (calls %v), want several", injected, calls)
			}
			if got.StatusCode != http.StatusOK {
				t.Fatalf("with partial batch reads: %d %s, want 200", got.StatusCode, got.Body)
			}
			var g, w struct {
				Result json.RawMessage `json:"result"`
			}
			if fixture == "list-outdials" {
				_ = json.Unmarshal([]byte(got.Body), &g)
				_ = json.Unmarshal([]byte(want.Body), &w)
			} else {
				g.Result, w.Result = json.RawMessage(got.Body), json.RawMessage(want.Body)
			}
			if string(g.Result) != string(w.Result) || len(w.Result) == 0 {
				t.Errorf("with partial batch reads:\n%s\nwithout:\n%s", g.Result, w.Result)
			}
		})
	}
}
