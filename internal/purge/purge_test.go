package purge_test

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/purge"
)

// fakeStore records purges; the store itself is tested on DynamoDB Local
// (dynamo.TestPurgeTargets). Here only the batch bookkeeping matters.
type fakeStore struct {
	purged []string
	fail   map[string]error
}

func (f *fakeStore) PurgeTargets(_ context.Context, _, outdialID string) (int, error) {
	if err := f.fail[outdialID]; err != nil {
		return 0, err
	}
	f.purged = append(f.purged, outdialID)
	return 7, nil
}

func TestHandleReportsOnlyFailedMessages(t *testing.T) {
	const (
		cust    = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"
		done    = "018f6b2e-8c1a-7d3e-9f00-000000000001"
		waiting = "018f6b2e-8c1a-7d3e-9f00-000000000002"
	)
	store := &fakeStore{fail: map[string]error{
		waiting: outdial.Errorf(outdial.ECodeFailedPrecondition, "still exists"),
	}}
	var logs bytes.Buffer
	p := &purge.Processor{Store: store, Log: slog.New(slog.NewJSONHandler(&logs, nil))}
	msg := func(id, body string) events.SQSMessage { return events.SQSMessage{MessageId: id, Body: body} }
	res, err := p.Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{
		msg("ok", `{"customer_id":"`+cust+`","outdial_id":"`+done+`"}`),
		msg("early", `{"customer_id":"`+cust+`","outdial_id":"`+waiting+`"}`),
		msg("junk", `not json`),
		msg("bad-id", `{"customer_id":"`+cust+`","outdial_id":"x"}`),
		// The one strict decoder: the last of two outdial_id keys must not
		// silently win (the purge would delete another outdial's targets).
		msg("twice", `{"customer_id":"`+cust+`","outdial_id":"`+waiting+`","outdial_id":"`+done+`"}`),
	}})
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	var failed []string
	for _, f := range res.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if want := []string{"early", "junk", "bad-id", "twice"}; !slices.Equal(failed, want) {
		t.Errorf("failed = %v, want %v", failed, want)
	}
	if len(store.purged) != 1 || store.purged[0] != done {
		t.Errorf("purged %v, want [%s]", store.purged, done)
	}
	if bytes.Contains(logs.Bytes(), []byte("not json")) {
		t.Errorf("the log repeats a message body: %s", logs.String())
	}
}
