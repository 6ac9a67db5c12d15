package dynamo

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/outdial"
)

// PurgeTargets deletes every target item of a deleted outdial and returns
// how many it deleted. It refuses (failed_precondition) while the outdial
// still exists, so a purge request that overtakes its delete waits for it.
// Deleting is idempotent: a purge that is cut short is simply run again.
func (s *Store) PurgeTargets(ctx context.Context, customerID, outdialID string) (int, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: key(outdialPK(customerID), outdialSK(outdialID)),
		ConsistentRead: aws.Bool(true), ProjectionExpression: aws.String("PK"),
	})
	if err != nil {
		return 0, classify("get outdial", err)
	}
	if res.Item != nil {
		return 0, outdial.Errorf(outdial.ECodeFailedPrecondition, "outdial %s still exists; purge runs after its delete", outdialID)
	}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		deleted  int
		firstErr error
	)
	for k := 0; k < Shards; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			n, err := s.purgeShard(ctx, outdialID, k)
			mu.Lock()
			defer mu.Unlock()
			deleted += n
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}(k)
	}
	wg.Wait()
	return deleted, firstErr
}

// purgeShard deletes the target items of one shard, 25 per BatchWriteItem.
func (s *Store) purgeShard(ctx context.Context, outdialID string, k int) (int, error) {
	deleted := 0
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(shardPK(outdialID, k)), ":sk": avS(prefixTarget),
		},
		ProjectionExpression: aws.String("PK, SK"),
		Limit:                aws.Int32(500),
	}
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return deleted, classify(fmt.Sprintf("list shard %d of outdial %s", k, outdialID), err)
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
