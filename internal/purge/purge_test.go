package purge_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/purge"
	"github.com/outdial/outdial/internal/strictjson"
)

// fakeStore records purges; the store itself is tested on DynamoDB Local
// (dynamo.TestPurgeTargets). Here only the batch bookkeeping matters.
type fakeStore struct {
	purged   []string
	unmarked []bool // the unmarked argument of each purge
	fail     map[string]error
}

func (f *fakeStore) PurgeTargets(_ context.Context, _, outdialID string, unmarked bool) (int, error) {
	if err := f.fail[outdialID]; err != nil {
		return 0, err
	}
	f.purged = append(f.purged, outdialID)
	f.unmarked = append(f.unmarked, unmarked)
	return 7, nil
}

func TestHandleReportsOnlyFailedMessages(t *testing.T) {
	const (
		cust    = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"
		done    = "018f6b2e-8c1a-7d3e-9f00-000000000001"
		waiting = "018f6b2e-8c1a-7d3e-9f00-000000000002"
	)
	store := &fakeStore{fail: map[string]error{
		waiting: outdial.Errorf(outdial.ECodeFailedPrecondition, "still exists"),
	}}
	var logs bytes.Buffer
	p := &purge.Processor{Store: store, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	msg := func(id, body string) events.SQSMessage { return events.SQSMessage{MessageId: id, Body: body} }
	res, err := p.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		msg("ok", `{"customer_id":"`+cust+`","outdial_id":"`+done+`"}`),
		msg("early", `{"customer_id":"`+cust+`","outdial_id":"`+waiting+`"}`),
		msg("junk", `not json`),
		msg("bad-id", `{"customer_id":"`+cust+`","outdial_id":"x"}`),
		// The one strict decoder: the last of two outdial_id keys must not
		// silently win (the purge would delete another outdial's targets).
		msg("twice", `{"customer_id":"`+cust+`","outdial_id":"`+waiting+`","outdial_id":"`+done+`"}`),
	}})
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	var failed []string
	for _, f := range res.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if want := []string{"early", "junk", "bad-id", "twice"}; !slices.Equal(failed, want) {
		t.Errorf("failed = %v, want %v", failed, want)
	}
	if len(store.purged) != 1 || store.purged[0] != done {
		t.Errorf("purged %v, want [%s]", store.purged, done)
	}
	// A message without "marked" is from before deletes left purge
	// markers: its purge must not take a missing marker for "done".
	if !slices.Equal(store.unmarked, []bool{true}) {
		t.Errorf("unmarked = %v, want [true] for a message without marked", store.unmarked)
	}
	if bytes.Contains(logs.Bytes(), []byte("not json")) {
		t.Errorf("the log repeats a message body: %s", logs.String())
	}
}

// TestQueuedMessagesAreMarked checks that the messages Enqueue sends say,
// in an attribute, that their delete leaves a purge marker, and that the
// handler passes it on as Lambda delivers it: a marked purge that finds
// no marker has nothing to do.
func TestQueuedMessagesAreMarked(t *testing.T) {
	const (
		cust = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"
		id   = "018f6b2e-8c1a-7d3e-9f00-000000000001"
	)
	sender := &fakeSender{}
	if err := (&purge.Queue{Client: sender, URL: "q"}).Enqueue(context.Background(), cust, id); err != nil {
		t.Fatal(err)
	}
	if len(sender.sent) != 1 {
		t.Fatalf("sent %d messages, want 1", len(sender.sent))
	}
	in := sender.sent[0]
	// The body is what purge functions from before the attribute decode.
	var m purge.Message
	if err := strictjson.Decode([]byte(aws.ToString(in.MessageBody)), &m); err != nil || m != (purge.Message{CustomerID: cust, OutdialID: id}) {
		t.Errorf("body %s decodes to %+v, %v", aws.ToString(in.MessageBody), m, err)
	}
	// As Lambda's SQS event carries message attributes.
	attrs := map[string]events.SQSMessageAttribute{}
	for k, v := range in.MessageAttributes {
		attrs[k] = events.SQSMessageAttribute{StringValue: v.StringValue, DataType: aws.ToString(v.DataType)}
	}
	store := &fakeStore{}
	p := &purge.Processor{Store: store, Log: slog.New(slog.DiscardHandler)}
	res, err := p.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m", Body: aws.ToString(in.MessageBody), MessageAttributes: attrs}}})
	if err != nil || len(res.BatchItemFailures) != 0 {
		t.Fatalf("Handle = %+v, %v; want no failures", res, err)
	}
	if !slices.Equal(store.purged, []string{id}) || !slices.Equal(store.unmarked, []bool{false}) {
		t.Errorf("purged %v with unmarked %v, want [%s] with [false]; attributes %v", store.purged, store.unmarked, id, in.MessageAttributes)
	}
}

type fakeSender struct{ sent []*sqs.SendMessageInput }

func (f *fakeSender) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.sent = append(f.sent, in)
	return &sqs.SendMessageOutput{}, nil
}
