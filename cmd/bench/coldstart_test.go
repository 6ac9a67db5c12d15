package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamotest"
)

// warmStandIn sends each kind of request it has, on new connections each
// burst, writes nothing to the stack's table and leaves no table of its
// own. A proxy in front of DynamoDB Local sees the connections, the
// DynamoDB double behind it the requests.
func TestWarmStandIn(t *testing.T) {
	client, table := dynamotest.Table(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	target, err := url.Parse(dynamotest.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	// The proxy sees the connections; it forwards through the DynamoDB
	// double, which counts the requests.
	d := ddbdouble.New(nil, ddbdouble.Config{}) // counters only
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = d
	var (
		mu    sync.Mutex
		conns = map[string]bool{} // client addresses seen
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	defer srv.Close()

	if err := warmStandIn(ctx, srv.URL, table, 70); err != nil {
		t.Fatalf("warmStandIn: %v", err)
	}
	ops := d.Stats("").Requests
	for _, op := range []string{"GetItem", "Query", "BatchGetItem", "PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem"} {
		if ops[op] != 10 {
			t.Errorf("%s: %d requests, want 10 of the 70 (all %v)", op, ops[op], ops)
		}
	}
	mu.Lock()
	if len(conns) < 70/10*2 {
		t.Errorf("%d connections for 7 bursts of 10, want new ones each burst", len(conns))
	}
	mu.Unlock()

	scan, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: &table, Select: types.SelectCount})
	if err != nil {
		t.Fatal(err)
	}
	if scan.Count != 0 {
		t.Errorf("the stack's table holds %d items after the warmup, want none", scan.Count)
	}
	_, err = client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table + "-warmup")})
	var gone *types.ResourceNotFoundException
	if !errors.As(err, &gone) {
		t.Errorf("the warmup's own table: DescribeTable = %v, want it deleted", err)
	}
}
