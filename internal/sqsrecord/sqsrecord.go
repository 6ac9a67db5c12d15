// Package sqsrecord is what the SQS-triggered handlers (process-outcomes,
// deliver-webhooks) share about the records Lambda hands them: how often
// a record was received, and making records visible again early, before
// the queue's visibility timeout, with one ChangeMessageVisibilityBatch
// per ten records.
package sqsrecord

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// ReceiveCount is the record's ApproximateReceiveCount (1 when absent).
func ReceiveCount(m events.SQSMessage) int {
	n, err := strconv.Atoi(m.Attributes["ApproximateReceiveCount"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// MaxVisibility is SQS's longest visibility timeout.
const MaxVisibility = 12 * time.Hour

// VisibilityChanger is the part of the SQS client Requeue uses.
type VisibilityChanger interface {
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
}

// Visible is a record to make visible again After from now (clamped to
// 0..MaxVisibility, whole seconds).
type Visible struct {
	Record events.SQSMessage
	After  time.Duration
}

// Requeue sets the visibility of each record of vs (those without a
// receipt handle are skipped), ten per request. It returns how many it
// could not change and the first error; those keep the queue's visibility
// timeout.
func Requeue(ctx context.Context, q VisibilityChanger, queueURL string, vs []Visible) (failed int, err error) {
	vs = slices.DeleteFunc(slices.Clone(vs), func(v Visible) bool { return v.Record.ReceiptHandle == "" })
	for chunk := range slices.Chunk(vs, 10) {
		entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for i, v := range chunk {
			entries[i] = sqstypes.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(v.Record.ReceiptHandle),
				VisibilityTimeout: int32(min(max(v.After, 0), MaxVisibility).Round(time.Second) / time.Second),
			}
		}
		out, cerr := q.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(queueURL), Entries: entries})
		switch {
		case cerr != nil:
			failed += len(entries)
			if err == nil {
				err = cerr
			}
		case len(out.Failed) > 0:
			failed += len(out.Failed)
			if err == nil {
				err = fmt.Errorf("%s: %s", aws.ToString(out.Failed[0].Code), aws.ToString(out.Failed[0].Message))
			}
		}
	}
	return failed, err
}
