// Package webhookfns builds the handlers of the webhook functions (issue
// 15) from a function's environment: their mains (functions/<name>) and
// the local runner call the same constructors.
package webhookfns

import (
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/outdial/outdial/internal/api/webhooks"
	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/deliveryenv"
	"github.com/outdial/outdial/internal/deliver"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/publish"
	"github.com/outdial/outdial/internal/webhook"
)

// Routes builds the handlers of the /v1.0/webhook routes; withQueue gives
// them the delivery queue (test-webhook sends a ping on it).
func Routes(cfg aws.Config, store *dynamo.Store, log *slog.Logger, getenv func(string) string, withQueue bool) (*webhooks.Handler, error) {
	local, err := app.LocalWebhooks(getenv)
	if err != nil {
		return nil, err
	}
	h := &webhooks.Handler{Store: store, Log: log, Now: time.Now, AllowLocal: local}
	if withQueue {
		q, _, err := deliveryenv.New(cfg, getenv)
		if err != nil {
			return nil, err
		}
		h.Queue = q
	}
	return h, nil
}

// Publisher builds publish-events: stream records in, deliveries on the
// delivery queue out.
func Publisher(cfg aws.Config, store *dynamo.Store, log *slog.Logger, getenv func(string) string) (*publish.Publisher, error) {
	q, _, err := deliveryenv.New(cfg, getenv)
	if err != nil {
		return nil, err
	}
	return &publish.Publisher{Store: store, Webhooks: store, Queue: q, Log: log, Now: time.Now}, nil
}

// Deliverer builds deliver-webhooks: deliveries in, signed POSTs out,
// failed ones back on the queue after a backoff, for the retry window.
func Deliverer(cfg aws.Config, store *dynamo.Store, log *slog.Logger, getenv func(string) string) (*deliver.Handler, error) {
	local, err := app.LocalWebhooks(getenv)
	if err != nil {
		return nil, err
	}
	window, backoff, err := app.WebhookRetry(getenv)
	if err != nil {
		return nil, err
	}
	q, client, err := deliveryenv.New(cfg, getenv)
	if err != nil {
		return nil, err
	}
	return &deliver.Handler{
		Deliverer:   &webhook.Deliverer{Client: webhook.NewClient(local), Store: store, Now: time.Now, AllowLocal: local},
		Queue:       client,
		QueueURL:    q.URL,
		RetryWindow: window,
		Backoff:     deliver.ExpBackoff(backoff, deliver.DefaultBackoffMax),
		Log:         log,
		Now:         time.Now,
	}, nil
}
