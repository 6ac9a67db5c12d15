package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// Message is one message for an SQS FIFO queue.
type Message struct {
	QueueURL string
	Body     string
	GroupID  string // MessageGroupId
	DedupeID string // MessageDeduplicationId
}

// Sender sends one message (SendMessage). This package does not link the
// SQS client, which every function importing it (through internal/webhook
// and internal/dynamo) would then link too: publish.SQS adapts
// *sqs.Client.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Queue queues deliveries on the SQS FIFO queue the deliver-webhooks
// function reads (it implements webhook.Enqueuer). Each message is one
// Delivery as JSON; its group is the customer, so one customer's
// deliveries (and so the events of one target) are handed out in the
// order they were queued, one at a time; its deduplication id is made of
// its events' ids, so a delivery queued again within SQS's five-minute
// window (a redelivered stream batch cut the same way) is dropped.
type Queue struct {
	Client Sender
	URL    string
}

// Enqueue sends d as one message.
func (q *Queue) Enqueue(ctx context.Context, d Delivery) error {
	if d.CustomerID == "" || len(d.Events) == 0 {
		return errors.New("enqueue delivery: no customer or no events")
	}
	body, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode delivery: %w", err)
	}
	err = q.Client.Send(ctx, Message{QueueURL: q.URL, Body: string(body), GroupID: d.CustomerID, DedupeID: DedupeID(d.Events)})
	if err != nil {
		return fmt.Errorf("queue delivery of %d events for customer %s: %w", len(d.Events), d.CustomerID, err)
	}
	return nil
}

// DedupeID is the FIFO deduplication id of a delivery of evs: the hex
// SHA-256 of their ids, each followed by a newline (64 characters; SQS
// allows 128).
func DedupeID(evs []Event) string {
	h := sha256.New()
	for _, e := range evs {
		h.Write([]byte(e.ID))
		h.Write([]byte{'\n'})
	}
	return hex.EncodeToString(h.Sum(nil))
}
