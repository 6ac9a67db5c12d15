package publish_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/publish"
	"github.com/outdial/outdial/internal/webhook"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }

// hooks is a webhook.Store of fixed configs that counts lookups.
type hooks struct {
	mu      sync.Mutex
	cfgs    map[string]*webhook.Config
	lookups map[string]int
	fail    error // GetWebhook fails with it when set
}

func (h *hooks) GetWebhook(_ context.Context, id string) (*webhook.Config, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lookups[id]++
	if h.fail != nil {
		return nil, h.fail
	}
	if c, ok := h.cfgs[id]; ok {
		cp := *c
		return &cp, nil
	}
	return nil, outdial.ErrNotFound("webhook")
}
func (h *hooks) PutWebhook(context.Context, string, string, []events.Type) (*webhook.Config, error) {
	return nil, errors.New("not used")
}
func (h *hooks) DeleteWebhook(context.Context, string) error { return errors.New("not used") }
func (h *hooks) RotateWebhook(context.Context, string) (*webhook.Config, error) {
	return nil, errors.New("not used")
}

func (h *hooks) set(customerID string, types ...events.Type) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cfgs[customerID] = &webhook.Config{CustomerID: customerID, URI: "https://example.com/hook", EventTypes: types}
}

// queue captures deliveries; fail, when set, decides whether an enqueue
// fails (it sees the number of the call since failOn, from 1).
type queue struct {
	mu    sync.Mutex
	calls int
	got   []events.Delivery
	fail  func(call int, d events.Delivery) bool
}

func (q *queue) Enqueue(_ context.Context, d events.Delivery) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls++
	if q.fail != nil && q.fail(q.calls, d) {
		return errors.New("queue unavailable")
	}
	q.got = append(q.got, d)
	return nil
}

// failOn makes the n-th enqueue from now on fail (0: none).
func (q *queue) failOn(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls = 0
	q.fail = func(call int, _ events.Delivery) bool { return call == n }
}

// take returns the deliveries captured since the last take.
func (q *queue) take() []events.Delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.got
	q.got = nil
	return out
}

// tap reads the table's stream on DynamoDB Local, every shard, from the
// start, like Lambda's event source mapping.
type tap struct {
	client *dynamodbstreams.Client
	arn    string
	iters  map[string]*string
	done   map[string]bool
}

func newTap(t *testing.T, client *dynamodb.Client, table string) *tap {
	t.Helper()
	ctx := t.Context()
	desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := localstack.AWSConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	endpoint := dynamotest.Endpoint()
	return &tap{
		client: dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(endpoint) }),
		arn:    aws.ToString(desc.Table.LatestStreamArn), iters: map[string]*string{}, done: map[string]bool{},
	}
}

// read returns the records written since the last read, by shard.
func (tp *tap) read(t *testing.T) [][]awsevents.DynamoDBEventRecord {
	t.Helper()
	ctx := t.Context()
	desc, err := tp.client.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &tp.arn})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]awsevents.DynamoDBEventRecord
	for _, s := range desc.StreamDescription.Shards {
		id := aws.ToString(s.ShardId)
		if tp.done[id] {
			continue
		}
		if tp.iters[id] == nil {
			it, err := tp.client.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &tp.arn, ShardId: s.ShardId, ShardIteratorType: stypes.ShardIteratorTypeTrimHorizon})
			if err != nil {
				t.Fatal(err)
			}
			tp.iters[id] = it.ShardIterator
		}
		var recs []stypes.Record
		for {
			res, err := tp.client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: tp.iters[id]})
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, res.Records...)
			if res.NextShardIterator == nil {
				tp.done[id] = true
				break
			}
			tp.iters[id] = res.NextShardIterator
			if len(res.Records) == 0 {
				break
			}
		}
		if len(recs) > 0 {
			// As the event source mapping (and the local runner) hands
			// them to the function.
			ev, err := localrun.LambdaDynamoDBEvent(tp.arn, recs)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, ev.Records)
		}
	}
	return out
}

// harness is a table, the API's store on it, and a publisher (with a
// store of its own, another process) fed from the table's stream.
type harness struct {
	t      *testing.T
	ctx    context.Context
	client *dynamodb.Client
	table  string
	store  *dynamo.Store // the API's and the dialers'
	tap    *tap
	hooks  *hooks
	queue  *queue
	pub    *publish.Publisher
	kept   []publish.Record // every record read, in order
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	client, table := dynamotest.StreamTable(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	h := &harness{
		t: t, ctx: ctx, client: client, table: table, store: dynamo.New(client, table),
		tap: newTap(t, client, table), hooks: &hooks{cfgs: map[string]*webhook.Config{}, lookups: map[string]int{}}, queue: &queue{},
	}
	h.pub = h.publisher()
	return h
}

// publisher returns a publisher of the harness's hooks and queue with a
// store of its own (a fresh process).
func (h *harness) publisher() *publish.Publisher {
	return &publish.Publisher{Store: dynamo.New(h.client, h.table), Webhooks: h.hooks, Queue: h.queue}
}

// records returns the records written since the last call, by shard.
func (h *harness) records() [][]publish.Record {
	h.t.Helper()
	var shards [][]publish.Record
	for _, evs := range h.events() {
		recs := make([]publish.Record, len(evs))
		for i, e := range evs {
			var err error
			if recs[i], err = publish.FromLambda(e); err != nil {
				h.t.Fatal(err)
			}
		}
		h.kept = append(h.kept, recs...)
		shards = append(shards, recs)
	}
	return shards
}

// events returns the records written since the last call, by shard, as
// Lambda's event holds them.
func (h *harness) events() [][]awsevents.DynamoDBEventRecord {
	h.t.Helper()
	return h.tap.read(h.t)
}

// publish hands the new records to the publisher, batch records at a
// time (0: a shard's all at once), and returns the deliveries made.
func (h *harness) publish(batch int) []events.Delivery {
	h.t.Helper()
	for _, recs := range h.records() {
		size := batch
		if size <= 0 {
			size = len(recs)
		}
		for start := 0; start < len(recs); start += size {
			chunk := recs[start:min(start+size, len(recs))]
			done, err := h.pub.HandleRecords(h.ctx, chunk)
			if err != nil || done != len(chunk) {
				h.t.Fatalf("HandleRecords = %d of %d, %v", done, len(chunk), err)
			}
		}
	}
	return h.queue.take()
}

func (h *harness) outdial(customerID string) *outdial.Outdial {
	h.t.Helper()
	id, _ := uuid.NewV7()
	now := outdial.Time{Time: time.Now().UTC()}
	o := &outdial.Outdial{ID: id.String(), CustomerID: customerID, Name: "spring", RetryPolicy: outdial.DefaultRetryPolicy(), TMCreate: now, TMUpdate: now}
	if err := h.store.CreateOutdial(h.ctx, o); err != nil {
		h.t.Fatal(err)
	}
	return o
}

var phone atomic.Int64

func (h *harness) targets(customerID, outdialID string, n int, data string) []string {
	h.t.Helper()
	nts := make([]*outdial.NewTarget, n)
	for i := range nts {
		nts[i] = &outdial.NewTarget{Name: fmt.Sprint("t", i), Data: data, Destinations: []outdial.TargetDestination{{Type: outdial.TypeTel, Target: fmt.Sprintf("+1555%07d", phone.Add(1)), TryCountMax: 3}}}
	}
	res, err := h.store.AddTargets(h.ctx, customerID, outdialID, uuid.NewString(), nts)
	if err != nil {
		h.t.Fatal(err)
	}
	ids := make([]string, len(res.Created))
	for i, c := range res.Created {
		ids[i] = c.Target.ID
	}
	return ids
}

// claim claims n due targets of the outdial as one dialer does, trying
// again while the status index catches up.
func (h *harness) claim(customerID, outdialID string, n int) []*outdial.Claim {
	h.t.Helper()
	var out []*outdial.Claim
	for try := 0; len(out) < n; try++ {
		if try == 50 {
			h.t.Fatalf("claimed %d of %d", len(out), n)
		}
		// The harness's one dialer (h.store) claims: a new store each
		// try would be a new claimer process each time, and the shards
		// of the earlier ones (served for a minute) would be left alone
		// for 30 s (dynamo's starveWindow).
		claims, err := h.store.ClaimTargets(h.ctx, customerID, outdialID, min(n-len(out), outdial.MaxClaimLimit), time.Minute)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, claims...)
		if len(claims) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

func (h *harness) outcome(outdialID string, c *outdial.Claim, r outdial.Result, retryAfter *time.Duration) {
	h.t.Helper()
	eff, err := h.store.ApplyOutcome(h.ctx, outdial.Outcome{AttemptID: c.AttemptID, OutdialID: outdialID, TargetID: c.Target.ID, Result: r, RetryAfter: retryAfter})
	if err != nil || eff != outdial.EffectApplied {
		h.t.Fatalf("ApplyOutcome = %v, %v", eff, err)
	}
}

// flat returns the events of ds in order.
func flat(ds []events.Delivery) []events.Event {
	var out []events.Event
	for _, d := range ds {
		out = append(out, d.Events...)
	}
	return out
}

func typesOf(evs []events.Event) []events.Type {
	out := make([]events.Type, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// resource decodes an event's data.
type resource struct {
	ID         string          `json:"id"`
	CustomerID string          `json:"customer_id"`
	OutdialID  string          `json:"outdial_id"`
	Name       string          `json:"name"`
	Status     outdial.Status  `json:"status"`
	Archived   bool            `json:"archived"`
	Counts     *outdial.Counts `json:"target_counts"`
	TargetCnt  int64           `json:"target_count"`
}

func data(t *testing.T, e events.Event) resource {
	t.Helper()
	var r resource
	if err := json.Unmarshal(e.Data, &r); err != nil {
		t.Fatalf("event %s data %s: %v", e.ID, e.Data, err)
	}
	return r
}

func checkTypes(t *testing.T, step string, evs []events.Event, want ...events.Type) {
	t.Helper()
	if got := typesOf(evs); !slices.Equal(got, want) {
		t.Errorf("%s: events %v, want %v", step, got, want)
	}
}

func TestEventTypes(t *testing.T) {
	h := newHarness(t)
	cust := uuid.NewString()
	h.hooks.set(cust)

	o := h.outdial(cust)
	evs := flat(h.publish(0))
	checkTypes(t, "create", evs, events.OutdialCreated)
	want, err := h.store.GetOutdial(h.ctx, cust, o.ID)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(want); len(evs) == 1 && string(evs[0].Data) != string(b) {
		t.Errorf("outdial_created data\n%s\nwant (GetOutdial)\n%s", evs[0].Data, b)
	}

	name := "autumn"
	if _, err := h.store.UpdateOutdial(h.ctx, cust, o.ID, &outdial.OutdialUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	evs = flat(h.publish(0))
	checkTypes(t, "update", evs, events.OutdialUpdated)
	if len(evs) == 1 && data(t, evs[0]).Name != "autumn" {
		t.Errorf("outdial_updated data %s", evs[0].Data)
	}

	ids := h.targets(cust, o.ID, 3, "")
	evs = flat(h.publish(0))
	checkTypes(t, "import", evs, events.TargetCreated, events.TargetCreated, events.TargetCreated)
	for _, e := range evs {
		d := data(t, e)
		if d.OutdialID != o.ID || !slices.Contains(ids, d.ID) || d.Status != outdial.StatusIdle {
			t.Errorf("outdial_target_created data %s", e.Data)
		}
	}
	if len(evs) > 0 {
		got, err := h.store.GetTarget(h.ctx, cust, o.ID, data(t, evs[0]).ID)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(got); string(b) != string(evs[0].Data) {
			t.Errorf("outdial_target_created data\n%s\nwant (GetTarget)\n%s", evs[0].Data, b)
		}
	}

	claims := h.claim(cust, o.ID, 3)
	evs = flat(h.publish(0))
	checkTypes(t, "claim", evs, events.TargetUpdated, events.TargetUpdated, events.TargetUpdated)
	for _, e := range evs {
		if data(t, e).Status != outdial.StatusDialing {
			t.Errorf("claim: data %s", e.Data)
		}
	}

	// Two answered, one busy: a retry is pending, nothing completes.
	h.outcome(o.ID, claims[0], outdial.ResultAnswered, nil)
	h.outcome(o.ID, claims[1], outdial.ResultAnswered, nil)
	h.outcome(o.ID, claims[2], outdial.ResultBusy, nil)
	evs = flat(h.publish(0))
	checkTypes(t, "outcomes", evs, events.TargetUpdated, events.TargetUpdated, events.TargetUpdated)

	// The retry pending is deleted: nothing is left, the outdial completes.
	if _, err := h.store.DeleteTarget(h.ctx, cust, o.ID, claims[2].Target.ID); err != nil {
		t.Fatal(err)
	}
	evs = flat(h.publish(0))
	checkTypes(t, "delete target", evs, events.TargetDeleted, events.OutdialCompleted)
	if len(evs) == 2 {
		d := data(t, evs[1])
		if d.ID != o.ID || d.Counts == nil || *d.Counts != (outdial.Counts{Finished: 2}) || d.TargetCnt != 2 {
			t.Errorf("outdial_completed data %s", evs[1].Data)
		}
		if data(t, evs[0]).ID != claims[2].Target.ID {
			t.Errorf("outdial_target_deleted data %s", evs[0].Data)
		}
	}
	if evs := flat(h.publish(0)); len(evs) != 0 {
		t.Errorf("nothing changed: events %v", typesOf(evs))
	}

	// New work, done: it completes again (one batch: created, dialing,
	// finished, completed).
	h.targets(cust, o.ID, 1, "")
	h.outcome(o.ID, h.claim(cust, o.ID, 1)[0], outdial.ResultAnswered, nil)
	evs = flat(h.publish(0))
	checkTypes(t, "second round", evs, events.TargetCreated, events.TargetUpdated, events.TargetUpdated, events.OutdialCompleted)
	if len(evs) == 4 {
		if d := data(t, evs[3]); d.Counts == nil || d.Counts.Finished != 3 {
			t.Errorf("second outdial_completed data %s", evs[3].Data)
		}
	}

	if _, err := h.store.SetArchived(h.ctx, cust, o.ID, true); err != nil {
		t.Fatal(err)
	}
	evs = flat(h.publish(0))
	checkTypes(t, "archive", evs, events.OutdialUpdated)
	if len(evs) == 1 && !data(t, evs[0]).Archived {
		t.Errorf("archive: data %s", evs[0].Data)
	}

	// Deleted: one event; the purge of its targets makes none.
	if _, err := h.store.DeleteOutdial(h.ctx, cust, o.ID, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := h.store.PurgeTargets(h.ctx, cust, o.ID, false); err != nil || n != 3 {
		t.Fatalf("PurgeTargets = %d, %v", n, err)
	}
	evs = flat(h.publish(0))
	checkTypes(t, "delete outdial", evs, events.OutdialDeleted)
	if len(evs) == 1 && data(t, evs[0]).ID != o.ID {
		t.Errorf("outdial_deleted data %s", evs[0].Data)
	}

	// Every event id is unique.
	all := map[string]bool{}
	for _, d := range h.queue.got {
		for _, e := range d.Events {
			if all[e.ID] {
				t.Errorf("event id %s twice", e.ID)
			}
			all[e.ID] = true
		}
	}
}

// A purge whose records come in the same batch as the outdial's removal,
// or in a later one by a publisher that knew the outdial, makes no target
// events either.
func TestPurgeMakesNoTargetEvents(t *testing.T) {
	h := newHarness(t)
	cust := uuid.NewString()
	h.hooks.set(cust)
	o := h.outdial(cust)
	h.targets(cust, o.ID, 30, "")
	if evs := flat(h.publish(0)); len(evs) != 31 {
		t.Fatalf("%d events, want 31", len(evs))
	}
	if _, err := h.store.DeleteOutdial(h.ctx, cust, o.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.PurgeTargets(h.ctx, cust, o.ID, false); err != nil {
		t.Fatal(err)
	}
	// Small batches: the owner is cached from the import's events, so
	// the purge's REMOVEs must check the head again.
	checkTypes(t, "delete", flat(h.publish(7)), events.OutdialDeleted)
}

func TestCustomersApart(t *testing.T) {
	h := newHarness(t)
	custA, custB, custC := uuid.NewString(), uuid.NewString(), uuid.NewString()
	h.hooks.set(custA)
	h.hooks.set(custB)
	// custC has no webhook.
	owner := map[string]string{}
	for range 2 {
		for _, c := range []string{custA, custB, custC} {
			o := h.outdial(c)
			owner[o.ID] = c
			h.targets(c, o.ID, 120, "")
		}
	}
	ds := h.publish(0)
	count := map[string]int{}
	for _, d := range ds {
		if d.CustomerID != custA && d.CustomerID != custB {
			t.Fatalf("delivery to customer %s", d.CustomerID)
		}
		for _, e := range d.Events {
			r := data(t, e)
			oid := r.OutdialID
			if e.Type == events.OutdialCreated {
				oid = r.ID
			}
			if owner[oid] != d.CustomerID {
				t.Errorf("event %s of outdial %s (customer %s) in a delivery to %s", e.ID, oid, owner[oid], d.CustomerID)
			}
			count[d.CustomerID]++
		}
		if len(d.Events) > events.MaxEventsPerDelivery {
			t.Errorf("delivery of %d events", len(d.Events))
		}
	}
	if count[custA] != 242 || count[custB] != 242 {
		t.Errorf("events per customer %v, want 242 each", count)
	}
	// One lookup per customer and batch (here one batch per shard).
	shards := len(h.tap.iters)
	for c, n := range h.hooks.lookups {
		if n > shards {
			t.Errorf("customer %s: %d webhook lookups for %d batches", c, n, shards)
		}
	}
}

func TestEventTypesFilter(t *testing.T) {
	h := newHarness(t)
	cust := uuid.NewString()
	h.hooks.set(cust, events.OutdialCompleted)
	o := h.outdial(cust)
	h.targets(cust, o.ID, 2, "")
	for _, c := range h.claim(cust, o.ID, 2) {
		h.outcome(o.ID, c, outdial.ResultAnswered, nil)
	}
	ds := h.publish(0)
	checkTypes(t, "completed only", flat(ds), events.OutdialCompleted)
}

// One target's events reach the queue in the order they happened, across
// batches and deliveries.
func TestOrderPerTarget(t *testing.T) {
	h := newHarness(t)
	cust := uuid.NewString()
	h.hooks.set(cust)
	o := h.outdial(cust)
	h.targets(cust, o.ID, 40, "")
	now := time.Duration(0)
	for _, c := range h.claim(cust, o.ID, 40) {
		h.outcome(o.ID, c, outdial.ResultBusy, &now)
	}
	for _, c := range h.claim(cust, o.ID, 40) {
		h.outcome(o.ID, c, outdial.ResultAnswered, nil)
	}
	ds := h.publish(13)
	want := []outdial.Status{outdial.StatusIdle, outdial.StatusDialing, outdial.StatusIdle, outdial.StatusDialing, outdial.StatusFinished}
	seq := map[string][]outdial.Status{}
	completed := 0
	for _, e := range flat(ds) {
		switch e.Type {
		case events.TargetCreated, events.TargetUpdated:
			d := data(t, e)
			seq[d.ID] = append(seq[d.ID], d.Status)
		case events.OutdialCompleted:
			completed++
		}
	}
	if len(seq) != 40 {
		t.Errorf("%d targets with events, want 40", len(seq))
	}
	for id, s := range seq {
		if !slices.Equal(s, want) {
			t.Errorf("target %s: statuses %v, want %v", id, s, want)
		}
	}
	if completed != 1 {
		t.Errorf("%d outdial_completed, want 1", completed)
	}
	// With the whole stream in one batch the completion comes last; in
	// small batches it may come before the last targets' events (it is
	// detected from the counts when a batch is handled), with the final
	// counts.
	for _, e := range flat(ds) {
		if e.Type == events.OutdialCompleted {
			if d := data(t, e); d.Counts == nil || *d.Counts != (outdial.Counts{Finished: 40}) {
				t.Errorf("outdial_completed data %s", e.Data)
			}
		}
	}
}

// A batch handled again (a redelivery, in another process) makes the same
// events with the same ids, cut into the same deliveries.
func TestDeterministicIDs(t *testing.T) {
	h := newHarness(t)
	cust := uuid.NewString()
	h.hooks.set(cust)
	o := h.outdial(cust)
	h.targets(cust, o.ID, 150, "")
	for _, c := range h.claim(cust, o.ID, 150) {
		h.outcome(o.ID, c, outdial.ResultAnswered, nil)
	}
	first := h.publish(0)
	if n := len(flat(first)); n != 1+150*3+1 {
		t.Fatalf("%d events, want %d", n, 1+150*3+1)
	}
	again := h.publisher()
	if done, err := again.HandleRecords(h.ctx, h.kept); err != nil || done != len(h.kept) {
		t.Fatalf("HandleRecords = %d, %v", done, err)
	}
	second := h.queue.take()
	if len(first) != len(second) {
		t.Fatalf("%d deliveries, then %d", len(first), len(second))
	}
	for i := range first {
		a, b := first[i].Events, second[i].Events
		if events.DedupeID(a) != events.DedupeID(b) {
			t.Errorf("delivery %d: dedupe ids differ", i)
		}
		for j := range a {
			if j < len(b) && (a[j].ID != b[j].ID || a[j].Type != b[j].Type || !a[j].TM.Equal(b[j].TM.Time)) {
				t.Errorf("delivery %d event %d: %s %s, then %s %s", i, j, a[j].ID, a[j].Type, b[j].ID, b[j].Type)
			}
		}
	}
}

// An import of 3 000 targets read in one stream batch makes 30
// deliveries (cut_test.go has the arithmetic for 10 000; the size here
// keeps the shared DynamoDB Local of a test run light).
func TestImportBatching(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 3000
	h := newHarness(t)
	cust := uuid.NewString()
	h.hooks.set(cust)
	o := h.outdial(cust)
	h.flush()
	for i := 0; i < n; i += outdial.MaxTargetsPerRequest {
		h.targets(cust, o.ID, min(outdial.MaxTargetsPerRequest, n-i), "")
	}
	ds := h.publish(0)
	got := 0
	for _, d := range ds {
		got += len(d.Events)
		checkDelivery(t, d)
	}
	if got != n {
		t.Errorf("%d events, want %d", got, n)
	}
	if len(ds) > n/events.MaxEventsPerDelivery {
		t.Errorf("%d deliveries, want at most %d", len(ds), n/events.MaxEventsPerDelivery)
	}
	t.Logf("%d target_created events in %d deliveries", got, len(ds))
}

// flush publishes what is in the stream and drops the deliveries.
func (h *harness) flush() { h.publish(0) }

func checkDelivery(t *testing.T, d events.Delivery) {
	t.Helper()
	if len(d.Events) == 0 || len(d.Events) > events.MaxEventsPerDelivery {
		t.Errorf("delivery of %d events", len(d.Events))
	}
	msg, _ := json.Marshal(d)
	body, _ := json.Marshal(events.Body{Events: d.Events})
	if len(msg) > events.MaxDeliveryBytes || len(body) > events.MaxDeliveryBytes {
		t.Errorf("delivery of %d bytes (body %d), max %d", len(msg), len(body), events.MaxDeliveryBytes)
	}
}

// Large events: deliveries are cut by bytes before they reach 100 events.
func TestDeliveryBytes(t *testing.T) {
	h := newHarness(t)
	cust := uuid.NewString()
	h.hooks.set(cust)
	o := h.outdial(cust)
	h.flush()
	big := strings.Repeat("<&>\"", outdial.MaxTargetData/4) // escaped in JSON: 6 bytes a character or more
	h.targets(cust, o.ID, 150, big)
	ds := h.publish(0)
	n := 0
	for _, d := range ds {
		n += len(d.Events)
		checkDelivery(t, d)
	}
	if n != 150 || len(ds) < 3 {
		t.Errorf("%d events in %d deliveries", n, len(ds))
	}
}

// A delivery that cannot be queued: that record and every later one are
// reported, the earlier ones' events are queued; the retry from there
// queues the rest.
func TestEnqueueFailure(t *testing.T) {
	h := newHarness(t)
	cust := uuid.NewString()
	h.hooks.set(cust)
	o := h.outdial(cust)
	h.flush()
	h.targets(cust, o.ID, 250, "")
	shards := h.records()
	if len(shards) != 1 {
		t.Skipf("%d stream shards", len(shards))
	}
	recs := shards[0]
	h.queue.failOn(2)
	done, err := h.pub.HandleRecords(h.ctx, recs)
	if err == nil {
		t.Fatal("no error")
	}
	got := h.queue.take()
	if len(got) != 1 || len(got[0].Events) != 100 {
		t.Fatalf("queued %d deliveries", len(got))
	}
	// done is the record of the failed delivery's first event: the 101st
	// target's.
	creates := 0
	for _, r := range recs[:done] {
		if r.Op == "INSERT" && strAV(r.New["type"]) == "target" {
			creates++
		}
	}
	if creates != 100 {
		t.Errorf("done = %d: %d target inserts before it, want 100", done, creates)
	}
	h.queue.failOn(0)
	rest, err := h.pub.HandleRecords(h.ctx, recs[done:])
	if err != nil || rest != len(recs)-done {
		t.Fatalf("retry: HandleRecords = %d, %v", rest, err)
	}
	seen := map[string]bool{}
	for _, e := range flat(append(got, h.queue.take()...)) {
		seen[data(t, e).ID] = true
	}
	if len(seen) != 250 {
		t.Errorf("%d targets with events, want 250", len(seen))
	}
}

func strAV(v ddbtypes.AttributeValue) string {
	if s, ok := v.(*ddbtypes.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// A completion whose delivery fails is detected again by the retry, with
// the same event id.
func TestCompletionRetry(t *testing.T) {
	h := newHarness(t)
	cust := uuid.NewString()
	h.hooks.set(cust)
	o := h.outdial(cust)
	h.targets(cust, o.ID, 2, "")
	h.flush()
	for _, c := range h.claim(cust, o.ID, 2) {
		h.outcome(o.ID, c, outdial.ResultAnswered, nil)
	}
	shards := h.records()
	var failedID string
	h.queue.fail = func(_ int, d events.Delivery) bool {
		for _, e := range d.Events {
			if e.Type == events.OutdialCompleted {
				failedID = e.ID
				return true
			}
		}
		return false
	}
	for _, recs := range shards {
		done, err := h.pub.HandleRecords(h.ctx, recs)
		if err == nil {
			continue
		}
		h.queue.failOn(0)
		if _, err := h.pub.HandleRecords(h.ctx, recs[done:]); err != nil {
			t.Fatal(err)
		}
	}
	if failedID == "" {
		t.Fatal("no completion made")
	}
	var completed []string
	for _, e := range flat(h.queue.take()) {
		if e.Type == events.OutdialCompleted {
			completed = append(completed, e.ID)
		}
	}
	if len(completed) != 1 || completed[0] != failedID {
		t.Errorf("completions queued %v, want [%s]", completed, failedID)
	}
}

// A failed webhook lookup is retried like a failed delivery.
func TestWebhookLookupFailure(t *testing.T) {
	h := newHarness(t)
	cust := uuid.NewString()
	h.hooks.set(cust)
	h.outdial(cust)
	shards := h.records()
	h.hooks.fail = errors.New("throttled")
	for _, recs := range shards {
		done, err := h.pub.HandleRecords(h.ctx, recs)
		if err == nil || done == len(recs) {
			t.Errorf("HandleRecords = %d of %d, %v", done, len(recs), err)
		}
	}
	if got := h.queue.take(); len(got) != 0 {
		t.Errorf("%d deliveries", len(got))
	}
}

// Handle takes the Lambda event and reports the records to retry.
func TestHandle(t *testing.T) {
	h := newHarness(t)
	cust := uuid.NewString()
	h.hooks.set(cust)
	o := h.outdial(cust)
	h.targets(cust, o.ID, 150, "")
	var all []awsevents.DynamoDBEventRecord
	for _, s := range h.events() {
		all = append(all, s...)
	}
	ev := awsevents.DynamoDBEvent{Records: all}

	h.queue.failOn(2)
	resp, err := h.pub.Handle(h.ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) == 0 {
		t.Fatal("no batch item failures")
	}
	// The failures are a tail of the batch, by sequence number.
	first := len(all) - len(resp.BatchItemFailures)
	for i, f := range resp.BatchItemFailures {
		if f.ItemIdentifier != all[first+i].Change.SequenceNumber {
			t.Fatalf("failure %d = %s, want %s", i, f.ItemIdentifier, all[first+i].Change.SequenceNumber)
		}
	}
	h.queue.failOn(0)
	resp, err = h.pub.Handle(h.ctx, awsevents.DynamoDBEvent{Records: all[first:]})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry: %v, %v", resp, err)
	}
	ids := map[string]bool{}
	for _, e := range flat(h.queue.take()) {
		ids[e.ID] = true
	}
	if len(ids) != 151 {
		t.Errorf("%d distinct events, want 151", len(ids))
	}
}
