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
	item targetItem
	plan outdial.AttemptPlan
}

// ClaimTargets implements outdial.DialStore. It first turns expired leases
// into "expired" attempts, then reads up to limit due idle targets from
// each shard's GSI1 partition (oldest due first), and moves the oldest
// limit of them to dialing with one transaction per shard: each target's
// update holds only if it is still idle, due and unchanged, so two
// claimers never get the same target; the losers of a race are replaced by
// the next candidates.
func (s *Store) ClaimTargets(ctx context.Context, customerID, outdialID string, limit int, lease time.Duration) ([]*outdial.Claim, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: key(outdialPK(customerID), outdialSK(outdialID)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, classify("get outdial", err)
	}
	if res.Item == nil {
		return nil, outdial.ErrNotFound("outdial")
	}
	var od outdialItem
	if err := attributevalue.UnmarshalMap(res.Item, &od); err != nil {
		return nil, fmt.Errorf("unmarshal outdial %s: %w", outdialID, err)
	}
	policy := od.outdial().RetryPolicy
	now := s.now().UTC()

	// Expired leases first, so that their targets count the lost attempt.
	if err := s.expireLeases(ctx, outdialID, now, limit); err != nil {
		return nil, err
	}

	// Candidates from every shard, oldest due first.
	cands, err := s.dueCandidates(ctx, outdialID, now, limit)
	if err != nil {
		return nil, err
	}
	order := make(map[string]int, len(cands))
	for i, c := range cands {
		order[c.item.ID] = i
	}
	var claims []*outdial.Claim
	for round := 0; round < 8 && len(claims) < limit && len(cands) > 0; round++ {
		if round > 0 {
			// Another claimer won some of the oldest targets, and
			// concurrent claimers would keep racing for the next oldest:
			// spread out instead, each round from a random shard on.
			cands = spreadCandidates(cands, rand.IntN(Shards))
		}
		take := cands[:min(limit-len(claims), len(cands))]
		cands = cands[len(take):]
		got, err := s.claimCandidates(ctx, outdialID, take, now, lease, policy)
		claims = append(claims, got...)
		if err != nil {
			if len(claims) > 0 {
				break // hand out what was claimed; the rest stays idle
			}
			return nil, err
		}
	}
	sort.Slice(claims, func(i, j int) bool { return order[claims[i].Target.ID] < order[claims[j].Target.ID] })
	return claims, nil
}

// earlierDeadline returns ctx with a deadline a quarter of the time left
// (at most a second) before ctx's own, if it has one.
func earlierDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, dl.Add(-min(time.Until(dl)/4, time.Second)))
}

// spreadCandidates orders cands shard by shard from shard start on, oldest
// due first within a shard.
func spreadCandidates(cands []candidate, start int) []candidate {
	out := append([]candidate(nil), cands...)
	sort.SliceStable(out, func(i, j int) bool {
		return (ShardOf(out[i].item.ID)-start+Shards)%Shards < (ShardOf(out[j].item.ID)-start+Shards)%Shards
	})
	return out
}

// queryShards runs query for every shard in parallel and returns the
// items of all of them.
func (s *Store) queryShards(ctx context.Context, query func(k int) *dynamodb.QueryInput) ([]targetItem, error) {
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		items []targetItem
		errs  []error
	)
	for k := 0; k < Shards; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			res, err := s.db.Query(ctx, query(k))
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
// outdial whose lease ran out (up to limit per shard).
func (s *Store) expireLeases(ctx context.Context, outdialID string, now time.Time, limit int) error {
	items, err := s.queryShards(ctx, func(k int) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{
			TableName: &s.table, IndexName: aws.String(indexGSI1),
			KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK <= :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": avS(statusPK(outdialID, k, outdial.StatusDialing)), ":now": avN(now.UnixMilli()),
			},
			Limit: aws.Int32(int32(limit)),
		}
	})
	if err != nil {
		return err
	}
	// Best effort: a lease that cannot be expired now (throttling) is
	// expired by a later claim; it must not keep this claim from handing
	// out the targets that are due.
	for _, it := range items {
		if it.AttemptID == "" || ctx.Err() != nil {
			continue
		}
		_, _ = s.ApplyOutcome(ctx, outdial.Outcome{
			AttemptID: it.AttemptID, OutdialID: outdialID, TargetID: it.ID, Result: outdial.ResultExpired,
		})
	}
	return nil
}

// dueCandidates returns the due idle targets of every shard, oldest first.
func (s *Store) dueCandidates(ctx context.Context, outdialID string, now time.Time, limit int) ([]candidate, error) {
	items, err := s.queryShards(ctx, func(k int) *dynamodb.QueryInput {
		return &dynamodb.QueryInput{
			TableName: &s.table, IndexName: aws.String(indexGSI1),
			KeyConditionExpression: aws.String("GSI1PK = :pk AND GSI1SK <= :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": avS(statusPK(outdialID, k, outdial.StatusIdle)), ":now": avN(now.UnixMilli()),
			},
			// Twice the claim: room to move on when concurrent claimers win
			// the first choices.
			Limit: aws.Int32(int32(min(2*limit, 200))),
		}
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(items, func(i, j int) bool {
		if items[i].GSI1SK != items[j].GSI1SK {
			return items[i].GSI1SK < items[j].GSI1SK
		}
		return items[i].ID < items[j].ID
	})
	var out []candidate
	for _, it := range items {
		if plan, ok := outdial.PlanFor(it.destinations(), it.DestIdx); ok {
			out = append(out, candidate{item: it, plan: plan})
		}
	}
	return out, nil
}

// claimTxTargets is how many targets one claim transaction moves: with one
// count update per shard (at most 16) it stays within DynamoDB's 100
// actions, so a claim of 100 is two transactions.
const claimTxTargets = 100 - Shards

// claimCandidates claims cands in transactions of up to claimTxTargets
// targets (run in parallel) and returns the claims won. Candidates another
// claimer took are skipped.
func (s *Store) claimCandidates(ctx context.Context, outdialID string, cands []candidate, now time.Time, lease time.Duration, policy outdial.RetryPolicy) ([]*outdial.Claim, error) {
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
			got, err := s.claimChunk(ctx, outdialID, chunk, now, lease, policy)
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
func (s *Store) claimChunk(ctx context.Context, outdialID string, chunk []candidate, now time.Time, lease time.Duration, policy outdial.RetryPolicy) ([]*outdial.Claim, error) {
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
		// The transaction gets a deadline a little before the caller's:
		// if its answer is lost to that deadline, the time left settles it
		// by sending the same request again (same token), so a claim that
		// went through is never answered as failed.
		txCtx, cancel := earlierDeadline(ctx)
		_, err := s.db.TransactWriteItems(txCtx, in)
		cancel()
		if err != nil && txCtx.Err() != nil && ctx.Err() == nil {
			_, err = s.db.TransactWriteItems(ctx, in)
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
		if err := backoff(ctx, attempt+1); err != nil {
			return nil, classify("claim targets", err)
		}
	}
	return nil, nil
}
