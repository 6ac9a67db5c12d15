package dynamo

import (
	"context"
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

// txMaxTargets is how many targets one transaction moves: DynamoDB allows
// 100 actions per transaction, and one is the count slot.
const txMaxTargets = 99

// ImportConcurrency is how many transactions an import has in flight at
// once (and so how many count slots it owns for a while).
const ImportConcurrency = 8

// newTargetItem builds the item of a new target, due now; idKey is the
// outdial's id key.
func newTargetItem(outdialID string, idKey []byte, nt *outdial.NewTarget, now time.Time) *targetItem {
	id := outdial.KeyedTargetID(idKey, nt.Key())
	k := ShardOf(id)
	it := &targetItem{
		PK: shardPK(outdialID, k), SK: prefixTarget + id,
		GSI1PK: statusPK(outdialID, k, outdial.StatusIdle), GSI1SK: now.UnixMilli(),
		Type: "target", ID: id, OutdialID: outdialID,
		Name: nt.Name, Detail: nt.Detail, Data: nt.Data,
		Status: string(outdial.StatusIdle), Due: now.UnixMilli(),
		TMCreate: formatTime(now), TMUpdate: formatTime(now), TZ: nt.Timezone,
	}
	for i, d := range nt.Destinations {
		di := destItem{Type: d.Type, Target: d.Target, Max: d.TryCountMax, TZ: d.Timezones}
		if i < len(nt.Slots) {
			di.Slot = nt.Slots[i]
		}
		it.Dests = append(it.Dests, di)
		it.TryMax += d.TryCountMax
	}
	return it
}

// importOwner checks the customer owns the outdial and returns its id
// key, reading its head only the first time this store imports into it
// (neither the owner nor the key ever changes).
func (s *Store) importOwner(ctx context.Context, customerID, outdialID string) ([]byte, error) {
	if o, ok := s.owners.get(outdialID); ok {
		if o.customerID != customerID {
			return nil, outdial.ErrNotFound("outdial")
		}
		return o.idKey, nil
	}
	head, err := s.readHead(ctx, outdialID)
	if err != nil {
		return nil, err
	}
	if head == nil || head.CustomerID != customerID {
		return nil, outdial.ErrNotFound("outdial")
	}
	key := head.IDKey
	if len(key) == 0 {
		if key, err = s.addIDKey(ctx, outdialID); err != nil {
			return nil, err
		}
	}
	s.owners.put(outdialID, ownerEntry{customerID: head.CustomerID, idKey: key})
	return key, nil
}

// TargetIDOf returns the id that the target whose first destination is a
// (normalised) has, or would have, in the customer's outdial.
func (s *Store) TargetIDOf(ctx context.Context, customerID, outdialID string, a outdial.Address) (string, error) {
	idKey, err := s.importOwner(ctx, customerID, outdialID)
	if err != nil {
		return "", err
	}
	return outdial.KeyedTargetID(idKey, a.Key()), nil
}

// addIDKey gives an outdial created before id keys existed its key (once:
// concurrent imports all get the first one written).
func (s *Store) addIDKey(ctx context.Context, outdialID string) ([]byte, error) {
	res, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: headKey(outdialID),
		UpdateExpression:          aws.String("SET id_key = if_not_exists(id_key, :k)"),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":k": &types.AttributeValueMemberB{Value: outdial.NewIDKey()}},
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if err != nil {
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return nil, outdial.ErrNotFound("outdial")
		}
		return nil, classify(fmt.Sprintf("add the id key of outdial %s", outdialID), err)
	}
	b, ok := res.Attributes["id_key"].(*types.AttributeValueMemberB)
	if !ok || len(b.Value) == 0 {
		return nil, fmt.Errorf("outdial %s: no id key after setting it", outdialID)
	}
	return b.Value, nil
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
	// The head, read each time: an archived outdial takes no targets.
	head, err := s.ownedHead(ctx, customerID, outdialID)
	if err != nil {
		return nil, err
	}
	if head.Archived {
		return nil, errArchived()
	}
	idKey := head.IDKey
	if len(idKey) == 0 {
		if idKey, err = s.importOwner(ctx, customerID, outdialID); err != nil {
			return nil, err
		}
	}
	now := s.now().UTC()
	res := &outdial.ImportResult{}

	// Dedupe inside the request: the first row with a destination wins.
	firstByID := map[string]int{}
	var pending []*pendingTarget
	for i, nt := range targets {
		it := newTargetItem(outdialID, idKey, nt, now)
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
				res.Created = append(res.Created, outdial.Created{Index: p.index, Target: p.item.targetAt(head, now)})
			}
			for _, p := range dups {
				res.Duplicates = append(res.Duplicates, outdial.Duplicate{Index: p.index, TargetID: p.item.ID, Reason: "exists"})
			}
			return err
		})
	}
	err = g.Wait()
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
