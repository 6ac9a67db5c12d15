// Command outdial-local runs Outdial on this machine (`make run`): DynamoDB
// Local, the table from template.yaml, and the template's HTTP API on
// http://127.0.0.1:3000 backed by the same handler code as the Lambda
// functions. Ctrl-C stops everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localstack"
)

// demoCustomer is the customer of the token printed at start-up.
const demoCustomer = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"

func main() {
	addr := flag.String("addr", "127.0.0.1:3000", "HTTP listen address")
	ddbPort := flag.Int("dynamodb-port", 8000, "port for DynamoDB Local (0: any free port)")
	sqsPort := flag.Int("sqs-port", 9324, "port for the SQS stand-in (0: any free port)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *ddbPort, *sqsPort, log); err != nil {
		fmt.Fprintln(os.Stderr, "outdial-local:", err)
		os.Exit(1)
	}
}

func run(addr string, ddbPort, sqsPort int, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := localstack.RepoRoot()
	if err != nil {
		return err
	}
	start := time.Now()
	st, err := localrun.Start(ctx, localrun.Options{
		Root: root, Addr: addr, DynamoDBPort: ddbPort, SQSPort: sqsPort, Log: log,
		TokenSecret:      os.Getenv("OUTDIAL_TOKEN_SECRET"),
		DynamoDBEndpoint: os.Getenv("OUTDIAL_DYNAMODB_ENDPOINT"),
		SQSEndpoint:      os.Getenv("OUTDIAL_SQS_ENDPOINT"),
	})
	if err != nil {
		return err
	}
	defer st.Close()
	token, err := st.Token(demoCustomer, 7*24*time.Hour)
	if err != nil {
		return err
	}
	fmt.Printf(`
Outdial is running (started in %s).

  API        %s/v1.0
  DynamoDB   %s (table %s)
  SQS        %s
  outcomes   %s
  customer   %s

Token (valid 7 days; mint others with: go run ./cmd/token -customer <uuid>):

  export TOKEN=%s

Try:

  curl -X POST '%s/v1.0/outdials?token='$TOKEN \
    --header 'Content-Type: application/json' \
    --data '{"name": "January Leads", "detail": "Sales leads for Q1 campaign"}'

Press Ctrl-C to stop.
`, time.Since(start).Round(time.Millisecond), st.URL, st.DynamoDBEndpoint, st.TableName, st.SQSEndpoint, st.QueueURL("OutcomeQueue"), demoCustomer, token, st.URL)

	<-ctx.Done()
	fmt.Println("\nstopping...")
	return nil
}
