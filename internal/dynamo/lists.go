package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/outdial"
)

// listCursor is the store's position in a target list.
type listCursor struct {
	Shard int    `json:"k"`
	W     int    `json:"w,omitempty"`  // the source in Shard: 0 its main one, v+1 the wait partition of window version v
	ID    string `json:"id,omitempty"` // last target id returned from that source
	G     int64  `json:"g,omitempty"`  // its GSI1SK, for status lists
}

// listSources returns the sources of a shard's targets in status (all
// for ""), in the order a list walks them, as their W (listCursor): the
// main one (0: the shard's partition, or its GSI1 partition of status),
// then for idle the wait partitions of the calling window's versions
// that may hold deferred targets.
func listSources(head *outdialItem, status outdial.Status) []int {
	src := []int{0}
	if status == outdial.StatusIdle && (head.Window != "" || head.WinVer > 0) {
		for v := head.WinMin; v <= head.WinVer; v++ {
			src = append(src, v+1)
		}
	}
	return src
}

// sourceQuery is the Query of source w of shard k, starting after the
// target id (and GSI1SK g) when id is set.
func (s *Store) sourceQuery(outdialID string, k, w int, status outdial.Status, id string, g int64) *dynamodb.QueryInput {
	in := &dynamodb.QueryInput{TableName: &s.table}
	pk := statusPK(outdialID, k, status)
	if w > 0 {
		pk = waitPK(outdialID, k, w-1)
	}
	switch {
	case status == "":
		in.KeyConditionExpression = aws.String("PK = :pk AND begins_with(SK, :sk)")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": avS(shardPK(outdialID, k)), ":sk": avS(prefixTarget)}
		in.ConsistentRead = aws.Bool(true)
		if id != "" {
			in.ExclusiveStartKey = key(shardPK(outdialID, k), prefixTarget+id)
		}
	default:
		in.IndexName = aws.String(indexGSI1)
		in.KeyConditionExpression = aws.String("GSI1PK = :pk")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": avS(pk)}
		if id != "" {
			in.ExclusiveStartKey = key(shardPK(outdialID, k), prefixTarget+id)
			in.ExclusiveStartKey[attrGSI1PK] = avS(pk)
			in.ExclusiveStartKey[attrGSI1SK] = avN(g)
		}
	}
	return in
}

// ListTargets implements outdial.TargetStore. It walks the shards in order,
// and in each its sources (listSources: a status list walks the shard's
// GSI1 partitions), so every target is returned exactly once across
// pages; within a source targets come in id order, or for a status list
// in order of due time (idle), lease expiry (dialing) or last change
// (finished, failed).
//
// With a reason in f, a page reads page_size targets of the reason's
// status and returns those with the reason, so it may come back short.
func (s *Store) ListTargets(ctx context.Context, customerID, outdialID string, f outdial.TargetFilter, p outdial.Page) ([]*outdial.Target, string, error) {
	status := f.StoredStatus()
	cur := listCursor{}
	if p.Cursor != "" {
		if err := json.Unmarshal([]byte(p.Cursor), &cur); err != nil || cur.Shard < 0 || cur.Shard >= Shards || cur.W < 0 {
			return nil, "", outdial.FieldErrorf(outdial.ECodeInvalidPageToken, "page_token", "is not valid for this list")
		}
	}
	head, err := s.ownedHead(ctx, customerID, outdialID)
	if err != nil {
		return nil, "", err
	}
	now := s.now()
	sources := listSources(head, status)
	var out []*outdial.Target
	read := 0 // targets read for this page, matching f or not
	for k := cur.Shard; k < Shards; k++ {
		for si, w := range sources {
			if k == cur.Shard && w < cur.W {
				continue // before the cursor (a drained old version reads empty)
			}
			id, g := "", int64(0)
			if k == cur.Shard && w == cur.W {
				id, g = cur.ID, cur.G
			}
			in := s.sourceQuery(outdialID, k, w, status, id, g)
			in.Limit = aws.Int32(int32(p.Size - read + 1))
			var (
				lastID  string
				lastGSI int64
			)
			for {
				res, err := s.db.Query(ctx, in)
				if err != nil {
					return nil, "", classify("list targets", err)
				}
				var items []targetItem
				if err := attributevalue.UnmarshalListOfMaps(res.Items, &items); err != nil {
					return nil, "", fmt.Errorf("unmarshal targets: %w", err)
				}
				for i := range items {
					if read == p.Size {
						// One more exists: the page ends at the previous item.
						return out, encodeCursor(listCursor{Shard: k, W: w, ID: lastID, G: lastG(items, i, lastGSI)}), nil
					}
					read++
					lastID, lastGSI = items[i].ID, items[i].GSI1SK
					if t := items[i].targetAt(head, now); f.Matches(t) {
						out = append(out, t)
					}
				}
				if res.LastEvaluatedKey == nil {
					break
				}
				in.ExclusiveStartKey = res.LastEvaluatedKey
				in.Limit = aws.Int32(int32(p.Size - read + 1))
			}
			if read == p.Size {
				// Full page at the end of a source: the next page starts at
				// the next source that has a target, if any does.
				nk, nw, err := s.nextNonEmpty(ctx, outdialID, status, sources, k, si+1)
				if err != nil || nk < 0 {
					return out, "", err
				}
				return out, encodeCursor(listCursor{Shard: nk, W: nw}), nil
			}
		}
	}
	return out, "", nil
}

// nextNonEmpty returns the first source from shard k's source index si on
// with a target, as a shard and a W, or -1.
func (s *Store) nextNonEmpty(ctx context.Context, outdialID string, status outdial.Status, sources []int, k, si int) (int, int, error) {
	for ; k < Shards; k, si = k+1, 0 {
		for ; si < len(sources); si++ {
			in := s.sourceQuery(outdialID, k, sources[si], status, "", 0)
			in.Limit, in.Select, in.ConsistentRead = aws.Int32(1), types.SelectCount, nil
			res, err := s.db.Query(ctx, in)
			if err != nil {
				return -1, 0, classify("list targets", err)
			}
			if res.Count > 0 {
				return k, sources[si], nil
			}
		}
	}
	return -1, 0, nil
}

// lastG returns the GSI1SK of the item before items[i] (the last read),
// which is prev when items[i] is the first of its response.
func lastG(items []targetItem, i int, prev int64) int64 {
	if i > 0 {
		return items[i-1].GSI1SK
	}
	return prev
}

// bulkPage is how many targets DeleteTargets reads at once.
const bulkPage = 4 * txMaxTargets

// DeleteTargets implements outdial.TargetStore: it walks the sources of
// the filter's status shard by shard (as ListTargets), and deletes the
// targets that pass the filter in transactions of up to txMaxTargets
// conditional Deletes (each holds only if the target's status and tries
// are as read) with their count slot's update, so counts move exactly with
// the targets. It stops a third of the time left (at most claimReserve)
// before ctx's deadline, or after 20 s without one, and then reports more.
func (s *Store) DeleteTargets(ctx context.Context, customerID, outdialID string, f outdial.TargetFilter) (int, bool, error) {
	head, err := s.ownedHead(ctx, customerID, outdialID)
	if err != nil {
		return 0, false, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
	}
	work, cancel := claimWorkContext(ctx)
	defer cancel()
	status := f.StoredStatus()
	now := s.now()
	deleted := 0
	for k := 0; k < Shards; k++ {
		for _, w := range listSources(head, status) {
			in := s.sourceQuery(outdialID, k, w, status, "", 0)
			in.Limit = aws.Int32(bulkPage)
			for {
				if work.Err() != nil {
					return deleted, true, nil
				}
				res, err := s.db.Query(work, in)
				if err != nil {
					if work.Err() != nil {
						return deleted, true, nil
					}
					return deleted, false, classify("delete targets", err)
				}
				var items []targetItem
				if err := attributevalue.UnmarshalListOfMaps(res.Items, &items); err != nil {
					return deleted, false, fmt.Errorf("unmarshal targets: %w", err)
				}
				var match []targetItem
				for _, it := range items {
					if f.Matches(it.targetAt(head, now)) {
						match = append(match, it)
					}
				}
				for start := 0; start < len(match); start += txMaxTargets {
					n, err := s.deleteChunk(work, outdialID, match[start:min(start+txMaxTargets, len(match))])
					deleted += n
					if err != nil {
						if work.Err() != nil {
							return deleted, true, nil
						}
						return deleted, false, err
					}
				}
				if res.LastEvaluatedKey == nil {
					break
				}
				in.ExclusiveStartKey = res.LastEvaluatedKey
			}
		}
	}
	return deleted, false, nil
}

// deleteChunk deletes the targets of chunk that are still as read, with
// the counts, and returns how many it deleted.
func (s *Store) deleteChunk(ctx context.Context, outdialID string, chunk []targetItem) (int, error) {
	for attempt := 1; len(chunk) > 0; attempt++ {
		items := make([]types.TransactWriteItem, len(chunk))
		delta := counterDelta{}
		for i, it := range chunk {
			st := outdial.Status(it.Status)
			items[i] = types.TransactWriteItem{Delete: &types.Delete{
				TableName: &s.table, Key: key(it.PK, it.SK),
				ConditionExpression:       aws.String("#st = :st AND try_cur = :tc"),
				ExpressionAttributeNames:  map[string]string{"#st": "status"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":st": avS(it.Status), ":tc": avN(int64(it.TryCur))},
			}}
			delta.merge(statusDelta(st, st == outdial.StatusIdle && it.TryCur > 0, "", false))
		}
		err := s.send(ctx, outdialID, items, delta)
		var ce *cancelledError
		switch {
		case err == nil:
			return len(chunk), nil
		case errors.Is(err, errOutdialGone):
			return 0, outdial.ErrNotFound("outdial")
		case errors.Is(err, errSlotBusy):
			continue
		case errors.As(err, &ce):
			// Targets that changed since they were read (an outcome, a
			// claim) are left: they may no longer match.
			var keep []targetItem
			for i, it := range chunk {
				if code(ce.Reasons[i]) != reasonCondition {
					keep = append(keep, it)
				}
			}
			if len(keep) < len(chunk) {
				chunk = keep
				continue
			}
		case ambiguous(err):
			return 0, classify("delete targets", err)
		case !IsRetryable(err):
			return 0, classify("delete targets", err)
		}
		if attempt >= 8 {
			return 0, classify("delete targets", err)
		}
		if err := backoff(ctx, attempt); err != nil {
			return 0, classify("delete targets", err)
		}
	}
	return 0, nil
}
