package dynamo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/outdial"
)

var _ outdial.TargetStore = (*Store)(nil)

// txMaxTargets is how many targets one import transaction writes: DynamoDB
// allows 100 actions per transaction, and one is the shard's count item.
const txMaxTargets = 99

// ImportConcurrency is how many shards an import writes at once: all of
// them, so that a large import uses every partition key's throughput.
const ImportConcurrency = Shards

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
	TMLastResult string     `dynamodbav:"tm_last_result,omitempty"`
	TMCreate     string     `dynamodbav:"tm_create"`
	TMUpdate     string     `dynamodbav:"tm_update"`
}

// statusPK is the GSI1 partition key listing shard k's targets in status.
func statusPK(outdialID string, k int, st outdial.Status) string {
	return shardPK(outdialID, k) + "#" + string(st)
}

func targetKey(outdialID, targetID string) map[string]types.AttributeValue {
	return key(shardPK(outdialID, ShardOf(targetID)), prefixTarget+targetID)
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

// outdialExists checks the customer owns the outdial (404 otherwise).
func (s *Store) outdialExists(ctx context.Context, customerID, outdialID string) error {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: key(outdialPK(customerID), outdialSK(outdialID)),
		ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("PK"),
	})
	if err != nil {
		return classify(fmt.Sprintf("get outdial %s", outdialID), err)
	}
	if res.Item == nil {
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

// AddTargets implements outdial.TargetStore. Targets are grouped by shard;
// each shard is written in transactions of up to 99 conditional Puts
// (attribute_not_exists: an existing target is never overwritten) plus one
// ADD on the shard's count item, so counts move exactly with the targets.
// A Put refused by its condition is a duplicate; the transaction is retried
// without it.
func (s *Store) AddTargets(ctx context.Context, customerID, outdialID, idem string, targets []*outdial.NewTarget) (*outdial.ImportResult, error) {
	if err := s.outdialExists(ctx, customerID, outdialID); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	res := &outdial.ImportResult{}

	// Dedupe inside the request: the first row with a destination wins.
	firstByID := map[string]int{}
	shards := make([][]*pendingTarget, Shards)
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
		k := ShardOf(it.ID)
		shards[k] = append(shards[k], &pendingTarget{index: i, item: it, av: av})
	}

	// Write the shards in parallel, each shard's transactions in order (they
	// share its count item).
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		sem      = make(chan struct{}, ImportConcurrency)
	)
	for k := range shards {
		if len(shards[k]) == 0 {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(k int) {
			defer func() { <-sem; wg.Done() }()
			created, dups, err := s.importShard(ctx, outdialID, idem+"\x00"+uuid.NewString(), k, shards[k])
			mu.Lock()
			defer mu.Unlock()
			for _, p := range created {
				res.Created = append(res.Created, outdial.Created{Index: p.index, Target: p.item.target()})
			}
			for _, p := range dups {
				res.Duplicates = append(res.Duplicates, outdial.Duplicate{Index: p.index, TargetID: p.item.ID, Reason: "exists"})
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}(k)
	}
	wg.Wait()
	sort.Slice(res.Created, func(i, j int) bool { return res.Created[i].Index < res.Created[j].Index })
	sort.Slice(res.Duplicates, func(i, j int) bool { return res.Duplicates[i].Index < res.Duplicates[j].Index })
	if firstErr != nil {
		return res, firstErr
	}
	return res, nil
}

// importShard writes one shard's new targets and returns which were created
// and which already existed.
func (s *Store) importShard(ctx context.Context, outdialID, idem string, k int, pending []*pendingTarget) (created, dups []*pendingTarget, err error) {
	for len(pending) > 0 {
		chunk := pending[:min(txMaxTargets, len(pending))]
		pending = pending[len(chunk):]
		for attempt := 0; len(chunk) > 0; attempt++ {
			err := s.writeImportChunk(ctx, outdialID, idem, k, chunk)
			if err == nil {
				created = append(created, chunk...)
				break
			}
			reasons := cancellationReasons(err)
			if len(reasons) == len(chunk)+1 {
				if reasons[len(chunk)] == "ConditionalCheckFailed" {
					// The count item is gone: the outdial was deleted.
					return created, dups, outdial.ErrNotFound("outdial")
				}
				var keep []*pendingTarget
				for i, p := range chunk {
					if reasons[i] == "ConditionalCheckFailed" {
						dups = append(dups, p)
					} else {
						keep = append(keep, p)
					}
				}
				if len(keep) < len(chunk) {
					chunk = keep
					attempt = 0
					continue // retry at once without the duplicates
				}
			}
			if !IsRetryable(err) || attempt >= 10 {
				return created, dups, classify(fmt.Sprintf("import into shard %d of outdial %s", k, outdialID), err)
			}
			if err := backoff(ctx, attempt+1); err != nil {
				return created, dups, classify("import", err)
			}
		}
	}
	return created, dups, nil
}

// writeImportChunk runs the transaction for chunk. Its ClientRequestToken
// depends only on this AddTargets call (the request id and a nonce) and
// the chunk's targets, so a retry of the same chunk after an ambiguous
// failure (a timeout after the write succeeded) is recognised by DynamoDB
// and not applied twice, while a replay of the whole request gets tokens
// of its own and finds its rows as duplicates.
func (s *Store) writeImportChunk(ctx context.Context, outdialID, idem string, k int, chunk []*pendingTarget) error {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d", idem, outdialID, k)
	items := make([]types.TransactWriteItem, 0, len(chunk)+1)
	for _, p := range chunk {
		h.Write([]byte(p.item.ID))
		items = append(items, types.TransactWriteItem{Put: &types.Put{
			TableName: &s.table, Item: p.av,
			ConditionExpression: aws.String("attribute_not_exists(PK)"),
		}})
	}
	items = append(items, types.TransactWriteItem{Update: &types.Update{
		TableName:                 &s.table,
		Key:                       countsKey(outdialID, k),
		UpdateExpression:          aws.String("ADD #idle :n"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames:  map[string]string{"#idle": "idle"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": avN(int64(len(chunk)))},
	}})
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems:      items,
		ClientRequestToken: aws.String(hex.EncodeToString(h.Sum(nil))[:36]),
	})
	return err
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
	got, err := s.batchGet(ctx, []map[string]types.AttributeValue{
		key(outdialPK(customerID), outdialSK(outdialID)),
		targetKey(outdialID, targetID),
	})
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
			owned = true
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
	if err := s.outdialExists(ctx, customerID, outdialID); err != nil {
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
// only if its status is still the one read, and the shard's count for that
// status moves in the same transaction; a concurrent change re-reads.
func (s *Store) DeleteTarget(ctx context.Context, customerID, outdialID, targetID string) (*outdial.Target, error) {
	for attempt := 0; ; attempt++ {
		it, err := s.readTarget(ctx, customerID, outdialID, targetID)
		if err != nil {
			return nil, err
		}
		k := ShardOf(targetID)
		update, names, vals := countDelta(it, "", false)
		in := &dynamodb.TransactWriteItemsInput{
			// One token per read: retrying this very request after an
			// answer was lost is recognised as done, instead of re-reading
			// a target that is already gone (and answering 404).
			ClientRequestToken: aws.String(uuid.NewString()),
			TransactItems: []types.TransactWriteItem{
				{Delete: &types.Delete{
					TableName: &s.table, Key: targetKey(outdialID, targetID),
					ConditionExpression:       aws.String("#st = :st AND try_cur = :tc"),
					ExpressionAttributeNames:  map[string]string{"#st": "status"},
					ExpressionAttributeValues: map[string]types.AttributeValue{":st": avS(it.Status), ":tc": avN(int64(it.TryCur))},
				}},
				{Update: &types.Update{
					TableName: &s.table, Key: countsKey(outdialID, k),
					UpdateExpression: aws.String(update), ConditionExpression: aws.String("attribute_exists(PK)"),
					ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
				}},
			},
		}
		// Retry the same request while the failure is transient.
		for retry := 0; ; retry++ {
			_, err = s.db.TransactWriteItems(ctx, in)
			if err == nil || !IsRetryable(err) || retry >= 8 {
				break
			}
			if berr := backoff(ctx, retry+1); berr != nil {
				return nil, classify("delete target", berr)
			}
		}
		if err == nil {
			return it.target(), nil
		}
		reasons := cancellationReasons(err)
		if len(reasons) == 2 && reasons[1] == "ConditionalCheckFailed" {
			return nil, outdial.ErrNotFound("outdial")
		}
		if len(reasons) == 2 && reasons[0] == "ConditionalCheckFailed" && attempt < 10 {
			// The target changed (an outcome, a claim) since it was read:
			// read it again.
			if err := backoff(ctx, attempt+1); err != nil {
				return nil, classify("delete target", err)
			}
			continue
		}
		return nil, classify(fmt.Sprintf("delete target %s", targetID), err)
	}
}

// countDelta returns an update expression (with its names and values) that
// moves one target out of from's status and, if to is set, into to's.
// retry counts the idle targets that already had an attempt; toRetry says
// whether the target lands in it.
func countDelta(from *targetItem, to string, toRetry bool) (string, map[string]string, map[string]types.AttributeValue) {
	d := counterDelta{}
	d.add(from.Status, -1)
	if from.Status == string(outdial.StatusIdle) && from.TryCur > 0 {
		d.add("retry", -1)
	}
	if to != "" {
		d.add(to, 1)
		if toRetry {
			d.add("retry", 1)
		}
	}
	return d.expr()
}

// counterDelta collects ADDs to the attributes of a count item.
type counterDelta map[string]int64

func (d counterDelta) add(attr string, v int64) { d[attr] += v }

func (d counterDelta) expr() (string, map[string]string, map[string]types.AttributeValue) {
	attrs := make([]string, 0, len(d))
	for a := range d {
		attrs = append(attrs, a)
	}
	sort.Strings(attrs)
	names := map[string]string{}
	vals := map[string]types.AttributeValue{}
	var parts []string
	for i, a := range attrs {
		if d[a] == 0 {
			continue
		}
		nk, vk := fmt.Sprintf("#c%d", i), fmt.Sprintf(":c%d", i)
		names[nk], vals[vk] = a, avN(d[a])
		parts = append(parts, nk+" "+vk)
	}
	if len(parts) == 0 {
		// Nothing moves; keep the expression valid.
		names["#c"], vals[":c"] = "idle", avN(0)
		parts = append(parts, "#c :c")
	}
	return "ADD " + strings.Join(parts, ", "), names, vals
}
