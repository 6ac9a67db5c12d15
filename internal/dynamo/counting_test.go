package dynamo_test

import (
	"context"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/dynamo"
)

// countingAPI counts the store's requests by operation, and the queries
// by the kind of partition they read (for example "dialing" for GSI1's
// dialing partitions, "SWEEP" for lease registrations).
type countingAPI struct {
	dynamo.API
	mu  sync.Mutex
	ops map[string]int
}

func (c *countingAPI) add(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops == nil {
		c.ops = map[string]int{}
	}
	c.ops[op]++
}

// count returns how many requests of op were sent.
func (c *countingAPI) count(op string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ops[op]
}

// total returns how many requests were sent.
func (c *countingAPI) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for op, v := range c.ops {
		if !strings.Contains(op, ":") {
			n += v
		}
	}
	return n
}

func (c *countingAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	c.add("GetItem")
	return c.API.GetItem(ctx, in, opts...)
}

func (c *countingAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	c.add("PutItem")
	return c.API.PutItem(ctx, in, opts...)
}

func (c *countingAPI) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	c.add("Query")
	if pk, ok := in.ExpressionAttributeValues[":pk"].(*types.AttributeValueMemberS); ok {
		switch {
		case strings.HasSuffix(pk.Value, "#dialing"):
			c.add("Query:dialing")
		case strings.HasSuffix(pk.Value, "#idle"):
			c.add("Query:idle")
		case strings.HasPrefix(pk.Value, "SWEEP#"):
			c.add("Query:SWEEP")
		}
	}
	return c.API.Query(ctx, in, opts...)
}

func (c *countingAPI) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	c.add("BatchGetItem")
	return c.API.BatchGetItem(ctx, in, opts...)
}

func (c *countingAPI) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	c.add("BatchWriteItem")
	return c.API.BatchWriteItem(ctx, in, opts...)
}

func (c *countingAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.add("TransactWriteItems")
	return c.API.TransactWriteItems(ctx, in, opts...)
}

// snapshot returns a copy of the counts so far.
func (c *countingAPI) snapshot() *map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]int{}
	for k, v := range c.ops {
		m[k] = v
	}
	return &m
}

// since returns the counts added after before was taken.
func (c *countingAPI) since(before map[string]int) map[string]int {
	now := *c.snapshot()
	for k, v := range before {
		now[k] -= v
	}
	return now
}
