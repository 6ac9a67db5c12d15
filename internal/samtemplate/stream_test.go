package samtemplate_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/outdial/outdial/internal/samtemplate"
)

// TestEventPipeline checks the template's event pipeline (issue 15): the
// table's stream carries old and new images; publish-events reads it
// from the start, reports failed records (ReportBatchItemFailures),
// bisects a failing batch and parks what it gave up on in a queue; the
// delivery queue is FIFO (order per customer) with a FIFO dead-letter
// queue that lets the deliverer's own retry window (24 h of backoff, about
// 32 receives) run out first; every queue a function reads has a
// dead-letter queue.
func TestEventPipeline(t *testing.T) {
	tpl := loadRepo(t)
	table := tpl.Resources(samtemplate.TypeTable)["Table"]
	if s, _ := table["StreamSpecification"].(map[string]any); s["StreamViewType"] != "NEW_AND_OLD_IMAGES" {
		t.Errorf("Table: StreamSpecification %v, want StreamViewType NEW_AND_OLD_IMAGES", table["StreamSpecification"])
	}
	queues := tpl.Resources("AWS::SQS::Queue")

	var publish, deliver *samtemplate.Function
	for _, f := range tpl.Functions {
		switch f.Name {
		case "publish-events":
			publish = f
		case "deliver-webhooks":
			deliver = f
		}
	}
	if publish == nil || deliver == nil {
		t.Fatal("template has no publish-events or deliver-webhooks function")
	}

	// publish-events: one DynamoDB event on the table's stream.
	if len(publish.Events) != 1 || publish.Events[0].Type != samtemplate.EventDynamoDB {
		t.Fatalf("publish-events events %+v, want one DynamoDB event", publish.Events)
	}
	p := publish.Events[0].Properties
	if fn, arg, _ := samtemplate.Intrinsic(p["Stream"]); fn != "Fn::GetAtt" || fmt.Sprint(arg) != "Table.StreamArn" && fmt.Sprint(arg) != "[Table StreamArn]" {
		t.Errorf("publish-events: Stream %v, want !GetAtt Table.StreamArn", p["Stream"])
	}
	for k, want := range map[string]any{"StartingPosition": "TRIM_HORIZON", "BisectBatchOnFunctionError": true} {
		if p[k] != want {
			t.Errorf("publish-events: %s = %v, want %v", k, p[k], want)
		}
	}
	if !hasString(p["FunctionResponseTypes"], "ReportBatchItemFailures") {
		t.Errorf("publish-events: FunctionResponseTypes %v, want ReportBatchItemFailures", p["FunctionResponseTypes"])
	}
	if n, ok := p["MaximumRetryAttempts"].(int); !ok || n < 1 {
		t.Errorf("publish-events: MaximumRetryAttempts %v, want a bounded number of retries", p["MaximumRetryAttempts"])
	}
	dc, _ := p["DestinationConfig"].(map[string]any)
	onFailure, _ := dc["OnFailure"].(map[string]any)
	if q := refOf(onFailure["Destination"]); queues[q] == nil || onFailure["Type"] != "SQS" {
		t.Errorf("publish-events: on-failure destination %v, want a queue of the template", onFailure)
	}

	// deliver-webhooks: the FIFO delivery queue, item failures reported.
	if len(deliver.Events) != 1 || deliver.Events[0].Type != samtemplate.EventSQS {
		t.Fatalf("deliver-webhooks events %+v, want one SQS event", deliver.Events)
	}
	d := deliver.Events[0].Properties
	if !hasString(d["FunctionResponseTypes"], "ReportBatchItemFailures") {
		t.Errorf("deliver-webhooks: FunctionResponseTypes %v, want ReportBatchItemFailures", d["FunctionResponseTypes"])
	}
	dq := queues[refOf(d["Queue"])]
	if dq == nil || dq["FifoQueue"] != true {
		t.Fatalf("deliver-webhooks reads %v, want a FIFO queue of the template", d["Queue"])
	}
	if vt, _ := dq["VisibilityTimeout"].(int); vt < 6*deliver.Timeout {
		t.Errorf("delivery queue: VisibilityTimeout %v, want at least 6 x the function's %d s", dq["VisibilityTimeout"], deliver.Timeout)
	}
	rp, _ := dq["RedrivePolicy"].(map[string]any)
	if dlq := queues[refOf(rp["deadLetterTargetArn"])]; dlq == nil || dlq["FifoQueue"] != true {
		t.Errorf("delivery queue: dead-letter queue %v, want a FIFO queue of the template", rp["deadLetterTargetArn"])
	}
	if n, _ := rp["maxReceiveCount"].(int); n <= 32 {
		t.Errorf("delivery queue: maxReceiveCount %v, want more than the ~32 receives of 24 h of backoff", rp["maxReceiveCount"])
	}

	// Every queue a function reads has a dead-letter queue.
	for _, f := range tpl.Functions {
		for _, e := range f.Events {
			if e.Type != samtemplate.EventSQS {
				continue
			}
			q := queues[refOf(e.Properties["Queue"])]
			if rp, _ := q["RedrivePolicy"].(map[string]any); queues[refOf(rp["deadLetterTargetArn"])] == nil {
				t.Errorf("%s reads a queue without a dead-letter queue", f.Name)
			}
		}
	}
}

// refOf returns the logical id !Ref X or !GetAtt X.Attr points at.
func refOf(v any) string {
	fn, arg, ok := samtemplate.Intrinsic(v)
	if !ok {
		return ""
	}
	switch a := arg.(type) {
	case string:
		if fn == "Fn::GetAtt" {
			for i := range a {
				if a[i] == '.' {
					return a[:i]
				}
			}
		}
		return a
	case []any:
		if len(a) > 0 {
			s, _ := a[0].(string)
			return s
		}
	}
	return ""
}

func hasString(v any, want string) bool {
	l, _ := v.([]any)
	return slices.ContainsFunc(l, func(e any) bool { return e == want })
}
