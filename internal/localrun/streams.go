package localrun

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/outdial/outdial/internal/localstack"
)

// StreamPoller feeds the table's DynamoDB Stream to a function like
// Lambda's DynamoDB event source mapping: it reads every shard of the
// stream from the start (TRIM_HORIZON, parents before children), invokes
// the function with batches of up to BatchSize records of one shard
// gathered for up to Window, in the Lambda event's JSON, and on a reported batch item failure
// (ReportBatchItemFailures) invokes it again from the failed record after
// a pause, up to MaxRetries times; then it skips the batch and logs it (the
// deployed mapping sends it to its on-failure destination).
type StreamPoller struct {
	Client     *dynamodbstreams.Client
	StreamARN  string
	Fn         *Function
	BatchSize  int
	Window     time.Duration // MaximumBatchingWindowInSeconds
	MaxRetries int
	Log        *slog.Logger

	done    map[string]bool   // shards read to their end
	lastSeq map[string]string // last sequence number delivered, by shard
}

// NewStreamPoller returns a poller of the stream of table on the DynamoDB
// at endpoint, or an error when the table has no stream.
func NewStreamPoller(ctx context.Context, endpoint, table string, fn *Function, batchSize int, window time.Duration, log *slog.Logger) (*StreamPoller, error) {
	cfg, err := localstack.AWSConfig(ctx)
	if err != nil {
		return nil, err
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return nil, fmt.Errorf("describe table %s: %w", table, err)
	}
	arn := aws.ToString(desc.Table.LatestStreamArn)
	if arn == "" {
		return nil, fmt.Errorf("table %s has no stream (StreamSpecification)", table)
	}
	if batchSize <= 0 {
		batchSize = 100
	}
	return &StreamPoller{
		Client:    dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) { o.BaseEndpoint = aws.String(endpoint) }),
		StreamARN: arn, Fn: fn, BatchSize: batchSize, Window: window, MaxRetries: 10, Log: log, done: map[string]bool{}, lastSeq: map[string]string{},
	}, nil
}

// Run polls until ctx is done.
func (p *StreamPoller) Run(ctx context.Context) {
	iters := map[string]*string{} // open shard iterators by shard id
	lastDescribe := time.Time{}
	for ctx.Err() == nil {
		if time.Since(lastDescribe) > 10*time.Second || len(iters) == 0 {
			p.discover(ctx, iters)
			lastDescribe = time.Now()
		}
		busy := false
		for _, id := range sortedKeys(iters) {
			records, next, ok := p.gather(ctx, id, iters[id])
			if !ok {
				delete(iters, id) // discover resumes after the last record delivered
				continue
			}
			if len(records) > 0 {
				busy = true
				p.deliver(ctx, id, records)
			}
			if next == nil {
				p.done[id] = true
				delete(iters, id)
				continue
			}
			iters[id] = next
		}
		if !busy {
			sleep(ctx, 200*time.Millisecond)
		}
	}
}

// gather reads shard id from it like the event source mapping's batching:
// up to BatchSize records, for up to Window after the first one. It
// returns the records, the next iterator (nil once the shard is closed and
// read) and false when a read failed.
func (p *StreamPoller) gather(ctx context.Context, id string, it *string) ([]stypes.Record, *string, bool) {
	var records []stypes.Record
	var deadline time.Time
	for ctx.Err() == nil && it != nil && len(records) < p.BatchSize {
		res, err := p.Client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(int32(min(1000, p.BatchSize-len(records))))})
		if err != nil {
			if ctx.Err() == nil {
				p.Log.Warn("stream: get records failed; reading the shard again", "shard", id, "err", err)
			}
			if len(records) > 0 {
				p.deliver(ctx, id, records)
			}
			return nil, nil, false
		}
		it = res.NextShardIterator
		if len(records) == 0 && len(res.Records) > 0 {
			deadline = time.Now().Add(p.Window)
		}
		records = append(records, res.Records...)
		if len(records) == 0 || !time.Now().Before(deadline) {
			break
		}
		if len(res.Records) == 0 {
			sleep(ctx, min(50*time.Millisecond, time.Until(deadline)))
		}
	}
	return records, it, true
}

// discover adds an iterator for every shard not read yet whose parent is
// read to its end (or unknown).
func (p *StreamPoller) discover(ctx context.Context, iters map[string]*string) {
	var shards []stypes.Shard
	var start *string
	for {
		res, err := p.Client.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(p.StreamARN), ExclusiveStartShardId: start})
		if err != nil {
			if ctx.Err() == nil {
				p.Log.Warn("stream: describe failed", "err", err)
			}
			return
		}
		shards = append(shards, res.StreamDescription.Shards...)
		if res.StreamDescription.LastEvaluatedShardId == nil {
			break
		}
		start = res.StreamDescription.LastEvaluatedShardId
	}
	known := map[string]bool{}
	for _, s := range shards {
		known[aws.ToString(s.ShardId)] = true
	}
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		if p.done[id] || iters[id] != nil {
			continue
		}
		if parent := aws.ToString(s.ParentShardId); parent != "" && known[parent] && !p.done[parent] {
			continue // its parent first
		}
		in := &dynamodbstreams.GetShardIteratorInput{StreamArn: aws.String(p.StreamARN), ShardId: s.ShardId, ShardIteratorType: stypes.ShardIteratorTypeTrimHorizon}
		if last := p.lastSeq[id]; last != "" {
			in.ShardIteratorType, in.SequenceNumber = stypes.ShardIteratorTypeAfterSequenceNumber, aws.String(last)
		}
		res, err := p.Client.GetShardIterator(ctx, in)
		if err != nil {
			if ctx.Err() == nil {
				p.Log.Warn("stream: shard iterator failed", "shard", id, "err", err)
			}
			continue
		}
		iters[id] = res.ShardIterator
	}
}

// deliver invokes the function with records (of one shard, in order), and
// again from the first failed record while it reports one.
func (p *StreamPoller) deliver(ctx context.Context, shard string, records []stypes.Record) {
	for attempt := 0; len(records) > 0 && ctx.Err() == nil; attempt++ {
		payload, err := lambdaEventJSON(p.StreamARN, records)
		if err != nil {
			p.Log.Error("stream: encode event", "err", err)
			return
		}
		out, err := p.Fn.Invoke(ctx, payload)
		failedAt := -1
		if err != nil {
			p.Log.Error("stream: function error; batch retried", "function", p.Fn.Name, "err", err)
			failedAt = 0
		} else {
			var res struct {
				BatchItemFailures []struct {
					ItemIdentifier string `json:"itemIdentifier"`
				} `json:"batchItemFailures"`
			}
			_ = json.Unmarshal(out, &res)
			for _, f := range res.BatchItemFailures {
				for i, r := range records {
					if aws.ToString(r.Dynamodb.SequenceNumber) == f.ItemIdentifier && (failedAt < 0 || i < failedAt) {
						failedAt = i
					}
				}
			}
		}
		if failedAt < 0 {
			p.noteDelivered(shard, records)
			return
		}
		p.noteDelivered(shard, records[:failedAt])
		records = records[failedAt:]
		if attempt >= p.MaxRetries {
			p.Log.Error("stream: records skipped after retries", "function", p.Fn.Name, "records", len(records))
			p.noteDelivered(shard, records)
			return
		}
		sleep(ctx, time.Duration(attempt+1)*500*time.Millisecond)
	}
}

// noteDelivered remembers the last sequence number delivered per shard,
// so that a shard read again (after a failed GetRecords) resumes after it.
func (p *StreamPoller) noteDelivered(shard string, records []stypes.Record) {
	if len(records) > 0 {
		p.lastSeq[shard] = aws.ToString(records[len(records)-1].Dynamodb.SequenceNumber)
	}
}

// LambdaDynamoDBEvent is records of the dynamodbstreams API as the event
// Lambda's DynamoDB event source mapping hands a function, decoded as the
// function decodes it: what the local runner invokes publish-events with.
func LambdaDynamoDBEvent(arn string, records []stypes.Record) (awsevents.DynamoDBEvent, error) {
	var ev awsevents.DynamoDBEvent
	payload, err := lambdaEventJSON(arn, records)
	if err == nil {
		err = json.Unmarshal(payload, &ev)
	}
	return ev, err
}

// lambdaEventJSON is records in the JSON of Lambda's DynamoDB event.
func lambdaEventJSON(arn string, records []stypes.Record) ([]byte, error) {
	return json.Marshal(map[string]any{"Records": lambdaRecords(arn, records)})
}

// lambdaRecords is records in the JSON of Lambda's DynamoDB event.
func lambdaRecords(arn string, records []stypes.Record) []map[string]any {
	out := make([]map[string]any, len(records))
	for i, r := range records {
		d := r.Dynamodb
		ddb := map[string]any{
			"Keys":           imageJSON(d.Keys),
			"SequenceNumber": aws.ToString(d.SequenceNumber),
			"SizeBytes":      aws.ToInt64(d.SizeBytes),
			"StreamViewType": string(d.StreamViewType),
		}
		if d.ApproximateCreationDateTime != nil {
			ddb["ApproximateCreationDateTime"] = d.ApproximateCreationDateTime.Unix()
		}
		if d.NewImage != nil {
			ddb["NewImage"] = imageJSON(d.NewImage)
		}
		if d.OldImage != nil {
			ddb["OldImage"] = imageJSON(d.OldImage)
		}
		out[i] = map[string]any{
			"eventID": aws.ToString(r.EventID), "eventName": string(r.EventName), "eventVersion": aws.ToString(r.EventVersion),
			"eventSource": "aws:dynamodb", "awsRegion": localstack.Region, "eventSourceARN": arn, "dynamodb": ddb,
		}
	}
	return out
}

func imageJSON(img map[string]stypes.AttributeValue) map[string]any {
	out := make(map[string]any, len(img))
	for k, v := range img {
		out[k] = avJSON(v)
	}
	return out
}

// avJSON is one attribute value in DynamoDB's JSON form ({"S": "x"}).
func avJSON(v stypes.AttributeValue) map[string]any {
	switch v := v.(type) {
	case *stypes.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *stypes.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *stypes.AttributeValueMemberB:
		return map[string]any{"B": base64.StdEncoding.EncodeToString(v.Value)}
	case *stypes.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *stypes.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *stypes.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *stypes.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}
	case *stypes.AttributeValueMemberBS:
		bs := make([]string, len(v.Value))
		for i, b := range v.Value {
			bs[i] = base64.StdEncoding.EncodeToString(b)
		}
		return map[string]any{"BS": bs}
	case *stypes.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = avJSON(e)
		}
		return map[string]any{"L": l}
	case *stypes.AttributeValueMemberM:
		return map[string]any{"M": imageJSON(v.Value)}
	}
	return map[string]any{"NULL": true}
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
