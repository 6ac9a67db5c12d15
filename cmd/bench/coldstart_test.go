package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/dynamotest"
)

// warmStandIn sends every kind of request it has (7, in bursts of 10),
// writes nothing to the stack's table and leaves no table of its own.
func TestWarmStandIn(t *testing.T) {
	client, table := dynamotest.Table(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "bootstrap")
	if err := os.WriteFile(bin, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := warmStandIn(ctx, dynamotest.Endpoint(), table, map[string]string{"f": bin}, 70); err != nil {
		t.Fatalf("warmStandIn: %v", err)
	}
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
	if err := warmStandIn(ctx, dynamotest.Endpoint(), table, map[string]string{"f": bin + ".missing"}, 10); err == nil {
		t.Error("warmStandIn with a bootstrap that does not exist: no error")
	}
}
