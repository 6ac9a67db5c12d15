package samtemplate_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/outdial/outdial/internal/samtemplate"
)

// decodeStrict decodes the JSON file at path into v, rejecting fields v
// does not have, so that a misspelt key cannot hide in a sample event.
func decodeStrict(t *testing.T, path string, v any) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%v", err)
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Errorf("%s: %v", path, err)
		return false
	}
	return true
}

// TestEvents checks that every function has a sample event under events/
// that decodes as the payload its handler takes and matches its route,
// and that events/ holds no other file.
func TestEvents(t *testing.T) {
	tpl := loadRepo(t)
	auth := tpl.Authorizer()
	routeKeys := map[string]bool{}
	for _, r := range tpl.Routes() {
		routeKeys[r.Method+" "+r.Path] = true
	}
	expected := map[string]bool{}
	for _, f := range tpl.Functions {
		path := samtemplate.EventPath(repoRoot, f.Name)
		expected[filepath.Base(path)] = true
		t.Run(f.Name, func(t *testing.T) {
			switch {
			case f == auth:
				checkAuthorizerEvent(t, path, routeKeys)
			case hasEvent(f, samtemplate.EventHTTPAPI):
				checkHTTPEvent(t, path, f)
			case hasEvent(f, samtemplate.EventSQS):
				var ev events.SQSEvent
				if decodeStrict(t, path, &ev) && len(ev.Records) == 0 {
					t.Errorf("%s: no records", path)
				}
			case hasEvent(f, samtemplate.EventScheduleV2):
				checkScheduleEvent(t, path)
			case hasEvent(f, samtemplate.EventDynamoDB):
				var ev events.DynamoDBEvent
				if decodeStrict(t, path, &ev) && len(ev.Records) == 0 {
					t.Errorf("%s: no records", path)
				}
			default:
				var v any
				decodeStrict(t, path, &v)
			}
		})
	}

	entries, err := os.ReadDir(filepath.Join(repoRoot, "events"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !expected[e.Name()] {
			t.Errorf("events/%s belongs to no function of template.yaml", e.Name())
		}
	}
}

func hasEvent(f *samtemplate.Function, typ string) bool {
	for _, ev := range f.Events {
		if ev.Type == typ {
			return true
		}
	}
	return false
}

func checkHTTPEvent(t *testing.T, path string, f *samtemplate.Function) {
	var ev events.APIGatewayV2HTTPRequest
	if !decodeStrict(t, path, &ev) {
		return
	}
	var route *samtemplate.Event
	for i, e := range f.Events {
		if e.Type == samtemplate.EventHTTPAPI && e.Method+" "+e.Path == ev.RouteKey {
			route = &f.Events[i]
		}
	}
	if route == nil {
		t.Fatalf("routeKey %q is not a route of %s", ev.RouteKey, f.Name)
	}
	rc := ev.RequestContext
	if ev.Version != "2.0" || rc.RouteKey != ev.RouteKey || rc.HTTP.Method != route.Method ||
		rc.HTTP.Path != ev.RawPath || rc.RequestID == "" {
		t.Errorf("version %q, requestContext routeKey %q method %q path %q requestId %q: want 2.0, %q, %q, %q and a request id",
			ev.Version, rc.RouteKey, rc.HTTP.Method, rc.HTTP.Path, rc.RequestID, ev.RouteKey, route.Method, ev.RawPath)
	}
	if want := fillPath(route.Path, ev.PathParameters); ev.RawPath != want {
		t.Errorf("rawPath %q, want %q (the route with pathParameters %v)", ev.RawPath, want, ev.PathParameters)
	}
	if strings.Contains(route.Path, "{id}") && ev.PathParameters["id"] != samtemplate.EventOutdialID {
		t.Errorf("pathParameters.id %q, want %q", ev.PathParameters["id"], samtemplate.EventOutdialID)
	}
	if rc.Authorizer == nil || rc.Authorizer.Lambda["customer_id"] != samtemplate.EventCustomerID {
		t.Errorf("requestContext.authorizer.lambda.customer_id missing or not %s", samtemplate.EventCustomerID)
	}
	if ev.IsBase64Encoded {
		t.Error("isBase64Encoded is true")
	}
	if ev.Body != "" && !json.Valid([]byte(ev.Body)) {
		t.Errorf("body is not JSON: %s", ev.Body)
	}
	if route.Method == "POST" || route.Method == "PUT" {
		if ev.Body == "" {
			t.Errorf("%s route without a body", route.Method)
		}
	}
}

// checkScheduleEvent checks EventBridge Scheduler's default notification,
// what a schedule without Input sends a Lambda target: an EventBridge
// event from aws.scheduler whose detail is the string "{}".
func checkScheduleEvent(t *testing.T, path string) {
	var ev events.EventBridgeEvent
	if !decodeStrict(t, path, &ev) {
		return
	}
	if ev.Version != "0" || ev.Source != "aws.scheduler" || ev.DetailType != "Scheduled Event" || ev.ID == "" || ev.Time.IsZero() {
		t.Errorf("version %q source %q detail-type %q id %q time %v: want 0, aws.scheduler, Scheduled Event, an id and a time",
			ev.Version, ev.Source, ev.DetailType, ev.ID, ev.Time)
	}
	if len(ev.Resources) != 1 || !strings.HasPrefix(ev.Resources[0], "arn:aws:scheduler:") {
		t.Errorf("resources %v, want the schedule's ARN", ev.Resources)
	}
	if string(ev.Detail) != `"{}"` {
		t.Errorf("detail %s, want the string \"{}\" (Scheduler's default notification)", ev.Detail)
	}
}

func checkAuthorizerEvent(t *testing.T, path string, routeKeys map[string]bool) {
	var ev events.APIGatewayV2CustomAuthorizerV2Request
	if !decodeStrict(t, path, &ev) {
		return
	}
	if ev.Version != "2.0" || ev.Type != "REQUEST" {
		t.Errorf("version %q type %q, want 2.0 and REQUEST", ev.Version, ev.Type)
	}
	if !routeKeys[ev.RouteKey] || ev.RequestContext.RouteKey != ev.RouteKey {
		t.Errorf("routeKey %q (requestContext %q) is not a route of the API", ev.RouteKey, ev.RequestContext.RouteKey)
	}
	method, _, _ := strings.Cut(ev.RouteKey, " ")
	if !strings.HasPrefix(ev.RouteArn, "arn:aws:execute-api:") || !strings.HasSuffix(ev.RouteArn, "/"+method+ev.RawPath) {
		t.Errorf("routeArn %q does not end in /%s%s", ev.RouteArn, method, ev.RawPath)
	}
	if ev.IdentitySource == nil {
		t.Error("identitySource missing (the API has no identity source, so it is empty)")
	}
	if got, want := ev.Headers["authorization"], "Bearer "+samtemplate.TokenPlaceholder; got != want {
		t.Errorf("authorization header %q, want %q", got, want)
	}
}

// fillPath replaces each {name} of a route path with params[name].
func fillPath(route string, params map[string]string) string {
	for k, v := range params {
		route = strings.ReplaceAll(route, "{"+k+"}", v)
	}
	return route
}

func TestEventPath(t *testing.T) {
	if got, want := samtemplate.EventPath("/repo", "create-outdial"), filepath.Join("/repo", "events", "create-outdial.json"); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
