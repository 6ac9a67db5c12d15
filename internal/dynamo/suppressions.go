package dynamo

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/outdial"
)

var _ outdial.SuppressionStore = (*Store)(nil)

// A customer's suppression (do-not-call) list is one item per address,
// spread over SuppressionBuckets partitions of the customer so that no
// partition key is hot, whatever the size of the list:
//
//	suppression  PK=SUPP#<customer_id>#<00..15>  SK=A#<address key>
//
// with the attributes type ("suppression"), address (the key) and
// tm_create. The bucket of an address is fnv32a(key) % SuppressionBuckets
// (SuppressionBucket); the key is outdial.Address.Key() of the normalised
// address. A check of n addresses is one round of strongly consistent
// BatchGetItem calls of at most 100 keys each, sent in parallel.
const (
	prefixSuppression = "SUPP#"
	prefixSuppAddress = "A#"
	typeSuppression   = "suppression"

	// SuppressionBuckets is how many partitions a customer's suppression
	// list is spread over.
	SuppressionBuckets = 16

	// batchGetMax and batchWriteMax are DynamoDB's limits of keys per
	// BatchGetItem and requests per BatchWriteItem.
	batchGetMax   = 100
	batchWriteMax = 25
	// suppressionReadConcurrency lets the BatchGetItem calls of the
	// largest request (outdial.MaxSuppressionsPerRequest keys) go out in
	// one round.
	suppressionReadConcurrency = outdial.MaxSuppressionsPerRequest / batchGetMax
	// suppressionWriteConcurrency is how many BatchWriteItem calls of
	// one request are in flight at once.
	suppressionWriteConcurrency = 16
	// maxSuppressionKey bounds a key: DynamoDB's sort keys are at most
	// 1024 bytes, and normalised addresses are far shorter.
	maxSuppressionKey = 1000
)

// SuppressionBucket returns the bucket (0..SuppressionBuckets-1) of the
// address key.
func SuppressionBucket(key string) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % SuppressionBuckets)
}

func suppressionPK(customerID string, bucket int) string {
	return fmt.Sprintf("%s%s#%02d", prefixSuppression, customerID, bucket)
}

func suppressionKey(customerID, addrKey string) map[string]types.AttributeValue {
	return key(suppressionPK(customerID, SuppressionBucket(addrKey)), prefixSuppAddress+addrKey)
}

// suppressionItem is the stored form of one suppression.
type suppressionItem struct {
	PK       string `dynamodbav:"PK"`
	SK       string `dynamodbav:"SK"`
	Type     string `dynamodbav:"type"`
	Address  string `dynamodbav:"address"`
	TMCreate string `dynamodbav:"tm_create"`
}

// uniqueKeys returns keys without repeats, in order of first appearance.
// An empty or over-long key is an invalid_field error (the handlers never
// send one); the message does not repeat the key.
func uniqueKeys(keys []string) ([]string, error) {
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for i, k := range keys {
		if k == "" || len(k) > maxSuppressionKey {
			return nil, outdial.FieldErrorf(outdial.ECodeInvalidField, fmt.Sprintf("addresses[%d]", i), "is empty or too long")
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out, nil
}

// listed returns which of keys (unique) are on the customer's list: one
// round of strongly consistent BatchGetItem calls of at most batchGetMax
// keys, in parallel, each reading its unprocessed keys again.
func (s *Store) listed(ctx context.Context, customerID string, keys []string) (map[string]bool, error) {
	found := make(map[string]bool)
	if len(keys) == 0 {
		return found, nil
	}
	chunks := make([][]map[string]types.AttributeValue, 0, (len(keys)+batchGetMax-1)/batchGetMax)
	for start := 0; start < len(keys); start += batchGetMax {
		chunk := keys[start:min(start+batchGetMax, len(keys))]
		ks := make([]map[string]types.AttributeValue, len(chunk))
		for i, k := range chunk {
			ks[i] = suppressionKey(customerID, k)
		}
		chunks = append(chunks, ks)
	}
	results := make([][]map[string]types.AttributeValue, len(chunks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(suppressionReadConcurrency)
	for i, ks := range chunks {
		g.Go(func() error {
			items, err := s.batchGet(gctx, ks)
			if err != nil {
				return classify("read suppressions", err)
			}
			results[i] = items
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, items := range results {
		for _, it := range items {
			if sk, ok := it[attrSK].(*types.AttributeValueMemberS); ok {
				if k, ok := strings.CutPrefix(sk.Value, prefixSuppAddress); ok {
					found[k] = true
				}
			}
		}
	}
	return found, nil
}

// writeAll sends reqs in BatchWriteItem calls of at most batchWriteMax,
// suppressionWriteConcurrency of them in flight, each retrying its
// unprocessed items (batchWrite).
func (s *Store) writeAll(ctx context.Context, reqs []types.WriteRequest) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(suppressionWriteConcurrency)
	for start := 0; start < len(reqs); start += batchWriteMax {
		chunk := reqs[start:min(start+batchWriteMax, len(reqs))]
		g.Go(func() error { return s.batchWrite(gctx, chunk) })
	}
	return g.Wait()
}

// AddSuppressions implements outdial.SuppressionStore. It reads which keys
// are listed already (one round of BatchGetItem) and writes the others
// (BatchWriteItem). Two adds of one new key racing each other may both
// count it as added; the entry is then written twice, the later tm_create
// winning.
func (s *Store) AddSuppressions(ctx context.Context, customerID string, keys []string) (int, int, error) {
	uniq, err := uniqueKeys(keys)
	if err != nil {
		return 0, 0, err
	}
	found, err := s.listed(ctx, customerID, uniq)
	if err != nil {
		return 0, 0, err
	}
	now := formatTime(s.now())
	var reqs []types.WriteRequest
	for _, k := range uniq {
		if found[k] {
			continue
		}
		item, err := attributevalue.MarshalMap(suppressionItem{
			PK: suppressionPK(customerID, SuppressionBucket(k)), SK: prefixSuppAddress + k,
			Type: typeSuppression, Address: k, TMCreate: now,
		})
		if err != nil {
			return 0, 0, fmt.Errorf("marshal suppression: %w", err)
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
	}
	if len(reqs) > 0 {
		// The marker first: a claim that finds an entry found the marker
		// before it (Suppressed reads the marker, then the entries), and
		// a list that finds it names the entry's bucket.
		buckets := map[int]bool{}
		for _, k := range uniq {
			if !found[k] {
				buckets[SuppressionBucket(k)] = true
			}
		}
		if err := s.markListed(ctx, customerID, now, buckets); err != nil {
			return 0, 0, err
		}
	}
	if err := s.writeAll(ctx, reqs); err != nil {
		return 0, 0, err
	}
	return len(reqs), len(uniq) - len(reqs), nil
}

// The list marker says a customer has (or had) a suppression list: it is
// written before the first entry and never removed, so Suppressed skips
// the batched read, which DynamoDB charges 1 RCU per key asked, for the
// customers who never listed an address. It also holds the buckets that
// have had entries (bk, a number set, added to before the entries are
// written and never taken from), so that a list reads only those: one
// GetItem for a customer without a list, instead of 16 Queries.
const (
	skSuppMarker     = "#LIST"
	attrSuppBuckets  = "bk"
	suppMarkerNoList = "attribute_not_exists(PK) OR attribute_exists(" + attrSuppBuckets + ")"
)

func suppressionMarkerKey(customerID string) map[string]types.AttributeValue {
	return key(prefixSuppression+customerID, skSuppMarker)
}

// markListed writes the customer's list marker (once) and adds buckets to
// its buckets. A marker written before markers kept buckets gets every
// bucket (its entries may be in any).
func (s *Store) markListed(ctx context.Context, customerID, now string, buckets map[int]bool) error {
	update := func(buckets map[int]bool, cond string) error {
		ns := make([]string, 0, len(buckets))
		for b := range buckets {
			ns = append(ns, strconv.Itoa(b))
		}
		sort.Strings(ns)
		in := &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: suppressionMarkerKey(customerID),
			UpdateExpression:         aws.String("SET #t = :t, tm_create = if_not_exists(tm_create, :now) ADD #bk :bk"),
			ExpressionAttributeNames: map[string]string{"#t": "type", "#bk": attrSuppBuckets},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":t": avS("suppression_list"), ":now": avS(now), ":bk": &types.AttributeValueMemberNS{Value: ns},
			},
		}
		if cond != "" {
			in.ConditionExpression = aws.String(cond)
		}
		_, err := s.db.UpdateItem(ctx, in)
		return err
	}
	err := update(buckets, suppMarkerNoList)
	if isConditionFailed(err) {
		all := map[int]bool{}
		for b := range SuppressionBuckets {
			all[b] = true
		}
		err = update(all, "")
	}
	if err != nil {
		return classify("mark the suppression list", err)
	}
	return nil
}

// listedBuckets returns the buckets of the customer's list that may hold
// entries, in order, from its marker (strongly consistent): none without
// a marker, all of them for a marker without buckets.
func (s *Store) listedBuckets(ctx context.Context, customerID string) ([]int, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: suppressionMarkerKey(customerID), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("PK, #bk"), ExpressionAttributeNames: map[string]string{"#bk": attrSuppBuckets},
	})
	if err != nil {
		return nil, classify("read the suppression list", err)
	}
	if res.Item == nil {
		return nil, nil
	}
	var out []int
	ns, ok := res.Item[attrSuppBuckets].(*types.AttributeValueMemberNS)
	if !ok {
		for b := range SuppressionBuckets {
			out = append(out, b)
		}
		return out, nil
	}
	for _, v := range ns.Value {
		if b, err := strconv.Atoi(v); err == nil && b >= 0 && b < SuppressionBuckets {
			out = append(out, b)
		}
	}
	sort.Ints(out)
	return out, nil
}

// DeleteSuppressions implements outdial.SuppressionStore: it reads which
// keys are listed (one round of BatchGetItem) and deletes those
// (BatchWriteItem), returning how many they were.
func (s *Store) DeleteSuppressions(ctx context.Context, customerID string, keys []string) (int, error) {
	uniq, err := uniqueKeys(keys)
	if err != nil {
		return 0, err
	}
	found, err := s.listed(ctx, customerID, uniq)
	if err != nil {
		return 0, err
	}
	var reqs []types.WriteRequest
	for _, k := range uniq {
		if found[k] {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: suppressionKey(customerID, k)}})
		}
	}
	if err := s.writeAll(ctx, reqs); err != nil {
		return 0, err
	}
	return len(reqs), nil
}

// Suppressed implements outdial.SuppressionStore: the customer's list
// marker (GetItem, 1 RCU), and when the customer has a list one round of
// strongly consistent BatchGetItem calls (one call for up to 100 distinct
// keys).
func (s *Store) Suppressed(ctx context.Context, customerID string, keys []string) (map[string]bool, error) {
	uniq, err := uniqueKeys(keys)
	if err != nil {
		return nil, err
	}
	if len(uniq) == 0 {
		return map[string]bool{}, nil
	}
	if buckets, err := s.listedBuckets(ctx, customerID); err != nil || len(buckets) == 0 {
		return map[string]bool{}, err
	}
	return s.listed(ctx, customerID, uniq)
}

// suppressionCursor is the cursor of ListSuppressions: the bucket and the
// key of the last entry of the page before.
type suppressionCursor struct {
	Bucket  int    `json:"b"`
	Address string `json:"a"`
}

func parseSuppressionCursor(s string) (suppressionCursor, error) {
	var c suppressionCursor
	if s == "" {
		return c, nil
	}
	bad := outdial.FieldErrorf(outdial.ECodeInvalidPageToken, "page_token", "is not a token this list returned; start again without it")
	if !json.Valid([]byte(s)) {
		return c, bad
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, bad
	}
	if c.Bucket < 0 || c.Bucket >= SuppressionBuckets || c.Address == "" || len(c.Address) > maxSuppressionKey ||
		SuppressionBucket(c.Address) != c.Bucket {
		return c, bad
	}
	return c, nil
}

// ListSuppressions implements outdial.SuppressionStore. The list is read
// bucket by bucket (00, then 01, ... 15) and, within a bucket, in the
// order of the keys (their UTF-8 bytes): so the order is by bucket, then
// by address, stable but unrelated to when entries were added. The cursor
// (JSON {"b":<bucket>,"a":"<key of the page's last entry>"}) resumes after
// that entry; one that is not such JSON is ECodeInvalidPageToken. Each
// page reads one entry more than it returns, to know whether another page
// exists: the cursor is "" after the last entry.
func (s *Store) ListSuppressions(ctx context.Context, customerID string, p outdial.Page) ([]outdial.Suppression, string, error) {
	if p.End {
		return []outdial.Suppression{}, "", nil
	}
	size := p.Size
	if size <= 0 {
		size = 100
	}
	cur, err := parseSuppressionCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	// Only the buckets that have had entries (the marker's): none for a
	// customer without a list.
	buckets, err := s.listedBuckets(ctx, customerID)
	if err != nil {
		return nil, "", err
	}
	var later []int
	for _, b := range buckets {
		if b > cur.Bucket {
			later = append(later, b)
		}
	}
	// The cursor's bucket first: the page of a large list fills there.
	// Then the later buckets in waves of 1, 2, 4 and 8 read at once, each
	// for what the page still needs, until the page is full: at most 5
	// round trips instead of up to 16 in a row (a short list's page), at
	// most 8 requests at a time (the SDK keeps 10 idle connections to a
	// host), and a wave reads at most its width times the need more than
	// the page returns.
	var raw []map[string]types.AttributeValue
	if cur.Address != "" || slices.Contains(buckets, cur.Bucket) {
		if raw, err = s.suppressionBucket(ctx, customerID, cur.Bucket, cur.Address, size+1); err != nil {
			return nil, "", err
		}
	}
	for next, width := 0, 1; next < len(later) && len(raw) <= size; next, width = next+width, width*2 {
		need := size + 1 - len(raw)
		wave := make([][]map[string]types.AttributeValue, min(width, len(later)-next))
		g, gctx := errgroup.WithContext(ctx)
		for i := range wave {
			g.Go(func() (err error) {
				wave[i], err = s.suppressionBucket(gctx, customerID, later[next+i], "", need)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, "", err
		}
		for _, items := range wave {
			raw = append(raw, items...)
		}
	}
	more := len(raw) > size
	if more {
		raw = raw[:size]
	}
	var items []suppressionItem
	if err := attributevalue.UnmarshalListOfMaps(raw, &items); err != nil {
		return nil, "", fmt.Errorf("unmarshal suppressions: %w", err)
	}
	list := make([]outdial.Suppression, len(items))
	for i, it := range items {
		k := strings.TrimPrefix(it.SK, prefixSuppAddress)
		list[i] = outdial.Suppression{Address: outdial.WrittenKey(k), TMCreate: outdial.Time{Time: parseTime(it.TMCreate)}}
	}
	next := ""
	if more {
		last := strings.TrimPrefix(items[len(items)-1].SK, prefixSuppAddress)
		b, _ := json.Marshal(suppressionCursor{Bucket: SuppressionBucket(last), Address: last})
		next = string(b)
	}
	return list, next, nil
}

// suppressionBucket reads up to limit entries of the customer's bucket b
// in key order, after the key after when that is not "" (strongly
// consistent; a response may stop short at 1 MB, so it reads on).
func (s *Store) suppressionBucket(ctx context.Context, customerID string, b int, after string, limit int) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(suppressionPK(customerID, b)), ":sk": avS(prefixSuppAddress),
		},
		ConsistentRead: aws.Bool(true),
	}
	if after != "" {
		in.ExclusiveStartKey = key(suppressionPK(customerID, b), prefixSuppAddress+after)
	}
	var out []map[string]types.AttributeValue
	for {
		in.Limit = aws.Int32(int32(limit - len(out)))
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, classify("list suppressions", err)
		}
		out = append(out, res.Items...)
		if len(out) >= limit || res.LastEvaluatedKey == nil {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}
