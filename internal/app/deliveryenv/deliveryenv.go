// Package deliveryenv builds the webhook delivery queue's client from a
// function's environment (DELIVERY_QUEUE_URL and, for the local stand-in,
// SQS_ENDPOINT). It is apart from package app so that only the functions
// that use the queue build an SQS client.
package deliveryenv

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/sqsenv"
	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/publish"
)

// New returns the delivery queue at DELIVERY_QUEUE_URL and its SQS client,
// built from cfg (at SQS_ENDPOINT when that is set). Build it once, at init.
func New(cfg aws.Config, getenv func(string) string) (*events.Queue, *sqs.Client, error) {
	url, err := app.DeliveryQueueURL(getenv)
	if err != nil {
		return nil, nil, err
	}
	client := sqsenv.Client(cfg, getenv)
	return &events.Queue{Client: publish.SQS{Client: client}, URL: url}, client, nil
}
