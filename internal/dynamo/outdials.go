package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/outdial"
)

// An outdial is stored twice, written together in one transaction: its
// head in its own partition (with its count slots), which every request
// about the outdial reads, and a list copy in its customer's partition,
// which only the list reads. So one customer's many outdials share no
// partition on the hot paths.

// outdialItem is the stored form of an outdial (head and list copy).
type outdialItem struct {
	PK          string  `dynamodbav:"PK"`
	SK          string  `dynamodbav:"SK"`
	Type        string  `dynamodbav:"type"`
	ID          string  `dynamodbav:"id"`
	CustomerID  string  `dynamodbav:"customer_id"`
	CampaignID  *string `dynamodbav:"campaign_id"`
	Name        string  `dynamodbav:"name"`
	Detail      string  `dynamodbav:"detail"`
	Data        string  `dynamodbav:"data,omitempty"` // text; absent means ""
	RetryBusy   int     `dynamodbav:"retry_busy"`
	RetryNoAns  int     `dynamodbav:"retry_no_answer"`
	RetryFailed int     `dynamodbav:"retry_failed"`
	RetryExpire int     `dynamodbav:"retry_expired"`
	Shards      int     `dynamodbav:"shards"`
	TMCreate    string  `dynamodbav:"tm_create"`
	TMUpdate    string  `dynamodbav:"tm_update"`
	// IDKey is the outdial's id key (outdial.KeyedTargetID), on the head
	// only; it never leaves the store.
	IDKey []byte `dynamodbav:"id_key,omitempty"`
	// Window is the calling window as JSON ("" for none). WinVer counts
	// its changes; WinMin is the oldest version whose deferred targets
	// may still wait under it (docs/design.md "Calling windows").
	Window string `dynamodbav:"window,omitempty"`
	WinVer int    `dynamodbav:"win_ver,omitempty"`
	WinMin int    `dynamodbav:"win_min,omitempty"`
	// WinAt is when the window last changed (ms since the epoch).
	WinAt     int64  `dynamodbav:"win_at,omitempty"`
	Archived  bool   `dynamodbav:"archived,omitempty"`
	TMArchive string `dynamodbav:"tm_archive,omitempty"`

	window *outdial.CallingWindow // Window, parsed (callingWindow)
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
		Window: windowJSON(o.CallingWindow),
	}
}

// windowJSON is the stored form of w: its JSON, "" for none.
func windowJSON(w *outdial.CallingWindow) string {
	if w == nil {
		return ""
	}
	b, _ := json.Marshal(w)
	return string(b)
}

// callingWindow returns the outdial's calling window, or nil.
func (it *outdialItem) callingWindow() *outdial.CallingWindow {
	if it.window == nil && it.Window != "" {
		var w outdial.CallingWindow
		if json.Unmarshal([]byte(it.Window), &w) == nil {
			it.window = &w
		}
	}
	return it.window
}

func (it *outdialItem) outdial() *outdial.Outdial {
	o := &outdial.Outdial{
		ID: it.ID, CustomerID: it.CustomerID, CampaignID: it.CampaignID,
		Name: it.Name, Detail: it.Detail, RetryPolicy: it.policy(),
		TMCreate: outdial.Time{Time: parseTime(it.TMCreate)},
		TMUpdate: outdial.Time{Time: parseTime(it.TMUpdate)},
		Data:     it.Data,
		Archived: it.Archived, TMArchive: outdial.Time{Time: parseTime(it.TMArchive)},
	}
	o.CallingWindow = it.callingWindow()
	return o
}

func (it outdialItem) policy() outdial.RetryPolicy {
	return outdial.RetryPolicy{
		BusySeconds: it.RetryBusy, NoAnswerSeconds: it.RetryNoAns,
		FailedSeconds: it.RetryFailed, ExpiredSeconds: it.RetryExpire,
	}
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// CreateOutdial writes the outdial's head and list copy in one
// transaction. It has no count slots yet: each is made by its first writer
// (createSlot), and counts without slots are zero. Nobody can name the
// outdial before: its id is new.
func (s *Store) CreateOutdial(ctx context.Context, o *outdial.Outdial) error {
	it := newOutdialItem(o)
	list, err := attributevalue.MarshalMap(it)
	if err != nil {
		return fmt.Errorf("marshal outdial %s: %w", o.ID, err)
	}
	it.PK, it.SK, it.IDKey = headPK(o.ID), skHead, outdial.NewIDKey()
	head, err := attributevalue.MarshalMap(it)
	if err != nil {
		return fmt.Errorf("marshal outdial %s: %w", o.ID, err)
	}
	if err := s.transact(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: &s.table, Item: head, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
			{Put: &types.Put{TableName: &s.table, Item: list, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
		},
		ClientRequestToken: aws.String(o.ID), // a retried create of the same id is applied once
	}); err != nil {
		return classify(fmt.Sprintf("create outdial %s", o.ID), err)
	}
	return nil
}

// GetOutdial reads the outdial's head and count slots with one strongly
// consistent Query of its partition: exact counts, one request.
func (s *Store) GetOutdial(ctx context.Context, customerID, id string) (*outdial.Outdial, error) {
	var head *outdialItem
	counts, err := s.readCounts(ctx, id, true, true, func(item map[string]types.AttributeValue) error {
		if sk, _ := item[attrSK].(*types.AttributeValueMemberS); sk == nil || sk.Value != skHead {
			return nil
		}
		head = &outdialItem{}
		if err := attributevalue.UnmarshalMap(item, head); err != nil {
			return fmt.Errorf("unmarshal outdial %s: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if head == nil || head.CustomerID != customerID {
		return nil, outdial.ErrNotFound("outdial")
	}
	o := head.outdial()
	o.Counts, o.TargetCount = counts, counts.Total()
	return o, nil
}

// readHead reads an outdial's head (strongly consistent), or nil if it does
// not exist. What it found is noted for createSlot (slotPool.sawHead).
func (s *Store) readHead(ctx context.Context, outdialID string) (*outdialItem, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: headKey(outdialID), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, classify(fmt.Sprintf("get outdial %s", outdialID), err)
	}
	s.slots.sawHead(outdialID, res.Item != nil, time.Now())
	if res.Item == nil {
		return nil, nil
	}
	var it outdialItem
	if err := attributevalue.UnmarshalMap(res.Item, &it); err != nil {
		return nil, fmt.Errorf("unmarshal outdial %s: %w", outdialID, err)
	}
	return &it, nil
}

// ownedHead reads the outdial's head and checks that the customer owns it
// (404 otherwise).
func (s *Store) ownedHead(ctx context.Context, customerID, outdialID string) (*outdialItem, error) {
	head, err := s.readHead(ctx, outdialID)
	if err != nil {
		return nil, err
	}
	if head == nil || head.CustomerID != customerID {
		return nil, outdial.ErrNotFound("outdial")
	}
	return head, nil
}

// listCountsConcurrency bounds the count reads of one list page in flight.
const listCountsConcurrency = 16

// ListOutdials queries the customer's partition newest first (outdial ids
// are UUIDv7, so the sort key orders them by creation time), then reads
// each row's count slots with an eventually consistent Query: counts in a
// list may lag the latest writes by about a second, and cost about 1.5
// read units per row.
//
// Archived outdials are listed only when archived is true, and then only
// they (a filter on the list copies: a page reads on until it is full).
func (s *Store) ListOutdials(ctx context.Context, customerID string, archived bool, p outdial.Page) ([]*outdial.Outdial, string, error) {
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		FilterExpression:       aws.String("attribute_not_exists(archived)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(outdialPK(customerID)), ":sk": avS(prefixOutdial),
		},
		ScanIndexForward: aws.Bool(false),
	}
	if archived {
		in.FilterExpression = aws.String("archived = :t")
		in.ExpressionAttributeValues[":t"] = &types.AttributeValueMemberBOOL{Value: true}
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
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(listCountsConcurrency)
	for i, it := range items {
		list[i] = (&it).outdial()
		g.Go(func() error {
			c, err := s.readCounts(gctx, it.ID, false, false, nil)
			list[i].Counts, list[i].TargetCount = c, c.Total()
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, "", err
	}
	next := ""
	if more {
		next = items[len(items)-1].ID
	}
	return list, next, nil
}
