// Command delete-suppressions is the Lambda function behind POST
// /v1.0/suppressions/delete; it normalises addresses as add-targets does,
// and so links libphonenumber; template.yaml gives its trigger,
// environment and permissions.
package main

import (
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/api/suppressions"
	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
)

const name = "delete-suppressions"

func main() {
	log := app.NewLogger(os.Getenv)
	store, _, err := storeenv.Load(os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	h := &suppressions.Handler{Store: store, Log: log, Now: time.Now}
	lambda.Start(h.Delete)
}
