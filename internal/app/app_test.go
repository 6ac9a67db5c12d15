package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/outdial/outdial/internal/app"
	"github.com/outdial/outdial/internal/app/storeenv"
	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/samtemplate"
)

// The tests of this file build the functions' handlers through the local
// runner's table (localrun.Handler), which uses the constructors of this
// package and its subpackages as the mains do; mains_test.go runs the
// mains themselves.

const testSecret = "app-test-secret-0123456789abcdef-0123456789"

// unreachable is an endpoint nothing listens on: building a handler must
// not call any AWS service.
const unreachable = "http://127.0.0.1:1"

func template(t *testing.T) *samtemplate.Template {
	t.Helper()
	tpl, err := samtemplate.LoadRepo()
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// staticConfig is an AWS config that needs no environment, files or
// instance metadata.
func staticConfig() *aws.Config {
	return &aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
}

// templateEnv returns the environment the template gives function f, with
// the stand-in endpoints set the way the local runner sets them, and
// overrides applied ("" deletes a variable).
func templateEnv(t *testing.T, tpl *samtemplate.Template, f *samtemplate.Function, overrides map[string]string) map[string]string {
	t.Helper()
	refs := map[string]string{"AWS::Region": "us-east-1", "AWS::AccountId": "000000000000", "AWS::StackName": "outdial-test"}
	for k, v := range tpl.ParameterDefaults() {
		refs[k] = v
	}
	refs["TokenSecret"] = testSecret
	for _, id := range tpl.Tables() {
		refs[id] = "table-" + id
	}
	for id := range tpl.Resources("AWS::SQS::Queue") {
		refs[id] = unreachable + "/000000000000/" + id // !Ref of a queue is its URL
	}
	env, unresolved := samtemplate.ResolveEnv(f.Env, refs)
	if len(unresolved) > 0 {
		t.Fatalf("function %s: environment variables %v do not resolve", f.Name, unresolved)
	}
	env[app.EnvDynamoDBEndpoint] = unreachable
	env[app.EnvSQSEndpoint] = unreachable
	// What Lambda sets: the region and the execution role's credentials.
	env[storeenv.EnvRegion] = "us-east-1"
	env[storeenv.EnvAccessKeyID] = "test"
	env[storeenv.EnvSecretAccessKey] = "test"
	env[storeenv.EnvSessionToken] = "test"
	for k, v := range overrides {
		if v == "" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return env
}

func deps(env map[string]string) *localrun.Deps {
	d := localrun.NewDeps(func(k string) string { return env[k] })
	d.Log = slog.New(slog.DiscardHandler)
	d.AWSConfig = staticConfig()
	return d
}

// kind says how a function is invoked: by the HTTP API, as its
// authorizer, by an SQS event source, by the table's stream, or by a
// schedule.
func kinds(t *testing.T, tpl *samtemplate.Template) map[string]string {
	t.Helper()
	k := map[string]string{}
	for _, f := range tpl.Functions {
		for _, e := range f.Events {
			switch e.Type {
			case samtemplate.EventHTTPAPI:
				k[f.Name] = "http"
			case samtemplate.EventSQS:
				k[f.Name] = "sqs"
			case samtemplate.EventScheduleV2:
				k[f.Name] = "schedule"
			case samtemplate.EventDynamoDB:
				k[f.Name] = "stream"
			}
		}
	}
	if a := tpl.Authorizer(); a != nil {
		k[a.Name] = "authorizer"
	}
	return k
}

// TestNamesMatchTemplateAndDirectories checks the local runner's table, the
// template and functions/ name the same functions.
func TestNamesMatchTemplateAndDirectories(t *testing.T) {
	tpl := template(t)
	root, _ := localstack.RepoRoot()
	names := map[string]bool{}
	for _, n := range localrun.Names() {
		names[n] = true
	}
	inTemplate := map[string]bool{}
	for _, f := range tpl.Functions {
		inTemplate[f.Name] = true
		if !names[f.Name] {
			t.Errorf("template function %s (%s) is not in localrun.Names()", f.LogicalID, f.Name)
		}
	}
	dirs, err := filepath.Glob(filepath.Join(root, "functions", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	inDirs := map[string]bool{}
	for _, d := range dirs {
		inDirs[filepath.Base(filepath.Dir(d))] = true
	}
	for n := range names {
		if !inTemplate[n] {
			t.Errorf("localrun.Names() has %s, which the template does not deploy", n)
		}
		if !inDirs[n] {
			t.Errorf("localrun.Names() has %s, but functions/%s/main.go does not exist", n, n)
		}
	}
	for d := range inDirs {
		if !names[d] {
			t.Errorf("functions/%s has no entry in localrun.Names()", d)
		}
	}
	if !sortedStrings(localrun.Names()) {
		t.Errorf("localrun.Names() = %v, want sorted", localrun.Names())
	}
}

func sortedStrings(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] >= s[i] {
			return false
		}
	}
	return true
}

// TestEveryFunctionBuildsAndAnswers builds every function's handler with
// the environment the template gives it (endpoints pointing at a closed
// port) and invokes it through the Lambda runtime's JSON path with an
// event that needs no AWS call (a scheduled function always calls the
// table, so its run fails), which proves the handler has the signature
// its trigger expects.
func TestEveryFunctionBuildsAndAnswers(t *testing.T) {
	tpl := template(t)
	kind := kinds(t, tpl)
	byName := map[string]*samtemplate.Function{}
	for _, f := range tpl.Functions {
		byName[f.Name] = f
	}
	for _, name := range localrun.Names() {
		t.Run(name, func(t *testing.T) {
			f := byName[name]
			if f == nil {
				t.Skipf("%s is not in the template (TestNamesMatchTemplateAndDirectories reports it)", name)
			}
			h, err := localrun.Handler(context.Background(), deps(templateEnv(t, tpl, f, nil)), name)
			if err != nil {
				t.Fatalf("Handler(%s) with the template's environment: %v", name, err)
			}
			lh := lambda.NewHandler(h)
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-" + name})
			switch kind[name] {
			case "http":
				// No authorizer context: the handler answers 401 before
				// touching the store.
				out, err := lh.Invoke(ctx, mustJSON(t, events.APIGatewayV2HTTPRequest{
					Version: "2.0", RouteKey: "GET /", RawPath: "/",
					RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r-1"},
				}))
				if err != nil {
					t.Fatalf("invoke: %v", err)
				}
				var res events.APIGatewayV2HTTPResponse
				if err := json.Unmarshal(out, &res); err != nil || res.StatusCode != 401 {
					t.Fatalf("invoke without authorizer context = %s (%v), want a 401 response", out, err)
				}
				if !strings.Contains(res.Body, `"code":"unauthenticated"`) {
					t.Errorf("body = %s, want code unauthenticated", res.Body)
				}
			case "authorizer":
				out, err := lh.Invoke(ctx, mustJSON(t, events.APIGatewayV2CustomAuthorizerV2Request{Version: "2.0", Type: "REQUEST", RouteKey: "GET /v1.0/outdials"}))
				if err != nil {
					t.Fatalf("invoke: %v", err)
				}
				var res events.APIGatewayV2CustomAuthorizerSimpleResponse
				if err := json.Unmarshal(out, &res); err != nil || res.IsAuthorized {
					t.Fatalf("authorizer without a token = %s (%v), want isAuthorized false", out, err)
				}
			case "sqs":
				out, err := lh.Invoke(ctx, mustJSON(t, events.SQSEvent{Records: []events.SQSMessage{}}))
				if err != nil {
					t.Fatalf("invoke with an empty batch: %v", err)
				}
				var res events.SQSEventResponse
				if err := json.Unmarshal(out, &res); err != nil || len(res.BatchItemFailures) != 0 {
					t.Fatalf("empty batch = %s (%v), want no failures", out, err)
				}
				if name == "deliver-webhooks" {
					// The sample delivery (a ping) needs the customer's
					// webhook, which the unreachable table cannot give:
					// the message is reported, to come back later, and
					// the invocation does not fail.
					var ev events.SQSEvent
					sample := sampleEvent(t, name, &ev)
					out := invokeBounded(t, lh, ctx, sample)
					var res events.SQSEventResponse
					if err := json.Unmarshal(out, &res); err != nil {
						t.Fatalf("answer %s: %v", out, err)
					}
					if got := failureIDs(res.BatchItemFailures); len(got) != 1 || got[0] != ev.Records[0].MessageId {
						t.Errorf("the sample delivery against an unreachable table: failures %v, want [%s]", got, ev.Records[0].MessageId)
					}
				}
			case "stream":
				// An empty batch: nothing to do, nothing failed.
				out, err := lh.Invoke(ctx, mustJSON(t, events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{}}))
				if err != nil {
					t.Fatalf("invoke with an empty batch: %v", err)
				}
				var res events.DynamoDBEventResponse
				if err := json.Unmarshal(out, &res); err != nil || len(res.BatchItemFailures) != 0 {
					t.Fatalf("empty batch = %s (%v), want no failures", out, err)
				}
				// The sample record (an outdial's name changed) needs the
				// table: against an unreachable one it is reported by its
				// sequence number, for the event source mapping to retry
				// from it, and the invocation does not fail.
				var ev events.DynamoDBEvent
				sample := sampleEvent(t, name, &ev)
				out = invokeBounded(t, lh, ctx, sample)
				res = events.DynamoDBEventResponse{}
				if err := json.Unmarshal(out, &res); err != nil {
					t.Fatalf("answer %s: %v", out, err)
				}
				want := ev.Records[0].Change.SequenceNumber
				if len(res.BatchItemFailures) != 1 || res.BatchItemFailures[0].ItemIdentifier != want {
					t.Errorf("the sample record against an unreachable table = %s, want the failure of %s", out, want)
				}
			case "schedule":
				// EventBridge Scheduler's event is accepted; the run then
				// fails on the unreachable table, as an error of the
				// invocation (the schedule's next run goes on).
				ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				defer cancel()
				out, err := lh.Invoke(ctx, mustJSON(t, events.EventBridgeEvent{
					Version: "0", Source: "aws.scheduler", DetailType: "Scheduled Event", Detail: json.RawMessage(`"{}"`),
				}))
				if err == nil {
					t.Fatalf("a run against an unreachable table = %s, want an error", out)
				}
				if strings.Contains(err.Error(), "unmarshal") {
					t.Errorf("the scheduler's event was refused: %v", err)
				}
			default:
				t.Fatalf("%s has no HttpApi, SQS, DynamoDB or ScheduleV2 event and is not the authorizer", name)
			}
		})
	}
}

// sampleEvent reads events/<name>.json into v and returns it.
func sampleEvent(t *testing.T, name string, v any) []byte {
	t.Helper()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(samtemplate.EventPath(root, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("events/%s.json: %v", name, err)
	}
	return raw
}

// invokeBounded invokes lh with payload for at most 10 s (the SDK's
// retries against a closed port included) and returns its answer, which
// must not be an error.
func invokeBounded(t *testing.T, lh lambda.Handler, ctx context.Context, payload []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	started := time.Now()
	out, err := lh.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("invoke with the sample event: %v (after %s)", err, time.Since(started).Round(time.Millisecond))
	}
	return out
}

func failureIDs(fs []events.SQSBatchItemFailure) []string {
	ids := []string{}
	for _, f := range fs {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTokenSecret checks that exactly the functions the template gives
// the token secret need it: they fail to initialise, with an error naming
// the variable, when it is missing or short; the others build without it.
func TestTokenSecret(t *testing.T) {
	tpl := template(t)
	needing := 0
	for _, f := range tpl.Functions {
		_, needs := f.Env[app.EnvTokenSecret]
		if needs {
			needing++
		}
		for _, secret := range []string{"", "too-short-secret"} {
			t.Run(f.Name+"/"+map[bool]string{true: "missing", false: "short"}[secret == ""], func(t *testing.T) {
				env := templateEnv(t, tpl, f, nil)
				if secret == "" {
					delete(env, app.EnvTokenSecret)
				} else {
					env[app.EnvTokenSecret] = secret
				}
				_, err := localrun.Handler(context.Background(), deps(env), f.Name)
				if !needs {
					if err != nil {
						t.Errorf("Handler(%s) without the secret it is not given: %v", f.Name, err)
					}
					return
				}
				if err == nil {
					t.Fatalf("Handler(%s) with secret %q = nil error, want an init error", f.Name, secret)
				}
				if !strings.Contains(err.Error(), app.EnvTokenSecret) || !strings.Contains(err.Error(), f.Name) {
					t.Errorf("error %q should name %s and the function", err, app.EnvTokenSecret)
				}
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains the secret", err)
				}
			})
		}
	}
	// The authorizer and the list functions (page tokens) at least.
	if needing < 3 {
		t.Errorf("%d functions get %s from the template, want at least 3", needing, app.EnvTokenSecret)
	}
}

func TestTableNameRequired(t *testing.T) {
	tpl := template(t)
	for _, f := range tpl.Functions {
		if kinds(t, tpl)[f.Name] == "authorizer" {
			continue // the authorizer has no table access
		}
		env := templateEnv(t, tpl, f, map[string]string{app.EnvTableName: ""})
		_, err := localrun.Handler(context.Background(), deps(env), f.Name)
		if err == nil || !strings.Contains(err.Error(), app.EnvTableName) {
			t.Errorf("Handler(%s) without %s = %v, want an error naming it", f.Name, app.EnvTableName, err)
		}
	}
}

func TestHandlerUnknownName(t *testing.T) {
	env := map[string]string{app.EnvTableName: "t", app.EnvTokenSecret: testSecret}
	for _, name := range []string{"", "nope", "Create-Outdial", "../authorizer"} {
		if h, err := localrun.Handler(context.Background(), deps(env), name); err == nil {
			t.Errorf("Handler(%q) = %T, nil; want an error", name, h)
		}
	}
}

// captureStdout runs fn with os.Stdout redirected and returns what it
// wrote: NewLogger writes to the process's standard output, as Lambda
// expects.
func captureStdout(t *testing.T, fn func()) []byte {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		done <- b
	}()
	defer func() {
		os.Stdout = saved
	}()
	fn()
	w.Close()
	out := <-done
	r.Close()
	return out
}

func records(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var recs []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		recs = append(recs, m)
	}
	return recs
}

func TestLoggerAddsRequestID(t *testing.T) {
	lc := &lambdacontext.LambdaContext{AwsRequestID: "8f5a2c1e-0000-4000-8000-000000000001"}
	ctx := lambdacontext.NewContext(context.Background(), lc)
	out := captureStdout(t, func() {
		log := app.NewLogger(func(string) string { return "" })
		log.InfoContext(ctx, "with context", "k", "v")
		log.InfoContext(context.Background(), "without lambda context")
		log.With("attr", 1).WithGroup("g").InfoContext(ctx, "derived", "x", 2)
		log.DebugContext(ctx, "below the default level")
	})
	recs := records(t, out)
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3:\n%s", len(recs), out)
	}
	if recs[0]["requestId"] != lc.AwsRequestID || recs[0]["message"] != "with context" || recs[0]["k"] != "v" {
		t.Errorf("record = %v, want requestId %s, message and k", recs[0], lc.AwsRequestID)
	}
	if _, ok := recs[0]["timestamp"]; !ok {
		t.Errorf("record %v has no timestamp (Lambda's name for time)", recs[0])
	}
	if _, ok := recs[1]["requestId"]; ok {
		t.Errorf("record without a Lambda context has requestId: %v", recs[1])
	}
	// Handlers derived with With/WithGroup keep adding it.
	if !strings.Contains(string(out), `"requestId":"`+lc.AwsRequestID+`"`) || recs[2]["attr"] != float64(1) {
		t.Errorf("derived logger record = %v", recs[2])
	}
	derived, _ := json.Marshal(recs[2])
	if !strings.Contains(string(derived), lc.AwsRequestID) {
		t.Errorf("derived logger record %s lost the request id", derived)
	}
}

func TestLoggerLevel(t *testing.T) {
	for _, tt := range []struct {
		level string
		want  []string
	}{
		{"", []string{"info", "warn", "error"}},
		{"DEBUG", []string{"debug", "info", "warn", "error"}},
		{"WARN", []string{"warn", "error"}},
		{"ERROR", []string{"error"}},
		{"nonsense", []string{"info", "warn", "error"}},
	} {
		out := captureStdout(t, func() {
			log := app.NewLogger(func(k string) string {
				if k == app.EnvLogLevel {
					return tt.level
				}
				return ""
			})
			ctx := context.Background()
			log.DebugContext(ctx, "debug")
			log.InfoContext(ctx, "info")
			log.WarnContext(ctx, "warn")
			log.ErrorContext(ctx, "error")
		})
		var got []string
		for _, r := range records(t, out) {
			got = append(got, r["message"].(string))
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("LOG_LEVEL=%q logged %v, want %v", tt.level, got, tt.want)
		}
	}
}

// TestAuthorizerMaxTokenLifetime checks the wiring of the maximum token
// lifetime: the template gives MAX_TOKEN_LIFETIME_SECONDS to the authorizer
// only, with the bounds and default internal/app and internal/auth use;
// the authorizer built from it denies longer tokens; a value out of bounds
// fails the init naming the variable.
func TestAuthorizerMaxTokenLifetime(t *testing.T) {
	tpl := template(t)
	authz := tpl.Authorizer()
	for id, f := range tpl.Functions {
		got, ok := f.Env[app.EnvMaxTokenLifetime]
		switch {
		case f == authz && !reflect.DeepEqual(got, map[string]any{"Ref": "MaxTokenLifetimeSeconds"}):
			t.Errorf("%s: %s = %v, want !Ref MaxTokenLifetimeSeconds", id, app.EnvMaxTokenLifetime, got)
		case f != authz && ok:
			t.Errorf("%s: sets %s but does not verify tokens", id, app.EnvMaxTokenLifetime)
		}
	}
	params, _ := tpl.Raw["Parameters"].(map[string]any)
	p, _ := params["MaxTokenLifetimeSeconds"].(map[string]any)
	if p["Type"] != "Number" || p["Default"] != int(auth.DefaultMaxLifetime/time.Second) ||
		p["MinValue"] != app.MinMaxTokenLifetime || p["MaxValue"] != app.MaxMaxTokenLifetime {
		t.Errorf("MaxTokenLifetimeSeconds: got %v, want a Number, default %d, from %d to %d (what internal/app accepts)",
			p, int(auth.DefaultMaxLifetime/time.Second), app.MinMaxTokenLifetime, app.MaxMaxTokenLifetime)
	}

	// authorize builds the authorizer with env and asks it about a token
	// minted for ttl.
	authorize := func(t *testing.T, env map[string]string, ttl time.Duration) bool {
		t.Helper()
		h, err := localrun.Handler(context.Background(), deps(env), authz.Name)
		if err != nil {
			t.Fatalf("Handler(%s): %v", authz.Name, err)
		}
		handle, ok := h.(func(context.Context, events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error))
		if !ok {
			t.Fatalf("the authorizer's handler is a %T", h)
		}
		tok, err := auth.Mint(testSecret, "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d", ttl, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		res, err := handle(context.Background(), events.APIGatewayV2CustomAuthorizerV2Request{
			Version: "2.0", Type: "REQUEST", RouteKey: "GET /v1.0/outdials", Headers: map[string]string{"authorization": "Bearer " + tok},
		})
		if err != nil {
			t.Fatalf("authorizer: %v", err)
		}
		return res.IsAuthorized
	}
	day := 24 * time.Hour
	for _, tt := range []struct {
		name  string
		value string // MAX_TOKEN_LIFETIME_SECONDS; "" keeps the template's
		ttl   time.Duration
		allow bool
	}{
		{"template default, make run's 7-day token", "", 7 * day, true},
		{"template default, 30 days", "", 30 * day, true},
		{"template default, 31 days", "", 31 * day, false},
		{"one hour, 1 h token", "3600", time.Hour, true},
		{"one hour, 2 h token", "3600", 2 * time.Hour, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := templateEnv(t, tpl, authz, map[string]string{app.EnvMaxTokenLifetime: tt.value})
			if tt.value == "" {
				env = templateEnv(t, tpl, authz, nil)
			}
			if got := authorize(t, env, tt.ttl); got != tt.allow {
				t.Errorf("MAX_TOKEN_LIFETIME_SECONDS %q, token for %s: allowed %v, want %v", env[app.EnvMaxTokenLifetime], tt.ttl, got, tt.allow)
			}
		})
	}

	for _, bad := range []string{"abc", "-1", "0", "59", "31536001", "30d"} {
		env := templateEnv(t, tpl, authz, map[string]string{app.EnvMaxTokenLifetime: bad})
		_, err := localrun.Handler(context.Background(), deps(env), authz.Name)
		if err == nil || !strings.Contains(err.Error(), app.EnvMaxTokenLifetime) {
			t.Errorf("Handler(%s) with %s=%q: %v, want an init error naming it", authz.Name, app.EnvMaxTokenLifetime, bad, err)
		}
	}
}
