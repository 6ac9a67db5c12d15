package routes

import (
	"bytes"
	"context"
	"net/http"

	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/strictjson"
)

// ArchiveOutdial handles POST /v1.0/outdials/{id}/archive: the outdial
// keeps its targets and counts, readable, but takes no new targets and
// hands none out. Archiving an archived outdial changes nothing.
func (h *Handlers) ArchiveOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.setArchived(ctx, req, true)
}

// RestoreOutdial handles DELETE /v1.0/outdials/{id}/archive: the outdial
// is active again. Restoring an active outdial changes nothing.
func (h *Handlers) RestoreOutdial(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return h.setArchived(ctx, req, false)
}

func (h *Handlers) setArchived(ctx context.Context, req apigw.Request, archived bool) (apigw.Response, error) {
	return h.respond(ctx, req, func(customerID string) (int, any, error) {
		id, err := apigw.PathID(req, "id")
		if err != nil {
			return 0, nil, err
		}
		// No field is accepted: an empty body or {}.
		body, err := apigw.Body(req, MaxOutdialBody)
		if err != nil {
			return 0, nil, err
		}
		if len(bytes.TrimSpace(body)) > 0 {
			if err := strictjson.Decode(body, &struct{}{}); err != nil {
				return 0, nil, err
			}
		}
		o, err := h.Store.SetArchived(ctx, customerID, id, archived)
		return http.StatusOK, o, err
	})
}
