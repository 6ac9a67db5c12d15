// Command update-outdial-data is the Lambda function behind PUT
// /v1.0/outdials/{id}/data; template.yaml gives its trigger, environment and
// permissions.
package main

import (
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/api/routes"
	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
)

const name = "update-outdial-data"

func main() {
	log := app.NewLogger(os.Getenv)
	store, _, err := storeenv.Load(os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	h := &routes.Handlers{Store: store, Log: log, Now: time.Now}
	lambda.Start(h.UpdateOutdialData)
}
