package outdial

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// dests builds destinations from "cur/max" strings; a trailing "x" marks
// the destination exhausted ("1/3x").
func dests(specs ...string) []TargetDestination {
	out := make([]TargetDestination, len(specs))
	for i, s := range specs {
		var cur, max int
		exh := strings.HasSuffix(s, "x")
		if _, err := fmt.Sscanf(strings.TrimSuffix(s, "x"), "%d/%d", &cur, &max); err != nil {
			panic(err)
		}
		out[i] = TargetDestination{Type: TypeTel, Target: fmt.Sprintf("+1555000%04d", i), TryCountMax: max, TryCountCurrent: cur, Exhausted: exh}
	}
	return out
}

func TestPlanFor(t *testing.T) {
	tests := []struct {
		name   string
		dests  []TargetDestination
		from   int
		want   AttemptPlan
		wantOK bool
	}{
		{"first try of one", dests("0/3"), 0, AttemptPlan{Dest: 0, LastTry: false, Next: -1}, true},
		{"last try of one", dests("2/3"), 0, AttemptPlan{Dest: 0, LastTry: true, Next: -1}, true},
		{"only try", dests("0/1"), 0, AttemptPlan{Dest: 0, LastTry: true, Next: -1}, true},
		{"tries used up", dests("3/3"), 0, AttemptPlan{}, false},
		{"exhausted", dests("0/3x"), 0, AttemptPlan{}, false},
		{"no destinations", nil, 0, AttemptPlan{}, false},
		{"next after first", dests("0/2", "0/1"), 0, AttemptPlan{Dest: 0, LastTry: false, Next: 1}, true},
		{"last try of first, next known", dests("1/2", "0/1"), 0, AttemptPlan{Dest: 0, LastTry: true, Next: 1}, true},
		{"skips used-up destinations", dests("2/2", "0/1x", "0/2", "1/1", "0/4"), 0, AttemptPlan{Dest: 2, LastTry: false, Next: 4}, true},
		{"from skips earlier destinations with tries", dests("0/2", "0/2", "0/2"), 1, AttemptPlan{Dest: 1, LastTry: false, Next: 2}, true},
		{"from at the last", dests("0/2", "0/2"), 1, AttemptPlan{Dest: 1, LastTry: false, Next: -1}, true},
		{"from past the end", dests("0/2"), 1, AttemptPlan{}, false},
		{"negative from", dests("0/2", "0/2"), -3, AttemptPlan{Dest: 0, LastTry: false, Next: 1}, true},
		{"five destinations", dests("0/1", "0/1", "0/1", "0/1", "0/1"), 3, AttemptPlan{Dest: 3, LastTry: true, Next: 4}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := PlanFor(tc.dests, tc.from)
			if ok != tc.wantOK {
				t.Fatalf("PlanFor ok = %v, want %v (plan %+v)", ok, tc.wantOK, got)
			}
			if ok && got != tc.want {
				t.Errorf("PlanFor = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// allPlans returns every plan an attempt id can carry.
func allPlans() []AttemptPlan {
	var out []AttemptPlan
	for d := 0; d < MaxDestinations; d++ {
		for _, last := range []bool{false, true} {
			out = append(out, AttemptPlan{Dest: d, LastTry: last, Next: -1})
			for n := d + 1; n < MaxDestinations; n++ {
				out = append(out, AttemptPlan{Dest: d, LastTry: last, Next: n})
			}
		}
	}
	return out
}

func TestAttemptIDRoundTrip(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range allPlans() {
		for range 20 {
			id := NewAttemptID(p)
			if seen[id] {
				t.Fatalf("NewAttemptID returned %s twice", id)
			}
			seen[id] = true
			u, err := uuid.Parse(id)
			if err != nil {
				t.Fatalf("NewAttemptID(%+v) = %q, not a UUID: %v", p, id, err)
			}
			if u.Version() != 8 || u.Variant() != uuid.RFC4122 || id != strings.ToLower(id) || len(id) != 36 {
				t.Errorf("NewAttemptID(%+v) = %s: version %d, variant %v; want a lower-case RFC 4122 UUIDv8", p, id, u.Version(), u.Variant())
			}
			got, err := ParseAttemptID(id)
			if err != nil {
				t.Fatalf("ParseAttemptID(%s) for plan %+v: %v", id, p, err)
			}
			if got != p {
				t.Errorf("ParseAttemptID(NewAttemptID(%+v)) = %+v", p, got)
			}
		}
	}
	if len(seen) < 100 {
		t.Errorf("only %d plans tried", len(seen))
	}
}

// withLastByte returns id with its last byte (the plan) replaced by b.
func withLastByte(t *testing.T, id string, b byte) string {
	t.Helper()
	u := uuid.MustParse(id)
	u[15] = b
	return u.String()
}

func TestParseAttemptIDRejects(t *testing.T) {
	valid := NewAttemptID(AttemptPlan{Dest: 1, LastTry: true, Next: 3})
	v4 := uuid.New()
	v7 := uuid.Must(uuid.NewV7())
	tests := []struct {
		name string
		id   string
	}{
		{"empty", ""},
		{"UUIDv4", v4.String()},
		{"UUIDv7", v7.String()},
		{"nil UUID", uuid.Nil.String()},
		{"no hyphens", strings.ReplaceAll(valid, "-", "")},
		{"braces", "{" + valid + "}"},
		{"urn", "urn:uuid:" + valid},
		{"truncated", valid[:35]},
		{"trailing space", valid + " "},
		{"not hex", valid[:35] + "g"},
		{"destination 5", withLastByte(t, valid, 0x05)},
		{"destination 7", withLastByte(t, valid, 0x07)},
		{"next equals destination", withLastByte(t, valid, 0x02|0x20)},       // dest 2, next 2
		{"next before destination", withLastByte(t, valid, 0x03|0x20)},       // dest 3, next 1
		{"next 5", withLastByte(t, valid, 0x00|0x60)},                        // dest 0, next 5
		{"next 6", withLastByte(t, valid, 0x00|0x70)},                        // dest 0, next 6
		{"high bit set", withLastByte(t, valid, 0x80|byte(0x01)|byte(0x30))}, // otherwise dest 1, next 2
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseAttemptID(tc.id)
			if err == nil {
				t.Fatalf("ParseAttemptID(%q) = %+v, want an error", tc.id, p)
			}
			if got := ErrorCode(err); got != ECodeInvalidField {
				t.Errorf("ParseAttemptID(%q): code %s, want %s", tc.id, got, ECodeInvalidField)
			}
		})
	}
	// The same id with a well-formed plan byte is accepted: the rejections
	// above are about the plan, not the rest of the id.
	if _, err := ParseAttemptID(withLastByte(t, valid, 0x01|0x30)); err != nil {
		t.Errorf("ParseAttemptID with plan dest 1 next 2: %v", err)
	}
}

func TestApply(t *testing.T) {
	mid := AttemptPlan{Dest: 1, LastTry: false, Next: 3}      // tries left on 1
	lastNext := AttemptPlan{Dest: 1, LastTry: true, Next: 3}  // last try of 1, 3 comes next
	lastOnly := AttemptPlan{Dest: 2, LastTry: true, Next: -1} // last try of the last destination
	moreOnly := AttemptPlan{Dest: 2, LastTry: false, Next: -1}
	retry := func(d int) Transition { return Transition{Status: StatusIdle, Dest: d, WaitRetry: true} }
	tests := []struct {
		plan AttemptPlan
		r    Result
		want Transition
	}{
		{mid, ResultAnswered, Transition{Status: StatusFinished, Dest: 1}},
		{lastOnly, ResultAnswered, Transition{Status: StatusFinished, Dest: 2}},
		{mid, ResultBusy, retry(1)},
		{mid, ResultNoAnswer, retry(1)},
		{mid, ResultFailed, retry(1)},
		{mid, ResultExpired, retry(1)},
		{moreOnly, ResultBusy, retry(2)},
		{lastNext, ResultBusy, Transition{Status: StatusIdle, Dest: 3}},
		{lastNext, ResultExpired, Transition{Status: StatusIdle, Dest: 3}},
		{lastOnly, ResultNoAnswer, Transition{Status: StatusFailed, Dest: 2}},
		{lastOnly, ResultExpired, Transition{Status: StatusFailed, Dest: 2}},
		{mid, ResultInvalid, Transition{Status: StatusIdle, Exhaust: true, Dest: 3}},
		{moreOnly, ResultInvalid, Transition{Status: StatusFailed, Exhaust: true, Dest: 2}},
		{lastOnly, ResultInvalid, Transition{Status: StatusFailed, Exhaust: true, Dest: 2}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%+v/%s", tc.plan, tc.r), func(t *testing.T) {
			if got := tc.plan.Apply(tc.r); got != tc.want {
				t.Errorf("Apply = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestApplyInvariants checks every plan against every result: a target is
// never left idle on a destination without tries, and only answered
// finishes it.
func TestApplyInvariants(t *testing.T) {
	results := []Result{ResultAnswered, ResultBusy, ResultNoAnswer, ResultFailed, ResultInvalid, ResultExpired}
	for _, p := range allPlans() {
		for _, r := range results {
			tr := p.Apply(r)
			switch {
			case tr.Status == StatusDialing:
				t.Errorf("%+v/%s: stays dialing", p, r)
			case (tr.Status == StatusFinished) != (r == ResultAnswered):
				t.Errorf("%+v/%s: status %s", p, r, tr.Status)
			case tr.Exhaust != (r == ResultInvalid):
				t.Errorf("%+v/%s: exhaust %v", p, r, tr.Exhaust)
			case tr.WaitRetry && (tr.Status != StatusIdle || tr.Dest != p.Dest || p.LastTry || r == ResultInvalid):
				t.Errorf("%+v/%s: waits for a retry on a destination without tries: %+v", p, r, tr)
			case tr.Status == StatusIdle && !tr.WaitRetry && tr.Dest != p.Next:
				t.Errorf("%+v/%s: moves to %d, want the planned next %d", p, r, tr.Dest, p.Next)
			case tr.Status == StatusFailed && p.Next >= 0:
				t.Errorf("%+v/%s: failed though destination %d has tries", p, r, p.Next)
			}
		}
	}
}

// TestPlanForMatchesApply walks every history of a few small targets:
// after a transition, PlanFor from the new destination must find tries
// exactly when the target is not failed, and start at that destination.
func TestPlanForMatchesApply(t *testing.T) {
	results := []Result{ResultBusy, ResultInvalid, ResultExpired}
	var walk func(ds []TargetDestination, from, depth int)
	walk = func(ds []TargetDestination, from, depth int) {
		p, ok := PlanFor(ds, from)
		if !ok || depth > 12 {
			return
		}
		for _, r := range results {
			next := append([]TargetDestination(nil), ds...)
			tr := p.Apply(r)
			next[p.Dest].TryCountCurrent++
			if tr.Exhaust {
				next[p.Dest].Exhausted = true
			}
			_, more := PlanFor(next, tr.Dest)
			if (tr.Status == StatusFailed) == more {
				t.Fatalf("after %+v/%s on %+v: status %s but PlanFor from %d says tries left = %v", p, r, ds, tr.Status, tr.Dest, more)
			}
			if tr.Status == StatusIdle {
				if got, _ := PlanFor(next, tr.Dest); got.Dest != tr.Dest {
					t.Fatalf("after %+v/%s: transition to destination %d, PlanFor picks %d", p, r, tr.Dest, got.Dest)
				}
				walk(next, tr.Dest, depth+1)
			}
		}
	}
	walk(dests("0/2", "0/1", "0/3"), 0, 0)
	walk(dests("1/2", "0/1x", "0/1"), 0, 0)
}

func TestParseResult(t *testing.T) {
	for _, s := range []string{"answered", "busy", "no_answer", "failed", "invalid"} {
		if r, err := ParseResult(s); err != nil || string(r) != s {
			t.Errorf("ParseResult(%q) = %q, %v", s, r, err)
		}
	}
	for _, s := range []string{"", "expired", "BUSY", "answered ", "voicemail"} {
		if r, err := ParseResult(s); err == nil {
			t.Errorf("ParseResult(%q) = %q, want an error", s, r)
		}
	}
}
