package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/outdial/outdial/internal/outdial"
)

// API is the subset of the DynamoDB client the store uses. Tests wrap the
// real client in it to inject faults the engine cannot produce on demand.
type API interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(context.Context, *dynamodb.QueryInput, ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchGetItem(context.Context, *dynamodb.BatchGetItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	BatchWriteItem(context.Context, *dynamodb.BatchWriteItemInput, ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ API = (*dynamodb.Client)(nil)

// Store implements outdial.Store on one DynamoDB table.
type Store struct {
	db     API
	table  string
	now    func() time.Time
	leases *leaseMemo // when a lease of an outdial can first run out (ClaimTargets)
}

var _ outdial.Store = (*Store)(nil)

// New returns a Store on table, using db for every call.
func New(db API, table string) *Store {
	return &Store{db: db, table: table, now: time.Now, leases: newLeaseMemo()}
}

// WithClock returns a copy of s that reads the time from now (tests).
func (s *Store) WithClock(now func() time.Time) *Store {
	c := *s
	c.now = now
	c.leases = newLeaseMemo() // its times are of the other clock
	return &c
}

// outdialItem is the stored form of an outdial.
type outdialItem struct {
	PK          string  `dynamodbav:"PK"`
	SK          string  `dynamodbav:"SK"`
	Type        string  `dynamodbav:"type"`
	ID          string  `dynamodbav:"id"`
	CustomerID  string  `dynamodbav:"customer_id"`
	CampaignID  *string `dynamodbav:"campaign_id"`
	Name        string  `dynamodbav:"name"`
	Detail      string  `dynamodbav:"detail"`
	Data        string  `dynamodbav:"data,omitempty"` // compact JSON; absent means null
	RetryBusy   int     `dynamodbav:"retry_busy"`
	RetryNoAns  int     `dynamodbav:"retry_no_answer"`
	RetryFailed int     `dynamodbav:"retry_failed"`
	RetryExpire int     `dynamodbav:"retry_expired"`
	Shards      int     `dynamodbav:"shards"`
	TMCreate    string  `dynamodbav:"tm_create"`
	TMUpdate    string  `dynamodbav:"tm_update"`
}

func newOutdialItem(o *outdial.Outdial) outdialItem {
	return outdialItem{
		PK: outdialPK(o.CustomerID), SK: outdialSK(o.ID), Type: "outdial",
		ID: o.ID, CustomerID: o.CustomerID, CampaignID: o.CampaignID,
		Name: o.Name, Detail: o.Detail, Data: string(o.Data),
		RetryBusy: o.RetryPolicy.BusySeconds, RetryNoAns: o.RetryPolicy.NoAnswerSeconds,
		RetryFailed: o.RetryPolicy.FailedSeconds, RetryExpire: o.RetryPolicy.ExpiredSeconds,
		Shards:   Shards,
		TMCreate: formatTime(o.TMCreate.Time), TMUpdate: formatTime(o.TMUpdate.Time),
	}
}

func (it outdialItem) outdial() *outdial.Outdial {
	o := &outdial.Outdial{
		ID: it.ID, CustomerID: it.CustomerID, CampaignID: it.CampaignID,
		Name: it.Name, Detail: it.Detail,
		RetryPolicy: outdial.RetryPolicy{
			BusySeconds: it.RetryBusy, NoAnswerSeconds: it.RetryNoAns,
			FailedSeconds: it.RetryFailed, ExpiredSeconds: it.RetryExpire,
		},
		TMCreate: outdial.Time{Time: parseTime(it.TMCreate)},
		TMUpdate: outdial.Time{Time: parseTime(it.TMUpdate)},
	}
	if it.Data != "" {
		o.Data = []byte(it.Data)
	}
	return o
}

// countsItem is one shard's share of an outdial's per-status counts.
type countsItem struct {
	Idle     int64 `dynamodbav:"idle"`
	Dialing  int64 `dynamodbav:"dialing"`
	Finished int64 `dynamodbav:"finished"`
	Failed   int64 `dynamodbav:"failed"`
	Retry    int64 `dynamodbav:"retry"`
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// CreateOutdial writes the outdial and its zeroed count items in one
// transaction, so that an outdial never exists without its counts.
func (s *Store) CreateOutdial(ctx context.Context, o *outdial.Outdial) error {
	item, err := attributevalue.MarshalMap(newOutdialItem(o))
	if err != nil {
		return fmt.Errorf("marshal outdial %s: %w", o.ID, err)
	}
	items := []types.TransactWriteItem{{Put: &types.Put{
		TableName:           &s.table,
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	}}}
	for k := 0; k < Shards; k++ {
		c := countsKey(o.ID, k)
		c["type"] = avS("counts")
		for _, a := range []string{"idle", "dialing", "finished", "failed", "retry"} {
			c[a] = avN(0)
		}
		items = append(items, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: c}})
	}
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems:      items,
		ClientRequestToken: aws.String(o.ID), // a retried create of the same id is applied once
	}); err != nil {
		return classify(fmt.Sprintf("create outdial %s", o.ID), err)
	}
	return nil
}

// GetOutdial reads the outdial and its count items in one BatchGetItem.
func (s *Store) GetOutdial(ctx context.Context, customerID, id string) (*outdial.Outdial, error) {
	o, _, err := s.getOutdialShards(ctx, customerID, id)
	return o, err
}

// getOutdialShards reads the outdial and the count items of its shards in
// one strongly consistent BatchGetItem; the outdial carries their sum.
func (s *Store) getOutdialShards(ctx context.Context, customerID, id string) (*outdial.Outdial, [Shards]outdial.Counts, error) {
	var shards [Shards]outdial.Counts
	keys := []map[string]types.AttributeValue{key(outdialPK(customerID), outdialSK(id))}
	for k := 0; k < Shards; k++ {
		keys = append(keys, countsKey(id, k))
	}
	got, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, shards, classify(fmt.Sprintf("get outdial %s", id), err)
	}
	var o *outdial.Outdial
	for _, item := range got {
		switch av := item["type"].(type) {
		case *types.AttributeValueMemberS:
			switch av.Value {
			case "outdial":
				var it outdialItem
				if err := attributevalue.UnmarshalMap(item, &it); err != nil {
					return nil, shards, fmt.Errorf("unmarshal outdial %s: %w", id, err)
				}
				o = it.outdial()
			case "counts":
				c, err := unmarshalCounts(item)
				if err != nil {
					return nil, shards, fmt.Errorf("unmarshal counts of outdial %s: %w", id, err)
				}
				if k, ok := shardOfPK(item); ok {
					shards[k] = c
				}
			}
		}
	}
	if o == nil {
		return nil, shards, outdial.ErrNotFound("outdial")
	}
	for _, c := range shards {
		o.Counts = o.Counts.Add(c)
	}
	o.TargetCount = o.Counts.Total()
	return o, shards, nil
}

// shardOfPK returns the shard number of a count item (PK
// OUTDIAL#<id>#<kk>).
func shardOfPK(item map[string]types.AttributeValue) (int, bool) {
	pk, _ := item[attrPK].(*types.AttributeValueMemberS)
	if pk == nil {
		return 0, false
	}
	i := strings.LastIndexByte(pk.Value, '#')
	if i < 0 {
		return 0, false
	}
	k, err := strconv.Atoi(pk.Value[i+1:])
	if err != nil || k < 0 || k >= Shards {
		return 0, false
	}
	return k, true
}

func unmarshalCounts(item map[string]types.AttributeValue) (outdial.Counts, error) {
	var c countsItem
	if err := attributevalue.UnmarshalMap(item, &c); err != nil {
		return outdial.Counts{}, err
	}
	return outdial.Counts{Idle: c.Idle, Dialing: c.Dialing, Finished: c.Finished, Failed: c.Failed, Retry: c.Retry}, nil
}

// batchGet reads keys (any number) with strongly consistent BatchGetItem
// calls of at most 100 keys, in parallel, retrying unprocessed keys.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var (
		mu   sync.Mutex
		out  []map[string]types.AttributeValue
		wg   sync.WaitGroup
		errs []error
	)
	for start := 0; start < len(keys); start += 100 {
		chunk := keys[start:min(start+100, len(keys))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			pending := chunk
			for attempt := 0; len(pending) > 0; attempt++ {
				if attempt > 0 {
					if err := backoff(ctx, attempt); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
				}
				res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{
					RequestItems: map[string]types.KeysAndAttributes{s.table: {Keys: pending, ConsistentRead: aws.Bool(true)}},
				})
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				mu.Lock()
				out = append(out, res.Responses[s.table]...)
				mu.Unlock()
				pending = res.UnprocessedKeys[s.table].Keys
				if attempt > 8 && len(pending) > 0 {
					mu.Lock()
					errs = append(errs, outdial.Errorf(outdial.ECodeUnavailable, "the database is busy; retry later"))
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return out, nil
}

// ListOutdials queries the customer's partition newest first. Outdial ids
// are UUIDv7, so the sort key orders them by creation time.
func (s *Store) ListOutdials(ctx context.Context, customerID string, p outdial.Page) ([]*outdial.Outdial, string, error) {
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(outdialPK(customerID)), ":sk": avS(prefixOutdial),
		},
		ScanIndexForward: aws.Bool(false),
	}
	if p.Cursor != "" {
		in.ExclusiveStartKey = key(outdialPK(customerID), outdialSK(p.Cursor))
	}
	// Read one more than the page: it tells whether another page exists.
	// A response may stop short at 1 MB; keep reading until the page and
	// its look-ahead item are in or the partition ends.
	var raw []map[string]types.AttributeValue
	for {
		in.Limit = aws.Int32(int32(p.Size + 1 - len(raw)))
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", classify("list outdials", err)
		}
		raw = append(raw, res.Items...)
		if len(raw) > p.Size || res.LastEvaluatedKey == nil {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	more := len(raw) > p.Size
	if more {
		raw = raw[:p.Size]
	}
	var items []outdialItem
	if err := attributevalue.UnmarshalListOfMaps(raw, &items); err != nil {
		return nil, "", fmt.Errorf("unmarshal outdials: %w", err)
	}
	list := make([]*outdial.Outdial, len(items))
	byID := make(map[string]*outdial.Outdial, len(items))
	var keys []map[string]types.AttributeValue
	for i, it := range items {
		list[i] = it.outdial()
		byID[it.ID] = list[i]
		for k := 0; k < Shards; k++ {
			keys = append(keys, countsKey(it.ID, k))
		}
	}
	if err := s.fillCounts(ctx, keys, byID); err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		next = items[len(items)-1].ID
	}
	return list, next, nil
}

// fillCounts reads the count items in keys and adds them to their outdials.
func (s *Store) fillCounts(ctx context.Context, keys []map[string]types.AttributeValue, byID map[string]*outdial.Outdial) error {
	if len(keys) == 0 {
		return nil
	}
	got, err := s.batchGet(ctx, keys)
	if err != nil {
		return classify("read target counts", err)
	}
	for _, item := range got {
		pk, _ := item[attrPK].(*types.AttributeValueMemberS)
		if pk == nil {
			continue
		}
		// PK is OUTDIAL#<id>#<shard>.
		id := strings.TrimPrefix(pk.Value, prefixOutdial)
		if i := strings.LastIndexByte(id, '#'); i >= 0 {
			id = id[:i]
		}
		o := byID[id]
		if o == nil {
			continue
		}
		c, err := unmarshalCounts(item)
		if err != nil {
			return fmt.Errorf("unmarshal counts of outdial %s: %w", id, err)
		}
		o.Counts = o.Counts.Add(c)
		o.TargetCount = o.Counts.Total()
	}
	return nil
}

// UpdateOutdial sets the fields u carries with one conditional UpdateItem,
// then reads the counts.
func (s *Store) UpdateOutdial(ctx context.Context, customerID, id string, u *outdial.OutdialUpdate) (*outdial.Outdial, error) {
	sets := []string{"tm_update = :tm"}
	vals := map[string]types.AttributeValue{":tm": avS(formatTime(s.now()))}
	names := map[string]string{}
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
		if string(u.Data) == "null" {
			names["#data"] = "data"
			removes = append(removes, "#data")
		} else {
			set("data", avS(string(u.Data)))
		}
	}
	if p := u.RetryPolicy; p != nil {
		for attr, v := range map[string]*int{"retry_busy": p.BusySeconds, "retry_no_answer": p.NoAnswerSeconds, "retry_failed": p.FailedSeconds, "retry_expired": p.ExpiredSeconds} {
			if v != nil {
				set(attr, avN(int64(*v)))
			}
		}
	}
	expr := "SET " + strings.Join(sets, ", ")
	if len(removes) > 0 {
		expr += " REMOVE " + strings.Join(removes, ", ")
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(outdialPK(customerID), outdialSK(id)),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
	}
	if len(names) > 0 {
		in.ExpressionAttributeNames = names
	}
	res, err := s.db.UpdateItem(ctx, in)
	if err != nil {
		if isConditionFailed(err) {
			return nil, outdial.ErrNotFound("outdial")
		}
		return nil, classify(fmt.Sprintf("update outdial %s", id), err)
	}
	var it outdialItem
	if err := attributevalue.UnmarshalMap(res.Attributes, &it); err != nil {
		return nil, fmt.Errorf("unmarshal outdial %s: %w", id, err)
	}
	o := it.outdial()
	var keys []map[string]types.AttributeValue
	for k := 0; k < Shards; k++ {
		keys = append(keys, countsKey(id, k))
	}
	if err := s.fillCounts(ctx, keys, map[string]*outdial.Outdial{id: o}); err != nil {
		return nil, err
	}
	return o, nil
}

// DeleteOutdial removes the outdial item and its count items in one
// transaction that holds only if the outdial still exists. With the outdial
// item gone, every route answers 404 for it and its targets and nothing of
// it can be claimed; its target items are removed afterwards (see
// PurgeTargets).
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
	items := []types.TransactWriteItem{{Delete: &types.Delete{
		TableName:           &s.table,
		Key:                 key(outdialPK(customerID), outdialSK(id)),
		ConditionExpression: aws.String("attribute_exists(PK)"),
	}}}
	for k := 0; k < Shards; k++ {
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: countsKey(id, k)}})
	}
	if _, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		if reasons := cancellationReasons(err); len(reasons) > 0 && reasons[0] == "ConditionalCheckFailed" {
			return nil, outdial.ErrNotFound("outdial")
		}
		return nil, classify(fmt.Sprintf("delete outdial %s", id), err)
	}
	return o, nil
}

// isConditionFailed reports whether err is a failed condition expression.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// cancellationReasons returns the per-item reason codes of a cancelled
// transaction ("None" for items that were fine), or nil.
func cancellationReasons(err error) []string {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil
	}
	out := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		out[i] = aws.ToString(r.Code)
	}
	return out
}

// classify wraps err with context and turns the errors a client should
// retry (throttling, capacity, transaction conflicts, timeouts) into an
// outdial.Error with ECodeUnavailable, which the API answers with 503.
func classify(op string, err error) error {
	var oe *outdial.Error
	if errors.As(err, &oe) {
		return err
	}
	if IsRetryable(err) {
		return &outdial.Error{Code: outdial.ECodeUnavailable, Message: "the database is busy or slow; retry the request"}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// IsRetryable reports whether err is a throttle, a conflict or a timeout:
// something that may succeed if tried again.
func IsRetryable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
			"TransactionConflictException", "TransactionInProgressException", "InternalServerError",
			"ServiceUnavailable", "LimitExceededException":
			return true
		case "TransactionCanceledException":
			for _, r := range cancellationReasons(err) {
				if r == "TransactionConflict" || r == "ThrottlingError" || r == "ProvisionedThroughputExceeded" {
					return true
				}
			}
		}
	}
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// backoff sleeps before retry number attempt (1, 2, ...), with jitter.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(1<<min(attempt, 8)) * 5 * time.Millisecond
	d = d/2 + time.Duration(time.Now().UnixNano()%int64(d/2+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
