package localrun

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/outdial/outdial/internal/api/routes"
	"github.com/outdial/outdial/internal/api/suppressionlist"
	"github.com/outdial/outdial/internal/api/suppressions"
	"github.com/outdial/outdial/internal/api/targetimport"
	"github.com/outdial/outdial/internal/api/webhooks"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/purgeenv"
	"github.com/outdial/outdial/internal/app/sqsenv"
	"github.com/outdial/outdial/internal/app/storeenv"
	"github.com/outdial/outdial/internal/app/webhookfns"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/leases"
	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/purge"
)

// Deps is what the local runner builds a function's handler from: the
// environment the template gives the function and the stand-ins' AWS
// config. The deployed functions build the same handlers in their mains
// (functions/<name>/main.go) with the same constructors.
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

	once   sync.Once
	cfg    aws.Config
	cfgErr error
}

// NewDeps returns Deps reading getenv and logging JSON with slog, like
// the functions (app.NewLogger).
func NewDeps(getenv func(string) string) *Deps {
	return &Deps{Getenv: getenv, Log: app.NewLogger(getenv), Now: time.Now}
}

func (d *Deps) awsConfig(ctx context.Context) (aws.Config, error) {
	d.once.Do(func() {
		if d.AWSConfig != nil {
			d.cfg = *d.AWSConfig
			return
		}
		d.cfg, d.cfgErr = config.LoadDefaultConfig(ctx)
		if d.cfgErr != nil {
			d.cfgErr = fmt.Errorf("load AWS config: %w", d.cfgErr)
		}
	})
	return d.cfg, d.cfgErr
}

// store is storeenv.New with the AWS config and HTTP client of d.
func (d *Deps) store(ctx context.Context) (*dynamo.Store, error) {
	cfg, err := d.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return storeenv.New(cfg, d.Getenv, func(o *dynamodb.Options) {
		if d.DynamoDBHTTPClient != nil {
			o.HTTPClient = d.DynamoDBHTTPClient
		}
	})
}

// routes builds the handlers of package routes on the store, with page
// tokens when withPages (the list functions seal them with the token
// secret).
func (d *Deps) routes(ctx context.Context, withPages bool) (*routes.Handlers, error) {
	store, err := d.store(ctx)
	if err != nil {
		return nil, err
	}
	h := &routes.Handlers{Store: store, Log: d.Log, Now: d.Now}
	if withPages {
		secret, err := app.TokenSecret(d.Getenv)
		if err != nil {
			return nil, err
		}
		h.Pages = apigw.NewPageTokens([]byte(secret))
	}
	return h, nil
}

// httpHandler is the signature of every API handler.
type httpHandler = func(context.Context, apigw.Request) (apigw.Response, error)

// routeFunc is the constructor of a function whose handler is a method of
// routes.Handlers.
func routeFunc(withPages bool, pick func(*routes.Handlers) httpHandler) func(context.Context, *Deps) (any, error) {
	return func(ctx context.Context, d *Deps) (any, error) {
		h, err := d.routes(ctx, withPages)
		if err != nil {
			return nil, err
		}
		return pick(h), nil
	}
}

// suppressionFunc is the constructor of a function whose handler is a
// method of suppressions.Handler.
func suppressionFunc(pick func(*suppressions.Handler) httpHandler) func(context.Context, *Deps) (any, error) {
	return func(ctx context.Context, d *Deps) (any, error) {
		store, err := d.store(ctx)
		if err != nil {
			return nil, err
		}
		return pick(&suppressions.Handler{Store: store, Log: d.Log, Now: d.Now}), nil
	}
}

// storeAndConfig is the store and the AWS config of d.
func (d *Deps) storeAndConfig(ctx context.Context) (aws.Config, *dynamo.Store, error) {
	cfg, err := d.awsConfig(ctx)
	if err != nil {
		return aws.Config{}, nil, err
	}
	store, err := d.store(ctx)
	return cfg, store, err
}

// webhookRoute is the constructor of a function whose handler is a method
// of webhooks.Handler; withQueue gives it the delivery queue.
func webhookRoute(withQueue bool, pick func(*webhooks.Handler) httpHandler) func(context.Context, *Deps) (any, error) {
	return func(ctx context.Context, d *Deps) (any, error) {
		cfg, store, err := d.storeAndConfig(ctx)
		if err != nil {
			return nil, err
		}
		h, err := webhookfns.Routes(cfg, store, d.Log, d.Getenv, withQueue)
		if err != nil {
			return nil, err
		}
		return pick(h), nil
	}
}

// functions maps each function name (its directory under functions/) to
// the constructor of its handler: what its main.go builds, from the same
// constructors, and passes to lambda.Start.
var functions = map[string]func(context.Context, *Deps) (any, error){
	"authorizer": func(ctx context.Context, d *Deps) (any, error) {
		a, err := app.Authorizer(d.Getenv, d.Log)
		if err != nil {
			return nil, err
		}
		return a.Handle, nil
	},
	"create-outdial":          routeFunc(false, func(h *routes.Handlers) httpHandler { return h.CreateOutdial }),
	"list-outdials":           routeFunc(true, func(h *routes.Handlers) httpHandler { return h.ListOutdials }),
	"get-outdial":             routeFunc(false, func(h *routes.Handlers) httpHandler { return h.GetOutdial }),
	"update-outdial":          routeFunc(false, func(h *routes.Handlers) httpHandler { return h.UpdateOutdial }),
	"update-outdial-campaign": routeFunc(false, func(h *routes.Handlers) httpHandler { return h.UpdateOutdialCampaign }),
	"update-outdial-data":     routeFunc(false, func(h *routes.Handlers) httpHandler { return h.UpdateOutdialData }),
	"delete-outdial": func(ctx context.Context, d *Deps) (any, error) {
		h, err := d.routes(ctx, false)
		if err != nil {
			return nil, err
		}
		cfg, err := d.awsConfig(ctx)
		if err != nil {
			return nil, err
		}
		if h.Purges, err = purgeenv.New(cfg, d.Getenv); err != nil {
			return nil, err
		}
		return h.DeleteOutdial, nil
	},
	"archive-outdial": routeFunc(false, func(h *routes.Handlers) httpHandler { return h.ArchiveOutdial }),
	"restore-outdial": routeFunc(false, func(h *routes.Handlers) httpHandler { return h.RestoreOutdial }),
	"add-targets": func(ctx context.Context, d *Deps) (any, error) {
		store, err := d.store(ctx)
		if err != nil {
			return nil, err
		}
		return (&targetimport.Handler{Store: store, Log: d.Log}).AddTargets, nil
	},
	"list-targets":        routeFunc(true, func(h *routes.Handlers) httpHandler { return h.ListTargets }),
	"get-target":          routeFunc(false, func(h *routes.Handlers) httpHandler { return h.GetTarget }),
	"delete-target":       routeFunc(false, func(h *routes.Handlers) httpHandler { return h.DeleteTarget }),
	"delete-targets":      routeFunc(false, func(h *routes.Handlers) httpHandler { return h.DeleteTargets }),
	"claim-targets":       routeFunc(false, func(h *routes.Handlers) httpHandler { return h.ClaimTargets }),
	"add-suppressions":    suppressionFunc(func(h *suppressions.Handler) httpHandler { return h.Add }),
	"check-suppressions":  suppressionFunc(func(h *suppressions.Handler) httpHandler { return h.Check }),
	"delete-suppressions": suppressionFunc(func(h *suppressions.Handler) httpHandler { return h.Delete }),
	"list-suppressions": func(ctx context.Context, d *Deps) (any, error) {
		store, err := d.store(ctx)
		if err != nil {
			return nil, err
		}
		secret, err := app.TokenSecret(d.Getenv) // page tokens are sealed with it
		if err != nil {
			return nil, err
		}
		return (&suppressionlist.Handler{Store: store, Pages: apigw.NewPageTokens([]byte(secret)), Log: d.Log}).List, nil
	},
	"expire-leases": func(ctx context.Context, d *Deps) (any, error) {
		store, err := d.store(ctx)
		if err != nil {
			return nil, err
		}
		return (&leases.Sweeper{Store: store, Log: d.Log}).Handle, nil
	},
	"process-outcomes": func(ctx context.Context, d *Deps) (any, error) {
		cfg, store, err := d.storeAndConfig(ctx)
		if err != nil {
			return nil, err
		}
		queue, url, err := sqsenv.OutcomeQueue(cfg, d.Getenv)
		if err != nil {
			return nil, err
		}
		return (&outcome.Processor{Store: store, Log: d.Log, Queue: queue, QueueURL: url}).Handle, nil
	},
	"put-webhook":    webhookRoute(false, func(h *webhooks.Handler) httpHandler { return h.Put }),
	"get-webhook":    webhookRoute(false, func(h *webhooks.Handler) httpHandler { return h.Get }),
	"delete-webhook": webhookRoute(false, func(h *webhooks.Handler) httpHandler { return h.Delete }),
	"rotate-webhook": webhookRoute(false, func(h *webhooks.Handler) httpHandler { return h.Rotate }),
	"test-webhook":   webhookRoute(true, func(h *webhooks.Handler) httpHandler { return h.Test }),
	"publish-events": func(ctx context.Context, d *Deps) (any, error) {
		cfg, store, err := d.storeAndConfig(ctx)
		if err != nil {
			return nil, err
		}
		p, err := webhookfns.Publisher(cfg, store, d.Log, d.Getenv)
		if err != nil {
			return nil, err
		}
		return p.Handle, nil
	},
	"deliver-webhooks": func(ctx context.Context, d *Deps) (any, error) {
		cfg, store, err := d.storeAndConfig(ctx)
		if err != nil {
			return nil, err
		}
		h, err := webhookfns.Deliverer(cfg, store, d.Log, d.Getenv)
		if err != nil {
			return nil, err
		}
		return h.Handle, nil
	},
	"purge-targets": func(ctx context.Context, d *Deps) (any, error) {
		store, err := d.store(ctx)
		if err != nil {
			return nil, err
		}
		return (&purge.Processor{Store: store, Log: d.Log}).Handle, nil
	},
}

// Names returns the name of every function, sorted.
func Names() []string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Handler builds the handler of the function called name from d, as its
// main does at init; an error is the init error the function would report.
func Handler(ctx context.Context, d *Deps, name string) (any, error) {
	build, ok := functions[name]
	if !ok {
		return nil, fmt.Errorf("no function called %q", name)
	}
	h, err := build(ctx, d)
	if err != nil {
		return nil, app.InitError(name, err)
	}
	return h, nil
}
