package dynamo

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/outdial"
)

// Counts (docs/design.md "Counts"). An outdial's per-status counts are the
// sum of its CountSlots count slots. Every transaction that moves targets
// adds its summed delta to one slot, in the same transaction, so the sum is
// exact at every moment; which slot is slots.go's concern. The attribute
// names are short: a list page reads every row's slots, and a slot's size
// is mostly its names and keys.

// Attribute names of a count slot.
const (
	attrIdle     = "i"
	attrDialing  = "d"
	attrFinished = "f"
	attrFailed   = "x"
	attrRetry    = "r"
	attrOwner    = "o"
	attrOwnUntil = "u"
)

// countAttr maps what a counterDelta counts to the slot's attribute.
var countAttr = map[string]string{
	string(outdial.StatusIdle): attrIdle, string(outdial.StatusDialing): attrDialing,
	string(outdial.StatusFinished): attrFinished, string(outdial.StatusFailed): attrFailed,
	"retry": attrRetry,
}

// slotItem is the stored form of a count slot.
type slotItem struct {
	Idle     int64  `dynamodbav:"i"`
	Dialing  int64  `dynamodbav:"d"`
	Finished int64  `dynamodbav:"f"`
	Failed   int64  `dynamodbav:"x"`
	Retry    int64  `dynamodbav:"r"`
	Own      string `dynamodbav:"o,omitempty"`
	OwnUntil int64  `dynamodbav:"u,omitempty"`
}

func (it slotItem) counts() outdial.Counts {
	return outdial.Counts{Idle: it.Idle, Dialing: it.Dialing, Finished: it.Finished, Failed: it.Failed, Retry: it.Retry}
}

// readCounts sums the count slots of outdialID with one Query (strongly
// consistent when consistent is set; items of other kinds in the partition,
// such as the head, are passed to other).
func (s *Store) readCounts(ctx context.Context, outdialID string, consistent, withHead bool, other func(map[string]types.AttributeValue) error) (outdial.Counts, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(headPK(outdialID)), ":sk": avS(prefixSlot)},
		ConsistentRead:            aws.Bool(consistent),
	}
	if withHead {
		// "#C#..." and "#HEAD" both start with "#".
		in.ExpressionAttributeValues[":sk"] = avS("#")
	}
	var c outdial.Counts
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return c, classify(fmt.Sprintf("read counts of outdial %s", outdialID), err)
		}
		for _, item := range res.Items {
			sk, _ := item[attrSK].(*types.AttributeValueMemberS)
			if sk == nil || !strings.HasPrefix(sk.Value, prefixSlot) {
				if other != nil {
					if err := other(item); err != nil {
						return c, err
					}
				}
				continue
			}
			var it slotItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return c, fmt.Errorf("unmarshal count slot of outdial %s: %w", outdialID, err)
			}
			c = c.Add(it.counts())
		}
		if res.LastEvaluatedKey == nil {
			return c, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// counterDelta collects ADDs to the attributes of a count slot.
type counterDelta map[string]int64

func (d counterDelta) add(attr string, v int64) { d[attr] += v }

// merge adds every count of o to d.
func (d counterDelta) merge(o counterDelta) {
	for a, v := range o {
		d[a] += v
	}
}

func (d counterDelta) expr() (string, map[string]string, map[string]types.AttributeValue) {
	attrs := make([]string, 0, len(d))
	for a := range d {
		attrs = append(attrs, a)
	}
	sort.Strings(attrs)
	names := map[string]string{}
	vals := map[string]types.AttributeValue{}
	var parts []string
	for i, a := range attrs {
		if d[a] == 0 {
			continue
		}
		nk, vk := fmt.Sprintf("#c%d", i), fmt.Sprintf(":c%d", i)
		names[nk], vals[vk] = countAttr[a], avN(d[a])
		parts = append(parts, nk+" "+vk)
	}
	if len(parts) == 0 {
		// Nothing moves; keep the expression valid.
		names["#c"], vals[":c"] = attrIdle, avN(0)
		parts = append(parts, "#c :c")
	}
	return "ADD " + strings.Join(parts, ", "), names, vals
}

// statusDelta returns the delta of one target moving from one status to
// another; retry counts the idle targets that already had an attempt, and
// fromRetry/toRetry say whether the target leaves or joins it. An empty
// status is none (a new or a deleted target).
func statusDelta(from outdial.Status, fromRetry bool, to outdial.Status, toRetry bool) counterDelta {
	d := counterDelta{}
	if from != "" {
		d.add(string(from), -1)
		if fromRetry {
			d.add("retry", -1)
		}
	}
	if to != "" {
		d.add(string(to), 1)
		if toRetry {
			d.add("retry", 1)
		}
	}
	return d
}
