package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/outdial/outdial/internal/outdial"
)

// documented is the code -> status table as the API reference states it
// (the comments on the ECode constants and the statusOf table). It is
// written out again here on purpose: a change to the table must be a
// deliberate change to this test too.
var documented = []struct {
	code      string
	status    int
	canonical string
}{
	{outdial.ECodeInvalidJSON, 400, "INVALID_ARGUMENT"},
	{outdial.ECodeInvalidCSV, 400, "INVALID_ARGUMENT"},
	{outdial.ECodeUnknownField, 400, "INVALID_ARGUMENT"},
	{outdial.ECodeMissingField, 400, "INVALID_ARGUMENT"},
	{outdial.ECodeInvalidField, 400, "INVALID_ARGUMENT"},
	{outdial.ECodeInvalidID, 400, "INVALID_ARGUMENT"},
	{outdial.ECodeInvalidPageToken, 400, "INVALID_ARGUMENT"},
	{outdial.ECodeInvalidQuery, 400, "INVALID_ARGUMENT"},
	{outdial.ECodeBodyTooLarge, 413, "INVALID_ARGUMENT"},
	{outdial.ECodeUnsupportedMedia, 415, "INVALID_ARGUMENT"},
	{outdial.ECodeUnauthenticated, 401, "UNAUTHENTICATED"},
	{outdial.ECodePermissionDenied, 403, "PERMISSION_DENIED"},
	{outdial.ECodeNotFound, 404, "NOT_FOUND"},
	{outdial.ECodeConflict, 409, "ALREADY_EXISTS"},
	{outdial.ECodeFailedPrecondition, 409, "FAILED_PRECONDITION"},
	{outdial.ECodeArchived, 409, "FAILED_PRECONDITION"},
	{outdial.ECodeSuppressed, 409, "FAILED_PRECONDITION"},
	{outdial.ECodeUnavailable, 503, "UNAVAILABLE"},
	{outdial.ECodeInternal, 500, "INTERNAL"},
}

func request(requestID string) Request {
	return Request{RouteKey: "GET /v1.0/outdials/{id}", RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: requestID}}
}

func decodeError(t *testing.T, res Response) ErrorDetail {
	t.Helper()
	var body ErrorBody
	dec := json.NewDecoder(strings.NewReader(res.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		t.Fatalf("error body %q is not the envelope: %v", res.Body, err)
	}
	return body.Error
}

func TestStatusTableIsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range documented {
		seen[d.code] = true
		got, ok := statusOf[d.code]
		if !ok {
			t.Errorf("code %s is documented but missing from the status table", d.code)
			continue
		}
		if got.HTTP != d.status || got.Canonical != d.canonical {
			t.Errorf("code %s maps to %d %s, documented %d %s", d.code, got.HTTP, got.Canonical, d.status, d.canonical)
		}
		if HTTPStatus(d.code) != d.status {
			t.Errorf("HTTPStatus(%s) = %d, want %d", d.code, HTTPStatus(d.code), d.status)
		}
	}
	for code := range statusOf {
		if !seen[code] {
			t.Errorf("code %s is in the status table but not documented in this test", code)
		}
	}
	if got := HTTPStatus("no_such_code"); got != 500 {
		t.Errorf("HTTPStatus(unknown code) = %d, want 500", got)
	}
}

func TestErrorMapsEveryCode(t *testing.T) {
	for _, d := range documented {
		t.Run(d.code, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			err := outdial.FieldErrorf(d.code, "name", "something about it")
			res := Error(context.Background(), log, request("req-1"), err)
			if res.StatusCode != d.status {
				t.Errorf("status = %d, want %d", res.StatusCode, d.status)
			}
			if ct := res.Headers["Content-Type"]; ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			got := decodeError(t, res)
			want := ErrorDetail{
				Code: d.code, Message: "name: something about it", Field: "name",
				Status: d.canonical, Reason: strings.ToUpper(d.code), RequestID: "req-1",
			}
			if got != want {
				t.Errorf("error = %+v, want %+v", got, want)
			}
		})
	}
}

func TestErrorHidesInternalErrors(t *testing.T) {
	secretText := "operation error DynamoDB: PutItem, arn:aws:dynamodb:us-east-1:123456789012:table/outdial-prod, AccessDeniedException"
	for name, err := range map[string]error{
		"plain":               errors.New(secretText),
		"wrapped":             fmt.Errorf("create outdial: %w", errors.New(secretText)),
		"outdial.Error coded": &outdial.Error{Code: outdial.ECodeInternal, Message: "internal error"},
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			res := Error(context.Background(), log, request("req-42"), err)
			if res.StatusCode != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", res.StatusCode)
			}
			got := decodeError(t, res)
			if got.Code != outdial.ECodeInternal || got.Status != "INTERNAL" || got.RequestID != "req-42" {
				t.Errorf("error = %+v, want code internal, status INTERNAL, request_id req-42", got)
			}
			if got.Message != "internal error" {
				t.Errorf("message = %q, want the generic %q", got.Message, "internal error")
			}
			for _, leak := range []string{"DynamoDB", "arn:aws", "123456789012", "AccessDenied", "create outdial"} {
				if strings.Contains(res.Body, leak) {
					t.Errorf("body %s leaks %q", res.Body, leak)
				}
			}
			// The details go to the log instead, with the request id.
			if !strings.Contains(logs.String(), `"request_id":"req-42"`) {
				t.Errorf("log has no request id:\n%s", logs.String())
			}
			if _, plain := err.(*outdial.Error); !plain && !strings.Contains(logs.String(), "AccessDeniedException") {
				t.Errorf("log does not carry the internal error:\n%s", logs.String())
			}
		})
	}
}

func TestErrorKeepsCodeOfWrappedErrors(t *testing.T) {
	err := fmt.Errorf("update outdial x: %w", outdial.ErrNotFound("outdial"))
	res := Error(context.Background(), slog.New(slog.DiscardHandler), request("r"), err)
	if res.StatusCode != 404 {
		t.Fatalf("status = %d, want 404", res.StatusCode)
	}
	got := decodeError(t, res)
	if got.Code != outdial.ECodeNotFound || got.Message != "outdial not found" {
		t.Errorf("error = %+v, want not_found / outdial not found", got)
	}
	if strings.Contains(res.Body, "update outdial x") {
		t.Errorf("body %s leaks the wrapping context", res.Body)
	}
}

func TestErrorKeepsFieldOfWrappedErrors(t *testing.T) {
	err := fmt.Errorf("decode: %w", outdial.FieldErrorf(outdial.ECodeInvalidField, "name", "bad"))
	got := decodeError(t, Error(context.Background(), slog.New(slog.DiscardHandler), request("r"), err))
	if got.Field != "name" {
		t.Errorf("field = %q, want name", got.Field)
	}
}

func TestCustomerID(t *testing.T) {
	withCtx := func(ctx map[string]any) Request {
		r := request("r")
		r.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{Lambda: ctx}
		return r
	}
	tests := []struct {
		name string
		req  Request
		want string // "" = unauthenticated
	}{
		{"authorizer context", withCtx(map[string]any{"customer_id": "c-1"}), "c-1"},
		{"no authorizer", request("r"), ""},
		{"no lambda context", withCtx(nil), ""},
		{"empty id", withCtx(map[string]any{"customer_id": ""}), ""},
		{"not a string", withCtx(map[string]any{"customer_id": 42}), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Nothing outside the authorizer context counts, even when it
			// names a customer.
			tt.req.Headers = map[string]string{"customer_id": "h", "x-customer-id": "h"}
			tt.req.QueryStringParameters = map[string]string{"customer_id": "q"}
			tt.req.PathParameters = map[string]string{"customer_id": "p"}
			tt.req.Body = `{"customer_id":"b"}`
			got, err := CustomerID(tt.req)
			if tt.want == "" {
				if outdial.ErrorCode(err) != outdial.ECodeUnauthenticated {
					t.Errorf("CustomerID = %q, %v; want an unauthenticated error", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("CustomerID = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestBody(t *testing.T) {
	const max = 16
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name     string
		body     string
		base64   bool
		want     string
		wantCode string
	}{
		{"text", `{"a":1}`, false, `{"a":1}`, ""},
		{"empty", "", false, "", ""},
		{"text at the limit", strings.Repeat("x", max), false, strings.Repeat("x", max), ""},
		{"text over the limit", strings.Repeat("x", max+1), false, "", outdial.ECodeBodyTooLarge},
		{"base64", b64(`{"a":1}`), true, `{"a":1}`, ""},
		{"base64 binary", b64("\x00\xff\xfe"), true, "\x00\xff\xfe", ""},
		{"base64 at the limit", b64(strings.Repeat("y", max)), true, strings.Repeat("y", max), ""},
		{"base64 decoding to one byte too many", b64(strings.Repeat("y", max+1)), true, "", outdial.ECodeBodyTooLarge},
		{"base64 far over the limit", b64(strings.Repeat("y", 10*max)), true, "", outdial.ECodeBodyTooLarge},
		{"base64 not valid", "!!!not base64!!!", true, "", outdial.ECodeInvalidJSON},
		{"base64 flagged but text", `{"a":1}`, true, "", outdial.ECodeInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("r")
			req.Body, req.IsBase64Encoded = tt.body, tt.base64
			got, err := Body(req, max)
			if tt.wantCode != "" {
				var e *outdial.Error
				if !errors.As(err, &e) || e.Code != tt.wantCode {
					t.Fatalf("Body = %q, %v; want code %s", got, err, tt.wantCode)
				}
				if tt.wantCode == outdial.ECodeBodyTooLarge && HTTPStatus(e.Code) != 413 {
					t.Errorf("status of %s = %d, want 413", e.Code, HTTPStatus(e.Code))
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("Body = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestHeaderIsCaseInsensitive(t *testing.T) {
	req := request("r")
	req.Headers = map[string]string{"content-type": "text/csv", "X-Mixed-Case": "v"}
	for name, want := range map[string]string{"Content-Type": "text/csv", "CONTENT-TYPE": "text/csv", "x-mixed-case": "v", "Accept": ""} {
		if got := Header(req, name); got != want {
			t.Errorf("Header(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestPathID(t *testing.T) {
	const id = "0190a3a4-7b1c-7d2e-8f30-4a5b6c7d8e9f"
	for _, tt := range []struct {
		in, want string
	}{
		{id, id},
		{strings.ToUpper(id), id},
		{"", ""},
		{"not-a-uuid", ""},
		{"{" + id + "}", ""},
		{strings.ReplaceAll(id, "-", ""), ""},
		{id + "/..", ""},
		{"urn:uuid:" + id, ""},
	} {
		req := request("r")
		req.PathParameters = map[string]string{"id": tt.in}
		got, err := PathID(req, "id")
		if tt.want == "" {
			if outdial.ErrorCode(err) != outdial.ECodeInvalidID || HTTPStatus(outdial.ErrorCode(err)) != 400 {
				t.Errorf("PathID(%q) = %q, %v; want invalid_id (400)", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("PathID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
