package outdial

import (
	"encoding/json"
)

// Limits on targets (docs/api.md "Targets").
const (
	MaxTargetData        = 4 * 1024 // bytes of text (UTF-8)
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
	// Timezones are the zones of the destination's number that its
	// calling window is checked in (none: the target's or outdial's).
	Timezones []string `json:"timezones,omitempty"`
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
	Data            string              `json:"data"` // text, as in VoIPBIN; "" when unset
	Destination     Address             `json:"destination"`
	Destinations    []TargetDestination `json:"destinations,omitempty"`
	DestinationIdx  int                 `json:"destination_index"`
	TryCountMax     int                 `json:"try_count_max"`
	TryCountCurrent int                 `json:"try_count_current"`
	Status          Status              `json:"status"`
	LastResult      Result              `json:"last_result,omitempty"`
	TMLastResult    Time                `json:"tm_last_result"`
	// NextAttemptAt is the instant the target may be claimed (null unless
	// idle) and Reason why it is or is not dialed now (reason.go).
	NextAttemptAt Time   `json:"next_attempt_at"`
	Reason        Reason `json:"reason"`
	// Timezone is the target's own IANA zone, as given ("" for none);
	// Timezones are the zones its calling window is checked in (its own,
	// or those of its number), empty when the outdial's zone applies.
	Timezone  string   `json:"timezone,omitempty"`
	Timezones []string `json:"timezones,omitempty"`
	TMCreate  Time     `json:"tm_create"`
	TMUpdate  Time     `json:"tm_update"`
	// Slots are the VoIPBIN slots (destination_N) of the destinations, in
	// order, when they are not 0, 1, ...; the JSON form shows them
	// (MarshalJSON, voipbin.go).
	Slots []int `json:"-"`
}

// TargetCreate is one target as a client sends it: destination (+
// try_count_max), destinations, each with its own try_count_max, or
// VoIPBIN's destination_0..destination_4 (+ try_count_max).
type TargetCreate struct {
	Name         string              `json:"name"`
	Detail       string              `json:"detail"`
	Data         json.RawMessage     `json:"data"`
	Destination  *Address            `json:"destination"`
	TryCountMax  *int                `json:"try_count_max"`
	Destinations []DestinationCreate `json:"destinations"`
	Destination0 *SlotAddress        `json:"destination_0"`
	Destination1 *SlotAddress        `json:"destination_1"`
	Destination2 *SlotAddress        `json:"destination_2"`
	Destination3 *SlotAddress        `json:"destination_3"`
	Destination4 *SlotAddress        `json:"destination_4"`
	// Timezone is the target's own IANA zone for calling windows.
	Timezone string `json:"timezone"`
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
	Data         string
	Destinations []TargetDestination
	Slots        []int  // VoIPBIN slots of the destinations; nil for 0, 1, ...
	Timezone     string // its own IANA zone, "" for none
}

// Key is the dedupe key of the target: its first destination.
func (t *NewTarget) Key() string { return t.Destinations[0].Address().Key() }

// DropDestinations removes the destinations whose index drop reports
// (keeping the VoIPBIN slot of each one left), and reports whether any is
// left.
func (t *NewTarget) DropDestinations(drop func(i int, d TargetDestination) bool) bool {
	var dests []TargetDestination
	var slots []int
	for i, d := range t.Destinations {
		if drop(i, d) {
			continue
		}
		dests = append(dests, d)
		slot := i
		if i < len(t.Slots) {
			slot = t.Slots[i]
		}
		slots = append(slots, slot)
	}
	if len(dests) < len(t.Destinations) {
		t.Destinations, t.Slots = dests, nil
		for i, s := range slots {
			if s != i {
				t.Slots = slots
				break
			}
		}
	}
	return len(t.Destinations) > 0
}

// AddressNormalizer validates a destination address and returns its
// normalised form (the form stored and compared for dedupe), or an *Error
// on field+".type", field+".target" or "default_region". Package
// destination implements it: the rules for phone numbers need
// libphonenumber, which only the functions that take targets in link.
type AddressNormalizer interface {
	NormalizeAddress(field string, a Address) (Address, error)
}

// Validate checks c and normalises its destinations with addresses (in
// the service, destination.Normalizer with the request's default region).
func (c *TargetCreate) Validate(addresses AddressNormalizer) (*NewTarget, error) {
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
	tz, err := ValidateTimezone("timezone", c.Timezone)
	if err != nil {
		return nil, err
	}
	nt := &NewTarget{Name: name, Detail: c.Detail, Data: data, Timezone: tz}

	def := DefaultTryCountMax
	if c.TryCountMax != nil {
		if err := checkTryCount("try_count_max", *c.TryCountMax); err != nil {
			return nil, err
		}
		def = *c.TryCountMax
	}
	slots := c.slots()
	switch {
	case len(slots) > 0 && (c.Destination != nil || len(c.Destinations) > 0):
		return nil, FieldErrorf(ECodeInvalidField, slotField(slots[0].n), "send destination_0..destination_4 (VoIPBIN's form) or destination/destinations, not both")
	case len(slots) > 0:
		if err := nt.fromSlots(slots, def, addresses); err != nil {
			return nil, err
		}
	case c.Destination != nil && len(c.Destinations) > 0:
		return nil, FieldErrorf(ECodeInvalidField, "destinations", "send either destination or destinations, not both")
	case c.Destination != nil:
		a, err := addresses.NormalizeAddress("destination", *c.Destination)
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
			a, err := addresses.NormalizeAddress(field, Address{Type: d.Type, Target: d.Target})
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
		return nil, FieldErrorf(ECodeMissingField, "destination", "is required (or destinations, or destination_0..destination_4)")
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
