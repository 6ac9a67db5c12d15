// Package purge removes the targets of deleted outdials. DELETE
// /v1.0/outdials/{id} deletes the outdial and its counts at once (after
// that nothing of it is visible or dialable) and queues a purge message;
// this SQS-triggered function then deletes the target items, which for a
// 100 000-target list takes longer than an API call may.
package purge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/strictjson"
)

// Message is the body of a purge message.
type Message struct {
	CustomerID string `json:"customer_id"`
	OutdialID  string `json:"outdial_id"`
}

// MarkedAttribute is the message attribute (String "true") saying that
// the delete leaves a purge marker, as every delete does since the marker
// exists (dynamo.Store.DeleteOutdial). A message without it was queued
// before that, and its purge reads every shard whether or not a marker is
// found. It is an attribute, not a field of the body, so that a purge
// function from before it (a rollback) still decodes the body (its strict
// decoder refuses unknown fields): that one reads every shard and leaves
// the marker, a small item of no outdial.
const MarkedAttribute = "marked"

// marked reports whether msg carries MarkedAttribute.
func marked(msg events.SQSMessage) bool {
	v := msg.MessageAttributes[MarkedAttribute].StringValue
	return v != nil && *v == "true"
}

// Store is the part of the store the purge needs.
type Store interface {
	PurgeTargets(ctx context.Context, customerID, outdialID string, unmarked bool) (int, error)
}

// Processor is the SQS-triggered Lambda handler of the purge queue.
type Processor struct {
	Store Store
	Log   *slog.Logger
}

// Handle purges every message's outdial; messages that fail (for example
// because the outdial's delete has not happened yet) are reported and come
// back after the visibility timeout.
func (p *Processor) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var failures []events.SQSBatchItemFailure
	for _, msg := range ev.Records {
		var m Message
		err := strictjson.Decode([]byte(msg.Body), &m)
		if err == nil {
			_, err = outdial.ParseID("outdial_id", m.OutdialID)
		}
		if err == nil {
			_, err = outdial.ParseID("customer_id", m.CustomerID)
		}
		if err != nil {
			p.Log.WarnContext(ctx, "malformed purge message", "message_id", msg.MessageId)
			failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
			continue
		}
		mk := marked(msg)
		n, err := p.Store.PurgeTargets(ctx, m.CustomerID, m.OutdialID, !mk)
		if err != nil {
			p.Log.WarnContext(ctx, "purge not finished; will be redelivered", "outdial_id", m.OutdialID, "marked", mk, "deleted", n, "err", err)
			failures = append(failures, events.SQSBatchItemFailure{ItemIdentifier: msg.MessageId})
			continue
		}
		p.Log.InfoContext(ctx, "purged targets of deleted outdial", "outdial_id", m.OutdialID, "marked", mk, "deleted", n)
	}
	return events.SQSEventResponse{BatchItemFailures: failures}, nil
}

// SQSSender is the part of the SQS client Queue needs.
type SQSSender interface {
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Queue sends purge messages.
type Queue struct {
	Client SQSSender
	URL    string
}

// Enqueue asks for the targets of the outdial to be purged.
func (q *Queue) Enqueue(ctx context.Context, customerID, outdialID string) error {
	b, _ := json.Marshal(Message{CustomerID: customerID, OutdialID: outdialID})
	if _, err := q.Client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(q.URL), MessageBody: aws.String(string(b)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			MarkedAttribute: {DataType: aws.String("String"), StringValue: aws.String("true")},
		},
		// The delete commits right after this; the delay lets it land
		// before the purge looks, so the purge rarely has to come back.
		DelaySeconds: 5,
	}); err != nil {
		return fmt.Errorf("queue purge of outdial %s: %w", outdialID, err)
	}
	return nil
}
