// Command purge-targets is the Lambda function on the purge queue: it
// deletes the target items of deleted outdials; template.yaml gives its
// trigger, environment and permissions.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
	"github.com/outdial/outdial/internal/purge"
)

const name = "purge-targets"

func main() {
	ctx := context.Background()
	log := app.NewLogger(os.Getenv)
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		app.Exit(log, name, fmt.Errorf("load AWS config: %w", err))
	}
	store, err := storeenv.New(cfg, os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	h := &purge.Processor{Store: store, Log: log}
	lambda.Start(h.Handle)
}
