package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/outdial"
)

var _ outdial.DialStore = (*Store)(nil)

// retryAttr names the attribute on a dialing target that holds the retry
// delay (ms) for a result; ClaimTargets copies the outdial's policy there
// so that ApplyOutcome needs no read.
var retryAttr = map[outdial.Result]string{
	outdial.ResultBusy:     "rp_busy",
	outdial.ResultNoAnswer: "rp_no_answer",
	outdial.ResultFailed:   "rp_failed",
	outdial.ResultExpired:  "rp_expired",
}

// outcomeWrite is the target update of one outcome and the count delta it
// causes in the target's shard.
type outcomeWrite struct {
	target *types.Update
	counts counterDelta
	shard  shardRef
}

// shardRef names one shard of one outdial (one count item).
type shardRef struct {
	outdialID string
	k         int
}

// outcomeWrite builds the conditional update that applies o at now. The
// transition comes from the plan inside the attempt id
// (outdial.AttemptPlan), so nothing is read first.
func (s *Store) outcomeWrite(o outdial.Outcome, now time.Time) (*outcomeWrite, error) {
	plan, err := outdial.ParseAttemptID(o.AttemptID)
	if err != nil {
		return nil, err
	}
	tr := plan.Apply(o.Result)
	nowMS := now.UnixMilli()
	k := ShardOf(o.TargetID)

	// The target's update.
	i := plan.Dest
	names := map[string]string{"#st": "status"}
	vals := map[string]types.AttributeValue{
		":a": avS(o.AttemptID), ":dialing": avS(string(outdial.StatusDialing)),
		":status": avS(string(tr.Status)), ":gpk": avS(statusPK(o.OutdialID, k, tr.Status)),
		":one": avN(1), ":r": avS(string(o.Result)), ":tm": avS(formatTime(now)),
		":di": avN(int64(tr.Dest)),
	}
	set := fmt.Sprintf("#st = :status, GSI1PK = :gpk, dests[%d].cur = dests[%d].cur + :one, try_cur = try_cur + :one, "+
		"last_result = :r, tm_last_result = :tm, tm_update = :tm, dest_idx = :di", i, i)
	if tr.Exhaust {
		set += fmt.Sprintf(", dests[%d].exh = :true", i)
		vals[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	switch {
	case tr.Status == outdial.StatusIdle && tr.WaitRetry && o.RetryAfter != nil:
		vals[":due"] = avN(nowMS + o.RetryAfter.Milliseconds())
		set += ", due = :due, GSI1SK = :due"
	case tr.Status == outdial.StatusIdle && tr.WaitRetry:
		// The delay was copied onto the target at claim time.
		vals[":now"] = avN(nowMS)
		set += fmt.Sprintf(", due = :now + %[1]s, GSI1SK = :now + %[1]s", retryAttr[o.Result])
	default:
		vals[":now"] = avN(nowMS)
		set += ", due = :now, GSI1SK = :now"
	}
	w := &outcomeWrite{
		target: &types.Update{
			TableName: &s.table, Key: targetKey(o.OutdialID, o.TargetID),
			UpdateExpression:          aws.String("SET " + set + " REMOVE attempt_id, lease_until"),
			ConditionExpression:       aws.String("attempt_id = :a AND #st = :dialing"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
		},
		counts: counterDelta{},
		shard:  shardRef{o.OutdialID, k},
	}

	// The count delta.
	w.counts.add(string(outdial.StatusDialing), -1)
	w.counts.add(string(tr.Status), 1)
	if tr.Status == outdial.StatusIdle {
		w.counts.add("retry", 1)
	}
	return w, nil
}

// countsUpdate is the update of one shard's count item by d; it holds only
// while the item exists (the outdial is not deleted).
func (s *Store) countsUpdate(ref shardRef, d counterDelta) *types.Update {
	expr, names, vals := d.expr()
	return &types.Update{
		TableName: &s.table, Key: countsKey(ref.outdialID, ref.k),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
	}
}

// ApplyOutcome implements outdial.DialStore with one TransactWriteItems:
// the target's update, conditional on it still being dialing with this
// attempt id, and the shard's count update. A duplicate, replayed or late
// outcome fails the condition and changes nothing (EffectStale).
func (s *Store) ApplyOutcome(ctx context.Context, o outdial.Outcome) (outdial.OutcomeEffect, error) {
	w, err := s.outcomeWrite(o, s.now().UTC())
	if err != nil {
		return "", err
	}
	in := &dynamodb.TransactWriteItemsInput{
		// A token of this call only: the SDK's own retries of this input
		// (say after a timeout whose write went through) are recognised
		// and applied once; any other delivery of the outcome is decided
		// by the condition on attempt_id.
		ClientRequestToken: aws.String(uuid.NewString()),
		TransactItems: []types.TransactWriteItem{
			{Update: w.target},
			{Update: s.countsUpdate(w.shard, w.counts)},
		},
	}
	for attempt := 0; ; attempt++ {
		_, err := s.db.TransactWriteItems(ctx, in)
		if err == nil {
			return outdial.EffectApplied, nil
		}
		if reasons := cancellationReasons(err); len(reasons) == 2 &&
			(reasons[0] == "ConditionalCheckFailed" || reasons[1] == "ConditionalCheckFailed") {
			// Not dialing with this attempt any more (or the target or its
			// outdial is gone): a duplicate, replay or late outcome.
			return outdial.EffectStale, nil
		}
		if !IsRetryable(err) || attempt >= 5 {
			return "", classify(fmt.Sprintf("apply outcome to target %s", o.TargetID), err)
		}
		if err := backoff(ctx, attempt+1); err != nil {
			return "", classify("apply outcome", err)
		}
	}
}

// ApplyOutcomes implements outdial.DialStore: it applies a batch of
// outcomes in one TransactWriteItems (every target's conditional update,
// plus one update per count item touched, with the deltas summed), which
// costs one request for the whole batch instead of one per outcome.
// Targets whose condition fails are stale; the transaction is retried at
// once without them. On any other failure (a conflict, throttling) the
// outcomes are applied one at a time, so that only the affected ones fail.
// Two outcomes of one target (a transaction may touch an item once) are
// also applied one at a time, after the batch.
func (s *Store) ApplyOutcomes(ctx context.Context, outcomes []outdial.Outcome) []outdial.OutcomeResult {
	res := make([]outdial.OutcomeResult, len(outcomes))
	now := s.now().UTC()
	var batch, singles []int
	writes := make([]*outcomeWrite, len(outcomes))
	seen := map[string]bool{}
	for i, o := range outcomes {
		w, err := s.outcomeWrite(o, now)
		if err != nil {
			res[i].Err = err
			continue
		}
		writes[i] = w
		if seen[o.OutdialID+"/"+o.TargetID] {
			singles = append(singles, i)
			continue
		}
		seen[o.OutdialID+"/"+o.TargetID] = true
		batch = append(batch, i)
	}
	// Count items per transaction: at most one per outcome, so a batch of
	// 50 outcomes stays within DynamoDB's 100 actions.
	for len(batch) > 50 {
		singles = append(singles, batch[50:]...)
		batch = batch[:50]
	}
	for len(batch) > 1 {
		refs, items := s.outcomesTransaction(batch, writes)
		_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
			ClientRequestToken: aws.String(uuid.NewString()), TransactItems: items,
		})
		if err == nil {
			for _, i := range batch {
				res[i].Effect = outdial.EffectApplied
			}
			batch = nil
			break
		}
		reasons := cancellationReasons(err)
		if len(reasons) != len(items) {
			break // not a cancellation: one at a time below
		}
		// Outcomes whose target condition failed, or whose count item is
		// gone (outdial deleted), are stale; retry without them.
		goneShard := map[shardRef]bool{}
		for j, ref := range refs {
			if reasons[len(batch)+j] == "ConditionalCheckFailed" {
				goneShard[ref] = true
			}
		}
		var keep []int
		for j, i := range batch {
			if reasons[j] == "ConditionalCheckFailed" || goneShard[writes[i].shard] {
				res[i].Effect = outdial.EffectStale
				continue
			}
			keep = append(keep, i)
		}
		if len(keep) == len(batch) {
			break // a conflict or throttling: one at a time below
		}
		batch = keep
	}
	for _, i := range append(batch, singles...) {
		if res[i].Err == nil && res[i].Effect == "" {
			res[i].Effect, res[i].Err = s.ApplyOutcome(ctx, outcomes[i])
		}
	}
	return res
}

// outcomesTransaction returns the transaction items applying the batch:
// the target updates in batch order, then one count update per shard (in
// the order of refs).
func (s *Store) outcomesTransaction(batch []int, writes []*outcomeWrite) ([]shardRef, []types.TransactWriteItem) {
	items := make([]types.TransactWriteItem, 0, 2*len(batch))
	deltas := map[shardRef]counterDelta{}
	var refs []shardRef
	for _, i := range batch {
		w := writes[i]
		items = append(items, types.TransactWriteItem{Update: w.target})
		d, ok := deltas[w.shard]
		if !ok {
			d = counterDelta{}
			deltas[w.shard] = d
			refs = append(refs, w.shard)
		}
		for a, v := range w.counts {
			d.add(a, v)
		}
	}
	for _, ref := range refs {
		items = append(items, types.TransactWriteItem{Update: s.countsUpdate(ref, deltas[ref])})
	}
	return refs, items
}

// candidate is an idle, due target found in GSI1.
type candidate struct {
	item  targetItem
	plan  outdial.AttemptPlan
	shard int
}

// ClaimTargets implements outdial.DialStore. It reads the outdial with the
// count items of its shards (one BatchGetItem), turns expired leases into
// "expired" attempts (only in shards with targets dialing, and only when a
// lease can have run out; see leaseMemo), reads up to limit due idle
// targets from each shard with idle targets (GSI1, oldest due first), and
// moves limit of them to dialing with one transaction per 84 targets: each
// target's update holds only if it is still idle, due and unchanged, so
// two claimers never get the same target; the losers of a race are
// replaced by the next candidates.
//
// Order: oldest due first, to the second. Targets due in the same second
// are taken shard by shard from a random shard on, so that concurrent
// claimers of a freshly imported list (all due within a few seconds) start
// on different shards instead of racing for the same targets. After a lost
// race the next candidates are taken shard by shard from another random
// shard.
func (s *Store) ClaimTargets(ctx context.Context, customerID, outdialID string, limit int, lease time.Duration) ([]*outdial.Claim, error) {
	// Transactions are started only until the claim's deadline less a
	// reserve; the reserve is for sending a transaction again whose
	// answer that earlier deadline cut off (claimChunk).
	work, cancel := claimWorkContext(ctx)
	defer cancel()

	od, shards, err := s.getOutdialShards(work, customerID, outdialID)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()

	// Expired leases first, so that their targets count the lost attempt;
	// with half of the time at most, so that many of them (a crashed
	// dialer's) cannot leave the claim no time to claim.
	sweep, cancelSweep := shareOf(work, 2)
	err = s.expireLeases(sweep, outdialID, &shards, now, limit)
	cancelSweep()
	if err != nil {
		return nil, err
	}

	// Candidates from every shard with idle targets, oldest due first; as
	// of now, which includes the targets the expired attempts just made
	// due. When concurrent claimers won every candidate read before this
	// claim got its limit, the candidates are read once more.
	var claims []*outdial.Claim
	order := map[string]int{}
passes:
	for pass, lost := 0, true; pass < 2 && lost && len(claims) < limit && work.Err() == nil; pass++ {
		now = s.now().UTC()
		cands, err := s.dueCandidates(work, outdialID, shards, now, limit, rand.IntN(Shards))
		if err != nil {
			if len(claims) > 0 {
				break // hand out what was claimed
			}
			return nil, err
		}
		for _, c := range cands {
			if _, ok := order[c.item.ID]; !ok {
				order[c.item.ID] = len(order)
			}
		}
		s.leases.claimed(outdialID, now.Add(lease))
		lost = false
		for round := 0; round < 8 && len(claims) < limit && len(cands) > 0 && work.Err() == nil; round++ {
			if round > 0 {
				// Another claimer won some of the targets, and concurrent
				// claimers would keep racing for the next ones: spread out
				// instead, each round from a random shard on.
				cands = spreadCandidates(cands, rand.IntN(Shards))
			}
			take := cands[:min(limit-len(claims), len(cands))]
			cands = cands[len(take):]
			got, err := s.claimCandidates(work, ctx, outdialID, take, now, lease, od.RetryPolicy)
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

// shareOf returns ctx with a deadline at 1/n of the time ctx has left, if
// it has a deadline.
func shareOf(ctx context.Context, n int) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Until(dl)/time.Duration(n))
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

// leaseMemo remembers, per outdial, a time before which no lease can run
// out, so that most claims skip the expired-lease queries: a sweep sees
// the earliest lease of every shard with targets dialing, and a lease
// granted later by another claimer lasts at least outdial.MinLease (the
// API's bound; this store's own claims are noted with their lease). The
// memo is per process (per Lambda instance); it only ever delays a sweep
// to when a lease can first have run out, less a second for clock skew
// and index lag.
type leaseMemo struct {
	mu        sync.Mutex
	notBefore map[string]time.Time
}

// leaseMemoMax bounds the memo; when full it starts over (sweeps cost
// queries, never correctness).
const leaseMemoMax = 4096

func newLeaseMemo() *leaseMemo { return &leaseMemo{notBefore: map[string]time.Time{}} }

// due reports whether a lease of outdialID can have run out at now.
func (m *leaseMemo) due(outdialID string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	nb, ok := m.notBefore[outdialID]
	return !ok || !now.Before(nb)
}

// swept records a sweep at now that found next as the earliest lease not
// yet run out (the zero time: none).
func (m *leaseMemo) swept(outdialID string, now, next time.Time) {
	nb := now.Add(outdial.MinLease - time.Second)
	if !next.IsZero() && next.Before(nb) {
		nb = next
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.notBefore) >= leaseMemoMax {
		clear(m.notBefore)
	}
	m.notBefore[outdialID] = nb
}

// claimed records a lease granted by this store, which runs out at until.
func (m *leaseMemo) claimed(outdialID string, until time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if nb, ok := m.notBefore[outdialID]; ok && until.Before(nb) {
		m.notBefore[outdialID] = until
	}
}

// spreadCandidates orders cands shard by shard from shard start on, oldest
// due first within a shard.
func spreadCandidates(cands []candidate, start int) []candidate {
	out := append([]candidate(nil), cands...)
	sort.SliceStable(out, func(i, j int) bool {
		return (out[i].shard-start+Shards)%Shards < (out[j].shard-start+Shards)%Shards
	})
	return out
}

// queryShards runs query for every shard in parallel (skipping the shards
// it returns nil for) and returns the items of all of them.
func (s *Store) queryShards(ctx context.Context, query func(k int) *dynamodb.QueryInput) ([]targetItem, error) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		items []targetItem
		errs  []error
	)
	for k := 0; k < Shards; k++ {
		in := query(k)
		if in == nil {
			continue
		}
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			res, err := s.db.Query(ctx, in)
			var got []targetItem
			if err == nil {
				err = attributevalue.UnmarshalListOfMaps(res.Items, &got)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			items = append(items, got...)
		}(k)
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, classify("query shards", errs[0])
	}
	return items, nil
}

// expireLeases applies an "expired" outcome to every target of the
// outdial whose lease ran out (up to limit per shard). It queries only the
// shards with targets dialing, and nothing while the lease memo says no
// lease can have run out. A shard where it recorded an attempt is marked
// in shards as having idle targets (the attempt may have made its target
// due again).
func (s *Store) expireLeases(ctx context.Context, outdialID string, shards *[Shards]outdial.Counts, now time.Time, limit int) error {
	if !s.leases.due(outdialID, now) {
		return nil
	}
	// Each shard's earliest leases, run out or not: the first one not run
	// out tells the memo when to look again.
	items, err := s.queryShards(ctx, func(k int) *dynamodb.QueryInput {
		if shards[k].Dialing == 0 {
			return nil
		}
		return &dynamodb.QueryInput{
			TableName: &s.table, IndexName: aws.String(indexGSI1),
			KeyConditionExpression: aws.String("GSI1PK = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": avS(statusPK(outdialID, k, outdial.StatusDialing)),
			},
			Limit: aws.Int32(int32(limit + 1)),
		}
	})
	if err != nil {
		return err
	}
	nowMS := now.UnixMilli()
	var next time.Time
	perShard := map[int]int{}
	more := false
	var expired []outdial.Outcome
	for _, it := range items {
		if it.GSI1SK > nowMS {
			if t := time.UnixMilli(it.GSI1SK); next.IsZero() || t.Before(next) {
				next = t
			}
			continue
		}
		k := ShardOf(it.ID)
		if perShard[k]++; perShard[k] > limit {
			more = true // more than limit run out in this shard: look again next claim
			continue
		}
		if it.AttemptID != "" {
			expired = append(expired, outdial.Outcome{
				AttemptID: it.AttemptID, OutdialID: outdialID, TargetID: it.ID, Result: outdial.ResultExpired,
			})
		}
	}
	// In transactions of up to expireBatch (ApplyOutcomes), not one each: a
	// dialer that crashed can leave hundreds of leases to expire at once.
	// Best effort: a lease that cannot be expired now (throttling) is
	// expired by a later claim; it must not keep this claim from handing
	// out the targets that are due.
	for start := 0; start < len(expired) && ctx.Err() == nil; start += expireBatch {
		chunk := expired[start:min(start+expireBatch, len(expired))]
		for i, r := range s.ApplyOutcomes(ctx, chunk) {
			switch {
			case r.Err != nil:
				more = true
			case r.Effect == outdial.EffectApplied:
				shards[ShardOf(chunk[i].TargetID)].Idle++
			}
		}
	}
	if more || ctx.Err() != nil {
		next = now
	}
	s.leases.swept(outdialID, now, next)
	return nil
}

// expireBatch is how many expired leases one transaction records (the
// most ApplyOutcomes puts in one).
const expireBatch = 50

// dueCandidates returns the due idle targets of every shard with idle
// targets, oldest due first to the second, and within a second shard by
// shard from shard start on. It reads up to limit per shard: a claim can
// be served from one shard, which spreads concurrent claimers (each from
// its own start) over the shards; and when a shard has more due targets
// than were read, the claim takes at least limit targets as old as its
// last one, so it never needs one of a later second while an unread one
// is due earlier.
func (s *Store) dueCandidates(ctx context.Context, outdialID string, shards [Shards]outdial.Counts, now time.Time, limit, start int) ([]candidate, error) {
	items, err := s.queryShards(ctx, func(k int) *dynamodb.QueryInput {
		if shards[k].Idle == 0 {
			return nil
		}
		return &dynamodb.QueryInput{
			TableName: &s.table, IndexName: aws.String(indexGSI1),
			KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK <= :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": avS(statusPK(outdialID, k, outdial.StatusIdle)), ":now": avN(now.UnixMilli()),
			},
			Limit: aws.Int32(int32(max(1, limit))),
		}
	})
	if err != nil {
		return nil, err
	}
	var out []candidate
	for _, it := range items {
		if plan, ok := outdial.PlanFor(it.destinations(), it.DestIdx); ok {
			out = append(out, candidate{item: it, plan: plan, shard: ShardOf(it.ID)})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		if sa, sb := a.item.GSI1SK/1000, b.item.GSI1SK/1000; sa != sb {
			return sa < sb
		}
		if oa, ob := (a.shard-start+Shards)%Shards, (b.shard-start+Shards)%Shards; oa != ob {
			return oa < ob
		}
		if a.item.GSI1SK != b.item.GSI1SK {
			return a.item.GSI1SK < b.item.GSI1SK
		}
		return a.item.ID < b.item.ID
	})
	return out, nil
}

// claimTxTargets is how many targets one claim transaction moves: with one
// count update per shard (at most 16) it stays within DynamoDB's 100
// actions, so a claim of 100 is two transactions.
const claimTxTargets = 100 - Shards

// claimCandidates claims cands in transactions of up to claimTxTargets
// targets (run in parallel) and returns the claims won. Candidates another
// claimer took are skipped. Transactions are sent within work; full is the
// claim's own context, whose time after work's deadline is kept for
// sending again a transaction whose answer work's deadline cut off.
func (s *Store) claimCandidates(work, full context.Context, outdialID string, cands []candidate, now time.Time, lease time.Duration, policy outdial.RetryPolicy) ([]*outdial.Claim, error) {
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		claims   []*outdial.Claim
		firstErr error
	)
	for start := 0; start < len(cands); start += claimTxTargets {
		chunk := cands[start:min(start+claimTxTargets, len(cands))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := s.claimChunk(work, full, outdialID, chunk, now, lease, policy)
			mu.Lock()
			defer mu.Unlock()
			claims = append(claims, got...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}()
	}
	wg.Wait()
	return claims, firstErr
}

// claimChunk moves chunk to dialing in one transaction: each target's
// update holds only if it is still idle, due and unchanged; the count
// update of every shard touched holds only while the outdial exists. The
// targets another claimer won are dropped and the rest retried at once.
// See claimCandidates for work and full.
func (s *Store) claimChunk(work, full context.Context, outdialID string, chunk []candidate, now time.Time, lease time.Duration, policy outdial.RetryPolicy) ([]*outdial.Claim, error) {
	leaseUntil := now.Add(lease)
	// Attempt ids are drawn once per candidate and the request token is
	// derived from them: a retry of a transaction that went through but
	// whose answer was lost (a timeout) is then the same request, which
	// DynamoDB recognises and answers with success instead of failing
	// every condition and stranding the targets in dialing.
	attemptIDs := make(map[string]string, len(chunk))
	for _, c := range chunk {
		attemptIDs[c.item.ID] = outdial.NewAttemptID(c.plan)
	}
	for attempt := 0; len(chunk) > 0; attempt++ {
		if err := work.Err(); err != nil {
			// No new transaction in the time kept back (it is for
			// settling one already sent).
			return nil, classify("claim targets", err)
		}
		ids := make([]string, len(chunk))
		items := make([]types.TransactWriteItem, 0, len(chunk)+Shards)
		deltas := map[int]counterDelta{}
		var shards []int
		token := sha256.New()
		for i, c := range chunk {
			k := ShardOf(c.item.ID)
			ids[i] = attemptIDs[c.item.ID]
			token.Write([]byte(ids[i]))
			items = append(items, types.TransactWriteItem{Update: &types.Update{
				TableName: &s.table, Key: key(c.item.PK, c.item.SK),
				UpdateExpression: aws.String("SET #st = :dialing, attempt_id = :a, lease_until = :lu, GSI1PK = :gpk, GSI1SK = :lu, " +
					"dest_idx = :di, rp_busy = :rb, rp_no_answer = :rn, rp_failed = :rf, rp_expired = :re, tm_update = :tm"),
				ConditionExpression:      aws.String("#st = :idle AND due <= :now AND try_cur = :tc AND dest_idx = :odi"),
				ExpressionAttributeNames: map[string]string{"#st": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":dialing": avS(string(outdial.StatusDialing)), ":idle": avS(string(outdial.StatusIdle)),
					":a": avS(ids[i]), ":lu": avN(leaseUntil.UnixMilli()), ":now": avN(now.UnixMilli()),
					":gpk": avS(statusPK(outdialID, k, outdial.StatusDialing)),
					":di":  avN(int64(c.plan.Dest)), ":odi": avN(int64(c.item.DestIdx)), ":tc": avN(int64(c.item.TryCur)),
					":rb": avN(int64(policy.BusySeconds) * 1000), ":rn": avN(int64(policy.NoAnswerSeconds) * 1000),
					":rf": avN(int64(policy.FailedSeconds) * 1000), ":re": avN(int64(policy.ExpiredSeconds) * 1000),
					":tm": avS(formatTime(now)),
				},
			}})
			d, ok := deltas[k]
			if !ok {
				d = counterDelta{}
				deltas[k] = d
				shards = append(shards, k)
			}
			d.add(string(outdial.StatusIdle), -1)
			d.add(string(outdial.StatusDialing), 1)
			if c.item.TryCur > 0 {
				d.add("retry", -1)
			}
		}
		for _, k := range shards {
			items = append(items, types.TransactWriteItem{Update: s.countsUpdate(shardRef{outdialID, k}, deltas[k])})
		}
		in := &dynamodb.TransactWriteItemsInput{
			TransactItems: items, ClientRequestToken: aws.String(hex.EncodeToString(token.Sum(nil))[:36]),
		}
		// If the answer is lost to work's deadline, the time kept back
		// settles it by sending the same request again (same token), so
		// a claim that went through is not answered as failed. Should the
		// claim's own deadline cut off that answer too, the targets stay
		// dialing under a lease nobody holds, and the first claim after
		// the lease records an expired attempt and makes them due again.
		_, err := s.db.TransactWriteItems(work, in)
		// The same request (same token) again while the reserve lasts:
		// DynamoDB answers it with the first one's success, or with
		// TransactionInProgress while that one is still under way.
		for resend := 1; err != nil && work.Err() != nil && full.Err() == nil; resend++ {
			_, err = s.db.TransactWriteItems(full, in)
			if err == nil || !IsRetryable(err) || backoff(full, resend) != nil {
				break
			}
		}
		if err == nil {
			claims := make([]*outdial.Claim, len(chunk))
			for i, c := range chunk {
				it := c.item
				it.Status, it.AttemptID, it.LeaseUntil, it.DestIdx = string(outdial.StatusDialing), ids[i], leaseUntil.UnixMilli(), c.plan.Dest
				it.TMUpdate = formatTime(now)
				t := it.target()
				claims[i] = &outdial.Claim{
					AttemptID: ids[i], Destination: t.Destination, DestIdx: c.plan.Dest,
					LeaseExpire: outdial.Time{Time: leaseUntil}, Target: t,
				}
			}
			return claims, nil
		}
		reasons := cancellationReasons(err)
		if len(reasons) == len(items) {
			for _, r := range reasons[len(chunk):] {
				if r == "ConditionalCheckFailed" {
					return nil, outdial.ErrNotFound("outdial")
				}
			}
			var keep []candidate
			for i, c := range chunk {
				if reasons[i] != "ConditionalCheckFailed" {
					keep = append(keep, c)
				}
			}
			if len(keep) < len(chunk) {
				chunk = keep // another claimer won those
				continue
			}
		}
		if !IsRetryable(err) || attempt >= 6 {
			return nil, classify("claim targets", err)
		}
		if err := backoff(work, attempt+1); err != nil {
			return nil, classify("claim targets", err)
		}
	}
	return nil, nil
}
