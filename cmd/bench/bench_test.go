package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/dynamotest"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

// TestItemSize checks the size model against DynamoDB Local: a single
// PutItem (which DynamoDB Local reports right) of an item a few bytes
// below and above each KB boundary must cost kb(itemSize) WCU.
func TestItemSize(t *testing.T) {
	client, table := dynamotest.Table(t)
	db := newCounting(client)
	ctx := context.Background()
	base := map[string]types.AttributeValue{
		"PK": s("OUTDIAL#0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b#07"), "SK": s("TARGET#6f1c1f8e-3b1a-5c2d-9e4f-123456789abc"),
		"try_max": n("3"), "due": n("1767225600123"), "neg": n("-12.50"),
		"flag": &types.AttributeValueMemberBOOL{Value: true}, "nothing": &types.AttributeValueMemberNULL{Value: true},
		"dests": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"type": s("tel"), "target": s("+15550001234"), "max": n("3"), "cur": n("0"),
		}}}},
		"name": s("bench target ünïcode"),
	}
	for _, want := range []int{1018, 1030, 2042, 2054, 3066, 3078} {
		t.Run(fmt.Sprint(want), func(t *testing.T) {
			item := make(map[string]types.AttributeValue, len(base)+1)
			for k, v := range base {
				item[k] = v
			}
			item["pad"] = s("")
			item["pad"] = s(strings.Repeat("x", want-itemSize(item)))
			if got := itemSize(item); got != want {
				t.Fatalf("padded item is %d bytes, want %d", got, want)
			}
			before := db.Snapshot()
			if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item}); err != nil {
				t.Fatal(err)
			}
			c := db.Snapshot().Sub(before)
			if c.WCU != kb(want) {
				t.Errorf("DynamoDB Local charged %v WCU for a %d-byte item, the model %v", c.WCU, want, kb(want))
			}
		})
	}
}

// TestCounting checks that the wrapper counts requests and failures by
// operation and leaves the caller's input alone.
func TestCounting(t *testing.T) {
	client, table := dynamotest.Table(t)
	db := newCounting(client)
	ctx := context.Background()
	key := map[string]types.AttributeValue{"PK": s("p"), "SK": s("s")}

	start := db.Snapshot()
	put := &dynamodb.PutItemInput{TableName: &table, Item: key}
	if _, err := db.PutItem(ctx, put); err != nil {
		t.Fatal(err)
	}
	if put.ReturnConsumedCapacity != "" {
		t.Errorf("the caller's PutItemInput.ReturnConsumedCapacity became %q, want it untouched", put.ReturnConsumedCapacity)
	}
	mid := db.Snapshot()
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &table, Key: key, UpdateExpression: aws.String("SET a = :a"),
		ConditionExpression:       aws.String("attribute_not_exists(PK)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":a": s("x")},
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("UpdateItem: %v, want a failed condition", err)
	}
	if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: key, ConsistentRead: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}

	got := db.Snapshot().Sub(mid)
	if got.Requests() != 2 || got.Ops["UpdateItem"] != 1 || got.Ops["GetItem"] != 1 || got.Ops["PutItem"] != 0 {
		t.Errorf("ops after the put = %v, want UpdateItem 1, GetItem 1", got.Ops)
	}
	if got.Failed() != 1 || got.Errors["UpdateItem"] != 1 || got.Succeeded("UpdateItem") != 0 {
		t.Errorf("errors = %v, want UpdateItem 1", got.Errors)
	}
	if got.RCU != 1 || got.WCU != 0 {
		t.Errorf("capacity after the put: RCU %v WCU %v, want 1 and 0 (a failed update reports none)", got.RCU, got.WCU)
	}
	all := db.Snapshot().Sub(start)
	if all.WCU != 1 || all.Reported != 2 || all.Unreported != 0 {
		t.Errorf("whole run: WCU %v, reported %d, unreported %d; want 1, 2, 0", all.WCU, all.Reported, all.Unreported)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		d    []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(5, 1, 4, 2, 3), 0.5, 3 * time.Millisecond},
		{ms(5, 1, 4, 2, 3), 0.95, 5 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.5, 5 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.95, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.1, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.d, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tt.d, tt.p, got, tt.want)
		}
	}
}

func TestRekeyByPK(t *testing.T) {
	const oldID, newID = "11111111-1111-7111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	items := []map[string]types.AttributeValue{
		{"PK": s("OUTDIAL#" + oldID + "#00"), "SK": s("TARGET#a"), "GSI1PK": s("OUTDIAL#" + oldID + "#00#idle"), "outdial_id": s(oldID), "id": s("a"), "try_cur": n("0")},
		{"PK": s("OUTDIAL#" + oldID + "#01"), "SK": s("TARGET#b"), "GSI1PK": s("OUTDIAL#" + oldID + "#01#idle"), "outdial_id": s(oldID), "id": s("b"), "try_cur": n("0")},
		{"PK": s("OUTDIAL#" + oldID + "#00"), "SK": s("TARGET#c"), "GSI1PK": s("OUTDIAL#" + oldID + "#00#idle"), "outdial_id": s(oldID), "id": s("c"), "try_cur": n("0")},
	}
	groups := rekeyByPK(items, oldID, newID)
	if len(groups) != 2 || len(groups[0]) != 2 || len(groups[1]) != 1 {
		t.Fatalf("groups of sizes %d, want [2 1]", len(groups))
	}
	got := groups[0][1]
	for attr, want := range map[string]string{
		"PK": "OUTDIAL#" + newID + "#00", "SK": "TARGET#c", "GSI1PK": "OUTDIAL#" + newID + "#00#idle", "outdial_id": newID, "id": "c",
	} {
		if v := got[attr].(*types.AttributeValueMemberS).Value; v != want {
			t.Errorf("%s = %q, want %q", attr, v, want)
		}
	}
	if v := items[2]["PK"].(*types.AttributeValueMemberS).Value; !strings.Contains(v, oldID) {
		t.Errorf("the original item changed: PK %q", v)
	}
	if itemSize(got) != itemSize(items[2]) {
		t.Errorf("copy is %d bytes, original %d; the plain loop must write items of the same size", itemSize(got), itemSize(items[2]))
	}
}

// TestRunSmall runs the whole bench at a small size against the shared
// DynamoDB Local: every phase must finish and the report must carry every
// figure.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole bench at a small size")
	}
	var out bytes.Buffer
	cfg := config{Targets: 230, Outcomes: 60, Concurrency: 4, Claims: 2, Gets: 5, Warmup: 30}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, cfg, dynamotest.Endpoint(), &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	report := out.String()
	for _, want := range []string{
		"machine ", "DynamoDB Local", "import 230 targets, items/s",
		"TransactWriteItems", "BatchWriteItem", "GET /v1.0/outdials/{id}, 230 targets, 5 calls",
		"outcomes, 60 messages", "DynamoDB requests / outcome", "claim 100 of 230 targets, 2 claims",
		"bootstrap sizes", "skipped (-sizes=false)", "cold start under the runtime emulator", "skipped (-coldstart=false)",
		"counts:   exact",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
}
