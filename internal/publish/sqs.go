package publish

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/outdial/outdial/internal/events"
)

// SQSAPI is the part of the SQS client SQS uses.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ SQSAPI = (*sqs.Client)(nil)

// SQS sends events.Queue's messages with the SQS client:
//
//	&events.Queue{Client: publish.SQS{Client: sqs.NewFromConfig(cfg)}, URL: url}
type SQS struct{ Client SQSAPI }

var _ events.Sender = SQS{}

// Send implements events.Sender.
func (s SQS) Send(ctx context.Context, m events.Message) error {
	_, err := s.Client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:               aws.String(m.QueueURL),
		MessageBody:            aws.String(m.Body),
		MessageGroupId:         aws.String(m.GroupID),
		MessageDeduplicationId: aws.String(m.DedupeID),
	})
	return err
}
