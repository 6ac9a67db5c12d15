package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"
)

// Counted transactions: every write that moves targets is one
// TransactWriteItems of the target items and one count slot's update
// (counts.go), prepared once so that it can be sent again unchanged.

var (
	// errOutdialGone: the outdial is deleted (its head and count slots
	// are gone).
	errOutdialGone = errors.New("the outdial is deleted")
	// errSlotBusy: the transaction was cancelled only because of its count
	// slot (owned by another writer, or held by another transaction);
	// prepare another attempt, which takes another slot.
	errSlotBusy = errors.New("count slot busy")
	// errSlotThrottled: the transaction was cancelled only because its
	// count slot's partition (the outdial's head) was throttled; wait, then
	// prepare another attempt.
	errSlotThrottled = errors.New("count slot throttled")
)

// cancelledError is a transaction cancelled for reasons on its target
// items; Reasons has one entry per target item.
type cancelledError struct {
	Reasons []types.CancellationReason
}

func (e *cancelledError) Error() string {
	codes := make([]string, len(e.Reasons))
	for i, r := range e.Reasons {
		codes[i] = code(r)
	}
	return fmt.Sprintf("transaction cancelled: %v", codes)
}

// transient reports whether any target item was refused for a reason that
// may clear (a conflict, throttling).
func (e *cancelledError) transient() bool {
	for _, r := range e.Reasons {
		if transient(r) {
			return true
		}
	}
	return false
}

// countedTx is one prepared transaction.
type countedTx struct {
	outdialID string
	in        *dynamodb.TransactWriteItemsInput
	slot      slot
	n         int // target items (the slot's update comes after them)
	now       time.Time
}

// prepare builds the transaction of items and the update adding d to a
// count slot of outdialID (one not kept for claims: takeSlot). The slot is
// the transaction's until finish is called. It fails only when the outdial
// is gone (errOutdialGone).
func (s *Store) prepare(ctx context.Context, outdialID string, items []types.TransactWriteItem, d counterDelta) (*countedTx, error) {
	sl, err := s.takeSlot(ctx, outdialID, otherSlots)
	if err != nil {
		return nil, err
	}
	return s.prepareOn(outdialID, sl, items, d), nil
}

// send prepares a transaction of items and d and runs it.
func (s *Store) send(ctx context.Context, outdialID string, items []types.TransactWriteItem, d counterDelta) error {
	tx, err := s.prepare(ctx, outdialID, items, d)
	if err != nil {
		return err
	}
	return s.run(ctx, tx)
}

// prepareOn is prepare with a slot already taken.
func (s *Store) prepareOn(outdialID string, sl slot, items []types.TransactWriteItem, d counterDelta) *countedTx {
	now := s.now()
	all := make([]types.TransactWriteItem, 0, len(items)+1)
	all = append(all, items...)
	all = append(all, s.slotUpdate(outdialID, sl, d, now))
	return &countedTx{
		outdialID: outdialID, slot: sl, n: len(items), now: now,
		in: &dynamodb.TransactWriteItemsInput{
			TransactItems: all,
			// Sending this very request again (its answer lost) is
			// recognised by DynamoDB and applied once.
			ClientRequestToken: aws.String(uuid.NewString()),
		},
	}
}

// resendReserve is the time before its deadline in which run sends a
// transaction no more.
const resendReserve = 500 * time.Millisecond

// run sends tx, then sends it again unchanged (same token: DynamoDB applies
// it once) while the request as a whole fails in a way that may clear (its
// answer lost, throttled) and ctx has time left, then finishes it. After an
// ambiguous failure the caller cannot know whether tx was applied; sending
// a changed transaction then could misreport (a target created by tx found
// as existing, say).
func (s *Store) run(ctx context.Context, tx *countedTx) error {
	_, err := s.db.TransactWriteItems(ctx, tx.in)
	throttled := 0
	for attempt := 1; err != nil && cancellation(err) == nil && IsRetryable(err) && keepTrying(ctx, attempt+1, resendReserve); attempt++ {
		if !ambiguous(err) {
			// Refused as a whole (throttled): not applied. A couple more
			// tries, then the caller decides (it may split the work).
			if throttled++; throttled > 2 {
				break
			}
		}
		if backoff(ctx, attempt) != nil {
			break
		}
		_, err = s.db.TransactWriteItems(ctx, tx.in)
	}
	return s.finish(ctx, tx, err)
}

// transact sends a transaction that moves no target (an outdial's own
// items), and sends it again unchanged while the request as a whole fails
// in a way that may clear; in must carry a ClientRequestToken, so that a
// resend after a lost answer is applied once.
func (s *Store) transact(ctx context.Context, in *dynamodb.TransactWriteItemsInput) error {
	_, err := s.db.TransactWriteItems(ctx, in)
	for attempt := 1; err != nil && IsRetryable(err) && keepTrying(ctx, attempt+1, resendReserve); attempt++ {
		if backoff(ctx, attempt) != nil {
			break
		}
		_, err = s.db.TransactWriteItems(ctx, in)
	}
	return err
}

// finish releases tx's slot, records what the answer err says of it, and
// returns nil (applied), errOutdialGone, errSlotBusy, a *cancelledError, or
// err itself. A slot that does not exist is asked about at the head: the
// outdial is deleted, or nobody has made that slot yet (a write that
// shares a slot, or a claim's next transaction, picked one without taking
// it first), which makes the next attempt take another.
func (s *Store) finish(ctx context.Context, tx *countedTx, err error) error {
	if err == nil {
		s.slots.release(tx.outdialID, tx.slot, slotWritten, time.Time{})
		return nil
	}
	reasons := cancellation(err)
	if len(reasons) != tx.n+1 {
		s.slots.release(tx.outdialID, tx.slot, slotUnknown, time.Time{})
		return err
	}
	v, until := s.verdict(reasons[tx.n], tx.now)
	if v == slotGone {
		head, herr := s.readHead(ctx, tx.outdialID)
		switch {
		case herr != nil:
			v = slotUnknown // not applied; the next attempt asks again
		case head != nil:
			v = slotMissing
		}
	}
	s.slots.release(tx.outdialID, tx.slot, v, until)
	if v == slotGone {
		return errOutdialGone
	}
	items := reasons[:tx.n]
	for _, r := range items {
		if code(r) != reasonNone {
			return &cancelledError{Reasons: items}
		}
	}
	if v == slotUnknown && transient(reasons[tx.n]) {
		return errSlotThrottled
	}
	if v == slotUnknown && code(reasons[tx.n]) != reasonCondition {
		return err
	}
	return errSlotBusy
}
