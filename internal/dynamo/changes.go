package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/outdial"
)

// UpdateOutdial reads the outdial (ownership, counts), then sets the
// fields u carries on the head and the list copy in one transaction (each
// conditional on the outdial existing and being the customer's), and
// answers the outdial as read with u applied. A failure answers an error
// with nothing changed (a transaction whose answer was lost is sent again
// unchanged, and applied once).
func (s *Store) UpdateOutdial(ctx context.Context, customerID, id string, u *outdial.OutdialUpdate) (*outdial.Outdial, error) {
	o, err := s.GetOutdial(ctx, customerID, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	sets := []string{"tm_update = :tm"}
	vals := map[string]types.AttributeValue{":tm": avS(formatTime(now)), ":c": avS(customerID)}
	names := map[string]string{"#cust": "customer_id"}
	set := func(attr string, v types.AttributeValue) {
		ph := ":" + attr
		names["#"+attr] = attr
		sets = append(sets, "#"+attr+" = "+ph)
		vals[ph] = v
	}
	var removes []string
	if u.Name != nil {
		set("name", avS(*u.Name))
	}
	if u.Detail != nil {
		set("detail", avS(*u.Detail))
	}
	if u.SetCampaign {
		if u.CampaignID == nil {
			set("campaign_id", &types.AttributeValueMemberNULL{Value: true})
		} else {
			set("campaign_id", avS(*u.CampaignID))
		}
	}
	if u.Data != nil {
		if *u.Data == "" {
			names["#data"] = "data"
			removes = append(removes, "#data")
		} else {
			set("data", avS(*u.Data))
		}
	}
	if p := u.RetryPolicy; p != nil {
		for attr, v := range map[string]*int{"retry_busy": p.BusySeconds, "retry_no_answer": p.NoAnswerSeconds, "retry_failed": p.FailedSeconds, "retry_expired": p.ExpiredSeconds} {
			if v != nil {
				set(attr, avN(int64(*v)))
			}
		}
	}
	if u.SetWindow && !u.Window.Equal(o.CallingWindow) {
		// A new version: targets deferred under the old window are
		// looked at again by the next claim (claims.go, windows.go).
		if u.Window == nil {
			names["#window"] = "window"
			removes = append(removes, "#window")
		} else {
			set("window", avS(windowJSON(u.Window)))
		}
		sets = append(sets, "win_ver = if_not_exists(win_ver, :zero) + :one", "win_at = :wat")
		vals[":zero"], vals[":one"], vals[":wat"] = avN(0), avN(1), avN(now.UnixMilli())
	}
	expr := "SET " + strings.Join(sets, ", ")
	if len(removes) > 0 {
		expr += " REMOVE " + strings.Join(removes, ", ")
	}
	update := func(k map[string]types.AttributeValue) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{
			TableName: &s.table, Key: k, UpdateExpression: aws.String(expr),
			ConditionExpression:       aws.String("attribute_exists(PK) AND #cust = :c"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
		}}
	}
	if err := s.transact(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems:      []types.TransactWriteItem{update(headKey(id)), update(key(outdialPK(customerID), outdialSK(id)))},
		ClientRequestToken: aws.String(uuid.NewString()),
	}); err != nil {
		if r := cancellation(err); len(r) == 2 && (code(r[0]) == reasonCondition || code(r[1]) == reasonCondition) {
			return nil, outdial.ErrNotFound("outdial")
		}
		// Every answer lost: the head says whether it went through (it
		// carries this update's time, to the nanosecond).
		if !ambiguous(err) || !s.updated(context.WithoutCancel(ctx), id, formatTime(now)) {
			return nil, classify(fmt.Sprintf("update outdial %s", id), err)
		}
	}
	updated := u.Apply(*o, now.UTC())
	return &updated, nil
}

// updated reports whether the head of outdial id carries tm_update tm (a
// strongly consistent read; false when it cannot tell).
func (s *Store) updated(ctx context.Context, id, tm string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	head, err := s.readHead(ctx, id)
	return err == nil && head != nil && head.TMUpdate == tm
}

// gone reports whether the head of outdial id is gone (a strongly
// consistent read; false when it cannot tell).
func (s *Store) gone(ctx context.Context, id string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	head, err := s.readHead(ctx, id)
	return err == nil && head == nil
}

// DeleteOutdial reads the outdial, runs before (the API queues the purge of
// the targets there), then deletes the head and the list copy and puts the
// purge marker in one transaction, and deletes the count slots after it.
// With the head gone every route answers 404 for the outdial and its
// targets and nothing of it can be claimed; with the slots gone, no
// import, claim or outcome can move a target of it. Its target items are
// removed afterwards (PurgeTargets).
func (s *Store) DeleteOutdial(ctx context.Context, customerID, id string, before func(*outdial.Outdial) error) (*outdial.Outdial, error) {
	o, err := s.GetOutdial(ctx, customerID, id)
	if err != nil {
		return nil, err
	}
	if before != nil {
		if err := before(o); err != nil {
			return nil, err
		}
	}
	del := func(k map[string]types.AttributeValue) types.TransactWriteItem {
		return types.TransactWriteItem{Delete: &types.Delete{
			TableName: &s.table, Key: k,
			ConditionExpression:       aws.String("attribute_exists(PK) AND customer_id = :c"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":c": avS(customerID)},
		}}
	}
	// The purge marker goes in with the delete: from then until the purge
	// is done, it tells the purge that there are targets to delete.
	marker := purgeKey(id)
	marker["customer_id"], marker["tm_delete"] = avS(customerID), avS(formatTime(s.now()))
	if err := s.transact(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			del(headKey(id)), del(key(outdialPK(customerID), outdialSK(id))),
			{Put: &types.Put{TableName: &s.table, Item: marker}},
		},
		ClientRequestToken: aws.String(uuid.NewString()),
	}); err != nil {
		if r := cancellation(err); len(r) == 3 && code(r[0]) == reasonCondition {
			return nil, outdial.ErrNotFound("outdial")
		}
		// Every answer lost: the head says whether it went through.
		if !ambiguous(err) || !s.gone(context.WithoutCancel(ctx), id) {
			return nil, classify(fmt.Sprintf("delete outdial %s", id), err)
		}
	}
	s.owners.forget(id)
	// The count slots that exist, read after the head is gone: a slot put
	// later is not used (its writer reads the head after the put,
	// createSlot). The outdial is deleted already: should this fail, the
	// purge queued in before deletes the slots left.
	_, _ = s.purgePartition(ctx, headPK(id), prefixSlot, true)
	return o, nil
}
