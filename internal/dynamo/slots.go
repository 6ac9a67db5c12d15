package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	mrand "math/rand/v2"
	"sort"
	"sync"
	"time"
)

// Count slot ownership (docs/design.md "Counts"). A writer (one Store,
// that is one process) owns the slots it writes: the slot holds the owner
// (o) and until when (u), renewed by each write, and a writer writes only
// slots it owns or that nobody owns (or whose owner stopped writing), so
// two writers' transactions never touch the same slot and cannot conflict
// there. Inside a process, each transaction in flight has a slot of its
// own. A writer takes a slot it does not own yet with a conditional write
// of the slot alone before its first transaction on it: writers that start
// together and pick the same slot learn it from a failed condition, not
// from their transactions conflicting. When every slot of its range is
// owned by others, a writer writes one without taking it, and may then
// conflict.
//
// A slot exists from its first take on: a new outdial has none, and the
// first writer to take a slot makes it, with a conditional put between two
// reads of the outdial's head (createSlot). A slot that does not exist is
// free; a transaction on one finds it missing and asks the head whether
// the outdial is deleted (finish).

// slotOwnership is how long a slot stays a writer's after its last write.
const slotOwnership = time.Minute

// collisionJitter bounds the random pause of a store that found the
// slot it picked taken by another writer, before it reads the slots again
// and picks another (takeSlot).
const collisionJitter = 300 * time.Millisecond

// sleepUpTo sleeps a random time up to d, or until ctx is done.
func sleepUpTo(ctx context.Context, d time.Duration) error {
	return pause(ctx, time.Duration(mrand.Int64N(int64(d))))
}

// newWriterID returns a random identity for a store as a slot owner.
func newWriterID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ownCondition holds while the slot exists (the outdial does) and this
// writer owns it or nobody does.
const ownCondition = "attribute_exists(PK) AND (#own = :me OR attribute_not_exists(#own) OR #ou < :now)"

// slotRange is a range [lo, hi) of count slot numbers.
type slotRange struct{ lo, hi int }

// The first Shards count slots are written by claims, the others by
// imports, outcomes, deletes and the lease sweep. A claimer's slot is also the shard its
// claims start from (its lane): since a slot has one owner at a time,
// concurrent claimers of different processes start from different shards
// and do not race for the same targets.
var (
	claimSlots = slotRange{0, Shards}
	otherSlots = slotRange{Shards, CountSlots}
)

// slot is the count slot one transaction writes.
type slot struct {
	i      int
	take   bool // write it as its owner (false: shared, every slot is owned by others)
	create bool // it does not exist yet: taking it makes it (takeSlot)
	marked bool // take marked it busy (so giving it back clears that)
}

// slotPool is the store's knowledge of the count slots of the outdials it
// writes to.
type slotPool struct {
	mu       sync.Mutex
	outdials map[string]*outdialSlots
	heads    map[string]time.Time // when each outdial's head was last read present (readHead)
}

// outdialSlots is what a store knows of one outdial's slots.
type outdialSlots struct {
	owned   map[int]bool      // slots this store owns (as of its last write)
	busy    map[int]bool      // slots a transaction of this store is writing now
	avoid   map[int]time.Time // slots owned by another writer (or in conflict) until then
	missing map[int]bool      // slots that did not exist when last read or written
	learned time.Time         // when the owners of the claim slots were last read
}

// slotPoolMax bounds how many outdials a pool remembers; when full it
// starts over (it then relearns which slots are taken).
const slotPoolMax = 1024

func newSlotPool() *slotPool {
	return &slotPool{outdials: map[string]*outdialSlots{}, heads: map[string]time.Time{}}
}

// headFresh is how long a read of an outdial's head present spares
// createSlot its own first read: the request that read it (an import's or
// a claim's check of the outdial) is still under way.
const headFresh = 2 * time.Second

// sawHead records that outdialID's head was read at t: present, or gone
// (which forgets any earlier read).
func (p *slotPool) sawHead(outdialID string, present bool, t time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !present {
		delete(p.heads, outdialID)
		return
	}
	if len(p.heads) >= slotPoolMax {
		clear(p.heads)
	}
	p.heads[outdialID] = t
}

// headSeen reports whether outdialID's head was read present within
// headFresh before now.
func (p *slotPool) headSeen(outdialID string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.heads[outdialID]
	return ok && now.Sub(t) < headFresh
}

// at returns what the pool knows of outdialID's slots, creating the entry;
// p.mu is held.
func (p *slotPool) at(outdialID string) *outdialSlots {
	o := p.outdials[outdialID]
	if o == nil {
		if len(p.outdials) >= slotPoolMax {
			// Forget the outdials no transaction is writing now (the
			// others' busy slots must stay marked).
			for id, other := range p.outdials {
				if len(other.busy) == 0 {
					delete(p.outdials, id)
				}
			}
		}
		o = &outdialSlots{owned: map[int]bool{}, busy: map[int]bool{}, avoid: map[int]time.Time{}, missing: map[int]bool{}}
		p.outdials[outdialID] = o
	}
	return o
}

// take picks a slot of r for a transaction on outdialID: a slot this store
// owns and is not using, else a random free one that exists (to be taken),
// else a random one that does not exist yet (to be made, create), else,
// when others own them all, a random existing one not in use here
// (shared).
func (p *slotPool) take(outdialID string, now time.Time, r slotRange) slot {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.at(outdialID)
	owned := make([]int, 0, len(o.owned))
	for i := range o.owned {
		if !o.busy[i] && i >= r.lo && i < r.hi {
			owned = append(owned, i)
		}
	}
	if len(owned) > 0 {
		sort.Ints(owned)
		o.busy[owned[0]] = true
		return slot{i: owned[0], take: true, marked: true}
	}
	var free, absent, notBusy []int
	for i := r.lo; i < r.hi; i++ {
		if o.busy[i] {
			continue
		}
		if until, ok := o.avoid[i]; ok && !now.After(until) {
			if !o.missing[i] {
				notBusy = append(notBusy, i)
			}
			continue
		}
		if o.missing[i] {
			absent = append(absent, i)
		} else {
			free = append(free, i)
			notBusy = append(notBusy, i)
		}
	}
	switch {
	case len(free) > 0:
		i := free[mrand.IntN(len(free))]
		o.busy[i] = true
		return slot{i: i, take: true, marked: true}
	case len(absent) > 0:
		i := absent[mrand.IntN(len(absent))]
		o.busy[i] = true
		return slot{i: i, take: true, create: true, marked: true}
	case len(notBusy) > 0:
		i := notBusy[mrand.IntN(len(notBusy))]
		o.busy[i] = true
		return slot{i: i, marked: true}
	}
	// More transactions in flight here than slots: share one.
	return slot{i: r.lo + mrand.IntN(r.hi-r.lo)}
}

// slotVerdict is what a transaction found out about its slot.
type slotVerdict int

const (
	slotWritten  slotVerdict = iota // the transaction went through
	slotFine                        // cancelled for other items; the slot was fine
	slotTaken                       // another writer owns it (until the time given)
	slotConflict                    // another transaction held it
	slotGone                        // the outdial is deleted (or, from verdict, the slot does not exist)
	slotMissing                     // the slot does not exist, the outdial does
	slotUnknown                     // no answer (timeout, throttling of the whole request)
)

// release ends a transaction's use of s and records what it learnt.
func (p *slotPool) release(outdialID string, s slot, v slotVerdict, until time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.at(outdialID)
	if s.marked {
		delete(o.busy, s.i)
	}
	switch v {
	case slotWritten:
		if s.take {
			o.owned[s.i] = true
		}
		delete(o.missing, s.i)
	case slotTaken:
		delete(o.owned, s.i)
		delete(o.missing, s.i)
		o.avoid[s.i] = until
	case slotMissing:
		delete(o.owned, s.i)
		o.missing[s.i] = true
	case slotConflict:
		if !o.owned[s.i] {
			o.avoid[s.i] = time.Now().Add(2 * time.Second)
		}
	case slotGone:
		delete(p.outdials, outdialID)
	}
}

// took records that this store owns slot i of outdialID, which a
// transaction of its still holds.
func (p *slotPool) took(outdialID string, i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.outdials[outdialID]; o != nil {
		o.owned[i] = true
		delete(o.missing, i)
	}
}

// learnt records which slots of r exist and who owns them, as read at now.
func (p *slotPool) learnt(outdialID string, r slotRange, exists map[int]bool, others map[int]time.Time, mine map[int]bool, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.at(outdialID)
	for i := r.lo; i < r.hi; i++ {
		if exists[i] {
			delete(o.missing, i)
		} else if !o.busy[i] {
			o.missing[i] = true
			delete(o.owned, i)
		}
		if until, ok := others[i]; ok {
			o.avoid[i] = until
			delete(o.owned, i)
		} else if !o.busy[i] {
			delete(o.avoid, i)
		}
		if mine[i] {
			o.owned[i] = true
		}
	}
	if r == claimSlots {
		o.learned = now
	}
}

// claimLanes returns, for the claim slots of outdialID, whether another
// writer owns each or another claim of this store writes it now (so that
// its shard is that claimer's to serve), and when the owners were last
// read. The caller's own slot is busy too: it asks about the others.
func (p *slotPool) claimLanes(outdialID string, now time.Time) ([Shards]bool, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var others [Shards]bool
	o := p.outdials[outdialID]
	if o == nil {
		return others, time.Time{}
	}
	for i := claimSlots.lo; i < claimSlots.hi; i++ {
		until, ok := o.avoid[i]
		others[i] = ok && until.After(now) && !o.owned[i] || o.busy[i]
	}
	return others, o.learned
}

// knows reports whether the pool has learnt anything of outdialID's slots.
func (p *slotPool) knows(outdialID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.outdials[outdialID]
	return ok
}

// owns reports whether this store owns slot i of outdialID (as of its last
// write).
func (p *slotPool) owns(outdialID string, i int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := p.outdials[outdialID]
	return o != nil && o.owned[i]
}

// unused gives back a slot no transaction was sent with.
func (p *slotPool) unused(outdialID string, s slot) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if o := p.outdials[outdialID]; o != nil && s.marked {
		delete(o.busy, s.i)
	}
}
