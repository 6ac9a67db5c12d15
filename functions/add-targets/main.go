// Command add-targets is the Lambda function behind POST
// /v1.0/outdials/{id}/targets (JSON or CSV); the only function that
// normalises destinations, and so links libphonenumber; template.yaml gives
// its trigger, environment and permissions.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/api/targetimport"
	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
)

const name = "add-targets"

func main() {
	log := app.NewLogger(os.Getenv)
	store, _, err := storeenv.Load(os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	h := &targetimport.Handler{Store: store, Log: log}
	lambda.Start(h.AddTargets)
}
