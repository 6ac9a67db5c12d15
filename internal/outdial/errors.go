// Package outdial holds the domain of the service: outdials, targets, their
// validation, the dialing state machine, the error type every layer speaks,
// and the Store port that the DynamoDB adapter implements.
package outdial

import (
	"errors"
	"fmt"
)

// Stable error codes. Clients switch on these; never rename one. The HTTP
// status for each code lives in exactly one table, in package apigw.
const (
	ECodeInvalidJSON        = "invalid_json"           // body is not valid JSON or has the wrong shape
	ECodeInvalidCSV         = "invalid_csv"            // a CSV body cannot be read as a whole (no header, bad encoding, ...)
	ECodeUnknownField       = "unknown_field"          // body carries a field the route does not accept
	ECodeMissingField       = "missing_field"          // a required field is absent or empty
	ECodeInvalidField       = "invalid_field"          // a field has a value outside its rules
	ECodeInvalidID          = "invalid_id"             // a path id is not a UUID
	ECodeInvalidPageToken   = "invalid_page_token"     // page_token was modified, expired or belongs elsewhere
	ECodeInvalidQuery       = "invalid_query"          // a query parameter is malformed
	ECodeBodyTooLarge       = "body_too_large"         // request body exceeds the route's limit
	ECodeUnsupportedMedia   = "unsupported_media_type" // Content-Type the route cannot read
	ECodeUnauthenticated    = "unauthenticated"        // no or bad credentials
	ECodePermissionDenied   = "permission_denied"      // credentials valid but not allowed
	ECodeNotFound           = "not_found"              // no such resource for this customer
	ECodeConflict           = "conflict"               // the resource changed under the request; retry
	ECodeFailedPrecondition = "failed_precondition"    // the resource is in a state that forbids the request
	ECodeArchived           = "archived"               // the outdial is archived: it takes no targets and hands none out
	ECodeSuppressed         = "suppressed"             // every destination of a target is on the customer's suppression list
	ECodeUnavailable        = "unavailable"            // a dependency is throttled or timed out; retry later
	ECodeInternal           = "internal"               // a bug or an unexpected dependency error
)

// Error is the one error type the domain and adapters return for conditions
// a client can act on. Anything else reaching the HTTP layer is internal.
type Error struct {
	Code    string // one of the ECode constants
	Field   string // the request field at fault, if any (JSON name)
	Message string // human-readable, names the field; never contains secrets
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("outdial error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an *Error about one field; the message starts with the
// field name so that a client reading only the message still knows which one.
func FieldErrorf(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: field + ": " + fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err if it is (or wraps) an *Error, and
// ECodeInternal otherwise.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ECodeInternal
}

// ErrorMessage returns the client-safe message of err: its own for an *Error,
// a generic one otherwise (internal details are logged, not returned).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrNotFound reports a missing outdial or target; another customer's
// resource is reported with exactly this error too.
func ErrNotFound(what string) *Error {
	return Errorf(ECodeNotFound, "%s not found", what)
}
