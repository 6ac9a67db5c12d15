// Command publish-events is the Lambda function behind the table's DynamoDB Stream: item changes become webhook events on the delivery queue (issue 15);
// template.yaml gives its trigger, environment and permissions.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
	"github.com/outdial/outdial/internal/app/webhookfns"
)

const name = "publish-events"

func main() {
	log := app.NewLogger(os.Getenv)
	store, cfg, err := storeenv.Load(os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	h, err := webhookfns.Publisher(cfg, store, log, os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	lambda.Start(h.Handle)
}
