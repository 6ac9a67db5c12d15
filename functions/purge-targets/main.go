// Command purge-targets is the Lambda function on the purge queue: it
// deletes the target items of deleted outdials; template.yaml gives its
// trigger, environment and permissions.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
	"github.com/outdial/outdial/internal/purge"
)

const name = "purge-targets"

func main() {
	log := app.NewLogger(os.Getenv)
	store, _, err := storeenv.Load(os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	h := &purge.Processor{Store: store, Log: log}
	lambda.Start(h.Handle)
}
