package dynamo_test

import (
	"testing"

	"github.com/outdial/outdial/internal/outdial"
)

// TestPurgeTargets checks that a purge waits for the outdial's delete,
// then removes every target item of the outdial and nothing of another.
func TestPurgeTargets(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	doomed := h.outdial(cust, "doomed")
	kept := h.outdial(cust, "kept")
	if _, err := h.store.AddTargets(h.ctx, cust, doomed.ID, "r1", tels(0, 300)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.AddTargets(h.ctx, cust, kept.ID, "r2", tels(0, 50)); err != nil {
		t.Fatal(err)
	}

	// While the outdial exists the purge refuses and deletes nothing.
	n, err := h.store.PurgeTargets(h.ctx, cust, doomed.ID)
	wantCode(t, "PurgeTargets before the delete", err, outdial.ECodeFailedPrecondition)
	if n != 0 {
		t.Errorf("PurgeTargets before the delete deleted %d, want 0", n)
	}
	if got := len(h.listAll(cust, doomed.ID, "", 100)); got != 300 {
		t.Fatalf("after a refused purge: %d targets, want 300", got)
	}

	if _, err := h.store.DeleteOutdial(h.ctx, cust, doomed.ID, nil); err != nil {
		t.Fatal(err)
	}
	n, err = h.store.PurgeTargets(h.ctx, cust, doomed.ID)
	if err != nil || n != 300 {
		t.Fatalf("PurgeTargets = %d, %v; want 300, nil", n, err)
	}
	// Running it again (a redelivery) finds nothing left.
	if n, err := h.store.PurgeTargets(h.ctx, cust, doomed.ID); err != nil || n != 0 {
		t.Errorf("second PurgeTargets = %d, %v; want 0, nil", n, err)
	}
	// No target item of the deleted outdial is left (the API cannot see
	// them any more, so look at the items themselves).
	if left := h.rawTargetItems(doomed.ID); left != 0 {
		t.Errorf("%d target items of the deleted outdial are left", left)
	}
	// The other outdial is untouched.
	if got := len(h.listAll(cust, kept.ID, "", 100)); got != 50 {
		t.Errorf("other outdial: %d targets, want 50", got)
	}
	if c := h.counts(cust, kept.ID); c.Idle != 50 {
		t.Errorf("other outdial counts = %+v, want 50 idle", c)
	}
}
