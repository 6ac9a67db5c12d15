// Package deliver is the deliver-webhooks function (issue 15): it takes
// deliveries (events.Delivery, JSON) from the FIFO delivery queue and
// POSTs each to its customer's webhook (webhook.Deliverer), in order per
// customer, retrying with backoff for a retry window.
//
// Ordering. The queue is FIFO with MessageGroupId = customer id, so SQS
// hands out a group's messages in order and no later one while an
// earlier one is in flight. Within a batch the handler delivers each
// group's records one after the other (groups in parallel); once one
// fails, it and every later record of its group in the batch are
// reported as batch item failures without being attempted, so a later
// delivery never overtakes an earlier one.
//
// Retries. A failed record's visibility is set to Backoff(receive count)
// (by default 10 s doubling up to 1 h, with jitter), and the later
// records of its group skipped in the batch get the same, so the group
// comes back together. Each attempt reads the webhook again: a URI fixed
// or a receiver back up is picked up at the next try.
//
// Giving up. When a record fails and more than RetryWindow (default 24 h)
// has passed since its FirstTry, it is logged and reported as a success,
// so SQS deletes it: the delivery is dropped, and the group moves on. A
// record that is not a delivery at all (malformed JSON) is dropped the
// same way, at once: it can never succeed, and retrying it would hold up
// the customer's later events. The queue's redrive policy (a DLQ after
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
	"sync"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/outdial/outdial/internal/events"
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

// maxVisibility is SQS's maximum visibility timeout.
const maxVisibility = 12 * time.Hour

// VisibilityChanger is the part of the SQS client the handler uses.
type VisibilityChanger interface {
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// Handler is the SQS-triggered Lambda handler of deliver-webhooks.
type Handler struct {
	Deliverer *webhook.Deliverer
	// Queue and QueueURL set the visibility of failed records; with
	// either unset the queue's visibility timeout applies instead.
	Queue    VisibilityChanger
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
	retry                    // failed: reported, visibility set to the backoff
	skipped                  // not attempted (an earlier record of its group failed): reported, same visibility
	outOfTime                // not attempted (the invocation is about to end): reported, visible at once
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
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	for _, key := range order {
		idx := groups[key]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			h.group(ctx, recs, idx, verdicts)
		}()
	}
	wg.Wait()

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

// group delivers the records idx (one group, in order) and sets their
// verdicts. Records deferred behind one that was not delivered get the
// same visibility as it: SQS hands out none of a FIFO group while any of
// its messages is in flight, so they come back together, in order.
func (h *Handler) group(ctx context.Context, recs []record, idx []int, verdicts []verdict) {
	var (
		held    verdict // retry or outOfTime once a record of the group was not delivered
		backoff time.Duration
	)
	for _, i := range idx {
		switch {
		case held == retry:
			verdicts[i] = skipped
			h.setVisibility(ctx, recs[i].msg, backoff)
			h.logger().InfoContext(ctx, "delivery deferred behind a failed one of its group", "message_id", recs[i].msg.MessageId,
				"customer_id", recs[i].delivery.CustomerID)
			continue
		case held == outOfTime || !h.timeLeft(ctx):
			held, verdicts[i] = outOfTime, outOfTime
			h.setVisibility(ctx, recs[i].msg, 0)
			h.logger().WarnContext(ctx, "delivery deferred: the invocation is ending", "message_id", recs[i].msg.MessageId,
				"customer_id", recs[i].delivery.CustomerID)
			continue
		}
		var ok bool
		if ok, backoff = h.one(ctx, recs[i]); !ok {
			held, verdicts[i] = retry, retry
		}
	}
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

// one attempts record r. It reports whether SQS may delete r, and else
// the backoff set as r's visibility.
func (h *Handler) one(ctx context.Context, r record) (ok bool, backoff time.Duration) {
	log := h.logger()
	id := r.msg.MessageId
	if r.bad != nil {
		log.ErrorContext(ctx, "malformed delivery dropped", "message_id", id, "bytes", len(r.msg.Body), "error", decodeProblem(r.bad))
		return true, 0
	}
	d := r.delivery
	attempt := receiveCount(r.msg)
	res, err := h.send(ctx, d)
	if err == nil {
		switch res.Status {
		case webhook.NoWebhook:
			log.InfoContext(ctx, "delivery dropped: the customer has no webhook", "message_id", id, "customer_id", d.CustomerID, "events", len(d.Events))
		case webhook.NotWanted:
			log.InfoContext(ctx, "delivery not sent: the webhook wants none of its events", "message_id", id, "customer_id", d.CustomerID, "events", len(d.Events))
		default:
			attrs := []any{"message_id", id, "customer_id", d.CustomerID, "events", res.Events, "status", res.StatusCode, "attempt", attempt}
			if ft := firstTry(r); !ft.IsZero() {
				attrs = append(attrs, "since_queued_ms", h.now().Sub(ft).Milliseconds())
			}
			log.InfoContext(ctx, "delivered", attrs...)
		}
		return true, 0
	}
	// A delivery whose first try is unknown is retried until the queue's
	// maxReceiveCount sends it to the DLQ.
	ft := firstTry(r)
	if age := h.now().Sub(ft); !ft.IsZero() && age > h.retryWindow() {
		log.ErrorContext(ctx, "delivery dropped: retry window exceeded", "message_id", id, "customer_id", d.CustomerID,
			"events", len(d.Events), "attempt", attempt, "age", age.Round(time.Second).String(), "error", err.Error())
		return true, 0
	}
	backoff = h.backoff(attempt)
	log.WarnContext(ctx, "delivery failed; will retry", "message_id", id, "customer_id", d.CustomerID, "events", len(d.Events),
		"attempt", attempt, "retry_in", backoff.Round(time.Second).String(), "status", res.StatusCode, "error", err.Error())
	h.setVisibility(ctx, r.msg, backoff)
	return false, backoff
}

// send runs the deliverer, turning a panic into an error.
func (h *Handler) send(ctx context.Context, d events.Delivery) (res webhook.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	if h.Deliverer == nil {
		return res, errors.New("no deliverer")
	}
	return h.Deliverer.Send(ctx, d)
}

// setVisibility makes msg visible again after d (clamped to SQS's
// bounds). Without a queue, or when SQS refuses, the queue's visibility
// timeout applies.
func (h *Handler) setVisibility(ctx context.Context, msg lambdaevents.SQSMessage, d time.Duration) {
	if h.Queue == nil || h.QueueURL == "" || msg.ReceiptHandle == "" {
		return
	}
	secs := int32(min(max(d, 0), maxVisibility).Round(time.Second) / time.Second)
	_, err := h.Queue.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(h.QueueURL), ReceiptHandle: aws.String(msg.ReceiptHandle), VisibilityTimeout: secs,
	})
	if err != nil {
		h.logger().WarnContext(ctx, "could not set the visibility of a failed delivery", "message_id", msg.MessageId, "seconds", secs, "error", err.Error())
	}
}

// receiveCount is the record's ApproximateReceiveCount (1 when absent).
func receiveCount(m lambdaevents.SQSMessage) int {
	n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		return 1
	}
	return n
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
