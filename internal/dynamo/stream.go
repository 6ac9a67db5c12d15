package dynamo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/outdial"
)

// The table's DynamoDB Stream (issue 15). publish-events turns item
// changes into webhook events; this file tells it what a change is (an
// outdial's head, a target, or nothing anyone sees), who owns the outdial,
// and when an outdial completes. All of it runs in the publisher, never on
// the write paths: an import, a claim or an outcome costs the same writes
// whether events exist or not.

// Kinds of Change.
const (
	KindOutdial = "outdial" // an outdial's head item
	KindTarget  = "target"  // a target item
)

// Operations of a stream record (its eventName).
const (
	OpInsert = "INSERT"
	OpModify = "MODIFY"
	OpRemove = "REMOVE"
)

// attrDone is set on an outdial's head while it is complete (nothing
// idle, dialing or waiting for a retry, and outdial_completed was
// published). It holds the token of the publication that set it (the
// completion event's id), so that a redelivered stream batch can publish
// the same event again. No request path reads or writes it.
const attrDone = "done"

// Change is one item change of the stream, as the API shows the resource.
type Change struct {
	// Kind is KindOutdial (the head), KindTarget, or "" for items that
	// make no event (list copies, count slots, lease registrations,
	// suppressions, webhooks...).
	Kind string
	// Op is OpInsert, OpModify or OpRemove.
	Op        string
	OutdialID string
	// CustomerID owns the outdial. Outdial changes carry it; a target's
	// item does not, so DecodeChange leaves it empty and Store.Resolve
	// fills it in from the outdial's head (left empty when the outdial is
	// gone: its targets' changes make no events).
	CustomerID string
	TargetID   string // targets only
	// Old and New are *outdial.Outdial or *outdial.Target as the API shows
	// them (nil for the side an INSERT or a REMOVE does not have). An
	// outdial's counts are zero here: they are separate items.
	Old, New any
	// OwnFieldsChanged (MODIFY only) reports whether what the API shows
	// changed: for an outdial its own fields, not internal attributes
	// (win_min, win_ver without a window change, id_key, done) nor its
	// counts; for a target its view, reason and next_attempt_at included
	// (a deferral by a calling window that was already visible as
	// outside_calling_window changes nothing, nor does clearing an expired
	// attempt).
	OwnFieldsChanged bool

	at                     time.Time // when the change was made (the views are worked out at it)
	oldOutdial, newOutdial *outdialItem
	oldTarget, newTarget   *targetItem
}

// TargetStatuses returns a target change's status before and after ("" for
// the side an INSERT or a REMOVE does not have).
func (c *Change) TargetStatuses() (before, after outdial.Status) {
	if t, ok := c.Old.(*outdial.Target); ok && t != nil {
		before = t.Status
	}
	if t, ok := c.New.(*outdial.Target); ok && t != nil {
		after = t.Status
	}
	return before, after
}

// DecodeChange decodes one stream record: its operation and its old and
// new images (the stream's view type must be NEW_AND_OLD_IMAGES), made at
// about now (the record's approximate creation time). Only an outdial's
// head (PK=OUTDIAL#<id>, SK=#HEAD) and target items make a Change of a
// Kind; every other item decodes to Kind "".
//
// The change's time (At) is the later of now and the tm_update of the
// image it leaves (the new one, or the old one of a REMOVE): a record's
// creation time is rounded down (to the second on DynamoDB, to the minute
// on DynamoDB Local), while every write that changes what the API shows
// sets tm_update to its own time. Target views are worked out at that
// time, without the outdial's calling window (its head is not in the
// record): Store.Resolve works them out again against it.
//
// An error is permanent (a malformed record): decoding it again fails
// again.
func DecodeChange(op string, oldImg, newImg map[string]types.AttributeValue, now time.Time) (Change, error) {
	c := Change{Op: op, at: now}
	switch op {
	case OpInsert, OpModify, OpRemove:
	default:
		return c, fmt.Errorf("stream record: unknown operation %q", op)
	}
	img := newImg
	if img == nil {
		img = oldImg
	}
	if img == nil {
		return c, fmt.Errorf("stream record %s carries no image: the stream must have NEW_AND_OLD_IMAGES", op)
	}
	pk, sk, typ := strAttr(img, attrPK), strAttr(img, attrSK), strAttr(img, "type")
	if !strings.HasPrefix(pk, prefixOutdial) {
		return c, nil
	}
	switch {
	case typ == KindOutdial && sk == skHead:
		return c, c.decodeOutdial(oldImg, newImg)
	case typ == KindTarget && strings.HasPrefix(sk, prefixTarget):
		return c, c.decodeTarget(oldImg, newImg)
	}
	return c, nil
}

// images returns the images op needs: an INSERT's new one, a REMOVE's old
// one, both of a MODIFY.
func images(op string, oldImg, newImg map[string]types.AttributeValue) (o, n map[string]types.AttributeValue, err error) {
	if op != OpInsert {
		if oldImg == nil {
			return nil, nil, fmt.Errorf("stream record %s carries no old image: the stream must have NEW_AND_OLD_IMAGES", op)
		}
		o = oldImg
	}
	if op != OpRemove {
		if newImg == nil {
			return nil, nil, fmt.Errorf("stream record %s carries no new image: the stream must have NEW_AND_OLD_IMAGES", op)
		}
		n = newImg
	}
	return o, n, nil
}

// unmarshalImages decodes a record's old and new images (nil stays nil)
// into items of kind what.
func unmarshalImages[T any](oldImg, newImg map[string]types.AttributeValue, what string) (o, n *T, err error) {
	decode := func(img map[string]types.AttributeValue) (*T, error) {
		if img == nil {
			return nil, nil
		}
		it := new(T)
		if err := attributevalue.UnmarshalMap(img, it); err != nil {
			return nil, fmt.Errorf("stream record: unmarshal %s %s: %w", what, strAttr(img, "id"), err)
		}
		return it, nil
	}
	if o, err = decode(oldImg); err != nil {
		return nil, nil, err
	}
	n, err = decode(newImg)
	return o, n, err
}

func (c *Change) decodeOutdial(oldImg, newImg map[string]types.AttributeValue) error {
	o, n, err := images(c.Op, oldImg, newImg)
	if err != nil {
		return err
	}
	c.Kind = KindOutdial
	if c.oldOutdial, c.newOutdial, err = unmarshalImages[outdialItem](o, n, "outdial"); err != nil {
		return err
	}
	for _, it := range []*outdialItem{c.oldOutdial, c.newOutdial} {
		if it != nil {
			it.callingWindow() // parsed once, so that the item is read-only from now on
		}
	}
	ref := c.newOutdial
	if ref == nil {
		ref = c.oldOutdial
	}
	c.OutdialID, c.CustomerID = ref.ID, ref.CustomerID
	c.at = laterOf(c.at, ref.TMUpdate)
	if c.oldOutdial != nil {
		c.Old = c.oldOutdial.outdial()
	}
	if c.newOutdial != nil {
		c.New = c.newOutdial.outdial()
	}
	if c.Op == OpModify {
		c.OwnFieldsChanged = !sameJSON(c.Old, c.New)
	}
	return nil
}

func (c *Change) decodeTarget(oldImg, newImg map[string]types.AttributeValue) error {
	o, n, err := images(c.Op, oldImg, newImg)
	if err != nil {
		return err
	}
	c.Kind = KindTarget
	if c.oldTarget, c.newTarget, err = unmarshalImages[targetItem](o, n, "target"); err != nil {
		return err
	}
	ref := c.newTarget
	if ref == nil {
		ref = c.oldTarget
	}
	c.OutdialID, c.TargetID = ref.OutdialID, ref.ID
	c.at = laterOf(c.at, ref.TMUpdate)
	c.targetViews(nil)
	return nil
}

// At returns when the change was made (see DecodeChange).
func (c *Change) At() time.Time { return c.at }

// laterOf returns the later of t and the stored time tm ("" or malformed:
// t).
func laterOf(t time.Time, tm string) time.Time {
	if v := parseTime(tm); v.After(t) {
		return v
	}
	return t
}

// targetViews works out the target's views against head (nil: no calling
// window known) at the change's time.
func (c *Change) targetViews(head *outdialItem) {
	c.Old, c.New = nil, nil
	if c.oldTarget != nil {
		c.Old = c.oldTarget.targetAt(head, c.at)
	}
	if c.newTarget != nil {
		c.New = c.newTarget.targetAt(head, c.at)
	}
	c.OwnFieldsChanged = c.Op == OpModify && !sameJSON(c.Old, c.New)
}

// sameJSON reports whether a and b encode to the same JSON (what the API
// would show).
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

func strAttr(img map[string]types.AttributeValue, name string) string {
	if v, ok := img[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// Decode is DecodeChange followed by Resolve.
func (s *Store) Decode(ctx context.Context, op string, oldImg, newImg map[string]types.AttributeValue, now time.Time) (Change, error) {
	c, err := DecodeChange(op, oldImg, newImg, now)
	if err != nil {
		return c, err
	}
	return c, s.Resolve(ctx, &c)
}

// headViewTTL is how long a head read for target views (its calling
// window) is used before it is read again: a window changed meanwhile
// shows in the reasons of target events up to this late.
const headViewTTL = 30 * time.Second

// Resolve completes c with what its images alone cannot tell. For a
// target: the owner of its outdial (CustomerID, "" when the outdial is
// known to be gone) and the views, reason and next_attempt_at, worked out
// against the outdial's calling window (its head, read at most once per
// headViewTTL and process). For an outdial it remembers the owner, and the
// deletion on a REMOVE. An error is a failed read: trying again may
// succeed.
func (s *Store) Resolve(ctx context.Context, c *Change) error {
	st := s.stream()
	switch c.Kind {
	case KindOutdial:
		switch {
		case c.Op == OpRemove:
			st.update(c.OutdialID, func(e *headEntry) { e.customerID, e.gone, e.head = c.CustomerID, true, nil })
		case c.Op == OpModify && c.oldOutdial.Window != c.newOutdial.Window:
			// A new calling window: read the head again for target views.
			st.update(c.OutdialID, func(e *headEntry) { e.customerID, e.head = c.CustomerID, nil })
		default:
			st.update(c.OutdialID, func(e *headEntry) { e.customerID = c.CustomerID })
		}
	case KindTarget:
		e := st.get(c.OutdialID)
		if !e.gone && (e.head == nil || s.now().Sub(e.readAt) > headViewTTL) {
			var err error
			if e, err = s.readOwner(ctx, c.OutdialID); err != nil {
				return err
			}
		}
		if !e.gone {
			c.CustomerID = e.customerID
		}
		if e.head != nil {
			c.targetViews(e.head)
		}
	}
	return nil
}

// OwnerOf returns the customer owning outdial outdialID, reading its head
// once per process (the owner never changes), and gone when the head is
// missing: the outdial was deleted (customerID is then what this process
// knew, maybe ""). Once gone, always gone (ids are never reused). While
// the owner is cached a later deletion is not noticed: OwnerSince checks.
func (s *Store) OwnerOf(ctx context.Context, outdialID string) (customerID string, gone bool, err error) {
	e := s.stream().get(outdialID)
	if e.gone || e.customerID != "" {
		return e.customerID, e.gone, nil
	}
	if e, err = s.readOwner(ctx, outdialID); err != nil {
		return "", false, err
	}
	return e.customerID, e.gone, nil
}

// StreamMark returns a point in this process's order of reads: a check
// that Store makes after it has a higher mark. The publisher takes one
// when a batch arrives, so a check made after it happened after every
// record of the batch was written.
func (s *Store) StreamMark() uint64 { return s.stream().seq.Add(1) }

// OwnerSince is OwnerOf with the head's existence checked after mark
// (StreamMark): it reads the head again unless the outdial is known gone
// or was read after mark. A target REMOVE needs it: whether its outdial
// was deleted (the purge of a deleted outdial makes no events) is only
// known from a read made after the REMOVE.
func (s *Store) OwnerSince(ctx context.Context, outdialID string, mark uint64) (customerID string, gone bool, err error) {
	e := s.stream().get(outdialID)
	if e.gone || (e.customerID != "" && e.readMark > mark) {
		return e.customerID, e.gone, nil
	}
	if e, err = s.readOwner(ctx, outdialID); err != nil {
		return "", false, err
	}
	return e.customerID, e.gone, nil
}

// readOwner reads the outdial's head (strongly consistent) into the cache.
func (s *Store) readOwner(ctx context.Context, outdialID string) (headEntry, error) {
	st := s.stream()
	mark, at := st.seq.Add(1), s.now()
	head, err := s.readHead(ctx, outdialID)
	if err != nil {
		return headEntry{}, err
	}
	if head != nil {
		head.callingWindow() // parsed once: the cached item is shared read-only
	}
	return st.update(outdialID, func(e *headEntry) {
		e.readMark, e.readAt = mark, at
		if head == nil {
			e.gone, e.head = true, nil
			return
		}
		e.customerID, e.head = head.CustomerID, head
	}), nil
}

// MarkActive makes sure the outdial is not marked complete (done), as
// new work (a target idle or dialing again, or a new one) requires: one
// strongly consistent read of the head, and a write only when done is set.
func (s *Store) MarkActive(ctx context.Context, outdialID string) error {
	return s.MarkActiveSince(ctx, outdialID, s.StreamMark())
}

// MarkActiveSince is MarkActive, skipped when this process checked the
// outdial after mark (StreamMark): the publisher passes the mark it took
// when the batch arrived, so an import's records cost one read per
// outdial and batch, and a write only when the outdial was complete.
//
// Why this is enough: a completion (MarkCompleted) sets done and then reads
// the counts again; work that appeared before a check that found done
// unset is seen by that second read, which then takes done back.
func (s *Store) MarkActiveSince(ctx context.Context, outdialID string, mark uint64) error {
	st := s.stream()
	if e := st.get(outdialID); e.gone || e.activeMark > mark {
		return nil
	}
	checked := st.seq.Add(1)
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: headKey(outdialID), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#pk, #done"), ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#done": attrDone},
	})
	if err != nil {
		return classify(fmt.Sprintf("read completion of outdial %s", outdialID), err)
	}
	if res.Item == nil {
		return nil // deleted
	}
	if _, done := res.Item[attrDone]; done {
		_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: headKey(outdialID),
			UpdateExpression:         aws.String("REMOVE #done"),
			ConditionExpression:      aws.String("attribute_exists(#done)"),
			ExpressionAttributeNames: map[string]string{"#done": attrDone},
		})
		if err != nil && !isConditionFailed(err) {
			return classify(fmt.Sprintf("mark outdial %s active", outdialID), err)
		}
	}
	st.update(outdialID, func(e *headEntry) { e.activeMark = max(e.activeMark, checked) })
	return nil
}

// MarkCompleted is MarkCompletedAs with a token of its own.
func (s *Store) MarkCompleted(ctx context.Context, outdialID string) (*outdial.Outdial, error) {
	return s.MarkCompletedAs(ctx, outdialID, fmt.Sprintf("%s-%d", s.writeID, s.StreamMark()))
}

// MarkCompletedAs detects the completion of an outdial: once each time it
// goes from having something idle, dialing or waiting for a retry to
// having nothing left. It reads the counts (strongly consistent); if
// nothing is idle or dialing and there are targets, it sets done (token)
// on the head, on condition that it is not set or set by the same token,
// and reads the counts again: work that appeared meanwhile takes done
// back (nothing completed after all). It returns the outdial with its
// final counts when it completed (the caller publishes outdial_completed
// once), nil otherwise (not complete, completed before, or deleted).
//
// The same token completes again: a redelivered stream batch publishes
// the same event (its id is the token), which receivers dedupe.
func (s *Store) MarkCompletedAs(ctx context.Context, outdialID, token string) (*outdial.Outdial, error) {
	counts, err := s.readCounts(ctx, outdialID, true, false, nil)
	if err != nil || !finished(counts) {
		return nil, err // no slots (none made yet, or deleted): no targets
	}
	res, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: headKey(outdialID),
		UpdateExpression:          aws.String("SET #done = :tok"),
		ConditionExpression:       aws.String("attribute_exists(PK) AND (attribute_not_exists(#done) OR #done = :tok)"),
		ExpressionAttributeNames:  map[string]string{"#done": attrDone},
		ExpressionAttributeValues: map[string]types.AttributeValue{":tok": avS(token)},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return nil, nil // completed before (or deleted)
	}
	if err != nil {
		return nil, classify(fmt.Sprintf("mark outdial %s completed", outdialID), err)
	}
	st := s.stream()
	st.update(outdialID, func(e *headEntry) { e.activeMark = 0 })
	var head outdialItem
	if err := attributevalue.UnmarshalMap(res.Attributes, &head); err != nil {
		_ = s.ClearCompleted(context.WithoutCancel(ctx), outdialID, token)
		return nil, fmt.Errorf("unmarshal outdial %s: %w", outdialID, err)
	}
	// Work that appeared since the first read (an import whose MarkActive
	// found done unset) shows now.
	counts, err = s.readCounts(ctx, outdialID, true, false, nil)
	if err != nil || !finished(counts) {
		if cerr := s.ClearCompleted(context.WithoutCancel(ctx), outdialID, token); cerr != nil && err == nil {
			err = cerr
		}
		return nil, err
	}
	o := head.outdial()
	o.Counts, o.TargetCount = counts, counts.Total()
	return o, nil
}

// finished reports whether counts have targets and none idle or dialing
// (retry_pending targets are idle).
func finished(c outdial.Counts) bool {
	return c.Idle == 0 && c.Dialing == 0 && c.Total() > 0
}

// ClearCompleted removes done from the outdial's head if token set it:
// the publisher undoes a completion whose event it could not queue, so
// that the stream batch's retry detects it again.
func (s *Store) ClearCompleted(ctx context.Context, outdialID, token string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: headKey(outdialID),
		UpdateExpression:          aws.String("REMOVE #done"),
		ConditionExpression:       aws.String("#done = :tok"),
		ExpressionAttributeNames:  map[string]string{"#done": attrDone},
		ExpressionAttributeValues: map[string]types.AttributeValue{":tok": avS(token)},
	})
	if err != nil && !isConditionFailed(err) {
		return classify(fmt.Sprintf("clear completion of outdial %s", outdialID), err)
	}
	return nil
}

// CountsOf reads an outdial's counts with an eventually consistent Query
// of its slots (as a list page does: they may lag by about a second).
func (s *Store) CountsOf(ctx context.Context, outdialID string) (outdial.Counts, error) {
	c, err := s.readCounts(ctx, outdialID, false, false, nil)
	return c, err
}

// streamState is what one Store remembers for the publisher: outdials'
// owners and heads, and completion checks. It lives beside the Store (keyed
// by a weak pointer to it) and goes when the Store does.
type streamState struct {
	seq   atomic.Uint64 // marks (StreamMark)
	mu    sync.Mutex
	heads map[string]*headEntry // by outdial id
}

// headEntry is what the process knows of one outdial.
type headEntry struct {
	customerID string
	gone       bool
	head       *outdialItem // as read at readAt (nil: not read, or gone)
	readAt     time.Time
	readMark   uint64 // mark taken before the head was read
	activeMark uint64 // mark taken before a check found (or made) done unset
}

// streamCacheMax bounds the outdials remembered; when full it starts over.
const streamCacheMax = 8192

// get returns a copy of the entry of outdialID (the zero entry if none).
func (st *streamState) get(outdialID string) headEntry {
	st.mu.Lock()
	defer st.mu.Unlock()
	if e := st.heads[outdialID]; e != nil {
		return *e
	}
	return headEntry{}
}

// update applies fn to the entry of outdialID and returns a copy of it.
func (st *streamState) update(outdialID string, fn func(*headEntry)) headEntry {
	st.mu.Lock()
	defer st.mu.Unlock()
	e := st.heads[outdialID]
	if e == nil {
		if len(st.heads) >= streamCacheMax {
			clear(st.heads)
		}
		e = &headEntry{}
		st.heads[outdialID] = e
	}
	fn(e)
	return *e
}

var streamStates sync.Map // weak.Pointer[Store] → *streamState

// stream returns the stream state of s.
func (s *Store) stream() *streamState {
	k := weak.Make(s)
	if v, ok := streamStates.Load(k); ok {
		return v.(*streamState)
	}
	v, loaded := streamStates.LoadOrStore(k, &streamState{heads: map[string]*headEntry{}})
	if !loaded {
		runtime.AddCleanup(s, func(k weak.Pointer[Store]) { streamStates.Delete(k) }, k)
	}
	return v.(*streamState)
}
