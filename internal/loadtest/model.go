// Package loadtest is the load test of the dialing loop (TestLoad): an
// import of many targets into one outdial, then a simulated campaign of
// concurrent claimers that report outcomes over SQS (some of them twice),
// all through the public interfaces of the local stack. Afterwards every
// target is checked against Model, an independent re-statement of the
// README's state table that follows what the simulated dialers reported.
//
// The reduced size runs in `make test`; `make load` runs the full size
// (see mk/load.mk).
package loadtest

import (
	"fmt"
	"sort"
	"sync"

	"github.com/outdial/outdial/internal/outdial"
)

// maxDetails bounds how many discrepancies are kept in full; all are
// counted.
const maxDetails = 25

// Dest is one destination of a modelled target.
type Dest struct {
	Max, Cur  int
	Exhausted bool
}

// triesLeft reports whether the destination may be dialed again.
func (d Dest) triesLeft() bool { return !d.Exhausted && d.Cur < d.Max }

// Attempt is one claim of a target and what the dialer reported for it.
type Attempt struct {
	ID     string
	Dest   int            // destination index the claim named
	Result outdial.Result // "" until the dialer reported
}

// TargetState is the model of one target. It restates the README's table
// ("The dialing loop") rather than calling the domain package, so that a
// bug there shows up here as a discrepancy.
type TargetState struct {
	Dests      []Dest
	DestIdx    int
	Status     outdial.Status
	LastResult outdial.Result
	Attempts   []Attempt
}

// NewTargetState returns an idle target with one destination per entry of
// maxes (its try_count_max).
func NewTargetState(maxes ...int) *TargetState {
	s := &TargetState{Status: outdial.StatusIdle}
	for _, m := range maxes {
		s.Dests = append(s.Dests, Dest{Max: m})
	}
	return s
}

// TryMax is the target's try_count_max: the sum over its destinations.
func (s *TargetState) TryMax() int {
	n := 0
	for _, d := range s.Dests {
		n += d.Max
	}
	return n
}

// TryCur is the target's try_count_current: the sum over its destinations.
func (s *TargetState) TryCur() int {
	n := 0
	for _, d := range s.Dests {
		n += d.Cur
	}
	return n
}

// nextDest returns the first destination at or after from with tries
// left, or -1.
func (s *TargetState) nextDest(from int) int {
	for i := max(from, 0); i < len(s.Dests); i++ {
		if s.Dests[i].triesLeft() {
			return i
		}
	}
	return -1
}

// ClaimDest is the destination a claim of the target must name now, or -1
// when it must not be claimable.
func (s *TargetState) ClaimDest() int {
	if s.Status != outdial.StatusIdle {
		return -1
	}
	return s.nextDest(s.DestIdx)
}

// Claim moves the idle target to dialing on destination dest for attempt
// id.
func (s *TargetState) Claim(id string, dest int) {
	s.Status = outdial.StatusDialing
	s.DestIdx = dest
	s.Attempts = append(s.Attempts, Attempt{ID: id, Dest: dest})
}

// Report applies result r of the current attempt:
//
//	answered                  try +1, finished
//	busy, no_answer, failed   try +1; idle on the same destination while it
//	                          has tries left, else the next destination
//	                          with tries left, else failed
//	invalid                   try +1, the destination is exhausted; the
//	                          next destination, else failed
func (s *TargetState) Report(r outdial.Result) {
	d := s.DestIdx
	s.Dests[d].Cur++
	s.LastResult = r
	s.Attempts[len(s.Attempts)-1].Result = r
	switch r {
	case outdial.ResultAnswered:
		s.Status = outdial.StatusFinished
		return
	case outdial.ResultInvalid:
		s.Dests[d].Exhausted = true
	}
	if s.Dests[d].triesLeft() {
		s.Status = outdial.StatusIdle
		return
	}
	if next := s.nextDest(d + 1); next >= 0 {
		s.Status, s.DestIdx = outdial.StatusIdle, next
		return
	}
	s.Status = outdial.StatusFailed
}

// Claimed is what a claim answer says of one claimed target.
type Claimed struct {
	AttemptID       string
	TargetID        string
	DestIdx         int    // destination_index of the claim
	TargetDestIdx   int    // target.destination_index
	Status          string // target.status (must be dialing)
	TryCountCurrent int    // target.try_count_current (before this attempt)
	TryCountMax     int    // target.try_count_max
	LastResult      string // target.last_result (before this attempt)
}

// Model is the test's record of every target, safe for concurrent use.
type Model struct {
	mu       sync.Mutex
	targets  map[string]*TargetState
	attempts map[string]string // attempt id -> target id

	problems int
	details  []string
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{targets: map[string]*TargetState{}, attempts: map[string]string{}}
}

// Add records a new target (maxes: try_count_max of each destination).
func (m *Model) Add(id string, maxes ...int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.targets[id] = NewTargetState(maxes...)
}

// Len is the number of targets.
func (m *Model) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.targets)
}

// Target returns a copy of the state of target id, or nil.
func (m *Model) Target(id string) *TargetState {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.targets[id]
	if s == nil {
		return nil
	}
	c := *s
	c.Dests = append([]Dest(nil), s.Dests...)
	c.Attempts = append([]Attempt(nil), s.Attempts...)
	return &c
}

// problem records one discrepancy; m.mu is held.
func (m *Model) problem(format string, args ...any) {
	m.problems++
	if len(m.details) < maxDetails {
		m.details = append(m.details, fmt.Sprintf(format, args...))
	}
}

// Problem records a discrepancy found outside the model.
func (m *Model) Problem(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.problem(format, args...)
}

// Discrepancies returns how many were found and the first few in full.
func (m *Model) Discrepancies() (int, []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.problems, append([]string(nil), m.details...)
}

// Claim checks one claimed target against the model and, if the model
// has the target idle, moves it to dialing. It reports whether the claim
// was recorded; the dialer reports the result of a recorded claim with
// Report. (A claim the model cannot record, say of a target it has
// dialing, is a discrepancy; the dialer still sends an outcome for it so
// that the run goes on.)
func (m *Model) Claim(c Claimed) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if other, dup := m.attempts[c.AttemptID]; dup {
		m.problem("attempt id %s handed out twice (targets %s and %s)", c.AttemptID, other, c.TargetID)
		return false
	}
	m.attempts[c.AttemptID] = c.TargetID
	s := m.targets[c.TargetID]
	if s == nil {
		m.problem("claim %s: target %s was never imported", c.AttemptID, c.TargetID)
		return false
	}
	want := s.ClaimDest()
	switch {
	case want < 0:
		m.problem("target %s claimed (attempt %s) while the model has it %s after %d attempts (last %q)",
			c.TargetID, c.AttemptID, s.Status, len(s.Attempts), s.LastResult)
		return false
	case c.DestIdx != want || c.TargetDestIdx != want:
		m.problem("target %s claim %s: destination_index %d (target's %d), model wants %d",
			c.TargetID, c.AttemptID, c.DestIdx, c.TargetDestIdx, want)
	}
	if c.Status != string(outdial.StatusDialing) {
		m.problem("target %s claim %s: target status %q in the claim, want dialing", c.TargetID, c.AttemptID, c.Status)
	}
	if c.TryCountCurrent != s.TryCur() || c.TryCountMax != s.TryMax() || c.LastResult != string(s.LastResult) {
		m.problem("target %s claim %s: try_count_current %d/%d, last_result %q in the claim, model %d/%d, %q",
			c.TargetID, c.AttemptID, c.TryCountCurrent, c.TryCountMax, c.LastResult, s.TryCur(), s.TryMax(), s.LastResult)
	}
	s.Claim(c.AttemptID, c.DestIdx)
	return true
}

// Current returns the id of the latest attempt of target id ("" for
// none).
func (m *Model) Current(id string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.targets[id]; s != nil && len(s.Attempts) > 0 {
		return s.Attempts[len(s.Attempts)-1].ID
	}
	return ""
}

// Report records result r of attempt attemptID of target targetID: the
// first delivery of the outcome, which is the one the service must apply.
func (m *Model) Report(targetID, attemptID string, r outdial.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.targets[targetID]
	if s == nil || len(s.Attempts) == 0 || s.Attempts[len(s.Attempts)-1].ID != attemptID || s.Status != outdial.StatusDialing {
		m.problem("report of attempt %s of target %s that the model does not have dialing", attemptID, targetID)
		return
	}
	s.Report(r)
}

// Counts returns the counts of the model's targets by status.
func (m *Model) Counts() outdial.Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	var c outdial.Counts
	for _, s := range m.targets {
		c = c.Add(countOf(s.Status))
	}
	return c
}

// countOf is one target of status st as Counts.
func countOf(st outdial.Status) outdial.Counts {
	switch st {
	case outdial.StatusIdle:
		return outdial.Counts{Idle: 1}
	case outdial.StatusDialing:
		return outdial.Counts{Dialing: 1}
	case outdial.StatusFinished:
		return outdial.Counts{Finished: 1}
	case outdial.StatusFailed:
		return outdial.Counts{Failed: 1}
	}
	return outdial.Counts{}
}

// CountListed recomputes the counts from a listing of targets.
func CountListed(list []*outdial.Target) outdial.Counts {
	var c outdial.Counts
	for _, t := range list {
		c = c.Add(countOf(t.Status))
		if t.Status == outdial.StatusIdle && t.TryCountCurrent > 0 {
			c.Retry++
		}
	}
	return c
}

// Check compares the service's final state with the model item by item:
// the outdial's counts with the counts recomputed from the listing and
// with the model's, and every listed target's status, try counts (per
// destination too), destination index and last result with the model's.
// It returns the number of discrepancies it found (also recorded in m).
func (m *Model) Check(od *outdial.Outdial, list []*outdial.Target) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	before := m.problems

	// Counts: the outdial's, the listing's and the model's.
	listed := CountListed(list)
	var model outdial.Counts
	for _, s := range m.targets {
		model = model.Add(countOf(s.Status))
	}
	c := od.Counts
	if c.Idle != listed.Idle || c.Dialing != listed.Dialing || c.Finished != listed.Finished || c.Failed != listed.Failed || c.Retry != listed.Retry {
		m.problem("outdial counts %+v, recomputed from the listing %+v", c, listed)
	}
	if c.Idle != model.Idle || c.Dialing != model.Dialing || c.Finished != model.Finished || c.Failed != model.Failed {
		m.problem("outdial counts %+v, model %+v", c, model)
	}
	if od.TargetCount != int64(len(list)) || len(list) != len(m.targets) || od.TargetCount != c.Total() {
		m.problem("target_count %d, counts total %d, %d listed, %d in the model", od.TargetCount, c.Total(), len(list), len(m.targets))
	}

	// Every target.
	seen := make(map[string]bool, len(list))
	for _, t := range list {
		if seen[t.ID] {
			m.problem("target %s listed twice", t.ID)
			continue
		}
		seen[t.ID] = true
		s := m.targets[t.ID]
		if s == nil {
			m.problem("target %s listed but never imported", t.ID)
			continue
		}
		m.checkTarget(t, s)
	}
	var missing []string
	for id := range m.targets {
		if !seen[id] {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	for _, id := range missing {
		m.problem("target %s missing from the listing", id)
	}
	return m.problems - before
}

// checkTarget compares one listed target with its model; m.mu is held.
func (m *Model) checkTarget(t *outdial.Target, s *TargetState) {
	var diffs []string
	diff := func(field string, got, want any) {
		if got != want {
			diffs = append(diffs, fmt.Sprintf("%s %v, want %v", field, got, want))
		}
	}
	diff("status", t.Status, s.Status)
	diff("try_count_current", t.TryCountCurrent, s.TryCur())
	diff("try_count_max", t.TryCountMax, s.TryMax())
	diff("last_result", t.LastResult, s.LastResult)
	diff("destination_index", t.DestinationIdx, s.DestIdx)
	if t.TryCountCurrent > t.TryCountMax {
		diffs = append(diffs, fmt.Sprintf("try_count_current %d > try_count_max %d", t.TryCountCurrent, t.TryCountMax))
	}
	// One destination: the target's counts are the destination's; several:
	// each destination's own.
	if len(s.Dests) == 1 {
		if len(t.Destinations) > 1 {
			diffs = append(diffs, fmt.Sprintf("%d destinations listed, want 1", len(t.Destinations)))
		}
	} else if len(t.Destinations) != len(s.Dests) {
		diffs = append(diffs, fmt.Sprintf("%d destinations listed, want %d", len(t.Destinations), len(s.Dests)))
	} else {
		for i, d := range t.Destinations {
			w := s.Dests[i]
			diff(fmt.Sprintf("destinations[%d].try_count_current", i), d.TryCountCurrent, w.Cur)
			diff(fmt.Sprintf("destinations[%d].try_count_max", i), d.TryCountMax, w.Max)
			diff(fmt.Sprintf("destinations[%d].exhausted", i), d.Exhausted, w.Exhausted)
			if d.TryCountCurrent > d.TryCountMax {
				diffs = append(diffs, fmt.Sprintf("destinations[%d]: try_count_current %d > try_count_max %d", i, d.TryCountCurrent, d.TryCountMax))
			}
		}
	}
	if len(diffs) > 0 {
		var hist []string
		for _, a := range s.Attempts {
			hist = append(hist, fmt.Sprintf("%s@%d", a.Result, a.Dest))
		}
		m.problem("target %s: %v (attempts reported: %v)", t.ID, diffs, hist)
	}
}

// Stats are totals of the model's attempts.
type Stats struct {
	Attempts int                    // claims recorded
	Results  map[outdial.Result]int // reported results (first deliveries)
	MaxTries int                    // most attempts of one target
}

// Stats returns the totals of the model's attempts.
func (m *Model) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := Stats{Results: map[outdial.Result]int{}}
	for _, s := range m.targets {
		st.Attempts += len(s.Attempts)
		st.MaxTries = max(st.MaxTries, len(s.Attempts))
		for _, a := range s.Attempts {
			if a.Result != "" {
				st.Results[a.Result]++
			}
		}
	}
	return st
}
