// Command deliver-webhooks is the Lambda function behind the webhook delivery queue: signed POSTs to each customer's webhook (issue 15);
// template.yaml gives its trigger, environment and permissions.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
	"github.com/outdial/outdial/internal/app/webhookfns"
)

const name = "deliver-webhooks"

func main() {
	log := app.NewLogger(os.Getenv)
	store, cfg, err := storeenv.Load(os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	h, err := webhookfns.Deliverer(cfg, store, log, os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	lambda.Start(h.Handle)
}
