package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Queue is one queue of the template, created on the SQS stand-in.
type Queue struct {
	LogicalID string
	Name      string
	URL       string
	ARN       string
}

// createQueues creates every AWS::SQS::Queue of the template: queues that
// others point at as a dead-letter target first, then the rest with their
// RedrivePolicy pointing at the created DLQ.
func createQueues(ctx context.Context, client *sqs.Client, raw map[string]map[string]any, prefix string) (map[string]*Queue, error) {
	ids := make([]string, 0, len(raw))
	for id := range raw {
		ids = append(ids, id)
	}
	// Queues without a RedrivePolicy (DLQs) first.
	sort.Slice(ids, func(i, j int) bool {
		_, ri := raw[ids[i]]["RedrivePolicy"]
		_, rj := raw[ids[j]]["RedrivePolicy"]
		if ri != rj {
			return !ri
		}
		return ids[i] < ids[j]
	})
	out := map[string]*Queue{}
	for _, id := range ids {
		props := raw[id]
		attrs := map[string]string{}
		for _, a := range []string{"VisibilityTimeout", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds", "DelaySeconds", "MaximumMessageSize"} {
			if v, ok := props[a]; ok {
				attrs[a] = fmt.Sprint(v)
			}
		}
		if rp, ok := props["RedrivePolicy"].(map[string]any); ok {
			dlq := refTarget(rp["deadLetterTargetArn"])
			q := out[dlq]
			if q == nil {
				return nil, fmt.Errorf("queue %s: dead-letter target %q is not a queue of the template", id, dlq)
			}
			b, _ := json.Marshal(map[string]any{"deadLetterTargetArn": q.ARN, "maxReceiveCount": fmt.Sprint(rp["maxReceiveCount"])})
			attrs["RedrivePolicy"] = string(b)
		}
		name := prefix + id
		res, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
		if err != nil {
			return nil, fmt.Errorf("create queue %s: %w", id, err)
		}
		ga, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: res.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
		})
		if err != nil {
			return nil, fmt.Errorf("queue %s attributes: %w", id, err)
		}
		out[id] = &Queue{LogicalID: id, Name: name, URL: aws.ToString(res.QueueUrl), ARN: ga.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]}
	}
	return out, nil
}

// refTarget returns the logical id an intrinsic ({"Fn::GetAtt": "X.Arn"},
// {"Fn::GetAtt": ["X", "Arn"]} or {"Ref": "X"}) points at.
func refTarget(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if r, ok := m["Ref"].(string); ok {
		return r
	}
	switch g := m["Fn::GetAtt"].(type) {
	case string:
		for i := range g {
			if g[i] == '.' {
				return g[:i]
			}
		}
		return g
	case []any:
		if len(g) > 0 {
			s, _ := g[0].(string)
			return s
		}
	}
	return ""
}

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
