// Package events is what the service pushes to a customer's webhook (issue
// 15): VoIPBIN-style events made from the table's stream (publish-events)
// and the deliveries that carry them to the deliver-webhooks function.
package events

import (
	"encoding/json"

	"github.com/outdial/outdial/internal/outdial"
)

// Type names an event.
type Type string

// Event types. Data is the resource as the API shows it.
const (
	OutdialCreated       Type = "outdial_created"
	OutdialUpdated       Type = "outdial_updated" // its own fields changed, not its counts
	OutdialDeleted       Type = "outdial_deleted"
	OutdialCompleted     Type = "outdial_completed" // nothing idle, dialing or waiting for a retry is left; data carries the final counts
	TargetCreated        Type = "outdial_target_created"
	TargetUpdated        Type = "outdial_target_updated"
	TargetDeleted        Type = "outdial_target_deleted"
	Ping                 Type = "ping" // POST /v1.0/webhook/test
	MaxEventsPerDelivery      = 100
	MaxDeliveryBytes          = 256 * 1024 // of the body POSTed to the webhook
)

// Types are the types a webhook may subscribe to (every one but ping,
// which is always delivered).
var Types = []Type{OutdialCreated, OutdialUpdated, OutdialDeleted, OutdialCompleted, TargetCreated, TargetUpdated, TargetDeleted}

// ParseType checks s names a subscribable type.
func ParseType(field, s string) (Type, error) {
	for _, t := range Types {
		if string(t) == s {
			return t, nil
		}
	}
	return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be one of outdial_created, outdial_updated, outdial_deleted, outdial_completed, outdial_target_created, outdial_target_updated, outdial_target_deleted")
}

// Event is one event as the webhook receives it. ID is unique per event
// and stable across redeliveries (receivers dedupe on it).
type Event struct {
	ID   string          `json:"id"`
	Type Type            `json:"type"`
	TM   outdial.Time    `json:"tm"`
	Data json.RawMessage `json:"data"`
}

// Delivery is one message of the delivery queue: events of one customer,
// in order, at most MaxEventsPerDelivery and MaxDeliveryBytes once
// encoded as the webhook body {"events":[...]}.
type Delivery struct {
	CustomerID string  `json:"customer_id"`
	Events     []Event `json:"events"`
	// FirstTry is when the delivery was queued (Unix ms); retries stop
	// once the retry window has passed since.
	FirstTry int64 `json:"first_try"`
}

// Body is the body POSTed to the webhook.
type Body struct {
	Events []Event `json:"events"`
}

// Cut splits items, in order, into runs of at most MaxEventsPerDelivery
// events whose encoding as a JSON array, plus overhead bytes, is at most
// MaxDeliveryBytes; overhead is the encoding of the message around the
// array with the array empty ("[]" included). A run also ends where
// apart(previous, next) is true (nil: nowhere). An item whose event fits
// in no run is passed to drop (none does: the text fields are bounded far
// below).
func Cut[T any](items []T, event func(T) Event, overhead int, apart func(prev, next T) bool, drop func(item T, size int)) [][]T {
	var out [][]T
	var cur []T
	size := overhead
	for _, it := range items {
		enc, err := json.Marshal(event(it))
		if err != nil || overhead+len(enc) > MaxDeliveryBytes {
			drop(it, len(enc))
			continue
		}
		n := len(enc)
		if len(cur) > 0 {
			n++ // the comma
		}
		if len(cur) > 0 && (len(cur) == MaxEventsPerDelivery || size+n > MaxDeliveryBytes || (apart != nil && apart(cur[len(cur)-1], it))) {
			out = append(out, cur)
			cur, size, n = nil, overhead, len(enc)
		}
		cur = append(cur, it)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}
