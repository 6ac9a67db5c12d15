package dynamo_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/outdial"
)

// add runs AddTargets and fails the test on an error.
func (h *storeHarness) add(customerID, outdialID, idem string, targets []*outdial.NewTarget) *outdial.ImportResult {
	h.t.Helper()
	res, err := h.store.AddTargets(h.ctx, customerID, outdialID, idem, targets)
	if err != nil {
		h.t.Fatalf("AddTargets(%s, %d targets): %v", idem, len(targets), err)
	}
	return res
}

// get runs GetTarget and fails the test on an error.
func (h *storeHarness) get(customerID, outdialID, targetID string) *outdial.Target {
	h.t.Helper()
	tg, err := h.store.GetTarget(h.ctx, customerID, outdialID, targetID)
	if err != nil {
		h.t.Fatalf("GetTarget(%s): %v", targetID, err)
	}
	return tg
}

func createdIndexes(res *outdial.ImportResult) []int {
	out := make([]int, len(res.Created))
	for i, c := range res.Created {
		out[i] = c.Index
	}
	return out
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestAddTargetsCreatesIdleTargets(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "fresh")
	now := h.clock.Now()

	targets := tels(0, 250)
	targets[7].Name, targets[7].Detail, targets[7].Data = "Ada", "VIP", `{"crm":42}`
	targets[9].Destinations[0].TryCountMax = 20
	res := h.add(cust, o.ID, "req-1", targets)

	if len(res.Created) != 250 || len(res.Duplicates) != 0 || len(res.Rejected) != 0 {
		t.Fatalf("AddTargets = %d created, %d duplicates, %d rejected; want 250, 0, 0", len(res.Created), len(res.Duplicates), len(res.Rejected))
	}
	for i, c := range res.Created {
		if c.Index != i {
			t.Fatalf("Created[%d].Index = %d, want request order", i, c.Index)
		}
		tg := c.Target
		wantMax := 3
		if i == 9 {
			wantMax = 20
		}
		switch {
		case tg.ID != h.targetIDOf(cust, o.ID, i):
			t.Errorf("target %d id = %s, want %s (the destination under the outdial's id key)", i, tg.ID, h.targetIDOf(cust, o.ID, i))
		case tg.OutdialID != o.ID:
			t.Errorf("target %d outdial_id = %s, want %s", i, tg.OutdialID, o.ID)
		case tg.Status != outdial.StatusIdle:
			t.Errorf("target %d status = %s, want idle", i, tg.Status)
		case tg.TryCountCurrent != 0 || tg.TryCountMax != wantMax:
			t.Errorf("target %d tries = %d/%d, want 0/%d", i, tg.TryCountCurrent, tg.TryCountMax, wantMax)
		case tg.Destination != (outdial.Address{Type: outdial.TypeTel, Target: telNumber(i)}) || tg.Destinations != nil || tg.DestinationIdx != 0:
			t.Errorf("target %d destination = %+v %+v idx %d, want %s alone", i, tg.Destination, tg.Destinations, tg.DestinationIdx, telNumber(i))
		case !tg.TMCreate.Equal(now) || !tg.TMUpdate.Equal(now) || !tg.NextAttemptAt.Equal(now):
			t.Errorf("target %d times create %v update %v next %v, want all %v", i, tg.TMCreate, tg.TMUpdate, tg.NextAttemptAt, now)
		case tg.LastResult != "" || !tg.TMLastResult.IsZero():
			t.Errorf("target %d last result %q at %v, want none", i, tg.LastResult, tg.TMLastResult)
		}
	}

	// What AddTargets answered is what GetTarget reads.
	for _, i := range []int{0, 7, 9, 249} {
		got := h.get(cust, o.ID, res.Created[i].Target.ID)
		if a, b := asJSON(got), asJSON(res.Created[i].Target); a != b {
			t.Errorf("GetTarget(target %d) =\n%s\nAddTargets answered\n%s", i, a, b)
		}
	}
	ada := h.get(cust, o.ID, h.targetIDOf(cust, o.ID, 7))
	if ada.Name != "Ada" || ada.Detail != "VIP" || ada.Data != `{"crm":42}` {
		t.Errorf("target 7 name %q detail %q data %s, want Ada, VIP, {\"crm\":42}", ada.Name, ada.Detail, ada.Data)
	}
	if c := h.counts(cust, o.ID); c != (outdial.Counts{Idle: 250}) {
		t.Errorf("counts = %+v, want 250 idle", c)
	}
	if all := h.listAll(cust, o.ID, "", 100); len(all) != 250 {
		t.Errorf("ListTargets lists %d targets, want 250", len(all))
	}

	// A target id the outdial does not have.
	_, err := h.store.GetTarget(h.ctx, cust, o.ID, h.targetIDOf(cust, o.ID, 999))
	wantCode(t, "GetTarget(unknown id)", err, outdial.ECodeNotFound)
	// A target of one outdial is not found under another of the customer.
	other := h.outdial(cust, "other")
	_, err = h.store.GetTarget(h.ctx, cust, other.ID, res.Created[0].Target.ID)
	wantCode(t, "GetTarget(target of another outdial)", err, outdial.ECodeNotFound)
}

func TestAddTargetsRepeatedInRequest(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "dups")

	first := tel(1)
	first.Name = "first"
	again := tel(1)
	again.Name = "second"
	targets := []*outdial.NewTarget{first, tel(2), again, tel(3), tel(2), tel(1)}
	res := h.add(cust, o.ID, "req-1", targets)

	if got, want := fmt.Sprint(createdIndexes(res)), "[0 1 3]"; got != want {
		t.Errorf("created indexes = %s, want %s", got, want)
	}
	want := []outdial.Duplicate{
		{Index: 2, TargetID: h.targetIDOf(cust, o.ID, 1), Reason: "repeated_in_request"},
		{Index: 4, TargetID: h.targetIDOf(cust, o.ID, 2), Reason: "repeated_in_request"},
		{Index: 5, TargetID: h.targetIDOf(cust, o.ID, 1), Reason: "repeated_in_request"},
	}
	if got := asJSON(res.Duplicates); got != asJSON(want) {
		t.Errorf("duplicates =\n%s\nwant\n%s", got, asJSON(want))
	}
	if got := h.get(cust, o.ID, h.targetIDOf(cust, o.ID, 1)).Name; got != "first" {
		t.Errorf("name of the repeated target = %q, want the first row's (first)", got)
	}
	if c := h.counts(cust, o.ID); c != (outdial.Counts{Idle: 3}) {
		t.Errorf("counts = %+v, want 3 idle", c)
	}
}

func TestAddTargetsAcrossRequestsNeverOverwrites(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "reimport")
	// No wait after a busy outcome, so the target can be claimed again.
	if _, err := h.store.UpdateOutdial(h.ctx, cust, o.ID, &outdial.OutdialUpdate{RetryPolicy: &outdial.RetryPolicyPatch{BusySeconds: ptr(0)}}); err != nil {
		t.Fatalf("UpdateOutdial: %v", err)
	}
	h.add(cust, o.ID, "req-1", tels(0, 1))
	id := h.targetIDOf(cust, o.ID, 0)

	// Dial it once (busy), then claim it again: it is dialing with one try.
	h.clock.Advance(time.Second)
	claims, err := h.store.ClaimTargets(h.ctx, cust, o.ID, 1, time.Minute)
	if err != nil || len(claims) != 1 || claims[0].Target.ID != id {
		t.Fatalf("ClaimTargets = %d claims, %v; want the one target", len(claims), err)
	}
	h.clock.Advance(time.Second)
	eff, err := h.store.ApplyOutcome(h.ctx, outdial.Outcome{AttemptID: claims[0].AttemptID, OutdialID: o.ID, TargetID: id, Result: outdial.ResultBusy})
	if err != nil || eff != outdial.EffectApplied {
		t.Fatalf("ApplyOutcome = %v, %v; want applied", eff, err)
	}
	h.clock.Advance(time.Second)
	claims, err = h.store.ClaimTargets(h.ctx, cust, o.ID, 1, time.Minute)
	if err != nil || len(claims) != 1 {
		t.Fatalf("second ClaimTargets = %d claims, %v; want 1", len(claims), err)
	}
	before := h.get(cust, o.ID, id)
	if before.Status != outdial.StatusDialing || before.TryCountCurrent != 1 {
		t.Fatalf("before the re-import: status %s tries %d, want dialing with 1", before.Status, before.TryCountCurrent)
	}

	// Re-import it (with another name and try_count_max) among new ones.
	h.clock.Advance(time.Second)
	re := tel(0)
	re.Name = "overwrite attempt"
	re.Destinations[0].TryCountMax = 9
	res := h.add(cust, o.ID, "req-2", append([]*outdial.NewTarget{re}, tels(1, 5)...))
	if got, want := fmt.Sprint(createdIndexes(res)), "[1 2 3 4]"; got != want {
		t.Errorf("created indexes = %s, want %s", got, want)
	}
	wantDup := []outdial.Duplicate{{Index: 0, TargetID: id, Reason: "exists"}}
	if got := asJSON(res.Duplicates); got != asJSON(wantDup) {
		t.Errorf("duplicates = %s, want %s", got, asJSON(wantDup))
	}
	after := h.get(cust, o.ID, id)
	if a, b := asJSON(after), asJSON(before); a != b {
		t.Errorf("the existing target changed on re-import:\nbefore %s\nafter  %s", b, a)
	}
	if c := h.counts(cust, o.ID); c != (outdial.Counts{Idle: 4, Dialing: 1}) {
		t.Errorf("counts = %+v, want 4 idle and 1 dialing", c)
	}

	// The outcome of the claim still applies to the target it was made for.
	eff, err = h.store.ApplyOutcome(h.ctx, outdial.Outcome{AttemptID: claims[0].AttemptID, OutdialID: o.ID, TargetID: id, Result: outdial.ResultAnswered})
	if err != nil || eff != outdial.EffectApplied {
		t.Fatalf("ApplyOutcome after the re-import = %v, %v; want applied", eff, err)
	}
	if tg := h.get(cust, o.ID, id); tg.Status != outdial.StatusFinished || tg.TryCountCurrent != 2 || tg.TryCountMax != 3 {
		t.Errorf("after answered: status %s tries %d/%d, want finished 2/3", tg.Status, tg.TryCountCurrent, tg.TryCountMax)
	}
}

func TestAddTargetsRetryOfTheSameRequest(t *testing.T) {
	tests := []struct {
		name  string
		idem  string        // of the retry; the first request's is req-1
		delay time.Duration // between the request and its retry
	}{
		{"with a new request id", "req-2", 3 * time.Second},
		{"with a new request id within the same millisecond", "req-2", 0},
		{"later", "req-1", 3 * time.Second},
		{"within the same millisecond", "req-1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newStoreHarness(t)
			cust := h.customer()
			o := h.outdial(cust, "retry")
			targets := tels(0, 120)
			first := h.add(cust, o.ID, "req-1", targets)
			if len(first.Created) != 120 {
				t.Fatalf("first AddTargets created %d, want 120", len(first.Created))
			}
			h.clock.Advance(tt.delay)
			again, err := h.store.AddTargets(h.ctx, cust, o.ID, tt.idem, tels(0, 120))
			if err != nil {
				t.Fatalf("retried AddTargets: %v", err)
			}
			if len(again.Created) != 0 || len(again.Duplicates) != 120 {
				t.Errorf("retried AddTargets = %d created, %d duplicates; want 0, 120", len(again.Created), len(again.Duplicates))
			}
			for _, d := range again.Duplicates {
				if d.Reason != "exists" {
					t.Errorf("duplicate %d reason = %s, want exists", d.Index, d.Reason)
					break
				}
			}
			if c := h.counts(cust, o.ID); c != (outdial.Counts{Idle: 120}) {
				t.Errorf("counts after the retry = %+v, want 120 idle", c)
			}
			if all := h.listAll(cust, o.ID, "", 100); len(all) != 120 {
				t.Errorf("ListTargets lists %d targets, want 120", len(all))
			}
		})
	}
}

func TestAddTargetsSeveralDestinations(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "multi")

	email := outdial.TargetDestination{Type: outdial.TypeEmail, Target: "ada@example.com", TryCountMax: 1}
	sip := outdial.TargetDestination{Type: outdial.TypeSIP, Target: "sip:ada@example.com", TryCountMax: 4}
	telDest := func(n, max int) outdial.TargetDestination {
		return outdial.TargetDestination{Type: outdial.TypeTel, Target: telNumber(n), TryCountMax: max}
	}
	multi := &outdial.NewTarget{Name: "A", Destinations: []outdial.TargetDestination{telDest(1, 2), email}}
	emailOnly := &outdial.NewTarget{Name: "B", Destinations: []outdial.TargetDestination{email}}
	sameFirstInRequest := &outdial.NewTarget{Name: "C", Destinations: []outdial.TargetDestination{telDest(1, 5), sip}}
	res := h.add(cust, o.ID, "req-1", []*outdial.NewTarget{multi, emailOnly, sameFirstInRequest})

	idA := h.targetIDOf(cust, o.ID, 1)
	idB, err := h.store.TargetIDOf(h.ctx, cust, o.ID, outdial.Address{Type: outdial.TypeEmail, Target: "ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(createdIndexes(res)), "[0 1]"; got != want {
		t.Errorf("created indexes = %s, want %s (the dedupe key is the first destination only)", got, want)
	}
	if want := asJSON([]outdial.Duplicate{{Index: 2, TargetID: idA, Reason: "repeated_in_request"}}); asJSON(res.Duplicates) != want {
		t.Errorf("duplicates = %s, want %s", asJSON(res.Duplicates), want)
	}

	a := h.get(cust, o.ID, idA)
	wantDests := []outdial.TargetDestination{telDest(1, 2), email}
	if asJSON(a.Destinations) != asJSON(wantDests) || a.Destination != wantDests[0].Address() || a.DestinationIdx != 0 ||
		a.TryCountMax != 3 || a.TryCountCurrent != 0 || a.Status != outdial.StatusIdle || a.Name != "A" {
		t.Errorf("multi-destination target = %s", asJSON(a))
	}
	if b := h.get(cust, o.ID, idB); b.Name != "B" || b.Destinations != nil || b.Destination != email.Address() || b.TryCountMax != 1 {
		t.Errorf("email target = %s", asJSON(b))
	}

	// Later requests: the same first destination, alone or with others, is
	// the existing target; a target whose first destination is another's
	// second one is new.
	res = h.add(cust, o.ID, "req-2", []*outdial.NewTarget{
		{Destinations: []outdial.TargetDestination{telDest(1, 1), sip}},
		{Destinations: []outdial.TargetDestination{sip, telDest(1, 1)}},
	})
	if got, want := fmt.Sprint(createdIndexes(res)), "[1]"; got != want {
		t.Errorf("second request created indexes = %s, want %s", got, want)
	}
	wantDups := []outdial.Duplicate{{Index: 0, TargetID: idA, Reason: "exists"}}
	if asJSON(res.Duplicates) != asJSON(wantDups) {
		t.Errorf("second request duplicates = %s, want %s", asJSON(res.Duplicates), asJSON(wantDups))
	}
	res = h.add(cust, o.ID, "req-3", []*outdial.NewTarget{{Destinations: []outdial.TargetDestination{telDest(1, 3)}}})
	wantDups = []outdial.Duplicate{{Index: 0, TargetID: idA, Reason: "exists"}}
	if len(res.Created) != 0 || asJSON(res.Duplicates) != asJSON(wantDups) {
		t.Errorf("third request: %d created, duplicates %s; want none, %s", len(res.Created), asJSON(res.Duplicates), asJSON(wantDups))
	}
	if got := h.get(cust, o.ID, idA); asJSON(got) != asJSON(a) {
		t.Errorf("target A changed by a duplicate:\n%s\nwas\n%s", asJSON(got), asJSON(a))
	}
	if c := h.counts(cust, o.ID); c != (outdial.Counts{Idle: 3}) {
		t.Errorf("counts = %+v, want 3 idle", c)
	}
}

func TestListTargetsPages2501TargetsExactlyOnce(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "big")
	const n = 2501
	start := time.Now()
	res := h.add(cust, o.ID, "req-1", tels(0, n))
	t.Logf("imported %d targets in one AddTargets in %v", n, time.Since(start))
	if len(res.Created) != n {
		t.Fatalf("created %d, want %d", len(res.Created), n)
	}

	seen := map[string]bool{}
	var sizes []int
	cursor := ""
	for {
		if len(sizes) > n/100+2 {
			t.Fatalf("no last page after %d pages", len(sizes))
		}
		list, next, err := h.store.ListTargets(h.ctx, cust, o.ID, outdial.TargetFilter{}, outdial.Page{Size: 100, Cursor: cursor})
		if err != nil {
			t.Fatalf("ListTargets(page %d): %v", len(sizes), err)
		}
		sizes = append(sizes, len(list))
		for _, tg := range list {
			if seen[tg.ID] {
				t.Fatalf("target %s on page %d was listed before", tg.ID, len(sizes)-1)
			}
			seen[tg.ID] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	for i := 0; i < n; i++ {
		if !seen[h.targetIDOf(cust, o.ID, i)] {
			t.Errorf("target %d (%s) never listed", i, h.targetIDOf(cust, o.ID, i))
		}
	}
	if len(seen) != n {
		t.Errorf("listed %d targets, want %d", len(seen), n)
	}
	// 25 full pages, then the last one with the one target left and no cursor.
	for i, s := range sizes {
		want := 100
		if i == len(sizes)-1 {
			want = 1
		}
		if s != want {
			t.Errorf("page sizes = %v, want 25 × 100 and a last page of 1", sizes)
			break
		}
	}
	if c := h.counts(cust, o.ID); c != (outdial.Counts{Idle: n}) {
		t.Errorf("counts = %+v, want %d idle", c, n)
	}

	// A page size that does not divide a shard's share.
	for _, size := range []int{99} {
		if got := h.listAll(cust, o.ID, "", size); len(got) != n {
			t.Errorf("page size %d lists %d targets, want %d", size, len(got), n)
		}
	}
	// The same with the status list (GSI1): every target has the same due
	// time, so the cursor must break ties.
	if got := h.listAll(cust, o.ID, outdial.StatusIdle, 100); len(got) != n {
		t.Errorf("status idle, page size 100 lists %d targets, want %d", len(got), n)
	}
}

func TestListTargetsStatusFilter(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "statuses")
	h.add(cust, o.ID, "req-1", tels(0, 120))
	// Later targets are due later: the idle list's order is by due time.
	h.clock.Advance(time.Second)
	h.add(cust, o.ID, "req-2", tels(120, 150))

	h.clock.Advance(time.Second)
	claims, err := h.store.ClaimTargets(h.ctx, cust, o.ID, 40, time.Minute)
	if err != nil || len(claims) != 40 {
		t.Fatalf("ClaimTargets = %d claims, %v; want 40", len(claims), err)
	}
	// Answer 10 of them.
	h.clock.Advance(time.Second)
	for _, c := range claims[:10] {
		if eff, err := h.store.ApplyOutcome(h.ctx, outdial.Outcome{AttemptID: c.AttemptID, OutdialID: o.ID, TargetID: c.Target.ID, Result: outdial.ResultAnswered}); err != nil || eff != outdial.EffectApplied {
			t.Fatalf("ApplyOutcome = %v, %v", eff, err)
		}
	}

	want := map[outdial.Status]int{outdial.StatusIdle: 110, outdial.StatusDialing: 30, outdial.StatusFinished: 10, outdial.StatusFailed: 0}
	union := map[string]bool{}
	for st, n := range want {
		for _, size := range []int{7, 100} {
			got := h.listAll(cust, o.ID, st, size)
			if len(got) != n {
				t.Errorf("ListTargets(status %s, page size %d) = %d targets, want %d", st, size, len(got), n)
			}
			for id, tg := range got {
				if tg.Status != st {
					t.Errorf("ListTargets(status %s) holds target %s in status %s", st, id, tg.Status)
				}
				union[id] = true
			}
		}
	}
	if len(union) != 150 {
		t.Errorf("the status lists together hold %d targets, want 150", len(union))
	}
	if c := h.counts(cust, o.ID); c != (outdial.Counts{Idle: 110, Dialing: 30, Finished: 10}) {
		t.Errorf("counts = %+v, want 110 idle, 30 dialing, 10 finished", c)
	}

	// The idle list comes in due order within a shard: req-1's targets
	// before req-2's.
	first, _, err := h.store.ListTargets(h.ctx, cust, o.ID, outdial.TargetFilter{Status: outdial.StatusIdle}, outdial.Page{Size: 100})
	if err != nil {
		t.Fatalf("ListTargets: %v", err)
	}
	for i := 1; i < len(first); i++ {
		a, b := first[i-1], first[i]
		if a.ID != b.ID && a.NextAttemptAt.After(b.NextAttemptAt.Time) && sameShard(a.ID, b.ID) {
			t.Errorf("idle list: %s due %v before %s due %v in the same shard", a.ID, a.NextAttemptAt, b.ID, b.NextAttemptAt)
		}
	}
}

func TestListTargetsRejectsForeignCursors(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "cursors")
	h.add(cust, o.ID, "req-1", tels(0, 10))
	for _, cursor := range []string{"garbage", `{"k":16}`, `{"k":-1}`, `[1]`, `{"k":"1"}`} {
		_, _, err := h.store.ListTargets(h.ctx, cust, o.ID, outdial.TargetFilter{}, outdial.Page{Size: 10, Cursor: cursor})
		wantCode(t, fmt.Sprintf("ListTargets(cursor %s)", cursor), err, outdial.ECodeInvalidPageToken)
	}
}

func TestDeleteTargetUpdatesCounts(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "deletes")
	if _, err := h.store.UpdateOutdial(h.ctx, cust, o.ID, &outdial.OutdialUpdate{RetryPolicy: &outdial.RetryPolicyPatch{NoAnswerSeconds: ptr(3600)}}); err != nil {
		t.Fatalf("UpdateOutdial: %v", err)
	}
	h.add(cust, o.ID, "req-1", tels(0, 6))
	h.clock.Advance(time.Second)
	claims, err := h.store.ClaimTargets(h.ctx, cust, o.ID, 3, time.Minute)
	if err != nil || len(claims) != 3 {
		t.Fatalf("ClaimTargets = %d, %v; want 3 claims", len(claims), err)
	}
	// claims[0]: no answer -> idle waiting for a retry; claims[1]: answered
	// -> finished; claims[2] stays dialing.
	h.clock.Advance(time.Second)
	for i, r := range []outdial.Result{outdial.ResultNoAnswer, outdial.ResultAnswered} {
		if eff, err := h.store.ApplyOutcome(h.ctx, outdial.Outcome{AttemptID: claims[i].AttemptID, OutdialID: o.ID, TargetID: claims[i].Target.ID, Result: r}); err != nil || eff != outdial.EffectApplied {
			t.Fatalf("ApplyOutcome(%s) = %v, %v", r, eff, err)
		}
	}
	if c := h.counts(cust, o.ID); c != (outdial.Counts{Idle: 4, Dialing: 1, Finished: 1, Retry: 1}) {
		t.Fatalf("counts before deleting = %+v", c)
	}
	var fresh string
	for n := 0; n < 6; n++ {
		id := h.targetIDOf(cust, o.ID, n)
		if id != claims[0].Target.ID && id != claims[1].Target.ID && id != claims[2].Target.ID {
			fresh = id
			break
		}
	}

	steps := []struct {
		name   string
		id     string
		status outdial.Status
		want   outdial.Counts
	}{
		{"idle", fresh, outdial.StatusIdle, outdial.Counts{Idle: 3, Dialing: 1, Finished: 1, Retry: 1}},
		{"idle waiting for a retry", claims[0].Target.ID, outdial.StatusIdle, outdial.Counts{Idle: 2, Dialing: 1, Finished: 1}},
		{"finished", claims[1].Target.ID, outdial.StatusFinished, outdial.Counts{Idle: 2, Dialing: 1}},
		{"dialing", claims[2].Target.ID, outdial.StatusDialing, outdial.Counts{Idle: 2}},
	}
	for _, st := range steps {
		deleted, err := h.store.DeleteTarget(h.ctx, cust, o.ID, st.id)
		if err != nil {
			t.Fatalf("DeleteTarget(%s): %v", st.name, err)
		}
		if deleted.ID != st.id || deleted.Status != st.status {
			t.Errorf("DeleteTarget(%s) returned %s in %s, want %s in %s", st.name, deleted.ID, deleted.Status, st.id, st.status)
		}
		if c := h.counts(cust, o.ID); c != st.want {
			t.Errorf("after deleting the %s target: counts = %+v, want %+v", st.name, c, st.want)
		}
		_, err = h.store.GetTarget(h.ctx, cust, o.ID, st.id)
		wantCode(t, "GetTarget after DeleteTarget", err, outdial.ECodeNotFound)
		_, err = h.store.DeleteTarget(h.ctx, cust, o.ID, st.id)
		wantCode(t, "second DeleteTarget", err, outdial.ECodeNotFound)
	}
	if c := h.counts(cust, o.ID); c != (outdial.Counts{Idle: 2}) {
		t.Errorf("counts after the second deletes = %+v, want 2 idle", c)
	}
	if all := h.listAll(cust, o.ID, "", 100); len(all) != 2 {
		t.Errorf("ListTargets lists %d targets, want 2", len(all))
	}
	// The outcome of the deleted dialing target changes nothing.
	if eff, err := h.store.ApplyOutcome(h.ctx, outdial.Outcome{AttemptID: claims[2].AttemptID, OutdialID: o.ID, TargetID: claims[2].Target.ID, Result: outdial.ResultAnswered}); err != nil || eff != outdial.EffectStale {
		t.Errorf("ApplyOutcome for a deleted target = %v, %v; want stale", eff, err)
	}
	if c := h.counts(cust, o.ID); c != (outdial.Counts{Idle: 2}) {
		t.Errorf("counts after a late outcome = %+v, want 2 idle", c)
	}
}

func TestConcurrentImportsAndDeletesKeepCountsExact(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "concurrent")

	// Phase 1: 4 imports of 1 000 destinations each, overlapping by half:
	// [0,1000), [500,1500), [1000,2000), [1500,2500).
	const importers = 4
	results := make([]*outdial.ImportResult, importers)
	errs := make([]error, importers)
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < importers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[g], errs[g] = h.store.AddTargets(h.ctx, cust, o.ID, fmt.Sprintf("import-%d", g), tels(g*500, g*500+1000))
		}()
	}
	wg.Wait()
	t.Logf("4 concurrent imports of 1 000 in %v", time.Since(start))
	createdBy := map[string]int{}
	for g := 0; g < importers; g++ {
		if errs[g] != nil {
			t.Fatalf("import %d: %v", g, errs[g])
		}
		if n := len(results[g].Created) + len(results[g].Duplicates); n != 1000 {
			t.Errorf("import %d: %d created + %d duplicates, want 1000 in all", g, len(results[g].Created), len(results[g].Duplicates))
		}
		for _, c := range results[g].Created {
			if prev, dup := createdBy[c.Target.ID]; dup {
				t.Errorf("target %s created by import %d and by import %d", c.Target.ID, prev, g)
			}
			createdBy[c.Target.ID] = g
		}
	}
	if len(createdBy) != 2500 {
		t.Errorf("imports created %d targets in all, want 2500", len(createdBy))
	}
	if c := h.counts(cust, o.ID); c != (outdial.Counts{Idle: 2500}) {
		t.Errorf("counts after the imports = %+v, want 2500 idle", c)
	}
	if all := h.listAll(cust, o.ID, "", 100); len(all) != 2500 {
		t.Errorf("ListTargets after the imports lists %d, want 2500", len(all))
	}

	// Phase 2, all at once: 4 deleters over overlapping ranges
	// ([0,200), [100,300), [200,400), [300,500)), an import of new targets
	// [2500,2700) and a re-import of [0,100) racing the deletes.
	var (
		mu      sync.Mutex
		deleted = map[int]int{} // successful deletes per target number
		failure []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failure = append(failure, fmt.Sprintf(format, args...))
	}
	start = time.Now()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := g * 100; n < g*100+200; n++ {
				_, err := h.store.DeleteTarget(h.ctx, cust, o.ID, h.targetIDOf(cust, o.ID, n))
				switch {
				case err == nil:
					mu.Lock()
					deleted[n]++
					mu.Unlock()
				case outdial.ErrorCode(err) != outdial.ECodeNotFound:
					fail("DeleteTarget(%d): %v", n, err)
				}
			}
		}()
	}
	imports := [][2]int{{2500, 2700}, {0, 100}}
	for i, r := range imports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.store.AddTargets(h.ctx, cust, o.ID, fmt.Sprintf("phase2-%d", i), tels(r[0], r[1])); err != nil {
				fail("import %v: %v", r, err)
			}
		}()
	}
	wg.Wait()
	t.Logf("phase 2 (800 deletes and 2 imports at once) in %v", time.Since(start))
	for _, f := range failure {
		t.Error(f)
	}

	all := h.listAll(cust, o.ID, "", 100)
	idle := h.listAll(cust, o.ID, outdial.StatusIdle, 100)
	c := h.counts(cust, o.ID)
	if c.Idle != int64(len(all)) || c != (outdial.Counts{Idle: int64(len(idle))}) {
		t.Errorf("counts = %+v, but ListTargets lists %d targets (%d idle)", c, len(all), len(idle))
	}
	for n := 0; n < 2700; n++ {
		present := all[h.targetIDOf(cust, o.ID, n)] != nil
		switch {
		case n >= 100 && n < 500:
			if present {
				t.Errorf("target %d survived its deletes", n)
			}
			if deleted[n] != 1 {
				t.Errorf("target %d deleted %d times, want exactly once", n, deleted[n])
			}
		case n >= 500:
			if !present {
				t.Errorf("target %d missing", n)
			}
		default:
			// Only the first deleter had it, racing its re-import: deleted
			// once, and present again if the re-import came second.
			if deleted[n] != 1 {
				t.Errorf("target %d deleted %d times, want exactly once", n, deleted[n])
			}
		}
	}
}

// sameShard reports whether two target ids live in the same shard.
func sameShard(a, b string) bool { return dynamo.ShardOf(a) == dynamo.ShardOf(b) }

// TestListTargetsLastFullPage lists targets that all live in the first
// shard with a page size equal to their number: that one page is the last
// and must not carry a cursor (to an empty page).
func TestListTargetsLastFullPage(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "one shard")
	var targets []*outdial.NewTarget
	for n := 0; len(targets) < 3; n++ {
		if dynamo.ShardOf(h.targetIDOf(cust, o.ID, n)) == 0 {
			targets = append(targets, tel(n))
		}
	}
	h.add(cust, o.ID, "req-1", targets)
	for _, status := range []outdial.Status{"", outdial.StatusIdle} {
		list, next, err := h.store.ListTargets(h.ctx, cust, o.ID, outdial.TargetFilter{Status: status}, outdial.Page{Size: 3})
		if err != nil {
			t.Fatalf("ListTargets(%q): %v", status, err)
		}
		if len(list) != 3 || next != "" {
			t.Errorf("ListTargets(status %q, size 3 of 3) = %d targets, cursor %q; want 3 and no cursor", status, len(list), next)
		}
	}
}
