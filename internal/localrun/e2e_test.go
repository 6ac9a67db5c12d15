package localrun_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/localstack"
)

// The seed's curl bodies, byte for byte.
const (
	seedCreateBody  = `{ "name": "January Leads", "detail": "Sales leads for Q1 campaign" }`
	seedTargetsBody = `{ "targets": [ { "destination": { "type": "tel", "target": "+15551234567" }, "try_count_max": 3 }, { "destination": { "type": "tel", "target": "+15559876543" }, "try_count_max": 3 } ] }`
)

// e2eCSV adds three more targets (tel, sip and email) and one bad row.
const e2eCSV = "destination,name,try_count_max\n" +
	"+15552345678,Jane Doe,3\n" +
	"sip:user@pbx.company.com,PBX,2\n" +
	"jane.doe@example.com,Mail,1\n" +
	"not a destination,Bad,3\n"

// TestEndToEnd drives the whole service through the HTTP server and SQS,
// as a dialer would: create an outdial with the seed's request, import
// targets as JSON and CSV, claim them, report outcomes on the outcome
// queue, and watch the counts settle. Then a malformed message is followed
// to the dead-letter queue.
func TestEndToEnd(t *testing.T) {
	st := startStack(t)
	customer := uuid.NewString()
	tok := st.token(t, customer, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Create the outdial exactly as the seed's curl does (?token=).
	var od outdialJSON
	st.ok(t, request{method: "POST", path: "/v1.0/outdials", token: tok, inQuery: true, body: seedCreateBody}, &od)
	if _, err := uuid.Parse(od.ID); err != nil || od.CustomerID != customer || od.Name != "January Leads" || od.Detail != "Sales leads for Q1 campaign" {
		t.Fatalf("created outdial = %+v", od)
	}
	base := "/v1.0/outdials/" + od.ID

	// Targets: the seed's JSON batch, then CSV, then the JSON batch again.
	var imp importJSON
	st.ok(t, request{method: "POST", path: base + "/targets", token: tok, inQuery: true, body: seedTargetsBody}, &imp)
	if imp.Created != 2 || imp.Duplicates != 0 || imp.Rejected != 0 {
		t.Fatalf("seed import = %+v, want 2 created", imp)
	}
	st.ok(t, request{method: "POST", path: base + "/targets", token: tok, contentType: "text/csv", body: e2eCSV}, &imp)
	if imp.Created != 3 || imp.Rejected != 1 || len(imp.RejectedTargets) != 1 || imp.RejectedTargets[0].Index != 3 {
		t.Fatalf("CSV import = %+v, want 3 created and row 3 rejected", imp)
	}
	st.ok(t, request{method: "POST", path: base + "/targets", token: tok, body: seedTargetsBody}, &imp)
	if imp.Created != 0 || imp.Duplicates != 2 {
		t.Fatalf("repeated seed import = %+v, want 2 duplicates", imp)
	}
	st.ok(t, request{method: "GET", path: base, token: tok}, &od)
	if od.TargetCount != 5 || od.TargetCounts["idle"] != 5 {
		t.Fatalf("after import: target_count %d, counts %v; want 5 idle", od.TargetCount, od.TargetCounts)
	}

	// The seed's "Get Outdial Targets" request (?token=, no parameters).
	var seedList list[targetJSON]
	st.ok(t, request{method: "GET", path: base + "/targets", token: tok, inQuery: true}, &seedList)
	if len(seedList.Result) != 5 || seedList.NextPageToken == "" {
		t.Fatalf("GET targets = %d targets, next_page_token %q; want all 5 on one page, and the token of the empty end page", len(seedList.Result), seedList.NextPageToken)
	}

	// Claim everything.
	var claimed list[claimJSON]
	st.ok(t, request{method: "POST", path: base + "/targets/claim", token: tok, body: `{"limit":100,"lease_seconds":60}`}, &claimed)
	if len(claimed.Result) != 5 {
		t.Fatalf("claimed %d targets, want 5", len(claimed.Result))
	}
	st.ok(t, request{method: "GET", path: base, token: tok}, &od)
	if od.TargetCounts["dialing"] != 5 || od.TargetCounts["idle"] != 0 {
		t.Fatalf("after claim: counts %v, want 5 dialing", od.TargetCounts)
	}

	// Outcomes, chosen per destination, with the target state they lead to.
	plan := map[string]struct{ result, status string }{
		"+15551234567":             {"answered", "finished"},
		"+15559876543":             {"invalid", "failed"}, // no such number: no retry
		"+15552345678":             {"answered", "finished"},
		"sip:user@pbx.company.com": {"invalid", "failed"},
		"jane.doe@example.com":     {"no_answer", "failed"}, // its only try
	}
	sqsClient, err := localstack.SQSClient(ctx, st.SQSEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	queue := st.QueueURL("OutcomeQueue")
	dlq := st.QueueURL("OutcomeDeadLetterQueue")
	if queue == "" || dlq == "" {
		t.Fatalf("queues: outcome %q, dead-letter %q", queue, dlq)
	}
	send := func(body string) {
		t.Helper()
		if _, err := sqsClient.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(body)}); err != nil {
			t.Fatalf("send %s: %v", body, err)
		}
	}
	want := map[string]string{} // target id -> status
	var first string
	for _, c := range claimed.Result {
		p, ok := plan[c.Destination.Target]
		if !ok {
			t.Fatalf("claimed unexpected destination %+v", c.Destination)
		}
		msg, _ := json.Marshal(map[string]string{"attempt_id": c.AttemptID, "outdial_id": od.ID, "target_id": c.Target.ID, "result": p.result})
		send(string(msg))
		if first == "" {
			first = string(msg)
		}
		want[c.Target.ID] = p.status
	}
	send(first) // a duplicate delivery: applied once
	malformed := []string{`{"attempt_id":"not-an-attempt"}`, `this is not JSON`}
	for _, m := range malformed {
		send(m)
	}

	// Wait for the outcomes to be applied.
	deadline := time.Now().Add(20 * time.Second)
	for {
		st.ok(t, request{method: "GET", path: base, token: tok}, &od)
		if od.TargetCounts["finished"]+od.TargetCounts["failed"] == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s, counts are %v; want all 5 finished or failed", od.TargetCounts)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if od.TargetCounts["finished"] != 2 || od.TargetCounts["failed"] != 3 || od.TargetCounts["dialing"] != 0 || od.TargetCounts["idle"] != 0 || od.TargetCount != 5 {
		t.Errorf("final counts %v (target_count %d), want 2 finished, 3 failed", od.TargetCounts, od.TargetCount)
	}

	// The counts agree with the targets themselves: the whole list, page
	// by page, and the list of each status.
	all := listTargets(t, st, tok, base, "", 2)
	if len(all) != 5 {
		t.Fatalf("listed %d targets, want 5", len(all))
	}
	byStatus := map[string]int64{}
	for _, tg := range all {
		byStatus[tg.Status]++
		if tg.Status != want[tg.ID] {
			t.Errorf("target %s (%s) is %s, want %s", tg.ID, tg.Destination.Target, tg.Status, want[tg.ID])
		}
		if tg.TryCountCurrent != 1 {
			t.Errorf("target %s: try_count_current %d, want 1 (the duplicate delivery must not count)", tg.ID, tg.TryCountCurrent)
		}
		if wantResult := plan[tg.Destination.Target].result; tg.LastResult != wantResult {
			t.Errorf("target %s: last_result %q, want %q", tg.ID, tg.LastResult, wantResult)
		}
	}
	for _, s := range []string{"idle", "dialing", "finished", "failed"} {
		if byStatus[s] != od.TargetCounts[s] {
			t.Errorf("%d targets are %s, but target_counts says %d", byStatus[s], s, od.TargetCounts[s])
		}
		if got := int64(len(listTargets(t, st, tok, base, s, 100))); got != od.TargetCounts[s] {
			t.Errorf("GET targets?status=%s lists %d, but target_counts says %d", s, got, od.TargetCounts[s])
		}
	}
	// Nothing is left to claim.
	st.ok(t, request{method: "POST", path: base + "/targets/claim", token: tok, body: `{"limit":100}`}, &claimed)
	if len(claimed.Result) != 0 {
		t.Errorf("claim after the campaign = %d targets, want none", len(claimed.Result))
	}

	// The malformed messages were reported as failures, so they are not
	// deleted: they stay in flight (invisible for the template's 120 s
	// visibility timeout) and nothing reached the dead-letter queue yet.
	// The good ones and the duplicate were deleted.
	waitQueue(t, ctx, sqsClient, queue, 0, len(malformed))
	waitQueue(t, ctx, sqsClient, dlq, 0, 0)

	// The redrive itself: with a 1 s visibility timeout a malformed
	// message comes back at once and, after maxReceiveCount (5) failed
	// receives, the queue parks it in the dead-letter queue.
	if _, err := sqsClient.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{
		QueueUrl: aws.String(queue), Attributes: map[string]string{"VisibilityTimeout": "1"},
	}); err != nil {
		t.Fatal(err)
	}
	poison := fmt.Sprintf(`{"attempt_id":"poison-%d"}`, time.Now().UnixNano())
	start := time.Now()
	send(poison)
	var parked sqstypes.Message
	for parked.Body == nil {
		if time.Since(start) > 45*time.Second {
			t.Fatalf("the malformed message did not reach the dead-letter queue in 45 s")
		}
		res, err := sqsClient.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(dlq), WaitTimeSeconds: 1, MaxNumberOfMessages: 10,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Messages {
			if aws.ToString(m.Body) != poison {
				t.Errorf("dead-letter queue holds an unexpected message %q", aws.ToString(m.Body))
				continue
			}
			parked = m
		}
	}
	t.Logf("malformed message in the dead-letter queue after %v", time.Since(start).Round(100*time.Millisecond))
	if n, _ := strconv.Atoi(parked.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)]); n < 5 {
		t.Errorf("parked message was received %d times before the DLQ, want at least maxReceiveCount (5)", n)
	}

	// Nothing the service logged carries a destination or the token.
	logs := st.Logs()
	if !strings.Contains(logs, `"outcome"`) {
		t.Errorf("the outcome processor logged nothing; is the log capture working?")
	}
	for dest := range plan {
		if strings.Contains(logs, dest) || strings.Contains(logs, strings.TrimPrefix(dest, "+")) {
			t.Errorf("logs contain the destination %s", dest)
		}
	}
	for _, part := range strings.Split(tok, ".") {
		if strings.Contains(logs, part) {
			t.Errorf("logs contain part of the token")
		}
	}
}

// listTargets walks every page of a target list.
func listTargets(t *testing.T, st *stack, tok, base, status string, pageSize int) []targetJSON {
	t.Helper()
	var all []targetJSON
	pageToken := ""
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatal("target list does not end")
		}
		q := "page_size=" + strconv.Itoa(pageSize)
		if status != "" {
			q += "&status=" + status
		}
		if pageToken != "" {
			q += "&page_token=" + pageToken
		}
		var l list[targetJSON]
		st.ok(t, request{method: "GET", path: base + "/targets", token: tok, query: q}, &l)
		all = append(all, l.Result...)
		if l.NextPageToken == "" {
			return all
		}
		pageToken = l.NextPageToken
	}
}

// waitQueue waits (up to 10 s) until queue holds visible messages and
// inFlight invisible ones, as the queue's approximate counts report them.
func waitQueue(t *testing.T, ctx context.Context, client *sqs.Client, queue string, visible, inFlight int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(queue),
			AttributeNames: []sqstypes.QueueAttributeName{
				sqstypes.QueueAttributeNameApproximateNumberOfMessages,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.Atoi(res.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
		nv, _ := strconv.Atoi(res.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
		if v == visible && nv == inFlight {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s holds %d visible and %d in-flight messages, want %d and %d", queue, v, nv, visible, inFlight)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
