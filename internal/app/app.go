// Package app wires the service: it reads the environment the template
// gives each function, builds SDK clients once, and maps every function
// name (the directory under functions/) to its handler. The Lambda
// binaries and the local runner both go through Handler, so `make run`
// calls exactly the code that is deployed.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/outdial/outdial/internal/api"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/leases"
	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/purge"
)

// Environment variables read by the functions (template.yaml sets them).
const (
	EnvTableName        = "TABLE_NAME"
	EnvTokenSecret      = "OUTDIAL_TOKEN_SECRET"
	EnvTokenSecretPrev  = "OUTDIAL_TOKEN_SECRET_PREVIOUS"
	EnvDynamoDBEndpoint = "DYNAMODB_ENDPOINT" // local stand-in only; empty on AWS
	EnvSQSEndpoint      = "SQS_ENDPOINT"      // local stand-in only; empty on AWS
	EnvPurgeQueueURL    = "PURGE_QUEUE_URL"
	EnvLogLevel         = "LOG_LEVEL"
	EnvLeaseGrace       = "LEASE_GRACE_SECONDS" // claim-targets and expire-leases; default 60
	// EnvMaxTokenLifetime is the authorizer's maximum token lifetime in
	// seconds, MinMaxTokenLifetime to MaxMaxTokenLifetime; default
	// auth.DefaultMaxLifetime (30 days).
	EnvMaxTokenLifetime = "MAX_TOKEN_LIFETIME_SECONDS"
)

// Bounds of EnvMaxTokenLifetime in seconds (the template parameter
// MaxTokenLifetimeSeconds has the same MinValue and MaxValue).
const (
	MinMaxTokenLifetime = 60
	MaxMaxTokenLifetime = 365 * 24 * 3600
)

// Deps builds what handlers need from an environment, each piece once and
// only when a handler asks for it, so that a function is given (and needs)
// only its own configuration.
type Deps struct {
	Getenv func(string) string
	Log    *slog.Logger
	Now    func() time.Time

	// AWSConfig, when set, is used instead of loading the default config
	// (the local runner and tests set it).
	AWSConfig *aws.Config
	// DynamoDBHTTPClient, when set, carries the DynamoDB client's requests
	// (the local runner puts the DynamoDB double there for load tests).
	DynamoDBHTTPClient aws.HTTPClient

	once     sync.Once
	cfg      aws.Config
	cfgErr   error
	dynamoDB *dynamodb.Client
	sqs      *sqs.Client
}

// NewDeps returns Deps reading getenv and logging JSON with slog.
func NewDeps(getenv func(string) string) *Deps {
	return &Deps{Getenv: getenv, Log: NewLogger(getenv), Now: time.Now}
}

// NewLogger returns the JSON slog logger of the functions: Lambda's field
// names (timestamp, message) and the request id of the invocation, taken
// from the context, on every record logged with a *Context method.
func NewLogger(getenv func(string) string) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(getenv(EnvLogLevel)))
	return slog.New(requestIDHandler{slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		Level: level, ReplaceAttr: lambdacontext.ReplaceAttr,
	})})
}

// requestIDHandler adds requestId from the Lambda context to each record.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

func (d *Deps) awsConfig(ctx context.Context) (aws.Config, error) {
	d.once.Do(func() {
		if d.AWSConfig != nil {
			d.cfg = *d.AWSConfig
			return
		}
		d.cfg, d.cfgErr = config.LoadDefaultConfig(ctx)
	})
	return d.cfg, d.cfgErr
}

// DynamoDB returns the DynamoDB client, built once.
func (d *Deps) DynamoDB(ctx context.Context) (*dynamodb.Client, error) {
	if d.dynamoDB != nil {
		return d.dynamoDB, nil
	}
	cfg, err := d.awsConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	endpoint := d.Getenv(EnvDynamoDBEndpoint)
	d.dynamoDB = dynamodb.NewFromConfig(cfg, dynamo.ClientOptions, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		if d.DynamoDBHTTPClient != nil {
			o.HTTPClient = d.DynamoDBHTTPClient
		}
	})
	return d.dynamoDB, nil
}

// SQS returns the SQS client, built once.
func (d *Deps) SQS(ctx context.Context) (*sqs.Client, error) {
	if d.sqs != nil {
		return d.sqs, nil
	}
	cfg, err := d.awsConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	endpoint := d.Getenv(EnvSQSEndpoint)
	d.sqs = sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	return d.sqs, nil
}

// Store returns the DynamoDB store on TABLE_NAME.
func (d *Deps) Store(ctx context.Context) (*dynamo.Store, error) {
	table := d.Getenv(EnvTableName)
	if table == "" {
		return nil, fmt.Errorf("%s is not set", EnvTableName)
	}
	db, err := d.DynamoDB(ctx)
	if err != nil {
		return nil, err
	}
	store := dynamo.New(db, table)
	if v := d.Getenv(EnvLeaseGrace); v != "" {
		secs, err := strconv.Atoi(v)
		if err != nil || secs < 0 || secs > 3600 {
			return nil, fmt.Errorf("%s must be a number of seconds from 0 to 3600, not %q", EnvLeaseGrace, v)
		}
		store = store.WithLeaseGrace(time.Duration(secs) * time.Second)
	}
	return store, nil
}

func (d *Deps) secret() (string, error) {
	s := d.Getenv(EnvTokenSecret)
	if len(s) < auth.MinSecretLen {
		return "", fmt.Errorf("%s must be set to at least %d bytes", EnvTokenSecret, auth.MinSecretLen)
	}
	return s, nil
}

// Handlers returns the HTTP handlers. withPages says whether the function
// lists (and so seals page tokens, which needs the secret).
func (d *Deps) Handlers(ctx context.Context, withPages bool) (*api.Handlers, error) {
	store, err := d.Store(ctx)
	if err != nil {
		return nil, err
	}
	h := &api.Handlers{Store: store, Log: d.Log, Now: d.Now}
	if withPages {
		secret, err := d.secret()
		if err != nil {
			return nil, err
		}
		h.Pages = apigw.NewPageTokens([]byte(secret))
	}
	return h, nil
}

// HTTPHandler is the signature of every API handler.
type HTTPHandler = func(context.Context, apigw.Request) (apigw.Response, error)

// functions maps each function name (its directory under functions/) to
// the constructor of its Lambda handler.
var functions = map[string]func(context.Context, *Deps) (any, error){
	"authorizer": func(ctx context.Context, d *Deps) (any, error) {
		secret, err := d.secret()
		if err != nil {
			return nil, err
		}
		v, err := auth.NewVerifier(secret, d.Getenv(EnvTokenSecretPrev))
		if err != nil {
			return nil, err
		}
		if s := d.Getenv(EnvMaxTokenLifetime); s != "" {
			secs, err := strconv.Atoi(s)
			if err != nil || secs < MinMaxTokenLifetime || secs > MaxMaxTokenLifetime {
				return nil, fmt.Errorf("%s must be a number of seconds from %d to %d, not %q",
					EnvMaxTokenLifetime, MinMaxTokenLifetime, MaxMaxTokenLifetime, s)
			}
			v = v.WithMaxLifetime(time.Duration(secs) * time.Second)
		}
		return (&auth.Authorizer{Verifier: v, Log: d.Log}).Handle, nil
	},
	"create-outdial":          httpFn(false, func(h *api.Handlers) HTTPHandler { return h.CreateOutdial }),
	"list-outdials":           httpFn(true, func(h *api.Handlers) HTTPHandler { return h.ListOutdials }),
	"get-outdial":             httpFn(false, func(h *api.Handlers) HTTPHandler { return h.GetOutdial }),
	"update-outdial":          httpFn(false, func(h *api.Handlers) HTTPHandler { return h.UpdateOutdial }),
	"update-outdial-campaign": httpFn(false, func(h *api.Handlers) HTTPHandler { return h.UpdateOutdialCampaign }),
	"update-outdial-data":     httpFn(false, func(h *api.Handlers) HTTPHandler { return h.UpdateOutdialData }),
	"delete-outdial": func(ctx context.Context, d *Deps) (any, error) {
		h, err := d.Handlers(ctx, false)
		if err != nil {
			return nil, err
		}
		url := d.Getenv(EnvPurgeQueueURL)
		if url == "" {
			return nil, fmt.Errorf("%s is not set", EnvPurgeQueueURL)
		}
		client, err := d.SQS(ctx)
		if err != nil {
			return nil, err
		}
		h.Purges = &purge.Queue{Client: client, URL: url}
		return h.DeleteOutdial, nil
	},
	"purge-targets": func(ctx context.Context, d *Deps) (any, error) {
		store, err := d.Store(ctx)
		if err != nil {
			return nil, err
		}
		return (&purge.Processor{Store: store, Log: d.Log}).Handle, nil
	},
	"add-targets":   httpFn(false, func(h *api.Handlers) HTTPHandler { return h.AddTargets }),
	"list-targets":  httpFn(true, func(h *api.Handlers) HTTPHandler { return h.ListTargets }),
	"get-target":    httpFn(false, func(h *api.Handlers) HTTPHandler { return h.GetTarget }),
	"delete-target": httpFn(false, func(h *api.Handlers) HTTPHandler { return h.DeleteTarget }),
	"claim-targets": httpFn(false, func(h *api.Handlers) HTTPHandler { return h.ClaimTargets }),
	"expire-leases": func(ctx context.Context, d *Deps) (any, error) {
		store, err := d.Store(ctx)
		if err != nil {
			return nil, err
		}
		return (&leases.Sweeper{Store: store, Log: d.Log}).Handle, nil
	},
	"process-outcomes": func(ctx context.Context, d *Deps) (any, error) {
		store, err := d.Store(ctx)
		if err != nil {
			return nil, err
		}
		return (&outcome.Processor{Store: store, Log: d.Log}).Handle, nil
	},
}

func httpFn(withPages bool, pick func(*api.Handlers) HTTPHandler) func(context.Context, *Deps) (any, error) {
	return func(ctx context.Context, d *Deps) (any, error) {
		h, err := d.Handlers(ctx, withPages)
		if err != nil {
			return nil, err
		}
		return pick(h), nil
	}
}

// Names returns every function name, sorted.
func Names() []string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Handler builds the handler of the function called name.
func Handler(ctx context.Context, d *Deps, name string) (any, error) {
	build, ok := functions[name]
	if !ok {
		return nil, fmt.Errorf("no function called %q", name)
	}
	h, err := build(ctx, d)
	if err != nil {
		return nil, fmt.Errorf("init %s: %w", name, err)
	}
	return h, nil
}

// Start is the whole main of a Lambda binary: build the handler of the
// function called name from the process environment once, then serve
// invocations. An init failure exits non-zero, which Lambda reports as an
// init error.
func Start(name string) {
	ctx := context.Background()
	d := NewDeps(os.Getenv)
	h, err := Handler(ctx, d, name)
	if err != nil {
		d.Log.Error("init failed", "function", name, "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
