package outdial

import "time"

// MaxRetryDelay bounds every delay of a RetryPolicy.
const MaxRetryDelay = 7 * 24 * 3600 // seconds

// RetryPolicy says how long a target waits before its next attempt after an
// unsuccessful one, per result, in seconds. A dialer's retry_after_seconds on
// an outcome message overrides it for that attempt.
type RetryPolicy struct {
	BusySeconds     int `json:"busy_seconds"`
	NoAnswerSeconds int `json:"no_answer_seconds"`
	FailedSeconds   int `json:"failed_seconds"`
	ExpiredSeconds  int `json:"expired_seconds"`
}

// DefaultRetryPolicy is used for outdials that never set one, and fills the
// fields a client leaves out.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{BusySeconds: 60, NoAnswerSeconds: 300, FailedSeconds: 300, ExpiredSeconds: 60}
}

// Validate checks every delay is within 0..MaxRetryDelay.
func (p RetryPolicy) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{
		{"retry_policy.busy_seconds", p.BusySeconds},
		{"retry_policy.no_answer_seconds", p.NoAnswerSeconds},
		{"retry_policy.failed_seconds", p.FailedSeconds},
		{"retry_policy.expired_seconds", p.ExpiredSeconds},
	} {
		if f.v < 0 || f.v > MaxRetryDelay {
			return FieldErrorf(ECodeInvalidField, f.name, "must be between 0 and %d seconds, got %d", MaxRetryDelay, f.v)
		}
	}
	return nil
}

// RetryPolicyPatch changes some delays of a RetryPolicy; nil fields keep
// their stored value.
type RetryPolicyPatch struct {
	BusySeconds     *int `json:"busy_seconds"`
	NoAnswerSeconds *int `json:"no_answer_seconds"`
	FailedSeconds   *int `json:"failed_seconds"`
	ExpiredSeconds  *int `json:"expired_seconds"`
}

// Validate checks every delay that is set is within 0..MaxRetryDelay.
func (p *RetryPolicyPatch) Validate() error {
	if p.BusySeconds == nil && p.NoAnswerSeconds == nil && p.FailedSeconds == nil && p.ExpiredSeconds == nil {
		return FieldErrorf(ECodeMissingField, "retry_policy", "set at least one of busy_seconds, no_answer_seconds, failed_seconds, expired_seconds")
	}
	return p.Apply(RetryPolicy{}).Validate()
}

// Apply returns p with the patch's delays in place.
func (p *RetryPolicyPatch) Apply(r RetryPolicy) RetryPolicy {
	for _, f := range []struct {
		dst *int
		src *int
	}{{&r.BusySeconds, p.BusySeconds}, {&r.NoAnswerSeconds, p.NoAnswerSeconds}, {&r.FailedSeconds, p.FailedSeconds}, {&r.ExpiredSeconds, p.ExpiredSeconds}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return r
}

// Delay returns the wait after an attempt that ended with result r.
func (p RetryPolicy) Delay(r Result) time.Duration {
	var s int
	switch r {
	case ResultBusy:
		s = p.BusySeconds
	case ResultNoAnswer:
		s = p.NoAnswerSeconds
	case ResultFailed:
		s = p.FailedSeconds
	case ResultExpired:
		s = p.ExpiredSeconds
	}
	return time.Duration(s) * time.Second
}

// Result is how one dial attempt ended.
type Result string

// The results a dialer may report, plus ResultExpired, which the service
// records itself when a lease runs out without an outcome.
const (
	ResultAnswered Result = "answered"
	ResultBusy     Result = "busy"
	ResultNoAnswer Result = "no_answer"
	ResultFailed   Result = "failed"
	ResultInvalid  Result = "invalid"
	ResultExpired  Result = "expired"
	// ResultSuppressed: a claim found the target's last destinations on
	// the customer's suppression list; never reported by a dialer.
	ResultSuppressed Result = "suppressed"
)
