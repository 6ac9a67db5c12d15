package outdial

// Reason says why a target is, or is not, being dialed (docs/api.md
// "Why a target waits"). It is worked out when a target is read, from its
// status, its stored state and the outdial's calling window.
type Reason string

// Reasons, one per row of the table in docs/api.md.
const (
	ReasonOutsideWindow  Reason = "outside_calling_window" // idle, deferred by its calling window
	ReasonRetryScheduled Reason = "retry_scheduled"        // idle, waiting for a retry delay
	ReasonDue            Reason = "due"                    // idle, claimable now
	ReasonDialing        Reason = "dialing"
	ReasonFinished       Reason = "finished"
	ReasonSuppressed     Reason = "suppressed"        // failed: its last destination was suppressed
	ReasonMaxTries       Reason = "max_tries_reached" // failed otherwise
)

// Status returns the status every target with reason r has.
func (r Reason) Status() Status {
	switch r {
	case ReasonOutsideWindow, ReasonRetryScheduled, ReasonDue:
		return StatusIdle
	case ReasonDialing:
		return StatusDialing
	case ReasonFinished:
		return StatusFinished
	}
	return StatusFailed
}

// ParseReason checks s names a reason.
func ParseReason(field, s string) (Reason, error) {
	switch r := Reason(s); r {
	case ReasonOutsideWindow, ReasonRetryScheduled, ReasonDue, ReasonDialing, ReasonFinished, ReasonSuppressed, ReasonMaxTries:
		return r, nil
	}
	return "", FieldErrorf(ECodeInvalidQuery, field, "must be one of outside_calling_window, retry_scheduled, due, dialing, finished, suppressed, max_tries_reached")
}

// TargetFilter selects targets by status, reason or both; the zero filter
// selects every target.
type TargetFilter struct {
	Status Status
	Reason Reason
}

// Matches reports whether t (with its Reason worked out) passes f.
func (f TargetFilter) Matches(t *Target) bool {
	return (f.Status == "" || t.Status == f.Status) && (f.Reason == "" || t.Reason == f.Reason)
}

// StoredStatus is the one status the targets f selects have, or "" when
// they may have any.
func (f TargetFilter) StoredStatus() Status {
	if f.Reason != "" {
		return f.Reason.Status()
	}
	return f.Status
}

// Conflicting reports whether f's status and reason can never both hold.
func (f TargetFilter) Conflicting() bool {
	return f.Status != "" && f.Reason != "" && f.Reason.Status() != f.Status
}
