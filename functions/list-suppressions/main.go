// Command list-suppressions is the Lambda function behind GET
// /v1.0/suppressions; it normalises nothing, but shares the suppression
// handlers' package, which links libphonenumber; template.yaml gives its
// trigger, environment and permissions.
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/api/suppressions"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
)

const name = "list-suppressions"

func main() {
	log := app.NewLogger(os.Getenv)
	store, _, err := storeenv.Load(context.Background(), os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	secret, err := app.TokenSecret(os.Getenv) // page tokens are sealed with it
	if err != nil {
		app.Exit(log, name, err)
	}
	h := &suppressions.Handler{Store: store, Pages: apigw.NewPageTokens([]byte(secret)), Log: log, Now: time.Now}
	lambda.Start(h.List)
}
