// Command authorizer is the Lambda function that authorizes every request of
// the HTTP API: a bearer token signed with the token secret. It needs
// internal/auth only, and links no AWS service client; template.yaml gives
// its trigger, environment and permissions.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/app"
)

const name = "authorizer"

func main() {
	log := app.NewLogger(os.Getenv)
	a, err := app.Authorizer(os.Getenv, log)
	if err != nil {
		app.Exit(log, name, err)
	}
	lambda.Start(a.Handle)
}
