// Package outcome applies dialers' outcome messages from SQS. A batch is
// applied with as few conditional DynamoDB transactions as the store can
// (dynamo.Store.ApplyOutcomes: one per outdial, retried through conflicts
// and throttling); the handler answers SQS with the ids of the messages
// that failed, so only those are delivered again (and, after the queue's
// maxReceiveCount, moved to the dead-letter queue).
package outcome

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/sqsrecord"
	"github.com/outdial/outdial/internal/strictjson"
)

// MaxMessageBytes bounds an outcome message body.
const MaxMessageBytes = 4096

// MaxRetryAfter bounds retry_after_seconds.
const MaxRetryAfter = outdial.MaxRetryDelay

// Message is the JSON body a dialer sends to the outcome queue.
type Message struct {
	AttemptID         string `json:"attempt_id"`
	OutdialID         string `json:"outdial_id"`
	TargetID          string `json:"target_id"`
	Result            string `json:"result"`
	RetryAfterSeconds *int   `json:"retry_after_seconds,omitempty"`
}

// Parse decodes and checks one message body with the service's one strict
// decoder (strictjson: duplicate keys, unknown fields, wrong types and
// invalid UTF-8 are rejected, as in HTTP bodies) and returns the outcome
// it reports.
func Parse(body string) (outdial.Outcome, error) {
	if len(body) > MaxMessageBytes {
		return outdial.Outcome{}, outdial.Errorf(outdial.ECodeBodyTooLarge, "message: must be at most %d bytes", MaxMessageBytes)
	}
	var m Message
	if err := strictjson.Decode([]byte(body), &m); err != nil {
		return outdial.Outcome{}, decodeProblem(err)
	}
	var o outdial.Outcome
	var err error
	if o.OutdialID, err = outdial.ParseID("outdial_id", m.OutdialID); err != nil {
		return o, err
	}
	if o.TargetID, err = outdial.ParseID("target_id", m.TargetID); err != nil {
		return o, err
	}
	if o.AttemptID, err = outdial.CanonicalAttemptID(m.AttemptID); err != nil {
		return o, err
	}
	if o.Result, err = outdial.ParseResult(m.Result); err != nil {
		return o, err
	}
	if m.RetryAfterSeconds != nil {
		if *m.RetryAfterSeconds < 0 || *m.RetryAfterSeconds > MaxRetryAfter {
			return o, outdial.FieldErrorf(outdial.ECodeInvalidField, "retry_after_seconds", "must be between 0 and %d", MaxRetryAfter)
		}
		d := time.Duration(*m.RetryAfterSeconds) * time.Second
		o.RetryAfter = &d
	}
	return o, nil
}

// decodeProblem restates a decode error for the log and the DLQ without
// quoting the message: the decoder names the key at fault, and a key a
// dialer made up may be anything, a phone number included. Only the
// contract's own field names are kept.
func decodeProblem(err error) error {
	var e *outdial.Error
	if !errors.As(err, &e) {
		return outdial.Errorf(outdial.ECodeInvalidJSON, "message: not a valid outcome message")
	}
	field := fieldName(e.Field)
	switch {
	case e.Code == outdial.ECodeUnknownField:
		return outdial.Errorf(e.Code, "message: has a field the contract does not define (attempt_id, outdial_id, target_id, result, retry_after_seconds)")
	case e.Code == outdial.ECodeInvalidJSON && e.Field != "": // strictjson: a duplicate key
		return outdial.FieldErrorf(e.Code, field, "appears twice in one object of the message")
	case e.Code == outdial.ECodeInvalidField:
		return outdial.FieldErrorf(e.Code, field, "has the wrong type")
	}
	return outdial.Errorf(e.Code, "message: not a valid outcome message (not one JSON object, or not valid UTF-8)")
}

// fieldName keeps a field name only if it is one of the contract's.
func fieldName(f string) string {
	switch f {
	case "attempt_id", "outdial_id", "target_id", "result", "retry_after_seconds":
		return f
	}
	return "(unknown)"
}

// Applier is the part of the store the processor needs.
type Applier interface {
	ApplyOutcome(ctx context.Context, o outdial.Outcome) (outdial.OutcomeEffect, error)
}

// Processor is the SQS-triggered Lambda handler.
type Processor struct {
	Store Applier
	Log   *slog.Logger
	// Concurrency bounds how many messages of a batch are applied at once.
	Concurrency int
	// Queue and QueueURL, when set, are the outcome queue: an outcome the
	// store could not apply for lack of time or throughput (code
	// unavailable) is made visible again after RetryDelay of its receive
	// count, seconds rather than the queue's visibility timeout, so that
	// it is applied before the dialer's lease runs out.
	Queue    sqsrecord.VisibilityChanger
	QueueURL string
}

// RetryDelay is how long an outcome that could not be applied in time
// stays invisible after its receive'th receive: 5 s, 15 s, 45 s, then the
// queue's 120 s.
func RetryDelay(receive int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < receive && d < maxRetryDelay; i++ {
		d *= 3
	}
	return min(d, maxRetryDelay)
}

// maxRetryDelay is the outcome queue's visibility timeout (template.yaml).
const maxRetryDelay = 120 * time.Second

// BatchApplier is a store that applies several outcomes in one go
// (dynamo.Store does: one transaction per batch).
type BatchApplier interface {
	ApplyOutcomes(ctx context.Context, outcomes []outdial.Outcome) []outdial.OutcomeResult
}

// Handle applies every message of the batch and reports the failed ones.
// It never returns an error: a failure of one message must not fail (and
// so redeliver) the others.
func (p *Processor) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	if b, ok := p.Store.(BatchApplier); ok {
		return p.handleBatch(ctx, ev, b), nil
	}
	conc := p.Concurrency
	if conc <= 0 {
		conc = 10
	}
	// Each message on its own, conc at once; a failure is that message's
	// alone, so the goroutines never return an error to the group.
	var g errgroup.Group
	g.SetLimit(conc)
	errs := make([]error, len(ev.Records))
	for i, msg := range ev.Records {
		g.Go(func() error {
			errs[i] = p.guard(ctx, msg.MessageId, func() error {
				o, err := p.parse(ctx, msg)
				if err != nil {
					return err
				}
				effect, err := p.Store.ApplyOutcome(ctx, o)
				return p.logResult(ctx, msg.MessageId, o, effect, err)
			})
			return nil
		})
	}
	_ = g.Wait()
	var (
		failures []events.SQSBatchItemFailure
		soon     []events.SQSMessage
	)
	for i, msg := range ev.Records {
		if errs[i] != nil {
			failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
			if unavailable(errs[i]) {
				soon = append(soon, msg)
			}
		}
	}
	p.retrySoon(ctx, soon)
	return events.SQSEventResponse{BatchItemFailures: failures}, nil
}

// unavailable tells whether err is the store's "try again" (code
// unavailable: out of time, throttled, conflicts).
func unavailable(err error) bool {
	var oe *outdial.Error
	return errors.As(err, &oe) && oe.Code == outdial.ECodeUnavailable
}

// retrySoon makes msgs visible again after RetryDelay of their receive
// count. Without a queue, or when SQS refuses, the queue's visibility
// timeout applies.
func (p *Processor) retrySoon(ctx context.Context, msgs []events.SQSMessage) {
	if p.Queue == nil || p.QueueURL == "" || len(msgs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, retrySoonTimeout)
	defer cancel()
	vs := make([]sqsrecord.Visible, len(msgs))
	for i, m := range msgs {
		vs[i] = sqsrecord.Visible{Record: m, After: RetryDelay(sqsrecord.ReceiveCount(m))}
	}
	if failed, err := sqsrecord.Requeue(ctx, p.Queue, p.QueueURL, vs); err != nil {
		p.logger().WarnContext(ctx, "could not make outcomes visible again early", "messages", failed, "error", err.Error())
	}
}

// retrySoonTimeout bounds retrySoon's requests, within the two seconds
// the store leaves before the deadline.
const retrySoonTimeout = time.Second

// handleBatch parses every message, applies the well-formed ones with one
// ApplyOutcomes call, and reports the malformed and failed ones.
func (p *Processor) handleBatch(ctx context.Context, ev events.SQSEvent, b BatchApplier) events.SQSEventResponse {
	var (
		failures []events.SQSBatchItemFailure
		outcomes []outdial.Outcome
		msgs     []events.SQSMessage
	)
	fail := func(id string) { failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: id}) }
	for _, msg := range ev.Records {
		o, err := p.parse(ctx, msg)
		if err != nil {
			fail(msg.MessageId)
			continue
		}
		outcomes = append(outcomes, o)
		msgs = append(msgs, msg)
	}
	if len(outcomes) == 0 {
		return events.SQSEventResponse{BatchItemFailures: failures}
	}
	var results []outdial.OutcomeResult
	// The store retries conflicts and throttling until its context ends;
	// end it two seconds before the function's deadline, so that the
	// outcomes it could not apply are made visible again early (retrySoon,
	// up to a second) and reported as failed instead of the whole
	// invocation timing out.
	work, cancel := beforeDeadline(ctx, 2*time.Second)
	defer cancel()
	err := p.guard(ctx, "batch", func() error {
		results = b.ApplyOutcomes(work, outcomes)
		if len(results) != len(outcomes) {
			return fmt.Errorf("store answered %d results for %d outcomes", len(results), len(outcomes))
		}
		return nil
	})
	var soon []events.SQSMessage
	for i, o := range outcomes {
		if err != nil {
			fail(msgs[i].MessageId)
			continue
		}
		if err := p.logResult(ctx, msgs[i].MessageId, o, results[i].Effect, results[i].Err); err != nil {
			fail(msgs[i].MessageId)
			if unavailable(err) {
				soon = append(soon, msgs[i])
			}
		}
	}
	p.retrySoon(ctx, soon)
	return events.SQSEventResponse{BatchItemFailures: failures}
}

// beforeDeadline returns ctx with a deadline margin before ctx's own, if
// it has one.
func beforeDeadline(ctx context.Context, margin time.Duration) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-margin))
}

// logger returns p.Log, or the default logger when it is nil.
func (p *Processor) logger() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}

// guard runs fn and turns a panic into an error, so that one bad message
// cannot take the batch down.
func (p *Processor) guard(ctx context.Context, id string, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			p.logger().ErrorContext(ctx, "outcome panicked", "message_id", id, "panic", fmt.Sprint(r))
		}
	}()
	return fn()
}

// parse decodes one message. A malformed one is reported so that the
// redrive policy parks it in the DLQ; its body is not logged (it may hold
// anything, a phone number included).
func (p *Processor) parse(ctx context.Context, msg events.SQSMessage) (outdial.Outcome, error) {
	o, err := Parse(msg.Body)
	if err != nil {
		p.logger().WarnContext(ctx, "malformed outcome message", "message_id", msg.MessageId, "error", outdial.ErrorMessage(err), "bytes", len(msg.Body))
	}
	return o, err
}

// logResult logs what applying o did and returns err; the log never
// carries the destination.
func (p *Processor) logResult(ctx context.Context, id string, o outdial.Outcome, effect outdial.OutcomeEffect, err error) error {
	if err != nil {
		var oe *outdial.Error
		level := slog.LevelError
		if errors.As(err, &oe) && oe.Code == outdial.ECodeUnavailable {
			level = slog.LevelWarn
		}
		p.logger().Log(ctx, level, "outcome not applied; will be redelivered", "message_id", id,
			"outdial_id", o.OutdialID, "target_id", o.TargetID, "attempt_id", o.AttemptID, "err", err)
		return err
	}
	p.logger().InfoContext(ctx, "outcome", "message_id", id, "outdial_id", o.OutdialID, "target_id", o.TargetID,
		"attempt_id", o.AttemptID, "result", o.Result, "effect", effect)
	return nil
}
