package routes

import (
	"context"
	"net/http"
	"time"

	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/strictjson"
)

// claimBody is the body of POST /v1.0/outdials/{id}/targets/claim.
type claimBody struct {
	Limit        *int `json:"limit"`
	LeaseSeconds *int `json:"lease_seconds"`
}

// ClaimTargets handles POST /v1.0/outdials/{id}/targets/claim: up to limit
// due targets move to dialing under a lease and are returned, each with its
// attempt_id and the destination to dial now.
func (h *Handlers) ClaimTargets(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.respond(ctx, req, func(customerID string) (int, any, error) {
		outdialID, err := apigw.PathID(req, "id")
		if err != nil {
			return 0, nil, err
		}
		body, err := apigw.Body(req, MaxOutdialBody)
		if err != nil {
			return 0, nil, err
		}
		in := claimBody{}
		if len(body) > 0 {
			if err := strictjson.Decode(body, &in); err != nil {
				return 0, nil, err
			}
		}
		limit, lease := outdial.DefaultClaimLimit, outdial.DefaultLease
		if in.Limit != nil {
			if *in.Limit < 1 || *in.Limit > outdial.MaxClaimLimit {
				return 0, nil, outdial.FieldErrorf(outdial.ECodeInvalidField, "limit", "must be between 1 and %d, got %d", outdial.MaxClaimLimit, *in.Limit)
			}
			limit = *in.Limit
		}
		if in.LeaseSeconds != nil {
			l := time.Duration(*in.LeaseSeconds) * time.Second
			if l < outdial.MinLease || l > outdial.MaxLease {
				return 0, nil, outdial.FieldErrorf(outdial.ECodeInvalidField, "lease_seconds", "must be between %d and %d, got %d",
					int(outdial.MinLease.Seconds()), int(outdial.MaxLease.Seconds()), *in.LeaseSeconds)
			}
			lease = l
		}
		claims, err := h.Store.ClaimTargets(ctx, customerID, outdialID, limit, lease)
		if err != nil {
			return 0, nil, err
		}
		if claims == nil {
			claims = []*outdial.Claim{}
		}
		return http.StatusOK, struct {
			Result []*outdial.Claim `json:"result"`
		}{claims}, nil
	})
}
