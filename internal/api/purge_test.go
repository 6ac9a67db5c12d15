package api_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/outdial"
)

// recordingPurger stands in for the purge queue (SQS): it records what was
// queued, or fails like an unreachable queue.
type recordingPurger struct {
	mu     sync.Mutex
	queued [][2]string
	fail   bool
}

func (p *recordingPurger) Enqueue(_ context.Context, customerID, outdialID string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("queue unreachable")
	}
	p.queued = append(p.queued, [2]string{customerID, outdialID})
	return nil
}

// TestDeleteOutdialQueuesThePurge checks the order of DELETE: ownership,
// then the purge message, then the delete; a purge that cannot be queued
// deletes nothing and answers 503.
func TestDeleteOutdialQueuesThePurge(t *testing.T) {
	a := newAPIHarness(t)
	p := &recordingPurger{}
	a.h.Purges = p
	owner, other := uuid.NewString(), uuid.NewString()
	o := a.createOutdial(owner, "")

	// Another customer: 404, nothing queued, nothing deleted.
	wantError(t, a.do("delete-outdial", a.event("delete-outdial", other, o.ID)), http.StatusNotFound, outdial.ECodeNotFound, "")
	if len(p.queued) != 0 {
		t.Fatalf("a foreign delete queued %v", p.queued)
	}

	// The queue is down: 503, the outdial is still there.
	p.fail = true
	resp, err := a.h.DeleteOutdial(a.ctx, a.event("delete-outdial", owner, o.ID)) // a.do refuses 5xx
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, resp, http.StatusServiceUnavailable, outdial.ECodeUnavailable, "")
	a.getOutdial(owner, o.ID)

	// The queue is up: the purge of exactly this outdial is queued and the
	// outdial is gone.
	p.fail = false
	a.ok("delete-outdial", a.event("delete-outdial", owner, o.ID), nil)
	if want := [][2]string{{owner, o.ID}}; len(p.queued) != 1 || p.queued[0] != want[0] {
		t.Errorf("queued %v, want %v", p.queued, want)
	}
	wantError(t, a.do("get-outdial", a.event("get-outdial", owner, o.ID)), http.StatusNotFound, outdial.ECodeNotFound, "")
}
