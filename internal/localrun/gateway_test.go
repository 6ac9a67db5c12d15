package localrun_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/outdial/outdial/internal/localrun"
)

// recorder keeps what the fake functions of a gateway received.
type recorder struct {
	mu         sync.Mutex
	events     []events.APIGatewayV2HTTPRequest // by any route function
	fns        []string                         // function of each event
	lambdaIDs  []string                         // AwsRequestID of each invocation
	authorizer []events.APIGatewayV2CustomAuthorizerV2Request
}

func (r *recorder) last(t *testing.T) (string, events.APIGatewayV2HTTPRequest) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.events) == 0 {
		t.Fatal("no function was invoked")
	}
	return r.fns[len(r.fns)-1], r.events[len(r.events)-1]
}

func (r *recorder) count() (fn, authz int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events), len(r.authorizer)
}

// fakeGateway serves a gateway whose functions record their events: the
// authorizer allows "Bearer good" (customer c-1), answers garbage for
// "Bearer broken" and fails for "Bearer fail"; the function "fail"
// returns an error and "binary" answers a base64 body.
func fakeGateway(t *testing.T) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	authz := &localrun.Function{Name: "authorizer", Timeout: 3 * time.Second, Handler: lambda.NewHandler(
		func(ctx context.Context, req events.APIGatewayV2CustomAuthorizerV2Request) (events.APIGatewayV2CustomAuthorizerSimpleResponse, error) {
			rec.mu.Lock()
			rec.authorizer = append(rec.authorizer, req)
			rec.mu.Unlock()
			switch req.Headers["authorization"] {
			case "Bearer good":
				return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: true, Context: map[string]any{"customer_id": "c-1"}}, nil
			case "Bearer fail":
				return events.APIGatewayV2CustomAuthorizerSimpleResponse{}, errors.New("authorizer crashed")
			}
			return events.APIGatewayV2CustomAuthorizerSimpleResponse{IsAuthorized: false}, nil
		})}
	fn := func(name string) *localrun.Function {
		return &localrun.Function{Name: name, Timeout: 3 * time.Second, Handler: lambda.NewHandler(
			func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				lc, _ := lambdacontext.FromContext(ctx)
				rec.mu.Lock()
				rec.events = append(rec.events, ev)
				rec.fns = append(rec.fns, name)
				if lc != nil {
					rec.lambdaIDs = append(rec.lambdaIDs, lc.AwsRequestID)
				} else {
					rec.lambdaIDs = append(rec.lambdaIDs, "")
				}
				rec.mu.Unlock()
				switch name {
				case "fail":
					return events.APIGatewayV2HTTPResponse{}, errors.New("handler failed")
				case "binary":
					return events.APIGatewayV2HTTPResponse{
						StatusCode: 201, IsBase64Encoded: true, Body: base64.StdEncoding.EncodeToString([]byte("\x00\x01bin")),
						Headers:           map[string]string{"Content-Type": "application/octet-stream"},
						MultiValueHeaders: map[string][]string{"X-Multi": {"a", "b"}},
						Cookies:           []string{"c=1; Path=/"},
					}, nil
				}
				b, _ := json.Marshal(map[string]any{"fn": name, "params": ev.PathParameters})
				return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: string(b), Headers: map[string]string{"Content-Type": "application/json"}}, nil
			})}
	}
	gw := localrun.NewGateway(authz, slog.New(slog.DiscardHandler))
	// Registered parameter routes first on purpose: literal segments must
	// still win.
	gw.Route("GET", "/v1.0/outdials/{id}/targets/{target_id}", fn("get-target"), true)
	gw.Route("GET", "/v1.0/outdials/{id}/targets/summary", fn("summary"), true)
	gw.Route("POST", "/v1.0/outdials/{id}/targets/claim", fn("claim-targets"), true)
	gw.Route("DELETE", "/v1.0/outdials/{id}/targets/{target_id}", fn("delete-target"), true)
	gw.Route("GET", "/v1.0/outdials/{id}", fn("get-outdial"), true)
	gw.Route("PUT", "/v1.0/outdials/{id}", fn("update-outdial"), true)
	gw.Route("GET", "/v1.0/outdials", fn("list-outdials"), true)
	gw.Route("POST", "/v1.0/outdials", fn("create-outdial"), true)
	gw.Route("POST", "/v1.0/outdials/{id}/targets", fn("add-targets"), true)
	gw.Route("GET", "/public", fn("public"), false)
	gw.Route("GET", "/fail", fn("fail"), true)
	gw.Route("GET", "/binary", fn("binary"), true)
	gw.Route("ANY", "/any", fn("any"), true)
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv, rec
}

func send(t *testing.T, method, url string, body io.Reader, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

var good = map[string]string{"Authorization": "Bearer good"}

func TestGatewayRouting(t *testing.T) {
	srv, rec := fakeGateway(t)
	tests := []struct {
		method, path string
		wantFn       string // "" = 404 {"message":"Not Found"}
		wantParams   map[string]string
	}{
		{"GET", "/v1.0/outdials", "list-outdials", nil},
		{"POST", "/v1.0/outdials", "create-outdial", nil},
		{"GET", "/v1.0/outdials/abc", "get-outdial", map[string]string{"id": "abc"}},
		{"PUT", "/v1.0/outdials/abc", "update-outdial", map[string]string{"id": "abc"}},
		{"POST", "/v1.0/outdials/abc/targets", "add-targets", map[string]string{"id": "abc"}},
		{"GET", "/v1.0/outdials/abc/targets/t1", "get-target", map[string]string{"id": "abc", "target_id": "t1"}},
		{"DELETE", "/v1.0/outdials/abc/targets/t1", "delete-target", map[string]string{"id": "abc", "target_id": "t1"}},
		// A literal segment wins over a parameter, whatever the order of
		// registration; with another method the parameter route matches.
		{"GET", "/v1.0/outdials/abc/targets/summary", "summary", map[string]string{"id": "abc"}},
		{"POST", "/v1.0/outdials/abc/targets/claim", "claim-targets", map[string]string{"id": "abc"}},
		{"DELETE", "/v1.0/outdials/abc/targets/claim", "delete-target", map[string]string{"id": "abc", "target_id": "claim"}},
		// Percent-encoded parameters arrive decoded.
		{"GET", "/v1.0/outdials/a%20b", "get-outdial", map[string]string{"id": "a b"}},
		{"GET", "/any", "any", nil},
		{"PATCH", "/any", "any", nil},

		{"GET", "/", "", nil},
		{"GET", "/v1.0", "", nil},
		{"GET", "/v1.0/nothing", "", nil},
		{"GET", "/v1.0/outdials/", "", nil},
		{"GET", "/v1.0/outdials//targets", "", nil},
		{"GET", "/v1.0/outdials/abc/targets/t1/extra", "", nil},
		{"GET", "/V1.0/OUTDIALS", "", nil},
		{"PATCH", "/v1.0/outdials", "", nil},
		{"DELETE", "/v1.0/outdials", "", nil},
		{"POST", "/v1.0/outdials/abc", "", nil},
		{"GET", "/v1.0/outdials/abc/targets/claim/x", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			beforeFn, beforeAuthz := rec.count()
			res, body := send(t, tt.method, srv.URL+tt.path, nil, good)
			if tt.wantFn == "" {
				if res.StatusCode != 404 || string(body) != `{"message":"Not Found"}` {
					t.Errorf("answer = %d %s, want 404 {\"message\":\"Not Found\"}", res.StatusCode, body)
				}
				if fn, authz := rec.count(); fn != beforeFn || authz != beforeAuthz {
					t.Errorf("an unknown route invoked %d functions and %d authorizers", fn-beforeFn, authz-beforeAuthz)
				}
				return
			}
			if res.StatusCode != 200 {
				t.Fatalf("answer = %d %s, want 200 from %s", res.StatusCode, body, tt.wantFn)
			}
			var got struct {
				Fn     string            `json:"fn"`
				Params map[string]string `json:"params"`
			}
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if got.Fn != tt.wantFn {
				t.Errorf("routed to %s, want %s", got.Fn, tt.wantFn)
			}
			if len(got.Params) != len(tt.wantParams) {
				t.Errorf("path parameters %v, want %v", got.Params, tt.wantParams)
			}
			for k, v := range tt.wantParams {
				if got.Params[k] != v {
					t.Errorf("path parameter %s = %q, want %q", k, got.Params[k], v)
				}
			}
		})
	}
}

// TestGatewayDecodesPathParametersOnce checks a percent sign that was
// itself encoded reaches the handler as a percent sign.
func TestGatewayDecodesPathParametersOnce(t *testing.T) {
	srv, rec := fakeGateway(t)
	res, body := send(t, "GET", srv.URL+"/v1.0/outdials/%2541", nil, good)
	if res.StatusCode != 200 {
		t.Fatalf("answer = %d %s", res.StatusCode, body)
	}
	if _, ev := rec.last(t); ev.PathParameters["id"] != "%41" {
		t.Errorf("path parameter id = %q, want %q", ev.PathParameters["id"], "%41")
	}
}

func TestGatewayEventShape(t *testing.T) {
	srv, rec := fakeGateway(t)
	before := time.Now()
	req, _ := http.NewRequest("PUT", srv.URL+"/v1.0/outdials/od-1?page_size=5&multi=a&multi=b&empty=&token=tq", strings.NewReader(`{"name":"x"}`))
	req.Header.Set("Authorization", "Bearer good")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Mixed-CASE", "v1")
	req.Header.Add("X-Twice", "a")
	req.Header.Add("X-Twice", "b")
	req.Header.Set("User-Agent", "gateway-test/1.0")
	req.Header.Set("Cookie", "session=s1; theme=dark")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	fn, ev := rec.last(t)
	if fn != "update-outdial" {
		t.Fatalf("invoked %s", fn)
	}

	// Top level.
	if ev.Version != "2.0" || ev.RouteKey != "PUT /v1.0/outdials/{id}" || ev.RawPath != "/v1.0/outdials/od-1" {
		t.Errorf("version %q routeKey %q rawPath %q", ev.Version, ev.RouteKey, ev.RawPath)
	}
	if ev.RawQueryString != "page_size=5&multi=a&multi=b&empty=&token=tq" {
		t.Errorf("rawQueryString = %q", ev.RawQueryString)
	}
	if ev.Body != `{"name":"x"}` || ev.IsBase64Encoded {
		t.Errorf("body = %q (base64 %v), want the JSON as text", ev.Body, ev.IsBase64Encoded)
	}
	// Headers: lower-case names, repeated ones joined with commas, cookies
	// moved to Cookies.
	for k, want := range map[string]string{
		"authorization": "Bearer good", "content-type": "application/json", "x-mixed-case": "v1",
		"x-twice": "a,b", "user-agent": "gateway-test/1.0",
	} {
		if got := ev.Headers[k]; got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	for k := range ev.Headers {
		if k != strings.ToLower(k) {
			t.Errorf("header name %q is not lower-case", k)
		}
		if k == "cookie" {
			t.Errorf("cookie header passed as a header; payload 2.0 moves it to cookies")
		}
	}
	if strings.Join(ev.Cookies, "; ") != "session=s1; theme=dark" {
		t.Errorf("cookies = %v", ev.Cookies)
	}
	// Query: repeated parameters joined with commas.
	for k, want := range map[string]string{"page_size": "5", "multi": "a,b", "empty": "", "token": "tq"} {
		if got, ok := ev.QueryStringParameters[k]; !ok || got != want {
			t.Errorf("query %s = %q (present %v), want %q", k, got, ok, want)
		}
	}
	if len(ev.PathParameters) != 1 || ev.PathParameters["id"] != "od-1" {
		t.Errorf("pathParameters = %v", ev.PathParameters)
	}

	// Request context.
	rc := ev.RequestContext
	if rc.RouteKey != ev.RouteKey || rc.Stage != "$default" || rc.RequestID == "" || rc.APIID == "" || rc.AccountID == "" {
		t.Errorf("requestContext = %+v", rc)
	}
	if rc.HTTP.Method != "PUT" || rc.HTTP.Path != "/v1.0/outdials/od-1" || rc.HTTP.SourceIP != "127.0.0.1" ||
		rc.HTTP.UserAgent != "gateway-test/1.0" || !strings.HasPrefix(rc.HTTP.Protocol, "HTTP/") {
		t.Errorf("requestContext.http = %+v", rc.HTTP)
	}
	if ts := time.UnixMilli(rc.TimeEpoch); ts.Before(before.Add(-time.Second)) || ts.After(time.Now().Add(time.Second)) {
		t.Errorf("requestContext.timeEpoch = %v, want about now", ts)
	}
	if _, err := time.Parse("02/Jan/2006:15:04:05 -0700", rc.Time); err != nil {
		t.Errorf("requestContext.time = %q: %v", rc.Time, err)
	}
	if rc.Authorizer == nil || rc.Authorizer.Lambda["customer_id"] != "c-1" {
		t.Errorf("requestContext.authorizer = %+v, want lambda.customer_id c-1", rc.Authorizer)
	}
	if got := res.Header.Get("Apigw-Requestid"); got != rc.RequestID {
		t.Errorf("Apigw-Requestid = %q, want the event's request id %q", got, rc.RequestID)
	}

	// The Lambda context carries a request id of its own.
	rec.mu.Lock()
	lambdaID := rec.lambdaIDs[len(rec.lambdaIDs)-1]
	rec.mu.Unlock()
	if lambdaID == "" {
		t.Errorf("handler ran without a Lambda context request id")
	}

	// The authorizer saw the same request.
	rec.mu.Lock()
	az := rec.authorizer[len(rec.authorizer)-1]
	rec.mu.Unlock()
	if az.Type != "REQUEST" || az.Version != "2.0" || az.RouteKey != ev.RouteKey || az.Headers["authorization"] != "Bearer good" ||
		az.QueryStringParameters["token"] != "tq" || az.PathParameters["id"] != "od-1" || !strings.HasSuffix(az.RouteArn, "/PUT/v1.0/outdials/{id}") {
		t.Errorf("authorizer request = %+v", az)
	}
}

func TestGatewayEventWithoutQueryOrParameters(t *testing.T) {
	srv, rec := fakeGateway(t)
	send(t, "GET", srv.URL+"/v1.0/outdials", nil, good)
	_, ev := rec.last(t)
	// API Gateway leaves these out rather than sending empty maps.
	if ev.QueryStringParameters != nil || ev.PathParameters != nil || ev.Body != "" || ev.IsBase64Encoded {
		t.Errorf("query %v, path %v, body %q, base64 %v; want all absent", ev.QueryStringParameters, ev.PathParameters, ev.Body, ev.IsBase64Encoded)
	}
}

func TestGatewayAuthorization(t *testing.T) {
	srv, rec := fakeGateway(t)
	tests := []struct {
		name       string
		path       string
		header     map[string]string
		wantStatus int
		wantBody   string // "" = the function's answer
	}{
		{"allowed", "/v1.0/outdials", good, 200, ""},
		{"no token", "/v1.0/outdials", nil, 403, `{"message":"Forbidden"}`},
		{"denied", "/v1.0/outdials", map[string]string{"Authorization": "Bearer bad"}, 403, `{"message":"Forbidden"}`},
		{"denied on a parameter route", "/v1.0/outdials/x/targets/y", map[string]string{"Authorization": "Bearer bad"}, 403, `{"message":"Forbidden"}`},
		{"authorizer fails", "/v1.0/outdials", map[string]string{"Authorization": "Bearer fail"}, 500, `{"message":"Internal Server Error"}`},
		{"route without authorizer", "/public", nil, 200, ""},
		{"function fails", "/fail", good, 500, `{"message":"Internal Server Error"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			beforeFn, beforeAuthz := rec.count()
			res, body := send(t, "GET", srv.URL+tt.path, nil, tt.header)
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", res.StatusCode, body, tt.wantStatus)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("body = %s, want %s", body, tt.wantBody)
			}
			if tt.wantBody != "" && res.Header.Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", res.Header.Get("Content-Type"))
			}
			fn, authz := rec.count()
			wantAuthz := 1
			if tt.path == "/public" {
				wantAuthz = 0
			}
			if authz-beforeAuthz != wantAuthz {
				t.Errorf("authorizer ran %d times, want %d", authz-beforeAuthz, wantAuthz)
			}
			ran := fn - beforeFn
			if tt.wantStatus == 403 || tt.name == "authorizer fails" {
				if ran != 0 {
					t.Errorf("the function ran %d times for a request the authorizer did not allow", ran)
				}
			} else if ran != 1 {
				t.Errorf("the function ran %d times, want 1", ran)
			}
		})
	}
	// A route without an authorizer gets no authorizer context.
	send(t, "GET", srv.URL+"/public", nil, good)
	if _, ev := rec.last(t); ev.RequestContext.Authorizer != nil {
		t.Errorf("unauthorized route got authorizer context %+v", ev.RequestContext.Authorizer)
	}
}

func TestGatewayBodyEncoding(t *testing.T) {
	srv, rec := fakeGateway(t)
	binary := "\x00\x01\xfe\xffbinary"
	tests := []struct {
		name, contentType, body string
		wantBase64              bool
	}{
		{"json", "application/json", `{"a":"é"}`, false},
		{"json with charset", "application/json; charset=utf-8", `{"a":1}`, false},
		{"vendor json", "application/problem+json", `{"a":1}`, false},
		{"csv", "text/csv", "destination\n+15551234567\n", false},
		{"no content type", "", `{"a":1}`, false},
		{"form", "application/x-www-form-urlencoded", "a=1", false},
		{"octet-stream", "application/octet-stream", binary, true},
		{"image", "image/png", binary, true},
		{"multipart", "multipart/form-data; boundary=x", "--x\r\n\r\nv\r\n--x--", true},
		{"json that is not UTF-8", "application/json", "{\"a\":\"\xff\"}", true},
		{"malformed content type", "text/", "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"Authorization": "Bearer good"}
			if tt.contentType != "" {
				h["Content-Type"] = tt.contentType
			}
			res, body := send(t, "POST", srv.URL+"/v1.0/outdials", strings.NewReader(tt.body), h)
			if res.StatusCode != 200 {
				t.Fatalf("status %d %s", res.StatusCode, body)
			}
			_, ev := rec.last(t)
			if ev.IsBase64Encoded != tt.wantBase64 {
				t.Errorf("isBase64Encoded = %v, want %v", ev.IsBase64Encoded, tt.wantBase64)
			}
			got := ev.Body
			if ev.IsBase64Encoded {
				b, err := base64.StdEncoding.DecodeString(ev.Body)
				if err != nil {
					t.Fatalf("body is not base64: %v", err)
				}
				got = string(b)
			}
			if got != tt.body {
				t.Errorf("body = %q, want %q", got, tt.body)
			}
		})
	}
}

func TestGatewayResponseMapping(t *testing.T) {
	srv, _ := fakeGateway(t)
	res, body := send(t, "GET", srv.URL+"/binary", nil, good)
	if res.StatusCode != 201 {
		t.Errorf("status = %d, want the function's 201", res.StatusCode)
	}
	if string(body) != "\x00\x01bin" {
		t.Errorf("body = %q, want the decoded base64 body", body)
	}
	if res.Header.Get("Content-Type") != "application/octet-stream" || strings.Join(res.Header.Values("X-Multi"), ",") != "a,b" {
		t.Errorf("headers = %v", res.Header)
	}
	if c := res.Header.Values("Set-Cookie"); len(c) != 1 || c[0] != "c=1; Path=/" {
		t.Errorf("Set-Cookie = %v", c)
	}
}

func TestGatewayBodyLimits(t *testing.T) {
	srv, rec := fakeGateway(t)
	tests := []struct {
		name       string
		size       int
		wantStatus int
		wantBody   string
	}{
		{"1 MB", 1 << 20, 200, ""},
		// Over Lambda's 6 MB invocation payload, under the API's 10 MB.
		{"7 MB", 7 << 20, 413, `{"message":"Request Entity Too Large"}`},
		{"10 MB + 1", 10<<20 + 1, 413, `{"message":"Request Entity Too Large"}`},
		{"12 MB", 12 << 20, 413, `{"message":"Request Entity Too Large"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := rec.count()
			res, body := send(t, "POST", srv.URL+"/v1.0/outdials", strings.NewReader(strings.Repeat("a", tt.size)),
				map[string]string{"Authorization": "Bearer good", "Content-Type": "text/plain"})
			if res.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tt.wantStatus)
			}
			after, _ := rec.count()
			if tt.wantBody != "" {
				if string(body) != tt.wantBody {
					t.Errorf("body = %.200s, want %s", body, tt.wantBody)
				}
				if after != before {
					t.Errorf("the function ran for a %d-byte body", tt.size)
				}
			} else if after != before+1 {
				t.Errorf("the function did not run")
			}
		})
	}
}
