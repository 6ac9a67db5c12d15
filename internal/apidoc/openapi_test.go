package apidoc_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/auth"
	odevents "github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localruntest"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/samtemplate"
	"github.com/outdial/outdial/internal/webhook"
)

// docPath is the document under test, relative to the repository root.
const docPath = "api/openapi.yaml"

// customer is the customer of the live tests' tokens.
const customer = "3b0c8d52-6f1e-4a7b-9c2d-5e8f0a1b2c3d"

// uuidFormat checks format: uuid for every UUID version (the service hands
// out v5 target ids, v7 outdial ids and v8 attempt ids), unlike
// kin-openapi's optional RFC 4122 format, which stops at v5.
var uuidFormat = openapi3.WithStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// loadDoc loads and validates api/openapi.yaml.
func loadDoc(t *testing.T, root string) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(filepath.Join(root, docPath))
	if err != nil {
		t.Fatalf("load %s: %v", docPath, err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("%s is not a valid OpenAPI document: %v", docPath, err)
	}
	return doc
}

func TestDocumentIsValid(t *testing.T) {
	doc := loadDoc(t, repoRoot(t))
	if got, want := doc.OpenAPI, "3.0.3"; got != want {
		t.Errorf("openapi = %q, want %q", got, want)
	}
	// The pieces the API's clients rely on are components, not inline.
	for _, name := range []string{"ErrorResponse", "ErrorDetail", "ErrorCode", "GatewayError", "OutdialList", "TargetList", "ImportResponse", "ClaimResponse", "OutcomeMessage",
		"Webhook", "WebhookPut", "WebhookWithSecret", "WebhookTestResponse", "WebhookDelivery", "WebhookEvent"} {
		if doc.Components.Schemas[name] == nil {
			t.Errorf("components.schemas.%s is missing", name)
		}
	}
	for _, name := range []string{"bearerAuth", "tokenQuery"} {
		if doc.Components.SecuritySchemes[name] == nil {
			t.Errorf("components.securitySchemes.%s is missing", name)
		}
	}
	if got := doc.Components.SecuritySchemes["tokenQuery"]; got != nil && (got.Value.In != "query" || got.Value.Name != "token") {
		t.Errorf("tokenQuery is %s %q, want the query parameter token", got.Value.In, got.Value.Name)
	}
}

// TestErrorCodesDocumented checks the ErrorCode enum against the codes the
// handlers answer with: every code in internal/outdial/errors.go, no other.
func TestErrorCodesDocumented(t *testing.T) {
	root := repoRoot(t)
	doc := loadDoc(t, root)
	src, err := os.ReadFile(filepath.Join(root, "internal/outdial/errors.go"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "ECode") {
			continue
		}
		_, v, ok := strings.Cut(line, "= \"")
		if !ok {
			continue
		}
		code, _, _ := strings.Cut(v, "\"")
		want = append(want, code)
	}
	if len(want) < 10 {
		t.Fatalf("found %d error codes in errors.go; the parser is out of step with the file", len(want))
	}
	var got []string
	for _, v := range doc.Components.Schemas["ErrorCode"].Value.Enum {
		got = append(got, fmt.Sprint(v))
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("ErrorCode enum = %v\nwant the codes of internal/outdial/errors.go = %v", got, want)
	}
}

// TestEveryRouteDocumented compares the template's routes with the
// document's operations, both ways.
func TestEveryRouteDocumented(t *testing.T) {
	root := repoRoot(t)
	doc := loadDoc(t, root)
	tpl, err := samtemplate.LoadRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	routes := tpl.Routes()
	if len(routes) == 0 {
		t.Fatal("template.yaml has no routes")
	}
	inTemplate := map[string]bool{}
	for _, r := range routes {
		key := r.Method + " " + r.Path
		inTemplate[key] = true
		item := doc.Paths.Value(r.Path)
		if item == nil {
			t.Errorf("%s (%s): path %s is not in %s", key, r.Function.LogicalID, r.Path, docPath)
			continue
		}
		op := item.GetOperation(r.Method)
		if op == nil {
			t.Errorf("%s (%s): %s has no %s operation", key, r.Function.LogicalID, r.Path, r.Method)
			continue
		}
		if !strings.Contains(op.Description, r.Function.LogicalID) {
			t.Errorf("%s: the operation's description does not name its function %s", key, r.Function.LogicalID)
		}
		if !r.Authorized {
			t.Errorf("%s is not authorized in the template, but the document requires a token everywhere", key)
		}
		if op.Responses.Value("200") == nil && op.Responses.Value("202") == nil {
			t.Errorf("%s: no 200 or 202 response", key)
		}
		for _, code := range []string{"403", "500"} {
			if op.Responses.Value(code) == nil {
				t.Errorf("%s: no %s response", key, code)
			}
		}
		// A route that reads a body, a path or a query parameter can be
		// sent an invalid one; GET and DELETE /v1.0/webhook read none.
		if takesInput(item, op) && op.Responses.Value("400") == nil {
			t.Errorf("%s: no 400 response, but it reads a body or parameters", key)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if key := method + " " + path; !inTemplate[key] {
				t.Errorf("%s is documented but is no route of template.yaml", key)
			}
		}
	}
}

// takesInput reports whether an operation reads a request body or a
// parameter (its own or its path's).
func takesInput(item *openapi3.PathItem, op *openapi3.Operation) bool {
	return op.RequestBody != nil || len(op.Parameters) > 0 || len(item.Parameters) > 0
}

// successStatus is the status of an operation's success: 200, or 202
// when it documents that instead (POST /v1.0/webhook/test).
func successStatus(op *openapi3.Operation) int {
	if op.Responses.Value("200") == nil && op.Responses.Value("202") != nil {
		return http.StatusAccepted
	}
	return http.StatusOK
}

// TestOutcomeMessageSchema checks the OutcomeMessage schema against the
// parser the outcome processor uses: the sample event's message and a
// dialer's message pass both; malformed ones fail both.
func TestOutcomeMessageSchema(t *testing.T) {
	root := repoRoot(t)
	doc := loadDoc(t, root)
	schema := doc.Components.Schemas["OutcomeMessage"].Value

	raw, err := os.ReadFile(samtemplate.EventPath(root, "process-outcomes"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) == 0 {
		t.Fatal("events/process-outcomes.json has no records")
	}
	const (
		attempt = "3f1c8e2a-5b7d-8e4f-9a6b-2c1d0e9f8a00"
		od      = "018f6b2e-8c1a-7d3e-9f00-123456789abc"
		tg      = "5f2c3a1e-9b7d-5e4f-8a6b-2c1d0e9f8a7b"
	)
	msg := func(extra string) string {
		return `{"attempt_id":"` + attempt + `","outdial_id":"` + od + `","target_id":"` + tg + `"` + extra + `}`
	}
	tests := []struct {
		name string
		body string
		want bool
	}{
		{"sample event", ev.Records[0].Body, true},
		{"answered", msg(`,"result":"answered"`), true},
		{"no_answer with retry", msg(`,"result":"no_answer","retry_after_seconds":0`), true},
		{"invalid", msg(`,"result":"invalid"`), true},
		{"no result", msg(``), false},
		{"unknown result", msg(`,"result":"voicemail"`), false},
		{"expired is the service's own", msg(`,"result":"expired"`), false},
		{"unknown field", msg(`,"result":"busy","phone":"+15551234567"`), false},
		{"negative retry", msg(`,"result":"busy","retry_after_seconds":-1`), false},
		{"retry beyond a week", msg(`,"result":"busy","retry_after_seconds":604801`), false},
		{"outdial id not a uuid", `{"attempt_id":"` + attempt + `","outdial_id":"x","target_id":"` + tg + `","result":"busy"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.body), &v); err != nil {
				t.Fatal(err)
			}
			schemaErr := schema.VisitJSON(v, uuidFormat)
			_, parseErr := outcome.Parse(tt.body)
			if got := schemaErr == nil; got != tt.want {
				t.Errorf("schema accepts %s: %v, want %v (%v)", tt.body, got, tt.want, schemaErr)
			}
			if got := parseErr == nil; got != tt.want {
				t.Errorf("outcome.Parse accepts %s: %v, want %v (%v)", tt.body, got, tt.want, parseErr)
			}
		})
	}
}

// TestWebhookDeliverySchema checks the document's account of what a
// webhook receives (x-webhook-delivery, WebhookDelivery, WebhookEvent)
// against internal/events and internal/webhook: the event types, the
// limits, the sample delivery of deliver-webhooks, and the headers Sign
// makes.
func TestWebhookDeliverySchema(t *testing.T) {
	root := repoRoot(t)
	doc := loadDoc(t, root)
	schemas := doc.Components.Schemas

	enum := func(name string) []string {
		var out []string
		for _, v := range schemas[name].Value.Enum {
			out = append(out, fmt.Sprint(v))
		}
		return out
	}
	var subscribable []string
	for _, ty := range odevents.Types {
		subscribable = append(subscribable, string(ty))
	}
	if got := enum("WebhookEventType"); !slices.Equal(got, subscribable) {
		t.Errorf("WebhookEventType = %v, want events.Types %v", got, subscribable)
	}
	var all []string
	for _, v := range schemas["WebhookEvent"].Value.Properties["type"].Value.Enum {
		all = append(all, fmt.Sprint(v))
	}
	if want := append(slices.Clone(subscribable), string(odevents.Ping)); !slices.Equal(all, want) {
		t.Errorf("WebhookEvent.type = %v, want %v", all, want)
	}
	evs := schemas["WebhookDelivery"].Value.Properties["events"].Value
	if evs.MinItems != 1 || evs.MaxItems == nil || *evs.MaxItems != odevents.MaxEventsPerDelivery {
		t.Errorf("WebhookDelivery.events has %d to %v items, want 1 to %d", evs.MinItems, evs.MaxItems, odevents.MaxEventsPerDelivery)
	}

	// The sample delivery of deliver-webhooks, as the webhook's body.
	raw, err := os.ReadFile(samtemplate.EventPath(root, "deliver-webhooks"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	if err := json.Unmarshal(raw, &ev); err != nil || len(ev.Records) == 0 {
		t.Fatalf("events/deliver-webhooks.json: %v", err)
	}
	var d odevents.Delivery
	if err := json.Unmarshal([]byte(ev.Records[0].Body), &d); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(odevents.Body{Events: d.Events})
	if err != nil {
		t.Fatal(err)
	}
	schema := schemas["WebhookDelivery"].Value
	visit := func(b []byte) error {
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return schema.VisitJSON(v, uuidFormat)
	}
	if err := visit(body); err != nil {
		t.Errorf("the sample delivery %s does not match WebhookDelivery: %v", body, err)
	}
	many := make([]odevents.Event, odevents.MaxEventsPerDelivery+1)
	for i := range many {
		many[i] = d.Events[0]
	}
	tooMany, _ := json.Marshal(odevents.Body{Events: many})
	for name, b := range map[string][]byte{
		"no events":    []byte(`{"events":[]}`),
		"101 events":   tooMany,
		"unknown type": []byte(`{"events":[{"id":"e","type":"outdial_archived","tm":"2026-12-07T06:40:00.000000Z","data":{}}]}`),
		"no id":        []byte(`{"events":[{"type":"ping","tm":"2026-12-07T06:40:00.000000Z","data":{}}]}`),
	} {
		if visit(b) == nil {
			t.Errorf("WebhookDelivery accepts a delivery with %s", name)
		}
	}

	// The headers: Sign's value, with one and two secrets, matches the
	// documented pattern.
	ext, _ := doc.Extensions["x-webhook-delivery"].(map[string]any)
	headers, _ := ext["headers"].(map[string]any)
	pattern := func(h string) *regexp.Regexp {
		hdr, _ := headers[h].(map[string]any)
		sch, _ := hdr["schema"].(map[string]any)
		p, _ := sch["pattern"].(string)
		if p == "" {
			t.Fatalf("x-webhook-delivery.headers.%s has no schema.pattern", h)
		}
		return regexp.MustCompile(p)
	}
	sigRE, tsRE := pattern(webhook.HeaderSignature), pattern(webhook.HeaderTimestamp)
	ts := time.Now().Unix()
	for _, secrets := range [][]string{{"whsec_a"}, {"whsec_new", "whsec_old"}} {
		if sig := webhook.Sign(secrets, ts, body); !sigRE.MatchString(sig) {
			t.Errorf("X-Outdial-Signature %q does not match %s", sig, sigRE)
		}
	}
	if !tsRE.MatchString(fmt.Sprint(ts)) {
		t.Errorf("X-Outdial-Timestamp %d does not match %s", ts, tsRE)
	}
}

// TestEventsMatchDocument checks the sample events of the HTTP functions
// (events/, what `sam local invoke` and `make invoke` send) against the
// document: each is a request the document accepts, on its function's
// route.
func TestEventsMatchDocument(t *testing.T) {
	root := repoRoot(t)
	tpl, err := samtemplate.LoadRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	const host = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
	v := newValidator(t, loadDoc(t, root), host)
	for _, r := range tpl.Routes() {
		t.Run(r.Function.Name, func(t *testing.T) {
			raw, err := os.ReadFile(samtemplate.EventPath(root, r.Function.Name))
			if err != nil {
				t.Fatal(err)
			}
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatal(err)
			}
			if got, want := ev.RouteKey, r.Method+" "+r.Path; got != want {
				t.Errorf("routeKey %q, want %q", got, want)
			}
			body := []byte(ev.Body)
			if ev.IsBase64Encoded {
				if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
					t.Fatal(err)
				}
			}
			u := host + ev.RawPath
			if ev.RawQueryString != "" {
				u += "?" + ev.RawQueryString
			}
			req, err := http.NewRequest(ev.RequestContext.HTTP.Method, u, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			for k, val := range ev.Headers {
				req.Header.Set(k, strings.ReplaceAll(val, samtemplate.TokenPlaceholder, "token"))
			}
			in, err := v.request(t, req, body)
			if err != nil {
				t.Errorf("the document refuses %s: %v", samtemplate.EventPath(root, r.Function.Name), err)
			}
			if got, want := in.Route.Method+" "+in.Route.Path, r.Method+" "+r.Path; got != want {
				t.Errorf("the event reaches %s, want %s", got, want)
			}
		})
	}
}

// validator validates requests and responses against the document.
type validator struct {
	router routers.Router
	opts   *openapi3filter.Options
}

func newValidator(t *testing.T, doc *openapi3.T, serverURL string) *validator {
	t.Helper()
	doc.Servers = openapi3.Servers{{URL: serverURL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &validator{router: router, opts: &openapi3filter.Options{
		IncludeResponseStatus:   true,
		MultiError:              true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{uuidFormat},
		// The document requires a token in the header or the query;
		// whether it is valid is the service's business.
		AuthenticationFunc: func(_ context.Context, in *openapi3filter.AuthenticationInput) error {
			r := in.RequestValidationInput.Request
			switch in.SecuritySchemeName {
			case "bearerAuth":
				if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "bearer") && tok != "" {
					return nil
				}
			case "tokenQuery":
				if r.URL.Query().Get("token") != "" {
					return nil
				}
			case "accessKeyQuery":
				if r.URL.Query().Get("accesskey") != "" {
					return nil
				}
			}
			return in.NewError(errors.New("no credentials"))
		},
	}}
}

// request returns the route of r and the result of validating r.
func (v *validator) request(t *testing.T, r *http.Request, body []byte) (*openapi3filter.RequestValidationInput, error) {
	t.Helper()
	route, params, err := v.router.FindRoute(r)
	if err != nil {
		t.Fatalf("%s %s: no route in the document: %v", r.Method, r.URL.Path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: v.opts}
	r.Body = io.NopCloser(bytes.NewReader(body))
	err = openapi3filter.ValidateRequest(r.Context(), in)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return in, err
}

func (v *validator) response(in *openapi3filter.RequestValidationInput, res *http.Response, body []byte) error {
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header, Options: v.opts}
	out.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), out)
}

// Ways a live call authenticates.
type authMode int

const (
	bearer    authMode = iota // Authorization: Bearer <valid token>
	query                     // ?token=<valid token>
	accessKey                 // ?accesskey=<valid token> (what VoIPBIN's SDK sends)
	noToken                   // no credentials at all
	forged                    // a token signed with another secret
	expired                   // a token that expired an hour ago
)

// step is one live call. Path, query and body may use $VAR for values saved
// by earlier steps.
type step struct {
	name        string
	method      string
	path        string
	query       string
	contentType string
	body        string
	auth        authMode
	wantStatus  int
	wantCode    string // error.code of an error envelope
	// reqValid says whether the document accepts the request. The service
	// refusing a request the document accepts is fine (page tokens, ids
	// that do not exist, phone numbers no schema checks), but the
	// document must refuse what it says is refused.
	reqValid bool
	// save reads values for later steps from the response body.
	save func(t *testing.T, body []byte, vars map[string]string)
	// check looks at a successful response body more closely.
	check func(t *testing.T, body []byte, vars map[string]string)
}

// live runs steps against a running stack.
type live struct {
	st      *localrun.Stack
	v       *validator
	vars    map[string]string
	tokens  map[authMode]string
	client  *http.Client
	covered map[string]map[int]bool // route key -> statuses seen
}

func (l *live) run(t *testing.T, steps []step) {
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) { l.do(t, s) })
	}
}

func (l *live) do(t *testing.T, s step) {
	expand := func(v string) string { return os.Expand(v, func(k string) string { return l.vars[k] }) }
	u := l.st.URL + expand(s.path)
	q := expand(s.query)
	if s.auth == query || s.auth == accessKey {
		if q != "" {
			q += "&"
		}
		name := map[authMode]string{query: "token", accessKey: "accesskey"}[s.auth]
		q += name + "=" + url.QueryEscape(l.tokens[bearer])
	}
	if q != "" {
		u += "?" + q
	}
	body := []byte(expand(s.body))
	req, err := http.NewRequest(s.method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if s.contentType != "" {
		req.Header.Set("Content-Type", s.contentType)
	}
	switch s.auth {
	case bearer, forged, expired:
		req.Header.Set("Authorization", "Bearer "+l.tokens[s.auth])
	}

	// The document's verdict on the request.
	in, reqErr := l.v.request(t, req, body)
	if got := reqErr == nil; got != s.reqValid {
		t.Errorf("the document accepts the request: %v, want %v (%v)", got, s.reqValid, reqErr)
	}

	// The service's answer, which must match the document.
	res, err := l.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	key := in.Route.Method + " " + in.Route.Path
	if l.covered[key] == nil {
		l.covered[key] = map[int]bool{}
	}
	l.covered[key][res.StatusCode] = true
	if err := l.v.response(in, res, resBody); err != nil {
		t.Errorf("%s %s answered %d %s\nwhich does not match the document: %v", s.method, req.URL.Path, res.StatusCode, resBody, err)
	}
	if res.StatusCode != s.wantStatus {
		t.Fatalf("%s %s: status %d, want %d; body %s", s.method, req.URL.Path, res.StatusCode, s.wantStatus, resBody)
	}
	if s.wantCode != "" {
		var e struct {
			Error struct{ Code, Status, Reason string } `json:"error"`
		}
		if err := json.Unmarshal(resBody, &e); err != nil || e.Error.Code != s.wantCode {
			t.Errorf("error code %q, want %q; body %s", e.Error.Code, s.wantCode, resBody)
		}
		if got, want := e.Error.Reason, strings.ToUpper(s.wantCode); got != want {
			t.Errorf("reason %q, want %q", got, want)
		}
	}
	if s.wantStatus == http.StatusForbidden {
		if got, want := string(resBody), `{"message":"Forbidden"}`; got != want {
			t.Errorf("403 body %s, want %s", got, want)
		}
	}
	if s.check != nil {
		s.check(t, resBody, l.vars)
	}
	if s.save != nil {
		s.save(t, resBody, l.vars)
	}
}

// field decodes body and returns the value at the dotted path (numbers
// index arrays) as a string.
func field(t *testing.T, body []byte, path string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(x) {
				t.Fatalf("%s: no element %s in %s", path, k, body)
			}
			v = x[i]
		default:
			t.Fatalf("%s: no %s in %s", path, k, body)
		}
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func saveField(name, path string) func(*testing.T, []byte, map[string]string) {
	return func(t *testing.T, body []byte, vars map[string]string) {
		t.Helper()
		vars[name] = field(t, body, path)
		if vars[name] == "" {
			t.Fatalf("%s is empty in %s", path, body)
		}
	}
}

// wantField checks the value at path; want may use $VAR.
func wantField(path, want string) func(*testing.T, []byte, map[string]string) {
	return func(t *testing.T, body []byte, vars map[string]string) {
		t.Helper()
		want := os.Expand(want, func(k string) string { return vars[k] })
		if got := field(t, body, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
}

// wantLen checks the length of the array at path.
func wantLen(path string, want int) func(*testing.T, []byte, map[string]string) {
	return func(t *testing.T, body []byte, _ map[string]string) {
		t.Helper()
		var v map[string]json.RawMessage
		var arr []json.RawMessage
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		if err := json.Unmarshal(v[path], &arr); err != nil || len(arr) != want {
			t.Errorf("%s has %d elements, want %d (%v)", path, len(arr), want, err)
		}
	}
}

// all runs every check.
func all(checks ...func(*testing.T, []byte, map[string]string)) func(*testing.T, []byte, map[string]string) {
	return func(t *testing.T, body []byte, vars map[string]string) {
		t.Helper()
		for _, c := range checks {
			c(t, body, vars)
		}
	}
}

// TestLiveRoutes runs the local stack and calls every route of the
// template: successes and errors, each request and response validated
// against the document.
func TestLiveRoutes(t *testing.T) {
	root := repoRoot(t)
	doc := loadDoc(t, root)
	st := localruntest.Start(t, localruntest.Options{Prefix: "apidoc", DiscardLogs: true}).Stack

	tokens := map[authMode]string{}
	var mintErr error
	mint := func(secret string, ttl time.Duration, now time.Time) string {
		tok, err := auth.Mint(secret, customer, ttl, now)
		mintErr = errors.Join(mintErr, err)
		return tok
	}
	tokens[bearer] = mint(st.TokenSecret, time.Hour, time.Now())
	tokens[forged] = mint("another-secret-of-at-least-32-bytes!!", time.Hour, time.Now())
	tokens[expired] = mint(st.TokenSecret, time.Hour, time.Now().Add(-2*time.Hour))
	if mintErr != nil {
		t.Fatal(mintErr)
	}
	l := &live{
		st: st, v: newValidator(t, doc, st.URL), tokens: tokens,
		vars:    map[string]string{"MISSING": uuid.NewString(), "CAMPAIGN": uuid.NewString()},
		client:  &http.Client{Timeout: 30 * time.Second},
		covered: map[string]map[int]bool{},
	}
	const (
		jsonCT = "application/json"
		big    = 70 * 1024 // over the 64 KiB limit of outdial bodies
	)
	// A body the schema accepts (data is at most 16 KiB of text, so the
	// bulk is white space) that is too large in bytes.
	bigBody := `{"name":"big","data":"` + strings.Repeat("x", 16*1024) + `"` + strings.Repeat(" ", big) + `}`

	// Outdials.
	l.run(t, []step{
		{name: "create", method: "POST", path: "/v1.0/outdials", contentType: jsonCT,
			body: `{"name": "January Leads", "detail": "Sales leads for Q1 campaign"}`, reqValid: true, wantStatus: 200,
			save: saveField("O", "id"), check: wantField("target_counts.idle", "0")},
		{name: "create with ?token=", method: "POST", path: "/v1.0/outdials", contentType: jsonCT, auth: query,
			body: `{"name": "To delete", "campaign_id": "$CAMPAIGN", "data": "tags=a,b"}`, reqValid: true, wantStatus: 200,
			save: saveField("O2", "id"), check: all(wantField("campaign_id", "$CAMPAIGN"), wantField("data", "tags=a,b"))},
		{name: "create with data not text", method: "POST", path: "/v1.0/outdials", contentType: jsonCT,
			body: `{"name": "x", "data": {"tags": ["a", "b"]}}`, wantStatus: 400, wantCode: "invalid_field"},
		{name: "create without name", method: "POST", path: "/v1.0/outdials", contentType: jsonCT,
			body: `{"detail": "x"}`, wantStatus: 400, wantCode: "missing_field"},
		{name: "create setting id", method: "POST", path: "/v1.0/outdials", contentType: jsonCT,
			body: `{"name": "x", "id": "$MISSING"}`, wantStatus: 400, wantCode: "unknown_field"},
		{name: "create with bad json", method: "POST", path: "/v1.0/outdials", contentType: jsonCT,
			body: `{"name": `, wantStatus: 400, wantCode: "invalid_json"},
		{name: "create too large", method: "POST", path: "/v1.0/outdials", contentType: jsonCT,
			body: bigBody, reqValid: true, wantStatus: 413, wantCode: "body_too_large"},
		{name: "create without token", method: "POST", path: "/v1.0/outdials", contentType: jsonCT,
			body: `{"name": "x"}`, auth: noToken, wantStatus: 403},
		{name: "create with forged token", method: "POST", path: "/v1.0/outdials", contentType: jsonCT,
			body: `{"name": "x"}`, auth: forged, reqValid: true, wantStatus: 403},
		{name: "create with expired token", method: "POST", path: "/v1.0/outdials", contentType: jsonCT,
			body: `{"name": "x"}`, auth: expired, reqValid: true, wantStatus: 403},

		{name: "list page 1", method: "GET", path: "/v1.0/outdials", query: "page_size=1", reqValid: true, wantStatus: 200,
			save: saveField("PAGE", "next_page_token"), check: wantLen("result", 1)},
		{name: "list page 2", method: "GET", path: "/v1.0/outdials", query: "page_size=1&page_token=$PAGE", reqValid: true, wantStatus: 200,
			save: saveField("PAGE2", "next_page_token"), check: wantLen("result", 1)},
		{name: "list end page", method: "GET", path: "/v1.0/outdials", query: "page_size=1&page_token=$PAGE2", reqValid: true, wantStatus: 200,
			check: all(wantLen("result", 0), wantField("next_page_token", ""))},
		{name: "list all", method: "GET", path: "/v1.0/outdials", reqValid: true, wantStatus: 200, check: wantField("result.1.name", "January Leads")},
		{name: "list page_size 0", method: "GET", path: "/v1.0/outdials", query: "page_size=0", wantStatus: 400, wantCode: "invalid_query"},
		{name: "list page_size 101", method: "GET", path: "/v1.0/outdials", query: "page_size=101", wantStatus: 400, wantCode: "invalid_query"},
		{name: "list tampered page token", method: "GET", path: "/v1.0/outdials", query: "page_token=x$PAGE", reqValid: true, wantStatus: 400, wantCode: "invalid_page_token"},
		{name: "list without token", method: "GET", path: "/v1.0/outdials", auth: noToken, wantStatus: 403},

		{name: "get", method: "GET", path: "/v1.0/outdials/$O", reqValid: true, wantStatus: 200, check: wantField("retry_policy.busy_seconds", "60")},
		{name: "get with ?token=", method: "GET", path: "/v1.0/outdials/$O", auth: query, reqValid: true, wantStatus: 200},
		{name: "get with ?accesskey=", method: "GET", path: "/v1.0/outdials/$O", auth: accessKey, reqValid: true, wantStatus: 200, check: wantField("id", "$O")},
		{name: "get missing", method: "GET", path: "/v1.0/outdials/$MISSING", reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "get bad id", method: "GET", path: "/v1.0/outdials/not-a-uuid", wantStatus: 400, wantCode: "invalid_id"},
		{name: "get without token", method: "GET", path: "/v1.0/outdials/$O", auth: noToken, wantStatus: 403},

		{name: "update", method: "PUT", path: "/v1.0/outdials/$O", contentType: jsonCT,
			body: `{"name": "Q1 Leads", "retry_policy": {"busy_seconds": 30}}`, reqValid: true, wantStatus: 200,
			check: all(wantField("name", "Q1 Leads"), wantField("retry_policy.busy_seconds", "30"), wantField("retry_policy.no_answer_seconds", "300"))},
		{name: "update nothing", method: "PUT", path: "/v1.0/outdials/$O", contentType: jsonCT, body: `{}`, wantStatus: 400, wantCode: "missing_field"},
		{name: "update retry out of range", method: "PUT", path: "/v1.0/outdials/$O", contentType: jsonCT,
			body: `{"retry_policy": {"failed_seconds": 604801}}`, wantStatus: 400, wantCode: "invalid_field"},
		{name: "update missing", method: "PUT", path: "/v1.0/outdials/$MISSING", contentType: jsonCT, body: `{"detail": "d"}`, reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "update too large", method: "PUT", path: "/v1.0/outdials/$O", contentType: jsonCT,
			body: `{"detail": "` + strings.Repeat("x", big) + `"}`, wantStatus: 413, wantCode: "body_too_large"},
		{name: "update without token", method: "PUT", path: "/v1.0/outdials/$O", contentType: jsonCT, body: `{"detail": "d"}`, auth: noToken, wantStatus: 403},

		{name: "attach campaign", method: "PUT", path: "/v1.0/outdials/$O/campaign_id", contentType: jsonCT,
			body: `{"campaign_id": "$CAMPAIGN"}`, reqValid: true, wantStatus: 200, check: wantField("campaign_id", "$CAMPAIGN")},
		{name: "detach campaign", method: "PUT", path: "/v1.0/outdials/$O/campaign_id", contentType: jsonCT,
			body: `{"campaign_id": null}`, reqValid: true, wantStatus: 200, check: wantField("campaign_id", "")},
		{name: "attach campaign again", method: "PUT", path: "/v1.0/outdials/$O/campaign_id", contentType: jsonCT,
			body: `{"campaign_id": "$CAMPAIGN"}`, reqValid: true, wantStatus: 200, check: wantField("campaign_id", "$CAMPAIGN")},
		{name: "detach campaign with \"\"", method: "PUT", path: "/v1.0/outdials/$O/campaign_id", contentType: jsonCT,
			body: `{"campaign_id": ""}`, reqValid: true, wantStatus: 200, check: wantField("campaign_id", "")},
		{name: "attach campaign once more", method: "PUT", path: "/v1.0/outdials/$O/campaign_id", contentType: jsonCT,
			body: `{"campaign_id": "$CAMPAIGN"}`, reqValid: true, wantStatus: 200, check: wantField("campaign_id", "$CAMPAIGN")},
		{name: "detach campaign with the nil UUID", method: "PUT", path: "/v1.0/outdials/$O/campaign_id", contentType: jsonCT,
			body: `{"campaign_id": "00000000-0000-0000-0000-000000000000"}`, reqValid: true, wantStatus: 200, check: wantField("campaign_id", "")},
		{name: "campaign not a uuid", method: "PUT", path: "/v1.0/outdials/$O/campaign_id", contentType: jsonCT,
			body: `{"campaign_id": "abc"}`, wantStatus: 400, wantCode: "invalid_id"},
		{name: "campaign missing outdial", method: "PUT", path: "/v1.0/outdials/$MISSING/campaign_id", contentType: jsonCT,
			body: `{"campaign_id": "$CAMPAIGN"}`, reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "campaign without token", method: "PUT", path: "/v1.0/outdials/$O/campaign_id", contentType: jsonCT,
			body: `{"campaign_id": "$CAMPAIGN"}`, auth: noToken, wantStatus: 403},

		{name: "set data", method: "PUT", path: "/v1.0/outdials/$O/data", contentType: jsonCT,
			body: `{"data": "region=west;priority=2"}`, reqValid: true, wantStatus: 200, check: wantField("data", "region=west;priority=2")},
		{name: "set data not text", method: "PUT", path: "/v1.0/outdials/$O/data", contentType: jsonCT,
			body: `{"data": {"region": "west", "priority": 2}}`, wantStatus: 400, wantCode: "invalid_field"},
		{name: "clear data", method: "PUT", path: "/v1.0/outdials/$O/data", contentType: jsonCT,
			body: `{"data": null}`, reqValid: true, wantStatus: 200, check: wantField("data", "")},
		{name: "data missing", method: "PUT", path: "/v1.0/outdials/$O/data", contentType: jsonCT, body: `{}`, wantStatus: 400, wantCode: "missing_field"},
		{name: "data missing outdial", method: "PUT", path: "/v1.0/outdials/$MISSING/data", contentType: jsonCT,
			body: `{"data": "x"}`, reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "data without token", method: "PUT", path: "/v1.0/outdials/$O/data", contentType: jsonCT, body: `{"data": "x"}`, auth: noToken, wantStatus: 403},
	})

	// Targets.
	l.run(t, []step{
		{name: "add batch", method: "POST", path: "/v1.0/outdials/$O/targets", contentType: jsonCT,
			body: `{"targets": [{"destination": {"type": "tel", "target": "+15551234567"}, "try_count_max": 3},
				{"destination": {"type": "tel", "target": "+1 555 987 6543"}, "try_count_max": 3, "name": "Jane", "data": "vip=true"},
				{"destination": {"type": "tel", "target": "+1"}}]}`,
			reqValid: true, wantStatus: 200, save: saveField("T", "created_targets.0.target_id"),
			check: all(wantField("created", "2"), wantField("rejected", "1"), wantField("rejected_targets.0.index", "2"),
				wantField("rejected_targets.0.field", "destination.target"))},
		{name: "add batch again", method: "POST", path: "/v1.0/outdials/$O/targets", contentType: jsonCT,
			body:     `{"targets": [{"destination": {"type": "tel", "target": "+15551234567"}}]}`,
			reqValid: true, wantStatus: 200, check: all(wantField("created", "0"), wantField("duplicate_targets.0.reason", "exists"))},
		{name: "add single", method: "POST", path: "/v1.0/outdials/$O/targets", contentType: jsonCT,
			body:     `{"name": "John Smith", "destination": {"type": "sip", "target": "sip:user@pbx.company.com"}, "try_count_max": 2}`,
			reqValid: true, wantStatus: 200, save: saveField("T2", "id"), check: wantField("status", "idle")},
		{name: "add several destinations", method: "POST", path: "/v1.0/outdials/$O/targets", contentType: jsonCT,
			body:     `{"name": "Emergency", "destinations": [{"type": "tel", "target": "+15551111111", "try_count_max": 5}, {"type": "email", "target": "Ops@Example.com"}]}`,
			reqValid: true, wantStatus: 200, check: wantField("destinations.1.target", "ops@example.com")},
		{name: "add in VoIPBIN's shape", method: "POST", path: "/v1.0/outdials/$O/targets", contentType: jsonCT,
			body: `{"name": "Slots", "destination_0": {}, "destination_1": {"type": "tel", "target": "+15552222222", "target_name": "Desk"},
				"destination_2": {"type": ""}, "destination_3": {"type": "email", "target": "Slots@Example.com"}, "try_count_max": 2}`,
			reqValid: true, wantStatus: 200,
			check: all(wantField("destination_0.type", ""), wantField("destination_1.target", "+15552222222"), wantField("destination_2.type", ""),
				wantField("destination_3.target", "slots@example.com"), wantField("try_count_3", "0"), wantField("try_count_max", "4"))},
		{name: "add csv", method: "POST", path: "/v1.0/outdials/$O/targets", query: "default_region=US", contentType: "text/csv",
			body:     "destination,name,try_count_max,account\n(555) 234-5678,Jane Doe,3,A-18\nnot a number,Bob,3,A-19\n",
			reqValid: true, wantStatus: 200, check: all(wantField("created", "1"), wantField("created_targets.0.line", "2"), wantField("rejected_targets.0.line", "3"))},
		{name: "add csv without destination column", method: "POST", path: "/v1.0/outdials/$O/targets", contentType: "text/csv",
			body: "name\nJane\n", reqValid: true, wantStatus: 400, wantCode: "invalid_csv"},
		{name: "add single invalid", method: "POST", path: "/v1.0/outdials/$O/targets", contentType: jsonCT,
			body: `{"destination": {"type": "fax", "target": "+15551234567"}}`, reqValid: true, wantStatus: 400, wantCode: "invalid_field"},
		{name: "add unknown field", method: "POST", path: "/v1.0/outdials/$O/targets", contentType: jsonCT,
			body: `{"destination": {"type": "tel", "target": "+15551234567"}, "status": "finished"}`, wantStatus: 400, wantCode: "unknown_field"},
		{name: "add bad region", method: "POST", path: "/v1.0/outdials/$O/targets", query: "default_region=USA", contentType: jsonCT,
			body: `{"destination": {"type": "tel", "target": "+15551234567"}}`, wantStatus: 400, wantCode: "invalid_query"},
		{name: "add xml", method: "POST", path: "/v1.0/outdials/$O/targets", contentType: "application/xml",
			body: "<targets/>", wantStatus: 415, wantCode: "unsupported_media_type"},
		{name: "add missing outdial", method: "POST", path: "/v1.0/outdials/$MISSING/targets", contentType: jsonCT,
			body: `{"targets": [{"destination": {"type": "tel", "target": "+15551234567"}}]}`, reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "add without token", method: "POST", path: "/v1.0/outdials/$O/targets", contentType: jsonCT,
			body: `{"targets": []}`, auth: noToken, wantStatus: 403},

		{name: "list targets", method: "GET", path: "/v1.0/outdials/$O/targets", reqValid: true, wantStatus: 200, check: wantLen("result", 6)},
		{name: "list idle page 1", method: "GET", path: "/v1.0/outdials/$O/targets", query: "status=idle&page_size=2", reqValid: true, wantStatus: 200,
			save: saveField("TPAGE", "next_page_token")},
		{name: "list idle page 2", method: "GET", path: "/v1.0/outdials/$O/targets", query: "status=idle&page_size=2&page_token=$TPAGE", reqValid: true, wantStatus: 200},
		{name: "list page token of another filter", method: "GET", path: "/v1.0/outdials/$O/targets", query: "status=failed&page_size=2&page_token=$TPAGE",
			reqValid: true, wantStatus: 400, wantCode: "invalid_page_token"},
		{name: "list bad status", method: "GET", path: "/v1.0/outdials/$O/targets", query: "status=answered", wantStatus: 400, wantCode: "invalid_query"},
		{name: "list targets missing outdial", method: "GET", path: "/v1.0/outdials/$MISSING/targets", reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "list targets without token", method: "GET", path: "/v1.0/outdials/$O/targets", auth: noToken, wantStatus: 403},

		{name: "get target", method: "GET", path: "/v1.0/outdials/$O/targets/$T", reqValid: true, wantStatus: 200, check: wantField("destination.target", "+15551234567")},
		{name: "get missing target", method: "GET", path: "/v1.0/outdials/$O/targets/$MISSING", reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "get target bad id", method: "GET", path: "/v1.0/outdials/$O/targets/123", wantStatus: 400, wantCode: "invalid_id"},
		{name: "get target without token", method: "GET", path: "/v1.0/outdials/$O/targets/$T", auth: noToken, wantStatus: 403},
	})

	// Dialing: claim, then an outcome through the outcome queue.
	l.run(t, []step{
		{name: "claim", method: "POST", path: "/v1.0/outdials/$O/targets/claim", contentType: jsonCT,
			body: `{"limit": 1, "lease_seconds": 60}`, reqValid: true, wantStatus: 200,
			save: func(t *testing.T, b []byte, vars map[string]string) {
				saveField("ATTEMPT", "result.0.attempt_id")(t, b, vars)
				saveField("CLAIMED", "result.0.target.id")(t, b, vars)
			},
			check: wantField("result.0.target.status", "dialing")},
		{name: "claim with defaults", method: "POST", path: "/v1.0/outdials/$O/targets/claim", reqValid: true, wantStatus: 200},
		{name: "claim limit 0", method: "POST", path: "/v1.0/outdials/$O/targets/claim", contentType: jsonCT,
			body: `{"limit": 0}`, wantStatus: 400, wantCode: "invalid_field"},
		{name: "claim short lease", method: "POST", path: "/v1.0/outdials/$O/targets/claim", contentType: jsonCT,
			body: `{"lease_seconds": 5}`, wantStatus: 400, wantCode: "invalid_field"},
		{name: "claim missing outdial", method: "POST", path: "/v1.0/outdials/$MISSING/targets/claim", contentType: jsonCT,
			body: `{"limit": 1}`, reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "claim without token", method: "POST", path: "/v1.0/outdials/$O/targets/claim", contentType: jsonCT,
			body: `{"limit": 1}`, auth: noToken, wantStatus: 403},
	})
	sendOutcome(t, doc, st, l.vars)
	// The target to delete: T2, unless the claim took it (then T), so that
	// the claimed target, waiting for its retry, stays for the list by
	// reason below.
	l.vars["DEL"] = l.vars["T2"]
	if l.vars["DEL"] == l.vars["CLAIMED"] {
		l.vars["DEL"] = l.vars["T"]
	}
	l.run(t, []step{
		{name: "get target after outcome", method: "GET", path: "/v1.0/outdials/$O/targets/$CLAIMED", reqValid: true, wantStatus: 200,
			check: all(wantField("last_result", "busy"), wantField("status", "idle"))},
		{name: "delete target", method: "DELETE", path: "/v1.0/outdials/$O/targets/$DEL", reqValid: true, wantStatus: 200, check: wantField("id", "$DEL")},
		{name: "delete target again", method: "DELETE", path: "/v1.0/outdials/$O/targets/$DEL", reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "delete target bad id", method: "DELETE", path: "/v1.0/outdials/$O/targets/x", wantStatus: 400, wantCode: "invalid_id"},
		{name: "delete target without token", method: "DELETE", path: "/v1.0/outdials/$O/targets/$T", auth: noToken, wantStatus: 403},

		{name: "delete outdial", method: "DELETE", path: "/v1.0/outdials/$O2", reqValid: true, wantStatus: 200, check: wantField("name", "To delete")},
		{name: "delete outdial again", method: "DELETE", path: "/v1.0/outdials/$O2", reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "get deleted outdial", method: "GET", path: "/v1.0/outdials/$O2", reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "delete outdial bad id", method: "DELETE", path: "/v1.0/outdials/0", wantStatus: 400, wantCode: "invalid_id"},
		{name: "delete outdial without token", method: "DELETE", path: "/v1.0/outdials/$O", auth: noToken, wantStatus: 403},
	})

	// Calling windows, reasons, bulk delete, archive (issue 14).
	l.run(t, []step{
		{name: "create with window", method: "POST", path: "/v1.0/outdials", contentType: jsonCT,
			body:     `{"name": "Windowed", "calling_window": {"start": "09:00", "end": "20:00", "days": ["mon", "tue"], "timezone": "America/New_York"}}`,
			reqValid: true, wantStatus: 200, save: saveField("W", "id"), check: wantField("calling_window.days.1", "tue")},
		{name: "create with window ending before it starts", method: "POST", path: "/v1.0/outdials", contentType: jsonCT,
			body:     `{"name": "x", "calling_window": {"start": "20:00", "end": "09:00", "timezone": "UTC"}}`,
			reqValid: true, wantStatus: 400, wantCode: "invalid_field"},
		{name: "remove window", method: "PUT", path: "/v1.0/outdials/$W", contentType: jsonCT,
			body: `{"calling_window": null}`, reqValid: true, wantStatus: 200, check: wantField("calling_window", "")},
		{name: "list targets by reason", method: "GET", path: "/v1.0/outdials/$O/targets", query: "reason=retry_scheduled", reqValid: true, wantStatus: 200,
			check: wantField("result.0.reason", "retry_scheduled")},
		{name: "list targets bad reason", method: "GET", path: "/v1.0/outdials/$O/targets", query: "reason=sleepy", wantStatus: 400, wantCode: "invalid_query"},
		{name: "delete targets", method: "POST", path: "/v1.0/outdials/$O/targets/delete", contentType: jsonCT,
			body: `{"status": "failed"}`, reqValid: true, wantStatus: 200, check: wantField("deleted", "0")},
		{name: "delete targets bad status", method: "POST", path: "/v1.0/outdials/$O/targets/delete", contentType: jsonCT,
			body: `{"status": "gone"}`, wantStatus: 400, wantCode: "invalid_field"},
		{name: "delete targets missing outdial", method: "POST", path: "/v1.0/outdials/$MISSING/targets/delete", contentType: jsonCT,
			body: `{"reason": "suppressed"}`, reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "delete targets without token", method: "POST", path: "/v1.0/outdials/$O/targets/delete", contentType: jsonCT,
			body: `{"status": "failed"}`, auth: noToken, wantStatus: 403},

		{name: "archive", method: "POST", path: "/v1.0/outdials/$W/archive", contentType: jsonCT, body: `{}`, reqValid: true, wantStatus: 200,
			check: wantField("archived", "true")},
		{name: "archive bad id", method: "POST", path: "/v1.0/outdials/x/archive", contentType: jsonCT, body: `{}`, wantStatus: 400, wantCode: "invalid_id"},
		{name: "archive missing", method: "POST", path: "/v1.0/outdials/$MISSING/archive", contentType: jsonCT, body: `{}`, reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "archive without token", method: "POST", path: "/v1.0/outdials/$W/archive", contentType: jsonCT, body: `{}`, auth: noToken, wantStatus: 403},
		{name: "claim archived", method: "POST", path: "/v1.0/outdials/$W/targets/claim", reqValid: true, wantStatus: 409, wantCode: "archived"},
		{name: "list archived", method: "GET", path: "/v1.0/outdials", query: "archived=true", reqValid: true, wantStatus: 200,
			check: all(wantLen("result", 1), wantField("result.0.id", "$W"))},
		{name: "list archived=maybe", method: "GET", path: "/v1.0/outdials", query: "archived=maybe", wantStatus: 400, wantCode: "invalid_query"},
		{name: "restore", method: "DELETE", path: "/v1.0/outdials/$W/archive", reqValid: true, wantStatus: 200, check: wantField("archived", "false")},
		{name: "restore bad id", method: "DELETE", path: "/v1.0/outdials/x/archive", wantStatus: 400, wantCode: "invalid_id"},
		{name: "restore missing", method: "DELETE", path: "/v1.0/outdials/$MISSING/archive", reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "restore without token", method: "DELETE", path: "/v1.0/outdials/$W/archive", auth: noToken, wantStatus: 403},
	})

	// The suppression list (issue 14).
	l.run(t, []step{
		{name: "suppress", method: "POST", path: "/v1.0/suppressions", contentType: jsonCT,
			body: `{"addresses": ["tel:+15559990001", "email:Ops@Example.com", "fax:1"]}`, reqValid: true, wantStatus: 200,
			check: all(wantField("added", "2"), wantField("rejected.0.index", "2"))},
		{name: "suppress csv", method: "POST", path: "/v1.0/suppressions", contentType: "text/csv",
			body: "tel\n+15559990002\n", reqValid: true, wantStatus: 200, check: wantField("added", "1")},
		{name: "suppress nothing", method: "POST", path: "/v1.0/suppressions", contentType: jsonCT,
			body: `{"addresses": []}`, wantStatus: 400, wantCode: "missing_field"},
		{name: "suppress without token", method: "POST", path: "/v1.0/suppressions", contentType: jsonCT,
			body: `{"addresses": ["tel:+15559990001"]}`, auth: noToken, wantStatus: 403},
		{name: "import a suppressed number", method: "POST", path: "/v1.0/outdials/$O/targets", contentType: jsonCT,
			body: `{"destination": {"type": "tel", "target": "+15559990001"}}`, reqValid: true, wantStatus: 409, wantCode: "suppressed"},
		{name: "check", method: "POST", path: "/v1.0/suppressions/check", contentType: jsonCT,
			body: `{"addresses": ["tel:+15559990001", "tel:+15559990009", "email:ops@example.com"]}`, reqValid: true, wantStatus: 200,
			check: all(wantLen("suppressed", 2), wantField("suppressed.1", "email:ops@example.com"))},
		{name: "check bad address", method: "POST", path: "/v1.0/suppressions/check", contentType: jsonCT,
			body: `{"addresses": ["fax:1"]}`, reqValid: true, wantStatus: 400, wantCode: "invalid_field"},
		{name: "check without token", method: "POST", path: "/v1.0/suppressions/check", contentType: jsonCT,
			body: `{"addresses": ["tel:+15559990001"]}`, auth: noToken, wantStatus: 403},
		{name: "list suppressions", method: "GET", path: "/v1.0/suppressions", query: "page_size=2", reqValid: true, wantStatus: 200,
			check: wantLen("result", 2), save: saveField("SPAGE", "next_page_token")},
		{name: "list suppressions page 2", method: "GET", path: "/v1.0/suppressions", query: "page_size=2&page_token=$SPAGE", reqValid: true, wantStatus: 200,
			check: wantLen("result", 1)},
		{name: "list suppressions page_size 0", method: "GET", path: "/v1.0/suppressions", query: "page_size=0", wantStatus: 400, wantCode: "invalid_query"},
		{name: "list suppressions without token", method: "GET", path: "/v1.0/suppressions", auth: noToken, wantStatus: 403},
		{name: "unsuppress", method: "POST", path: "/v1.0/suppressions/delete", contentType: jsonCT,
			body: `{"addresses": ["tel:+15559990001", "tel:+15559990009"]}`, reqValid: true, wantStatus: 200, check: wantField("deleted", "1")},
		{name: "unsuppress bad address", method: "POST", path: "/v1.0/suppressions/delete", contentType: jsonCT,
			body: `{"addresses": ["fax:1"]}`, reqValid: true, wantStatus: 400, wantCode: "invalid_field"},
		{name: "unsuppress without token", method: "POST", path: "/v1.0/suppressions/delete", contentType: jsonCT,
			body: `{"addresses": ["tel:+15559990001"]}`, auth: noToken, wantStatus: 403},
	})

	// The webhook (issue 15), as a customer of its own: it has no
	// outdials, so the only event its webhook gets is the ping.
	hookCustomer := uuid.NewString()
	hookToken, err := auth.Mint(st.TokenSecret, hookCustomer, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec := newPingReceiver(t)
	lw := &live{st: st, v: l.v, vars: l.vars, client: l.client, covered: l.covered,
		tokens: map[authMode]string{bearer: hookToken, forged: tokens[forged], expired: tokens[expired]}}
	lw.vars["HOOK"] = rec.url
	const hookURI = "https://hooks.example.com/x" // valid, never delivered to
	lw.run(t, []step{
		{name: "get webhook before any", method: "GET", path: "/v1.0/webhook", reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "delete webhook before any", method: "DELETE", path: "/v1.0/webhook", reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "rotate before any", method: "POST", path: "/v1.0/webhook/rotate", reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "test before any", method: "POST", path: "/v1.0/webhook/test", contentType: jsonCT, body: `{}`, reqValid: true, wantStatus: 404, wantCode: "not_found"},

		// A local receiver (make run allows http://127.0.0.1:<port>) gets
		// the ping, signed with the secret PUT answered.
		{name: "put local receiver", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "$HOOK", "event_types": ["outdial_completed", "outdial_completed"]}`, reqValid: true, wantStatus: 200,
			save:  saveField("SECRET", "secret"),
			check: all(wantField("uri", "$HOOK"), wantLen("event_types", 1), wantField("event_types.0", "outdial_completed"))},
		{name: "test", method: "POST", path: "/v1.0/webhook/test", reqValid: true, wantStatus: 202,
			save: saveField("PING", "event_id"), check: wantField("queued", "true")},
	})
	rec.waitPing(t, doc, lw.vars["PING"], lw.vars["SECRET"])

	lw.run(t, []step{
		{name: "put https", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "` + hookURI + `"}`, reqValid: true, wantStatus: 200,
			// The secret is kept across PUTs; no event_types is every type.
			check: all(wantField("uri", hookURI), wantField("event_types", ""), wantField("secret", "$SECRET"))},
		{name: "put with ?token=", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT, auth: query,
			body: `{"uri": "HTTPS://Hooks.Example.com/x", "event_types": null}`, reqValid: true, wantStatus: 200,
			check: all(wantField("uri", hookURI), wantField("event_types", ""))},
		{name: "put http", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "http://hooks.example.com/x"}`, reqValid: true, wantStatus: 400, wantCode: "invalid_field", check: wantField("error.field", "uri")},
		{name: "put private address", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "https://10.1.2.3/x"}`, reqValid: true, wantStatus: 400, wantCode: "invalid_field", check: wantField("error.field", "uri")},
		{name: "put loopback other than 127.0.0.1", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "http://127.0.0.2:8765/x"}`, reqValid: true, wantStatus: 400, wantCode: "invalid_field", check: wantField("error.field", "uri")},
		{name: "put link-local", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "https://[fe80::1]/x"}`, reqValid: true, wantStatus: 400, wantCode: "invalid_field", check: wantField("error.field", "uri")},
		{name: "put metadata address", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "https://169.254.169.254/latest/meta-data/"}`, reqValid: true, wantStatus: 400, wantCode: "invalid_field", check: wantField("error.field", "uri")},
		{name: "put localhost", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "https://localhost:8443/x"}`, reqValid: true, wantStatus: 400, wantCode: "invalid_field", check: wantField("error.field", "uri")},
		{name: "put no event types", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "` + hookURI + `", "event_types": []}`, wantStatus: 400, wantCode: "invalid_field", check: wantField("error.field", "event_types")},
		{name: "put ping as a type", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "` + hookURI + `", "event_types": ["ping"]}`, wantStatus: 400, wantCode: "invalid_field", check: wantField("error.field", "event_types[0]")},
		{name: "put without uri", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"event_types": null}`, wantStatus: 400, wantCode: "missing_field", check: wantField("error.field", "uri")},
		{name: "put setting the secret", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "` + hookURI + `", "secret": "whsec_0000"}`, wantStatus: 400, wantCode: "unknown_field"},
		{name: "put bad json", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": `, wantStatus: 400, wantCode: "invalid_json"},
		{name: "put without token", method: "PUT", path: "/v1.0/webhook", contentType: jsonCT,
			body: `{"uri": "` + hookURI + `"}`, auth: noToken, wantStatus: 403},

		{name: "get webhook", method: "GET", path: "/v1.0/webhook", reqValid: true, wantStatus: 200,
			check: all(wantField("uri", hookURI), wantField("event_types", ""), wantField("secret", ""))},
		{name: "get webhook without token", method: "GET", path: "/v1.0/webhook", auth: noToken, wantStatus: 403},

		{name: "rotate", method: "POST", path: "/v1.0/webhook/rotate", contentType: jsonCT, body: `{}`, reqValid: true, wantStatus: 200,
			check: func(t *testing.T, b []byte, vars map[string]string) {
				if got := field(t, b, "secret"); got == vars["SECRET"] || !strings.HasPrefix(got, "whsec_") {
					t.Errorf("rotate answered secret %.12s..., want a new one", got)
				}
			}},
		{name: "rotate with a field", method: "POST", path: "/v1.0/webhook/rotate", contentType: jsonCT,
			body: `{"secret": "whsec_0000"}`, wantStatus: 400, wantCode: "unknown_field"},
		{name: "rotate without token", method: "POST", path: "/v1.0/webhook/rotate", auth: noToken, wantStatus: 403},
		{name: "test with a field", method: "POST", path: "/v1.0/webhook/test", contentType: jsonCT,
			body: `{"type": "outdial_created"}`, wantStatus: 400, wantCode: "unknown_field"},
		{name: "test without token", method: "POST", path: "/v1.0/webhook/test", auth: noToken, wantStatus: 403},

		{name: "delete webhook without token", method: "DELETE", path: "/v1.0/webhook", auth: noToken, wantStatus: 403},
		{name: "delete webhook", method: "DELETE", path: "/v1.0/webhook", reqValid: true, wantStatus: 200,
			check: all(wantField("uri", hookURI), wantField("secret", ""))},
		{name: "delete webhook again", method: "DELETE", path: "/v1.0/webhook", reqValid: true, wantStatus: 404, wantCode: "not_found"},
		{name: "get deleted webhook", method: "GET", path: "/v1.0/webhook", reqValid: true, wantStatus: 404, wantCode: "not_found"},
	})

	// Every route answered a success and the documented errors.
	tpl, err := samtemplate.LoadRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range tpl.Routes() {
		key := r.Method + " " + r.Path
		item := doc.Paths.Value(r.Path)
		op := item.GetOperation(r.Method)
		if op == nil {
			continue // TestEveryRouteDocumented reports it
		}
		want := []int{successStatus(op), 403}
		for code, status := range map[string]int{"400": 400, "404": 404} {
			if op.Responses.Value(code) != nil {
				want = append(want, status)
			}
		}
		for _, status := range want {
			if !l.covered[key][status] {
				t.Errorf("%s: no live call answered %d (seen %v)", key, status, l.covered[key])
			}
		}
	}
}

// sendOutcome reports the claimed attempt as busy on the outcome queue, as
// a dialer does, and waits until the processor has applied it. The message
// is checked against OutcomeMessage first.
func sendOutcome(t *testing.T, doc *openapi3.T, st *localrun.Stack, vars map[string]string) {
	t.Helper()
	if vars["ATTEMPT"] == "" {
		t.Fatal("no claimed attempt to report")
	}
	msg := map[string]any{"attempt_id": vars["ATTEMPT"], "outdial_id": vars["O"], "target_id": vars["CLAIMED"], "result": "busy"}
	if err := doc.Components.Schemas["OutcomeMessage"].Value.VisitJSON(msg, uuidFormat); err != nil {
		t.Fatalf("a dialer's outcome message does not match OutcomeMessage: %v", err)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := localstack.SQSClient(ctx, st.SQSEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(st.QueueURL("OutcomeQueue")), MessageBody: aws.String(string(body))}); err != nil {
		t.Fatal(err)
	}
	tok, err := st.Token(customer, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for {
		req, err := http.NewRequestWithContext(ctx, "GET", st.URL+"/v1.0/outdials/"+vars["O"]+"/targets/"+vars["CLAIMED"], nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("wait for the outcome: %v", err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode == 200 && field(t, b, "last_result") == "busy" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the outcome was not applied within 30 s; target %s", b)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// pingReceiver is a webhook on 127.0.0.1 that keeps what it receives.
type pingReceiver struct {
	url string
	got chan received
}

// received is one POST to the receiver.
type received struct {
	header http.Header
	body   []byte
}

func newPingReceiver(t *testing.T) *pingReceiver {
	t.Helper()
	r := &pingReceiver{got: make(chan received, 16)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		select {
		case r.got <- received{header: req.Header.Clone(), body: b}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/hook"
	return r
}

// waitPing waits for the delivery of the ping event id and checks it as a
// receiver should: the signature under secret (webhook.VerifyRequest),
// the body against WebhookDelivery, the headers against
// x-webhook-delivery.
func (r *pingReceiver) waitPing(t *testing.T, doc *openapi3.T, id, secret string) {
	t.Helper()
	if id == "" || secret == "" {
		t.Fatal("no ping id or secret to wait for")
	}
	deadline := time.After(60 * time.Second)
	for {
		select {
		case <-deadline:
			t.Fatalf("the ping %s did not reach the webhook within 60 s", id)
		case rc := <-r.got:
			if err := webhook.VerifyRequest(secret, rc.header, rc.body, time.Now(), 0); err != nil {
				t.Errorf("a delivery does not verify with the secret PUT answered: %v", err)
				continue
			}
			var v any
			if err := json.Unmarshal(rc.body, &v); err != nil {
				t.Fatalf("delivery body %s: %v", rc.body, err)
			}
			if err := doc.Components.Schemas["WebhookDelivery"].Value.VisitJSON(v, uuidFormat); err != nil {
				t.Errorf("delivery %s does not match WebhookDelivery: %v", rc.body, err)
			}
			if ct := rc.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("delivery Content-Type %q", ct)
			}
			var b odevents.Body
			if err := json.Unmarshal(rc.body, &b); err != nil {
				t.Fatal(err)
			}
			for _, e := range b.Events {
				if e.ID == id {
					if e.Type != odevents.Ping || string(e.Data) != `{"message":"ping"}` {
						t.Errorf("the ping arrived as %s %s", e.Type, e.Data)
					}
					return
				}
			}
			t.Logf("a delivery without the ping: %s", rc.body)
		}
	}
}
