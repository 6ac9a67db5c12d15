package localrun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localrun"
)

// TestStreamPollerFeedsEveryChangeInOrder: the local stand-in for the
// DynamoDB event source mapping reads the table's stream on DynamoDB
// Local and hands a function every change, in order, in Lambda's event
// JSON (old and new images), and again from a record the function reports
// as failed.
func TestStreamPollerFeedsEveryChangeInOrder(t *testing.T) {
	client, table := dynamotest.StreamTable(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var mu sync.Mutex
	var seen []string
	failOnce := true
	fn := &localrun.Function{Name: "publish-events", Timeout: 10 * time.Second, Handler: lambda.NewHandler(
		func(ctx context.Context, ev awsevents.DynamoDBEvent) (awsevents.DynamoDBEventResponse, error) {
			mu.Lock()
			defer mu.Unlock()
			var res awsevents.DynamoDBEventResponse
			for _, r := range ev.Records {
				n := r.Change.NewImage["n"].Number()
				if r.EventName == "MODIFY" && n == "3" && failOnce {
					failOnce = false
					res.BatchItemFailures = append(res.BatchItemFailures, awsevents.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
					return res, nil
				}
				old := ""
				if r.Change.OldImage != nil {
					old = r.Change.OldImage["n"].Number()
				}
				seen = append(seen, fmt.Sprintf("%s %s->%s", r.EventName, old, n))
			}
			return res, nil
		})}
	p, err := localrun.NewStreamPoller(ctx, dynamotest.Endpoint(), table, fn, 2, 0, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); p.Run(runCtx) }()
	defer func() { stop(); <-done }()

	put := func(n int) {
		_, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "STREAMTEST"}, "SK": &types.AttributeValueMemberS{Value: "x"},
			"n": &types.AttributeValueMemberN{Value: fmt.Sprint(n)},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for n := 1; n <= 5; n++ {
		put(n)
	}
	want := []string{"INSERT ->1", "MODIFY 1->2", "MODIFY 2->3", "MODIFY 3->4", "MODIFY 4->5"}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := append([]string(nil), seen...)
		mu.Unlock()
		if len(got) >= len(want) || time.Now().After(deadline) {
			b, _ := json.Marshal(got)
			if string(b) != mustJSONString(want) {
				t.Fatalf("changes seen %s, want %s", b, mustJSONString(want))
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustJSONString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
