// Package routes holds the HTTP handlers of the service, one method of
// Handlers per Lambda function behind API Gateway, but for POST
// /v1.0/outdials/{id}/targets: that one is package targetimport's, the only
// route that normalises destinations (and so links libphonenumber). Each
// handler always returns a nil error and an HTTP response: a returned
// error would become a 502 at API Gateway.
package routes

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/strictjson"
)

// MaxOutdialBody bounds the body of the outdial routes (data is ≤ 16 KiB).
const MaxOutdialBody = 64 * 1024

// Handlers carries what every handler needs; build it once at init.
type Handlers struct {
	Store  outdial.Store
	Pages  *apigw.PageTokens
	Log    *slog.Logger
	Now    func() time.Time
	Purges Purger // the queue that removes a deleted outdial's targets
}

// Purger queues the removal of a deleted outdial's target items.
type Purger interface {
	Enqueue(ctx context.Context, customerID, outdialID string) error
}

// respond runs fn and answers its result, or its error in the envelope.
func (h *Handlers) respond(ctx context.Context, req apigw.Request, fn func(customerID string) (int, any, error)) (apigw.Response, error) {
	return Respond(ctx, h.Log, req, fn)
}

// Respond is the frame of every handler: it takes the customer id from the
// authorizer's context, runs fn with it and answers fn's status and value
// as JSON, or its error in the error envelope (logged with log when it is
// internal). It always returns a nil error.
func Respond(ctx context.Context, log *slog.Logger, req apigw.Request, fn func(customerID string) (int, any, error)) (apigw.Response, error) {
	customerID, err := apigw.CustomerID(req)
	if err != nil {
		return apigw.Error(ctx, log, req, err), nil
	}
	status, v, err := fn(customerID)
	if err != nil {
		return apigw.Error(ctx, log, req, err), nil
	}
	return apigw.JSON(status, v), nil
}

// CreateOutdial handles POST /v1.0/outdials.
func (h *Handlers) CreateOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.respond(ctx, req, func(customerID string) (int, any, error) {
		// Decode and validate the body.
		body, err := apigw.Body(req, MaxOutdialBody)
		if err != nil {
			return 0, nil, err
		}
		var in outdial.OutdialCreate
		if err := strictjson.Decode(body, &in); err != nil {
			return 0, nil, err
		}
		if err := in.Validate(); err != nil {
			return 0, nil, err
		}

		// Build the outdial; ids are UUIDv7 so that listing by key is
		// listing by creation time.
		id, err := uuid.NewV7()
		if err != nil {
			return 0, nil, err
		}
		now := outdial.Time{Time: h.Now().UTC()}
		o := &outdial.Outdial{
			ID: id.String(), CustomerID: customerID, CampaignID: in.CampaignID,
			Name: in.Name, Detail: in.Detail, Data: in.DataText(),
			RetryPolicy: outdial.DefaultRetryPolicy(), CallingWindow: in.CallingWindow,
			TMCreate: now, TMUpdate: now,
		}
		if err := h.Store.CreateOutdial(ctx, o); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, o, nil
	})
}

// ListOutdials handles GET /v1.0/outdials: the active outdials, or with
// ?archived=true the archived ones.
func (h *Handlers) ListOutdials(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.respond(ctx, req, func(customerID string) (int, any, error) {
		archived := false
		switch v := req.QueryStringParameters["archived"]; v {
		case "", "false":
		case "true":
			archived = true
		default:
			return 0, nil, outdial.FieldErrorf(outdial.ECodeInvalidQuery, "archived", "must be true or false, got %q", v)
		}
		scope := "outdials"
		if archived {
			scope = "outdials/archived"
		}
		page, err := h.Pages.PageParams(req, customerID, scope)
		if err != nil {
			return 0, nil, err
		}
		list, next := []*outdial.Outdial{}, ""
		if !page.End {
			if list, next, err = h.Store.ListOutdials(ctx, customerID, archived, page); err != nil {
				return 0, nil, err
			}
		}
		if list == nil {
			list = []*outdial.Outdial{}
		}
		return http.StatusOK, apigw.List[*outdial.Outdial]{Result: list, NextPageToken: h.Pages.Next(customerID, scope, next, len(list))}, nil
	})
}

// GetOutdial handles GET /v1.0/outdials/{id}.
func (h *Handlers) GetOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.respond(ctx, req, func(customerID string) (int, any, error) {
		id, err := apigw.PathID(req, "id")
		if err != nil {
			return 0, nil, err
		}
		o, err := h.Store.GetOutdial(ctx, customerID, id)
		return http.StatusOK, o, err
	})
}

// UpdateOutdial handles PUT /v1.0/outdials/{id}: name, detail,
// retry_policy and calling_window (null removes it); fields left out keep
// their value.
func (h *Handlers) UpdateOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.update(ctx, req, func(body []byte) (*outdial.OutdialUpdate, error) {
		var in struct {
			Name          *string                   `json:"name"`
			Detail        *string                   `json:"detail"`
			RetryPolicy   *outdial.RetryPolicyPatch `json:"retry_policy"`
			CallingWindow *outdial.CallingWindow    `json:"calling_window"`
		}
		if err := strictjson.Decode(body, &in); err != nil {
			return nil, err
		}
		u := &outdial.OutdialUpdate{Name: in.Name, Detail: in.Detail, RetryPolicy: in.RetryPolicy, Window: in.CallingWindow}
		// encoding/json cannot tell an explicit null from an absent field.
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, outdial.Errorf(outdial.ECodeInvalidJSON, "body: must be a JSON object")
		}
		_, u.SetWindow = fields["calling_window"]
		if u.Empty() {
			return nil, outdial.FieldErrorf(outdial.ECodeMissingField, "body", "set at least one of name, detail, retry_policy, calling_window")
		}
		return u, nil
	})
}

// UpdateOutdialCampaign handles PUT /v1.0/outdials/{id}/campaign_id;
// {"campaign_id": null} detaches the outdial from its campaign.
func (h *Handlers) UpdateOutdialCampaign(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.update(ctx, req, func(body []byte) (*outdial.OutdialUpdate, error) {
		// Decode strictly, then look at the raw value: encoding/json
		// cannot tell an explicit null from an absent field.
		var in struct {
			CampaignID json.RawMessage `json:"campaign_id"`
		}
		if err := strictjson.Decode(body, &in); err != nil {
			return nil, err
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, outdial.Errorf(outdial.ECodeInvalidJSON, "body: must be a JSON object")
		}
		raw, ok := fields["campaign_id"]
		if !ok {
			return nil, outdial.FieldErrorf(outdial.ECodeMissingField, "campaign_id", "is required (a UUID, or null to detach)")
		}
		u := &outdial.OutdialUpdate{SetCampaign: true}
		if string(raw) != "null" {
			var id string
			if err := json.Unmarshal(raw, &id); err != nil {
				return nil, outdial.FieldErrorf(outdial.ECodeInvalidField, "campaign_id", "must be a UUID string or null")
			}
			u.CampaignID = &id
		}
		return u, nil
	})
}

// UpdateOutdialData handles PUT /v1.0/outdials/{id}/data; data is text, as
// in VoIPBIN (null or "" clears it).
func (h *Handlers) UpdateOutdialData(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.update(ctx, req, func(body []byte) (*outdial.OutdialUpdate, error) {
		var in struct {
			Data json.RawMessage `json:"data"`
		}
		if err := strictjson.Decode(body, &in); err != nil {
			return nil, err
		}
		if in.Data == nil {
			return nil, outdial.FieldErrorf(outdial.ECodeMissingField, "data", "is required (a string, or null to clear)")
		}
		text, err := outdial.ValidateData("data", in.Data, outdial.MaxOutdialData)
		if err != nil {
			return nil, err
		}
		return &outdial.OutdialUpdate{Data: &text}, nil
	})
}

// update is the shared body of the PUT routes: parse the id, decode the
// body with decode, validate, and apply.
func (h *Handlers) update(ctx context.Context, req apigw.Request, decode func([]byte) (*outdial.OutdialUpdate, error)) (apigw.Response, error) {
	return h.respond(ctx, req, func(customerID string) (int, any, error) {
		id, err := apigw.PathID(req, "id")
		if err != nil {
			return 0, nil, err
		}
		body, err := apigw.Body(req, MaxOutdialBody)
		if err != nil {
			return 0, nil, err
		}
		u, err := decode(body)
		if err != nil {
			return 0, nil, err
		}
		if err := u.Validate(); err != nil {
			return 0, nil, err
		}
		o, err := h.Store.UpdateOutdial(ctx, customerID, id, u)
		return http.StatusOK, o, err
	})
}

// DeleteOutdial handles DELETE /v1.0/outdials/{id} and answers the deleted
// outdial. The outdial and its counts go at once; its targets are purged
// by the purge function. The purge is queued first, after the outdial is
// known to be the customer's: if queueing fails nothing is deleted (503),
// and a purge that runs before the delete waits for it.
func (h *Handlers) DeleteOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.respond(ctx, req, func(customerID string) (int, any, error) {
		id, err := apigw.PathID(req, "id")
		if err != nil {
			return 0, nil, err
		}
		var queuePurge func(*outdial.Outdial) error
		if h.Purges != nil {
			queuePurge = func(*outdial.Outdial) error {
				if err := h.Purges.Enqueue(ctx, customerID, id); err != nil {
					h.Log.ErrorContext(ctx, "queue purge failed", "outdial_id", id, "err", err)
					return outdial.Errorf(outdial.ECodeUnavailable, "could not queue the removal of the targets; nothing was deleted, retry the request")
				}
				return nil
			}
		}
		o, err := h.Store.DeleteOutdial(ctx, customerID, id, queuePurge)
		return http.StatusOK, o, err
	})
}
