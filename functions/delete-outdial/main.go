// Command delete-outdial is the Lambda function behind DELETE
// /v1.0/outdials/{id}: it deletes the outdial and queues the purge of its
// targets (purge-targets); template.yaml gives its trigger, environment and
// permissions.
package main

import (
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/outdial/outdial/internal/api/routes"
	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/purgeenv"
	"github.com/outdial/outdial/internal/app/storeenv"
)

const name = "delete-outdial"

func main() {
	log := app.NewLogger(os.Getenv)
	store, cfg, err := storeenv.Load(os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	purges, err := purgeenv.New(cfg, os.Getenv)
	if err != nil {
		app.Exit(log, name, err)
	}
	h := &routes.Handlers{Store: store, Log: log, Now: time.Now, Purges: purges}
	lambda.Start(h.DeleteOutdial)
}
