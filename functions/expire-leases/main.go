// Command expire-leases is the Lambda function that EventBridge Scheduler
// runs every minute: it records an expired attempt for each lease whose end
// plus the grace has passed; template.yaml gives its trigger, environment
// and permissions.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
	"github.com/outdial/outdial/internal/leases"
)

const name = "expire-leases"

func main() {
	log := app.NewLogger(os.Getenv)
	store, _, err := storeenv.Load(os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	h := &leases.Sweeper{Store: store, Log: log}
	lambda.Start(h.Handle)
}
