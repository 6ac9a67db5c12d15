// Package localrun runs the service on this machine without AWS or Docker:
// DynamoDB Local (and the SQS stand-in) as child processes, the table as
// template.yaml defines it, and an HTTP server that turns each request into
// the API Gateway payload 2.0 event the deployed functions receive, runs the
// template's authorizer, and invokes the handlers the functions' mains
// build (Handler, functions.go) through the Lambda runtime's JSON path. SQS
// pollers stand in for the event source mappings, and a timer per
// ScheduleV2 event for EventBridge Scheduler.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/logging"

	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/samtemplate"
)

// Options configure a Stack.
type Options struct {
	Root             string // repository root (template.yaml, node_modules)
	Addr             string // HTTP listen address, e.g. 127.0.0.1:3000
	TokenSecret      string // signing secret; auth.DevSecret when empty
	TableName        string // default DefaultTableName
	DynamoDBEndpoint string // use this DynamoDB instead of starting one
	DynamoDBPort     int    // port for the DynamoDB Local we start (0: any free)
	SQSEndpoint      string // use this SQS stand-in instead of starting one
	SQSPort          int    // port for the SQS stand-in we start (0: any free)
	// Parameters override template parameter defaults, e.g.
	// {"LeaseGraceSeconds": "1"}; see ProvisionOptions.Parameters.
	Parameters map[string]string
	// ScheduleEvery, when not 0, is the period of every ScheduleV2
	// function instead of its schedule's rate (tests run them often).
	ScheduleEvery time.Duration
	// NoEvents creates the table without its stream and runs no DynamoDB
	// event source mapping (publish-events): tests of other paths leave
	// the one DynamoDB Local of a test run that work.
	NoEvents bool
	// HTTPTimeout is the HTTP server's read, write and idle timeout
	// (0: DefaultHTTPTimeout, 30 s); see NewServer.
	HTTPTimeout time.Duration
	// DynamoDBHTTPClient, when set, carries the functions' DynamoDB
	// requests (the DynamoDB double, internal/ddbdouble, for load tests).
	DynamoDBHTTPClient aws.HTTPClient
	Log                *slog.Logger
}

// Stack is a running local deployment: the Resources (DynamoDB Local,
// the SQS stand-in, the table and queues) and, on them, the functions, the
// HTTP API, the SQS pollers and the schedules.
type Stack struct {
	*Resources
	URL string // http://127.0.0.1:3000

	Gateway   *Gateway
	Functions map[string]*Function // by function name (functions/<name>)

	server      *http.Server
	stopPolling context.CancelFunc // stops the pollers and the schedules
	pollers     sync.WaitGroup
}

func intProp(v any, def int) int {
	switch n := v.(type) {
	case int:
		return n
	case float64:
		return int(n)
	case string:
		if i, err := strconv.Atoi(n); err == nil {
			return i
		}
	}
	return def
}

func hasString(v any, want string) bool {
	list, _ := v.([]any)
	for _, s := range list {
		if s == want {
			return true
		}
	}
	return false
}

// Start brings the stack up. Close stops everything it started.
func Start(ctx context.Context, opt Options) (_ *Stack, err error) {
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	st := &Stack{Functions: map[string]*Function{}}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()

	// Local receivers (http://127.0.0.1:<port>) may be webhooks here,
	// unless the caller says otherwise.
	params := map[string]string{"LocalWebhooks": "true"}
	for k, v := range opt.Parameters {
		params[k] = v
	}
	opt.Parameters = params

	// The stand-ins, the table and the queues.
	st.Resources, err = Provision(ctx, ProvisionOptions{
		Root: opt.Root, TableName: opt.TableName, TokenSecret: opt.TokenSecret, Parameters: opt.Parameters,
		DynamoDBEndpoint: opt.DynamoDBEndpoint, DynamoDBPort: opt.DynamoDBPort,
		SQSEndpoint: opt.SQSEndpoint, SQSPort: opt.SQSPort, NoStream: opt.NoEvents,
	})
	if err != nil {
		return nil, err
	}
	tpl := st.Template
	sqsClient, err := localstack.SQSClient(ctx, st.SQSEndpoint)
	if err != nil {
		return nil, err
	}
	// The pollers' SDK retries are logged: a ReceiveMessage retried after
	// its answer was lost leaves messages in flight until the visibility
	// timeout, which is worth seeing.
	sqsClient = sqs.New(sqsClient.Options(), func(o *sqs.Options) {
		o.ClientLogMode |= aws.LogRetries
		o.Logger = logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
			opt.Log.Warn("SQS client: "+fmt.Sprintf(format, v...), "classification", string(c))
		})
	})

	// Functions, each with the environment the template gives it.
	awsCfg, err := localstack.AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	for _, f := range tpl.Functions {
		env, unresolved := st.Env(f)
		if len(unresolved) > 0 {
			opt.Log.Warn("unresolved environment values", "function", f.Name, "names", unresolved)
		}
		d := NewDeps(func(k string) string { return env[k] })
		d.AWSConfig = &awsCfg
		d.DynamoDBHTTPClient = opt.DynamoDBHTTPClient
		h, err := Handler(ctx, d, f.Name)
		if err != nil {
			return nil, fmt.Errorf("function %s (%s): %w", f.LogicalID, f.Name, err)
		}
		timeout := time.Duration(f.Timeout) * time.Second
		if timeout <= 0 {
			timeout = 3 * time.Second
		}
		st.Functions[f.Name] = &Function{Name: f.Name, Handler: freshHandler{h}, Timeout: timeout}
	}

	// The HTTP API.
	authz := tpl.Authorizer()
	if authz == nil {
		return nil, errors.New("template.yaml: the HTTP API has no default authorizer")
	}
	st.Gateway = NewGateway(st.Functions[authz.Name], opt.Log)
	for _, r := range tpl.Routes() {
		st.Gateway.Route(r.Method, r.Path, st.Functions[r.Function.Name], r.Authorized)
	}
	// Event source mappings: one poller per SQS event of a function.
	pollCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	st.stopPolling = cancel
	for _, f := range tpl.Functions {
		for _, e := range f.Events {
			if e.Type != samtemplate.EventSQS {
				continue
			}
			q := st.Queues[refTarget(e.Properties["Queue"])]
			if q == nil {
				return nil, fmt.Errorf("function %s: SQS event %s names no queue of the template", f.LogicalID, e.Name)
			}
			p := &Poller{
				Client: sqsClient, Queue: q, Fn: st.Functions[f.Name], Log: opt.Log,
				BatchSize:     intProp(e.Properties["BatchSize"], 10),
				Window:        time.Duration(intProp(e.Properties["MaximumBatchingWindowInSeconds"], 0)) * time.Second,
				ReportFailure: hasString(e.Properties["FunctionResponseTypes"], "ReportBatchItemFailures"),
			}
			st.pollers.Add(1)
			go func() { defer st.pollers.Done(); p.Run(pollCtx) }()
		}
	}
	// Stream event source mappings: one poller per DynamoDB event of a
	// function (the table's stream).
	for _, f := range tpl.Functions {
		for _, e := range f.Events {
			if e.Type != samtemplate.EventDynamoDB || opt.NoEvents {
				continue
			}
			p, err := NewStreamPoller(ctx, st.DynamoDBEndpoint, st.TableName, st.Functions[f.Name], intProp(e.Properties["BatchSize"], 100),
				time.Duration(intProp(e.Properties["MaximumBatchingWindowInSeconds"], 0))*time.Second, opt.Log)
			if err != nil {
				return nil, fmt.Errorf("function %s: DynamoDB event %s: %w", f.LogicalID, e.Name, err)
			}
			st.pollers.Add(1)
			go func() { defer st.pollers.Done(); p.Run(pollCtx) }()
		}
	}
	// Schedules: one timer per ScheduleV2 event of a function.
	for _, f := range tpl.Functions {
		for _, e := range f.Events {
			if e.Type != samtemplate.EventScheduleV2 {
				continue
			}
			if state, _ := e.Properties["State"].(string); state == "DISABLED" {
				opt.Log.Info("schedule disabled in the template", "function", f.Name, "schedule", e.Name)
				continue
			}
			if e.Schedule == "" {
				return nil, fmt.Errorf("function %s: ScheduleV2 event %s: the local stack needs the ScheduleExpression as a string, not %v",
					f.LogicalID, e.Name, e.Properties["ScheduleExpression"])
			}
			every, err := ParseRate(e.Schedule)
			if err != nil {
				return nil, fmt.Errorf("function %s: ScheduleV2 event %s: %w", f.LogicalID, e.Name, err)
			}
			if opt.ScheduleEvery > 0 {
				every = opt.ScheduleEvery
			}
			sc := &Schedule{Name: f.LogicalID + e.Name, Fn: st.Functions[f.Name], Every: every, Log: opt.Log}
			opt.Log.Info("schedule", "function", f.Name, "schedule", sc.Name, "expression", e.Schedule, "every", every.String())
			st.pollers.Add(1)
			go func() { defer st.pollers.Done(); sc.Run(pollCtx) }()
		}
	}

	ln, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opt.Addr, err)
	}
	st.URL = "http://" + ln.Addr().String()
	st.server = NewServer(st.Gateway, opt.HTTPTimeout)
	go func() { _ = st.server.Serve(ln) }()
	return st, nil
}

// freshHandler invokes h through a new lambda.Handler each time. The SDK's
// handler answers with a slice of a pooled buffer that its next invocation
// reuses, which is fine in Lambda (one invocation per environment at a
// time) but not for the concurrent invocations of a local server.
type freshHandler struct{ h any }

// Invoke implements lambda.Handler.
func (f freshHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return lambda.NewHandler(f.h).Invoke(ctx, payload)
}

// Token mints a token for customerID signed with the stack's secret.
func (st *Stack) Token(customerID string, ttl time.Duration) (string, error) {
	return auth.Mint(st.TokenSecret, customerID, ttl, time.Now())
}

// QueueURL returns the URL of the template queue with logical id id.
func (st *Stack) QueueURL(id string) string {
	if q := st.Queues[id]; q != nil {
		return q.URL
	}
	return ""
}

// Close stops the HTTP server, the pollers, the schedules and every process
// the stack started. It is safe to call more than once.
func (st *Stack) Close() {
	if st.stopPolling != nil {
		st.stopPolling()
		st.pollers.Wait()
	}
	if st.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = st.server.Shutdown(ctx)
		cancel()
	}
	if st.Resources != nil {
		_ = st.Resources.Close()
	}
}
