// Package suppressions holds the handlers of the suppression (do-not-call)
// list routes. They normalise addresses as targets' destinations are, so
// they link libphonenumber, like package targetimport.
//
// Addresses travel in request bodies only, never in paths or query
// strings, in their written form (outdial.ParseWrittenAddress):
// tel:+15551234567, sip:alice@example.com, email:a@example.com. Each is
// normalised with destination.Normalizer and the request's default_region
// query parameter, exactly as add-targets normalises destinations, and the
// routes answer with the normalised written form (outdial.WrittenAddress).
// The handlers never log an address.
package suppressions

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/outdial/outdial/internal/api/routes"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/destination"
	"github.com/outdial/outdial/internal/outdial"
)

// Handler carries what the suppression handlers need; build it once at init.
// The list route is package suppressionlist's, which normalises nothing.
type Handler struct {
	Store outdial.SuppressionStore
	Log   *slog.Logger
	// Now is the handlers' clock; the store stamps tm_create with its own.
	Now func() time.Time
}

// MaxBody bounds the body of the suppression routes: 10 000 addresses in
// JSON or CSV fit, and the event stays under Lambda's 6 MB invocation
// limit (as targetimport.MaxImportBody).
const MaxBody = 5 << 20

// AddResponse answers POST /v1.0/suppressions. Added and Existing count
// distinct normalised addresses (a repeat within the request counts once);
// Rejected is always an array.
type AddResponse struct {
	Added    int        `json:"added"`
	Existing int        `json:"existing"`
	Rejected []Rejected `json:"rejected"`
}

// Rejected is one address (or CSV row) that was not added. Index is the
// position in the JSON array, or the CSV data row (from 0; blank lines are
// not rows), so several addresses of one CSV row share it; Line is the
// CSV row's 1-based line in the file. Address is the address as sent
// (empty for a CSV row without one), cut to at most maxEcho bytes of JSON
// with a trailing "…" when longer.
type Rejected struct {
	Index   int           `json:"index"`
	Line    int           `json:"line,omitempty"`
	Address string        `json:"address"`
	Error   RejectedError `json:"error"`
}

// RejectedError is why an address was rejected: the error envelope's code,
// field and message.
type RejectedError struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// CheckResponse answers POST /v1.0/suppressions/check: the addresses of
// the request (normalised, written form) that are on the list, in request
// order, each once.
type CheckResponse struct {
	Suppressed []string `json:"suppressed"`
}

// DeleteResponse answers POST /v1.0/suppressions/delete: how many of the
// request's distinct addresses were on the list (and are no more).
type DeleteResponse struct {
	Deleted int `json:"deleted"`
}

// Add handles POST /v1.0/suppressions: {"addresses":[...]} in JSON, or
// CSV (Content-Type: text/csv) with an address column or tel, sip and
// email columns (readCSV). Invalid addresses are answered in rejected; the
// others are added.
func (h *Handler) Add(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return routes.Respond(ctx, h.Log, req, func(customerID string) (int, any, error) {
		addresses, err := normalizer(req)
		if err != nil {
			return 0, nil, err
		}
		body, err := apigw.Body(req, MaxBody)
		if err != nil {
			return 0, nil, err
		}
		var entries []entry
		switch mediaType(apigw.Header(req, "Content-Type")) {
		case "text/csv", "application/csv":
			entries, err = readCSV(body)
		case "application/json", "", "text/plain", "application/x-www-form-urlencoded":
			// curl --data sends form-urlencoded unless told otherwise;
			// the body is read as JSON all the same.
			entries, err = readJSON(body)
		default:
			err = outdial.Errorf(outdial.ECodeUnsupportedMedia, "Content-Type: send application/json or text/csv")
		}
		if err != nil {
			return 0, nil, err
		}

		out := AddResponse{Rejected: []Rejected{}}
		var keys []string
		for _, e := range entries {
			a, err := e.normalize(addresses)
			if err != nil {
				out.Rejected = append(out.Rejected, Rejected{
					Index: e.index, Line: e.line, Address: echo(e.sent),
					Error: RejectedError{Code: err.Code, Field: err.Field, Message: err.Message},
				})
				continue
			}
			keys = append(keys, a.Key())
		}
		if len(keys) > 0 {
			if out.Added, out.Existing, err = h.Store.AddSuppressions(ctx, customerID, keys); err != nil {
				return 0, nil, err
			}
		}
		return http.StatusOK, out, nil
	})
}

// Check handles POST /v1.0/suppressions/check with {"addresses":[...]}.
func (h *Handler) Check(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return routes.Respond(ctx, h.Log, req, func(customerID string) (int, any, error) {
		list, err := readAddresses(req)
		if err != nil {
			return 0, nil, err
		}
		keys := make([]string, len(list))
		for i, a := range list {
			keys[i] = a.Key()
		}
		on, err := h.Store.Suppressed(ctx, customerID, keys)
		if err != nil {
			return 0, nil, err
		}
		out := CheckResponse{Suppressed: []string{}}
		seen := map[string]bool{}
		for i, a := range list {
			if k := keys[i]; on[k] && !seen[k] {
				seen[k] = true
				out.Suppressed = append(out.Suppressed, outdial.WrittenAddress(a))
			}
		}
		return http.StatusOK, out, nil
	})
}

// Delete handles POST /v1.0/suppressions/delete with {"addresses":[...]}.
func (h *Handler) Delete(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return routes.Respond(ctx, h.Log, req, func(customerID string) (int, any, error) {
		list, err := readAddresses(req)
		if err != nil {
			return 0, nil, err
		}
		keys := make([]string, len(list))
		for i, a := range list {
			keys[i] = a.Key()
		}
		n, err := h.Store.DeleteSuppressions(ctx, customerID, keys)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, DeleteResponse{Deleted: n}, nil
	})
}

// normalizer returns the address normaliser of req: its default_region
// query parameter, read as add-targets reads it.
func normalizer(req apigw.Request) (destination.Normalizer, error) {
	region, err := destination.NormalizeRegion("default_region", strings.TrimSpace(req.QueryStringParameters["default_region"]))
	return destination.Normalizer{DefaultRegion: region}, err
}

// readAddresses reads the JSON body {"addresses":[...]} of check and
// delete and normalises every address; the first invalid one fails the
// request with invalid_field on addresses[i].
func readAddresses(req apigw.Request) ([]outdial.Address, error) {
	addresses, err := normalizer(req)
	if err != nil {
		return nil, err
	}
	body, err := apigw.Body(req, MaxBody)
	if err != nil {
		return nil, err
	}
	switch mediaType(apigw.Header(req, "Content-Type")) {
	case "application/json", "", "text/plain", "application/x-www-form-urlencoded":
	default:
		return nil, outdial.Errorf(outdial.ECodeUnsupportedMedia, "Content-Type: send application/json")
	}
	entries, err := readJSON(body)
	if err != nil {
		return nil, err
	}
	out := make([]outdial.Address, len(entries))
	for i, e := range entries {
		a, err := e.normalize(addresses)
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// entry is one address of a request before normalisation: a written
// address (typ empty), the target of a CSV tel, sip or email column (typ
// set), or a CSV row rejected as a whole (err set).
type entry struct {
	index int    // position in the JSON array, or CSV data row from 0
	line  int    // CSV line (1-based), 0 for JSON
	field string // names the entry in errors: addresses[i], or the CSV column
	sent  string // as sent
	typ   string
	err   *outdial.Error
}

// normalize returns the normalised address of e, or why it is not one:
// an *outdial.Error with code invalid_field (missing_field for an empty
// CSV row) on e.field, whose message never repeats the address.
func (e *entry) normalize(n destination.Normalizer) (outdial.Address, *outdial.Error) {
	if e.err != nil {
		return outdial.Address{}, e.err
	}
	a := outdial.Address{Type: e.typ, Target: e.sent}
	if e.typ == "" {
		var err error
		if a, err = outdial.ParseWrittenAddress(e.field, e.sent); err != nil {
			return outdial.Address{}, refield(e.field, err)
		}
	}
	norm, err := n.NormalizeAddress(e.field, a)
	if err != nil {
		return outdial.Address{}, refield(e.field, err)
	}
	return norm, nil
}

// refield returns err as an invalid_field error on field: the normaliser
// names field+".type" or field+".target", but an address here is one
// string.
func refield(field string, err error) *outdial.Error {
	msg := "is not a valid address"
	if e, ok := err.(*outdial.Error); ok {
		msg = e.Message
		if e.Field != "" {
			msg = strings.TrimPrefix(msg, e.Field+": ")
		}
	}
	return outdial.FieldErrorf(outdial.ECodeInvalidField, field, "%s", msg)
}

// tooMany is the error of a request with more than
// outdial.MaxSuppressionsPerRequest addresses.
func tooMany(n string) error {
	return outdial.FieldErrorf(outdial.ECodeInvalidField, "addresses", "at most %d addresses per request, got %s", outdial.MaxSuppressionsPerRequest, n)
}

func noAddresses() error {
	return outdial.FieldErrorf(outdial.ECodeMissingField, "addresses", "at least one address is required")
}

func itemField(i int) string { return fmt.Sprintf("addresses[%d]", i) }
