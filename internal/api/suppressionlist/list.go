// Package suppressionlist holds the handler of GET /v1.0/suppressions. It
// is apart from package suppressions, whose handlers normalise addresses
// and so link libphonenumber: a page of the list is read as stored, and
// list-suppressions stays as small as the other routes.
package suppressionlist

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/outdial/outdial/internal/api/routes"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
)

// Lister is the part of the store the handler reads.
type Lister interface {
	ListSuppressions(ctx context.Context, customerID string, p outdial.Page) ([]outdial.Suppression, string, error)
}

// Handler is GET /v1.0/suppressions; build it once at init.
type Handler struct {
	Store Lister
	Pages *apigw.PageTokens // page tokens are sealed with it
	Log   *slog.Logger
}

// Scope is the page-token scope of the list.
const Scope = "suppressions"

// List handles GET /v1.0/suppressions?page_size=&page_token=. The order is
// the store's: by bucket (a hash of the address), then by address.
func (h *Handler) List(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return routes.Respond(ctx, h.Log, req, func(customerID string) (int, any, error) {
		page, err := h.Pages.PageParams(req, customerID, Scope)
		if err != nil {
			return 0, nil, err
		}
		list, next := []outdial.Suppression{}, ""
		if !page.End {
			if list, next, err = h.Store.ListSuppressions(ctx, customerID, page); err != nil {
				return 0, nil, err
			}
		}
		if list == nil {
			list = []outdial.Suppression{}
		}
		return http.StatusOK, apigw.List[outdial.Suppression]{Result: list, NextPageToken: h.Pages.Next(customerID, Scope, next, len(list))}, nil
	})
}
