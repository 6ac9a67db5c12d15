package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/outdial/outdial/internal/api/suppressionlist"
	"github.com/outdial/outdial/internal/api/suppressions"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/leases"
	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/purge"
	"github.com/outdial/outdial/internal/samtemplate"
)

// TestIAMGrantsCoverCalls runs handlers on a DynamoDB double that observes
// every request, derives the IAM actions each request needs, and checks
// that the function's policies in template.yaml grant every one of them,
// on the right resource (the table, or the index a Query names). A
// missing grant is an AccessDeniedException in production that no test on
// DynamoDB Local (which checks no permissions) would see.
//
// IAM has no TransactWriteItems (nor TransactGetItems) action: each item
// of a transaction is authorised as its underlying action (Put ->
// PutItem, Update -> UpdateItem, Delete -> DeleteItem, ConditionCheck ->
// ConditionCheckItem, Get -> GetItem; see
// https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
// Every other operation needs dynamodb:<operation>; a Query (or Scan) with
// an IndexName needs it on the index's ARN, which a grant on the table's
// does not cover.
//
// It covers every route of faultRoutes, run once without faults after its
// setup (as discoverOps runs it), on the function its fixture names; a
// customer's life through the functions outside api.Handlers and the
// store paths a single run of a route may not take: suppressions added,
// an import into a brand-new outdial (the import makes the outdial's
// first count slot), a claim by a store that has not seen the outdial yet
// (the claim's Query of GSI1, and a count slot of its own),
// process-outcomes applying the claim's outcome (a count slot of its
// own), the suppression list checked, listed (the list marker read
// with GetItem, then its buckets queried) and deleted from, targets
// deleted by status (GSI1, a count slot made), the lease sweep, and the
// purge after the outdial's delete; and the
// writers that make a count slot (add-targets, claim-targets,
// process-outcomes) while the outdial is being deleted.
//
// Each step requires the calls that make it that path (iamStep.want, and
// wantSlot: a count slot item was put), so that a change of the store
// that stops taking it shows here rather than leaving it unchecked. A
// count slot is required to be made, not made in one given way: whatever
// actions making it takes (today a PutItem between two GetItems of the
// head) are the ones checked against the grants.
func TestIAMGrantsCoverCalls(t *testing.T) {
	t.Parallel()
	tab := newFaultTable(t)
	tpl, err := samtemplate.LoadRoot(tab.root)
	if err != nil {
		t.Fatal(err)
	}
	pol := iamPolicies(t, tpl)

	// The fault-free run of each route. The runs already take the count
	// slot path of an import: add-targets/batch and add-targets/single
	// import into an outdial that setup has just created, so they make
	// its first count slot (routeSlots); and the claim's store has not
	// seen the outdial (its Query of GSI1).
	routeWants := map[string][]iamNeed{
		"claim-targets":  {{action: "dynamodb:Query", index: "GSI1"}, {action: "dynamodb:UpdateItem"}},
		"delete-outdial": {{action: "dynamodb:DeleteItem"}, {action: "dynamodb:PutItem"}, {action: "dynamodb:BatchWriteItem"}},
	}
	routeSlots := map[string]bool{"add-targets/batch": true, "add-targets/single": true}
	for _, r := range faultRoutes() {
		name := r.name
		if name == "" {
			name = r.fixture
		}
		t.Run("route/"+name, func(t *testing.T) {
			t.Parallel()
			e := tab.env(t)
			r.setup(e)
			step := &iamStep{function: r.fixture, want: routeWants[name], wantSlot: routeSlots[name]}
			h := step.harness(e)
			resp := invoke(t, e.ctx, h, cleanCallTimeout, r.fixture, e.req(r.fixture, r.body))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s, want 200", r.fixture, resp.StatusCode, resp.Body)
			}
			step.check(t, pol, tab.name)
		})
	}

	t.Run("lifecycle", func(t *testing.T) {
		t.Parallel()
		e := tab.env(t)
		pages := apigw.NewPageTokens([]byte("api iam test page secret"))
		suppressionsOn := func(h *apiHarness) *suppressions.Handler {
			return &suppressions.Handler{Store: h.store, Log: h.h.Log, Now: time.Now}
		}
		call := func(fn func(context.Context, apigw.Request) (apigw.Response, error), what string, req apigw.Request, v any) {
			t.Helper()
			ctx, cancel := context.WithTimeout(e.ctx, cleanCallTimeout)
			defer cancel()
			resp, err := fn(ctx, req)
			if err != nil {
				t.Fatalf("%s returned an error: %v", what, err)
			}
			e.okJSON(what, resp, v)
		}

		// Suppressions first, so that the import and the claim read the
		// customer's list (BatchGetItem).
		step := &iamStep{function: "add-suppressions", want: []iamNeed{{action: "dynamodb:UpdateItem"}, {action: "dynamodb:BatchWriteItem"}}}
		var added suppressions.AddResponse
		call(suppressionsOn(step.harness(e)).Add, "add suppressions", e.clean.event("add-suppressions", e.cust, ""), &added)
		if added.Added == 0 {
			t.Fatalf("no suppression added: %+v", added)
		}
		step.check(t, pol, tab.name)

		// An import into a brand-new outdial: it makes the outdial's first
		// count slot.
		e.createOutdial("")
		step = &iamStep{function: "add-targets", wantSlot: true, want: []iamNeed{
			{action: "dynamodb:PutItem"}, {action: "dynamodb:BatchGetItem"}, {action: "dynamodb:GetItem"},
		}}
		e.importTargets(step.harness(e))
		step.check(t, pol, tab.name)

		// A claim on the fresh outdial by a store that has not seen it:
		// the import's slot is its store's (for a minute), so the claim
		// makes a count slot of its own.
		step = &iamStep{function: "claim-targets", wantSlot: true, want: []iamNeed{
			{action: "dynamodb:Query", index: "GSI1"}, {action: "dynamodb:UpdateItem"}, {action: "dynamodb:BatchGetItem"},
		}}
		var claimed struct{ Result []*outdial.Claim }
		e.okJSON("claim", invoke(t, e.ctx, step.harness(e), cleanCallTimeout, "claim-targets", e.req("claim-targets", `{"limit": 2, "lease_seconds": 60}`)), &claimed)
		if len(claimed.Result) != 2 {
			t.Fatalf("claimed %d targets, want 2", len(claimed.Result))
		}
		step.check(t, pol, tab.name)

		// process-outcomes applies the first claim's outcome, as its
		// Lambda does: an SQS batch of one message. The slots made so far
		// are other stores', so it makes one too.
		step = &iamStep{function: "process-outcomes", wantSlot: true, want: []iamNeed{{action: "dynamodb:UpdateItem"}}}
		c := claimed.Result[0]
		res, err := iamProcessOutcome(e, step.harness(e), c)
		if err != nil || len(res.BatchItemFailures) != 0 {
			t.Fatalf("process-outcomes: %+v, %v; want no failures", res, err)
		}
		if tg := e.consistent(e.outdialID).targets[c.Target.ID]; tg == nil || tg.Status != outdial.StatusFinished {
			t.Fatalf("after its outcome the target is %+v, want finished", tg)
		}
		step.check(t, pol, tab.name)

		step = &iamStep{function: "check-suppressions", want: []iamNeed{{action: "dynamodb:BatchGetItem"}}}
		var checked suppressions.CheckResponse
		call(suppressionsOn(step.harness(e)).Check, "check suppressions", e.clean.event("check-suppressions", e.cust, ""), &checked)
		if len(checked.Suppressed) == 0 {
			t.Errorf("check found no suppressed address: %+v", checked)
		}
		step.check(t, pol, tab.name)

		// The list reads its marker (GetItem), then the buckets it names.
		step = &iamStep{function: "list-suppressions", want: []iamNeed{{action: "dynamodb:GetItem"}, {action: "dynamodb:Query"}}}
		var list apigw.List[outdial.Suppression]
		lister := &suppressionlist.Handler{Store: step.harness(e).store, Pages: pages, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		call(lister.List, "list suppressions", e.clean.event("list-suppressions", e.cust, ""), &list)
		if len(list.Result) != added.Added {
			t.Errorf("the list holds %d suppressions, want the %d added", len(list.Result), added.Added)
		}
		step.check(t, pol, tab.name)

		step = &iamStep{function: "delete-suppressions", want: []iamNeed{{action: "dynamodb:BatchWriteItem"}}}
		var deleted suppressions.DeleteResponse
		call(suppressionsOn(step.harness(e)).Delete, "delete suppressions", e.clean.event("delete-suppressions", e.cust, ""), &deleted)
		if deleted.Deleted != 1 {
			t.Errorf("deleted %d suppressions, want 1", deleted.Deleted)
		}
		step.check(t, pol, tab.name)

		// Targets deleted by status, by a store that has not written the
		// outdial: the status partition of GSI1, and a count slot made
		// for the transaction.
		step = &iamStep{function: "delete-targets", wantSlot: true, want: []iamNeed{{action: "dynamodb:Query", index: "GSI1"}, {action: "dynamodb:DeleteItem"}}}
		dh := step.harness(e)
		call(dh.h.DeleteTargets, "delete targets", e.req("delete-targets", `{"status": "finished"}`), &map[string]any{})
		if tg := e.consistent(e.outdialID).targets[c.Target.ID]; tg != nil {
			t.Errorf("the finished target %s is still there after delete-targets", c.Target.ID)
		}
		step.check(t, pol, tab.name)

		// The lease sweep: its cursor and this minute's registrations (the
		// claim's leases end later, so no lease is expired).
		step = &iamStep{function: "expire-leases", want: []iamNeed{{action: "dynamodb:GetItem"}, {action: "dynamodb:Query"}, {action: "dynamodb:PutItem"}}}
		sweeper := &leases.Sweeper{Store: step.harness(e).store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		sctx, cancel := context.WithTimeout(e.ctx, cleanCallTimeout)
		if _, err := sweeper.Handle(sctx, nil); err != nil {
			t.Errorf("expire-leases: %v", err)
		}
		cancel()
		step.check(t, pol, tab.name)

		// The outdial deleted, then its targets purged, as the purge
		// queue's function does.
		e.okJSON("delete outdial", e.call(e.clean, "delete-outdial", e.req("delete-outdial", "")), &map[string]any{})
		step = &iamStep{function: "purge-targets", want: []iamNeed{{action: "dynamodb:GetItem"}, {action: "dynamodb:Query"}, {action: "dynamodb:BatchWriteItem"}, {action: "dynamodb:DeleteItem"}}}
		msg, err := json.Marshal(purge.Message{CustomerID: e.cust, OutdialID: e.outdialID})
		if err != nil {
			t.Fatal(err)
		}
		purger := &purge.Processor{Store: step.harness(e).store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		pctx, cancel := context.WithTimeout(e.ctx, cleanCallTimeout)
		pres, err := purger.Handle(pctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "iam-purge", Body: string(msg)}}})
		cancel()
		if err != nil || len(pres.BatchItemFailures) != 0 {
			t.Errorf("purge-targets: %+v, %v; want no failures", pres, err)
		}
		step.check(t, pol, tab.name)
	})

	// A writer that makes a count slot while the outdial is deleted: the
	// delete runs (on the plain client) when the writer's first put of a
	// slot reaches the double, before DynamoDB serves it. Whatever the
	// writer then does about the slot of a deleted outdial (it reads the
	// head again and answers not found) must be granted too.
	for _, fn := range []string{"add-targets", "claim-targets", "process-outcomes"} {
		t.Run("slot-of-deleted-outdial/"+fn, func(t *testing.T) {
			t.Parallel()
			e := tab.env(t)
			e.createOutdial("")
			var claim *outdial.Claim
			if fn != "add-targets" {
				e.importTargets(e.clean)
			}
			if fn == "process-outcomes" {
				var claimed struct{ Result []*outdial.Claim }
				e.okJSON("claim", e.call(e.clean, "claim-targets", e.req("claim-targets", `{"limit": 1, "lease_seconds": 60}`)), &claimed)
				if len(claimed.Result) != 1 {
					t.Fatalf("claimed %d targets, want 1", len(claimed.Result))
				}
				claim = claimed.Result[0]
			}
			del, deleteOutdial := e.req("delete-outdial", ""), e.clean.handler("delete-outdial")
			var delResp apigw.Response
			var delErr error
			step := &iamStep{function: fn, wantSlot: true, onSlot: func() {
				ctx, cancel := context.WithTimeout(e.ctx, cleanCallTimeout)
				defer cancel()
				delResp, delErr = deleteOutdial(ctx, del)
			}}
			h := step.harness(e)
			switch fn {
			case "process-outcomes":
				res, err := iamProcessOutcome(e, h, claim)
				t.Logf("process-outcomes answered %+v, %v", res, err)
			default:
				body := faultBatch()
				if fn == "claim-targets" {
					body = `{"limit": 2, "lease_seconds": 60}`
				}
				resp := invoke(t, e.ctx, h, cleanCallTimeout, fn, e.req(fn, body))
				t.Logf("%s answered %d %s", fn, resp.StatusCode, resp.Body)
			}
			if step.fired && (delErr != nil || delResp.StatusCode != http.StatusOK) {
				t.Fatalf("the delete of the outdial answered %d %s, %v; want 200", delResp.StatusCode, delResp.Body, delErr)
			}
			step.check(t, pol, tab.name)
		})
	}
}

// iamProcessOutcome applies an answered outcome of c as process-outcomes
// does, on h's store: an SQS batch of one message.
func iamProcessOutcome(e *faultEnv, h *apiHarness, c *outdial.Claim) (events.SQSEventResponse, error) {
	msg, err := json.Marshal(outcome.Message{AttemptID: c.AttemptID, OutdialID: e.outdialID, TargetID: c.Target.ID, Result: string(outdial.ResultAnswered)})
	if err != nil {
		return events.SQSEventResponse{}, err
	}
	proc := &outcome.Processor{Store: h.store, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithTimeout(e.ctx, cleanCallTimeout)
	defer cancel()
	return proc.Handle(ctx, events.SQSEvent{Records: []events.SQSMessage{{MessageId: "iam-" + c.AttemptID, Body: string(msg)}}})
}

// iamNeed is one IAM action a request needs: on the table named table, or
// on its index when index is set.
type iamNeed struct {
	action string // e.g. dynamodb:PutItem
	table  string // the request's TableName
	index  string // the Query's IndexName, "" for the table
}

func (n iamNeed) String() string {
	if n.index != "" {
		return n.action + " on index " + n.index
	}
	return n.action + " on the table"
}

// iamStep is one function's handler run on a DynamoDB double whose
// Observe records the IAM actions of every request it sends.
type iamStep struct {
	function string    // the function's name (samtemplate.Function.Name)
	want     []iamNeed // needs the run must have had (table unset: any)
	wantSlot bool      // the run must put a count slot
	// onSlot, when set, runs once when the first put of a count slot
	// reaches the double, before the put is served.
	onSlot func()

	mu    sync.Mutex
	needs map[iamNeed]int // by need, how many requests had it
	ops   map[string]int  // requests by operation
	bad   []string        // requests whose needs could not be read
	slots []string        // the operations that put a count slot
	fired bool            // onSlot has run
}

// harness returns handlers on a store of their own (a fresh process: no
// count slots known) whose client goes through a double observed by s.
// The double is a faultDouble, no fault armed: e.db becomes it, so that
// the env reports on it as on its own.
func (s *iamStep) harness(e *faultEnv) *apiHarness {
	f := &faultDouble{}
	f.Double = ddbdouble.New(faultTransport, ddbdouble.Config{NoConflicts: true, Fault: f.fault, Observe: s.observe})
	e.db = f
	e.faulty = e.harness(f.client(e.tab.client), 0)
	return e.faulty
}

// observe is the double's Config.Observe.
func (s *iamStep) observe(op string, body []byte) {
	needs, err := iamNeeds(op, body)
	slot := iamPutsSlot(op, body)
	s.mu.Lock()
	if s.needs == nil {
		s.needs, s.ops = map[iamNeed]int{}, map[string]int{}
	}
	s.ops[op]++
	if err != nil {
		s.bad = append(s.bad, fmt.Sprintf("%s: %v", op, err))
	}
	for _, n := range needs {
		s.needs[n]++
	}
	var hook func()
	if slot {
		s.slots = append(s.slots, op)
		if s.onSlot != nil && !s.fired {
			s.fired, hook = true, s.onSlot
		}
	}
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
}

// iamSlotSK starts the sort key of a count slot (internal/dynamo's
// slotKey: PK OUTDIAL#<id>, SK #C#<nnn>).
const iamSlotSK = "#C#"

// iamPutsSlot reports whether a request of op with JSON body puts a count
// slot: a PutItem of one, or a transaction with a Put of one.
func iamPutsSlot(op string, body []byte) bool {
	type put struct {
		Item struct{ SK struct{ S string } }
	}
	var puts []put
	switch op {
	case "PutItem":
		var in put
		_ = json.Unmarshal(body, &in)
		puts = append(puts, in)
	case "TransactWriteItems":
		var in struct{ TransactItems []struct{ Put *put } }
		_ = json.Unmarshal(body, &in)
		for _, it := range in.TransactItems {
			if it.Put != nil {
				puts = append(puts, *it.Put)
			}
		}
	}
	for _, p := range puts {
		if strings.HasPrefix(p.Item.SK.S, iamSlotSK) {
			return true
		}
	}
	return false
}

// check fails t for every need of the run that the function's policies do
// not grant, for a request on another table than table, for a need in
// s.want the run did not have, and (wantSlot) if it put no count slot.
func (s *iamStep) check(t *testing.T, pol map[string]*iamPolicy, table string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := pol[s.function]
	if p == nil {
		t.Fatalf("template.yaml has no function %s", s.function)
	}
	var seen []string
	for n, count := range s.needs {
		seen = append(seen, fmt.Sprintf("%s (%d)", n, count))
	}
	sort.Strings(seen)
	t.Logf("%s (%s) calls %v, needs %v; count slots put by %v", s.function, p.logicalID, s.ops, seen, s.slots)
	for _, b := range s.bad {
		t.Errorf("%s: cannot tell what a request needs: %s", s.function, b)
	}
	for n := range s.needs {
		if n.table != table {
			t.Errorf("%s: a request needs %s of table %q, not the service's table %q", s.function, n.action, n.table, table)
			continue
		}
		if why := p.allows(n); why != "" {
			t.Errorf("%s calls DynamoDB needing %s, but %s's policies in template.yaml do not allow it: %s", s.function, n, p.logicalID, why)
		}
	}
	for _, w := range s.want {
		found := false
		for n := range s.needs {
			found = found || n.action == w.action && n.index == w.index
		}
		if !found {
			t.Errorf("%s: no request needed %s; the run no longer takes the path it is here to check", s.function, w)
		}
	}
	if s.wantSlot && len(s.slots) == 0 {
		t.Errorf("%s: no request put a count slot; the run no longer takes the path it is here to check", s.function)
	}
	s.needs, s.ops, s.bad, s.slots = nil, nil, nil, nil
}

// iamTxActions are the actions of the items of a transaction.
var iamTxActions = map[string]string{
	"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
	"ConditionCheck": "dynamodb:ConditionCheckItem", "Get": "dynamodb:GetItem",
}

// iamNeeds returns the IAM actions a request of op with JSON body needs.
func iamNeeds(op string, body []byte) ([]iamNeed, error) {
	switch op {
	case "TransactWriteItems", "TransactGetItems":
		var in struct {
			TransactItems []map[string]struct{ TableName string }
		}
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		var out []iamNeed
		for i, item := range in.TransactItems {
			if len(item) != 1 {
				return nil, fmt.Errorf("TransactItems[%d] has %d kinds, want 1", i, len(item))
			}
			for kind, it := range item {
				action, ok := iamTxActions[kind]
				if !ok {
					return nil, fmt.Errorf("TransactItems[%d] is a %s", i, kind)
				}
				out = append(out, iamNeed{action: action, table: it.TableName})
			}
		}
		return out, nil
	case "BatchGetItem", "BatchWriteItem":
		var in struct{ RequestItems map[string]json.RawMessage }
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, err
		}
		var out []iamNeed
		for table := range in.RequestItems {
			out = append(out, iamNeed{action: "dynamodb:" + op, table: table})
		}
		return out, nil
	case "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction":
		return nil, fmt.Errorf("PartiQL (%s) is not checked here", op)
	}
	var in struct{ TableName, IndexName string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	return []iamNeed{{action: "dynamodb:" + op, table: in.TableName, index: in.IndexName}}, nil
}

// iamPolicy is what one function's inline policy statements say about the
// service's table.
type iamPolicy struct {
	logicalID  string
	statements []iamStatement
}

// iamStatement is one Allow or Deny statement: lower-case action patterns
// (dynamodb:getitem, dynamodb:get*) and resources as iamResource names
// them.
type iamStatement struct {
	allow     bool
	actions   []string
	resources []string
}

// allows returns "" if p allows n (its table being the service's), else
// why not.
func (p *iamPolicy) allows(n iamNeed) string {
	res := "table"
	if n.index != "" {
		res = "table/index/" + n.index
	}
	action := strings.ToLower(n.action)
	allowed, actionAnywhere := false, false
	for _, s := range p.statements {
		act := slices.ContainsFunc(s.actions, func(pat string) bool { ok, _ := path.Match(pat, action); return ok })
		on := slices.ContainsFunc(s.resources, func(pat string) bool {
			ok, _ := path.Match(pat, res)
			return pat == "*" || ok
		})
		switch {
		case !act:
		case !s.allow && on:
			return "a Deny statement names it"
		case s.allow:
			actionAnywhere = true
			allowed = allowed || on
		}
	}
	switch {
	case allowed:
		return ""
	case actionAnywhere && n.index != "":
		return fmt.Sprintf("the action is granted, but not on the index (want a Resource of !Sub ${Table.Arn}/index/%s)", n.index)
	case actionAnywhere:
		return "the action is granted, but not on the table (want a Resource of !GetAtt Table.Arn)"
	}
	return "no Allow statement grants the action"
}

// iamPolicies reads the inline policy statements of every function of tpl,
// by function name. Other policies (managed policies, SAM policy
// templates) grant nothing here: a function that relied on one would
// fail the check, never pass it unchecked.
func iamPolicies(t *testing.T, tpl *samtemplate.Template) map[string]*iamPolicy {
	t.Helper()
	tables := tpl.Tables()
	if len(tables) != 1 {
		t.Fatalf("template.yaml has tables %v, want one", tables)
	}
	out := map[string]*iamPolicy{}
	for id, f := range tpl.Functions {
		p := &iamPolicy{logicalID: id}
		out[f.Name] = p
		for i, pv := range f.Policies {
			stmts, bad, ok := samtemplate.Statements(pv)
			if !ok {
				if strings.Contains(strings.ToLower(fmt.Sprint(pv)), "dynamodb") {
					t.Logf("%s: Policies[%d] is no inline statement; it grants nothing here", id, i)
				}
				continue
			}
			for _, j := range bad {
				t.Errorf("%s: Policies[%d].Statement[%d] is not a mapping", id, i, j)
			}
			for _, st := range stmts {
				s := iamStatement{allow: st.Allow}
				for _, a := range st.Actions {
					s.actions = append(s.actions, strings.ToLower(a))
				}
				for _, r := range st.Resources {
					if name, ok := iamResource(r, tables[0]); ok {
						s.resources = append(s.resources, name)
					}
				}
				p.statements = append(p.statements, s)
			}
		}
	}
	return out
}

// iamResource names a statement's Resource as allows matches it: "table"
// for the table's ARN, "table/index/GSI1" (or "table/index/*") for its
// index, "*" for anything; false for any other resource (another table, a
// queue).
func iamResource(v any, table string) (string, bool) {
	if v == "*" {
		return "*", true
	}
	fn, arg, ok := samtemplate.Intrinsic(v)
	if !ok {
		return "", false
	}
	switch fn {
	case "Fn::GetAtt":
		if reflect.DeepEqual(arg, []any{table, "Arn"}) || arg == table+".Arn" {
			return "table", true
		}
	case "Fn::Sub":
		s, _ := arg.(string)
		if rest, ok := strings.CutPrefix(s, "${"+table+".Arn}"); ok {
			return "table" + rest, true
		}
	}
	return "", false
}
