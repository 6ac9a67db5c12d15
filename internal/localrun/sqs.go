package localrun

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Poller feeds a queue to a function like Lambda's SQS event source
// mapping: batches of up to BatchSize gathered for up to Window, the
// function invoked with an SQS event, and afterwards only the messages the
// function did not report as failed deleted. Failed messages become
// visible again after the queue's visibility timeout, and after
// maxReceiveCount receives the stand-in moves them to the DLQ.
type Poller struct {
	Client        *sqs.Client
	Queue         *Queue
	Fn            *Function
	BatchSize     int
	Window        time.Duration
	ReportFailure bool // FunctionResponseTypes: [ReportBatchItemFailures]
	Log           *slog.Logger
}

// Run polls until ctx is done.
func (p *Poller) Run(ctx context.Context) {
	for ctx.Err() == nil {
		msgs := p.gather(ctx)
		if len(msgs) == 0 {
			continue
		}
		p.deliver(ctx, msgs)
	}
}

// gather receives messages until a batch is full or the batching window,
// which opens with the first message, closes.
func (p *Poller) gather(ctx context.Context) []sqstypes.Message {
	var msgs []sqstypes.Message
	var deadline time.Time
	for ctx.Err() == nil && len(msgs) < p.BatchSize {
		wait := int32(1) // long-poll while nothing is gathered
		if len(msgs) > 0 {
			if !time.Now().Before(deadline) {
				break
			}
			wait = 0
		}
		res, err := p.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(p.Queue.URL),
			MaxNumberOfMessages:         int32(min(10, p.BatchSize-len(msgs))),
			WaitTimeSeconds:             wait,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if ctx.Err() == nil {
				p.Log.Warn("receive failed", "queue", p.Queue.Name, "err", err)
				sleep(ctx, 500*time.Millisecond)
			}
			return msgs
		}
		if len(msgs) == 0 && len(res.Messages) > 0 {
			deadline = time.Now().Add(p.Window)
		}
		msgs = append(msgs, res.Messages...)
		if len(res.Messages) == 0 && len(msgs) > 0 {
			sleep(ctx, min(100*time.Millisecond, time.Until(deadline)))
		}
	}
	return msgs
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// deliver invokes the function with msgs and deletes the successful ones.
func (p *Poller) deliver(ctx context.Context, msgs []sqstypes.Message) {
	ev := events.SQSEvent{Records: make([]events.SQSMessage, len(msgs))}
	for i, m := range msgs {
		attrs := map[string]string{}
		for k, v := range m.Attributes {
			attrs[k] = v
		}
		mattrs := map[string]events.SQSMessageAttribute{}
		for k, v := range m.MessageAttributes {
			mattrs[k] = events.SQSMessageAttribute{StringValue: v.StringValue, BinaryValue: v.BinaryValue, DataType: aws.ToString(v.DataType)}
		}
		ev.Records[i] = events.SQSMessage{
			MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle), Body: aws.ToString(m.Body),
			Md5OfBody: aws.ToString(m.MD5OfBody), Attributes: attrs, MessageAttributes: mattrs,
			EventSource: "aws:sqs", EventSourceARN: p.Queue.ARN, AWSRegion: "us-east-1",
		}
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return
	}
	out, err := p.Fn.Invoke(ctx, payload)
	if err != nil {
		p.Log.Error("function error; batch will be redelivered", "function", p.Fn.Name, "err", err, "messages", len(msgs))
		return
	}
	failed := map[string]bool{}
	if p.ReportFailure {
		var res events.SQSEventResponse
		if err := json.Unmarshal(out, &res); err != nil {
			p.Log.Error("bad batch response; batch will be redelivered", "function", p.Fn.Name)
			return
		}
		known := map[string]bool{}
		for _, r := range ev.Records {
			known[r.MessageId] = true
		}
		for _, f := range res.BatchItemFailures {
			if !known[f.ItemIdentifier] {
				// Lambda treats an unknown or empty id as a failure of the
				// whole batch.
				p.Log.Error("batch response names an unknown message; batch will be redelivered", "id", f.ItemIdentifier)
				return
			}
			failed[f.ItemIdentifier] = true
		}
	}
	var entries []sqstypes.DeleteMessageBatchRequestEntry
	for i, r := range ev.Records {
		if failed[r.MessageId] {
			continue
		}
		entries = append(entries, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.ReceiptHandle)})
	}
	for start := 0; start < len(entries); start += 10 {
		chunk := entries[start:min(start+10, len(entries))]
		if _, err := p.Client.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(p.Queue.URL), Entries: chunk}); err != nil {
			p.Log.Warn("delete failed; messages will be redelivered", "queue", p.Queue.Name, "err", err)
		}
	}
}
