package routes

import (
	"context"
	"net/http"

	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
)

// ListTargets handles GET
// /v1.0/outdials/{id}/targets?page_size=&page_token=&status=&reason=.
func (h *Handlers) ListTargets(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.respond(ctx, req, func(customerID string) (int, any, error) {
		outdialID, err := apigw.PathID(req, "id")
		if err != nil {
			return 0, nil, err
		}
		var f outdial.TargetFilter
		if v := req.QueryStringParameters["status"]; v != "" {
			if f.Status, err = outdial.ParseStatus("status", v); err != nil {
				return 0, nil, err
			}
		}
		if v := req.QueryStringParameters["reason"]; v != "" {
			if f.Reason, err = outdial.ParseReason("reason", v); err != nil {
				return 0, nil, err
			}
		}
		scope := "targets/" + outdialID + "/" + string(f.Status) + "/" + string(f.Reason)
		page, err := h.Pages.PageParams(req, customerID, scope)
		if err != nil {
			return 0, nil, err
		}
		list, next := []*outdial.Target{}, ""
		if f.Conflicting() {
			// Nothing can match, but the outdial must still be the customer's.
			_, err := h.Store.GetOutdial(ctx, customerID, outdialID)
			return http.StatusOK, apigw.List[*outdial.Target]{Result: list}, err
		}
		if !page.End {
			if list, next, err = h.Store.ListTargets(ctx, customerID, outdialID, f, page); err != nil {
				return 0, nil, err
			}
		}
		if list == nil {
			list = []*outdial.Target{}
		}
		return http.StatusOK, apigw.List[*outdial.Target]{Result: list, NextPageToken: h.Pages.Next(customerID, scope, next, len(list))}, nil
	})
}

// GetTarget handles GET /v1.0/outdials/{id}/targets/{target_id}.
func (h *Handlers) GetTarget(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.respond(ctx, req, func(customerID string) (int, any, error) {
		outdialID, targetID, err := targetPath(req)
		if err != nil {
			return 0, nil, err
		}
		t, err := h.Store.GetTarget(ctx, customerID, outdialID, targetID)
		return http.StatusOK, t, err
	})
}

// DeleteTarget handles DELETE /v1.0/outdials/{id}/targets/{target_id}.
func (h *Handlers) DeleteTarget(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.respond(ctx, req, func(customerID string) (int, any, error) {
		outdialID, targetID, err := targetPath(req)
		if err != nil {
			return 0, nil, err
		}
		t, err := h.Store.DeleteTarget(ctx, customerID, outdialID, targetID)
		return http.StatusOK, t, err
	})
}

func targetPath(req apigw.Request) (string, string, error) {
	outdialID, err := apigw.PathID(req, "id")
	if err != nil {
		return "", "", err
	}
	targetID, err := apigw.PathID(req, "target_id")
	if err != nil {
		return "", "", err
	}
	return outdialID, targetID, nil
}
