package dynamo

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/outdial"
)

// PurgeTargets deletes every target item of a deleted outdial, and any
// of its count slots left, and returns how many targets it deleted. It
// refuses (failed_precondition) while the outdial still exists, so a purge
// request that overtakes its delete waits for it. Deleting is idempotent:
// a purge that is cut short is simply run again.
//
// The delete leaves a purge marker (DeleteOutdial), which the purge
// removes when it is done. With no marker and no head there is nothing to
// purge: the purge is done already (a message delivered twice), or the
// outdial was never deleted by a store that leaves markers. unmarked is for
// a message queued before deletes left markers: then a missing marker says
// nothing, and every shard is read. A marker of another customer is
// refused (failed_precondition): the message does not match the delete.
func (s *Store) PurgeTargets(ctx context.Context, customerID, outdialID string, unmarked bool) (int, error) {
	// The head first: the delete removes it and puts the marker at once,
	// so a marker read after the head was found gone sees the delete's.
	head, err := s.readHead(ctx, outdialID)
	if err != nil {
		return 0, err
	}
	if head != nil {
		return 0, outdial.Errorf(outdial.ECodeFailedPrecondition, "outdial %s still exists; purge runs after its delete", outdialID)
	}
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: purgeKey(outdialID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, classify(fmt.Sprintf("read the purge marker of outdial %s", outdialID), err)
	}
	switch {
	case res.Item == nil && !unmarked:
		return 0, nil
	case res.Item != nil && strAttr(res.Item, "customer_id") != customerID:
		return 0, outdial.Errorf(outdial.ECodeFailedPrecondition, "outdial %s was deleted by another customer than the purge names", outdialID)
	}
	var (
		mu      sync.Mutex
		deleted int
	)
	g, gctx := errgroup.WithContext(ctx)
	for k := 0; k < Shards; k++ {
		g.Go(func() error {
			n, err := s.purgePartition(gctx, shardPK(outdialID, k), prefixTarget, false)
			mu.Lock()
			deleted += n
			mu.Unlock()
			return err
		})
	}
	g.Go(func() error {
		_, err := s.purgePartition(gctx, headPK(outdialID), prefixSlot, false)
		return err
	})
	if err := g.Wait(); err != nil {
		return deleted, err
	}
	if res.Item != nil {
		if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: purgeKey(outdialID)}); err != nil {
			return deleted, classify(fmt.Sprintf("delete the purge marker of outdial %s", outdialID), err)
		}
	}
	return deleted, nil
}

// purgePartition deletes the items of partition pk whose sort key starts
// with prefix, 25 per BatchWriteItem, read strongly consistently when
// consistent is set.
func (s *Store) purgePartition(ctx context.Context, pk, prefix string, consistent bool) (int, error) {
	deleted := 0
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(pk), ":sk": avS(prefix),
		},
		ProjectionExpression: aws.String("PK, SK"),
		Limit:                aws.Int32(500),
		ConsistentRead:       aws.Bool(consistent),
	}
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return deleted, classify(fmt.Sprintf("list partition %s", pk), err)
		}
		for start := 0; start < len(res.Items); start += 25 {
			var reqs []types.WriteRequest
			for _, it := range res.Items[start:min(start+25, len(res.Items))] {
				reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: it}})
			}
			if err := s.batchWrite(ctx, reqs); err != nil {
				return deleted, err
			}
			deleted += len(reqs)
		}
		if res.LastEvaluatedKey == nil {
			return deleted, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// batchWrite runs one BatchWriteItem, retrying unprocessed items with
// backoff.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for attempt := 0; len(reqs) > 0; attempt++ {
		if attempt > 0 {
			if attempt > 10 {
				return outdial.Errorf(outdial.ECodeUnavailable, "the database is busy; retry later")
			}
			if err := backoff(ctx, attempt); err != nil {
				return classify("batch write", err)
			}
		}
		res, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.table: reqs}})
		if err != nil {
			if IsRetryable(err) {
				continue
			}
			return classify("batch write", err)
		}
		reqs = res.UnprocessedItems[s.table]
	}
	return nil
}
