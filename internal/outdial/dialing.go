package outdial

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/google/uuid"
)

// Claim bounds (docs/api.md "Claiming").
const (
	DefaultClaimLimit = 1
	MaxClaimLimit     = 100
	DefaultLease      = 120 * time.Second
	MinLease          = 10 * time.Second
	MaxLease          = 3600 * time.Second
)

// AttemptPlan is decided when a target is claimed: which destination is
// dialed, whether it is that destination's last try, and which destination
// comes next. It travels inside the attempt id, so the outcome processor
// applies an outcome with one conditional write and no read: the write's
// condition compares the whole attempt id with the one stored on the
// target, so a forged or stale plan never matches.
type AttemptPlan struct {
	Dest    int  // index of the destination dialed
	LastTry bool // this attempt uses the destination's last try
	Next    int  // next destination with tries left after Dest, or -1
}

// PlanFor returns the plan for dialing dests now, starting at index from,
// and false when no destination has tries left.
func PlanFor(dests []TargetDestination, from int) (AttemptPlan, bool) {
	p := AttemptPlan{Dest: -1, Next: -1}
	for i := max(from, 0); i < len(dests); i++ {
		if !dests[i].TriesLeft() {
			continue
		}
		if p.Dest < 0 {
			p.Dest = i
			p.LastTry = dests[i].TryCountCurrent+1 >= dests[i].TryCountMax
			continue
		}
		p.Next = i
		break
	}
	return p, p.Dest >= 0
}

// NewAttemptID returns a fresh attempt id carrying p: a UUIDv8 whose last
// byte holds the plan and whose other 114 bits are random.
func NewAttemptID(p AttemptPlan) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x80 // version 8
	b[8] = (b[8] & 0x3f) | 0x80 // RFC 4122 variant
	last := byte(0)
	if p.LastTry {
		last = 1
	}
	b[15] = byte(p.Dest&0x7) | last<<3 | byte((p.Next+1)&0x7)<<4
	return uuid.UUID(b).String()
}

// CanonicalAttemptID returns s in the lower-case form the service issued
// (stored ids are compared byte for byte).
func CanonicalAttemptID(s string) (string, error) {
	if _, err := ParseAttemptID(s); err != nil {
		return "", err
	}
	return uuid.MustParse(s).String(), nil
}

// ParseAttemptID returns the plan inside an attempt id.
func ParseAttemptID(s string) (AttemptPlan, error) {
	bad := FieldErrorf(ECodeInvalidField, "attempt_id", "is not an attempt id this service issued")
	if len(s) != 36 {
		return AttemptPlan{}, bad
	}
	u, err := uuid.Parse(s)
	if err != nil || u.Version() != 8 {
		return AttemptPlan{}, bad
	}
	b := u[15]
	p := AttemptPlan{Dest: int(b & 0x7), LastTry: b&0x8 != 0, Next: int(b>>4&0x7) - 1}
	if p.Dest >= MaxDestinations || p.Next >= MaxDestinations || (p.Next >= 0 && p.Next <= p.Dest) || b&0x80 != 0 {
		return AttemptPlan{}, bad
	}
	return p, nil
}

// Transition is what an outcome does to a dialing target.
type Transition struct {
	Status    Status // idle (retry or next destination), finished or failed
	Exhaust   bool   // the dialed destination gets no more tries (invalid)
	Dest      int    // destination index afterwards
	WaitRetry bool   // idle again on the same destination: due after the retry delay
}

// Apply returns the transition for result r of an attempt planned as p.
//
//	answered                       -> finished
//	busy, no_answer, failed,
//	expired (lease ran out)        -> idle after the retry delay while the
//	                                  destination has tries left, else the
//	                                  next destination (due at once), else failed
//	invalid (no such number)       -> the destination is exhausted at once:
//	                                  next destination (due at once), else failed
func (p AttemptPlan) Apply(r Result) Transition {
	switch r {
	case ResultAnswered:
		return Transition{Status: StatusFinished, Dest: p.Dest}
	case ResultInvalid:
		return p.moveOn(true)
	default:
		if !p.LastTry {
			return Transition{Status: StatusIdle, Dest: p.Dest, WaitRetry: true}
		}
		return p.moveOn(false)
	}
}

func (p AttemptPlan) moveOn(exhaust bool) Transition {
	if p.Next >= 0 {
		return Transition{Status: StatusIdle, Exhaust: exhaust, Dest: p.Next}
	}
	return Transition{Status: StatusFailed, Exhaust: exhaust, Dest: p.Dest}
}

// ParseResult checks s is a result a dialer may report.
func ParseResult(s string) (Result, error) {
	switch r := Result(s); r {
	case ResultAnswered, ResultBusy, ResultNoAnswer, ResultFailed, ResultInvalid:
		return r, nil
	}
	return "", FieldErrorf(ECodeInvalidField, "result", "must be one of answered, busy, no_answer, failed, invalid")
}

// Outcome is one dialer report of how an attempt ended.
type Outcome struct {
	AttemptID  string
	OutdialID  string
	TargetID   string
	Result     Result
	RetryAfter *time.Duration // overrides the outdial's retry policy
}

// OutcomeEffect says what applying an outcome did.
type OutcomeEffect string

// Outcome effects.
const (
	EffectApplied OutcomeEffect = "applied" // the target moved
	EffectStale   OutcomeEffect = "stale"   // duplicate, replayed or late: nothing changed
)

// Claim is one target handed to a dialer.
type Claim struct {
	AttemptID   string  `json:"attempt_id"`
	Destination Address `json:"destination"`
	DestIdx     int     `json:"destination_index"`
	LeaseExpire Time    `json:"tm_lease_expire"`
	Target      *Target `json:"target"`
}

// DialStore is the part of the Store port that runs the dialing loop.
type DialStore interface {
	// ClaimTargets moves up to limit due targets to dialing under a lease.
	ClaimTargets(ctx context.Context, customerID, outdialID string, limit int, lease time.Duration) ([]*Claim, error)
	// ApplyOutcome applies o if its attempt is still the target's current one.
	ApplyOutcome(ctx context.Context, o Outcome) (OutcomeEffect, error)
	// ApplyOutcomes applies a batch of outcomes, each as ApplyOutcome would,
	// in as few requests as it can; the results are in the batch's order.
	ApplyOutcomes(ctx context.Context, outcomes []Outcome) []OutcomeResult
}

// OutcomeResult is what applying one outcome of a batch did.
type OutcomeResult struct {
	Effect OutcomeEffect
	Err    error
}
