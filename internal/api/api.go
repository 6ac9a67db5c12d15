// Package api gathers every HTTP route of the outdials and their targets
// in one value, Handlers, for the tests and tools (cmd/bench) that drive
// several routes at once; the suppression-list routes (package
// api/suppressions) have no method here. No Lambda function imports it:
// each functions/<name>/main.go builds only its own route's handler, from
// package routes, or for add-targets from package targetimport, which
// links libphonenumber (as package suppressions does). Each handler always
// returns a nil error and an HTTP response: a returned error would become
// a 502 at API Gateway.
package api

import (
	"context"

	"github.com/outdial/outdial/internal/api/routes"
	"github.com/outdial/outdial/internal/api/targetimport"
	"github.com/outdial/outdial/internal/apigw"
)

// Handlers carries what the routes need: routes.Handlers' fields (Store,
// Pages, Log, Now, Purges), with a method for every route.
type Handlers routes.Handlers

// Purger queues the removal of a deleted outdial's target items.
type Purger = routes.Purger

// The response body of POST /v1.0/outdials/{id}/targets with a batch.
type (
	ImportResponse = targetimport.ImportResponse
	CreatedRef     = targetimport.CreatedRef
)

// Body limits of the routes.
const (
	MaxOutdialBody = routes.MaxOutdialBody
	MaxImportBody  = targetimport.MaxImportBody
)

func (h *Handlers) routes() *routes.Handlers { return (*routes.Handlers)(h) }

// CreateOutdial handles POST /v1.0/outdials.
func (h *Handlers) CreateOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().CreateOutdial(ctx, req)
}

// ListOutdials handles GET /v1.0/outdials.
func (h *Handlers) ListOutdials(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().ListOutdials(ctx, req)
}

// GetOutdial handles GET /v1.0/outdials/{id}.
func (h *Handlers) GetOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().GetOutdial(ctx, req)
}

// UpdateOutdial handles PUT /v1.0/outdials/{id}.
func (h *Handlers) UpdateOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().UpdateOutdial(ctx, req)
}

// UpdateOutdialCampaign handles PUT /v1.0/outdials/{id}/campaign_id.
func (h *Handlers) UpdateOutdialCampaign(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().UpdateOutdialCampaign(ctx, req)
}

// UpdateOutdialData handles PUT /v1.0/outdials/{id}/data.
func (h *Handlers) UpdateOutdialData(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().UpdateOutdialData(ctx, req)
}

// DeleteOutdial handles DELETE /v1.0/outdials/{id}.
func (h *Handlers) DeleteOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().DeleteOutdial(ctx, req)
}

// ArchiveOutdial handles POST /v1.0/outdials/{id}/archive.
func (h *Handlers) ArchiveOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().ArchiveOutdial(ctx, req)
}

// RestoreOutdial handles DELETE /v1.0/outdials/{id}/archive.
func (h *Handlers) RestoreOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().RestoreOutdial(ctx, req)
}

// AddTargets handles POST /v1.0/outdials/{id}/targets (JSON or CSV).
func (h *Handlers) AddTargets(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return (&targetimport.Handler{Store: h.Store, Log: h.Log}).AddTargets(ctx, req)
}

// ListTargets handles GET /v1.0/outdials/{id}/targets.
func (h *Handlers) ListTargets(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().ListTargets(ctx, req)
}

// GetTarget handles GET /v1.0/outdials/{id}/targets/{target_id}.
func (h *Handlers) GetTarget(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().GetTarget(ctx, req)
}

// DeleteTarget handles DELETE /v1.0/outdials/{id}/targets/{target_id}.
func (h *Handlers) DeleteTarget(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().DeleteTarget(ctx, req)
}

// DeleteTargets handles POST /v1.0/outdials/{id}/targets/delete.
func (h *Handlers) DeleteTargets(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().DeleteTargets(ctx, req)
}

// ClaimTargets handles POST /v1.0/outdials/{id}/targets/claim.
func (h *Handlers) ClaimTargets(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.routes().ClaimTargets(ctx, req)
}
