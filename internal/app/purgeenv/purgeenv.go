// Package purgeenv builds the queue that delete-outdial puts purges on
// from its environment (PURGE_QUEUE_URL and, for the local stand-in,
// SQS_ENDPOINT). It is apart from package app so that only the function
// that sends to the queue builds an SQS client.
package purgeenv

import (
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/sqsenv"
	"github.com/outdial/outdial/internal/purge"
)

// New returns the purge queue at PURGE_QUEUE_URL over an SQS client built
// from cfg (at SQS_ENDPOINT when that is set). Build it once, at init.
func New(cfg aws.Config, getenv func(string) string) (*purge.Queue, error) {
	url, err := app.PurgeQueueURL(getenv)
	if err != nil {
		return nil, err
	}
	return &purge.Queue{Client: sqsenv.Client(cfg, getenv), URL: url}, nil
}
