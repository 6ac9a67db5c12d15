package dynamo_test

import (
	"testing"
	"time"

	"github.com/outdial/outdial/internal/outdial"
)

// Issue 14 against DynamoDB Local: calling windows, the suppression list
// at claim time, reasons, bulk delete and archived outdials.

// mondayNoonUTC is Monday 2026-12-07 12:00 UTC: 07:00 in New York (EST).
var mondayNoonUTC = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// nineToEightNY is a 09:00-20:00 window, every day, falling back to New York.
func nineToEightNY() *outdial.CallingWindow {
	w := &outdial.CallingWindow{Start: "09:00", End: "20:00", Timezone: "America/New_York"}
	if err := w.Validate("calling_window"); err != nil {
		panic(err)
	}
	return w
}

// windowHarness is a store harness whose clock starts at start, with one
// outdial of one customer carrying window w.
func windowHarness(t *testing.T, start time.Time, w *outdial.CallingWindow) (*storeHarness, string, *outdial.Outdial) {
	t.Helper()
	h := newStoreHarness(t)
	h.clock.Set(start)
	cust := h.customer()
	o := h.outdial(cust, "windowed")
	if w != nil {
		if _, err := h.store.UpdateOutdial(h.ctx, cust, o.ID, &outdial.OutdialUpdate{SetWindow: true, Window: w}); err != nil {
			t.Fatalf("UpdateOutdial(window): %v", err)
		}
	}
	return h, cust, o
}

// zoned is a one-destination target whose number lies in zones (what
// the import works out with libphonenumber).
func zoned(number string, zones ...string) *outdial.NewTarget {
	return &outdial.NewTarget{Destinations: []outdial.TargetDestination{{Type: outdial.TypeTel, Target: number, TryCountMax: 3, Timezones: zones}}}
}

// created adds targets and returns their ids, failing unless every one
// was created.
func (h *storeHarness) created(cust, outdialID string, targets ...*outdial.NewTarget) []string {
	h.t.Helper()
	res := h.add(cust, outdialID, "req", targets)
	if len(res.Created) != len(targets) {
		h.t.Fatalf("AddTargets created %d of %d", len(res.Created), len(targets))
	}
	ids := make([]string, len(res.Created))
	for i, c := range res.Created {
		ids[i] = c.Target.ID
	}
	return ids
}

func (h *storeHarness) claim(cust, outdialID string, limit int) []*outdial.Claim {
	h.t.Helper()
	claims, err := h.store.ClaimTargets(h.ctx, cust, outdialID, limit, time.Minute)
	if err != nil {
		h.t.Fatalf("ClaimTargets: %v", err)
	}
	return claims
}

func (h *storeHarness) setClock(t time.Time) {
	h.clock.Set(t)
}

func TestClaimHandsOutNothingOutsideTheWindowAndEverythingInside(t *testing.T) {
	h, cust, o := windowHarness(t, mondayNoonUTC, nineToEightNY())
	ids := h.created(cust, o.ID, zoned("+12125550100", "America/New_York"), zoned("+12125550101", "America/New_York"), tel(7))

	if got := h.claim(cust, o.ID, 10); len(got) != 0 {
		t.Fatalf("claim at 07:00 New York handed out %d targets, want none", len(got))
	}
	opens := time.Date(2026, 12, 7, 14, 0, 0, 0, time.UTC) // 09:00 New York
	for _, id := range ids {
		tg := h.get(cust, o.ID, id)
		if tg.Reason != outdial.ReasonOutsideWindow || !tg.NextAttemptAt.Equal(opens) {
			t.Errorf("target %s: reason %s, next_attempt_at %v; want %s at %v", id, tg.Reason, tg.NextAttemptAt.Time, outdial.ReasonOutsideWindow, opens)
		}
	}
	// A second claim before the opening reads the deferred targets no more
	// (they wait in their wait partition) and still hands out nothing.
	h.setClock(opens.Add(-time.Second))
	if got := h.claim(cust, o.ID, 10); len(got) != 0 {
		t.Fatalf("claim at 08:59:59 New York handed out %d targets", len(got))
	}
	h.setClock(opens)
	if got := h.claim(cust, o.ID, 10); len(got) != 3 {
		t.Fatalf("claim at 09:00 New York handed out %d targets, want 3", len(got))
	}
	if c := h.counts(cust, o.ID); c.Idle != 0 || c.Dialing != 3 {
		t.Errorf("counts %+v, want 3 dialing", c)
	}
}

func TestNumberInTwoZonesIsDialedOnlyWhenBothAreOpen(t *testing.T) {
	// 16:30 UTC: 09:30 in Boise (MST), 08:30 in Los Angeles (PST).
	h, cust, o := windowHarness(t, time.Date(2026, 12, 7, 16, 30, 0, 0, time.UTC), nineToEightNY())
	ids := h.created(cust, o.ID,
		zoned("+12085550123", "America/Boise", "America/Los_Angeles"),
		zoned("+12085550124", "America/Boise"))
	got := h.claim(cust, o.ID, 10)
	if len(got) != 1 || got[0].Target.ID != ids[1] {
		t.Fatalf("claim at 09:30 Boise / 08:30 Los Angeles = %d claims, want only the Boise-only target", len(got))
	}
	if tg := h.get(cust, o.ID, ids[0]); tg.Reason != outdial.ReasonOutsideWindow || !tg.NextAttemptAt.Equal(time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC)) {
		t.Errorf("two-zone target: %s at %v, want outside_calling_window until 17:00 UTC", tg.Reason, tg.NextAttemptAt.Time)
	}
	h.setClock(time.Date(2026, 12, 7, 17, 0, 0, 0, time.UTC))
	if got := h.claim(cust, o.ID, 10); len(got) != 1 || got[0].Target.ID != ids[0] {
		t.Fatalf("claim at 09:00 Los Angeles = %d claims, want the two-zone target", len(got))
	}
}

func TestWindowChangeAppliesFromTheNextClaim(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    *outdial.CallingWindow
	}{
		{"removed", nil},
		{"widened", &outdial.CallingWindow{Start: "06:00", End: "22:00", Timezone: "America/New_York"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, cust, o := windowHarness(t, mondayNoonUTC, nineToEightNY())
			h.created(cust, o.ID, zoned("+12125550100", "America/New_York"), zoned("+12125550101", "America/New_York"))
			if got := h.claim(cust, o.ID, 10); len(got) != 0 {
				t.Fatalf("claim before the change handed out %d", len(got))
			}
			if tc.w != nil {
				if err := tc.w.Validate("calling_window"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := h.store.UpdateOutdial(h.ctx, cust, o.ID, &outdial.OutdialUpdate{SetWindow: true, Window: tc.w}); err != nil {
				t.Fatal(err)
			}
			if got := h.claim(cust, o.ID, 10); len(got) != 2 {
				t.Fatalf("claim right after the window was %s handed out %d, want 2", tc.name, len(got))
			}
		})
	}
	t.Run("narrowed", func(t *testing.T) {
		// Deferred again under the new window's opening.
		h, cust, o := windowHarness(t, mondayNoonUTC, nineToEightNY())
		ids := h.created(cust, o.ID, zoned("+12125550100", "America/New_York"))
		h.claim(cust, o.ID, 10)
		w := &outdial.CallingWindow{Start: "10:00", End: "12:00", Timezone: "America/New_York"}
		if err := w.Validate("calling_window"); err != nil {
			t.Fatal(err)
		}
		if _, err := h.store.UpdateOutdial(h.ctx, cust, o.ID, &outdial.OutdialUpdate{SetWindow: true, Window: w}); err != nil {
			t.Fatal(err)
		}
		if got := h.claim(cust, o.ID, 10); len(got) != 0 {
			t.Fatalf("claim at 07:00 New York handed out %d", len(got))
		}
		h.setClock(time.Date(2026, 12, 7, 14, 30, 0, 0, time.UTC)) // 09:30: open under the old window, not the new
		if got := h.claim(cust, o.ID, 10); len(got) != 0 {
			t.Fatalf("claim at 09:30 New York under a 10:00 window handed out %d", len(got))
		}
		if tg := h.get(cust, o.ID, ids[0]); tg.Reason != outdial.ReasonOutsideWindow || !tg.NextAttemptAt.Equal(time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)) {
			t.Errorf("reason %s at %v, want outside_calling_window until 15:00 UTC", tg.Reason, tg.NextAttemptAt.Time)
		}
		h.setClock(time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC))
		if got := h.claim(cust, o.ID, 10); len(got) != 1 {
			t.Fatalf("claim at 10:00 New York handed out %d, want 1", len(got))
		}
	})
}

func TestClaimSkipsSuppressedDestinations(t *testing.T) {
	h, cust, o := windowHarness(t, mondayNoonUTC, nil)
	two := &outdial.NewTarget{Destinations: []outdial.TargetDestination{
		{Type: outdial.TypeTel, Target: telNumber(1), TryCountMax: 2},
		{Type: outdial.TypeTel, Target: telNumber(2), TryCountMax: 2},
	}}
	ids := h.created(cust, o.ID, two, tel(3), tel(4))
	// Suppressed after the import.
	if _, _, err := h.store.AddSuppressions(h.ctx, cust, []string{"tel:" + telNumber(1), "tel:" + telNumber(3)}); err != nil {
		t.Fatalf("AddSuppressions: %v", err)
	}
	claims := h.claim(cust, o.ID, 10)
	got := map[string]string{}
	for _, c := range claims {
		got[c.Target.ID] = c.Destination.Target
	}
	if len(claims) != 2 || got[ids[0]] != telNumber(2) || got[ids[2]] != telNumber(4) {
		t.Fatalf("claims %v, want the second destination of the first target and the fourth number", got)
	}
	tg := h.get(cust, o.ID, ids[1])
	if tg.Status != outdial.StatusFailed || tg.LastResult != outdial.ResultSuppressed || tg.Reason != outdial.ReasonSuppressed || !tg.NextAttemptAt.IsZero() {
		t.Errorf("suppressed target: status %s, last_result %s, reason %s, next %v; want failed, suppressed, suppressed, null", tg.Status, tg.LastResult, tg.Reason, tg.NextAttemptAt.Time)
	}
	if c := h.counts(cust, o.ID); c.Idle != 0 || c.Dialing != 2 || c.Failed != 1 {
		t.Errorf("counts %+v, want 2 dialing, 1 failed", c)
	}
	// The first target's suppressed destination is spent: its outcome
	// fails over to nothing, never back to the suppressed number.
	first := h.get(cust, o.ID, ids[0])
	if len(first.Destinations) != 2 || !first.Destinations[0].Exhausted {
		t.Errorf("first target's destinations %+v, want the suppressed one exhausted", first.Destinations)
	}
}

func TestReasonsFollowTheTable(t *testing.T) {
	h, cust, o := windowHarness(t, mondayNoonUTC, nil)
	ids := h.created(cust, o.ID, tel(1), tel(2), tel(3), tel(4))
	want := func(id string, r outdial.Reason, next bool) {
		t.Helper()
		tg := h.get(cust, o.ID, id)
		if tg.Reason != r || tg.NextAttemptAt.IsZero() == next {
			t.Errorf("target %s: reason %s, next_attempt_at %v; want %s (next set: %v)", id, tg.Reason, tg.NextAttemptAt.Time, r, next)
		}
	}
	want(ids[0], outdial.ReasonDue, true)
	claims := h.claim(cust, o.ID, 4)
	byID := map[string]*outdial.Claim{}
	for _, c := range claims {
		byID[c.Target.ID] = c
	}
	want(ids[0], outdial.ReasonDialing, false)
	apply := func(id string, r outdial.Result) {
		t.Helper()
		c := byID[id]
		if _, err := h.store.ApplyOutcome(h.ctx, outdial.Outcome{AttemptID: c.AttemptID, OutdialID: o.ID, TargetID: id, Result: r}); err != nil {
			t.Fatalf("ApplyOutcome: %v", err)
		}
	}
	apply(ids[0], outdial.ResultAnswered)
	apply(ids[1], outdial.ResultBusy)
	apply(ids[2], outdial.ResultInvalid)
	want(ids[0], outdial.ReasonFinished, false)
	want(ids[1], outdial.ReasonRetryScheduled, true)
	want(ids[2], outdial.ReasonMaxTries, false)
	want(ids[3], outdial.ReasonDialing, false)

	// ?reason= walks the whole list; pages may come back short.
	for r, n := range map[outdial.Reason]int{outdial.ReasonFinished: 1, outdial.ReasonRetryScheduled: 1, outdial.ReasonMaxTries: 1, outdial.ReasonDialing: 1, outdial.ReasonDue: 0} {
		got := 0
		cursor := ""
		for pages := 0; ; pages++ {
			list, next, err := h.store.ListTargets(h.ctx, cust, o.ID, outdial.TargetFilter{Reason: r}, outdial.Page{Size: 1, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			for _, tg := range list {
				if tg.Reason != r {
					t.Errorf("?reason=%s listed a target with reason %s", r, tg.Reason)
				}
			}
			got += len(list)
			if next == "" || pages > 20 {
				break
			}
			cursor = next
		}
		if got != n {
			t.Errorf("?reason=%s listed %d targets, want %d", r, got, n)
		}
	}
}

func TestDeleteTargetsByReasonAndStatus(t *testing.T) {
	h, cust, o := windowHarness(t, mondayNoonUTC, nil)
	ids := h.created(cust, o.ID, tel(1), tel(2), tel(3), tel(4), tel(5))
	if _, _, err := h.store.AddSuppressions(h.ctx, cust, []string{"tel:" + telNumber(1), "tel:" + telNumber(2)}); err != nil {
		t.Fatal(err)
	}
	claims := h.claim(cust, o.ID, 10) // fails 1 and 2 (suppressed), claims 3..5
	if len(claims) != 3 {
		t.Fatalf("claimed %d, want 3", len(claims))
	}
	for _, c := range claims {
		if c.Target.ID == ids[2] {
			if _, err := h.store.ApplyOutcome(h.ctx, outdial.Outcome{AttemptID: c.AttemptID, OutdialID: o.ID, TargetID: c.Target.ID, Result: outdial.ResultInvalid}); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, more, err := h.store.DeleteTargets(h.ctx, cust, o.ID, outdial.TargetFilter{Reason: outdial.ReasonSuppressed})
	if err != nil || n != 2 || more {
		t.Fatalf("DeleteTargets(reason suppressed) = %d, %v, %v; want 2, false, nil", n, more, err)
	}
	if c := h.counts(cust, o.ID); c.Failed != 1 || c.Dialing != 2 || c.Total() != 3 {
		t.Errorf("counts after deleting the suppressed %+v, want 1 failed, 2 dialing", c)
	}
	if n, _, err := h.store.DeleteTargets(h.ctx, cust, o.ID, outdial.TargetFilter{Status: outdial.StatusFailed}); err != nil || n != 1 {
		t.Fatalf("DeleteTargets(status failed) = %d, %v; want 1", n, err)
	}
	if c := h.counts(cust, o.ID); c.Failed != 0 || c.Total() != 2 {
		t.Errorf("counts after deleting the failed %+v, want 2 dialing only", c)
	}
	if _, err := h.store.GetTarget(h.ctx, cust, o.ID, ids[0]); outdial.ErrorCode(err) != outdial.ECodeNotFound {
		t.Errorf("GetTarget of a deleted target: %v, want not_found", err)
	}
	_, _, err = h.store.DeleteTargets(h.ctx, h.customer(), o.ID, outdial.TargetFilter{Status: outdial.StatusFailed})
	wantCode(t, "DeleteTargets by another customer", err, outdial.ECodeNotFound)
}

func TestArchivedOutdialKeepsItsTargetsAndHandsOutNothing(t *testing.T) {
	h, cust, o := windowHarness(t, mondayNoonUTC, nil)
	h.created(cust, o.ID, tel(1), tel(2))
	claimed := h.claim(cust, o.ID, 1)
	a, err := h.store.SetArchived(h.ctx, cust, o.ID, true)
	if err != nil || !a.Archived || a.TMArchive.IsZero() {
		t.Fatalf("SetArchived(true) = %+v, %v", a, err)
	}
	again, err := h.store.SetArchived(h.ctx, cust, o.ID, true)
	if err != nil || !again.TMArchive.Equal(a.TMArchive.Time) {
		t.Errorf("archiving again: %v, tm_archive %v want unchanged %v", err, again.TMArchive.Time, a.TMArchive.Time)
	}
	_, err = h.store.ClaimTargets(h.ctx, cust, o.ID, 10, time.Minute)
	wantCode(t, "ClaimTargets(archived)", err, outdial.ECodeArchived)
	_, err = h.store.AddTargets(h.ctx, cust, o.ID, "req", []*outdial.NewTarget{tel(9)})
	wantCode(t, "AddTargets(archived)", err, outdial.ECodeArchived)
	// The attempt claimed before archiving still lands.
	if eff, err := h.store.ApplyOutcome(h.ctx, outdial.Outcome{AttemptID: claimed[0].AttemptID, OutdialID: o.ID, TargetID: claimed[0].Target.ID, Result: outdial.ResultAnswered}); err != nil || eff != outdial.EffectApplied {
		t.Fatalf("ApplyOutcome on an archived outdial = %v, %v", eff, err)
	}
	if c := h.counts(cust, o.ID); c.Finished != 1 || c.Idle != 1 {
		t.Errorf("counts %+v, want 1 finished, 1 idle", c)
	}
	active, _, err := h.store.ListOutdials(h.ctx, cust, false, outdial.Page{Size: 10})
	if err != nil || len(active) != 0 {
		t.Errorf("ListOutdials(active) = %d, %v; want none", len(active), err)
	}
	archived, _, err := h.store.ListOutdials(h.ctx, cust, true, outdial.Page{Size: 10})
	if err != nil || len(archived) != 1 || !archived[0].Archived {
		t.Errorf("ListOutdials(archived) = %d, %v; want the one", len(archived), err)
	}
	r, err := h.store.SetArchived(h.ctx, cust, o.ID, false)
	if err != nil || r.Archived || !r.TMArchive.IsZero() {
		t.Fatalf("SetArchived(false) = %+v, %v", r, err)
	}
	if got := h.claim(cust, o.ID, 10); len(got) != 1 {
		t.Errorf("claim after restoring handed out %d, want 1", len(got))
	}
}
