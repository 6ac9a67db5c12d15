// Package publish is the publish-events function (issue 15): it reads the
// table's DynamoDB Stream, turns item changes into events (outdial_created,
// outdial_target_updated, outdial_completed...), and queues them for the
// deliver-webhooks function, in deliveries of one customer's events, in
// order, cut to the webhook's limits.
//
// Nothing here runs on the write paths: an import, a claim or an outcome
// costs the same DynamoDB writes with or without events. The publisher
// reads (owners, calling windows, counts when an outdial may have
// completed) and writes only an outdial's completion marker, at most twice
// per completion.
package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/webhook"
)

// Store is what the publisher needs of the table; *dynamo.Store is one.
type Store interface {
	// Resolve completes a decoded change (owner, target views).
	Resolve(ctx context.Context, c *dynamo.Change) error
	StreamMark() uint64
	OwnerSince(ctx context.Context, outdialID string, mark uint64) (customerID string, gone bool, err error)
	MarkActiveSince(ctx context.Context, outdialID string, mark uint64) error
	MarkCompletedAs(ctx context.Context, outdialID, token string) (*outdial.Outdial, error)
	ClearCompleted(ctx context.Context, outdialID, token string) error
	CountsOf(ctx context.Context, outdialID string) (outdial.Counts, error)
}

var _ Store = (*dynamo.Store)(nil)

// Publisher handles batches of stream records.
type Publisher struct {
	Store    Store
	Webhooks webhook.Store
	Queue    webhook.Enqueuer
	Log      *slog.Logger
	Now      func() time.Time // time.Now when nil
}

// enqueueConcurrency bounds the customers whose deliveries are queued at
// once (each customer's one after the other, in order).
const enqueueConcurrency = 8

// deadlineMargin is kept free before the invocation's deadline to answer.
const deadlineMargin = time.Second

// Handle is the Lambda handler (DynamoDB event source mapping with
// ReportBatchItemFailures). When a record's events cannot all be queued,
// it reports that record and every later one as batch item failures, so
// Lambda retries from it; the events of earlier records are queued (at
// least once: a retry may queue some events again, with the same ids). It
// never fails the batch as a whole.
func (p *Publisher) Handle(ctx context.Context, ev awsevents.DynamoDBEvent) (awsevents.DynamoDBEventResponse, error) {
	recs := make([]Record, 0, len(ev.Records))
	for _, r := range ev.Records {
		rec, err := FromLambda(r)
		if err != nil {
			// Malformed: it would fail again on every retry.
			p.logger().ErrorContext(ctx, "stream record skipped", "event_id", r.EventID, "err", err)
			continue
		}
		recs = append(recs, rec)
	}
	var resp awsevents.DynamoDBEventResponse
	done, err := p.HandleRecords(ctx, recs)
	if err != nil {
		p.logger().ErrorContext(ctx, "stream records to retry", "records", len(recs)-done, "of", len(recs), "err", err)
		for _, r := range recs[done:] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, awsevents.DynamoDBBatchItemFailure{ItemIdentifier: r.SequenceNumber})
		}
	}
	return resp, nil
}

// HandleRecords publishes the events of recs (one stream shard's, in
// order) and returns how many records, from the first, are done: their
// events are queued, or they make none. When done < len(recs), err says
// why, and recs[done:] must be handed in again (the events of some of them
// may have been queued already).
func (p *Publisher) HandleRecords(ctx context.Context, recs []Record) (done int, err error) {
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-deadlineMargin))
		defer cancel()
	}
	b := &batch{p: p, recs: recs, now: p.now(), mark: p.Store.StreamMark(), stop: len(recs), completions: map[string]completion{}, hooks: map[string]hook{}}
	for i := range recs {
		if err := b.record(ctx, i); err != nil {
			b.fail(i, err)
			break
		}
	}
	b.complete(ctx)
	b.deliver(ctx)
	return b.stop, errors.Join(b.errs...)
}

// batch is the work on one batch of records.
type batch struct {
	p    *Publisher
	recs []Record
	now  time.Time
	mark uint64 // the store's mark when the batch arrived

	evs         []pending             // in record order
	completions map[string]completion // outdials that may have completed, by id

	mu    sync.Mutex
	hooks map[string]hook // webhook of each customer, looked up once per batch
	stop  int             // first record not done
	errs  []error
}

// pending is one event made from record idx.
type pending struct {
	idx      int
	customer string
	ev       events.Event
	token    string // outdial_completed: the completion marker it set
	outdial  string // outdial_completed: the outdial
}

// completion is an outdial that may have completed at record idx (the
// last of the batch that left it nothing idle or dialing).
type completion struct {
	idx      int
	customer string
	at       time.Time // of the record
}

type hook struct {
	cfg *webhook.Config // nil: none
	err error
}

func (b *batch) fail(idx int, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stop = min(b.stop, idx)
	b.errs = append(b.errs, err)
}

// eventID is the id of the n-th event (0, 1) made from the record with
// stream event id recID: the same on every delivery of the record.
func eventID(recID string, n int) string {
	if n == 0 {
		return recID
	}
	return recID + "-" + strconv.Itoa(n)
}

// active reports whether a target in st is work left (idle, which
// includes waiting for a retry, or dialing).
func active(st outdial.Status) bool { return st == outdial.StatusIdle || st == outdial.StatusDialing }

// record turns record i into events; an error is worth retrying.
func (b *batch) record(ctx context.Context, i int) error {
	r := b.recs[i]
	tm := r.Created
	if tm.IsZero() {
		tm = b.now
	}
	c, err := dynamo.DecodeChange(r.Op, r.Old, r.New, tm)
	if err != nil {
		// Malformed: it would fail again on every retry.
		b.p.logger().ErrorContext(ctx, "stream record skipped", "event_id", r.EventID, "err", err)
		return nil
	}
	if c.Kind == "" {
		return nil
	}
	if c.Kind == dynamo.KindTarget && c.Op == dynamo.OpRemove {
		// A target deleted with its outdial (the purge) makes no event.
		if _, gone, err := b.p.Store.OwnerSince(ctx, c.OutdialID, b.mark); err != nil || gone {
			return err
		}
	}
	if err := b.p.Store.Resolve(ctx, &c); err != nil {
		return err
	}
	if c.CustomerID == "" {
		return nil // the outdial is gone
	}
	emit := func(t events.Type, data any) error {
		raw, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("encode %s: %w", t, err)
		}
		b.evs = append(b.evs, pending{idx: i, customer: c.CustomerID, ev: events.Event{
			ID: eventID(r.EventID, 0), Type: t, TM: outdial.Time{Time: c.At().UTC()}, Data: raw,
		}})
		return nil
	}
	if c.Kind == dynamo.KindOutdial {
		switch c.Op {
		case dynamo.OpInsert:
			return emit(events.OutdialCreated, c.New)
		case dynamo.OpModify:
			if !c.OwnFieldsChanged {
				return nil
			}
			o := c.New.(*outdial.Outdial)
			counts, err := b.p.Store.CountsOf(ctx, c.OutdialID)
			if err != nil {
				return err
			}
			o.Counts, o.TargetCount = counts, counts.Total()
			return emit(events.OutdialUpdated, o)
		default:
			return emit(events.OutdialDeleted, c.Old)
		}
	}
	before, after := c.TargetStatuses()
	if active(after) && !active(before) {
		// New work: the outdial is not complete (any more).
		if err := b.p.Store.MarkActiveSince(ctx, c.OutdialID, b.mark); err != nil {
			return err
		}
	}
	if active(before) && !active(after) {
		b.completions[c.OutdialID] = completion{idx: i, customer: c.CustomerID, at: c.At()}
	}
	switch c.Op {
	case dynamo.OpInsert:
		return emit(events.TargetCreated, c.New)
	case dynamo.OpModify:
		if !c.OwnFieldsChanged {
			return nil
		}
		return emit(events.TargetUpdated, c.New)
	default:
		return emit(events.TargetDeleted, c.Old)
	}
}

// complete detects the completions of the outdials whose targets left
// work in the records done, once per outdial and batch, after the rest
// (the counts are read now, so later records of the batch are counted
// too). An outdial_completed event follows the events of the last record
// that may have completed it, with that record's second event id, which
// is also the completion marker's token: a redelivery completes it again,
// with the same id.
func (b *batch) complete(ctx context.Context) {
	var todo []string
	for id, c := range b.completions {
		if c.idx < b.stop {
			todo = append(todo, id)
		}
	}
	slices.SortFunc(todo, func(x, y string) int { return b.completions[x].idx - b.completions[y].idx })
	for _, id := range todo {
		c := b.completions[id]
		if c.idx >= b.stop {
			break
		}
		h := b.webhook(ctx, c.customer)
		if h.err != nil {
			b.fail(c.idx, h.err)
			break
		}
		if h.cfg == nil || !h.cfg.Wants(events.OutdialCompleted) {
			continue // nobody to tell: no marker either (the next change after a webhook is set detects it)
		}
		r := b.recs[c.idx]
		token := eventID(r.EventID, 1)
		o, err := b.p.Store.MarkCompletedAs(ctx, id, token)
		if err != nil {
			b.fail(c.idx, err)
			break
		}
		if o == nil {
			continue
		}
		raw, err := json.Marshal(o)
		if err != nil {
			b.fail(c.idx, err)
			break
		}
		b.evs = append(b.evs, pending{idx: c.idx, customer: c.customer, token: token, outdial: id, ev: events.Event{
			ID: token, Type: events.OutdialCompleted, TM: outdial.Time{Time: c.at.UTC()}, Data: raw,
		}})
	}
	// Record order; a completion after its record's own event.
	slices.SortStableFunc(b.evs, func(x, y pending) int { return x.idx - y.idx })
}

// webhook returns the customer's webhook, looked up once per batch.
func (b *batch) webhook(ctx context.Context, customerID string) hook {
	b.mu.Lock()
	h, ok := b.hooks[customerID]
	b.mu.Unlock()
	if ok {
		return h
	}
	cfg, err := b.p.Webhooks.GetWebhook(ctx, customerID)
	switch {
	case outdial.ErrorCode(err) == outdial.ECodeNotFound:
		h = hook{}
	case err != nil:
		h = hook{err: fmt.Errorf("webhook of customer %s: %w", customerID, err)}
	default:
		h = hook{cfg: cfg}
	}
	if h.err == nil {
		b.mu.Lock()
		b.hooks[customerID] = h
		b.mu.Unlock()
	}
	return h
}

// deliver queues the events of the records done, per customer: those its
// webhook wants, in order, cut into deliveries. A customer whose delivery
// fails queues nothing more (its order), and the batch is not done from
// the first record of that delivery on.
func (b *batch) deliver(ctx context.Context) {
	stop := b.stop
	var order []string
	byCustomer := map[string][]pending{}
	for _, e := range b.evs {
		if e.idx >= stop {
			continue
		}
		if byCustomer[e.customer] == nil {
			order = append(order, e.customer)
		}
		byCustomer[e.customer] = append(byCustomer[e.customer], e)
	}
	firstTry := b.now.UnixMilli()
	var g errgroup.Group
	g.SetLimit(enqueueConcurrency)
	for _, cust := range order {
		evs := byCustomer[cust]
		g.Go(func() error {
			h := b.webhook(ctx, cust)
			if h.err != nil {
				b.fail(evs[0].idx, h.err)
				b.undo(ctx, evs)
				return nil
			}
			if h.cfg == nil {
				return nil // no webhook: nobody to tell
			}
			evs = slices.DeleteFunc(evs, func(e pending) bool { return !h.cfg.Wants(e.ev.Type) })
			chunks := cut(cust, evs, firstTry, func(e pending, size int) {
				b.p.logger().ErrorContext(ctx, "event dropped: larger than a delivery", "event_id", e.ev.ID, "type", e.ev.Type, "bytes", size)
			})
			for k, ch := range chunks {
				d := events.Delivery{CustomerID: cust, FirstTry: firstTry, Events: make([]events.Event, len(ch))}
				for j, e := range ch {
					d.Events[j] = e.ev
				}
				if err := b.p.Queue.Enqueue(ctx, d); err != nil {
					b.fail(ch[0].idx, err)
					for _, rest := range chunks[k:] {
						b.undo(ctx, rest)
					}
					return nil
				}
			}
			return nil
		})
	}
	_ = g.Wait()
}

// undo takes back the completion markers set for events that were not
// queued, so that the retry of their records detects the completions
// again.
func (b *batch) undo(ctx context.Context, evs []pending) {
	for _, e := range evs {
		if e.token == "" {
			continue
		}
		if err := b.p.Store.ClearCompleted(context.WithoutCancel(ctx), e.outdial, e.token); err != nil {
			b.p.logger().ErrorContext(ctx, "completion marker left set: outdial_completed lost unless the retry makes the same event", "outdial_id", e.outdial, "err", err)
		}
	}
}

// cut splits one customer's events, in order, into deliveries of at most
// events.MaxEventsPerDelivery events and events.MaxDeliveryBytes once
// encoded, as the queue's message (events.Delivery) and so as the webhook's
// body, which is smaller. An event that fits in no delivery (none does:
// the text fields are bounded far below) is passed to drop.
func cut(customerID string, evs []pending, firstTry int64, drop func(e pending, size int)) [][]pending {
	empty, _ := json.Marshal(events.Delivery{CustomerID: customerID, Events: []events.Event{}, FirstTry: firstTry})
	return events.Cut(evs, func(p pending) events.Event { return p.ev }, len(empty), nil, drop)
}

func (p *Publisher) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// logger returns p.Log, or the default logger when it is nil.
func (p *Publisher) logger() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}
