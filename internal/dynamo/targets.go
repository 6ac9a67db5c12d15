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

var _ outdial.TargetStore = (*Store)(nil)

// destItem is the stored form of one destination of a target.
type destItem struct {
	Type      string `dynamodbav:"type"`
	Target    string `dynamodbav:"target"`
	Max       int    `dynamodbav:"max"`
	Cur       int    `dynamodbav:"cur"`
	Exhausted bool   `dynamodbav:"exh,omitempty"`
	// Slot is the VoIPBIN slot (destination_N) when it is not the
	// destination's position; 0 is never stored for a later position,
	// since slots only grow.
	Slot int `dynamodbav:"slot,omitempty"`
}

// targetItem is the stored form of a target.
type targetItem struct {
	PK           string     `dynamodbav:"PK"`
	SK           string     `dynamodbav:"SK"`
	GSI1PK       string     `dynamodbav:"GSI1PK"`
	GSI1SK       int64      `dynamodbav:"GSI1SK"`
	Type         string     `dynamodbav:"type"`
	ID           string     `dynamodbav:"id"`
	OutdialID    string     `dynamodbav:"outdial_id"`
	Name         string     `dynamodbav:"name"`
	Detail       string     `dynamodbav:"detail"`
	Data         string     `dynamodbav:"data,omitempty"`
	Dests        []destItem `dynamodbav:"dests"`
	DestIdx      int        `dynamodbav:"dest_idx"`
	TryMax       int        `dynamodbav:"try_max"`
	TryCur       int        `dynamodbav:"try_cur"`
	Status       string     `dynamodbav:"status"`
	Due          int64      `dynamodbav:"due"` // ms since epoch of the next attempt
	AttemptID    string     `dynamodbav:"attempt_id,omitempty"`
	LeaseUntil   int64      `dynamodbav:"lease_until,omitempty"`
	LastResult   string     `dynamodbav:"last_result,omitempty"`
	ExpAttempt   string     `dynamodbav:"exp_attempt,omitempty"` // the attempt expired last, while no claim followed
	TMLastResult string     `dynamodbav:"tm_last_result,omitempty"`
	TMCreate     string     `dynamodbav:"tm_create"`
	TMUpdate     string     `dynamodbav:"tm_update"`
}

func (it *targetItem) target() *outdial.Target {
	t := &outdial.Target{
		ID: it.ID, OutdialID: it.OutdialID, Name: it.Name, Detail: it.Detail,
		DestinationIdx: it.DestIdx, TryCountMax: it.TryMax, TryCountCurrent: it.TryCur,
		Status: outdial.Status(it.Status), LastResult: outdial.Result(it.LastResult),
		TMLastResult: outdial.Time{Time: parseTime(it.TMLastResult)},
		TMCreate:     outdial.Time{Time: parseTime(it.TMCreate)},
		TMUpdate:     outdial.Time{Time: parseTime(it.TMUpdate)},
	}
	t.Data = it.Data
	if it.Status == string(outdial.StatusIdle) {
		t.TMNextAttempt = outdial.Time{Time: time.UnixMilli(it.Due).UTC()}
	}
	t.Destinations = it.destinations()
	for i, d := range it.Dests {
		if d.Slot > i {
			t.Slots = it.slots()
			break
		}
	}
	if it.DestIdx >= 0 && it.DestIdx < len(it.Dests) {
		t.Destination = t.Destinations[it.DestIdx].Address()
	}
	if len(t.Destinations) == 1 {
		t.Destinations = nil // the one-destination form: destination + try counts say it all
	}
	return t
}

// slots returns the VoIPBIN slot of each destination.
func (it *targetItem) slots() []int {
	out := make([]int, len(it.Dests))
	for i, d := range it.Dests {
		out[i] = max(d.Slot, i)
	}
	return out
}

// destinations returns the target's destinations in domain form.
func (it *targetItem) destinations() []outdial.TargetDestination {
	out := make([]outdial.TargetDestination, len(it.Dests))
	for i, d := range it.Dests {
		out[i] = outdial.TargetDestination{Type: d.Type, Target: d.Target, TryCountMax: d.Max, TryCountCurrent: d.Cur, Exhausted: d.Exhausted}
	}
	return out
}

// GetTarget implements outdial.TargetStore with one BatchGetItem that reads
// the outdial (ownership) and the target together.
func (s *Store) GetTarget(ctx context.Context, customerID, outdialID, targetID string) (*outdial.Target, error) {
	it, err := s.readTarget(ctx, customerID, outdialID, targetID)
	if err != nil {
		return nil, err
	}
	return it.target(), nil
}

func (s *Store) readTarget(ctx context.Context, customerID, outdialID, targetID string) (*targetItem, error) {
	got, err := s.batchGet(ctx, []map[string]types.AttributeValue{headKey(outdialID), targetKey(outdialID, targetID)})
	if err != nil {
		return nil, classify(fmt.Sprintf("get target %s", targetID), err)
	}
	var target *targetItem
	var owned bool
	for _, item := range got {
		typ, _ := item["type"].(*types.AttributeValueMemberS)
		switch {
		case typ == nil:
		case typ.Value == "outdial":
			cust, _ := item["customer_id"].(*types.AttributeValueMemberS)
			owned = cust != nil && cust.Value == customerID
		case typ.Value == "target":
			target = &targetItem{}
			if err := attributevalue.UnmarshalMap(item, target); err != nil {
				return nil, fmt.Errorf("unmarshal target %s: %w", targetID, err)
			}
		}
	}
	if !owned {
		return nil, outdial.ErrNotFound("outdial")
	}
	if target == nil {
		return nil, outdial.ErrNotFound("target")
	}
	return target, nil
}

// listCursor is the store's position in a target list.
type listCursor struct {
	Shard int    `json:"k"`
	ID    string `json:"id,omitempty"` // last target id returned in Shard
	G     int64  `json:"g,omitempty"`  // its GSI1SK, for status lists
}

// ListTargets implements outdial.TargetStore. It walks the shards in order
// (a status list walks the shards' GSI1 partitions), so every target is
// returned exactly once across pages; within a shard targets come in id
// order, or for a status list in order of due time (idle), lease expiry
// (dialing) or last change (finished, failed).
func (s *Store) ListTargets(ctx context.Context, customerID, outdialID string, status outdial.Status, p outdial.Page) ([]*outdial.Target, string, error) {
	cur := listCursor{}
	if p.Cursor != "" {
		if err := json.Unmarshal([]byte(p.Cursor), &cur); err != nil || cur.Shard < 0 || cur.Shard >= Shards {
			return nil, "", outdial.FieldErrorf(outdial.ECodeInvalidPageToken, "page_token", "is not valid for this list")
		}
	}
	if err := s.owned(ctx, customerID, outdialID); err != nil {
		return nil, "", err
	}
	var out []*outdial.Target
	for k := cur.Shard; k < Shards; k++ {
		want := p.Size - len(out)
		in := &dynamodb.QueryInput{TableName: &s.table, Limit: aws.Int32(int32(want + 1))}
		var start map[string]types.AttributeValue
		if status == "" {
			in.KeyConditionExpression = aws.String("PK = :pk AND begins_with(SK, :sk)")
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": avS(shardPK(outdialID, k)), ":sk": avS(prefixTarget)}
			in.ConsistentRead = aws.Bool(true)
			if k == cur.Shard && cur.ID != "" {
				start = key(shardPK(outdialID, k), prefixTarget+cur.ID)
			}
		} else {
			in.IndexName = aws.String(indexGSI1)
			in.KeyConditionExpression = aws.String("GSI1PK = :pk")
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": avS(statusPK(outdialID, k, status))}
			if k == cur.Shard && cur.ID != "" {
				start = key(shardPK(outdialID, k), prefixTarget+cur.ID)
				start[attrGSI1PK] = avS(statusPK(outdialID, k, status))
				start[attrGSI1SK] = avN(cur.G)
			}
		}
		in.ExclusiveStartKey = start
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
				if len(out) == p.Size {
					// One more exists: the page ends at the previous item.
					last := out[len(out)-1]
					return out, encodeCursor(listCursor{Shard: k, ID: last.ID, G: lastG(items, i)}), nil
				}
				out = append(out, items[i].target())
			}
			if res.LastEvaluatedKey == nil {
				break
			}
			in.ExclusiveStartKey = res.LastEvaluatedKey
			in.Limit = aws.Int32(int32(p.Size - len(out) + 1))
		}
		if len(out) == p.Size {
			// Full page at the end of a shard: the next page starts at the
			// next shard that has a target, if any does.
			next, err := s.nextNonEmptyShard(ctx, outdialID, status, k+1)
			if err != nil || next < 0 {
				return out, "", err
			}
			return out, encodeCursor(listCursor{Shard: next}), nil
		}
	}
	return out, "", nil
}

// nextNonEmptyShard returns the first shard from k on with a target (of
// status, if set), or -1.
func (s *Store) nextNonEmptyShard(ctx context.Context, outdialID string, status outdial.Status, k int) (int, error) {
	for ; k < Shards; k++ {
		in := &dynamodb.QueryInput{TableName: &s.table, Limit: aws.Int32(1), Select: types.SelectCount}
		if status == "" {
			in.KeyConditionExpression = aws.String("PK = :pk AND begins_with(SK, :sk)")
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": avS(shardPK(outdialID, k)), ":sk": avS(prefixTarget)}
		} else {
			in.IndexName = aws.String(indexGSI1)
			in.KeyConditionExpression = aws.String("GSI1PK = :pk")
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": avS(statusPK(outdialID, k, status))}
		}
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return -1, classify("list targets", err)
		}
		if res.Count > 0 {
			return k, nil
		}
	}
	return -1, nil
}

// lastG returns the GSI1SK of the item before items[i] (the last returned).
func lastG(items []targetItem, i int) int64 {
	if i > 0 {
		return items[i-1].GSI1SK
	}
	return 0
}

func encodeCursor(c listCursor) string {
	b, _ := json.Marshal(c)
	return string(b)
}

// DeleteTarget implements outdial.TargetStore: the target's Delete holds
// only if its status is still the one read, and the counts move in the
// same transaction; a concurrent change reads the target again.
func (s *Store) DeleteTarget(ctx context.Context, customerID, outdialID, targetID string) (*outdial.Target, error) {
	var sent *targetItem // the target as read before a delete whose answer was lost
	for attempt := 1; ; attempt++ {
		it, err := s.readTarget(ctx, customerID, outdialID, targetID)
		if sent != nil && outdial.ErrorCode(err) == outdial.ECodeNotFound {
			// The delete whose answer was lost went through (or another
			// one did): either way the target is deleted.
			return sent.target(), nil
		}
		if err != nil {
			return nil, err
		}
		st := outdial.Status(it.Status)
		del := types.TransactWriteItem{Delete: &types.Delete{
			TableName: &s.table, Key: targetKey(outdialID, targetID),
			ConditionExpression:       aws.String("#st = :st AND try_cur = :tc"),
			ExpressionAttributeNames:  map[string]string{"#st": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":st": avS(it.Status), ":tc": avN(int64(it.TryCur))},
		}}
		err = s.send(ctx, outdialID, []types.TransactWriteItem{del}, statusDelta(st, st == outdial.StatusIdle && it.TryCur > 0, "", false))
		var ce *cancelledError
		switch {
		case err == nil:
			return it.target(), nil
		case errors.Is(err, errOutdialGone):
			return nil, outdial.ErrNotFound("outdial")
		case errors.As(err, &ce) && code(ce.Reasons[0]) == reasonCondition:
			// The target changed (an outcome, a claim) or went since it
			// was read: read it again.
		case errors.Is(err, errSlotBusy), IsRetryable(err):
			if cancellation(err) == nil && ambiguous(err) {
				sent = it
			}
		default:
			return nil, classify(fmt.Sprintf("delete target %s", targetID), err)
		}
		if attempt >= 10 {
			return nil, classify("delete target", err)
		}
		if err := backoff(ctx, attempt); err != nil {
			return nil, classify("delete target", err)
		}
	}
}

// batchGet reads keys (at most 100) with strongly consistent BatchGetItem
// calls, reading unprocessed keys again.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	for attempt := 1; len(keys) > 0; attempt++ {
		res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
			RequestItems: map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}},
		})
		if err != nil {
			return nil, err
		}
		out = append(out, res.Responses[s.table]...)
		keys = res.UnprocessedKeys[s.table].Keys
		if len(keys) > 0 {
			if attempt >= 8 {
				return nil, outdial.Errorf(outdial.ECodeUnavailable, "the database is busy; retry later")
			}
			if err := backoff(ctx, attempt); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
