// Package deliver is the deliver-webhooks function (issue 15): it takes
// deliveries (events.Delivery, JSON) from the FIFO delivery queue and
// POSTs each to its customer's webhook (webhook.Deliverer), in order per
// customer, retrying with backoff for a retry window.
//
// Ordering. The queue is FIFO with MessageGroupId = customer id, so SQS
// hands out a group's messages in order and no later one while an
// earlier one is in flight. Within a batch the handler cuts each group's
// events afresh into POSTs of up to 100 events (groups in parallel), sent
// one after the other; once one fails, every record of the group not yet
// wholly delivered is reported as a batch item failure, so a later event
// never overtakes an earlier one.
//
// Batching. Cutting a group's records afresh sends a stream batch's
// partial last delivery with the next one's events. A partial last POST
// of bulk events (outdial_target_created, outdial_target_deleted) is held
// (holdFor): its records are made visible again at once when their group
// filled the batch (more of it are queued), else after Hold (5 s), and
// come back first in their group, with what was queued meanwhile; so an
// import of 10^4 targets makes 10^2 POSTs however many stream batches it
// spans. Status changes are never held.
// Events this instance has delivered are remembered (the last 20 000
// ids), so a record received again after part of it was delivered sends
// only the rest. Another instance sends it whole: a held record is often
// one part of which went out in the last full POST, so events received
// twice are routine (at least once; receivers dedupe on the event id),
// and an import may then take a POST or two more.
//
// Retries. The records of a failed POST, and those behind it, get the
// visibility Backoff(receive count of the failed POST's most received
// record) (by default 10 s doubling up to 1 h, with jitter), so the
// group comes back together. Each invocation reads a group's webhook
// once, at its first POST: a URI fixed or a receiver back up is picked up
// at the next try. A hold counts
// as a receive (the DLQ's maxReceiveCount of 50 leaves room for the two
// holds).
//
// Giving up. When a POST fails and more than RetryWindow (default 24 h)
// has passed since the FirstTry of its records (a POST never mixes
// records past the window with others), it is logged and reported as a
// success, so SQS deletes them: the events are dropped, and the group
// moves on. A record that is not a delivery at all (malformed JSON) is
// dropped the same way, at once: it can never succeed, and retrying it
// would hold up the customer's later events. The queue's redrive policy (a DLQ after
// maxReceiveCount receives) is the backstop for poison messages that
// neither succeed nor reach the window (the function crashing or timing
// out on them, a FirstTry in the future); maxReceiveCount must exceed the
// receives the retry window takes (with the default schedule about 32 in
// 24 h), or deliveries would reach the DLQ before the window ends.
//
// Nothing logged carries a secret, a URI (its query string may hold the
// customer's token) or event data: only message ids, the customer id,
// counts, status codes and errors that name neither.
package deliver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/sqsrecord"
	"github.com/outdial/outdial/internal/webhook"
)

// DefaultRetryWindow is how long a delivery is retried by default.
const DefaultRetryWindow = 24 * time.Hour

// Default backoff schedule: DefaultBackoffBase doubling up to
// DefaultBackoffMax.
const (
	DefaultBackoffBase = 10 * time.Second
	DefaultBackoffMax  = time.Hour
)

// Handler is the SQS-triggered Lambda handler of deliver-webhooks.
type Handler struct {
	Deliverer *webhook.Deliverer
	// Queue and QueueURL set the visibility of failed records; with
	// either unset the queue's visibility timeout applies instead.
	Queue    sqsrecord.VisibilityChanger
	QueueURL string
	// RetryWindow is how long after its FirstTry a delivery is retried
	// (DefaultRetryWindow when 0).
	RetryWindow time.Duration
	// Backoff is the delay before attempt+1, attempt being the record's
	// ApproximateReceiveCount (1 on the first receive);
	// DefaultBackoff when nil.
	Backoff func(attempt int) time.Duration
	Log     *slog.Logger
	Now     func() time.Time
	// Concurrency bounds how many groups are delivered at once (10 when
	// 0).
	Concurrency int
	// Hold is how long a partial delivery of bulk events may be held for
	// the next ones, at most twice (DefaultHold when 0, never when
	// negative).
	Hold time.Duration

	initOnce sync.Once
	sent     *idSet // event ids delivered
}

// DefaultHold is Hold's default: well over the time between two of
// publish-events' stream batches during an import (the stream's polls and
// the time to publish a batch), so that the next batch's deliveries are
// queued before the held ones come back.
const DefaultHold = 5 * time.Second

// sentIDs is the set of event ids this instance has delivered lately: a
// record received again after part of it was delivered (held, or behind
// a failed POST) sends only the rest. Another instance sends it whole;
// receivers dedupe on the event id.
func (h *Handler) sentIDs() *idSet {
	h.initOnce.Do(func() { h.sent = newIDSet(sentIDsKept) })
	return h.sent
}

// sentIDsKept bounds sentIDs: 200 deliveries' worth of events.
const sentIDsKept = 200 * events.MaxEventsPerDelivery

// idSet is a set of the last n ids added.
type idSet struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string
	next int
}

func newIDSet(n int) *idSet {
	return &idSet{ids: make(map[string]struct{}, n), ring: make([]string, n)}
}

func (s *idSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.ids[id]
	return ok
}

func (s *idSet) add(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if _, ok := s.ids[id]; ok {
			continue
		}
		if old := s.ring[s.next]; old != "" {
			delete(s.ids, old)
		}
		s.ring[s.next] = id
		s.ids[id] = struct{}{}
		s.next = (s.next + 1) % len(s.ring)
	}
}

// ExpBackoff returns a backoff schedule: base for the first attempt,
// doubling with each attempt up to max, each delay drawn uniformly
// within ±20% of its nominal value (so that deliveries failing together
// do not come back together).
func ExpBackoff(base, max time.Duration) func(attempt int) time.Duration {
	return func(attempt int) time.Duration {
		d := base
		for i := 1; i < attempt && d < max; i++ {
			d *= 2
		}
		d = min(d, max)
		if d <= 0 {
			return 0
		}
		spread := int64(d) * 2 / 5 // 40% of d: d*0.8 to d*1.2
		if spread > 0 {
			d = d - time.Duration(spread/2) + time.Duration(rand.Int64N(spread+1))
		}
		return d
	}
}

// DefaultBackoff is ExpBackoff(DefaultBackoffBase, DefaultBackoffMax):
// 10 s, 20 s, 40 s ... 1 h, 1 h ...
var DefaultBackoff = ExpBackoff(DefaultBackoffBase, DefaultBackoffMax)

// record is one SQS record and what the handler made of it.
type record struct {
	msg      lambdaevents.SQSMessage
	delivery events.Delivery
	bad      error // the body is not a delivery
}

// verdict is what becomes of a record.
type verdict int

const (
	done      verdict = iota // delivered, dropped or nothing to do: SQS deletes it
	retry                    // in or behind a failed POST: reported, visibility set to the backoff
	outOfTime                // not attempted (the invocation is about to end): reported, visible at once
	held                     // bulk events held for the next ones: reported, visible again at once or after Hold (holdFor)
)

// Handle delivers the batch and reports the records to be received
// again. It never returns an error: one record's failure must not make
// SQS redeliver the others.
func (h *Handler) Handle(ctx context.Context, ev lambdaevents.SQSEvent) (lambdaevents.SQSEventResponse, error) {
	recs := make([]record, len(ev.Records))
	var order []string // group keys in order of first appearance
	groups := map[string][]int{}
	for i, m := range ev.Records {
		recs[i] = record{msg: m}
		if err := json.Unmarshal([]byte(m.Body), &recs[i].delivery); err != nil {
			recs[i].bad = err
		}
		key := groupKey(recs[i])
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], i)
	}

	verdicts := make([]verdict, len(recs))
	conc := h.Concurrency
	if conc <= 0 {
		conc = 10
	}
	// group reports what becomes of each record in verdicts, never an
	// error to the group.
	var g errgroup.Group
	g.SetLimit(conc)
	for _, key := range order {
		idx := groups[key]
		g.Go(func() error {
			h.group(ctx, recs, idx, verdicts)
			return nil
		})
	}
	_ = g.Wait()

	var failures []lambdaevents.SQSBatchItemFailure
	for i, v := range verdicts {
		if v != done {
			failures = append(failures, lambdaevents.SQSBatchItemFailure{ItemIdentifier: recs[i].msg.MessageId})
		}
	}
	return lambdaevents.SQSEventResponse{BatchItemFailures: failures}, nil
}

// groupKey is the record's MessageGroupId, or failing that (a queue that
// does not set it, as a local stand-in may not) its customer id, or its
// message id.
func groupKey(r record) string {
	if g := r.msg.Attributes["MessageGroupId"]; g != "" {
		return "g:" + g
	}
	if r.bad == nil && r.delivery.CustomerID != "" {
		return "c:" + r.delivery.CustomerID
	}
	return "m:" + r.msg.MessageId
}

// item is one event of the group's records, to be sent.
type item struct {
	rec int // index in recs
	pos int // index in the group's items
	ev  events.Event
}

// group delivers the records idx (one group, in order) and sets their
// verdicts. Their events (less those this instance has delivered before,
// see sentIDs) are cut afresh into deliveries of up to
// events.MaxEventsPerDelivery events and events.MaxDeliveryBytes, so
// that a stream batch's partial last delivery goes out with the next
// one's events rather than as a POST of its own. A record is done once
// all its events are sent; a record with events not sent comes back:
//   - behind a failed POST: the records not done get the failed POST's
//     backoff, and SQS hands out none of a FIFO group while any of its
//     messages is in flight, so they come back together, in order;
//   - when the invocation is ending: visible again at once;
//   - held: the last POST would be partial and holds only bulk events
//     (an import's outdial_target_created, a bulk delete's
//     outdial_target_deleted): they are made visible again at once or
//     after Hold (holdFor), and go out with the events queued meanwhile.
func (h *Handler) group(ctx context.Context, recs []record, idx []int, verdicts []verdict) {
	log := h.logger()
	var items []item
	lastItem := map[int]int{} // record -> 1 + index of its last item
	for _, i := range idx {
		r := recs[i]
		if r.bad != nil {
			log.ErrorContext(ctx, "malformed delivery dropped", "message_id", r.msg.MessageId, "bytes", len(r.msg.Body), "error", decodeProblem(r.bad))
			continue // done
		}
		for _, e := range r.delivery.Events {
			if !h.sentIDs().has(e.ID) {
				items = append(items, item{rec: i, pos: len(items), ev: e})
			}
		}
		lastItem[i] = len(items) // no items left: done (this instance delivered them)
	}
	now := h.now()
	expired := map[int]bool{} // record -> past the retry window
	for _, i := range idx {
		ft := firstTry(recs[i])
		expired[i] = !ft.IsZero() && now.Sub(ft) > h.retryWindow()
	}
	// A POST mixes neither customers (a stand-in queue without groups
	// groups by customer anyway) nor records past the retry window with
	// records within it, so that a failed POST of expired records alone
	// is dropped.
	chunks := events.Cut(items, func(it item) events.Event { return it.ev }, len(`{"events":[]}`),
		func(a, b item) bool {
			return recs[a.rec].delivery.CustomerID != recs[b.rec].delivery.CustomerID || expired[a.rec] != expired[b.rec]
		},
		func(it item, size int) {
			log.ErrorContext(ctx, "event dropped: larger than a delivery", "message_id", recs[it.rec].msg.MessageId, "event_id", it.ev.ID, "type", it.ev.Type, "bytes", size)
		})

	send, hold := chunks, time.Duration(0)
	if len(chunks) > 0 {
		if d, ok := h.holdFor(recs, idx, chunks); ok {
			send, hold = chunks[:len(chunks)-1], d
		}
	}
	sent := 0 // items before this one are sent (or dropped by Cut)
	if len(chunks) > 0 {
		sent = chunks[0][0].pos
	}
	state, backoff := done, time.Duration(0)
	var wh hook
	for k, ch := range send {
		if !h.timeLeft(ctx) {
			state = outOfTime
			break
		}
		var ok bool
		if ok, backoff = h.post(ctx, &wh, recs, ch, expired[ch[0].rec]); !ok {
			state = retry
			break
		}
		sent = len(items)
		if k+1 < len(chunks) {
			sent = chunks[k+1][0].pos
		}
	}
	if state == done && len(send) < len(chunks) {
		state = held
	}
	after := time.Duration(0) // outOfTime: at once
	switch state {
	case retry:
		after = backoff
	case held:
		after = hold
	}
	var back []sqsrecord.Visible // the records not done: all of them visible again after the same time
	for _, i := range idx {
		if recs[i].bad != nil || lastItem[i] <= sent {
			continue // done
		}
		r := recs[i]
		verdicts[i] = state
		back = append(back, sqsrecord.Visible{Record: r.msg, After: after})
		switch state {
		case outOfTime:
			log.WarnContext(ctx, "delivery deferred: the invocation is ending", "message_id", r.msg.MessageId, "customer_id", r.delivery.CustomerID)
		case held:
			log.DebugContext(ctx, "bulk events held for the next ones", "message_id", r.msg.MessageId, "customer_id", r.delivery.CustomerID,
				"hold", hold.String())
		}
	}
	h.requeue(ctx, back)
}

// bulkTypes are the events of bulk changes, which may wait for the next
// ones (Hold).
var bulkTypes = map[events.Type]bool{events.TargetCreated: true, events.TargetDeleted: true}

// fullBatch is the most records SQS hands out per receive (and the
// template's BatchSize): a group with that many in a batch likely has more
// queued behind them.
const fullBatch = 10

// holdFor reports whether the last chunk of a group (the records idx) is
// to be held, and for how long. Only a partial chunk of bulk events is,
// and only with the queue there to make its records visible again:
//   - deferred (0 s) when the group filled the batch and made more than
//     one POST: more of it are likely queued, and the chunk's records
//     come back at once with them; records on their first receive only;
//   - held for Hold (in whole seconds, rounded up) when the group did not
//     fill the batch: the next stream batch's deliveries are likely on
//     their way; only while something new is in the group's batch (a
//     record on its first receive): a record back from a hold with
//     nothing new is sent. (A lone record of a few events is held too: it
//     may be the first or last poll's share of an import.) Records received at most
//     twice, so no event waits much more than 2 x Hold for others.
//
// A record's age says nothing here: it may have waited in its group
// behind a held one.
func (h *Handler) holdFor(recs []record, idx []int, chunks [][]item) (time.Duration, bool) {
	last := chunks[len(chunks)-1]
	hold := h.Hold
	if hold == 0 {
		hold = DefaultHold
	}
	if hold < 0 || len(last) >= events.MaxEventsPerDelivery || h.Queue == nil || h.QueueURL == "" {
		return 0, false
	}
	full := len(idx) >= fullBatch
	maxReceive := 2
	if full {
		if len(chunks) < 2 {
			return 0, false // the group's records make one partial POST: more would not join them
		}
		maxReceive = 1
	} else {
		fresh := false
		for _, i := range idx {
			fresh = fresh || sqsrecord.ReceiveCount(recs[i].msg) == 1
		}
		if !fresh {
			return 0, false
		}
	}
	for _, it := range last {
		r := recs[it.rec]
		if !bulkTypes[it.ev.Type] || r.msg.ReceiptHandle == "" || sqsrecord.ReceiveCount(r.msg) > maxReceive {
			return 0, false
		}
	}
	if full {
		return 0, true
	}
	return (hold + time.Second - 1).Truncate(time.Second), true
}

// post sends one chunk of a group's events as one delivery. It reports
// whether the chunk is done (delivered, nowhere to send it, or dropped:
// a failed chunk of records past the retry window, expired), and else the
// backoff of its records: that of the most received one.
func (h *Handler) post(ctx context.Context, wh *hook, recs []record, ch []item, expired bool) (ok bool, backoff time.Duration) {
	log := h.logger()
	first := recs[ch[0].rec]
	d := events.Delivery{CustomerID: first.delivery.CustomerID, Events: make([]events.Event, len(ch))}
	var msgIDs []string
	attempt := 0
	var oldest time.Time
	for j, it := range ch {
		d.Events[j] = it.ev
		r := recs[it.rec]
		if j == 0 || it.rec != ch[j-1].rec {
			msgIDs = append(msgIDs, r.msg.MessageId)
			attempt = max(attempt, sqsrecord.ReceiveCount(r.msg))
			if ft := firstTry(r); !ft.IsZero() && (oldest.IsZero() || ft.Before(oldest)) {
				oldest = ft
			}
		}
	}
	msgs := strings.Join(msgIDs, ",")
	res, err := h.send(ctx, wh, d)
	if err == nil {
		switch res.Status {
		case webhook.NoWebhook:
			log.InfoContext(ctx, "delivery dropped: the customer has no webhook", "message_id", msgs, "customer_id", d.CustomerID, "events", len(d.Events))
		case webhook.NotWanted:
			log.InfoContext(ctx, "delivery not sent: the webhook wants none of its events", "message_id", msgs, "customer_id", d.CustomerID, "events", len(d.Events))
		default:
			attrs := []any{"message_id", msgs, "customer_id", d.CustomerID, "events", res.Events, "status", res.StatusCode, "attempt", attempt}
			if !oldest.IsZero() {
				attrs = append(attrs, "since_queued_ms", h.now().Sub(oldest).Milliseconds())
			}
			log.InfoContext(ctx, "delivered", attrs...)
		}
		eventIDs := make([]string, len(d.Events))
		for j, e := range d.Events {
			eventIDs[j] = e.ID
		}
		h.sentIDs().add(eventIDs...)
		return true, 0
	}
	// A delivery whose first try is unknown is retried until the queue's
	// maxReceiveCount sends it to the DLQ.
	if expired {
		log.ErrorContext(ctx, "delivery dropped: retry window exceeded", "message_id", msgs, "customer_id", d.CustomerID,
			"events", len(d.Events), "attempt", attempt, "age", h.now().Sub(oldest).Round(time.Second).String(), "error", err.Error())
		return true, 0
	}
	backoff = h.backoff(attempt)
	log.WarnContext(ctx, "delivery failed; will retry", "message_id", msgs, "customer_id", d.CustomerID, "events", len(d.Events),
		"attempt", attempt, "retry_in", backoff.Round(time.Second).String(), "status", res.StatusCode, "error", err.Error())
	return false, backoff
}

// timeLeft reports whether the invocation has time for one more attempt
// (the client's timeout and a second to spare).
func (h *Handler) timeLeft(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx.Err() == nil
	}
	return time.Until(dl) > webhook.Timeout+time.Second
}

// hook is a group's webhook, read once per invocation (at its first
// POST): its later POSTs in the invocation go to the same one.
type hook struct {
	cfg  *webhook.Config // nil: none
	read bool
}

// send runs the deliverer, reading the group's webhook first if it is not
// read yet, and turning a panic into an error.
func (h *Handler) send(ctx context.Context, wh *hook, d events.Delivery) (res webhook.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	if h.Deliverer == nil {
		return res, errors.New("no deliverer")
	}
	if !wh.read {
		if wh.cfg, err = h.Deliverer.Webhook(ctx, d.CustomerID); err != nil {
			return res, err
		}
		wh.read = true
	}
	return h.Deliverer.SendTo(ctx, wh.cfg, d)
}

// requeue makes the records of vs visible again after their After (one
// ChangeMessageVisibilityBatch per ten). Without a queue, or when SQS
// refuses, the queue's visibility timeout applies.
func (h *Handler) requeue(ctx context.Context, vs []sqsrecord.Visible) {
	if h.Queue == nil || h.QueueURL == "" || len(vs) == 0 {
		return
	}
	if failed, err := sqsrecord.Requeue(ctx, h.Queue, h.QueueURL, vs); err != nil {
		h.logger().WarnContext(ctx, "could not set the visibility of deliveries not done", "messages", failed, "error", err.Error())
	}
}

// firstTry is when the delivery was first queued: its FirstTry, or the
// message's SentTimestamp when that is unset.
func firstTry(r record) time.Time {
	if r.delivery.FirstTry > 0 {
		return time.UnixMilli(r.delivery.FirstTry)
	}
	if ms, err := strconv.ParseInt(r.msg.Attributes["SentTimestamp"], 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{} // unknown
}

// decodeProblem describes a JSON error without quoting the body.
func decodeProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "not valid JSON (offset " + strconv.FormatInt(se.Offset, 10) + ")"
	case errors.As(err, &te):
		return "field " + strconv.Quote(te.Field) + " has the wrong type"
	}
	return "not a delivery"
}

func (h *Handler) retryWindow() time.Duration {
	if h.RetryWindow <= 0 {
		return DefaultRetryWindow
	}
	return h.RetryWindow
}

func (h *Handler) backoff(attempt int) time.Duration {
	if h.Backoff == nil {
		return DefaultBackoff(attempt)
	}
	return h.Backoff(attempt)
}

func (h *Handler) now() time.Time {
	if h.Now == nil {
		return time.Now()
	}
	return h.Now()
}

func (h *Handler) logger() *slog.Logger {
	if h.Log == nil {
		return slog.Default()
	}
	return h.Log
}
