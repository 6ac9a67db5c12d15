// Package targetimport handles POST /v1.0/outdials/{id}/targets, the
// add-targets function: targets in JSON (a batch or one target) or CSV
// (package csvimport), each validated with its destinations normalised by
// package destination. It is apart from the other routes (package routes)
// because destination normalisation links libphonenumber, which only this
// function needs.
package targetimport

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strings"

	"github.com/outdial/outdial/internal/api/routes"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/csvimport"
	"github.com/outdial/outdial/internal/destination"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/strictjson"
)

// Handler is the add-targets function's handler; build it once at init.
type Handler struct {
	Store outdial.Store
	Log   *slog.Logger
}

// MaxImportBody bounds the body of POST .../targets: 10 000 targets in JSON
// or CSV fit, and the event stays under Lambda's 6 MB invocation limit.
const MaxImportBody = 5 << 20

// ImportResponse answers a batch import.
type ImportResponse struct {
	Created          int                    `json:"created"`
	Duplicates       int                    `json:"duplicates"`
	Rejected         int                    `json:"rejected"`
	CreatedTargets   []CreatedRef           `json:"created_targets"`
	DuplicateTargets []outdial.Duplicate    `json:"duplicate_targets"`
	RejectedTargets  []outdial.RejectedItem `json:"rejected_targets"`
}

// CreatedRef names one created target by its row.
type CreatedRef struct {
	Index    int    `json:"index"`
	Line     int    `json:"line,omitempty"`
	TargetID string `json:"target_id"`
}

// AddTargets handles POST /v1.0/outdials/{id}/targets. The body is
// {"targets":[...]} (a batch), one target object (VoIPBIN's form, answered
// with the target), or CSV (Content-Type: text/csv).
func (h *Handler) AddTargets(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return routes.Respond(ctx, h.Log, req, func(customerID string) (int, any, error) {
		// Parse the outdial id and the query.
		outdialID, err := apigw.PathID(req, "id")
		if err != nil {
			return 0, nil, err
		}
		region, err := destination.NormalizeRegion("default_region", strings.TrimSpace(req.QueryStringParameters["default_region"]))
		if err != nil {
			return 0, nil, err
		}
		body, err := apigw.Body(req, MaxImportBody)
		if err != nil {
			return 0, nil, err
		}

		// Decode the rows.
		var rows []row
		single := false
		switch mediaType(apigw.Header(req, "Content-Type")) {
		case "text/csv", "application/csv":
			rows, err = csvRows(body)
		case "application/json", "", "text/plain", "application/x-www-form-urlencoded":
			// curl --data sends form-urlencoded unless told otherwise;
			// the body is read as JSON all the same.
			rows, single, err = jsonRows(body)
		default:
			err = outdial.Errorf(outdial.ECodeUnsupportedMedia, "Content-Type: send application/json or text/csv")
		}
		if err != nil {
			return 0, nil, err
		}
		if len(rows) > outdial.MaxTargetsPerRequest {
			return 0, nil, outdial.Errorf(outdial.ECodeBodyTooLarge, "targets: at most %d targets per request, got %d", outdial.MaxTargetsPerRequest, len(rows))
		}

		// Validate every row; valid ones go to the store.
		addresses := destination.Normalizer{DefaultRegion: region}
		var (
			valid    []*outdial.NewTarget
			validIdx []int
			rejected []outdial.RejectedItem
		)
		for i := range rows {
			r := &rows[i]
			if r.err == nil {
				nt, err := r.target.Validate(addresses)
				if err == nil {
					valid = append(valid, nt)
					validIdx = append(validIdx, i)
					continue
				}
				r.err = asError(err)
			}
			rejected = append(rejected, outdial.RejectedItem{Index: i, Line: r.line, Code: r.err.Code, Field: r.err.Field, Message: r.err.Message})
		}
		if single && len(rejected) > 0 {
			return 0, nil, rows[0].err
		}

		// The zones of the numbers (calling windows), worked out once here
		// so that claims need no phone-number library; then the
		// suppression list: suppressed destinations are dropped, and a
		// row with none left is rejected.
		for _, nt := range valid {
			if nt.Timezone != "" {
				continue
			}
			for i := range nt.Destinations {
				nt.Destinations[i].Timezones = destination.TimezonesOf(nt.Destinations[i].Address())
			}
		}
		if valid, validIdx, rejected, err = h.dropSuppressed(ctx, customerID, valid, validIdx, rejected, rows); err != nil {
			return 0, nil, err
		}
		if single && len(rejected) > 0 {
			r := rejected[0]
			return 0, nil, &outdial.Error{Code: r.Code, Field: r.Field, Message: r.Message}
		}
		if len(rows) == 0 {
			return 0, nil, outdial.FieldErrorf(outdial.ECodeMissingField, "targets", "at least one target is required")
		}
		var res *outdial.ImportResult
		if len(valid) > 0 {
			res, err = h.Store.AddTargets(ctx, customerID, outdialID, req.RequestContext.RequestID, valid)
			if err != nil {
				return 0, nil, err
			}
		} else {
			if err := h.outdialMustExist(ctx, customerID, outdialID); err != nil {
				return 0, nil, err
			}
			res = &outdial.ImportResult{}
		}

		// Answer: the target itself for the single form (the existing one
		// for a duplicate, so a retry reads like the first call).
		if single {
			if len(res.Created) == 1 {
				return http.StatusOK, res.Created[0].Target, nil
			}
			t, err := h.Store.GetTarget(ctx, customerID, outdialID, res.Duplicates[0].TargetID)
			return http.StatusOK, t, err
		}
		out := ImportResponse{
			Created: len(res.Created), Duplicates: len(res.Duplicates), Rejected: len(rejected),
			CreatedTargets: []CreatedRef{}, DuplicateTargets: []outdial.Duplicate{}, RejectedTargets: rejected,
		}
		if out.RejectedTargets == nil {
			out.RejectedTargets = []outdial.RejectedItem{}
		}
		for _, c := range res.Created {
			i := validIdx[c.Index]
			out.CreatedTargets = append(out.CreatedTargets, CreatedRef{Index: i, Line: rows[i].line, TargetID: c.Target.ID})
		}
		for _, d := range res.Duplicates {
			d.Index = validIdx[d.Index]
			d.Line = rows[d.Index].line
			out.DuplicateTargets = append(out.DuplicateTargets, d)
		}
		return http.StatusOK, out, nil
	})
}

// dropSuppressed removes the destinations on the customer's suppression
// list from valid (one batched read), and moves the targets left with none
// to rejected (code suppressed), keeping rejected in row order.
func (h *Handler) dropSuppressed(ctx context.Context, customerID string, valid []*outdial.NewTarget, validIdx []int, rejected []outdial.RejectedItem, rows []row) ([]*outdial.NewTarget, []int, []outdial.RejectedItem, error) {
	seen := map[string]bool{}
	var keys []string
	for _, nt := range valid {
		for _, d := range nt.Destinations {
			if k := d.Address().Key(); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return valid, validIdx, rejected, nil
	}
	suppressed, err := h.Store.Suppressed(ctx, customerID, keys)
	if err != nil || len(suppressed) == 0 {
		return valid, validIdx, rejected, err
	}
	var keep []*outdial.NewTarget
	var keepIdx []int
	added := false
	for j, nt := range valid {
		if nt.DropDestinations(func(_ int, d outdial.TargetDestination) bool { return suppressed[d.Address().Key()] }) {
			keep = append(keep, nt)
			keepIdx = append(keepIdx, validIdx[j])
			continue
		}
		i := validIdx[j]
		rejected = append(rejected, outdial.RejectedItem{
			Index: i, Line: rows[i].line, Code: outdial.ECodeSuppressed, Field: "destination",
			Message: "destination: every destination of this target is on the customer's suppression list",
		})
		added = true
	}
	if added {
		sort.Slice(rejected, func(a, b int) bool { return rejected[a].Index < rejected[b].Index })
	}
	return keep, keepIdx, rejected, nil
}

// outdialMustExist answers 404 for an import whose rows were all rejected
// into an outdial that is not the customer's.
func (h *Handler) outdialMustExist(ctx context.Context, customerID, outdialID string) error {
	o, err := h.Store.GetOutdial(ctx, customerID, outdialID)
	if err == nil && o.Archived {
		return outdial.Errorf(outdial.ECodeArchived, "the outdial is archived: it takes no new targets; restore it with DELETE /v1.0/outdials/{id}/archive")
	}
	return err
}

// row is one target of an import before validation.
type row struct {
	line   int
	target outdial.TargetCreate
	err    *outdial.Error
}

func mediaType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "invalid"
	}
	return strings.ToLower(mt)
}

func csvRows(body []byte) ([]row, error) {
	parsed, err := csvimport.Parse(bytes.NewReader(body), outdial.MaxTargetsPerRequest)
	if err != nil {
		return nil, err
	}
	rows := make([]row, len(parsed))
	for i, p := range parsed {
		rows[i] = row{line: p.Line, target: p.Target, err: p.Err}
	}
	return rows, nil
}

// jsonRows reads {"targets":[...]} or a single target object. Each entry of
// targets is decoded on its own so that one bad row rejects only itself.
func jsonRows(body []byte) ([]row, bool, error) {
	var probe map[string]json.RawMessage
	if err := strictjson.Decode(body, &probe); err != nil {
		return nil, false, err
	}
	raw, batch := probe["targets"]
	if !batch {
		var t outdial.TargetCreate
		if err := strictjson.Decode(body, &t); err != nil {
			return nil, false, err
		}
		return []row{{target: t}}, true, nil
	}
	if len(probe) != 1 {
		for k := range probe {
			if k != "targets" {
				return nil, false, outdial.FieldErrorf(outdial.ECodeUnknownField, k, "is not a field this request accepts (send {\"targets\": [...]})")
			}
		}
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, false, outdial.FieldErrorf(outdial.ECodeInvalidField, "targets", "must be an array of target objects")
	}
	if len(entries) > outdial.MaxTargetsPerRequest {
		return nil, false, outdial.Errorf(outdial.ECodeBodyTooLarge, "targets: at most %d targets per request, got %d", outdial.MaxTargetsPerRequest, len(entries))
	}
	rows := make([]row, len(entries))
	for i, e := range entries {
		if err := strictjson.Decode(e, &rows[i].target); err != nil {
			rows[i].err = asError(err)
		}
	}
	return rows, false, nil
}

func asError(err error) *outdial.Error {
	if e, ok := err.(*outdial.Error); ok {
		return e
	}
	return &outdial.Error{Code: outdial.ECodeInvalidField, Message: err.Error()}
}
