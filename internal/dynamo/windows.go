package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/outdial"
)

// Calling windows and the suppression list at claim time (docs/design.md
// "Calling windows").
//
// A claim never hands out a target whose window is closed in its zones.
// Such a target is deferred: its due time moves to the window's next
// opening and it moves, in GSI1, from its shard's idle partition to the
// shard's wait partition of the window's version
// (OUTDIAL#<id>#<shard>#wait#<version>), ordered by that opening. So a
// closed window costs one read and one write per target, once, and not a
// read per claim until it opens. Claims read the wait partition of the
// current version up to now (the deferred targets whose opening has come)
// beside the idle ones.
//
// Every change of the window is a new version (UpdateOutdial). The
// targets deferred under an older version may be due now under the new
// window: claims read the old versions' wait partitions whole, and each
// target read there is claimed or deferred again under the current
// version, so they drain on the next claims. Once every shard of the
// oldest version reads empty (and the change is older than any claim can
// last), the head's win_min moves past it.

// waitPK is the GSI1 partition of shard k's targets deferred under window
// version ver.
func waitPK(outdialID string, k, ver int) string {
	return shardPK(outdialID, k) + "#wait#" + strconv.Itoa(ver)
}

// maxOldVersions bounds the old window versions one claim reads.
const maxOldVersions = 4

// winSettle is how long after a window change a claim may still defer
// under the old version (claims last less); only then may win_min move.
const winSettle = time.Minute

// waitCandidates returns the deferred targets a claim may take now: from
// the current version's wait partitions those whose opening has come,
// and from older versions' every target (up to a bound per shard). It
// also moves the head's win_min past old versions found empty.
func (s *Store) waitCandidates(ctx context.Context, outdialID string, head *outdialItem, now time.Time, limit, start int) ([]candidate, error) {
	type part struct {
		ver int
		old bool
	}
	parts := []part{}
	if head.Window != "" {
		parts = append(parts, part{ver: head.WinVer})
	}
	for v := head.WinMin; v < head.WinVer && v < head.WinMin+maxOldVersions; v++ {
		parts = append(parts, part{ver: v, old: true})
	}
	if len(parts) == 0 {
		return nil, nil
	}
	read := make([][][]targetItem, len(parts))
	g, gctx := errgroup.WithContext(ctx)
	for i, p := range parts {
		read[i] = make([][]targetItem, Shards)
		for k := 0; k < Shards; k++ {
			n := 2*limit/Shards + 1
			if k == start {
				n = 2 * limit
			}
			g.Go(func() error {
				in := &dynamodb.QueryInput{
					TableName: &s.table, IndexName: aws.String(indexGSI1),
					KeyConditionExpression:    aws.String("GSI1PK = :pk"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(waitPK(outdialID, k, p.ver))},
					Limit:                     aws.Int32(int32(n)),
				}
				if !p.old {
					in.KeyConditionExpression = aws.String("GSI1PK = :pk AND GSI1SK <= :now")
					in.ExpressionAttributeValues[":now"] = avN(now.UnixMilli())
				}
				res, err := s.db.Query(gctx, in)
				if err != nil {
					return err
				}
				var got []targetItem
				if err := attributevalue.UnmarshalListOfMaps(res.Items, &got); err != nil {
					return err
				}
				var fresh []targetItem
				for _, it := range got {
					if !s.recent.seen(it, now) {
						fresh = append(fresh, it)
					}
				}
				read[i][k] = fresh
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, classify("find deferred targets", err)
	}
	var all [][]targetItem
	for i, p := range parts {
		empty := true
		for k := range read[i] {
			empty = empty && len(read[i][k]) == 0
		}
		all = append(all, read[i]...)
		if p.old && p.ver == head.WinMin && empty && now.Sub(time.UnixMilli(head.WinAt)) > winSettle {
			s.advanceWinMin(ctx, outdialID, p.ver)
		}
	}
	return candidatesOf(all, start), nil
}

// advanceWinMin moves the head's win_min from ver to ver+1 (once, however
// many claims try); a failure leaves it for the next claim.
func (s *Store) advanceWinMin(ctx context.Context, outdialID string, ver int) {
	_, _ = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: headKey(outdialID),
		UpdateExpression:          aws.String("SET win_min = :next"),
		ConditionExpression:       aws.String("attribute_exists(PK) AND (attribute_not_exists(win_min) OR win_min = :ver)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":next": avN(int64(ver + 1)), ":ver": avN(int64(ver))},
	})
}

// zonesOf returns the zones target it is dialed in when it dials
// destination dest: its own zone, else its number's zones, else the
// window's zone.
func zonesOf(it *targetItem, dest int, w *outdial.CallingWindow) []*time.Location {
	names := []string{w.Timezone}
	switch {
	case it.TZ != "":
		names = []string{it.TZ}
	case dest >= 0 && dest < len(it.Dests) && len(it.Dests[dest].TZ) > 0:
		names = it.Dests[dest].TZ
	}
	zones := make([]*time.Location, 0, len(names))
	for _, n := range names {
		if loc, err := outdial.LoadZone(n); err == nil {
			zones = append(zones, loc)
		}
	}
	return zones
}

// screened is what screen decided for the candidates of a claim.
type screened struct {
	claim  []candidate // may be claimed now (plans skip suppressed destinations)
	deffer []deferral  // window closed: move to the next opening
	fail   []candidate // every destination left is suppressed
}

// deferral is a candidate whose window is closed until at.
type deferral struct {
	c  candidate
	at time.Time
}

// screen sorts cands (in order; at most limit are looked at for
// suppression) by the outdial's calling window and the customer's
// suppression list: one batched read of the suppression list for the
// destinations of the candidates that may be claimed.
func (s *Store) screen(ctx context.Context, customerID string, head *outdialItem, cands []candidate, now time.Time, limit int) (screened, error) {
	var out screened
	w := head.callingWindow()
	open := cands
	if w != nil {
		open = nil
		for _, c := range cands {
			if zones := zonesOf(&c.item, c.plan.Dest, w); !w.OpenIn(now, zones) {
				out.deffer = append(out.deffer, deferral{c: c, at: nextOpening(w, now, zones)})
				continue
			}
			open = append(open, c)
		}
	}
	// The suppression list, for the destinations with tries left of the
	// candidates about to be claimed.
	open = open[:min(len(open), limit)]
	var keys []string
	for _, c := range open {
		for i, d := range c.item.Dests {
			if i >= c.item.DestIdx && !d.Exhausted && d.Cur < d.Max {
				keys = append(keys, d.Type+":"+d.Target)
			}
		}
	}
	suppressed := map[string]bool{}
	if len(keys) > 0 {
		var err error
		if suppressed, err = s.Suppressed(ctx, customerID, keys); err != nil {
			return screened{}, err
		}
	}
	for _, c := range open {
		dests := c.item.destinations()
		c.suppressed = nil
		for i, d := range c.item.Dests {
			if !d.Exhausted && suppressed[d.Type+":"+d.Target] {
				dests[i].Exhausted = true
				c.suppressed = append(c.suppressed, i)
			}
		}
		if len(c.suppressed) == 0 {
			out.claim = append(out.claim, c)
			continue
		}
		plan, ok := outdial.PlanFor(dests, c.item.DestIdx)
		if !ok {
			out.fail = append(out.fail, c)
			continue
		}
		c.plan = plan
		if w != nil {
			if zones := zonesOf(&c.item, plan.Dest, w); !w.OpenIn(now, zones) {
				out.deffer = append(out.deffer, deferral{c: c, at: nextOpening(w, now, zones)})
				continue
			}
		}
		out.claim = append(out.claim, c)
	}
	return out, nil
}

// nextOpening is w's next opening in zones after now; a window that never
// opens in all of them at once is looked at again in a day.
func nextOpening(w *outdial.CallingWindow, now time.Time, zones []*time.Location) time.Time {
	if at, ok := w.NextOpen(now, zones); ok {
		return at
	}
	return now.Add(24 * time.Hour)
}

// deferTargets moves each deferral's target to its wait partition, due at
// its opening, if it is still as read. A target that changed is left
// alone; a failed write leaves the target due, and the next claim screens
// it again: either way nothing outside its window is handed out.
func (s *Store) deferTargets(ctx context.Context, outdialID string, head *outdialItem, ds []deferral) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, d := range ds {
		g.Go(func() error {
			c := d.c
			_, err := s.db.UpdateItem(gctx, &dynamodb.UpdateItemInput{
				TableName: &s.table, Key: key(c.item.PK, c.item.SK),
				UpdateExpression:         aws.String("SET due = :at, GSI1PK = :wpk, GSI1SK = :at, wv = :wv"),
				ConditionExpression:      aws.String("#st = :idle AND due = :due AND try_cur = :tc AND dest_idx = :di"),
				ExpressionAttributeNames: map[string]string{"#st": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":at": avN(d.at.UnixMilli()), ":wpk": avS(waitPK(outdialID, c.shard, head.WinVer)),
					":wv": avN(int64(head.WinVer + 1)), ":idle": avS(string(outdial.StatusIdle)),
					":due": avN(c.item.Due), ":tc": avN(int64(c.item.TryCur)), ":di": avN(int64(c.item.DestIdx)),
				},
			})
			_ = err // best effort (see above)
			return nil
		})
	}
	_ = g.Wait()
}

// failSuppressed moves the targets whose every destination left is
// suppressed to failed (last_result suppressed), with the counts, in
// transactions of up to txMaxTargets. Targets that changed since they were
// read are left alone; an error leaves the rest idle for the next claim.
func (s *Store) failSuppressed(ctx context.Context, outdialID string, cands []candidate, now time.Time) error {
	for start := 0; start < len(cands); start += txMaxTargets {
		chunk := cands[start:min(start+txMaxTargets, len(cands))]
		for attempt := 1; len(chunk) > 0; attempt++ {
			items := make([]types.TransactWriteItem, len(chunk))
			delta := counterDelta{}
			for i, c := range chunk {
				items[i] = s.failUpdate(outdialID, c, now)
				delta.merge(statusDelta(outdial.StatusIdle, c.item.TryCur > 0, outdial.StatusFailed, false))
			}
			err := s.send(ctx, outdialID, items, delta)
			var ce *cancelledError
			switch {
			case err == nil:
				chunk = nil
				continue
			case errors.As(err, &ce):
				var keep []candidate
				for i, c := range chunk {
					if code(ce.Reasons[i]) != reasonCondition {
						keep = append(keep, c)
					}
				}
				if len(keep) < len(chunk) {
					chunk = keep
					continue
				}
			case errors.Is(err, errSlotBusy):
				continue
			case !IsRetryable(err):
				return classify(fmt.Sprintf("fail suppressed targets of outdial %s", outdialID), err)
			}
			if attempt >= 5 {
				return classify("fail suppressed targets", err)
			}
			if err := backoff(ctx, attempt); err != nil {
				return classify("fail suppressed targets", err)
			}
		}
	}
	return nil
}

// failUpdate is the update that fails candidate c because its every
// destination left is suppressed, marking those destinations exhausted.
func (s *Store) failUpdate(outdialID string, c candidate, now time.Time) types.TransactWriteItem {
	expr := "SET #st = :failed, last_result = :res, tm_last_result = :tm, GSI1PK = :gpk, GSI1SK = :nowms, tm_update = :tm" + exhaustSets(c.suppressed) + " REMOVE exp_attempt, wv, attempt_id, lease_until"
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: key(c.item.PK, c.item.SK),
		UpdateExpression:         aws.String(expr),
		ConditionExpression:      aws.String("#st = :idle AND due = :due AND try_cur = :tc AND dest_idx = :odi"),
		ExpressionAttributeNames: map[string]string{"#st": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":failed": avS(string(outdial.StatusFailed)), ":idle": avS(string(outdial.StatusIdle)),
			":res": avS(string(outdial.ResultSuppressed)), ":tm": avS(formatTime(now)), ":nowms": avN(now.UnixMilli()),
			":gpk": avS(statusPK(outdialID, c.shard, outdial.StatusFailed)),
			":due": avN(c.item.Due), ":tc": avN(int64(c.item.TryCur)), ":odi": avN(int64(c.item.DestIdx)),
			":true": &types.AttributeValueMemberBOOL{Value: true},
		},
	}}
}

// exhaustSets is the SET clauses (each starting ", ") that mark the
// destinations idx exhausted; they use the value :true.
func exhaustSets(idx []int) string {
	out := ""
	for _, i := range idx {
		out += fmt.Sprintf(", dests[%d].exh = :true", i)
	}
	return out
}
