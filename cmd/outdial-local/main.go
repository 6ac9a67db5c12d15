// Command outdial-local runs Outdial on this machine (`make run`): DynamoDB
// Local, the table from template.yaml, and the template's HTTP API on
// http://127.0.0.1:3000 backed by the same handler code as the Lambda
// functions, the SQS functions fed from the SQS stand-in and the scheduled
// ones (expire-leases) run on their schedules. Ctrl-C stops everything it
// started.
//
// Usage:
//
//	go run ./cmd/outdial-local [-addr 127.0.0.1:3000] [-dynamodb-port 8000] [-sqs-port 9324]
//	    [-schedule-every 10s] [-lease-grace 5s]
//
// With make: make run RUN_ARGS='-schedule-every 10s -lease-grace 5s'.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localstack"
)

// demoCustomer is the customer of the token printed at start-up.
const demoCustomer = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"

// leaseGraceParam is the template parameter behind LEASE_GRACE_SECONDS.
const leaseGraceParam = "LeaseGraceSeconds"

func main() {
	flag.Usage = func() {
		fmt.Fprint(flag.CommandLine.Output(), `Usage: outdial-local [flags]

Runs Outdial on this machine (make run): DynamoDB Local, the SQS stand-in,
the table and queues of template.yaml, the HTTP API on -addr, the SQS
functions fed from their queues, and the scheduled functions (expire-leases,
rate(1 minute) in the template) on their schedules.

Environment: OUTDIAL_TOKEN_SECRET (token signing secret), and
OUTDIAL_DYNAMODB_ENDPOINT / OUTDIAL_SQS_ENDPOINT to use running stand-ins.

Flags:
`)
		flag.PrintDefaults()
	}
	opt := localrun.Options{Parameters: map[string]string{}}
	flag.StringVar(&opt.Addr, "addr", "127.0.0.1:3000", "HTTP listen address")
	flag.IntVar(&opt.DynamoDBPort, "dynamodb-port", 8000, "port for DynamoDB Local (0: any free port)")
	flag.IntVar(&opt.SQSPort, "sqs-port", 9324, "port for the SQS stand-in (0: any free port)")
	flag.DurationVar(&opt.ScheduleEvery, "schedule-every", 0,
		"run the scheduled functions (expire-leases) this often instead of on their schedules (0: the template's rate, 1m)")
	flag.Func("lease-grace",
		"lease grace of claim-targets and expire-leases (LEASE_GRACE_SECONDS), a `duration` of whole seconds\n"+
			"from 0s to 1h: a lease is expired this long after its end (default: the template's LeaseGraceSeconds, 60s)",
		func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d%time.Second != 0 {
				return fmt.Errorf("want a whole number of seconds, such as 5s or 2m, not %q", v)
			}
			opt.Parameters[leaseGraceParam] = strconv.Itoa(int(d / time.Second))
			return nil
		})
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}

	opt.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(opt); err != nil {
		fmt.Fprintln(os.Stderr, "outdial-local:", err)
		os.Exit(1)
	}
}

func run(opt localrun.Options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := localstack.RepoRoot()
	if err != nil {
		return err
	}
	start := time.Now()
	opt.Root = root
	opt.TokenSecret = os.Getenv("OUTDIAL_TOKEN_SECRET")
	opt.DynamoDBEndpoint = os.Getenv("OUTDIAL_DYNAMODB_ENDPOINT")
	opt.SQSEndpoint = os.Getenv("OUTDIAL_SQS_ENDPOINT")
	st, err := localrun.Start(ctx, opt)
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
