package outcome_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/outdial"
)

func TestRetryDelay(t *testing.T) {
	want := []time.Duration{5 * time.Second, 15 * time.Second, 45 * time.Second, 120 * time.Second, 120 * time.Second}
	for i, w := range want {
		if got := outcome.RetryDelay(i + 1); got != w {
			t.Errorf("RetryDelay(%d) = %v, want %v", i+1, got, w)
		}
	}
	if got := outcome.RetryDelay(0); got != 5*time.Second {
		t.Errorf("RetryDelay(0) = %v, want 5s", got)
	}
}

// unavailableBatch answers every outcome of a batch with code unavailable,
// as dynamo.Store does for those it ran out of time to apply.
type unavailableBatch struct{ errStore }

func (unavailableBatch) ApplyOutcomes(_ context.Context, os []outdial.Outcome) []outdial.OutcomeResult {
	res := make([]outdial.OutcomeResult, len(os))
	for i := range res {
		res[i].Err = outdial.Errorf(outdial.ECodeUnavailable, "out of time to apply the outcome; it will be delivered again")
	}
	return res
}

// TestOutOfTimeComesBackSoon: on a real queue (fauxqs) with the outcome
// queue's 120 s visibility timeout, an outcome the store could not apply
// in time is received again within seconds (RetryDelay of its first
// receive), while a malformed one waits out the visibility timeout.
func TestOutOfTimeComesBackSoon(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: needs fauxqs")
	}
	// Cleanups, not defers: the parallel subtests run after this returns.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	endpoint, stop, err := localstack.SharedSQS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	client, err := localstack.SQSClient(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		store outcome.Applier
	}{
		{"one by one", errStore{outdial.Errorf(outdial.ECodeUnavailable, "throttled")}},
		{"batch", unavailableBatch{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name := fmt.Sprintf("outcomes-%s-%d", strings.ReplaceAll(tc.name, " ", ""), time.Now().UnixNano())
			created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{"VisibilityTimeout": "120"}})
			if err != nil {
				t.Fatal(err)
			}
			url := aws.ToString(created.QueueUrl)
			for _, b := range []string{body(nil), "{"} {
				if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(b)}); err != nil {
					t.Fatal(err)
				}
			}
			// receive gathers messages for up to d, as Lambda's poller does.
			receive := func(want int, d time.Duration) []events.SQSMessage {
				var got []events.SQSMessage
				for end := time.Now().Add(d); len(got) < want && time.Now().Before(end); {
					res, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
						QueueUrl: aws.String(url), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
						MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
					})
					if err != nil {
						t.Fatal(err)
					}
					for _, m := range res.Messages {
						got = append(got, events.SQSMessage{MessageId: aws.ToString(m.MessageId), ReceiptHandle: aws.ToString(m.ReceiptHandle),
							Body: aws.ToString(m.Body), Attributes: m.Attributes})
					}
				}
				return got
			}
			first := receive(2, 10*time.Second)
			if len(first) != 2 {
				t.Fatalf("received %d messages, want 2", len(first))
			}
			var logs bytes.Buffer
			p := processor(tc.store, &logs)
			p.Queue, p.QueueURL = client, url
			start := time.Now()
			resp, err := p.Handle(ctx, events.SQSEvent{Records: first})
			if err != nil || len(resp.BatchItemFailures) != 2 {
				t.Fatalf("Handle = %v failures, %v; want both failed", failures(resp), err)
			}
			again := receive(2, 12*time.Second)
			took := time.Since(start)
			if len(again) != 1 || again[0].Body != body(nil) {
				var bodies []string
				for _, m := range again {
					bodies = append(bodies, m.Body)
				}
				t.Fatalf("within %v received again %q; want only the outcome not applied in time", took.Round(time.Second), bodies)
			}
			if took < outcome.RetryDelay(1)-time.Second {
				t.Errorf("received again after %v, before its delay %v", took, outcome.RetryDelay(1))
			}
			if n := again[0].Attributes["ApproximateReceiveCount"]; n != "2" {
				t.Errorf("ApproximateReceiveCount %q, want 2", n)
			}
			if strings.Contains(logs.String(), "could not make outcomes visible") {
				t.Errorf("logs: %s", logs.String())
			}
		})
	}
}
