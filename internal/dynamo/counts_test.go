package dynamo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outdial"
)

// TestReadsOfCountsAreBounded: GET of one outdial is one request however
// many slots its writers used, and a list page reads at most 2 read units
// per row (it must not read every count item of every row at full price),
// measured by the DynamoDB double from what DynamoDB Local reports.
func TestReadsOfCountsAreBounded(t *testing.T) {
	base, table := dynamotest.Table(t)
	d := ddbdouble.New(nil, ddbdouble.Config{}) // no latency, no budgets: counters only
	client := dynamodb.New(base.Options(), func(o *dynamodb.Options) { o.HTTPClient = d.Client() })
	ctx := context.Background()
	customer := uuid.NewString()
	const rows = 8
	var ids []string
	for i := range rows {
		id, _ := uuid.NewV7()
		ids = append(ids, id.String())
		now := time.Now()
		s := dynamo.New(client, table)
		if err := s.CreateOutdial(ctx, &outdial.Outdial{ID: id.String(), CustomerID: customer, Name: fmt.Sprint("row ", i),
			RetryPolicy: outdial.DefaultRetryPolicy(), TMCreate: outdial.Time{Time: now}, TMUpdate: outdial.Time{Time: now}}); err != nil {
			t.Fatal(err)
		}
		// Several writers (stores) each leave a slot owned, with counts
		// of a few digits.
		for w := range 4 {
			var nts []*outdial.NewTarget
			for j := range 60 {
				nts = append(nts, &outdial.NewTarget{Destinations: []outdial.TargetDestination{telDest(w*1000+j, 3)}})
			}
			if _, err := dynamo.New(client, table).AddTargets(ctx, customer, id.String(), "", nts); err != nil {
				t.Fatal(err)
			}
		}
	}

	before := d.Stats("")
	o, err := dynamo.New(client, table).GetOutdial(ctx, customer, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	got := d.Stats("").Sub(before)
	if o.Counts.Idle != 240 || got.Total() != 1 {
		t.Errorf("GET: counts %+v in %d requests (%v); want 240 idle in 1 request", o.Counts, got.Total(), got.Requests)
	}

	before = d.Stats("")
	list, _, err := dynamo.New(client, table).ListOutdials(ctx, customer, false, outdial.Page{Size: 100})
	if err != nil {
		t.Fatal(err)
	}
	got = d.Stats("").Sub(before)
	if len(list) != rows {
		t.Fatalf("listed %d outdials, want %d", len(list), rows)
	}
	for _, o := range list {
		if o.Counts.Idle != 240 {
			t.Errorf("list row %s: counts %+v, want 240 idle", o.ID, o.Counts)
		}
	}
	perRow := got.ReadUnits / rows
	t.Logf("list of %d rows: %.2f read units a row, %d requests", rows, perRow, got.Total())
	if perRow > 2 {
		t.Errorf("a list page read %.2f read units per row, want at most 2", perRow)
	}
}
