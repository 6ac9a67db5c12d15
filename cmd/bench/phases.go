package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/api"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/outdial"
)

// batchWriteMax is DynamoDB's limit of items per BatchWriteItem.
const batchWriteMax = 25

// sqsBatch is the SQS batch size of the outcome event source mapping.
const sqsBatch = 10

// claimLease is the lease of the bench's claims: long enough that nothing
// expires while the bench runs.
const claimLease = 3600

// env is what every phase uses: one table, one counting client, the real
// store and handlers on top of it.
type env struct {
	client   *dynamodb.Client // plain client, for set-up reads nobody counts
	db       *counting        // the counting wrapper both paths of every phase use
	store    *dynamo.Store
	h        *api.Handlers
	log      *slog.Logger
	table    string
	customer string
	ddbPID   int       // DynamoDB Local's pid when the bench started it, else 0
	progress io.Writer // progress lines (stderr)
}

func newEnv(client *dynamodb.Client, table string, ddbPID int, progress io.Writer) *env {
	db := newCounting(client)
	store := dynamo.New(db, table)
	// The handlers log as in Lambda (JSON), into nothing: formatting costs
	// what it costs there, writing does not depend on the terminal.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	return &env{
		client: client, db: db, store: store, log: log, table: table,
		customer: uuid.NewString(), ddbPID: ddbPID, progress: progress,
		h: &api.Handlers{Store: store, Pages: apigw.NewPageTokens([]byte("bench")), Log: log, Now: time.Now},
	}
}

func (e *env) progressf(format string, args ...any) {
	fmt.Fprintf(e.progress, "bench: "+format+"\n", args...)
}

// request builds an API Gateway event as the authorizer would pass it.
func (e *env) request(outdialID, body string) apigw.Request {
	req := apigw.Request{
		Headers: map[string]string{"content-type": "application/json"},
		Body:    body,
	}
	req.RequestContext.RequestID = uuid.NewString()
	req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		Lambda: map[string]any{"customer_id": e.customer},
	}
	if outdialID != "" {
		req.PathParameters = map[string]string{"id": outdialID}
	}
	return req
}

// createOutdial creates an outdial through the handler and returns its id.
func (e *env) createOutdial(ctx context.Context, name string) (string, error) {
	resp, err := e.h.CreateOutdial(ctx, e.request("", fmt.Sprintf(`{"name":%q}`, name)))
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("create outdial: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	var o struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &o); err != nil {
		return "", fmt.Errorf("create outdial: %w", err)
	}
	return o.ID, nil
}

// targetsBody returns {"targets":[...]} with n distinct phone numbers, each
// with a name, a small data object and try_count_max 3.
func targetsBody(n int) string {
	var b strings.Builder
	b.WriteString(`{"targets":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"destination":{"type":"tel","target":"+1 555 %03d %04d"},"try_count_max":3,"name":"bench target %d","data":"{\"crm_id\":%d}"}`,
			200+i/10000, i%10000, i, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// importResult holds the figures of one import comparison.
type importResult struct {
	N                int
	Handler, Raw     cpuUse
	HandlerC, RawC   counts
	HandlerW, RawW   wcuModel // computed from item sizes
	HandlerOK, RawOK int
	ItemBytes        int           // mean size of a target item
	BeforeWrite      time.Duration // handler time before its first write: decode, validate, marshal
}

// benchImport imports n targets through the handler into a new outdial,
// then writes the same items (re-keyed to a fresh outdial id) with plain
// BatchWriteItem calls, 25 items each, dynamo.ImportConcurrency shards at
// once. It returns the figures and the id of the imported outdial.
func (e *env) benchImport(ctx context.Context, n int) (importResult, string, map[string]int, error) {
	r := importResult{N: n}
	id, err := e.createOutdial(ctx, "bench import")
	if err != nil {
		return r, "", nil, err
	}
	req := e.request(id, targetsBody(n))

	before, mark := e.db.Snapshot(), markCPU(e.ddbPID)
	e.db.ArmFirstWrite()
	resp, err := e.h.AddTargets(ctx, req)
	r.Handler, r.HandlerC = mark.since(e.ddbPID), e.db.Snapshot().Sub(before)
	if fw := e.db.FirstWrite(); !fw.IsZero() {
		r.BeforeWrite = fw.Sub(mark.wall)
	}
	if err != nil || resp.StatusCode != http.StatusOK {
		return r, "", nil, fmt.Errorf("import: %d %.300s %v", resp.StatusCode, resp.Body, err)
	}
	var ir api.ImportResponse
	if err := json.Unmarshal([]byte(resp.Body), &ir); err != nil {
		return r, "", nil, fmt.Errorf("import answer: %w", err)
	}
	if ir.Created != n || ir.Duplicates != 0 || ir.Rejected != 0 {
		return r, "", nil, fmt.Errorf("import: created %d, duplicates %d, rejected %d; want %d, 0, 0 (first rejection: %+v)",
			ir.Created, ir.Duplicates, ir.Rejected, n, first(ir.RejectedTargets))
	}
	r.HandlerOK = ir.Created

	// The same items, under a fresh outdial id.
	items, err := e.scanTargets(ctx, id, "")
	if err != nil {
		return r, "", nil, err
	}
	if len(items) != n {
		return r, "", nil, fmt.Errorf("import: the table holds %d targets of the outdial, want %d", len(items), n)
	}
	sizes := sizesByID(items)
	total := 0
	for _, it := range items {
		total += itemSize(it)
		r.HandlerW = r.HandlerW.add(putCost(itemSize(it), true))
	}
	r.ItemBytes = total / n
	r.HandlerW = r.HandlerW.add(countCost(r.HandlerC.Succeeded("TransactWriteItems")))
	groups := rekeyByPK(items, id, uuid.NewString())
	for _, g := range groups {
		for _, it := range g {
			r.RawW = r.RawW.add(putCost(itemSize(it), false))
		}
	}

	before, mark = e.db.Snapshot(), markCPU(e.ddbPID)
	written, err := e.batchWrite(ctx, groups, dynamo.ImportConcurrency)
	r.Raw, r.RawC, r.RawOK = mark.since(e.ddbPID), e.db.Snapshot().Sub(before), written
	if err != nil {
		return r, "", nil, err
	}
	return r, id, sizes, nil
}

// sizesByID returns the item size of every target item by target id.
func sizesByID(items []map[string]types.AttributeValue) map[string]int {
	out := make(map[string]int, len(items))
	for _, it := range items {
		out[it["id"].(*types.AttributeValueMemberS).Value] = itemSize(it)
	}
	return out
}

func first[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

// scanTargets returns the stored items of the outdial's targets (only
// those in status, when set), read with the plain client.
func (e *env) scanTargets(ctx context.Context, outdialID string, status outdial.Status) ([]map[string]types.AttributeValue, error) {
	filter := "outdial_id = :o AND #t = :target"
	vals := map[string]types.AttributeValue{
		":o": &types.AttributeValueMemberS{Value: outdialID}, ":target": &types.AttributeValueMemberS{Value: "target"},
	}
	names := map[string]string{"#t": "type"}
	if status != "" {
		filter += " AND #st = :st"
		names["#st"] = "status"
		vals[":st"] = &types.AttributeValueMemberS{Value: string(status)}
	}
	p := dynamodb.NewScanPaginator(e.client, &dynamodb.ScanInput{
		TableName: &e.table, FilterExpression: &filter,
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
		ConsistentRead: aws.Bool(true),
	})
	var out []map[string]types.AttributeValue
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan targets: %w", err)
		}
		out = append(out, page.Items...)
	}
	return out, nil
}

// rekeyByPK returns copies of items with every string attribute's oldID
// replaced by newID (the keys, the index key and outdial_id), grouped by
// partition key in first-seen order.
func rekeyByPK(items []map[string]types.AttributeValue, oldID, newID string) [][]map[string]types.AttributeValue {
	var groups [][]map[string]types.AttributeValue
	idx := map[string]int{}
	for _, it := range items {
		cp := make(map[string]types.AttributeValue, len(it))
		for k, v := range it {
			if s, ok := v.(*types.AttributeValueMemberS); ok && strings.Contains(s.Value, oldID) {
				v = &types.AttributeValueMemberS{Value: strings.ReplaceAll(s.Value, oldID, newID)}
			}
			cp[k] = v
		}
		pk := cp["PK"].(*types.AttributeValueMemberS).Value
		i, ok := idx[pk]
		if !ok {
			i = len(groups)
			idx[pk] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], cp)
	}
	return groups
}

// batchWrite puts every group's items with BatchWriteItem, 25 at a time,
// each group's requests in order and conc groups at once, retrying
// unprocessed items. It returns how many items were written.
func (e *env) batchWrite(ctx context.Context, groups [][]map[string]types.AttributeValue, conc int) (int, error) {
	var eg errgroup.Group
	eg.SetLimit(conc)
	written := make([]int, len(groups))
	for i, g := range groups {
		eg.Go(func() error {
			var err error
			written[i], err = e.batchWriteGroup(ctx, g)
			return err
		})
	}
	err := eg.Wait()
	total := 0
	for _, n := range written {
		total += n
	}
	return total, err
}

func (e *env) batchWriteGroup(ctx context.Context, items []map[string]types.AttributeValue) (int, error) {
	written := 0
	for start := 0; start < len(items); start += batchWriteMax {
		chunk := items[start:min(start+batchWriteMax, len(items))]
		reqs := make([]types.WriteRequest, len(chunk))
		for i, it := range chunk {
			reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
		}
		for attempt := 0; len(reqs) > 0; attempt++ {
			if attempt > 0 {
				if attempt > 10 {
					return written, fmt.Errorf("batch write: %d items still unprocessed", len(reqs))
				}
				time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
			}
			out, err := e.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
				RequestItems: map[string][]types.WriteRequest{e.table: reqs},
			})
			if err != nil {
				return written, fmt.Errorf("batch write: %w", err)
			}
			left := out.UnprocessedItems[e.table]
			written += len(reqs) - len(left)
			reqs = left
		}
	}
	return written, nil
}

// latencyResult holds the figures of a repeated call.
type latencyResult struct {
	Lat []time.Duration
	C   counts
	W   wcuModel // computed from item sizes, when the call writes
}

// benchGet calls GET /v1.0/outdials/{id} calls times and checks that the
// answer counts want targets.
func (e *env) benchGet(ctx context.Context, id string, calls, want int) (latencyResult, error) {
	var r latencyResult
	before := e.db.Snapshot()
	for i := 0; i < calls; i++ {
		req := e.request(id, "")
		start := time.Now()
		resp, err := e.h.GetOutdial(ctx, req)
		r.Lat = append(r.Lat, time.Since(start))
		if err != nil || resp.StatusCode != http.StatusOK {
			return r, fmt.Errorf("get outdial: %d %s %v", resp.StatusCode, resp.Body, err)
		}
		if i == 0 {
			var o outdial.Outdial
			if err := json.Unmarshal([]byte(resp.Body), &o); err != nil {
				return r, fmt.Errorf("get outdial answer: %w", err)
			}
			if o.TargetCount != int64(want) {
				return r, fmt.Errorf("get outdial: target_count %d, want %d", o.TargetCount, want)
			}
		}
	}
	r.C = e.db.Snapshot().Sub(before)
	return r, nil
}

// attempt is one claimed target.
type attempt struct {
	TargetID, AttemptID string
}

// benchClaims claims limit targets calls times through POST
// .../targets/claim and returns the latencies and the attempts.
func (e *env) benchClaims(ctx context.Context, id string, calls, limit int) (latencyResult, []attempt, error) {
	var (
		r    latencyResult
		atts []attempt
	)
	body := fmt.Sprintf(`{"limit":%d,"lease_seconds":%d}`, limit, claimLease)
	before := e.db.Snapshot()
	for i := 0; i < calls; i++ {
		req := e.request(id, body)
		start := time.Now()
		resp, err := e.h.ClaimTargets(ctx, req)
		r.Lat = append(r.Lat, time.Since(start))
		if err != nil || resp.StatusCode != http.StatusOK {
			return r, atts, fmt.Errorf("claim: %d %.300s %v", resp.StatusCode, resp.Body, err)
		}
		var got struct {
			Result []struct {
				AttemptID string `json:"attempt_id"`
				Target    struct {
					ID string `json:"id"`
				} `json:"target"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
			return r, atts, fmt.Errorf("claim answer: %w", err)
		}
		if len(got.Result) != limit {
			return r, atts, fmt.Errorf("claim %d: got %d targets, want %d", i, len(got.Result), limit)
		}
		for _, c := range got.Result {
			atts = append(atts, attempt{TargetID: c.Target.ID, AttemptID: c.AttemptID})
		}
	}
	r.C = e.db.Snapshot().Sub(before)
	return r, atts, nil
}

// claimMore claims with the store (uncounted set-up) until atts holds n
// attempts or nothing is left to claim.
func (e *env) claimMore(ctx context.Context, id string, atts []attempt, n int) ([]attempt, error) {
	for len(atts) < n {
		claims, err := e.store.ClaimTargets(ctx, e.customer, id, min(outdial.MaxClaimLimit, n-len(atts)), claimLease*time.Second)
		if err != nil {
			return atts, fmt.Errorf("claim: %w", err)
		}
		if len(claims) == 0 {
			break
		}
		for _, c := range claims {
			atts = append(atts, attempt{TargetID: c.Target.ID, AttemptID: c.AttemptID})
		}
	}
	return atts, nil
}

// outcomeResults is the mix of results the bench reports, by message
// index modulo 10.
var outcomeResults = [sqsBatch]outdial.Result{
	outdial.ResultAnswered, outdial.ResultAnswered, outdial.ResultAnswered, outdial.ResultAnswered,
	outdial.ResultBusy, outdial.ResultBusy,
	outdial.ResultNoAnswer, outdial.ResultNoAnswer,
	outdial.ResultFailed, outdial.ResultInvalid,
}

// outcomeResult holds the figures of the outcome comparison.
type outcomeResult struct {
	N                int
	PerBatch, Lambda int // messages applied at once per batch; batches at once
	Handler, Raw     cpuUse
	HandlerC, RawC   counts
	HandlerW, RawW   wcuModel // computed from item sizes
	Failures         int      // batch item failures the handler reported
}

// benchOutcomes sends one outcome per attempt through
// outcome.Processor.Handle in SQS batches of 10, and applies the same
// outcomes with one conditional UpdateItem each to copies of the dialing
// items under a fresh outdial id, at the same concurrency.
// dialing holds the outdial's dialing items (read before).
func (e *env) benchOutcomes(ctx context.Context, id string, atts []attempt, dialing []map[string]types.AttributeValue, conc int) (outcomeResult, error) {
	perBatch := min(conc, sqsBatch)
	r := outcomeResult{N: len(atts), PerBatch: perBatch, Lambda: max(1, conc/perBatch)}

	// Copies of the dialing items for the plain loop, written before the
	// handler changes the originals.
	items := dialing
	byID := map[string]map[string]types.AttributeValue{}
	for _, it := range items {
		byID[it["id"].(*types.AttributeValueMemberS).Value] = it
	}
	var picked []map[string]types.AttributeValue
	for _, a := range atts {
		it := byID[a.TargetID]
		if it == nil {
			return r, fmt.Errorf("outcomes: claimed target %s is not dialing", a.TargetID)
		}
		picked = append(picked, it)
	}
	copyID := uuid.NewString()
	groups := rekeyByPK(picked, id, copyID)
	if _, err := e.batchWrite(ctx, groups, dynamo.ImportConcurrency); err != nil {
		return r, err
	}
	copies := map[string]map[string]types.AttributeValue{}
	for _, g := range groups {
		for _, it := range g {
			copies[it["id"].(*types.AttributeValueMemberS).Value] = it
		}
	}

	// The SQS batches.
	var batches []events.SQSEvent
	for start := 0; start < len(atts); start += sqsBatch {
		var ev events.SQSEvent
		for i := start; i < min(start+sqsBatch, len(atts)); i++ {
			body, _ := json.Marshal(outcome.Message{
				AttemptID: atts[i].AttemptID, OutdialID: id, TargetID: atts[i].TargetID,
				Result: string(outcomeResults[i%sqsBatch]),
			})
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: uuid.NewString(), Body: string(body), EventSource: "aws:sqs"})
		}
		batches = append(batches, ev)
	}

	// Through the handler: r.Lambda invocations at once, each applying
	// perBatch messages at once.
	proc := &outcome.Processor{Store: e.store, Log: e.log, Concurrency: perBatch}
	var handlers errgroup.Group
	handlers.SetLimit(r.Lambda)
	failures := make([]int, len(batches))
	before, mark := e.db.Snapshot(), markCPU(e.ddbPID)
	for i, ev := range batches {
		handlers.Go(func() error {
			resp, _ := proc.Handle(ctx, ev)
			failures[i] = len(resp.BatchItemFailures)
			return nil
		})
	}
	_ = handlers.Wait()
	r.Handler, r.HandlerC = mark.since(e.ddbPID), e.db.Snapshot().Sub(before)
	for _, n := range failures {
		r.Failures += n
	}

	// The plain loop: the same number of updates in flight.
	var raw errgroup.Group
	raw.SetLimit(r.PerBatch * r.Lambda)
	before, mark = e.db.Snapshot(), markCPU(e.ddbPID)
	for i := range atts {
		raw.Go(func() error {
			return e.rawOutcome(ctx, copies[atts[i].TargetID], atts[i].AttemptID, outcomeResults[i%sqsBatch])
		})
	}
	rawErr := raw.Wait()
	r.Raw, r.RawC = mark.since(e.ddbPID), e.db.Snapshot().Sub(before)
	if rawErr != nil {
		return r, rawErr
	}

	// Capacity from the sizes before and after, on both sides.
	beforeSizes := sizesByID(picked)
	for _, side := range []struct {
		outdialID string
		w         *wcuModel
		tx        bool
	}{{id, &r.HandlerW, true}, {copyID, &r.RawW, false}} {
		after, err := e.scanTargets(ctx, side.outdialID, "")
		if err != nil {
			return r, err
		}
		afterSizes := sizesByID(after)
		for _, a := range atts {
			*side.w = side.w.add(rekeyCost(beforeSizes[a.TargetID], afterSizes[a.TargetID], side.tx))
		}
	}
	r.HandlerW = r.HandlerW.add(countCost(r.HandlerC.Succeeded("TransactWriteItems")))
	return r, nil
}

// rawOutcome applies result to item with one UpdateItem shaped like the
// store's target update: the same SET and REMOVE clauses and the same
// condition (attempt_id = :a AND status = dialing), without the count
// item and without a transaction.
func (e *env) rawOutcome(ctx context.Context, item map[string]types.AttributeValue, attemptID string, result outdial.Result) error {
	num := func(attr string) int64 {
		var n int64
		if v, ok := item[attr].(*types.AttributeValueMemberN); ok {
			fmt.Sscan(v.Value, &n)
		}
		return n
	}
	tryCur, tryMax, dest := num("try_cur"), num("try_max"), num("dest_idx")
	status := outdial.StatusIdle
	switch {
	case result == outdial.ResultAnswered:
		status = outdial.StatusFinished
	case result == outdial.ResultInvalid, tryCur+1 >= tryMax:
		status = outdial.StatusFailed
	}
	gsi := item["GSI1PK"].(*types.AttributeValueMemberS).Value
	gsi = strings.TrimSuffix(gsi, "#"+string(outdial.StatusDialing)) + "#" + string(status)
	now := time.Now().UTC()
	set := fmt.Sprintf("#st = :status, GSI1PK = :gpk, dests[%d].cur = dests[%d].cur + :one, try_cur = try_cur + :one, "+
		"last_result = :r, tm_last_result = :tm, tm_update = :tm, dest_idx = :di", dest, dest)
	if result == outdial.ResultInvalid {
		set += fmt.Sprintf(", dests[%d].exh = :true", dest)
	}
	vals := map[string]types.AttributeValue{
		":a": &types.AttributeValueMemberS{Value: attemptID}, ":dialing": &types.AttributeValueMemberS{Value: string(outdial.StatusDialing)},
		":status": &types.AttributeValueMemberS{Value: string(status)}, ":gpk": &types.AttributeValueMemberS{Value: gsi},
		":one": &types.AttributeValueMemberN{Value: "1"}, ":r": &types.AttributeValueMemberS{Value: string(result)},
		":tm": &types.AttributeValueMemberS{Value: now.Format(time.RFC3339Nano)},
		":di": &types.AttributeValueMemberN{Value: fmt.Sprint(dest)}, ":now": &types.AttributeValueMemberN{Value: fmt.Sprint(now.UnixMilli())},
	}
	if result == outdial.ResultInvalid {
		vals[":true"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	if status == outdial.StatusIdle {
		attr := map[outdial.Result]string{outdial.ResultBusy: "rp_busy", outdial.ResultNoAnswer: "rp_no_answer", outdial.ResultFailed: "rp_failed"}[result]
		set += fmt.Sprintf(", due = :now + %[1]s, GSI1SK = :now + %[1]s", attr)
	} else {
		set += ", due = :now, GSI1SK = :now"
	}
	_, err := e.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &e.table,
		Key:                       map[string]types.AttributeValue{"PK": item["PK"], "SK": item["SK"]},
		UpdateExpression:          aws.String("SET " + set + " REMOVE attempt_id, lease_until"),
		ConditionExpression:       aws.String("attempt_id = :a AND #st = :dialing"),
		ExpressionAttributeNames:  map[string]string{"#st": "status"},
		ExpressionAttributeValues: vals,
	})
	if err != nil {
		return fmt.Errorf("plain outcome update: %w", err)
	}
	return nil
}
