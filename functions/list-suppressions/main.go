// Command list-suppressions is the Lambda function behind GET
// /v1.0/suppressions; it normalises nothing, so it does not link
// libphonenumber; template.yaml gives its trigger, environment and
// permissions.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/api/suppressionlist"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
)

const name = "list-suppressions"

func main() {
	log := app.NewLogger(os.Getenv)
	store, _, err := storeenv.Load(os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	secret, err := app.TokenSecret(os.Getenv) // page tokens are sealed with it
	if err != nil {
		app.Exit(log, name, err)
	}
	h := &suppressionlist.Handler{Store: store, Pages: apigw.NewPageTokens([]byte(secret)), Log: log}
	lambda.Start(h.List)
}
