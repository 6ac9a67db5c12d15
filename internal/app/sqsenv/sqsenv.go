// Package sqsenv builds a function's SQS client from its environment
// (SQS_ENDPOINT for the local stand-in, unset on AWS). It is apart from
// package app so that only the functions that use a queue link the SQS
// client.
package sqsenv

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/outdial/outdial/internal/app"
)

// Client returns an SQS client built from cfg, at SQS_ENDPOINT when that
// is set. Build it once, at init.
func Client(cfg aws.Config, getenv func(string) string) *sqs.Client {
	endpoint := getenv(app.EnvSQSEndpoint)
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}

// OutcomeQueue returns the outcome queue's URL (OUTCOME_QUEUE_URL, which
// must be set) and an SQS client for it: process-outcomes makes the
// outcomes it could not apply in time visible again early.
func OutcomeQueue(cfg aws.Config, getenv func(string) string) (*sqs.Client, string, error) {
	url, err := app.OutcomeQueueURL(getenv)
	if err != nil {
		return nil, "", err
	}
	return Client(cfg, getenv), url, nil
}
