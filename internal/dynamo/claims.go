package dynamo

import (
	"context"
	"errors"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/outdial"
)

var _ outdial.DialStore = (*Store)(nil)

// candidate is an idle, due target found in GSI1.
type candidate struct {
	item  targetItem
	plan  outdial.AttemptPlan
	shard int
	// suppressed are the destinations found on the suppression list by
	// screen, marked exhausted by the claim's update.
	suppressed []int
}

// ClaimTargets implements outdial.DialStore (docs/design.md "Claims").
// It reads, in parallel, the outdial's head (owner, retry policy) and the
// due idle targets it may claim (GSI1, oldest due first; dueCandidates),
// and registers the leases it is about to grant for the lease sweep. Then it
// moves limit of the candidates to dialing, in transactions of up to 99
// targets (in parallel, each with a count slot of its own): each target's
// update holds only if it is still idle, due and unchanged, so two
// claimers never get the same target; the losers of a race are replaced
// by the next candidates.
//
// Order: oldest due first, to the second. Targets due in the same second
// are taken shard by shard from the claim's lane on: the number of the
// count slot it writes, which is owned by one writer at a time (see
// claimSlots), so that concurrent claimers of a freshly imported list (all
// due within a few seconds) work on different shards instead of racing for
// the same targets.
func (s *Store) ClaimTargets(ctx context.Context, customerID, outdialID string, limit int, lease time.Duration) ([]*outdial.Claim, error) {
	// Transactions are started only until the claim's deadline less a
	// reserve; the reserve is for sending again a transaction whose
	// answer that earlier deadline cut off (claimChunk).
	work, cancel := claimWorkContext(ctx)
	defer cancel()

	now := s.now().UTC()
	leaseUntil := now.Add(lease)
	var (
		head  *outdialItem
		cands []candidate
	)
	// Which shards other claimers serve: the claim slots' owners, read
	// (a Query, no write) again every lanesFor.
	if _, learned := s.slots.claimLanes(outdialID, now); now.Sub(learned) > lanesFor {
		if err := s.learnOwners(work, outdialID, claimSlots, now); err != nil {
			if errors.Is(err, errOutdialGone) {
				return nil, outdial.ErrNotFound("outdial")
			}
			return nil, err
		}
	}
	// The count slot of the first transaction, taken now: its number is
	// the shard this claim starts from (see claimSlots). While this store
	// owns no free claim slot of the outdial, the owner is checked first,
	// so that taking one (takeSlot writes) is only ever done for the
	// outdial's customer; then the head and the candidates are read in
	// parallel.
	first := s.slots.take(outdialID, now, claimSlots)
	if first.take && !s.slots.owns(outdialID, first.i) {
		s.slots.unused(outdialID, first)
		var err error
		if head, err = s.readHead(work, outdialID); err != nil {
			return nil, err
		}
		if head == nil || head.CustomerID != customerID {
			return nil, outdial.ErrNotFound("outdial")
		}
		if first, err = s.takeSlot(work, outdialID, claimSlots); err != nil {
			if errors.Is(err, errOutdialGone) {
				return nil, outdial.ErrNotFound("outdial")
			}
			return nil, classify("claim targets", err)
		}
	}
	firstUsed := false
	defer func() {
		if !firstUsed {
			s.slots.unused(outdialID, first)
		}
	}()
	lane := first.i
	g, gctx := errgroup.WithContext(work)
	if head == nil {
		g.Go(func() (err error) { head, err = s.readHead(gctx, outdialID); return err })
	}
	g.Go(func() (err error) { cands, err = s.dueCandidates(gctx, outdialID, now, limit, lane); return err })
	if err := g.Wait(); err != nil {
		return nil, classify("claim targets", err)
	}
	if head == nil || head.CustomerID != customerID {
		return nil, outdial.ErrNotFound("outdial")
	}
	if head.Archived {
		return nil, errArchived()
	}
	if wait, err := s.waitCandidates(work, outdialID, head, now, limit, lane); err != nil {
		return nil, err
	} else if len(wait) > 0 {
		cands = mergeCandidates(cands, wait, lane)
	}
	// Registered before any lease is granted, and only for the outdial's
	// owner (once a minute per process: see register).
	if err := s.register(work, outdialID, leaseUntil); err != nil {
		return nil, err
	}
	policy := head.policy()

	// When concurrent claimers won every candidate read before this claim
	// got its limit, the candidates are read once more.
	var claims []*outdial.Claim
	order := map[string]int{}
passes:
	for pass, lost := 0, true; pass < 2 && lost && len(claims) < limit && work.Err() == nil; pass++ {
		if pass > 0 {
			now = s.now().UTC()
			var err error
			if cands, err = s.dueCandidates(work, outdialID, now, limit, lane); err != nil {
				break // hand out what was claimed
			}
			wait, err := s.waitCandidates(work, outdialID, head, now, limit, lane)
			if err != nil {
				break
			}
			cands = mergeCandidates(cands, wait, lane)
		}
		// The calling window and the suppression list decide which
		// candidates may be claimed; the others are deferred or failed.
		want := limit - len(claims)
		sc, err := s.screen(work, customerID, head, cands, now, want+want/4+1)
		if err != nil {
			if len(claims) > 0 {
				break // hand out what was claimed
			}
			return nil, err
		}
		s.deferTargets(work, outdialID, head, sc.deffer)
		if err := s.failSuppressed(work, outdialID, sc.fail, now); err != nil && len(claims) == 0 && len(sc.claim) == 0 {
			return nil, err
		}
		cands = sc.claim
		for _, c := range cands {
			if _, ok := order[c.item.ID]; !ok {
				order[c.item.ID] = len(order)
			}
		}
		lost = false
		for round := 0; round < 8 && len(claims) < limit && len(cands) > 0 && work.Err() == nil; round++ {
			if round > 0 {
				// Another claimer won some of the targets: go on from
				// another shard.
				lane = (lane + 1 + rand.IntN(Shards-1)) % Shards
				cands = spreadCandidates(cands, lane)
			}
			take := cands[:min(limit-len(claims), len(cands))]
			cands = cands[len(take):]
			var sl *slot
			if !firstUsed {
				sl, firstUsed = &first, true
			}
			got, err := s.claimCandidates(work, ctx, outdialID, sl, take, now, leaseUntil, policy)
			claims = append(claims, got...)
			if err != nil {
				if len(claims) > 0 {
					break passes // hand out what was claimed; the rest stays idle
				}
				return nil, err
			}
			lost = lost || len(got) < len(take)
		}
	}
	if len(claims) == 0 && work.Err() != nil {
		// Out of time before anything was claimed: not "nothing is due".
		return nil, classify("claim targets", work.Err())
	}
	sort.Slice(claims, func(i, j int) bool { return order[claims[i].Target.ID] < order[claims[j].Target.ID] })
	return claims, nil
}

// mergeCandidates returns a and b in claim order (sortCandidates from
// shard start), each target once.
func mergeCandidates(a, b []candidate, start int) []candidate {
	seen := make(map[string]bool, len(a)+len(b))
	out := make([]candidate, 0, len(a)+len(b))
	for _, c := range append(append([]candidate(nil), a...), b...) {
		if !seen[c.item.ID] {
			seen[c.item.ID] = true
			out = append(out, c)
		}
	}
	sortCandidates(out, start)
	return out
}

// claimReserve is the most time a claim keeps back before its deadline.
const claimReserve = 3 * time.Second

// claimWorkContext returns ctx with a deadline a third of the time left
// (at most claimReserve) before ctx's own, if it has one.
func claimWorkContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-min(time.Until(dl)/3, claimReserve)))
}

// claimCandidates claims cands in transactions of up to txMaxTargets
// targets (sent in parallel) and returns the claims won. Candidates another
// claimer took are skipped. Transactions are sent within work; full is the
// claim's own context, whose time after work's deadline is kept for
// sending again a transaction whose answer work's deadline cut off.
func (s *Store) claimCandidates(work, full context.Context, outdialID string, first *slot, cands []candidate, now, leaseUntil time.Time, policy outdial.RetryPolicy) ([]*outdial.Claim, error) {
	n := (len(cands) + txMaxTargets - 1) / txMaxTargets
	var (
		mu     sync.Mutex
		claims []*outdial.Claim
	)
	var g errgroup.Group
	for i := 0; i < n; i++ {
		chunk := cands[i*len(cands)/n : (i+1)*len(cands)/n]
		// The first chunk writes the claim's slot (its lane); a second
		// one (a claim of more than 99) writes one of the other slots.
		sl, r := first, claimSlots
		if i > 0 {
			sl, r = nil, otherSlots
		}
		g.Go(func() error {
			got, err := s.claimChunk(work, full, outdialID, sl, r, chunk, now, leaseUntil, policy)
			mu.Lock()
			defer mu.Unlock()
			claims = append(claims, got...)
			return err
		})
	}
	err := g.Wait()
	return claims, err
}

// claimChunk moves chunk to dialing in one transaction: each target's
// update holds only if it is still idle, due and unchanged. The targets
// another claimer won (a failed condition, or a conflict with that
// claimer's transaction in flight) are dropped and the rest sent again at
// once. See claimCandidates for work and full.
func (s *Store) claimChunk(work, full context.Context, outdialID string, first *slot, r slotRange, chunk []candidate, now, leaseUntil time.Time, policy outdial.RetryPolicy) ([]*outdial.Claim, error) {
	defer func() {
		if first != nil {
			s.slots.unused(outdialID, *first)
		}
	}()
	// Attempt ids are drawn once per candidate.
	attemptIDs := make(map[string]string, len(chunk))
	for _, c := range chunk {
		attemptIDs[c.item.ID] = outdial.NewAttemptID(c.plan)
	}
	for attempt := 1; len(chunk) > 0; attempt++ {
		if err := work.Err(); err != nil {
			// No new transaction in the time kept back (it is for
			// settling one already sent).
			return nil, classify("claim targets", err)
		}
		items := make([]types.TransactWriteItem, len(chunk))
		delta := counterDelta{}
		for i, c := range chunk {
			items[i] = s.claimUpdate(outdialID, c, attemptIDs[c.item.ID], now, leaseUntil, policy)
			delta.merge(statusDelta(outdial.StatusIdle, c.item.TryCur > 0, outdial.StatusDialing, false))
		}
		var sl slot
		if first != nil {
			sl, first = *first, nil
		} else if sl = s.slots.take(outdialID, s.now(), r); sl.create {
			// Not made yet: make it first (takeSlot). A slot that exists
			// is taken in the transaction itself, whose condition on it
			// says whether it was free.
			s.slots.unused(outdialID, sl)
			var err error
			if sl, err = s.takeSlot(work, outdialID, r); err != nil {
				if errors.Is(err, errOutdialGone) {
					return nil, outdial.ErrNotFound("outdial")
				}
				return nil, classify("claim targets", err)
			}
		}
		tx := s.prepareOn(outdialID, sl, items, delta)
		// The same request (same token) again while its answer is lost or
		// it is throttled; once work's deadline has passed, in the time
		// kept back: DynamoDB answers it with the first one's success,
		// or with TransactionInProgress while that one is under way.
		// Should the claim's own deadline cut off that answer too, the
		// targets stay dialing under a lease nobody holds until the lease
		// sweep records an expired attempt.
		_, err := s.db.TransactWriteItems(work, tx.in)
		for resend := 1; err != nil && cancellation(err) == nil && IsRetryable(err); resend++ {
			// While work lasts, in work; once it is (nearly) out, in the
			// time kept back.
			ctx := work
			if backoff(work, resend) != nil {
				if ctx = full; backoff(full, resend) != nil {
					break
				}
			}
			_, err = s.db.TransactWriteItems(ctx, tx.in)
		}
		sent := err != nil && cancellation(err) == nil && ambiguous(err)
		err = s.finish(full, tx, err)
		var ce *cancelledError
		switch {
		case err == nil:
			claims := make([]*outdial.Claim, len(chunk))
			for i, c := range chunk {
				s.recent.note(c.item, now)
				it := c.item
				it.Status, it.AttemptID, it.LeaseUntil, it.DestIdx = string(outdial.StatusDialing), attemptIDs[c.item.ID], leaseUntil.UnixMilli(), c.plan.Dest
				it.TMUpdate = formatTime(now)
				t := it.targetAt(nil, now)
				claims[i] = &outdial.Claim{
					AttemptID: it.AttemptID, Destination: t.Destination, DestIdx: c.plan.Dest,
					LeaseExpire: outdial.Time{Time: leaseUntil}, Target: t,
				}
			}
			return claims, nil
		case errors.Is(err, errOutdialGone):
			return nil, outdial.ErrNotFound("outdial")
		case errors.Is(err, errSlotBusy) && attempt == 1:
			continue // another slot, at once
		case errors.As(err, &ce):
			// Targets another claimer won (a failed condition) or is
			// taking now (a conflict) are left to it.
			var keep []candidate
			for i, c := range chunk {
				switch code(ce.Reasons[i]) {
				case reasonCondition:
					s.recent.note(c.item, now) // changed: the index will say so soon
				case reasonConflict:
				default:
					keep = append(keep, c)
				}
			}
			if len(keep) < len(chunk) {
				chunk = keep
				continue
			}
		case sent:
			// Perhaps applied, its every answer lost: a changed
			// transaction now could find the targets claimed by this one
			// and lose them. Its targets, if it went through, come back
			// with an expired attempt after the lease.
			return nil, classify("claim targets", err)
		case !IsRetryable(err):
			return nil, classify("claim targets", err)
		}
		if attempt >= 8 {
			return nil, classify("claim targets", err)
		}
		if err := backoff(work, attempt); err != nil {
			return nil, classify("claim targets", err)
		}
	}
	return nil, nil
}

// claimUpdate is the update that moves candidate c to dialing under
// attempt a, copying the retry policy onto the target (so that applying
// the outcome needs no read) and ending the late-answer window of an
// expired attempt.
//
// The condition holds only while the target is as read (status, due time,
// tries, destination): whether it is due, inside its calling window and
// free of suppressed destinations was decided on what was read (screen).
func (s *Store) claimUpdate(outdialID string, c candidate, a string, now, leaseUntil time.Time, policy outdial.RetryPolicy) types.TransactWriteItem {
	vals := map[string]types.AttributeValue{
		":dialing": avS(string(outdial.StatusDialing)), ":idle": avS(string(outdial.StatusIdle)),
		":a": avS(a), ":lu": avN(leaseUntil.UnixMilli()), ":due": avN(c.item.Due),
		":gpk": avS(statusPK(outdialID, c.shard, outdial.StatusDialing)),
		":di":  avN(int64(c.plan.Dest)), ":odi": avN(int64(c.item.DestIdx)), ":tc": avN(int64(c.item.TryCur)),
		":rb": avN(int64(policy.BusySeconds) * 1000), ":rn": avN(int64(policy.NoAnswerSeconds) * 1000),
		":rf": avN(int64(policy.FailedSeconds) * 1000), ":re": avN(int64(policy.ExpiredSeconds) * 1000),
		":tm": avS(formatTime(now)),
	}
	if len(c.suppressed) > 0 {
		vals[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: key(c.item.PK, c.item.SK),
		UpdateExpression: aws.String("SET #st = :dialing, attempt_id = :a, lease_until = :lu, GSI1PK = :gpk, GSI1SK = :lu, " +
			"dest_idx = :di, rp_busy = :rb, rp_no_answer = :rn, rp_failed = :rf, rp_expired = :re, tm_update = :tm" +
			exhaustSets(c.suppressed) + " REMOVE exp_attempt, wv"),
		ConditionExpression:       aws.String("#st = :idle AND due = :due AND try_cur = :tc AND dest_idx = :odi"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: vals,
	}}
}
