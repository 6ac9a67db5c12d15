// Package webhook is the customer's webhook (issue 15): its configuration,
// the rules for its URI, the signature of each delivery and the delivery
// itself over an HTTP client that refuses private addresses.
package webhook

import (
	"context"
	"slices"
	"time"

	"github.com/outdial/outdial/internal/events"
)

// Config is one customer's webhook.
type Config struct {
	CustomerID string
	URI        string
	EventTypes []events.Type // the types subscribed to; empty: all
	// Secrets sign deliveries: the current one first, then earlier ones
	// still valid (after a rotation, for RotationGrace).
	Secrets  []Secret
	TMCreate time.Time
	TMUpdate time.Time
}

// Secret is one signing secret; Until is zero for the current one.
type Secret struct {
	Value string
	Until time.Time
}

// RotationGrace is how long a rotated-out secret still signs deliveries.
const RotationGrace = 24 * time.Hour

// Wants reports whether the webhook subscribes to t (ping always).
func (c *Config) Wants(t events.Type) bool {
	return t == events.Ping || len(c.EventTypes) == 0 || slices.Contains(c.EventTypes, t)
}

// ValidSecrets returns the secrets that sign a delivery at now, the
// current one first.
func (c *Config) ValidSecrets(now time.Time) []string {
	var out []string
	for _, s := range c.Secrets {
		if s.Until.IsZero() || now.Before(s.Until) {
			out = append(out, s.Value)
		}
	}
	return out
}

// Store keeps webhooks, one per customer. A customer without one gets
// outdial.ErrNotFound("webhook") from Get, Delete and Rotate.
type Store interface {
	// PutWebhook sets the customer's webhook URI and event types, keeping
	// its current secret or making one when it has none.
	PutWebhook(ctx context.Context, customerID, uri string, types []events.Type) (*Config, error)
	GetWebhook(ctx context.Context, customerID string) (*Config, error)
	DeleteWebhook(ctx context.Context, customerID string) error
	// RotateWebhook makes a new current secret; the old one stays valid
	// for RotationGrace.
	RotateWebhook(ctx context.Context, customerID string) (*Config, error)
}

// Enqueuer queues a delivery for the deliver-webhooks function.
type Enqueuer interface {
	Enqueue(ctx context.Context, d events.Delivery) error
}
