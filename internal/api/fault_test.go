package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/api"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outdial"
)

// faultKind is one failure of a DynamoDB call that DynamoDB Local cannot
// produce on demand; the DynamoDB double answers it (faultDouble).
type faultKind string

const (
	faultThrottle     faultKind = "throttling"      // ThrottlingException, nothing done
	faultCapacity     faultKind = "capacity"        // ProvisionedThroughputExceededException, nothing done
	faultRequestLimit faultKind = "request_limit"   // RequestLimitExceeded, nothing done
	faultTimeout      faultKind = "timeout"         // a network timeout (Timeout() true) before DynamoDB saw the call
	faultDeadline     faultKind = "deadline"        // context.DeadlineExceeded before DynamoDB saw the call
	faultConflict     faultKind = "conflict"        // TransactionCanceledException{TransactionConflict} (TransactWriteItems) or TransactionConflictException, nothing done
	faultItemThrottle faultKind = "item_throttling" // TransactWriteItems: TransactionCanceledException{ThrottlingError} on its first item, nothing done
	faultInternal     faultKind = "internal"        // InternalServerError, nothing done
	faultLostReply    faultKind = "lost_reply"      // the call runs on DynamoDB, its reply (even an error) is lost: the caller sees a timeout
	faultUnprocessed  faultKind = "unprocessed"     // BatchGetItem: no error, every key comes back unprocessed
	faultPartial      faultKind = "partial"         // BatchGetItem: no error, only the first half of each table's keys is read, the rest unprocessed
)

// faultReadKinds can hit any call; faultWriteKinds only calls that write;
// faultTxKinds only transactions (DynamoDB reports an item's throttling in
// a transaction as a cancellation reason).
var (
	faultReadKinds  = []faultKind{faultThrottle, faultCapacity, faultRequestLimit, faultTimeout, faultDeadline, faultInternal}
	faultWriteKinds = append(append([]faultKind(nil), faultReadKinds...), faultConflict, faultLostReply)
	faultTxKinds    = append(append([]faultKind(nil), faultWriteKinds...), faultItemThrottle)
)

// Handler calls get a deadline, as Lambda gives every invocation one (the
// functions' timeouts in template.yaml are 10 to 29 s): the store retries
// a fault that may clear until shortly before it, so a fault that lasts
// ends in 503 at the deadline, and one that clears in time in 200. Calls
// under faults that last get a short one, to keep the suite fast; calls
// under faults that clear, and the others (setup, checks), the shortest
// function timeout, so that a slow DynamoDB Local does not turn a fault
// that clears into one that lasts. The short one leaves a claim two thirds
// of it (claimWorkContext) to take its slot and read its candidates
// before the faulted transaction: 3 s was too little on a loaded machine
// (four concurrent claims of a light group had sent none after 2 s).
const (
	faultCallTimeout  = 5 * time.Second
	faultClearTimeout = 10 * time.Second
	cleanCallTimeout  = 10 * time.Second
)

// faultFullCheck are the kinds whose cases each get a fresh state and
// check it all before and after the fault (so do the kinds a route
// answers otherwise than 503: faultRoute.answers). The others take the
// same paths in the store (a retryable error, nothing written): they run
// together on one state per route and operation (faultLightGroup), which
// must stay unchanged, and each must answer 503.
var faultFullCheck = map[faultKind]bool{faultThrottle: true, faultLostReply: true}

// faultWriteOps are the dynamo.API operations that change the table.
var faultWriteOps = map[string]bool{"PutItem": true, "UpdateItem": true, "DeleteItem": true, "BatchWriteItem": true, "TransactWriteItems": true}

// faultRule says which calls fail, and how.
type faultRule struct {
	op    string            // operation, e.g. "TransactWriteItems"
	kind  faultKind         // what happens to it
	first int               // fail only the first n matching calls; 0: every one
	match func([]byte) bool // which requests of op match, by their JSON body; nil: all
}

// faultTransport carries the requests of every faultDouble of the package
// to DynamoDB Local: one pool of connections for the many doubles.
var faultTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 256
	return t
}()

// faultDouble is a DynamoDB double (internal/ddbdouble: no latency, locks
// or budgets) for a store's client that answers the calls of its rule with
// the rule's fault and counts every call per operation. Its client does not
// retry (dynamotest.NoRetries): the store sees every fault, as it sees the
// ones the SDK's retries leave, and one request is one call of the store's.
type faultDouble struct {
	*ddbdouble.Double

	mu       sync.Mutex
	rule     *faultRule
	matched  int             // requests that matched the rule since arm
	injected int             // faults injected since arm
	armed    ddbdouble.Stats // the double's counters at arm
}

func newFaultDouble() *faultDouble {
	f := &faultDouble{}
	f.Double = ddbdouble.New(faultTransport, ddbdouble.Config{NoConflicts: true, Fault: f.fault})
	return f
}

// client returns a client like base whose requests go through f, SDK
// retries off.
func (f *faultDouble) client(base *dynamodb.Client) *dynamodb.Client {
	return dynamotest.Through(base, f.Double, dynamotest.NoRetries)
}

// arm installs r (nil: no faults) and resets the counters.
func (f *faultDouble) arm(r *faultRule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rule, f.matched, f.injected, f.armed = r, 0, 0, f.Stats("")
}

// stats returns the calls per operation and the faults injected since arm.
func (f *faultDouble) stats() (map[string]int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Stats("").Sub(f.armed).Requests, f.injected
}

// answered returns how many answers the double made in DynamoDB's stead
// since arm (ddbdouble.Stats.Faults): a partial fault that left a batch
// whole made none.
func (f *faultDouble) answered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Stats("").Sub(f.armed).Faults
}

// fault is the double's Config.Fault: the answer of the rule's kind to a
// request it matches, nil to the others.
func (f *faultDouble) fault(op string, body []byte) *ddbdouble.Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rule
	if r == nil || r.op != op || (r.match != nil && !r.match(body)) {
		return nil
	}
	f.matched++
	if r.first > 0 && f.matched > r.first {
		return nil
	}
	f.injected++
	return doubleFault(op, r.kind)
}

// doubleFault is the double's answer of kind k to a request of op, in
// DynamoDB's wire format.
func doubleFault(op string, k faultKind) *ddbdouble.Fault {
	switch k {
	case faultThrottle:
		return &ddbdouble.Fault{Type: "ThrottlingException", Message: "Rate of requests exceeds the allowed throughput."}
	case faultCapacity:
		return &ddbdouble.Fault{Type: "ProvisionedThroughputExceededException", Message: "The level of configured provisioned throughput for the table was exceeded."}
	case faultRequestLimit:
		return &ddbdouble.Fault{Type: "RequestLimitExceeded", Message: "Throughput exceeds the current throughput limit for your account."}
	case faultTimeout:
		return &ddbdouble.Fault{Err: ddbdouble.ErrTimeout}
	case faultDeadline:
		return &ddbdouble.Fault{Err: fmt.Errorf("send request: %w", context.DeadlineExceeded)}
	case faultInternal:
		return &ddbdouble.Fault{Type: "InternalServerError", Message: "Internal server error"}
	case faultLostReply:
		// Whatever DynamoDB answered, an error included (a failed
		// condition: the claim's sweep cursor exists already), is lost.
		return &ddbdouble.Fault{AfterAny: true, Err: ddbdouble.ErrTimeout}
	case faultConflict, faultItemThrottle:
		code := "TransactionConflict"
		if k == faultItemThrottle {
			code = "ThrottlingError"
		}
		switch {
		case op == "TransactWriteItems":
			return &ddbdouble.Fault{Type: "TransactionCanceledException", Reasons: []string{code}}
		case k == faultConflict:
			return &ddbdouble.Fault{Type: "TransactionConflictException", Message: "Transaction is ongoing for the item"}
		default:
			return &ddbdouble.Fault{Type: "ThrottlingException", Message: "Throughput exceeds the current capacity for one or more indexes."}
		}
	case faultUnprocessed:
		return &ddbdouble.Fault{Partial: func(string, int) int { return 0 }}
	case faultPartial:
		return &ddbdouble.Fault{Partial: func(_ string, n int) int { return (n + 1) / 2 }}
	}
	panic("unknown fault " + k)
}

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

// faultEnv is one fault case: a customer of its own, handlers on a client
// through a faultDouble (faulty) and on the plain client (clean, for setup
// and checks).
type faultEnv struct {
	t      *testing.T
	ctx    context.Context
	tab    *faultTable
	cust   string
	db     *faultDouble
	purges *recordingPurger
	logs   *dynamotest.SyncBuffer
	faulty *apiHarness
	clean  *apiHarness

	outdialID string   // the outdial the route works on
	targetIDs []string // its targets, in import order
}

// faultPhone matches the phone numbers the cases use, in E.164 or any
// other spelling that keeps the digits together.
var faultPhone = regexp.MustCompile(`1555\d{7}`)

// env returns a case of its own on the table, with no fault armed. When
// the case ends, its handlers' logs must hold no phone number it used.
func (tab *faultTable) env(t *testing.T) *faultEnv {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	e := &faultEnv{t: t, ctx: ctx, tab: tab, cust: uuid.NewString(), db: newFaultDouble(), purges: &recordingPurger{}, logs: &dynamotest.SyncBuffer{}}
	e.faulty = e.harness(e.db.client(tab.client), 0)
	e.clean = e.harness(tab.client, 0)
	t.Cleanup(func() {
		if logs := e.logs.String(); faultPhone.MatchString(logs) {
			t.Errorf("the logs hold a phone number (%s):\n%s", faultPhone.FindString(logs), logs)
		}
	})
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
			Log:    slog.New(slog.NewJSONHandler(e.logs, nil)),
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

// call runs fixture's handler of h on r within its deadline (h is the
// env's faulty harness: faultCallTimeout; any other: cleanCallTimeout)
// and fails the test if it returns an error (API Gateway would answer
// 502).
func (e *faultEnv) call(h *apiHarness, fixture string, r apigw.Request) apigw.Response {
	e.t.Helper()
	timeout := cleanCallTimeout
	if h == e.faulty {
		timeout = faultCallTimeout
	}
	return invoke(e.t, e.ctx, h, timeout, fixture, r)
}

// callClearing is call under a fault that clears: its deadline is
// faultClearTimeout.
func (e *faultEnv) callClearing(h *apiHarness, fixture string, r apigw.Request) apigw.Response {
	e.t.Helper()
	return invoke(e.t, e.ctx, h, faultClearTimeout, fixture, r)
}

// invoke runs fixture's handler of h on r under a deadline timeout from
// now, as Lambda does, and fails t if it returns an error.
func invoke(t *testing.T, ctx context.Context, h *apiHarness, timeout time.Duration, fixture string, r apigw.Request) apigw.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := h.handler(fixture)(ctx, r)
	if err != nil {
		t.Fatalf("%s returned an error: %v", fixture, err)
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
	snap, problems := e.read(outdialID, byStatusLists)
	for _, p := range problems {
		e.t.Error(p)
	}
	return snap
}

// read is check that returns what it finds wrong instead of failing.
func (e *faultEnv) read(outdialID string, byStatusLists bool) (snapshot, []string) {
	e.t.Helper()
	var problems []string
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
			problems = append(problems, fmt.Sprintf("target %s has status %q", tg.ID, tg.Status))
		}
	}
	if o.Counts != counted || o.TargetCount != int64(len(all)) {
		problems = append(problems, fmt.Sprintf("GET outdial counts %+v (target_count %d), but the listing holds %+v (%d targets)", o.Counts, o.TargetCount, counted, len(all)))
	}
	if !byStatusLists {
		return snap, problems
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
			problems = append(problems, fmt.Sprintf("list ?status=%s = %v, but the targets with that status are %v", st, got, want))
		}
	}
	return snap, problems
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
	// setup (zero for routes without an outdial), resp what the route
	// answered under the fault.
	after func(e *faultEnv, op string, k faultKind, before snapshot, resp apigw.Response)
	// answers names, by op+"/"+kind, the faults under which the route
	// deliberately answers something else than 503, and why. Such a case
	// runs on a state of its own, and after checks what it did.
	answers map[string]faultAnswer
	// statusLists: the route moves targets, so the status lists (GSI1)
	// are checked too at the end of its write-fault cases.
	statusLists bool
	// ownTable: each full case of the route runs on a table of its own,
	// because its checks run the lease sweep, which works on every
	// outdial of the table.
	ownTable bool
}

// faultAnswer is what a fault case answers instead of 503.
type faultAnswer struct {
	statuses []int
	why      string
}

// wants reports whether status is what the route must answer under k on op.
func (r faultRoute) wants(op string, k faultKind, status int) bool {
	if a, ok := r.answers[op+"/"+string(k)]; ok {
		return slices.Contains(a.statuses, status)
	}
	return status == http.StatusServiceUnavailable
}

// setupTargets is the setup of most routes: an outdial with faultTels.
func setupTargets(e *faultEnv) {
	e.createOutdial("")
	e.importTargets(e.clean)
}

// retryOK runs the route's request again with the faults off and wants 200.
func (e *faultEnv) retryOK(fixture, body string, v any) {
	e.t.Helper()
	// The fault is over: the retry gets a whole function's deadline (the
	// shortest in the template), not the short one of calls under a fault
	// that lasts, so that a loaded machine does not turn it into a 503.
	e.okJSON("retry "+fixture, invoke(e.t, e.ctx, e.faulty, cleanCallTimeout, fixture, e.req(fixture, body)), v)
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

// listCopy returns the outdial as the list shows it (the list copy of its
// head), its counts left out.
func (e *faultEnv) listCopy(id string) *outdial.Outdial {
	e.t.Helper()
	for _, o := range e.outdials() {
		if o.ID == id {
			o.Counts, o.TargetCount = outdial.Counts{}, 0
			return o
		}
	}
	e.t.Fatalf("outdial %s is not in the list", id)
	return nil
}

// items returns how many items partition pk of the table holds (read
// directly: what the API no longer shows of a deleted outdial).
func (e *faultEnv) items(pk string) int {
	e.t.Helper()
	in := &dynamodb.QueryInput{
		TableName: &e.tab.name, KeyConditionExpression: aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
		ConsistentRead:            aws.Bool(true), Select: types.SelectCount,
	}
	n := 0
	for {
		res, err := e.tab.client.Query(e.ctx, in)
		if err != nil {
			e.t.Fatalf("query %s: %v", pk, err)
		}
		n += int(res.Count)
		if res.LastEvaluatedKey == nil {
			return n
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// purged runs the purge the delete of the env's outdial queued (as the
// purge function does) and checks it removes its targets, wantTargets of
// them, and whatever count slots the delete left: nothing of the outdial
// is left.
func (e *faultEnv) purged(wantTargets int) {
	e.t.Helper()
	store := dynamo.New(e.tab.client, e.tab.name)
	ctx, cancel := context.WithTimeout(e.ctx, cleanCallTimeout)
	defer cancel()
	n, err := store.PurgeTargets(ctx, e.cust, e.outdialID, false)
	if err != nil || n != wantTargets {
		e.t.Errorf("purge of the deleted outdial: %d targets deleted, %v; want %d", n, err, wantTargets)
	}
	if left := e.items("OUTDIAL#" + e.outdialID); left != 0 {
		e.t.Errorf("after the purge the outdial's partition holds %d items (count slots), want none", left)
	}
	// Again, reading every shard (unmarked: a marked purge would stop at
	// the marker the first one removed): no target left.
	if n, err := store.PurgeTargets(ctx, e.cust, e.outdialID, true); err != nil || n != 0 {
		e.t.Errorf("second purge: %d targets deleted, %v; want none left", n, err)
	}
}

// faultRoutes are the HTTP routes with what must hold after a fault.
func faultRoutes() []faultRoute {
	// An update reads the outdial (Query), then sends one transaction of
	// its head and its list copy, again unchanged (same token) while it
	// fails in a way that may clear and there is time: a 503 must mean
	// nothing changed.
	updateAfter := func(fixture string, changed func(*outdial.Outdial) bool) func(e *faultEnv, op string, k faultKind, before snapshot, resp apigw.Response) {
		return func(e *faultEnv, op string, k faultKind, before snapshot, resp apigw.Response) {
			now := e.consistent(e.outdialID)
			applied := changed(now.outdial)
			if resp.StatusCode == http.StatusOK {
				// Every answer of its transaction lost: the update read
				// the head and found its own change (200 means applied).
				var o outdial.Outdial
				e.okJSON("update whose answers were lost", resp, &o)
				if !applied || asJSON(now.outdial) != asJSON(&o) {
					e.t.Errorf("answered 200 with\n%s\nthe outdial is\n%s", asJSON(&o), asJSON(now.outdial))
				}
				return
			}
			if !applied && asJSON(now.outdial) != asJSON(before.outdial) {
				e.t.Errorf("outdial changed under a failed update:\n%s\nwas\n%s", asJSON(now.outdial), asJSON(before.outdial))
			}
			// Nothing half-written: the list copy is the head, changed or not.
			head := *now.outdial
			head.Counts, head.TargetCount = outdial.Counts{}, 0
			if l := e.listCopy(e.outdialID); asJSON(l) != asJSON(&head) {
				e.t.Errorf("after the fault the list shows\n%s\nGET shows\n%s", asJSON(l), asJSON(&head))
			}
			var o outdial.Outdial
			e.retryOK(fixture, "", &o)
			if !changed(&o) {
				e.t.Errorf("retried update answered %s", asJSON(&o))
			}
			got := e.consistent(e.outdialID)
			if asJSON(got.outdial) != asJSON(&o) {
				e.t.Errorf("GET after the retried update =\n%s\nwant what it answered\n%s", asJSON(got.outdial), asJSON(&o))
			}
			// The head and the list copy are one transaction.
			got.outdial.Counts, got.outdial.TargetCount = outdial.Counts{}, 0
			if l := e.listCopy(e.outdialID); asJSON(l) != asJSON(got.outdial) {
				e.t.Errorf("the list shows\n%s\nGET shows\n%s", asJSON(l), asJSON(got.outdial))
			}
			if applied {
				e.t.Errorf("after a 503 (%s on %s) the update is applied:\n%s\nwas\n%s", k, op, asJSON(now.outdial), asJSON(before.outdial))
			}
		}
	}
	// An update whose every answer is lost reads the head, finds its own
	// change and answers 200.
	updateAnswers := map[string]faultAnswer{
		"TransactWriteItems/lost_reply": {[]int{http.StatusOK}, "the update went through; a read of the head finds it"},
	}
	// A delete removes the outdial's head and list copy in one
	// transaction, then its count slots, best effort: the queued purge
	// removes what that leaves.
	deleteAnswers := map[string]faultAnswer{
		"TransactWriteItems/lost_reply": {[]int{http.StatusOK}, "the delete went through; a read of the head finds it gone"},
	}
	for _, k := range faultWriteKinds {
		deleteAnswers["BatchWriteItem/"+string(k)] = faultAnswer{[]int{http.StatusOK}, "the outdial is deleted before its count slots are, and the purge deletes the slots left"}
	}
	// A claim takes its count slot ahead (UpdateItem) only so that
	// concurrent claimers start from different shards: when that write
	// fails the claim goes on, and its transaction settles the slot.
	claimAnswers := map[string]faultAnswer{
		"TransactWriteItems/conflict": {[]int{http.StatusOK}, "a target whose update conflicts with another transaction is taken to be " +
			"another claimer's: the claim goes on without it, and here answers without any"},
	}
	for _, k := range faultWriteKinds {
		claimAnswers["UpdateItem/"+string(k)] = faultAnswer{[]int{http.StatusOK}, "taking the claim slot ahead is best effort: the claim's transaction settles it"}
	}
	// Every writer takes its count slot ahead the same way (takeSlot), or
	// makes it (a PutItem, createSlot).
	slotAnswers := map[string]faultAnswer{
		"PutItem/lost_reply": {[]int{http.StatusOK}, "a count slot made with its reply lost: the head is read again, and the transaction on the slot settles whether it exists"},
	}
	for _, k := range faultWriteKinds {
		slotAnswers["UpdateItem/"+string(k)] = faultAnswer{[]int{http.StatusOK}, "taking the count slot ahead is best effort: the transaction settles it"}
	}
	// A delete of a target whose every answer was lost reads the target
	// again: gone, it answers the target it deleted.
	deleteTargetAnswers := map[string]faultAnswer{
		"TransactWriteItems/lost_reply": {[]int{http.StatusOK, http.StatusServiceUnavailable}, "the delete went through; a read finds the target gone"},
	}
	for k, a := range slotAnswers {
		deleteTargetAnswers[k] = a
	}
	return []faultRoute{
		{
			fixture: "create-outdial",
			setup:   func(e *faultEnv) {},
			after: func(e *faultEnv, op string, k faultKind, _ snapshot, _ apigw.Response) {
				// Nothing or the whole outdial (head and list copy; its
				// count slots are made by its writers): a transaction is
				// never half-written. A lost reply is sent again with the
				// same token (the outdial's id): it is created once.
				list := e.outdials()
				want := 0
				if op == "TransactWriteItems" && k == faultLostReply {
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
			after: func(e *faultEnv, _ string, _ faultKind, before snapshot, _ apigw.Response) {
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
			after: func(e *faultEnv, _ string, _ faultKind, before snapshot, _ apigw.Response) {
				e.unchanged(before)
				var list apigw.List[*outdial.Outdial]
				e.retryOK("list-outdials", "", &list)
				if len(list.Result) != 2 || list.Result[0].ID != e.outdialID || list.Result[0].TargetCount != int64(len(faultTels)) || list.Result[1].TargetCount != 0 {
					e.t.Errorf("retried list = %s", asJSON(list))
				}
			},
		},
		{fixture: "update-outdial", setup: setupTargets, answers: updateAnswers, after: updateAfter("update-outdial", func(o *outdial.Outdial) bool { return o.Name == "January Leads (revised)" })},
		{fixture: "update-outdial-campaign", setup: setupTargets, answers: updateAnswers, after: updateAfter("update-outdial-campaign", func(o *outdial.Outdial) bool { return o.CampaignID != nil })},
		{fixture: "update-outdial-data", setup: setupTargets, answers: updateAnswers, after: updateAfter("update-outdial-data", func(o *outdial.Outdial) bool { return o.Data == "source=crm-export;priority=2" })},
		{
			fixture: "delete-outdial",
			setup:   setupTargets,
			answers: deleteAnswers,
			after: func(e *faultEnv, op string, k faultKind, before snapshot, resp apigw.Response) {
				// The purge is queued once the outdial is known to be the
				// customer's (its Query), before the delete transaction.
				if wantQueued := map[bool]int{true: 0, false: 1}[op == "Query"]; len(e.purges.queued) != wantQueued {
					e.t.Errorf("%d purges queued, want %d", len(e.purges.queued), wantQueued)
				}
				switch {
				case op == "BatchWriteItem":
					// The outdial is deleted before its count slots are:
					// their delete is best effort, and the purge deletes
					// what it leaves.
					var o outdial.Outdial
					e.okJSON("delete under faults of the count slots' delete", resp, &o)
					if o.ID != e.outdialID || o.TargetCount != int64(len(faultTels)) {
						e.t.Errorf("delete answered %s", asJSON(&o))
					}
					if got := e.status("get-outdial"); got != http.StatusNotFound {
						e.t.Errorf("GET after the delete = %d, want 404", got)
					}
					wantError(e.t, e.call(e.faulty, "delete-outdial", e.req("delete-outdial", "")), http.StatusNotFound, outdial.ECodeNotFound, "")
				case op == "TransactWriteItems" && k == faultLostReply:
					// The delete went through: a retry finds nothing.
					if got := e.status("get-outdial"); got != http.StatusNotFound {
						e.t.Errorf("GET after a delete whose reply was lost = %d, want 404", got)
					}
					wantError(e.t, e.call(e.faulty, "delete-outdial", e.req("delete-outdial", "")), http.StatusNotFound, outdial.ECodeNotFound, "")
				default:
					e.unchanged(before)
					var o outdial.Outdial
					e.retryOK("delete-outdial", "", &o)
					if o.ID != e.outdialID || o.TargetCount != int64(len(faultTels)) {
						e.t.Errorf("retried delete answered %s", asJSON(&o))
					}
					if got := e.status("get-outdial"); got != http.StatusNotFound {
						e.t.Errorf("GET after the retried delete = %d, want 404", got)
					}
				}
				e.purged(len(faultTels))
			},
		},
		{
			fixture:     "add-targets",
			name:        "add-targets/batch",
			statusLists: true,
			answers:     slotAnswers,
			body:        faultBatch(),
			setup:       func(e *faultEnv) { e.createOutdial("") },
			after: func(e *faultEnv, op string, k faultKind, _ snapshot, resp apigw.Response) {
				// One transaction holds the batch: nothing was created,
				// or (answered 200, or its replies lost) everything, once.
				landed := resp.StatusCode == http.StatusOK || op == "TransactWriteItems" && k == faultLostReply
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
			answers:     slotAnswers,
			body:        `{"destination": {"type": "tel", "target": "+15550000001"}, "try_count_max": 2}`,
			setup:       func(e *faultEnv) { e.createOutdial("") },
			after: func(e *faultEnv, op string, k faultKind, _ snapshot, resp apigw.Response) {
				landed := resp.StatusCode == http.StatusOK || op == "TransactWriteItems" && k == faultLostReply
				want := map[bool]int{true: 1, false: 0}[landed]
				if s := e.consistent(e.outdialID); len(s.targets) != want {
					e.t.Errorf("after a 503 (%s on %s): %d targets, want %d", k, op, len(s.targets), want)
				}
				// The retry answers the target, new or existing.
				var tg outdial.Target
				e.retryOK("add-targets", `{"destination": {"type": "tel", "target": "+15550000001"}, "try_count_max": 2}`, &tg)
				if tg.ID != e.clean.telID(e.cust, e.outdialID, "+15550000001") || tg.TryCountMax != 2 || tg.Status != outdial.StatusIdle {
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
			after: func(e *faultEnv, _ string, _ faultKind, before snapshot, _ apigw.Response) {
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
			after: func(e *faultEnv, _ string, _ faultKind, before snapshot, _ apigw.Response) {
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
			answers:     deleteTargetAnswers,
			after: func(e *faultEnv, op string, k faultKind, before snapshot, resp apigw.Response) {
				if resp.StatusCode == http.StatusOK || op == "TransactWriteItems" && k == faultLostReply {
					// The delete went through once (answered, or its
					// answers lost).
					s := e.consistent(e.outdialID)
					if s.targets[e.targetIDs[0]] != nil || len(s.targets) != len(faultTels)-1 || s.outdial.Counts != (outdial.Counts{Idle: int64(len(faultTels) - 1)}) {
						e.t.Errorf("after a delete whose reply was lost: %d targets, counts %+v, the deleted one there = %v", len(s.targets), s.outdial.Counts, s.targets[e.targetIDs[0]] != nil)
					}
					wantError(e.t, e.call(e.faulty, "delete-target", e.req("delete-target", "")), http.StatusNotFound, outdial.ECodeNotFound, "")
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
			ownTable:    true,
			answers:     claimAnswers,
			setup: func(e *faultEnv) {
				// Targets due minutes ago, one of them claimed then under
				// a lease that has run out, grace included (the lease
				// sweep reads back to the minute of that claim).
				past := e.harness(e.tab.client, -5*time.Minute)
				e.createOutdial("")
				e.importTargets(past)
				var claimed struct{ Result []*outdial.Claim }
				e.okJSON("claim minutes ago", e.call(past, "claim-targets", e.req("claim-targets", `{"limit": 1, "lease_seconds": 10}`)), &claimed)
				if len(claimed.Result) != 1 {
					e.t.Fatalf("setup claimed %d targets, want 1", len(claimed.Result))
				}
			},
			after: claimAfter,
		},
	}
}

// faultSweepAfter is how far ahead of the real clock the lease sweep runs
// in claimAfter: past the end of every lease the cases grant (60 s) plus
// the grace (dynamo.DefaultLeaseGrace), with room for the case's own time.
const faultSweepAfter = 60*time.Second + dynamo.DefaultLeaseGrace + 15*time.Second

// claimAfter checks the state after a claim under a fault. A claim moves
// targets only by its transactions, and never records an expired lease
// (the lease sweep, ExpireLeases, does): the setup's lease, long run out,
// is still dialing. A 503 moved nothing, unless every reply of its
// transaction was lost (TransactWriteItems, lost_reply): then the targets
// it moved to dialing (its limit) are held by nobody. A 200 (conflicts)
// moved exactly the targets it handed out. Then the lease sweep, run once
// every lease granted has ended, records an expired attempt for each of
// these and for the setup's lease, and for nothing else; and a retried
// claim hands out due targets, none of those (they wait their retry
// delay).
func claimAfter(e *faultEnv, op string, k faultKind, before snapshot, resp apigw.Response) {
	now := e.check(e.outdialID, true)
	var first struct{ Result []*outdial.Claim }
	if resp.StatusCode == http.StatusOK {
		e.okJSON("claim under the fault", resp, &first)
	}
	handed := map[string]bool{}
	for _, c := range first.Result {
		handed[c.Target.ID] = true
		if tg := now.targets[c.Target.ID]; tg == nil || tg.Status != outdial.StatusDialing {
			e.t.Errorf("claimed target %s is not dialing", c.Target.ID)
		}
	}
	var lost, leased []string // moved to dialing and handed out to nobody; every lease
	for id, tg := range now.targets {
		b := before.targets[id]
		switch {
		case b == nil:
			e.t.Errorf("target %s appeared under a claim", id)
		case b.Status == outdial.StatusDialing:
			leased = append(leased, id)
			if tg.Status != outdial.StatusDialing || tg.TryCountCurrent != 0 {
				e.t.Errorf("the expired lease of %s is %s/%d/%s, want still dialing/0 until the lease sweep", id, tg.Status, tg.TryCountCurrent, tg.LastResult)
			}
		case handed[id]:
			leased = append(leased, id)
		case tg.Status == outdial.StatusDialing:
			lost = append(lost, id)
			leased = append(leased, id)
		case tg.Status != b.Status || tg.TryCountCurrent != b.TryCountCurrent || tg.LastResult != b.LastResult:
			e.t.Errorf("target %s changed under a claim (%s on %s): %s/%d/%s -> %s/%d/%s", id, k, op, b.Status, b.TryCountCurrent, b.LastResult, tg.Status, tg.TryCountCurrent, tg.LastResult)
		}
	}
	wantLost := 0
	if op == "TransactWriteItems" && k == faultLostReply {
		wantLost = 3 // the claim's limit
	}
	if len(lost) != wantLost {
		e.t.Errorf("%d targets moved to dialing and handed out to nobody (%s on %s), want %d", len(lost), k, op, wantLost)
	}

	// The lease sweep, once the leases have run out: exactly these leases
	// are recorded as expired attempts.
	sweeper := e.harness(e.tab.client, faultSweepAfter).store
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute) // the function's timeout
	rep, err := sweeper.ExpireLeases(ctx)
	cancel()
	if err != nil || rep.Expired != len(leased) || rep.Failed != 0 {
		e.t.Errorf("lease sweep: %+v, %v; want %d expired (the setup's lease, %d lost, %d handed out), none failed", rep, err, len(leased), len(lost), len(handed))
	}
	now = e.check(e.outdialID, true)
	expired := map[string]bool{}
	for _, id := range leased {
		expired[id] = true
		if tg := now.targets[id]; tg.Status != outdial.StatusIdle || tg.TryCountCurrent != 1 || tg.LastResult != outdial.ResultExpired {
			e.t.Errorf("lease of %s after the sweep: %s/%d/%s, want idle/1/expired", id, tg.Status, tg.TryCountCurrent, tg.LastResult)
		}
	}

	// A retry hands out due targets, each now dialing; not the expired
	// ones, which wait for their retry delay.
	var res struct{ Result []*outdial.Claim }
	e.retryOK("claim-targets", `{"limit": 3, "lease_seconds": 60}`, &res)
	if want := min(3, len(faultTels)-len(leased)); len(res.Result) != want {
		e.t.Errorf("retried claim handed out %d targets, want %d", len(res.Result), want)
	}
	now = e.check(e.outdialID, true)
	for _, c := range res.Result {
		if expired[c.Target.ID] {
			e.t.Errorf("retried claim handed out %s, expired a moment ago", c.Target.ID)
		}
		if tg := now.targets[c.Target.ID]; tg == nil || tg.Status != outdial.StatusDialing {
			e.t.Errorf("claimed target %s is not dialing", c.Target.ID)
		}
	}
}

// discoverOps runs the route once without faults and returns the
// operations its handler calls.
func discoverOps(t *testing.T, tab *faultTable, r faultRoute) []string {
	e := tab.env(t)
	r.setup(e)
	e.db.arm(nil)
	// No fault is armed: the call gets a clean call's deadline, not the
	// short one of a call under a fault that lasts (a loaded machine made
	// list-targets answer 503 within 3 s).
	resp := invoke(t, e.ctx, e.faulty, cleanCallTimeout, r.fixture, e.req(r.fixture, r.body))
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
// limit, timeouts, transaction conflicts, throttled transaction items,
// internal errors, and (for writes) replies lost after the write went
// through. Each call has a deadline, as in Lambda: the store retries what
// may clear until shortly before it, then answers. Each must answer 503
// "unavailable" (never 500, never 200), but for the faults a route
// deliberately rides out (its answers); leave the state consistent
// (counts equal to the listing, nothing half-written, nothing twice, and
// nothing changed at all unless every reply of a write was lost); and a
// retry without faults must converge.
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
			switch {
			case op == "TransactWriteItems":
				kinds = faultTxKinds
			case faultWriteOps[op]:
				kinds = faultWriteKinds
			case op == "BatchGetItem":
				kinds = append(append([]faultKind(nil), kinds...), faultUnprocessed)
			}
			var light []faultKind
			for _, k := range kinds {
				_, answers := r.answers[op+"/"+string(k)]
				if faultFullCheck[k] || answers {
					jobs = append(jobs, job{r, op, []faultKind{k}})
				} else {
					light = append(light, k)
				}
			}
			if len(light) > 0 {
				jobs = append(jobs, job{r, op, light})
			}
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
				tab := tab
				if j.r.ownTable {
					tab = newFaultTable(t)
				}
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
				t.Logf("%d faults injected; calls %v; answered %d", injected, calls, resp.StatusCode)
				if injected == 0 {
					t.Fatalf("no %s call was made", j.op)
				}
				switch {
				case !j.r.wants(j.op, k, resp.StatusCode):
					t.Fatalf("%s under %s on %s: status %d, want %s; body %s", j.r.fixture, k, j.op, resp.StatusCode, j.r.wantText(j.op, k), resp.Body)
				case resp.StatusCode == http.StatusServiceUnavailable:
					wantUnavailable(t, j.r.fixture, resp)
				}
				j.r.after(e, j.op, k, before, resp)
				if j.r.statusLists && faultWriteOps[j.op] {
					e.check(e.outdialID, true)
				}
			})
		}()
	}
	wg.Wait()
}

// wantText says what the route must answer under k on op.
func (r faultRoute) wantText(op string, k faultKind) string {
	if a, ok := r.answers[op+"/"+string(k)]; ok {
		return fmt.Sprintf("%v (%s)", a.statuses, a.why)
	}
	return "503 unavailable"
}

// faultLightGroup runs the route once per kind, at once on one state, each
// with op failing in its way on every call: each must answer 503. None of
// these faults lets a write through, so the state stays as setup left it,
// and a retry without faults then succeeds.
func faultLightGroup(t *testing.T, tab *faultTable, r faultRoute, op string, kinds []faultKind) {
	e := tab.env(t)
	r.setup(e)
	var before snapshot
	if e.outdialID != "" {
		before = e.consistent(e.outdialID)
	}
	var wg sync.WaitGroup
	for _, k := range kinds {
		db := newFaultDouble()
		db.arm(&faultRule{op: op, kind: k})
		h := e.harness(db.client(tab.client), 0)
		wg.Add(1)
		go t.Run(string(k), func(t *testing.T) {
			defer wg.Done()
			resp := invoke(t, e.ctx, h, faultCallTimeout, r.fixture, e.req(r.fixture, r.body))
			if _, injected := db.stats(); injected == 0 {
				t.Fatalf("no %s call was made", op)
			}
			wantUnavailable(t, r.fixture, resp)
		})
	}
	wg.Wait()
	if e.outdialID != "" {
		e.unchanged(before)
	}
	e.retryOK(r.fixture, r.body, nil)
}

// faultImportRows is how many targets TestFaultImportSomeTransactionsFail
// imports: several transactions' worth (one holds up to 99 targets and
// its count slot).
const faultImportRows = 250

// faultImportTel returns the i-th number of that import.
func faultImportTel(i int) string { return fmt.Sprintf("+1555100%04d", i) }

// faultLargeBatch is an import of faultImportRows numbers plus a row
// repeating the first.
func faultLargeBatch() string {
	var rows []string
	for i := 0; i <= faultImportRows; i++ {
		rows = append(rows, fmt.Sprintf(`{"destination": {"type": "tel", "target": %q}, "try_count_max": 3}`, faultImportTel(i%faultImportRows)))
	}
	return `{"targets": [` + strings.Join(rows, ", ") + `]}`
}

// txTargets returns the ids of the targets a TransactWriteItems request
// (its JSON body) puts.
func txTargets(body []byte) []string {
	var in struct {
		TransactItems []struct {
			Put *struct{ Item map[string]struct{ S string } }
		}
	}
	_ = json.Unmarshal(body, &in)
	var ids []string
	for _, it := range in.TransactItems {
		if it.Put == nil {
			continue
		}
		if it.Put.Item["type"].S == "target" && it.Put.Item["id"].S != "" {
			ids = append(ids, it.Put.Item["id"].S)
		}
	}
	return ids
}

// TestFaultImportSomeTransactionsFail imports more targets than one
// transaction holds and fails only the transaction that carries one of
// them. (It was TestFaultImportSomeShardsFail: an import no longer writes
// one transaction per shard, but transactions of up to 99 targets spread
// over the shards, and retries inside the call.) A fault that clears
// after a few attempts (throttling, a conflict, lost replies: the
// transaction is sent again unchanged, same token) is ridden out: the
// import answers 200 and creates every target exactly once. A fault that
// lasts until the call's deadline ends in 503 with every transaction
// stored whole or not at all (the failing one: not at all if throttled,
// whole if only its replies were lost), the counts equal to the rows
// stored, and the client's retry creates the rest exactly once and
// reports what was stored as existing.
func TestFaultImportSomeTransactionsFail(t *testing.T) {
	t.Parallel()
	tab := newFaultTable(t)
	cases := []struct {
		k     faultKind
		first int // faults before it clears; 0: throughout
	}{
		{faultThrottle, 2}, {faultConflict, 3}, {faultItemThrottle, 3}, {faultLostReply, 2},
		{faultThrottle, 0}, {faultLostReply, 0},
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, c := range cases {
		name := string(c.k) + "/throughout"
		if c.first > 0 {
			name = fmt.Sprintf("%s/clears_after_%d", c.k, c.first)
		}
		wg.Add(1)
		go t.Run(name, func(t *testing.T) {
			defer wg.Done()
			e := tab.env(t)
			e.createOutdial("")
			failing := e.clean.telID(e.cust, e.outdialID, faultImportTel(faultImportRows/2))

			// Fail the transactions that carry failing; note which
			// transaction carried each target first.
			var mu sync.Mutex
			txOf := map[string]int{}
			sent := 0
			e.db.arm(&faultRule{op: "TransactWriteItems", kind: c.k, first: c.first, match: func(body []byte) bool {
				mu.Lock()
				defer mu.Unlock()
				has, fresh := false, false
				for _, id := range txTargets(body) {
					if _, ok := txOf[id]; !ok {
						txOf[id], fresh = sent, true
					}
					has = has || id == failing
				}
				if fresh {
					sent++
				}
				return has
			}})
			// A whole function's deadline even for the fault that lasts:
			// the import must reach the failing transaction before it, and
			// on a loaded machine 3 s is not always enough.
			resp := e.callClearing(e.faulty, "add-targets", e.req("add-targets", faultLargeBatch()))
			calls, injected := e.db.stats()
			e.db.arm(nil)
			mu.Lock()
			txs := sent
			mu.Unlock()
			t.Logf("%d faults injected; calls %v; %d transactions; answered %d", injected, calls, txs, resp.StatusCode)
			if injected == 0 {
				t.Fatalf("no transaction carried %s", failing)
			}

			if c.first > 0 {
				var res api.ImportResponse
				e.okJSON("import under a fault that clears", resp, &res)
				if txs < 2 || injected != c.first {
					t.Errorf("%d transactions, %d faults; want several, %d", txs, injected, c.first)
				}
				if res.Created != faultImportRows || res.Duplicates != 1 || res.Rejected != 0 {
					t.Errorf("import: created %d, duplicates %d, rejected %d; want %d, 1, 0", res.Created, res.Duplicates, res.Rejected, faultImportRows)
				}
				if s := e.check(e.outdialID, true); len(s.targets) != faultImportRows || s.outdial.Counts != (outdial.Counts{Idle: faultImportRows}) {
					t.Errorf("after the import: %d targets, counts %+v; want %d idle", len(s.targets), s.outdial.Counts, faultImportRows)
				}
				return
			}

			wantUnavailable(t, "import", resp)
			// The failing transaction's error cancels the others in
			// flight: they may still be applied. DynamoDB shows a
			// transaction whole or not at all; DynamoDB Local applies it
			// item by item, unisolated, so wait until the state settles
			// (consistent, and still so a moment later).
			halves := func(s snapshot) []string {
				mu.Lock()
				defer mu.Unlock()
				size, stored := map[int]int{}, map[int]int{}
				for id, tx := range txOf {
					size[tx]++
					if s.targets[id] != nil {
						stored[tx]++
					}
				}
				var out []string
				for tx, n := range size {
					if stored[tx] != 0 && stored[tx] != n {
						out = append(out, fmt.Sprintf("transaction %d is half stored: %d of its %d targets", tx, stored[tx], n))
					}
				}
				return out
			}
			var s snapshot
			var problems []string
			for start, last := time.Now(), -1; ; {
				s, problems = e.read(e.outdialID, false)
				problems = append(problems, halves(s)...)
				if len(problems) == 0 && len(s.targets) == last || time.Since(start) > 10*time.Second {
					break
				}
				last = len(s.targets)
				if len(problems) > 0 {
					last = -1
				}
				time.Sleep(200 * time.Millisecond)
			}
			for _, p := range problems {
				t.Error(p)
			}
			if got, want := s.targets[failing] != nil, c.k == faultLostReply; got != want {
				t.Errorf("the failing transaction's targets stored = %v, want %v", got, want)
			}
			mu.Lock()
			for id := range s.targets {
				if _, ok := txOf[id]; !ok {
					t.Errorf("target %s stored, though no transaction sent it", id)
				}
			}
			mu.Unlock()

			var res api.ImportResponse
			e.retryOK("add-targets", faultLargeBatch(), &res)
			exists := 0
			for _, d := range res.DuplicateTargets {
				if d.Reason == "exists" {
					exists++
				}
			}
			if res.Created != faultImportRows-len(s.targets) || exists != len(s.targets) || res.Duplicates != len(s.targets)+1 {
				t.Errorf("retry: created %d, duplicates %d (%d exists); want %d, %d (%d)", res.Created, res.Duplicates, exists, faultImportRows-len(s.targets), len(s.targets)+1, len(s.targets))
			}
			if s := e.check(e.outdialID, true); len(s.targets) != faultImportRows || s.outdial.Counts != (outdial.Counts{Idle: faultImportRows}) {
				t.Errorf("after the retry: %d targets, counts %+v; want %d idle", len(s.targets), s.outdial.Counts, faultImportRows)
			}
		})
	}
}

// TestFaultLostReplyOnce loses the reply of the first write of each
// writing route only; the store sends the same request again (same
// ClientRequestToken), which DynamoDB answers as done. The request must
// then succeed (or answer 503) without a duplicate or lost effect.
func TestFaultLostReplyOnce(t *testing.T) {
	tab := newFaultTable(t)
	t.Run("import", func(t *testing.T) {
		e := tab.env(t)
		e.createOutdial("")
		e.db.arm(&faultRule{op: "TransactWriteItems", kind: faultLostReply, first: 1})
		resp := e.callClearing(e.faulty, "add-targets", e.req("add-targets", faultBatch()))
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
	t.Run("update", func(t *testing.T) {
		// An update whose transaction went through but whose reply was
		// lost answers 200 with the update, applied.
		e := tab.env(t)
		setupTargets(e)
		e.db.arm(&faultRule{op: "TransactWriteItems", kind: faultLostReply, first: 1})
		resp := e.callClearing(e.faulty, "update-outdial", e.req("update-outdial", ""))
		e.db.arm(nil)
		var o outdial.Outdial
		e.okJSON("update with one lost reply", resp, &o)
		if o.Name != "January Leads (revised)" {
			t.Errorf("update answered %s", asJSON(&o))
		}
		if got := e.consistent(e.outdialID); asJSON(got.outdial) != asJSON(&o) {
			t.Errorf("GET after the update =\n%s\nwant what it answered\n%s", asJSON(got.outdial), asJSON(&o))
		}
	})
	t.Run("delete-outdial", func(t *testing.T) {
		// The same delete sent again is answered as done; a changed one
		// would find nothing to delete.
		e := tab.env(t)
		setupTargets(e)
		e.db.arm(&faultRule{op: "TransactWriteItems", kind: faultLostReply, first: 1})
		resp := e.callClearing(e.faulty, "delete-outdial", e.req("delete-outdial", ""))
		e.db.arm(nil)
		var o outdial.Outdial
		e.okJSON("delete with one lost reply", resp, &o)
		if o.ID != e.outdialID || o.TargetCount != int64(len(faultTels)) {
			t.Errorf("delete answered %s", asJSON(&o))
		}
		if got := e.status("get-outdial"); got != http.StatusNotFound {
			t.Errorf("GET after the delete = %d, want 404", got)
		}
		if len(e.purges.queued) != 1 {
			t.Errorf("%d purges queued, want 1", len(e.purges.queued))
		}
		e.purged(len(faultTels))
	})
	t.Run("delete-target", func(t *testing.T) {
		e := tab.env(t)
		setupTargets(e)
		e.db.arm(&faultRule{op: "TransactWriteItems", kind: faultLostReply, first: 1})
		resp := e.callClearing(e.faulty, "delete-target", e.req("delete-target", ""))
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
		// through, its reply is lost, the store sends it again.
		e := tab.env(t)
		e.createOutdial("")
		var tg outdial.Target
		e.okJSON("import", e.call(e.clean, "add-targets", e.req("add-targets", `{"destination": {"type": "tel", "target": "+15550000001"}, "try_count_max": 1}`)), &tg)
		e.db.arm(&faultRule{op: "TransactWriteItems", kind: faultLostReply, first: 1})
		resp := e.callClearing(e.faulty, "claim-targets", e.req("claim-targets", `{"limit": 1, "lease_seconds": 60}`))
		e.db.arm(nil)
		var first struct{ Result []*outdial.Claim }
		if resp.StatusCode != http.StatusServiceUnavailable {
			e.okJSON("claim", resp, &first)
		}
		s := e.check(e.outdialID, true)
		t.Logf("claim answered %d with %d claims; the target is %s", resp.StatusCode, len(first.Result), s.targets[tg.ID].Status)
		if s.targets[tg.ID].Status == outdial.StatusDialing && len(first.Result) == 0 {
			t.Fatalf("a claim whose transaction went through but whose reply was lost answers %d with no claim and leaves the target dialing under a lease nobody holds; "+
				"when the lease runs out the lease sweep charges the target an attempt nobody made", resp.StatusCode)
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
// (no SDK message, no operation, no table name, no address, no phone
// number), on a read of each kind (GET outdial is one Query of the
// outdial's partition, GET target one BatchGetItem) and on a write.
func TestFaultErrorsAreNotLeaked(t *testing.T) {
	tab := newFaultTable(t)
	for _, c := range []struct{ fixture, op, body string }{
		{"get-outdial", "Query", ""},
		{"get-target", "BatchGetItem", ""},
		{"add-targets", "TransactWriteItems", `{"destination": {"type": "tel", "target": "+15550000009"}, "try_count_max": 2}`},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			e := tab.env(t)
			setupTargets(e)
			e.db.arm(&faultRule{op: c.op, kind: faultInternal})
			resp := e.call(e.faulty, c.fixture, e.req(c.fixture, c.body))
			_, injected := e.db.stats()
			e.db.arm(nil)
			if injected == 0 {
				t.Fatalf("no %s call was made", c.op)
			}
			wantUnavailable(t, c.fixture, resp)
			for _, leak := range []string{tab.name, "InternalServerError", "Internal server error", c.op, "DynamoDB", "127.0.0.1", "1555000000"} {
				if strings.Contains(resp.Body, leak) {
					t.Errorf("503 body %s contains %q", resp.Body, leak)
				}
			}
		})
	}
}

// TestFaultBatchGetPartial answers every BatchGetItem with only half of its
// keys read and the rest unprocessed, as DynamoDB does under throttling:
// the reads must retry the rest and answer exactly what they answer
// without the fault, never a partial result. GET outdial and the list of
// outdials no longer read with BatchGetItem (one Query of the outdial's
// partition; a Query of the customer's partition and one of each row's
// count slots): the routes that still do are GET target, DELETE target
// (the target and the outdial's head, read together) and the import of a
// target that exists (the single form answers it, read back).
func TestFaultBatchGetPartial(t *testing.T) {
	t.Parallel()
	tab := newFaultTable(t)
	e := tab.env(t)
	e.createOutdial("other")
	e.createOutdial("")
	e.importTargets(e.clean)
	// Some targets dialing, so that the one read may be either.
	var claimed struct{ Result []*outdial.Claim }
	e.okJSON("claim", e.call(e.clean, "claim-targets", e.req("claim-targets", `{"limit": 2}`)), &claimed)
	if len(claimed.Result) != 2 {
		t.Fatalf("claimed %d, want 2", len(claimed.Result))
	}
	want := e.call(e.clean, "get-target", e.req("get-target", ""))
	if want.StatusCode != http.StatusOK {
		t.Fatalf("GET target without faults: %d %s", want.StatusCode, want.Body)
	}
	before := e.check(e.outdialID, true)
	for _, c := range []struct{ fixture, body string }{
		{"get-target", ""},
		{"add-targets", fmt.Sprintf(`{"destination": {"type": "tel", "target": %q}, "try_count_max": 3}`, faultTels[0])},
		{"delete-target", ""}, // last: it changes the state
	} {
		t.Run(c.fixture, func(t *testing.T) {
			e.db.arm(&faultRule{op: "BatchGetItem", kind: faultPartial})
			got := e.callClearing(e.faulty, c.fixture, e.req(c.fixture, c.body))
			calls, injected := e.db.stats()
			partial := e.db.answered()
			e.db.arm(nil)
			if injected < 2 || partial == 0 {
				t.Errorf("%d partial answers injected, %d with keys left unprocessed (calls %v); want several, some", injected, partial, calls)
			}
			if got.StatusCode != http.StatusOK {
				t.Fatalf("with partial batch reads: %d %s, want 200", got.StatusCode, got.Body)
			}
			if got.Body != want.Body {
				t.Errorf("with partial batch reads:\n%s\nwithout (GET target):\n%s", got.Body, want.Body)
			}
		})
	}
	// The delete went through, once: the target is gone, counted out of
	// its status.
	s := e.check(e.outdialID, true)
	deleted := before.targets[e.targetIDs[0]]
	wantCounts := before.outdial.Counts
	switch deleted.Status {
	case outdial.StatusIdle:
		wantCounts.Idle--
	case outdial.StatusDialing:
		wantCounts.Dialing--
	}
	if s.targets[e.targetIDs[0]] != nil || len(s.targets) != len(faultTels)-1 || s.outdial.Counts != wantCounts {
		t.Errorf("after the delete: %d targets (the deleted one there: %v), counts %+v; want %d, %+v", len(s.targets), s.targets[e.targetIDs[0]] != nil, s.outdial.Counts, len(faultTels)-1, wantCounts)
	}
}
