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
	// TZ are the zones of the destination's number (calling windows),
	// worked out at import; none when the outdial's zone applies.
	TZ []string `dynamodbav:"tz,omitempty"`
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
	// TZ is the target's own zone, as given at import ("" for none).
	TZ string `dynamodbav:"tz,omitempty"`
	// WaitVer is 1 + the calling window version the target was deferred
	// under (windows.go), 0 when it is not deferred.
	WaitVer int `dynamodbav:"wv,omitempty"`
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
	t.Timezone = it.TZ
	switch {
	case it.TZ != "":
		t.Timezones = []string{it.TZ}
	case it.DestIdx >= 0 && it.DestIdx < len(it.Dests):
		t.Timezones = it.Dests[it.DestIdx].TZ
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
		out[i] = outdial.TargetDestination{Type: d.Type, Target: d.Target, TryCountMax: d.Max, TryCountCurrent: d.Cur, Exhausted: d.Exhausted, Timezones: d.TZ}
	}
	return out
}

// GetTarget implements outdial.TargetStore with one BatchGetItem that reads
// the outdial (ownership) and the target together.
func (s *Store) GetTarget(ctx context.Context, customerID, outdialID, targetID string) (*outdial.Target, error) {
	it, head, err := s.readTarget(ctx, customerID, outdialID, targetID)
	if err != nil {
		return nil, err
	}
	return it.targetAt(head, s.now()), nil
}

// readTarget reads the target and its outdial's head together.
func (s *Store) readTarget(ctx context.Context, customerID, outdialID, targetID string) (*targetItem, *outdialItem, error) {
	got, err := s.batchGet(ctx, []map[string]types.AttributeValue{headKey(outdialID), targetKey(outdialID, targetID)})
	if err != nil {
		return nil, nil, classify(fmt.Sprintf("get target %s", targetID), err)
	}
	var target *targetItem
	var head *outdialItem
	for _, item := range got {
		typ, _ := item["type"].(*types.AttributeValueMemberS)
		switch {
		case typ == nil:
		case typ.Value == "outdial":
			head = &outdialItem{}
			if err := attributevalue.UnmarshalMap(item, head); err != nil {
				return nil, nil, fmt.Errorf("unmarshal outdial %s: %w", outdialID, err)
			}
		case typ.Value == "target":
			target = &targetItem{}
			if err := attributevalue.UnmarshalMap(item, target); err != nil {
				return nil, nil, fmt.Errorf("unmarshal target %s: %w", targetID, err)
			}
		}
	}
	if head == nil || head.CustomerID != customerID {
		return nil, nil, outdial.ErrNotFound("outdial")
	}
	if target == nil {
		return nil, nil, outdial.ErrNotFound("target")
	}
	return target, head, nil
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
	var sentHead *outdialItem
	for attempt := 1; ; attempt++ {
		it, head, err := s.readTarget(ctx, customerID, outdialID, targetID)
		if sent != nil && outdial.ErrorCode(err) == outdial.ECodeNotFound {
			// The delete whose answer was lost went through (or another
			// one did): either way the target is deleted.
			return sent.targetAt(sentHead, s.now()), nil
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
			return it.targetAt(head, s.now()), nil
		case errors.Is(err, errOutdialGone):
			return nil, outdial.ErrNotFound("outdial")
		case errors.As(err, &ce) && code(ce.Reasons[0]) == reasonCondition:
			// The target changed (an outcome, a claim) or went since it
			// was read: read it again.
		case errors.Is(err, errSlotBusy), IsRetryable(err):
			if cancellation(err) == nil && ambiguous(err) {
				sent, sentHead = it, head
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

// targetAt is the target as the API shows it at now, with the reason it
// is or is not dialed and when it may be claimed (next_attempt_at),
// worked out against its outdial's head (nil: no calling window known).
func (it *targetItem) targetAt(head *outdialItem, now time.Time) *outdial.Target {
	t := it.target()
	t.Reason, t.NextAttemptAt = it.reason(head, now)
	return t
}

// reason is the table of docs/api.md "Why a target waits".
func (it *targetItem) reason(head *outdialItem, now time.Time) (outdial.Reason, outdial.Time) {
	switch outdial.Status(it.Status) {
	case outdial.StatusDialing:
		return outdial.ReasonDialing, outdial.Time{}
	case outdial.StatusFinished:
		return outdial.ReasonFinished, outdial.Time{}
	case outdial.StatusFailed:
		if outdial.Result(it.LastResult) == outdial.ResultSuppressed {
			return outdial.ReasonSuppressed, outdial.Time{}
		}
		return outdial.ReasonMaxTries, outdial.Time{}
	}
	var w *outdial.CallingWindow
	if head != nil {
		w = head.callingWindow()
	}
	due := time.UnixMilli(it.Due).UTC()
	// Deferred under a window version that is no more: due now, as far
	// as time goes (the next claim looks at it again).
	stale := it.WaitVer > 0 && (head == nil || it.WaitVer-1 != head.WinVer)
	if stale {
		due = now.UTC()
	}
	var zones []*time.Location
	if w != nil {
		dest := it.DestIdx
		if plan, ok := outdial.PlanFor(it.destinations(), it.DestIdx); ok {
			dest = plan.Dest
		}
		zones = zonesOf(it, dest, w)
	}
	switch {
	case it.WaitVer > 0 && !stale && due.After(now):
		return outdial.ReasonOutsideWindow, outdial.Time{Time: due}
	case due.After(now):
		if w != nil {
			due = nextOpening(w, due, zones).UTC()
		}
		return outdial.ReasonRetryScheduled, outdial.Time{Time: due}
	case w != nil && !w.OpenIn(now, zones):
		return outdial.ReasonOutsideWindow, outdial.Time{Time: nextOpening(w, now, zones).UTC()}
	}
	return outdial.ReasonDue, outdial.Time{Time: due}
}
