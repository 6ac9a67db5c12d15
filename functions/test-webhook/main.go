// Command test-webhook is the Lambda function behind POST /v1.0/webhook/test (issue 15);
// template.yaml gives its trigger, environment and permissions.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
	"github.com/outdial/outdial/internal/app/webhookfns"
)

const name = "test-webhook"

func main() {
	log := app.NewLogger(os.Getenv)
	store, cfg, err := storeenv.Load(os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	h, err := webhookfns.Routes(cfg, store, log, os.Getenv, true)
	if err != nil {
		app.Exit(log, name, err)
	}
	lambda.Start(h.Test)
}
