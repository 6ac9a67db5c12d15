// Package webhooks holds the handlers of the customer's webhook routes
// (issue 15): PUT, GET and DELETE /v1.0/webhook, POST /v1.0/webhook/rotate
// and POST /v1.0/webhook/test.
//
// The answers are Webhook ({"uri","event_types"}) and, from PUT and rotate
// only, WebhookWithSecret ({"uri","event_types","secret"}): a secret is
// shown when it is made, on PUT (the current one, kept across PUTs) and
// on rotation (the new one), never by GET or DELETE. The handlers never
// log a secret.
//
// event_types: a PUT without it, or with null, subscribes to every type,
// including types added later; the answers then carry "event_types": null.
// A list subscribes to those types only (duplicates removed, the order of
// first appearance kept) and is answered as a list. An empty list is
// refused (invalid_field): it would read as "no event", which is not a
// subscription; leave the field out for all. Answering null rather than
// the list of today's types keeps "all, and tomorrow's too" distinct from
// "these seven".
package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/api/routes"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/strictjson"
	"github.com/outdial/outdial/internal/webhook"
)

// MaxBody bounds the body of the webhook routes: a URI of
// webhook.MaxURILength bytes and every event type fit many times over.
const MaxBody = 16 * 1024

// Handler carries what the webhook handlers need; build it once at init.
type Handler struct {
	Store webhook.Store
	Queue webhook.Enqueuer // the delivery queue (Test)
	Log   *slog.Logger
	// Now is the handlers' clock (the ping's tm and first_try); the store
	// stamps the webhook with its own.
	Now func() time.Time
	// AllowLocal accepts http://127.0.0.1:<port> and http://[::1]:<port>
	// URIs for local receivers (make run); never in production.
	AllowLocal bool
}

// Webhook answers GET and DELETE /v1.0/webhook. EventTypes is null when
// the webhook subscribes to every type.
type Webhook struct {
	URI        string        `json:"uri"`
	EventTypes []events.Type `json:"event_types"`
}

// WebhookWithSecret answers PUT /v1.0/webhook (the current secret) and
// POST /v1.0/webhook/rotate (the new one).
type WebhookWithSecret struct {
	Webhook
	Secret string `json:"secret"`
}

// TestResponse answers POST /v1.0/webhook/test: the ping is queued, and
// will reach the webhook with this event id.
type TestResponse struct {
	Queued  bool   `json:"queued"`
	EventID string `json:"event_id"`
}

// putBody is the body of PUT /v1.0/webhook. Event types are decoded one by
// one so that an entry that is not a string is named.
type putBody struct {
	URI        *string           `json:"uri"`
	EventTypes []json.RawMessage `json:"event_types"`
}

// Put handles PUT /v1.0/webhook {"uri":"https://…","event_types":[…]}: it
// sets the customer's webhook, keeping its secrets when it has one, and
// answers it with its current secret.
func (h *Handler) Put(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return routes.Respond(ctx, h.Log, req, func(customerID string) (int, any, error) {
		body, err := apigw.Body(req, MaxBody)
		if err != nil {
			return 0, nil, err
		}
		var in putBody
		if err := strictjson.Decode(body, &in); err != nil {
			return 0, nil, err
		}
		raw := ""
		if in.URI != nil {
			raw = *in.URI
		}
		uri, err := webhook.ValidateURI("uri", raw, h.AllowLocal)
		if err != nil {
			return 0, nil, err
		}
		types, err := parseTypes(in.EventTypes)
		if err != nil {
			return 0, nil, err
		}
		c, err := h.Store.PutWebhook(ctx, customerID, uri, types)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, withSecret(c), nil
	})
}

// parseTypes checks the event types of a PUT: nil (absent or null) is
// every type; otherwise 1 or more subscribable types, each named
// event_types[i] in errors, returned without repeats.
func parseTypes(raw []json.RawMessage) ([]events.Type, error) {
	if raw == nil {
		return nil, nil
	}
	if len(raw) == 0 {
		return nil, outdial.FieldErrorf(outdial.ECodeInvalidField, "event_types", "must list at least one event type; leave it out (or send null) for every type")
	}
	out := make([]events.Type, 0, len(raw))
	seen := make(map[events.Type]bool, len(raw))
	for i, r := range raw {
		field := fmt.Sprintf("event_types[%d]", i)
		var s string
		if r = bytes.TrimSpace(r); len(r) == 0 || r[0] != '"' || json.Unmarshal(r, &s) != nil {
			return nil, outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be a string such as \"outdial_target_updated\"")
		}
		t, err := events.ParseType(field, s)
		if err != nil {
			return nil, err
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// Get handles GET /v1.0/webhook: the webhook without its secret.
func (h *Handler) Get(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return routes.Respond(ctx, h.Log, req, func(customerID string) (int, any, error) {
		c, err := h.Store.GetWebhook(ctx, customerID)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, view(c), nil
	})
}

// Delete handles DELETE /v1.0/webhook: it removes the webhook and answers
// it as it was (without its secret), or 404 when there is none. The
// webhook is read, then deleted: a PUT between the two is deleted too and
// the answer shows the webhook read. Deliveries already queued are
// dropped by deliver-webhooks, which finds no webhook.
func (h *Handler) Delete(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return routes.Respond(ctx, h.Log, req, func(customerID string) (int, any, error) {
		c, err := h.Store.GetWebhook(ctx, customerID)
		if err != nil {
			return 0, nil, err
		}
		if err := h.Store.DeleteWebhook(ctx, customerID); err != nil {
			return 0, nil, err
		}
		return http.StatusOK, view(c), nil
	})
}

// Rotate handles POST /v1.0/webhook/rotate (an empty body or {}): a new
// current secret, answered; the one before signs deliveries too for
// webhook.RotationGrace.
func (h *Handler) Rotate(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return routes.Respond(ctx, h.Log, req, func(customerID string) (int, any, error) {
		if err := emptyBody(req); err != nil {
			return 0, nil, err
		}
		c, err := h.Store.RotateWebhook(ctx, customerID)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, withSecret(c), nil
	})
}

// pingData is the data of the test event.
var pingData = json.RawMessage(`{"message":"ping"}`)

// Test handles POST /v1.0/webhook/test (an empty body or {}): it queues one
// delivery of one ping event to the customer's webhook and answers 202
// with the event's id; 404 when the customer has no webhook.
func (h *Handler) Test(ctx context.Context, req apigw.Request) (apigw.Response, error) {
	return routes.Respond(ctx, h.Log, req, func(customerID string) (int, any, error) {
		if err := emptyBody(req); err != nil {
			return 0, nil, err
		}
		if _, err := h.Store.GetWebhook(ctx, customerID); err != nil {
			return 0, nil, err
		}
		now := h.Now().UTC()
		ev := events.Event{ID: uuid.NewString(), Type: events.Ping, TM: outdial.Time{Time: now}, Data: pingData}
		if err := h.Queue.Enqueue(ctx, events.Delivery{CustomerID: customerID, Events: []events.Event{ev}, FirstTry: now.UnixMilli()}); err != nil {
			return 0, nil, fmt.Errorf("queue the test delivery: %w", err)
		}
		return http.StatusAccepted, TestResponse{Queued: true, EventID: ev.ID}, nil
	})
}

// emptyBody accepts no field: an empty body or {} (as archive and
// restore).
func emptyBody(req apigw.Request) error {
	body, err := apigw.Body(req, MaxBody)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) > 0 {
		return strictjson.Decode(body, &struct{}{})
	}
	return nil
}

// view is c as answered: no secret, null types for every type.
func view(c *webhook.Config) Webhook {
	w := Webhook{URI: c.URI, EventTypes: c.EventTypes}
	if len(w.EventTypes) == 0 {
		w.EventTypes = nil
	}
	return w
}

// withSecret is c as answered with its current secret: the one without
// an end of validity (the first one, else).
func withSecret(c *webhook.Config) WebhookWithSecret {
	out := WebhookWithSecret{Webhook: view(c)}
	for _, s := range c.Secrets {
		if s.Until.IsZero() {
			out.Secret = s.Value
			break
		}
	}
	if out.Secret == "" && len(c.Secrets) > 0 {
		out.Secret = c.Secrets[0].Value
	}
	return out
}
