package publish_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/publish"
)

func fifoDelivery(customer string, ids ...string) events.Delivery {
	d := events.Delivery{CustomerID: customer, FirstTry: 1700000000000}
	for _, id := range ids {
		d.Events = append(d.Events, events.Event{ID: id, Type: events.TargetUpdated, Data: json.RawMessage(`{"id":"` + id + `"}`)})
	}
	return d
}

// events.Queue through publish.SQS against fauxqs: a FIFO queue keeps each customer's deliveries in order
// and drops a delivery queued again.
func TestQueueFIFO(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs fauxqs")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	endpoint, stop, err := localstack.SharedSQS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client, err := localstack.SQSClient(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	name := "deliveries-" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "") + ".fifo"
	created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{"FifoQueue": "true"}})
	if err != nil {
		t.Fatal(err)
	}
	q := &events.Queue{Client: publish.SQS{Client: client}, URL: aws.ToString(created.QueueUrl)}
	sent := []events.Delivery{fifoDelivery("cust-a", "a1"), fifoDelivery("cust-b", "b1"), fifoDelivery("cust-a", "a2", "a3"), fifoDelivery("cust-a", "a1")}
	for _, d := range sent {
		if err := q.Enqueue(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	var got []events.Delivery
	for try := 0; try < 10 && len(got) < 3; try++ {
		res, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: created.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameMessageGroupId},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Messages {
			var d events.Delivery
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &d); err != nil {
				t.Fatal(err)
			}
			if g := m.Attributes[string(sqstypes.MessageSystemAttributeNameMessageGroupId)]; g != "" && g != d.CustomerID {
				t.Errorf("group %q for a delivery to %s", g, d.CustomerID)
			}
			got = append(got, d)
			if _, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: created.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var a []string
	for _, d := range got {
		if d.CustomerID == "cust-a" {
			for _, e := range d.Events {
				a = append(a, e.ID)
			}
		}
	}
	if len(got) != 3 || strings.Join(a, ",") != "a1,a2,a3" {
		t.Errorf("received %d deliveries, cust-a's events %v; want 3, a1,a2,a3 (the repeated a1 dropped)", len(got), a)
	}
}

// sqsFake captures SendMessage inputs.
type sqsFake struct{ got []*sqs.SendMessageInput }

func (f *sqsFake) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.got = append(f.got, in)
	return &sqs.SendMessageOutput{}, nil
}

func TestSQSSend(t *testing.T) {
	f := &sqsFake{}
	q := &events.Queue{Client: publish.SQS{Client: f}, URL: "http://sqs.local/000000000000/deliveries.fifo"}
	d := fifoDelivery("cust-a", "e1", "e2")
	if err := q.Enqueue(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if len(f.got) != 1 {
		t.Fatalf("%d sends", len(f.got))
	}
	in := f.got[0]
	body, _ := json.Marshal(d)
	if aws.ToString(in.QueueUrl) != q.URL || aws.ToString(in.MessageGroupId) != "cust-a" ||
		aws.ToString(in.MessageDeduplicationId) != events.DedupeID(d.Events) || aws.ToString(in.MessageBody) != string(body) {
		t.Errorf("SendMessage(%+v)", in)
	}
}
