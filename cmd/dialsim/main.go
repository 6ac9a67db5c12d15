// Command dialsim is a dialer simulator. Against `make run` or a deployed
// stack it creates an outdial with generated fictional numbers (or takes an
// existing one), claims targets over the HTTP API like a real dialer,
// "dials" them with configurable result probabilities and call durations,
// sends each outcome to the outcome queue over SQS, and shows live
// progress. It ends with a summary and checks the outdial's counts against
// what it sent: the exit status is 0 only when they agree. It settles when
// nothing is dialing and every idle target waits for the calling window;
// the summary shows how many targets there are of each reason.
//
// It uses only the public interfaces: the HTTP API with a bearer token and
// the SQS queue. Against `make run` no flag is needed beyond -create:
//
//	go run ./cmd/dialsim -create 200
//
// With a calling window and the suppression list: the outdial gets the
// window 08:00-21:00 in a whole-hour zone where it is open now, 10% of the
// targets a zone where it is closed (they wait, reason
// outside_calling_window), 10 numbers are suppressed before the import
// (which must reject them) and 5 after it (claims must fail them):
//
//	go run ./cmd/dialsim -create 200 -window 08:00-21:00 -window-tz auto \
//	    -closed-share 0.1 -suppress 10 -suppress-late 5
//
// Against a deployed stack (the stack's outputs give the URLs):
//
//	go run ./cmd/dialsim -api https://abc.execute-api.eu-west-1.amazonaws.com \
//	    -token "$TOKEN" -sqs-endpoint '' -queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/outdial-OutcomeQueue-X \
//	    -create 200
//
// Exit status: 0 counts agree, 1 they disagree or the run timed out or
// failed, 2 bad flags, 130 interrupted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"golang.org/x/term"

	"github.com/outdial/outdial/internal/auth"
)

// demoCustomer is the customer whose token `make run` prints
// (cmd/outdial-local), so outdials the simulator creates show up there.
const demoCustomer = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"

// localQueueName is the outcome queue `make run` creates.
const localQueueName = "outdial-local-OutcomeQueue"

func main() {
	os.Exit(realMain(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// realMain parses args, runs the simulation and returns the exit status.
func realMain(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "dialsim:", err)
		return 2
	}
	cfg.Out = stdout
	if f, ok := stdout.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			cfg.TTY = true
			if w, _, err := term.GetSize(int(f.Fd())); err == nil {
				cfg.Width = w
			}
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once
	}()
	rep, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "dialsim:", err)
		if errors.Is(err, syscall.ECONNREFUSED) && auth.IsLocalURL(cfg.API) {
			fmt.Fprintln(stderr, "dialsim: is the service running? Start it with `make run` in another terminal.")
		}
		return 1
	}
	switch {
	case rep.Ending == "interrupted":
		return 130
	case !rep.Agree():
		return 1
	}
	return 0
}

// parseFlags reads the command line and the environment ($TOKEN,
// $OUTDIAL_TOKEN_SECRET) into a Config.
func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("dialsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: dialsim [flags] (-create N | -outdial ID)\n\nA dialer simulator for Outdial (see go doc ./cmd/dialsim).\n\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.API, "api", "http://127.0.0.1:3000", "base URL of the HTTP API")
	token := fs.String("token", "", "bearer token (default $TOKEN; for a local API one is minted with $OUTDIAL_TOKEN_SECRET or the dev secret)")
	customer := fs.String("customer", demoCustomer, "customer id of a minted token")
	fs.StringVar(&cfg.SQSEndpoint, "sqs-endpoint", "http://127.0.0.1:9324", "SQS endpoint; empty for the real AWS endpoint (credentials and region from the environment)")
	fs.StringVar(&cfg.Region, "region", "", "AWS region (default: us-east-1 with -sqs-endpoint, else from the queue URL or the environment)")
	fs.StringVar(&cfg.QueueURL, "queue-url", "", "URL of the outcome queue (the stack output OutcomeQueueUrl)")
	fs.StringVar(&cfg.QueueName, "queue-name", localQueueName, "name of the outcome queue, looked up when -queue-url is empty")
	fs.StringVar(&cfg.OutdialID, "outdial", "", "dial this existing outdial")
	fs.IntVar(&cfg.Create, "create", 0, "create an outdial with N generated fictional +1555 numbers (CSV import)")
	fs.IntVar(&cfg.Tries, "tries", 0, "try_count_max of generated targets (0: the service's default, 3)")
	fs.IntVar(&cfg.RetryDelay, "retry-delay", 2, "with -create: every delay of the outdial's retry_policy, in seconds (-1: the service's defaults)")
	fs.StringVar(&cfg.Window, "window", "", "with -create: the outdial's calling_window `HH:MM-HH:MM`, every day (24:00 ends the day), e.g. 08:00-21:00; it must be open now in -window-tz and stay so for -timeout")
	fs.StringVar(&cfg.WindowTZ, "window-tz", "UTC", "time zone of -window: an IANA name, or auto (a whole-hour Etc/GMT zone where the window is open now)")
	fs.Float64Var(&cfg.ClosedShare, "closed-share", 0, "with -window: this `fraction` of the generated targets get a timezone (CSV column) where the window is closed now and for an hour at least, so they wait; the others get none (the window's zone applies)")
	fs.IntVar(&cfg.Suppress, "suppress", 0, "with -create: put `N` generated numbers on the suppression list before the import, which must reject exactly their rows (code suppressed)")
	fs.IntVar(&cfg.SuppressLate, "suppress-late", 0, "with -create: put `M` more generated numbers on the suppression list after the import, before dialing: claims must fail their targets (reason suppressed)")
	fs.BoolVar(&cfg.KeepSuppressions, "keep-suppressions", false, "leave the numbers it suppressed on the customer's suppression list (by default it removes them at the end)")
	fs.IntVar(&cfg.Dialers, "dialers", 4, "concurrent claim loops")
	fs.IntVar(&cfg.Claim, "claim", 10, "limit of each claim (targets dialed at once per dialer)")
	fs.DurationVar(&cfg.Lease, "lease", 60*time.Second, "lease of each claim (10s..1h, whole seconds)")
	fs.Float64Var(&cfg.Probs.Answered, "p-answered", 0.5, "weight of the result answered")
	fs.Float64Var(&cfg.Probs.Busy, "p-busy", 0.2, "weight of the result busy")
	fs.Float64Var(&cfg.Probs.NoAnswer, "p-no-answer", 0.2, "weight of the result no_answer")
	fs.Float64Var(&cfg.Probs.Failed, "p-failed", 0.05, "weight of the result failed")
	fs.Float64Var(&cfg.Probs.Invalid, "p-invalid", 0.05, "weight of the result invalid")
	fs.DurationVar(&cfg.CallDuration, "call-duration", 200*time.Millisecond, "mean simulated call time (each call takes 0.5x..1.5x of it)")
	retryAfter := fs.Int("retry-after", -1, "retry_after_seconds sent with busy, no_answer and failed outcomes (-1: not sent; the outdial's retry_policy applies)")
	fs.Float64Var(&cfg.Duplicate, "duplicate", 0.1, "fraction of outcomes sent twice (the service must ignore the second)")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "bound of the whole run")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: from the clock; printed at start)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var tzSet bool
	fs.Visit(func(f *flag.Flag) { tzSet = tzSet || f.Name == "window-tz" })
	if tzSet && cfg.Window == "" {
		return cfg, errors.New("-window-tz needs -window")
	}
	if *retryAfter >= 0 {
		cfg.RetryAfter = retryAfter
	}
	if cfg.QueueURL != "" {
		cfg.QueueName = ""
	}
	var err error
	if cfg.Token, err = auth.ClientToken(*token, cfg.API, *customer, getenv); err != nil {
		return cfg, err
	}
	return cfg, cfg.validate()
}

// newSQSClient returns a client of the SQS stand-in at endpoint (static
// dummy credentials, so no AWS profile is needed or used), or of real SQS
// when endpoint is empty, with credentials and region from the
// environment; the region defaults to the one in queueURL.
func newSQSClient(ctx context.Context, endpoint, region, queueURL string) (*sqs.Client, error) {
	if endpoint != "" {
		cfg := aws.NewConfig()
		cfg.Region = region
		if cfg.Region == "" {
			cfg.Region = "us-east-1"
		}
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("local", "local", ""))
		return sqs.NewFromConfig(*cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) }), nil
	}
	if region == "" {
		region = queueRegion(queueURL)
	}
	var opts []func(*config.LoadOptions) error
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return sqs.NewFromConfig(cfg), nil
}

// queueRegion returns the region of an SQS queue URL such as
// https://sqs.eu-west-1.amazonaws.com/123456789012/q, or "".
func queueRegion(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err != nil {
		return ""
	}
	parts := strings.Split(u.Hostname(), ".")
	if len(parts) >= 4 && parts[0] == "sqs" && parts[2] == "amazonaws" {
		return parts[1]
	}
	return ""
}
