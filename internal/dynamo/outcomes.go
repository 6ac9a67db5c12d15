package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/outdial"
)

// retryAttr names the attribute on a dialing target that holds the retry
// delay (ms) for a result; ClaimTargets copies the outdial's policy there
// so that applying an outcome needs no read.
var retryAttr = map[outdial.Result]string{
	outdial.ResultBusy:     "rp_busy",
	outdial.ResultNoAnswer: "rp_no_answer",
	outdial.ResultFailed:   "rp_failed",
	outdial.ResultExpired:  "rp_expired",
}

// outcomeReserve is the time an outcome batch keeps back before its
// deadline: what is not applied by then is reported as failed (and SQS
// delivers it again) rather than cut off mid-request.
const outcomeReserve = 500 * time.Millisecond

// outcomeWrite is the target update of one outcome and the count delta it
// causes.
type outcomeWrite struct {
	update types.TransactWriteItem
	delta  counterDelta
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

	i := plan.Dest
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
	if o.Result == outdial.ResultExpired {
		// Remembered until the next claim: its late answer still counts.
		set += ", exp_attempt = :a"
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
	u := &types.Update{
		TableName: &s.table, Key: targetKey(o.OutdialID, o.TargetID),
		UpdateExpression:          aws.String("SET " + set + " REMOVE attempt_id, lease_until"),
		ConditionExpression:       aws.String("attempt_id = :a AND #st = :dialing"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: vals,
	}
	if o.Result == outdial.ResultAnswered {
		// If the lease was expired meanwhile, the target as it is now
		// tells whether the answer can still finish it (lateAnswer).
		u.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	}
	return &outcomeWrite{
		update: types.TransactWriteItem{Update: u},
		delta:  statusDelta(outdial.StatusDialing, false, tr.Status, tr.Status == outdial.StatusIdle),
	}, nil
}

// ApplyOutcome implements outdial.DialStore: it applies o as a batch of one.
func (s *Store) ApplyOutcome(ctx context.Context, o outdial.Outcome) (outdial.OutcomeEffect, error) {
	r := s.ApplyOutcomes(ctx, []outdial.Outcome{o})[0]
	return r.Effect, r.Err
}

// ApplyOutcomes implements outdial.DialStore (docs/design.md "Outcomes"):
// the outcomes of one outdial are applied in one TransactWriteItems (every
// target's conditional update and one count slot's update by their summed
// delta). A target whose condition fails is stale (a duplicate, replayed
// or late outcome) and the transaction is sent again at once without it;
// a conflict or throttling is waited out (jittered backoff) and the
// transaction sent again, until the batch's deadline draws near: an
// outcome is not handed back to SQS for a conflict. Two outcomes of one
// target (a transaction may touch an item once) go into a second round.
func (s *Store) ApplyOutcomes(ctx context.Context, outcomes []outdial.Outcome) []outdial.OutcomeResult {
	res := make([]outdial.OutcomeResult, len(outcomes))
	now := s.now().UTC()
	writes := make([]*outcomeWrite, len(outcomes))
	var remaining []int
	for i, o := range outcomes {
		w, err := s.outcomeWrite(o, now)
		if err != nil {
			res[i].Err = err
			continue
		}
		writes[i] = w
		remaining = append(remaining, i)
	}
	for len(remaining) > 0 {
		// One round: distinct targets, grouped by outdial.
		byOutdial := map[string][]int{}
		seen := map[string]bool{}
		var later []int
		for _, i := range remaining {
			o := outcomes[i]
			if seen[o.OutdialID+"/"+o.TargetID] {
				later = append(later, i)
				continue
			}
			seen[o.OutdialID+"/"+o.TargetID] = true
			byOutdial[o.OutdialID] = append(byOutdial[o.OutdialID], i)
		}
		var g errgroup.Group
		for outdialID, idxs := range byOutdial {
			g.Go(func() error {
				s.applyOutdial(ctx, outdialID, idxs, outcomes, writes, res)
				return nil
			})
		}
		_ = g.Wait()
		remaining = later
	}
	return res
}

// applyOutdial applies the outcomes idxs of one outdial, in transactions
// of up to txMaxTargets, and records each one's result in res. An outcome
// whose target is refused twice for a conflict or throttling, and a chunk
// whose request fails as a whole three times, are set aside and applied
// one by one (in parallel), so that they hold up nobody else.
func (s *Store) applyOutdial(ctx context.Context, outdialID string, idxs []int, outcomes []outdial.Outcome, writes []*outcomeWrite, res []outdial.OutcomeResult) {
	var (
		late    []lateAnswer
		solo    []int
		strikes = map[int]int{}
		whole   = 0 // failures of the whole request in a row
	)
	pending := idxs
	outOfTime := func() {
		for _, i := range pending {
			res[i].Err = outdial.Errorf(outdial.ECodeUnavailable, "out of time to apply the outcome; it will be delivered again")
		}
	}
	for attempt := 1; len(pending) > 0; attempt++ {
		if !keepTrying(ctx, attempt, outcomeReserve) {
			outOfTime()
			break
		}
		chunk := pending[:min(txMaxTargets, len(pending))]
		items := make([]types.TransactWriteItem, len(chunk))
		delta := counterDelta{}
		for j, i := range chunk {
			items[j] = writes[i].update
			delta.merge(writes[i].delta)
		}
		err := s.send(ctx, outdialID, items, delta)
		var ce *cancelledError
		switch {
		case err == nil:
			for _, i := range chunk {
				res[i].Effect = outdial.EffectApplied
			}
			pending, attempt, whole = pending[len(chunk):], 0, 0
			continue
		case errors.Is(err, errOutdialGone):
			for _, i := range pending {
				res[i].Effect = outdial.EffectStale // its outdial is deleted
			}
			pending = nil
			continue
		case errors.Is(err, errSlotBusy):
			continue
		case errors.Is(err, errSlotThrottled):
			// The count slots' partition is busy: wait (below).
		case errors.As(err, &ce):
			whole = 0
			keep := make([]int, 0, len(pending))
			for j, i := range chunk {
				r := ce.Reasons[j]
				switch {
				case code(r) == reasonCondition:
					res[i].Effect = outdial.EffectStale
					if la, ok := s.lateAnswer(outcomes[i], r); ok {
						la.index = i
						late = append(late, la)
					}
				case code(r) == reasonNone:
					keep = append(keep, i)
				case transient(r):
					if strikes[i]++; strikes[i] >= 2 && len(idxs) > 1 {
						solo = append(solo, i)
					} else {
						keep = append(keep, i)
					}
				default:
					res[i].Err = fmt.Errorf("apply outcome to target %s: %s: %s", outcomes[i].TargetID, code(r), aws.ToString(r.Message))
				}
			}
			keep = append(keep, pending[len(chunk):]...)
			if len(keep) < len(pending) {
				pending = keep
				continue // at once, without the ones set apart
			}
		case !IsRetryable(err):
			for _, i := range chunk {
				res[i].Err = classify(fmt.Sprintf("apply outcome to target %s", outcomes[i].TargetID), err)
			}
			pending = pending[len(chunk):]
			continue
		default:
			if whole++; whole >= 3 && len(chunk) > 1 {
				solo = append(solo, chunk...)
				pending, whole = pending[len(chunk):], 0
				continue
			}
		}
		// A conflict or throttling: wait it out. When the wait no longer
		// fits before the deadline, stop: sending again at once instead
		// spun, hundreds of transactions in the last second (the processor
		// makes these outcomes visible again within seconds).
		if backoff(ctx, attempt) != nil {
			outOfTime()
			break
		}
	}
	if len(solo) > 0 {
		var g errgroup.Group
		g.SetLimit(soloConcurrency)
		for _, i := range solo {
			g.Go(func() error {
				s.applyOutdial(ctx, outdialID, []int{i}, outcomes, writes, res)
				return nil
			})
		}
		_ = g.Wait()
	}
	for _, la := range late {
		res[la.index].Effect, res[la.index].Err = s.finishLate(ctx, outcomes[la.index], la.old)
	}
}

// soloConcurrency bounds the outcomes applied one by one at once.
const soloConcurrency = 10

// lateAnswer is an answered outcome whose attempt was expired meanwhile.
type lateAnswer struct {
	index int
	old   targetItem
}

// lateAnswer reports whether the failed condition r of outcome o is an
// answer that came after its lease was expired, while the target has not
// been claimed again (it still names the expired attempt).
func (s *Store) lateAnswer(o outdial.Outcome, r types.CancellationReason) (lateAnswer, bool) {
	if o.Result != outdial.ResultAnswered || len(r.Item) == 0 {
		return lateAnswer{}, false
	}
	var it targetItem
	if err := attributevalue.UnmarshalMap(r.Item, &it); err != nil || it.ExpAttempt != o.AttemptID {
		return lateAnswer{}, false
	}
	return lateAnswer{old: it}, true
}

// finishLate applies an answer that came after its attempt was recorded as
// expired: the target finishes (nobody who answered is dialed again), no
// further try is counted. It holds only while the target is as it was
// read (still naming the expired attempt, same status and tries).
func (s *Store) finishLate(ctx context.Context, o outdial.Outcome, old targetItem) (outdial.OutcomeEffect, error) {
	plan, err := outdial.ParseAttemptID(o.AttemptID)
	if err != nil {
		return "", err
	}
	now := s.now().UTC()
	from := outdial.Status(old.Status)
	update := types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: targetKey(o.OutdialID, o.TargetID),
		UpdateExpression: aws.String("SET #st = :fin, GSI1PK = :gpk, GSI1SK = :now, due = :now, last_result = :r, " +
			"tm_last_result = :tm, tm_update = :tm, dest_idx = :di REMOVE exp_attempt"),
		ConditionExpression:      aws.String("exp_attempt = :a AND #st = :from AND try_cur = :tc"),
		ExpressionAttributeNames: map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":fin": avS(string(outdial.StatusFinished)), ":gpk": avS(statusPK(o.OutdialID, ShardOf(o.TargetID), outdial.StatusFinished)),
			":now": avN(now.UnixMilli()), ":r": avS(string(outdial.ResultAnswered)), ":tm": avS(formatTime(now)),
			":di": avN(int64(plan.Dest)), ":a": avS(o.AttemptID), ":from": avS(old.Status), ":tc": avN(int64(old.TryCur)),
		},
	}}
	delta := statusDelta(from, from == outdial.StatusIdle && old.TryCur > 0, outdial.StatusFinished, false)
	for attempt := 1; ; attempt++ {
		err := s.send(ctx, o.OutdialID, []types.TransactWriteItem{update}, delta)
		var ce *cancelledError
		switch {
		case err == nil:
			return outdial.EffectApplied, nil
		case errors.Is(err, errOutdialGone):
			return outdial.EffectStale, nil
		case errors.Is(err, errSlotBusy):
			continue
		case errors.As(err, &ce) && !ce.transient():
			return outdial.EffectStale, nil // claimed again, or changed: too late
		case !errors.As(err, &ce) && !IsRetryable(err):
			return "", classify("apply a late answer", err)
		}
		if !keepTrying(ctx, attempt+1, outcomeReserve) || backoff(ctx, attempt) != nil {
			return "", outdial.Errorf(outdial.ECodeUnavailable, "out of time to apply the outcome; it will be delivered again")
		}
	}
}
