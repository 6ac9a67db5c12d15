package loadtest

import (
	"strings"
	"testing"

	"github.com/outdial/outdial/internal/outdial"
)

// TestTargetStateReport walks targets through sequences of results and
// compares the end state with the README's table, worked out by hand.
func TestTargetStateReport(t *testing.T) {
	const (
		idle     = outdial.StatusIdle
		finished = outdial.StatusFinished
		failed   = outdial.StatusFailed
		ans      = outdial.ResultAnswered
		busy     = outdial.ResultBusy
		noAns    = outdial.ResultNoAnswer
		fail     = outdial.ResultFailed
		inv      = outdial.ResultInvalid
	)
	tests := []struct {
		name     string
		maxes    []int
		results  []outdial.Result
		dests    []int // destination of each claim
		status   outdial.Status
		destIdx  int
		cur      []int
		exhaust  []bool
		claimNow int // ClaimDest afterwards
	}{
		{"fresh", []int{3}, nil, nil, idle, 0, []int{0}, []bool{false}, 0},
		{"answered at once", []int{3}, []outdial.Result{ans}, []int{0}, finished, 0, []int{1}, []bool{false}, -1},
		{"busy then answered", []int{3}, []outdial.Result{busy, ans}, []int{0, 0}, finished, 0, []int{2}, []bool{false}, -1},
		{"retry left", []int{3}, []outdial.Result{busy, noAns}, []int{0, 0}, idle, 0, []int{2}, []bool{false}, 0},
		{"tries used up", []int{2}, []outdial.Result{busy, fail}, []int{0, 0}, failed, 0, []int{2}, []bool{false}, -1},
		{"one try", []int{1}, []outdial.Result{noAns}, []int{0}, failed, 0, []int{1}, []bool{false}, -1},
		{"invalid exhausts", []int{3}, []outdial.Result{inv}, []int{0}, failed, 0, []int{1}, []bool{true}, -1},
		{"invalid moves on", []int{3, 2}, []outdial.Result{inv}, []int{0}, idle, 1, []int{1, 0}, []bool{true, false}, 1},
		{"used up moves on", []int{1, 2}, []outdial.Result{busy}, []int{0}, idle, 1, []int{1, 0}, []bool{false, false}, 1},
		{"second destination answers", []int{1, 2}, []outdial.Result{busy, noAns, ans}, []int{0, 1, 1}, finished, 1, []int{1, 2}, []bool{false, false}, -1},
		{"both used up", []int{2, 1}, []outdial.Result{busy, busy, fail}, []int{0, 0, 1}, failed, 1, []int{2, 1}, []bool{false, false}, -1},
		{"invalid on the last", []int{1, 3}, []outdial.Result{busy, busy, inv}, []int{0, 1, 1}, failed, 1, []int{1, 2}, []bool{false, true}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewTargetState(tt.maxes...)
			for i, r := range tt.results {
				if got := s.ClaimDest(); got != tt.dests[i] {
					t.Fatalf("claim %d: ClaimDest = %d, want %d", i, got, tt.dests[i])
				}
				s.Claim("a", tt.dests[i])
				s.Report(r)
			}
			if s.Status != tt.status || s.DestIdx != tt.destIdx {
				t.Errorf("status %s, destination %d; want %s, %d", s.Status, s.DestIdx, tt.status, tt.destIdx)
			}
			for i, d := range s.Dests {
				if d.Cur != tt.cur[i] || d.Exhausted != tt.exhaust[i] {
					t.Errorf("destination %d: cur %d, exhausted %t; want %d, %t", i, d.Cur, d.Exhausted, tt.cur[i], tt.exhaust[i])
				}
			}
			if got := s.ClaimDest(); got != tt.claimNow {
				t.Errorf("ClaimDest afterwards = %d, want %d", got, tt.claimNow)
			}
			if s.TryCur() > s.TryMax() {
				t.Errorf("try_count_current %d > try_count_max %d", s.TryCur(), s.TryMax())
			}
			if len(tt.results) > 0 && s.LastResult != tt.results[len(tt.results)-1] {
				t.Errorf("last result %q, want %q", s.LastResult, tt.results[len(tt.results)-1])
			}
		})
	}
}

// TestModelClaim: the claim checks find a reused attempt id, an unknown
// target, a target the model does not have idle, and a claim whose
// destination or try counts differ from the model's.
func TestModelClaim(t *testing.T) {
	good := func() Claimed {
		return Claimed{AttemptID: "a1", TargetID: "t1", Status: "dialing", TryCountMax: 3}
	}
	tests := []struct {
		name     string
		prepare  func(m *Model)
		claim    func(c *Claimed)
		recorded bool
		problem  string // substring of the discrepancy; "" for none
	}{
		{"good", nil, nil, true, ""},
		{"unknown target", nil, func(c *Claimed) { c.TargetID = "t9" }, false, "never imported"},
		{"attempt id reused", func(m *Model) {
			m.Claim(Claimed{AttemptID: "a1", TargetID: "t2", Status: "dialing", TryCountMax: 1})
		}, nil, false, "handed out twice"},
		{"already dialing", func(m *Model) {
			m.Claim(Claimed{AttemptID: "a0", TargetID: "t1", Status: "dialing", TryCountMax: 3})
		}, nil, false, "while the model has it dialing"},
		{"finished", func(m *Model) {
			m.Claim(Claimed{AttemptID: "a0", TargetID: "t1", Status: "dialing", TryCountMax: 3})
			m.Report("t1", "a0", outdial.ResultAnswered)
		}, nil, false, "while the model has it finished"},
		{"wrong destination", nil, func(c *Claimed) { c.DestIdx, c.TargetDestIdx = 1, 1 }, true, "destination_index"},
		{"extra try", nil, func(c *Claimed) { c.TryCountCurrent = 1; c.LastResult = "expired" }, true, "try_count_current 1/3"},
		{"not dialing", nil, func(c *Claimed) { c.Status = "idle" }, true, "want dialing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewModel()
			m.Add("t1", 3)
			m.Add("t2", 1)
			if tt.prepare != nil {
				tt.prepare(m)
			}
			before, _ := m.Discrepancies()
			c := good()
			if tt.claim != nil {
				tt.claim(&c)
			}
			if got := m.Claim(c); got != tt.recorded {
				t.Errorf("Claim recorded = %t, want %t", got, tt.recorded)
			}
			n, details := m.Discrepancies()
			switch {
			case tt.problem == "" && n != before:
				t.Errorf("discrepancies %v, want none", details)
			case tt.problem != "" && (n != before+1 || !strings.Contains(details[len(details)-1], tt.problem)):
				t.Errorf("discrepancies %v, want one more about %q", details, tt.problem)
			}
		})
	}
}

// TestModelCheck: the final check passes on a listing that matches the
// model and finds each kind of difference.
func TestModelCheck(t *testing.T) {
	// The model: t1 answered on its second try; t2 (two destinations)
	// invalid on the first, then used up on the second; t3 never claimed.
	build := func() *Model {
		m := NewModel()
		m.Add("t1", 3)
		m.Add("t2", 2, 1)
		m.Add("t3", 1)
		m.Claim(Claimed{AttemptID: "a1", TargetID: "t1", Status: "dialing", TryCountMax: 3})
		m.Report("t1", "a1", outdial.ResultBusy)
		m.Claim(Claimed{AttemptID: "a2", TargetID: "t1", Status: "dialing", TryCountCurrent: 1, TryCountMax: 3, LastResult: "busy"})
		m.Report("t1", "a2", outdial.ResultAnswered)
		m.Claim(Claimed{AttemptID: "a3", TargetID: "t2", Status: "dialing", TryCountMax: 3})
		m.Report("t2", "a3", outdial.ResultInvalid)
		m.Claim(Claimed{AttemptID: "a4", TargetID: "t2", DestIdx: 1, TargetDestIdx: 1, Status: "dialing", TryCountCurrent: 1, TryCountMax: 3, LastResult: "invalid"})
		m.Report("t2", "a4", outdial.ResultNoAnswer)
		return m
	}
	listing := func() (*outdial.Outdial, []*outdial.Target) {
		list := []*outdial.Target{
			{ID: "t1", Status: outdial.StatusFinished, TryCountMax: 3, TryCountCurrent: 2, LastResult: outdial.ResultAnswered},
			{ID: "t2", Status: outdial.StatusFailed, TryCountMax: 3, TryCountCurrent: 2, LastResult: outdial.ResultNoAnswer, DestinationIdx: 1,
				Destinations: []outdial.TargetDestination{{TryCountMax: 2, TryCountCurrent: 1, Exhausted: true}, {TryCountMax: 1, TryCountCurrent: 1}}},
			{ID: "t3", Status: outdial.StatusIdle, TryCountMax: 1},
		}
		od := &outdial.Outdial{TargetCount: 3, Counts: outdial.Counts{Idle: 1, Finished: 1, Failed: 1}}
		return od, list
	}
	tests := []struct {
		name    string
		change  func(od *outdial.Outdial, list []*outdial.Target) []*outdial.Target
		problem string // substring of one of the discrepancies; "" for none
	}{
		{"matches", nil, ""},
		{"status", func(_ *outdial.Outdial, l []*outdial.Target) []*outdial.Target {
			l[0].Status = outdial.StatusFailed
			return l
		}, "status failed, want finished"},
		{"try count", func(_ *outdial.Outdial, l []*outdial.Target) []*outdial.Target {
			l[0].TryCountCurrent = 3
			return l
		}, "try_count_current 3, want 2"},
		{"last result", func(_ *outdial.Outdial, l []*outdial.Target) []*outdial.Target {
			l[1].LastResult = outdial.ResultExpired
			return l
		}, "last_result expired, want no_answer"},
		{"destination try count", func(_ *outdial.Outdial, l []*outdial.Target) []*outdial.Target {
			l[1].Destinations[1].TryCountCurrent = 0
			return l
		}, "destinations[1].try_count_current 0, want 1"},
		{"exhausted", func(_ *outdial.Outdial, l []*outdial.Target) []*outdial.Target {
			l[1].Destinations[0].Exhausted = false
			return l
		}, "destinations[0].exhausted false, want true"},
		{"over the max", func(_ *outdial.Outdial, l []*outdial.Target) []*outdial.Target {
			l[2].TryCountCurrent = 2
			return l
		}, "try_count_current 2 > try_count_max 1"},
		{"counts", func(od *outdial.Outdial, l []*outdial.Target) []*outdial.Target {
			od.Counts.Finished, od.Counts.Failed = 2, 0
			return l
		}, "recomputed from the listing"},
		{"missing", func(od *outdial.Outdial, l []*outdial.Target) []*outdial.Target {
			return l[:2]
		}, "t3 missing from the listing"},
		{"listed twice", func(od *outdial.Outdial, l []*outdial.Target) []*outdial.Target {
			return append(l, l[0])
		}, "t1 listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := build()
			if n, d := m.Discrepancies(); n != 0 {
				t.Fatalf("building the model: %v", d)
			}
			od, list := listing()
			if tt.change != nil {
				list = tt.change(od, list)
			}
			got := m.Check(od, list)
			_, details := m.Discrepancies()
			switch {
			case tt.problem == "" && got != 0:
				t.Errorf("Check = %d discrepancies %v, want none", got, details)
			case tt.problem != "" && (got == 0 || !containsAny(details, tt.problem)):
				t.Errorf("Check = %d discrepancies %v, want one about %q", got, details, tt.problem)
			}
		})
	}
}

// containsAny reports whether one of list contains sub.
func containsAny(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestPickResult: the result weights cover [0, 1) in order.
func TestPickResult(t *testing.T) {
	tests := []struct {
		u    float64
		want outdial.Result
	}{
		{0, outdial.ResultAnswered}, {0.2999, outdial.ResultAnswered}, {0.30, outdial.ResultBusy},
		{0.55, outdial.ResultNoAnswer}, {0.80, outdial.ResultFailed}, {0.90, outdial.ResultInvalid}, {0.99999, outdial.ResultInvalid},
	}
	for _, tt := range tests {
		if got := pickResult(tt.u); got != tt.want {
			t.Errorf("pickResult(%v) = %s, want %s", tt.u, got, tt.want)
		}
	}
}
