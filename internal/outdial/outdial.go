package outdial

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Limits on outdial fields. They are part of the API contract (docs/api.md).
const (
	MaxNameLen     = 255       // runes
	MaxDetailLen   = 2048      // runes
	MaxOutdialData = 16 * 1024 // bytes of text (UTF-8)
)

// Outdial is a named list of targets owned by one customer.
type Outdial struct {
	ID          string      `json:"id"`
	CustomerID  string      `json:"customer_id"`
	CampaignID  *string     `json:"campaign_id"`
	Name        string      `json:"name"`
	Detail      string      `json:"detail"`
	Data        string      `json:"data"` // text, as in VoIPBIN; "" when unset
	RetryPolicy RetryPolicy `json:"retry_policy"`
	// CallingWindow, when set, bounds when its targets are dialed, in
	// each callee's local time (window.go).
	CallingWindow *CallingWindow `json:"calling_window"`
	// Archived outdials keep their targets and counts, readable, but
	// take no new targets and hand none out.
	Archived    bool   `json:"archived"`
	TMArchive   Time   `json:"tm_archive"`
	TargetCount int64  `json:"target_count"`
	Counts      Counts `json:"target_counts"`
	TMCreate    Time   `json:"tm_create"`
	TMUpdate    Time   `json:"tm_update"`
}

// Counts holds the number of targets in each status. Retry is the subset of
// Idle that has been dialed at least once and waits for its next attempt.
type Counts struct {
	Idle     int64 `json:"idle"`
	Dialing  int64 `json:"dialing"`
	Finished int64 `json:"finished"`
	Failed   int64 `json:"failed"`
	Retry    int64 `json:"retry_pending"`
}

// Total is the number of targets counted.
func (c Counts) Total() int64 { return c.Idle + c.Dialing + c.Finished + c.Failed }

// Add returns the sum of c and d.
func (c Counts) Add(d Counts) Counts {
	return Counts{
		Idle: c.Idle + d.Idle, Dialing: c.Dialing + d.Dialing, Finished: c.Finished + d.Finished,
		Failed: c.Failed + d.Failed, Retry: c.Retry + d.Retry,
	}
}

// OutdialCreate is what a client may set when creating an outdial. Data
// stays raw so that a value other than a string or null is refused.
type OutdialCreate struct {
	Name       string          `json:"name"`
	Detail     string          `json:"detail"`
	CampaignID *string         `json:"campaign_id"`
	Data       json.RawMessage `json:"data"`
	// CallingWindow: null or absent for none.
	CallingWindow *CallingWindow `json:"calling_window"`

	data string // Data, validated
}

// DataText is the validated data of c (after Validate): its text, "" for none.
func (c *OutdialCreate) DataText() string { return c.data }

// Validate checks and normalises the fields of c in place.
func (c *OutdialCreate) Validate() error {
	var err error
	if c.Name, err = validateName("name", c.Name, true); err != nil {
		return err
	}
	if err := validateDetail("detail", c.Detail); err != nil {
		return err
	}
	if c.CampaignID, err = ParseCampaignID("campaign_id", c.CampaignID); err != nil {
		return err
	}
	if c.data, err = ValidateData("data", c.Data, MaxOutdialData); err != nil {
		return err
	}
	if c.CallingWindow != nil {
		if err := c.CallingWindow.Validate("calling_window"); err != nil {
			return err
		}
	}
	return nil
}

// ParseCampaignID checks a campaign id: nil, "" and the all-zero UUID mean
// none (VoIPBIN's SDK sends "" for no campaign, and its services use the
// nil UUID), anything else must be a UUID.
func ParseCampaignID(field string, s *string) (*string, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	id, err := ParseID(field, *s)
	if err != nil {
		return nil, err
	}
	if id == uuid.Nil.String() {
		return nil, nil
	}
	return &id, nil
}

// OutdialUpdate is a partial update: nil fields keep their stored value.
type OutdialUpdate struct {
	Name        *string
	Detail      *string
	SetCampaign bool    // when true, CampaignID replaces the stored one (nil detaches)
	CampaignID  *string //
	Data        *string // "" clears it
	RetryPolicy *RetryPolicyPatch
	SetWindow   bool           // when true, CallingWindow replaces the stored one (nil removes it)
	Window      *CallingWindow //
}

// Validate checks and normalises the fields of u in place.
func (u *OutdialUpdate) Validate() error {
	if u.Name != nil {
		n, err := validateName("name", *u.Name, true)
		if err != nil {
			return err
		}
		u.Name = &n
	}
	if u.Detail != nil {
		if err := validateDetail("detail", *u.Detail); err != nil {
			return err
		}
	}
	if u.SetCampaign {
		id, err := ParseCampaignID("campaign_id", u.CampaignID)
		if err != nil {
			return err
		}
		u.CampaignID = id
	}
	if u.Data != nil {
		if err := checkDataLen("data", *u.Data, MaxOutdialData); err != nil {
			return err
		}
	}
	if u.RetryPolicy != nil {
		if err := u.RetryPolicy.Validate(); err != nil {
			return err
		}
	}
	if u.SetWindow && u.Window != nil {
		if err := u.Window.Validate("calling_window"); err != nil {
			return err
		}
	}
	return nil
}

// Empty reports whether u changes nothing.
func (u *OutdialUpdate) Empty() bool {
	return u.Name == nil && u.Detail == nil && !u.SetCampaign && u.Data == nil && u.RetryPolicy == nil && !u.SetWindow
}

// Apply returns a copy of o with u applied and TMUpdate set to now.
func (u *OutdialUpdate) Apply(o Outdial, now time.Time) Outdial {
	if u.Name != nil {
		o.Name = *u.Name
	}
	if u.Detail != nil {
		o.Detail = *u.Detail
	}
	if u.SetCampaign {
		o.CampaignID = u.CampaignID
	}
	if u.Data != nil {
		o.Data = *u.Data
	}
	if u.RetryPolicy != nil {
		o.RetryPolicy = u.RetryPolicy.Apply(o.RetryPolicy)
	}
	if u.SetWindow {
		o.CallingWindow = u.Window
	}
	o.TMUpdate = Time{now}
	return o
}

// ParseID checks that s is a UUID and returns it in canonical lower-case form.
func ParseID(field, s string) (string, error) {
	if len(s) != 36 {
		return "", FieldErrorf(ECodeInvalidID, field, "must be a UUID like 3c4d5e6f-7a8b-9012-cdef-012345678901")
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return "", FieldErrorf(ECodeInvalidID, field, "must be a UUID like 3c4d5e6f-7a8b-9012-cdef-012345678901")
	}
	return id.String(), nil
}

// ValidateData reads data as a client sent it: text, as in VoIPBIN (a JSON
// string of at most max bytes), or null or absent for none (""). Any other
// JSON value is refused: to keep structured data, send it encoded as a
// string.
func ValidateData(field string, raw json.RawMessage, max int) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var text string
	if raw[0] != '"' || json.Unmarshal(raw, &text) != nil {
		return "", FieldErrorf(ECodeInvalidField, field, "must be a string (text, as in VoIPBIN) or null; send structured data encoded as a string")
	}
	return text, checkDataLen(field, text, max)
}

// checkDataLen bounds data to max bytes.
func checkDataLen(field, text string, max int) error {
	if len(text) > max {
		return FieldErrorf(ECodeInvalidField, field, "must be at most %d bytes, got %d", max, len(text))
	}
	return nil
}

// Time is a UTC timestamp that encodes as RFC 3339 with microseconds, the
// form VoIPBIN uses ("2026-01-15T09:30:00.000000Z").
type Time struct{ time.Time }

// TimeLayout is the wire layout of Time.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// MarshalJSON implements json.Marshaler; the zero Time encodes as null.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + t.UTC().Format(TimeLayout) + `"`), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return err
	}
	t.Time = v.UTC()
	return nil
}
