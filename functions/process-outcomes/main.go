// Command process-outcomes is the Lambda function on the outcome queue: it
// applies the outcome messages of dialers; template.yaml gives its trigger,
// environment and permissions.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/sqsenv"
	"github.com/outdial/outdial/internal/app/storeenv"
	"github.com/outdial/outdial/internal/outcome"
)

const name = "process-outcomes"

func main() {
	log := app.NewLogger(os.Getenv)
	store, cfg, err := storeenv.Load(os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	queue, url, err := sqsenv.OutcomeQueue(cfg, os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	h := &outcome.Processor{Store: store, Log: log, Queue: queue, QueueURL: url}
	lambda.Start(h.Handle)
}
