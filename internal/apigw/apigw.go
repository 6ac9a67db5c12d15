// Package apigw turns API Gateway HTTP API (payload 2.0) events into domain
// calls and domain results into responses: strict body decoding, the one
// table from error codes to HTTP statuses, the error envelope, and the
// customer taken from the authorizer context.
package apigw

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/outdial/outdial/internal/outdial"
)

// Request and Response are the API Gateway HTTP API payload 2.0 types.
type (
	Request  = events.APIGatewayV2HTTPRequest
	Response = events.APIGatewayV2HTTPResponse
)

// statusOf is THE table from error code to HTTP status and to VoIPBIN's
// canonical status name. Codes not listed are internal errors.
var statusOf = map[string]struct {
	HTTP      int
	Canonical string
}{
	outdial.ECodeInvalidJSON:        {http.StatusBadRequest, "INVALID_ARGUMENT"},
	outdial.ECodeInvalidCSV:         {http.StatusBadRequest, "INVALID_ARGUMENT"},
	outdial.ECodeUnknownField:       {http.StatusBadRequest, "INVALID_ARGUMENT"},
	outdial.ECodeMissingField:       {http.StatusBadRequest, "INVALID_ARGUMENT"},
	outdial.ECodeInvalidField:       {http.StatusBadRequest, "INVALID_ARGUMENT"},
	outdial.ECodeInvalidID:          {http.StatusBadRequest, "INVALID_ARGUMENT"},
	outdial.ECodeInvalidPageToken:   {http.StatusBadRequest, "INVALID_ARGUMENT"},
	outdial.ECodeInvalidQuery:       {http.StatusBadRequest, "INVALID_ARGUMENT"},
	outdial.ECodeBodyTooLarge:       {http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT"},
	outdial.ECodeUnsupportedMedia:   {http.StatusUnsupportedMediaType, "INVALID_ARGUMENT"},
	outdial.ECodeUnauthenticated:    {http.StatusUnauthorized, "UNAUTHENTICATED"},
	outdial.ECodePermissionDenied:   {http.StatusForbidden, "PERMISSION_DENIED"},
	outdial.ECodeNotFound:           {http.StatusNotFound, "NOT_FOUND"},
	outdial.ECodeConflict:           {http.StatusConflict, "ALREADY_EXISTS"},
	outdial.ECodeFailedPrecondition: {http.StatusConflict, "FAILED_PRECONDITION"},
	outdial.ECodeArchived:           {http.StatusConflict, "FAILED_PRECONDITION"},
	outdial.ECodeSuppressed:         {http.StatusConflict, "FAILED_PRECONDITION"},
	outdial.ECodeUnavailable:        {http.StatusServiceUnavailable, "UNAVAILABLE"},
	outdial.ECodeInternal:           {http.StatusInternalServerError, "INTERNAL"},
}

// HTTPStatus returns the HTTP status for an error code.
func HTTPStatus(code string) int {
	if s, ok := statusOf[code]; ok {
		return s.HTTP
	}
	return http.StatusInternalServerError
}

// ErrorBody is the error envelope: our stable code and message, plus
// VoIPBIN's status, reason and request_id.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
	RequestID string `json:"request_id"`
}

// JSON answers status with v encoded as JSON.
func JSON(status int, v any) Response {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types reach here; a failure is a bug.
		return Response{StatusCode: http.StatusInternalServerError, Headers: jsonHeaders(), Body: `{"error":{"code":"internal","message":"internal error","status":"INTERNAL","reason":"INTERNAL"}}`}
	}
	return Response{StatusCode: status, Headers: jsonHeaders(), Body: string(b)}
}

func jsonHeaders() map[string]string {
	return map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}
}

// Error answers err in the error envelope. Errors that are not an
// *outdial.Error are logged with the request id and answered generically.
func Error(ctx context.Context, log *slog.Logger, req Request, err error) Response {
	code := outdial.ErrorCode(err)
	var field string
	var e *outdial.Error
	if errors.As(err, &e) {
		field = e.Field
	}
	if code == outdial.ECodeInternal {
		log.ErrorContext(ctx, "internal error", "err", err, "route", req.RouteKey, "request_id", req.RequestContext.RequestID)
	}
	st, ok := statusOf[code]
	if !ok {
		st = statusOf[outdial.ECodeInternal]
	}
	return JSON(st.HTTP, ErrorBody{Error: ErrorDetail{
		Code: code, Message: outdial.ErrorMessage(err), Field: field,
		Status: st.Canonical, Reason: strings.ToUpper(code), RequestID: req.RequestContext.RequestID,
	}})
}

// CustomerID returns the customer the authorizer put in the request
// context. Handlers never take the customer from anywhere else.
func CustomerID(req Request) (string, error) {
	if a := req.RequestContext.Authorizer; a != nil && a.Lambda != nil {
		if id, ok := a.Lambda["customer_id"].(string); ok && id != "" {
			return id, nil
		}
	}
	// Only reachable if the route is deployed without the authorizer.
	return "", outdial.Errorf(outdial.ECodeUnauthenticated, "missing or invalid token")
}

// Body returns the request body as bytes, decoding base64 when API Gateway
// flagged it so, and enforcing max (413 beyond it).
func Body(req Request, max int) ([]byte, error) {
	raw := req.Body
	if req.IsBase64Encoded {
		if base64.StdEncoding.DecodedLen(len(raw)) > max+3 {
			return nil, tooLarge(max)
		}
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return nil, outdial.Errorf(outdial.ECodeInvalidJSON, "body: not valid base64 as flagged by isBase64Encoded")
		}
		if len(b) > max {
			return nil, tooLarge(max)
		}
		return b, nil
	}
	if len(raw) > max {
		return nil, tooLarge(max)
	}
	return []byte(raw), nil
}

func tooLarge(max int) error {
	return outdial.Errorf(outdial.ECodeBodyTooLarge, "body: must be at most %d bytes", max)
}

// Header returns the value of header name, case-insensitively.
func Header(req Request, name string) string {
	if v, ok := req.Headers[strings.ToLower(name)]; ok {
		return v
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// PathID returns path parameter name, checked to be a UUID (400 otherwise).
func PathID(req Request, name string) (string, error) {
	return outdial.ParseID(name, req.PathParameters[name])
}
