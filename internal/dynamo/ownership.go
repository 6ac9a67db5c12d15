package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// learnOwners reads the slots of range r of outdialID (one strongly
// consistent Query) and records which ones exist and which ones other
// writers own. None may exist: the outdial is new (or deleted; taking a
// slot tells, createSlot).
func (s *Store) learnOwners(ctx context.Context, outdialID string, r slotRange, now time.Time) error {
	res, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :lo AND :hi"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(headPK(outdialID)), ":lo": slotKey(outdialID, r.lo)[attrSK], ":hi": slotKey(outdialID, r.hi-1)[attrSK],
		},
		ProjectionExpression: aws.String("SK, o, u"),
		ConsistentRead:       aws.Bool(true),
	})
	if err != nil {
		return classify("read count slots", err)
	}
	exists := map[int]bool{}
	others := map[int]time.Time{}
	mine := map[int]bool{}
	for _, item := range res.Items {
		var it struct {
			SK       string `dynamodbav:"SK"`
			Own      string `dynamodbav:"o"`
			OwnUntil int64  `dynamodbav:"u"`
		}
		if attributevalue.UnmarshalMap(item, &it) != nil {
			continue
		}
		var i int
		if _, err := fmt.Sscanf(strings.TrimPrefix(it.SK, prefixSlot), "%d", &i); err != nil {
			continue
		}
		exists[i] = true
		until := time.UnixMilli(it.OwnUntil)
		switch {
		case it.Own == "" || !until.After(now):
		case it.Own == s.writeID:
			mine[i] = true
		default:
			others[i] = until
		}
	}
	s.slots.learnt(outdialID, r, exists, others, mine, now)
	return nil
}

// takeSlot takes a count slot of range r for a transaction on outdialID.
// A slot this store does not own yet is taken with a conditional
// UpdateItem of its own first (once per process and outdial, while it
// keeps writing). For a claim, the slot's number is also the shard it
// starts from, known before it reads candidates. The caller hands the slot
// to prepareOn, or gives it back with s.slots.unused.
func (s *Store) takeSlot(ctx context.Context, outdialID string, r slotRange) (slot, error) {
	for attempt := 0; ; attempt++ {
		now := s.now()
		if attempt == 0 && !s.slots.knows(outdialID) {
			// First contact with this outdial: learn who owns what (a
			// read), so that the slot picked is free. Writers that start
			// together (a burst of cold starts) read the same free slots;
			// each picks one at random among them, and those that pick
			// the same one learn it from the take's condition and pause
			// before they look again (below). No pause before the first
			// pick: it cost every cold start up to 300 ms, 150 on average.
			if err := s.learnOwners(ctx, outdialID, r, now); err != nil {
				return slot{}, err
			}
		}
		sl := s.slots.take(outdialID, now, r)
		if !sl.take || s.slots.owns(outdialID, sl.i) {
			return sl, nil
		}
		// Others keep taking the slots picked: write one that exists
		// without taking it (its condition cannot fail for another
		// owner).
		shared := attempt >= 4 && !sl.create
		if attempt >= 1 && !shared {
			// The pick was taken: others are taking slots now. Let their
			// writes land (a random pause), then learn who owns the range
			// before picking again.
			s.slots.unused(outdialID, sl)
			if err := sleepUpTo(ctx, collisionJitter); err != nil {
				return slot{}, err
			}
			now = s.now()
			if err := s.learnOwners(ctx, outdialID, r, now); err != nil {
				return slot{}, err
			}
			sl = s.slots.take(outdialID, now, r)
			if !sl.take || s.slots.owns(outdialID, sl.i) {
				return sl, nil
			}
			shared = attempt >= 4 && !sl.create
		}
		if shared {
			sl.take = false
			return sl, nil
		}
		if attempt >= 8 {
			// Slots keep being made under this one's hands (a burst of
			// writers on a new outdial): let the caller try again later.
			s.slots.unused(outdialID, sl)
			return slot{}, errSlotBusy
		}
		if sl.create {
			done, err := s.createSlot(ctx, outdialID, sl, now)
			if err != nil {
				return slot{}, err // sl given back
			}
			if done {
				sl.create = false
				return sl, nil
			}
			continue
		}
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: slotKey(outdialID, sl.i),
			UpdateExpression:                    aws.String("SET #own = :me, #ou = :ou"),
			ConditionExpression:                 aws.String(ownCondition),
			ExpressionAttributeNames:            map[string]string{"#own": attrOwner, "#ou": attrOwnUntil},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":me": avS(s.writeID), ":ou": avN(now.Add(slotOwnership).UnixMilli()), ":now": avN(now.UnixMilli())},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			s.slots.took(outdialID, sl.i)
			return sl, nil
		case errors.As(err, &ccf):
			v, until := s.verdict(types.CancellationReason{Code: aws.String(reasonCondition), Item: ccf.Item}, now)
			if v == slotGone {
				// Not there: not made yet, or the outdial is deleted.
				// Making it tells which.
				v = slotMissing
			}
			s.slots.release(outdialID, sl, v, until)
		case errors.As(err, new(*types.TransactionConflictException)):
			// Another claimer's transaction holds it: it is theirs.
			s.slots.release(outdialID, sl, slotConflict, time.Time{})
		default:
			// Unknown: the claim's transaction settles it.
			return sl, nil
		}
	}
}

// createSlot takes slot sl of outdialID by making it: a strongly
// consistent read of the head (unless this store read it present within
// headFresh: the import or claim that checked the outdial just now), a
// conditional PutItem of the slot (zeroed, owned by this store, unless it
// exists), and the head read again.
// DeleteOutdial deletes the head, then reads the slots and deletes them: a
// slot put before the head was deleted is among those; one put after
// finds the head gone on the second read and is not used, and the purge
// queued by the delete deletes it. The first read keeps a writer that
// comes late (an outcome of a deleted outdial) from putting one at all.
// A slot is left behind only when a delete falls between the two reads
// and its purge has run before the put: a zeroed slot of no outdial,
// which nothing reads.
//
// Not a transaction with a ConditionCheck of the head: every writer's
// first write to a new outdial makes a slot, and transactions that hold
// the same head at once cancel each other (TransactionConflict), which a
// burst of writers on a new outdial turned into cancelled creations and
// waits (47 % of the contention bench's transactions cancelled at
// N = 100). Reads of the head conflict with nothing.
//
// It reports whether the slot is this store's now (done), or returns
// errOutdialGone; otherwise (made by another writer first, a conflict)
// it has given sl back with what it learnt, and the caller picks again.
func (s *Store) createSlot(ctx context.Context, outdialID string, sl slot, now time.Time) (bool, error) {
	// headThere reads the head; when it cannot be read or is gone, sl is
	// given back and the error returned.
	headThere := func() error {
		head, err := s.readHead(ctx, outdialID)
		switch {
		case err != nil:
			s.slots.release(outdialID, sl, slotUnknown, time.Time{})
			return err
		case head == nil:
			s.slots.release(outdialID, sl, slotGone, time.Time{})
			return errOutdialGone
		}
		return nil
	}
	if !s.slots.headSeen(outdialID, time.Now()) {
		if err := headThere(); err != nil {
			return false, err
		}
	}
	item := slotKey(outdialID, sl.i)
	for _, a := range []string{attrIdle, attrDialing, attrFinished, attrFailed, attrRetry} {
		item[a] = avN(0)
	}
	item[attrOwner], item[attrOwnUntil] = avS(s.writeID), avN(now.Add(slotOwnership).UnixMilli())
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: item,
		ConditionExpression:                 aws.String("attribute_not_exists(PK)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		// Made by another writer first.
		v, until := s.verdict(types.CancellationReason{Code: aws.String(reasonCondition), Item: ccf.Item}, now)
		s.slots.release(outdialID, sl, v, until)
		return false, nil
	case errors.As(err, new(*types.TransactionConflictException)):
		s.slots.release(outdialID, sl, slotConflict, time.Time{})
		return false, nil
	}
	// Made, or perhaps made with its answer lost: the head says whether
	// it may be used.
	if herr := headThere(); herr != nil {
		return false, herr
	}
	if err == nil {
		s.slots.took(outdialID, sl.i)
	}
	// Else not known to be made: the transaction on it settles that
	// (finish: a missing slot, the head asked again).
	return true, nil
}

// slotUpdate returns the update adding d to slot s of outdialID: as its
// owner (take) it holds only if this store owns the slot or nobody does,
// and renews the ownership; shared, only that the slot exists (that is,
// the outdial). On a failed condition it returns the slot as it was.
func (s *Store) slotUpdate(outdialID string, sl slot, d counterDelta, now time.Time) types.TransactWriteItem {
	expr, names, vals := d.expr()
	cond := "attribute_exists(PK)"
	if sl.take {
		expr += " SET #own = :me, #ou = :ou"
		cond = ownCondition
		names["#own"], names["#ou"] = attrOwner, attrOwnUntil
		vals[":me"], vals[":ou"], vals[":now"] = avS(s.writeID), avN(now.Add(slotOwnership).UnixMilli()), avN(now.UnixMilli())
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: slotKey(outdialID, sl.i),
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String(cond),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

// verdict reads a slot's cancellation reason.
func (s *Store) verdict(r types.CancellationReason, now time.Time) (slotVerdict, time.Time) {
	switch code(r) {
	case reasonNone, "":
		return slotFine, time.Time{}
	case reasonConflict:
		return slotConflict, time.Time{}
	case reasonCondition:
		if len(r.Item) == 0 {
			return slotGone, time.Time{}
		}
		var it slotItem
		_ = attributevalue.UnmarshalMap(r.Item, &it)
		until := time.UnixMilli(it.OwnUntil)
		if it.Own != "" && it.Own != s.writeID && until.After(now) {
			return slotTaken, until
		}
		return slotFine, time.Time{} // it was free a moment ago: try it again
	}
	return slotUnknown, time.Time{}
}
