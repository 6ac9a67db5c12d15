package routes

import (
	"context"
	"net/http"

	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/strictjson"
)

// deleteTargetsBody is the body of POST /v1.0/outdials/{id}/targets/delete.
type deleteTargetsBody struct {
	Status *string `json:"status"`
	Reason *string `json:"reason"`
}

// deleteTargetsAnswer is its answer: how many targets were deleted, and
// whether matching targets may be left (the call stopped before its
// deadline; call again).
type deleteTargetsAnswer struct {
	Deleted int  `json:"deleted"`
	More    bool `json:"more"`
}

// DeleteTargets handles POST /v1.0/outdials/{id}/targets/delete: it
// deletes the outdial's targets in a status ({"status":"failed"}), with a
// reason ({"reason":"suppressed"}) or both, and the counts follow.
func (h *Handlers) DeleteTargets(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.respond(ctx, req, func(customerID string) (int, any, error) {
		outdialID, err := apigw.PathID(req, "id")
		if err != nil {
			return 0, nil, err
		}
		body, err := apigw.Body(req, MaxOutdialBody)
		if err != nil {
			return 0, nil, err
		}
		var in deleteTargetsBody
		if err := strictjson.Decode(body, &in); err != nil {
			return 0, nil, err
		}
		var f outdial.TargetFilter
		if in.Status != nil {
			if f.Status, err = outdial.ParseStatus("status", *in.Status); err != nil {
				return 0, nil, fieldError(err)
			}
		}
		if in.Reason != nil {
			if f.Reason, err = outdial.ParseReason("reason", *in.Reason); err != nil {
				return 0, nil, fieldError(err)
			}
		}
		if f == (outdial.TargetFilter{}) {
			return 0, nil, outdial.FieldErrorf(outdial.ECodeMissingField, "status", "is required (or reason): say which targets to delete")
		}
		if f.Conflicting() {
			return http.StatusOK, deleteTargetsAnswer{}, h.mustExist(ctx, customerID, outdialID)
		}
		n, more, err := h.Store.DeleteTargets(ctx, customerID, outdialID, f)
		return http.StatusOK, deleteTargetsAnswer{Deleted: n, More: more}, err
	})
}

// fieldError turns a query-parameter error of a parse helper into the
// body-field error it is here.
func fieldError(err error) error {
	if e, ok := err.(*outdial.Error); ok && e.Code == outdial.ECodeInvalidQuery {
		return &outdial.Error{Code: outdial.ECodeInvalidField, Field: e.Field, Message: e.Message}
	}
	return err
}

// mustExist answers the outdial's 404 when it is not the customer's.
func (h *Handlers) mustExist(ctx context.Context, customerID, outdialID string) error {
	_, err := h.Store.GetOutdial(ctx, customerID, outdialID)
	return err
}
