package outdial

import (
	"encoding/json"
)

// Limits on targets (README "Limits").
const (
	MaxTargetData        = 4 * 1024 // bytes of compact JSON
	MaxDestinations      = 5        // per target (VoIPBIN's destination_0..4)
	MinTryCount          = 1
	MaxTryCount          = 20
	DefaultTryCountMax   = 3
	MaxTargetsPerRequest = 10000
)

// Status is where a target is in its lifecycle.
type Status string

// Stored statuses. The seed's answered, busy and no_answer are results of
// one attempt (Target.LastResult); after one the target is finished, idle
// again (a retry is scheduled) or failed.
const (
	StatusIdle     Status = "idle"
	StatusDialing  Status = "dialing"
	StatusFinished Status = "finished"
	StatusFailed   Status = "failed"
)

// ParseStatus checks s names a stored status.
func ParseStatus(field, s string) (Status, error) {
	switch st := Status(s); st {
	case StatusIdle, StatusDialing, StatusFinished, StatusFailed:
		return st, nil
	}
	return "", FieldErrorf(ECodeInvalidQuery, field, "must be one of idle, dialing, finished, failed")
}

// Destination types.
const (
	TypeTel   = "tel"
	TypeSIP   = "sip"
	TypeEmail = "email"
)

// Address is one destination: VoIPBIN's CommonAddress (type and target).
type Address struct {
	Type   string `json:"type"`
	Target string `json:"target"`
}

// Key is the normalised form two destinations share when they are the same
// (dedupe key). Call it on normalised addresses only.
func (a Address) Key() string { return a.Type + ":" + a.Target }

// TargetDestination is one destination of a target with its own tries.
type TargetDestination struct {
	Type            string `json:"type"`
	Target          string `json:"target"`
	TryCountMax     int    `json:"try_count_max"`
	TryCountCurrent int    `json:"try_count_current"`
	Exhausted       bool   `json:"exhausted"`
}

// Address returns the destination's address.
func (d TargetDestination) Address() Address { return Address{Type: d.Type, Target: d.Target} }

// TriesLeft reports whether the destination may be dialed again.
func (d TargetDestination) TriesLeft() bool {
	return !d.Exhausted && d.TryCountCurrent < d.TryCountMax
}

// Target is one entry of an outdial.
//
// With several destinations, try_count_max and try_count_current are the
// sums over the destinations, destination is the one dialed now (or last),
// and status is the target's own: idle while any destination has tries
// left, failed when none has, finished when any attempt was answered.
type Target struct {
	ID              string              `json:"id"`
	OutdialID       string              `json:"outdial_id"`
	Name            string              `json:"name"`
	Detail          string              `json:"detail"`
	Data            json.RawMessage     `json:"data"`
	Destination     Address             `json:"destination"`
	Destinations    []TargetDestination `json:"destinations,omitempty"`
	DestinationIdx  int                 `json:"destination_index"`
	TryCountMax     int                 `json:"try_count_max"`
	TryCountCurrent int                 `json:"try_count_current"`
	Status          Status              `json:"status"`
	LastResult      Result              `json:"last_result,omitempty"`
	TMLastResult    Time                `json:"tm_last_result"`
	TMNextAttempt   Time                `json:"tm_next_attempt"`
	TMCreate        Time                `json:"tm_create"`
	TMUpdate        Time                `json:"tm_update"`
}

// TargetCreate is one target as a client sends it: either destination (+
// try_count_max) or destinations, each with its own try_count_max.
type TargetCreate struct {
	Name         string              `json:"name"`
	Detail       string              `json:"detail"`
	Data         json.RawMessage     `json:"data"`
	Destination  *Address            `json:"destination"`
	TryCountMax  *int                `json:"try_count_max"`
	Destinations []DestinationCreate `json:"destinations"`
}

// DestinationCreate is one entry of TargetCreate.Destinations.
type DestinationCreate struct {
	Type        string `json:"type"`
	Target      string `json:"target"`
	TryCountMax *int   `json:"try_count_max"`
}

// NewTarget is a validated, normalised TargetCreate ready to store.
type NewTarget struct {
	Name         string
	Detail       string
	Data         json.RawMessage
	Destinations []TargetDestination
}

// Key is the dedupe key of the target: its first destination.
func (t *NewTarget) Key() string { return t.Destinations[0].Address().Key() }

// Validate checks and normalises c. defaultRegion (ISO 3166 alpha-2, may be
// empty) is used for phone numbers written without a country code.
func (c *TargetCreate) Validate(defaultRegion string) (*NewTarget, error) {
	name, err := validateName("name", c.Name, false)
	if err != nil {
		return nil, err
	}
	if err := validateDetail("detail", c.Detail); err != nil {
		return nil, err
	}
	data, err := ValidateData("data", c.Data, MaxTargetData)
	if err != nil {
		return nil, err
	}
	nt := &NewTarget{Name: name, Detail: c.Detail, Data: data}

	def := DefaultTryCountMax
	if c.TryCountMax != nil {
		if err := checkTryCount("try_count_max", *c.TryCountMax); err != nil {
			return nil, err
		}
		def = *c.TryCountMax
	}
	switch {
	case c.Destination != nil && len(c.Destinations) > 0:
		return nil, FieldErrorf(ECodeInvalidField, "destinations", "send either destination or destinations, not both")
	case c.Destination != nil:
		a, err := NormalizeAddress("destination", *c.Destination, defaultRegion)
		if err != nil {
			return nil, err
		}
		nt.Destinations = []TargetDestination{{Type: a.Type, Target: a.Target, TryCountMax: def}}
	case len(c.Destinations) > 0:
		if len(c.Destinations) > MaxDestinations {
			return nil, FieldErrorf(ECodeInvalidField, "destinations", "must have at most %d entries, got %d", MaxDestinations, len(c.Destinations))
		}
		seen := map[string]bool{}
		for i, d := range c.Destinations {
			field := "destinations[" + itoa(i) + "]"
			a, err := NormalizeAddress(field, Address{Type: d.Type, Target: d.Target}, defaultRegion)
			if err != nil {
				return nil, err
			}
			if seen[a.Key()] {
				return nil, FieldErrorf(ECodeInvalidField, field, "repeats an earlier destination of this target")
			}
			seen[a.Key()] = true
			max := def
			if d.TryCountMax != nil {
				if err := checkTryCount(field+".try_count_max", *d.TryCountMax); err != nil {
					return nil, err
				}
				max = *d.TryCountMax
			}
			nt.Destinations = append(nt.Destinations, TargetDestination{Type: a.Type, Target: a.Target, TryCountMax: max})
		}
	default:
		return nil, FieldErrorf(ECodeMissingField, "destination", "is required (or destinations)")
	}
	return nt, nil
}

func checkTryCount(field string, v int) error {
	if v < MinTryCount || v > MaxTryCount {
		return FieldErrorf(ECodeInvalidField, field, "must be between %d and %d, got %d", MinTryCount, MaxTryCount, v)
	}
	return nil
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}
