package localrun

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/uuid"
)

// API Gateway and Lambda limits the gateway enforces like AWS does.
const (
	maxRequestBody   = 10 << 20 // HTTP API payload limit
	maxInvokePayload = 6 << 20  // Lambda synchronous invocation payload limit
)

// DefaultHTTPTimeout is the read, write and idle timeout of the local HTTP
// server, like API Gateway's 30 s integration timeout.
const DefaultHTTPTimeout = 30 * time.Second

// NewServer returns the local HTTP server of h. Each request must be read
// whole, and its answer written, within timeout (DefaultHTTPTimeout when
// 0), and an idle connection is closed after it: a client that sends less
// body than its Content-Length, or never reads, cannot hold a connection.
func NewServer(h http.Handler, timeout time.Duration) *http.Server {
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, timeout),
		ReadTimeout:       timeout,
		WriteTimeout:      timeout,
		IdleTimeout:       timeout,
	}
}

// Function is one Lambda function as the gateway invokes it.
type Function struct {
	Name    string
	Handler lambda.Handler
	Timeout time.Duration
}

// Invoke calls f with payload the way the Lambda runtime does: JSON in,
// JSON out, a Lambda context with a request id, and the function's timeout.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       uuid.NewString(),
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:" + f.Name,
	})
	return f.Handler.Invoke(ctx, payload)
}

// route is one method + path template of the HTTP API.
type route struct {
	method     string
	path       string   // e.g. /v1.0/outdials/{id}
	segments   []string // path split on '/'
	fn         *Function
	authorized bool
}

// match compares the escaped path with the route segment by segment and
// unescapes each parameter once, as API Gateway does.
func (r *route) match(method, escapedPath string) (map[string]string, bool) {
	if r.method != method && r.method != "ANY" {
		return nil, false
	}
	segs := strings.Split(escapedPath, "/")
	if len(segs) != len(r.segments) {
		return nil, false
	}
	params := map[string]string{}
	for i, s := range r.segments {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			if segs[i] == "" {
				return nil, false
			}
			v, err := url.PathUnescape(segs[i])
			if err != nil {
				return nil, false
			}
			params[strings.Trim(s, "{}")] = v
			continue
		}
		if lit, err := url.PathUnescape(segs[i]); err != nil || s != lit {
			return nil, false
		}
	}
	return params, true
}

// Gateway serves the template's HTTP API routes the way API Gateway's HTTP
// API does: it runs the Lambda authorizer (payload 2.0, simple responses),
// then invokes the route's function with a payload 2.0 event.
type Gateway struct {
	routes     []*route
	authorizer *Function
	log        *slog.Logger
}

// NewGateway returns an empty gateway using authorizer for authorized routes.
func NewGateway(authorizer *Function, log *slog.Logger) *Gateway {
	return &Gateway{authorizer: authorizer, log: log}
}

// Route adds method path -> fn.
func (g *Gateway) Route(method, path string, fn *Function, authorized bool) {
	g.routes = append(g.routes, &route{method: strings.ToUpper(method), path: path, segments: strings.Split(path, "/"), fn: fn, authorized: authorized})
	// Literal segments win over parameters, like API Gateway's most
	// specific match: sort routes with fewer parameters first.
	sort.SliceStable(g.routes, func(i, j int) bool {
		return strings.Count(g.routes[i].path, "{") < strings.Count(g.routes[j].path, "{")
	})
}

func gatewayError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"message":%q}`, msg)
}

// ServeHTTP implements http.Handler.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	var rt *route
	var params map[string]string
	for _, c := range g.routes {
		if p, ok := c.match(r.Method, r.URL.EscapedPath()); ok {
			rt, params = c, p
			break
		}
	}
	if rt == nil {
		gatewayError(w, http.StatusNotFound, "Not Found")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > maxRequestBody {
		gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	ev := g.event(r, rt, params, body)

	// Authorize.
	if rt.authorized {
		ctx, ok := g.authorize(r.Context(), ev)
		if !ok {
			gatewayError(w, http.StatusForbidden, "Forbidden")
			g.logAccess(r, rt, http.StatusForbidden, start)
			return
		} else if ctx == nil {
			gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			g.logAccess(r, rt, http.StatusInternalServerError, start)
			return
		}
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: ctx}
	}

	// Invoke the route's function.
	payload, err := json.Marshal(ev)
	if err != nil {
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if len(payload) > maxInvokePayload {
		gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		g.logAccess(r, rt, http.StatusRequestEntityTooLarge, start)
		return
	}
	out, err := rt.fn.Invoke(r.Context(), payload)
	if err != nil {
		g.log.Error("function error", "function", rt.fn.Name, "err", err)
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		g.logAccess(r, rt, http.StatusInternalServerError, start)
		return
	}
	var res events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &res); err != nil || res.StatusCode == 0 {
		g.log.Error("function returned no HTTP response", "function", rt.fn.Name)
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	for k, v := range res.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range res.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range res.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	w.Header().Set("Apigw-Requestid", ev.RequestContext.RequestID)
	respBody := []byte(res.Body)
	if res.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(res.Body); err == nil {
			respBody = b
		}
	}
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write(respBody)
	g.logAccess(r, rt, res.StatusCode, start)
}

func (g *Gateway) logAccess(r *http.Request, rt *route, status int, start time.Time) {
	g.log.Info("request", "method", r.Method, "route", rt.method+" "+rt.path, "status", status, "ms", time.Since(start).Milliseconds())
}

// authorize runs the authorizer; it returns the context for the handler
// and true when allowed, (nil, false) when denied, and (nil, true) when
// the authorizer itself failed.
func (g *Gateway) authorize(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (map[string]any, bool) {
	req := events.APIGatewayV2CustomAuthorizerV2Request{
		Version:               "2.0",
		Type:                  "REQUEST",
		RouteArn:              "arn:aws:execute-api:us-east-1:000000000000:local/$default/" + strings.ReplaceAll(ev.RouteKey, " ", ""),
		RouteKey:              ev.RouteKey,
		RawPath:               ev.RawPath,
		RawQueryString:        ev.RawQueryString,
		Cookies:               ev.Cookies,
		Headers:               ev.Headers,
		QueryStringParameters: ev.QueryStringParameters,
		RequestContext:        ev.RequestContext,
		PathParameters:        ev.PathParameters,
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, true
	}
	out, err := g.authorizer.Invoke(ctx, payload)
	if err != nil {
		g.log.Error("authorizer error", "err", err)
		return nil, true
	}
	var res events.APIGatewayV2CustomAuthorizerSimpleResponse
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, true
	}
	if !res.IsAuthorized {
		return nil, false
	}
	if res.Context == nil {
		res.Context = map[string]any{}
	}
	return res.Context, true
}

// event builds the payload 2.0 event API Gateway would send.
func (g *Gateway) event(r *http.Request, rt *route, params map[string]string, body []byte) events.APIGatewayV2HTTPRequest {
	headers := map[string]string{}
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			continue
		}
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	var cookies []string
	for _, c := range r.Cookies() {
		cookies = append(cookies, c.String())
	}
	var query map[string]string
	if q := r.URL.Query(); len(q) > 0 {
		query = map[string]string{}
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}
	if len(params) == 0 {
		params = nil
	}
	now := time.Now().UTC()
	sourceIP, _, _ := net.SplitHostPort(r.RemoteAddr)
	routeKey := rt.method + " " + rt.path
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:   routeKey,
			AccountID:  "000000000000",
			Stage:      "$default",
			RequestID:  uuid.NewString(),
			APIID:      "local",
			DomainName: r.Host,
			Time:       now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: r.Method, Path: r.URL.Path, Protocol: r.Proto, SourceIP: sourceIP, UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) && utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isText reports whether API Gateway passes a body of this content type as
// text rather than base64.
func isText(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/xml" || mt == "application/x-www-form-urlencoded" || mt == "application/javascript"
}
