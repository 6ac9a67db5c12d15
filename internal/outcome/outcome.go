// Package outcome applies dialers' outcome messages from SQS. Each message
// is applied on its own with one conditional DynamoDB transaction (see
// dynamo.Store.ApplyOutcome); the handler answers SQS with the ids of the
// messages that failed, so only those are delivered again (and, after the
// queue's maxReceiveCount, moved to the dead-letter queue).
package outcome

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/outdial/outdial/internal/outdial"
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

// Parse decodes and checks one message body strictly (unknown fields are
// rejected) and returns the outcome it reports.
func Parse(body string) (outdial.Outcome, error) {
	if len(body) > MaxMessageBytes {
		return outdial.Outcome{}, outdial.Errorf(outdial.ECodeBodyTooLarge, "message: must be at most %d bytes", MaxMessageBytes)
	}
	var m Message
	dec := json.NewDecoder(bytes.NewReader([]byte(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		// The decoder's text can quote parts of the body (a number
		// literal, a field name), which may be a phone number: say only
		// what kind of problem it is.
		return outdial.Outcome{}, outdial.Errorf(outdial.ECodeInvalidJSON, "message: %s", decodeProblem(err))
	}
	if dec.More() {
		return outdial.Outcome{}, outdial.Errorf(outdial.ECodeInvalidJSON, "message: must hold one JSON object")
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

// decodeProblem describes a JSON decode error without quoting the input.
func decodeProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("not valid JSON (at byte %d)", se.Offset)
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("field %s has the wrong type (want %s)", fieldName(te.Field), te.Type)
		}
		return "must be a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return "has a field the contract does not define (attempt_id, outdial_id, target_id, result, retry_after_seconds)"
	default:
		return "not a valid outcome message"
	}
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
}

// Handle applies every message of the batch and reports the failed ones.
// It never returns an error: a failure of one message must not fail (and
// so redeliver) the others.
func (p *Processor) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	conc := p.Concurrency
	if conc <= 0 {
		conc = 10
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		failures []events.SQSBatchItemFailure
		sem      = make(chan struct{}, conc)
	)
	for _, msg := range ev.Records {
		wg.Add(1)
		sem <- struct{}{}
		go func(msg events.SQSMessage) {
			defer func() { <-sem; wg.Done() }()
			if err := p.apply(ctx, msg); err != nil {
				mu.Lock()
				failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
				mu.Unlock()
			}
		}(msg)
	}
	wg.Wait()
	return events.SQSEventResponse{BatchItemFailures: failures}, nil
}

// logger returns p.Log, or the default logger when it is nil.
func (p *Processor) logger() *slog.Logger {
	if p.Log == nil {
		return slog.Default()
	}
	return p.Log
}

// apply handles one message; the log never carries the destination.
func (p *Processor) apply(ctx context.Context, msg events.SQSMessage) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
			p.logger().ErrorContext(ctx, "outcome panicked", "message_id", msg.MessageId, "panic", fmt.Sprint(r))
		}
	}()
	o, err := Parse(msg.Body)
	if err != nil {
		// Malformed: report it so that the redrive policy parks it in the
		// DLQ. The body is not logged (it may hold anything).
		p.logger().WarnContext(ctx, "malformed outcome message", "message_id", msg.MessageId, "error", outdial.ErrorMessage(err), "bytes", len(msg.Body))
		return err
	}
	effect, err := p.Store.ApplyOutcome(ctx, o)
	if err != nil {
		var oe *outdial.Error
		level := slog.LevelError
		if errors.As(err, &oe) && oe.Code == outdial.ECodeUnavailable {
			level = slog.LevelWarn
		}
		p.logger().Log(ctx, level, "outcome not applied; will be redelivered", "message_id", msg.MessageId,
			"outdial_id", o.OutdialID, "target_id", o.TargetID, "attempt_id", o.AttemptID, "err", err)
		return err
	}
	p.logger().InfoContext(ctx, "outcome", "message_id", msg.MessageId, "outdial_id", o.OutdialID, "target_id", o.TargetID,
		"attempt_id", o.AttemptID, "result", o.Result, "effect", effect)
	return nil
}
