package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/outdial"
)

var _ outdial.TargetStore = (*Store)(nil)

// txMaxTargets is how many targets one transaction moves: DynamoDB allows
// 100 actions per transaction, and one is the count slot.
const txMaxTargets = 99

// ImportConcurrency is how many transactions an import has in flight at
// once (and so how many count slots it owns for a while).
const ImportConcurrency = 8

// destItem is the stored form of one destination of a target.
type destItem struct {
	Type      string `dynamodbav:"type"`
	Target    string `dynamodbav:"target"`
	Max       int    `dynamodbav:"max"`
	Cur       int    `dynamodbav:"cur"`
	Exhausted bool   `dynamodbav:"exh,omitempty"`
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
	if it.Data != "" {
		t.Data = json.RawMessage(it.Data)
	}
	if it.Status == string(outdial.StatusIdle) {
		t.TMNextAttempt = outdial.Time{Time: time.UnixMilli(it.Due).UTC()}
	}
	t.Destinations = it.destinations()
	if it.DestIdx >= 0 && it.DestIdx < len(it.Dests) {
		t.Destination = t.Destinations[it.DestIdx].Address()
	}
	if len(t.Destinations) == 1 {
		t.Destinations = nil // the one-destination form: destination + try counts say it all
	}
	return t
}

// destinations returns the target's destinations in domain form.
func (it *targetItem) destinations() []outdial.TargetDestination {
	out := make([]outdial.TargetDestination, len(it.Dests))
	for i, d := range it.Dests {
		out[i] = outdial.TargetDestination{Type: d.Type, Target: d.Target, TryCountMax: d.Max, TryCountCurrent: d.Cur, Exhausted: d.Exhausted}
	}
	return out
}

// newTargetItem builds the item of a new target, due now.
func newTargetItem(outdialID string, nt *outdial.NewTarget, now time.Time) *targetItem {
	id := outdial.TargetID(outdialID, nt.Key())
	k := ShardOf(id)
	it := &targetItem{
		PK: shardPK(outdialID, k), SK: prefixTarget + id,
		GSI1PK: statusPK(outdialID, k, outdial.StatusIdle), GSI1SK: now.UnixMilli(),
		Type: "target", ID: id, OutdialID: outdialID,
		Name: nt.Name, Detail: nt.Detail, Data: string(nt.Data),
		Status: string(outdial.StatusIdle), Due: now.UnixMilli(),
		TMCreate: formatTime(now), TMUpdate: formatTime(now),
	}
	for _, d := range nt.Destinations {
		it.Dests = append(it.Dests, destItem{Type: d.Type, Target: d.Target, Max: d.TryCountMax})
		it.TryMax += d.TryCountMax
	}
	return it
}

// importOwner checks the customer owns the outdial, reading its head only
// the first time this store imports into it (the owner never changes).
func (s *Store) importOwner(ctx context.Context, customerID, outdialID string) error {
	if owner, ok := s.owners.get(outdialID); ok {
		if owner != customerID {
			return outdial.ErrNotFound("outdial")
		}
		return nil
	}
	head, err := s.readHead(ctx, outdialID)
	if err != nil {
		return err
	}
	if head == nil {
		return outdial.ErrNotFound("outdial")
	}
	s.owners.put(outdialID, head.CustomerID)
	if head.CustomerID != customerID {
		return outdial.ErrNotFound("outdial")
	}
	return nil
}

// pendingTarget is one target of an import on its way to the table.
type pendingTarget struct {
	index int
	item  *targetItem
	av    map[string]types.AttributeValue
}

// AddTargets implements outdial.TargetStore. Targets are written in
// transactions of up to 99 conditional Puts (attribute_not_exists: an
// existing target is never overwritten) plus their count slot's update, so
// counts move exactly with the targets. A Put refused by its condition is
// a duplicate; the transaction is sent again without it. Up to
// ImportConcurrency transactions are in flight at once (each with a count
// slot of its own). A transaction's targets spread over the shards, so an
// import uses every shard's throughput.
func (s *Store) AddTargets(ctx context.Context, customerID, outdialID, idem string, targets []*outdial.NewTarget) (*outdial.ImportResult, error) {
	_ = idem // every transaction carries a token of its own (prepare)
	if err := s.importOwner(ctx, customerID, outdialID); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	res := &outdial.ImportResult{}

	// Dedupe inside the request: the first row with a destination wins.
	firstByID := map[string]int{}
	var pending []*pendingTarget
	for i, nt := range targets {
		it := newTargetItem(outdialID, nt, now)
		if _, dup := firstByID[it.ID]; dup {
			res.Duplicates = append(res.Duplicates, outdial.Duplicate{Index: i, TargetID: it.ID, Reason: "repeated_in_request"})
			continue
		}
		firstByID[it.ID] = i
		av, err := attributevalue.MarshalMap(it)
		if err != nil {
			return nil, fmt.Errorf("marshal target: %w", err)
		}
		pending = append(pending, &pendingTarget{index: i, item: it, av: av})
	}

	// A plain group: a failing chunk must not cut the others off mid-request
	// (their results would be unknown).
	var mu sync.Mutex
	var g errgroup.Group
	g.SetLimit(ImportConcurrency)
	for start := 0; start < len(pending); start += txMaxTargets {
		chunk := pending[start:min(start+txMaxTargets, len(pending))]
		g.Go(func() error {
			created, dups, err := s.importChunk(ctx, outdialID, chunk)
			mu.Lock()
			defer mu.Unlock()
			for _, p := range created {
				res.Created = append(res.Created, outdial.Created{Index: p.index, Target: p.item.target()})
			}
			for _, p := range dups {
				res.Duplicates = append(res.Duplicates, outdial.Duplicate{Index: p.index, TargetID: p.item.ID, Reason: "exists"})
			}
			return err
		})
	}
	err := g.Wait()
	sort.Slice(res.Created, func(i, j int) bool { return res.Created[i].Index < res.Created[j].Index })
	sort.Slice(res.Duplicates, func(i, j int) bool { return res.Duplicates[i].Index < res.Duplicates[j].Index })
	return res, err
}

// importChunk writes up to txMaxTargets new targets in one transaction and
// returns which were created and which already existed.
func (s *Store) importChunk(ctx context.Context, outdialID string, chunk []*pendingTarget) (created, dups []*pendingTarget, err error) {
	for attempt := 1; len(chunk) > 0; attempt++ {
		items := make([]types.TransactWriteItem, len(chunk))
		for i, p := range chunk {
			items[i] = types.TransactWriteItem{Put: &types.Put{
				TableName: &s.table, Item: p.av,
				ConditionExpression: aws.String("attribute_not_exists(PK)"),
			}}
		}
		err := s.send(ctx, outdialID, items, counterDelta{string(outdial.StatusIdle): int64(len(chunk))})
		var ce *cancelledError
		switch {
		case err == nil:
			created = append(created, chunk...)
			chunk = nil
			continue
		case errors.Is(err, errOutdialGone):
			return created, dups, outdial.ErrNotFound("outdial")
		case errors.Is(err, errSlotBusy):
			continue
		case errors.As(err, &ce):
			var keep []*pendingTarget
			for i, p := range chunk {
				if code(ce.Reasons[i]) == reasonCondition {
					dups = append(dups, p)
				} else {
					keep = append(keep, p)
				}
			}
			if len(keep) < len(chunk) {
				chunk = keep
				continue // at once, without the duplicates
			}
			if !ce.transient() {
				return created, dups, fmt.Errorf("import into outdial %s: %w", outdialID, err)
			}
		case ambiguous(err):
			// Sent again already for as long as there was time (run):
			// whether it was applied is unknown, and only the client's
			// retry of the import can tell (it finds what was stored).
			return created, dups, classify(fmt.Sprintf("import into outdial %s", outdialID), err)
		case !IsRetryable(err):
			return created, dups, classify(fmt.Sprintf("import into outdial %s", outdialID), err)
		}
		if !keepTrying(ctx, attempt+1, 0) {
			return created, dups, classify(fmt.Sprintf("import into outdial %s", outdialID), err)
		}
		if err := backoff(ctx, attempt); err != nil {
			return created, dups, classify("import", err)
		}
	}
	return created, dups, nil
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
