package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/outdial"
)

// SetArchived implements outdial.Store: it reads the outdial (ownership,
// counts) and, unless it is already in the state asked for, sets or
// removes archived and tm_archive on the head and the list copy in one
// transaction. Claims and imports read the head and refuse an archived
// outdial; outcomes of attempts claimed before still apply (they never
// read the head).
func (s *Store) SetArchived(ctx context.Context, customerID, id string, archived bool) (*outdial.Outdial, error) {
	o, err := s.GetOutdial(ctx, customerID, id)
	if err != nil {
		return nil, err
	}
	if o.Archived == archived {
		return o, nil
	}
	now := s.now().UTC()
	expr := "SET archived = :t, tm_archive = :tm, tm_update = :tm"
	vals := map[string]types.AttributeValue{":c": avS(customerID), ":tm": avS(formatTime(now)), ":t": &types.AttributeValueMemberBOOL{Value: true}}
	if !archived {
		expr = "SET tm_update = :tm REMOVE archived, tm_archive"
		delete(vals, ":t")
	}
	update := func(k map[string]types.AttributeValue) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{
			TableName: &s.table, Key: k, UpdateExpression: aws.String(expr),
			ConditionExpression:       aws.String("attribute_exists(PK) AND customer_id = :c"),
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
		if !ambiguous(err) || !s.updated(context.WithoutCancel(ctx), id, formatTime(now)) {
			return nil, classify(fmt.Sprintf("archive outdial %s", id), err)
		}
	}
	o.Archived, o.TMUpdate = archived, outdial.Time{Time: now}
	o.TMArchive = outdial.Time{}
	if archived {
		o.TMArchive = outdial.Time{Time: now}
	}
	return o, nil
}

// errArchived is the answer to adding targets to, or claiming from, an
// archived outdial.
func errArchived() error {
	return outdial.Errorf(outdial.ECodeArchived, "the outdial is archived: it takes no new targets and hands none out; restore it with DELETE /v1.0/outdials/{id}/archive")
}
