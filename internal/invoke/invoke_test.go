package invoke_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/invoke"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/samtemplate"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }

// httpAnswer checks an API Gateway payload 2.0 response: status, a JSON
// body, and for an error the envelope's code.
func httpAnswer(t *testing.T, payload []byte, wantStatus int, wantCode string) map[string]any {
	t.Helper()
	var res events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &res); err != nil {
		t.Fatalf("not an HTTP response: %v\n%s", err, payload)
	}
	if res.StatusCode != wantStatus {
		t.Fatalf("statusCode %d, want %d; body %s", res.StatusCode, wantStatus, res.Body)
	}
	if got := res.Headers["Content-Type"]; got != "application/json" {
		t.Errorf("Content-Type %q, want application/json", got)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(res.Body), &body); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, res.Body)
	}
	if wantCode != "" {
		e, _ := body["error"].(map[string]any)
		if got := e["code"]; got != wantCode {
			t.Errorf("error code %v, want %s; body %s", got, wantCode, res.Body)
		}
	}
	return body
}

// batchFailures checks an SQS batch response and returns the ids of the
// failed messages.
func batchFailures(t *testing.T, payload []byte) []string {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(payload, &raw); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, payload)
	}
	if _, ok := raw["batchItemFailures"]; !ok {
		t.Fatalf("no batchItemFailures in %s", payload)
	}
	var res events.SQSEventResponse
	if err := json.Unmarshal(payload, &res); err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, f := range res.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

// leaseSweep checks the report of an expire-leases run that had nothing to
// expire.
func leaseSweep(t *testing.T, payload []byte) {
	t.Helper()
	var rep dynamo.LeaseSweep
	dec := json.NewDecoder(strings.NewReader(string(payload)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("not a lease sweep report: %v\n%s", err, payload)
	}
	if rep.Minutes < 1 || rep.Expired != 0 || rep.Failed != 0 {
		t.Errorf("sweep %+v, want at least a minute read, nothing expired, nothing failed", rep)
	}
}

// expectation is what one function must answer to its sample event, in the
// order the functions are invoked (each sees what the earlier ones did to
// the table).
type expectation struct {
	name  string // function name (functions/<name>)
	check func(t *testing.T, payload []byte)
	// warm, when set, is the event of a second invoke of the same
	// emulator (default: the sample event again) and checkWarm its answer.
	warm      func(t *testing.T, event []byte) []byte
	checkWarm func(t *testing.T, payload []byte)
}

// figures are one function's measurements.
type figures struct {
	name                   string
	size                   int64
	ready, cold, coldTotal time.Duration
	rieDuration, warm      time.Duration
}

// TestInvokeEveryFunction builds every function of the template for this
// machine and invokes each once with its events/ payload under the Runtime
// Interface Emulator, with the template's environment, against DynamoDB
// Local and the SQS stand-in; then once more warm. The sample events'
// outdial is created first, so the HTTP functions answer from real data.
func TestInvokeEveryFunction(t *testing.T) {
	dynamotest.SkipShort(t, "the Runtime Interface Emulator, bootstrap builds, DynamoDB Local and fauxqs")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := samtemplate.LoadRoot(root)
	if err != nil {
		t.Fatal(err)
	}

	// The emulator, the bootstraps and the stand-ins.
	started := time.Now()
	rie, err := invoke.InstallRIE(ctx, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	rieVersion, err := invoke.RIEVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("emulator %s at %s ready in %s", rie, rieVersion, time.Since(started).Round(time.Millisecond))
	var fns []*samtemplate.Function
	for _, id := range slices.Sorted(maps.Keys(tpl.Functions)) {
		fns = append(fns, tpl.Functions[id])
	}
	started = time.Now()
	bootstraps, err := invoke.Build(ctx, root, t.TempDir(), fns...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %d bootstraps in %s", len(bootstraps), time.Since(started).Round(time.Millisecond))

	table := "invoke-" + uuid.NewString()[:8]
	st, err := invoke.StartStack(ctx, invoke.StackOptions{
		Root: root, Template: tpl, TableName: table,
		DynamoDBEndpoint: dynamotest.Endpoint(),
		SQS:              true, SQSEndpoint: os.Getenv(localstack.EnvSQSEndpoint),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}()
	db := dynamotest.Client(t)
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})

	// The outdial the sample events name.
	now := outdial.Time{Time: time.Now().UTC()}
	if err := dynamo.New(db, table).CreateOutdial(ctx, &outdial.Outdial{
		ID: samtemplate.EventOutdialID, CustomerID: samtemplate.EventCustomerID, Name: "Sample events' outdial",
		RetryPolicy: outdial.DefaultRetryPolicy(), TMCreate: now, TMUpdate: now,
	}); err != nil {
		t.Fatal(err)
	}
	// The sample get-target and delete-target events name a fixed target
	// id; target ids are derived under each outdial's secret id key, so no
	// target the sample add-targets event creates has it.
	targetStatus, targetCode := 404, "not_found"

	// The webhook secrets answered so far, and the messages on the
	// delivery queue (nothing consumes it here).
	var secrets []string
	rotated := func(t *testing.T, b map[string]any) {
		t.Helper()
		got := fmt.Sprint(b["secret"])
		if !secretRE.MatchString(got) || slices.Contains(secrets, got) {
			t.Errorf("rotate answered secret %.12s..., want a new one", got)
		}
		secrets = append(secrets, got)
	}
	queued := func(t *testing.T) int {
		t.Helper()
		return queueDepth(t, ctx, st.SQSEndpoint, st.QueueURLs["DeliveryQueue"])
	}
	field := func(m map[string]any, k string) string { return fmt.Sprint(m[k]) }
	count := func(m map[string]any, k string) int { l, _ := m[k].([]any); return len(l) }
	number := func(m map[string]any, k string) float64 {
		if n, ok := m[k].(float64); ok {
			return n
		}
		return -1
	}
	expectations := []expectation{
		{name: "authorizer", check: func(t *testing.T, p []byte) {
			var res events.APIGatewayV2CustomAuthorizerSimpleResponse
			if err := json.Unmarshal(p, &res); err != nil {
				t.Fatal(err)
			}
			if !res.IsAuthorized || res.Context["customer_id"] != samtemplate.EventCustomerID {
				t.Errorf("authorizer answered %s, want isAuthorized with customer_id %s", p, samtemplate.EventCustomerID)
			}
		}},
		{name: "create-outdial", check: func(t *testing.T, p []byte) {
			b := httpAnswer(t, p, 200, "")
			if got := field(b, "customer_id"); got != samtemplate.EventCustomerID {
				t.Errorf("customer_id %s, want the authorizer context's %s", got, samtemplate.EventCustomerID)
			}
		}},
		{name: "list-outdials", check: func(t *testing.T, p []byte) {
			b := httpAnswer(t, p, 200, "")
			// create-outdial ran twice (cold and warm).
			if !strings.Contains(string(p), samtemplate.EventOutdialID) || count(b, "result") != 3 {
				t.Errorf("want the sample outdial and the two created ones; got %s", p)
			}
		}},
		{name: "get-outdial", check: func(t *testing.T, p []byte) {
			if got := field(httpAnswer(t, p, 200, ""), "id"); got != samtemplate.EventOutdialID {
				t.Errorf("id %s, want %s", got, samtemplate.EventOutdialID)
			}
		}},
		{name: "update-outdial", check: func(t *testing.T, p []byte) {
			if got := field(httpAnswer(t, p, 200, ""), "name"); got != "January Leads (revised)" {
				t.Errorf("name %q after the update", got)
			}
		}},
		{name: "update-outdial-campaign", check: func(t *testing.T, p []byte) {
			if got := field(httpAnswer(t, p, 200, ""), "campaign_id"); got != "5e8a2b1c-3d4f-4a6b-8c9d-0e1f2a3b4c5d" {
				t.Errorf("campaign_id %q after the update", got)
			}
		}},
		{name: "update-outdial-data", check: func(t *testing.T, p []byte) {
			// data is text, as in VoIPBIN.
			if got, _ := httpAnswer(t, p, 200, "")["data"].(string); got != "source=crm-export;priority=2" {
				t.Errorf("data %q after the update, want the fixture's text", got)
			}
		}},
		{name: "add-targets", check: func(t *testing.T, p []byte) {
			if got := field(httpAnswer(t, p, 200, ""), "created"); got != "2" {
				t.Errorf("created %s, want 2: %s", got, p)
			}
		}, checkWarm: func(t *testing.T, p []byte) {
			if got := field(httpAnswer(t, p, 200, ""), "duplicates"); got != "2" {
				t.Errorf("the same import again: duplicates %s, want 2: %s", got, p)
			}
		}},
		{name: "list-targets", check: func(t *testing.T, p []byte) {
			if got := count(httpAnswer(t, p, 200, ""), "result"); got != 2 {
				t.Errorf("%d idle targets, want 2: %s", got, p)
			}
		}},
		{name: "get-target", check: func(t *testing.T, p []byte) { httpAnswer(t, p, targetStatus, targetCode) }},
		{name: "claim-targets", check: func(t *testing.T, p []byte) {
			if got := count(httpAnswer(t, p, 200, ""), "result"); got != 2 {
				t.Errorf("claimed %d targets, want 2: %s", got, p)
			}
		}},
		{name: "process-outcomes",
			// The sample outcome names an attempt the target is not on:
			// acknowledged, nothing to redeliver.
			check: func(t *testing.T, p []byte) {
				if got := batchFailures(t, p); len(got) != 0 {
					t.Errorf("batchItemFailures %v for a stale outcome, want none", got)
				}
			},
			// A malformed message is reported, so that it reaches the DLQ.
			warm: func(t *testing.T, ev []byte) []byte {
				var sqsEv events.SQSEvent
				if err := json.Unmarshal(ev, &sqsEv); err != nil {
					t.Fatal(err)
				}
				sqsEv.Records[0].Body = `{"attempt_id": 42}`
				b, err := json.Marshal(sqsEv)
				if err != nil {
					t.Fatal(err)
				}
				return b
			},
			checkWarm: func(t *testing.T, p []byte) {
				if got, want := batchFailures(t, p), []string{"059f36b4-87a3-44ab-83d2-661975830a7d"}; !slices.Equal(got, want) {
					t.Errorf("batchItemFailures %v for a malformed message, want %v", got, want)
				}
			}},
		// The sweep: the leases claim-targets just granted are far from
		// their end plus the grace, so nothing expires; it runs cleanly.
		{name: "expire-leases", check: func(t *testing.T, p []byte) { leaseSweep(t, p) }},
		// The suppression list of the sample customer: added (again when
		// warm: nothing new), checked, listed, deleted (nothing left the
		// second time).
		{name: "add-suppressions", check: func(t *testing.T, p []byte) {
			if b := httpAnswer(t, p, 200, ""); number(b, "added") < 1 {
				t.Errorf("added %v, want the sample's addresses: %s", b["added"], p)
			}
		}, checkWarm: func(t *testing.T, p []byte) {
			if b := httpAnswer(t, p, 200, ""); number(b, "added") != 0 || number(b, "existing") < 1 {
				t.Errorf("the same addresses again: added %v existing %v, want 0 and the sample's: %s", b["added"], b["existing"], p)
			}
		}},
		{name: "check-suppressions", check: func(t *testing.T, p []byte) {
			if _, ok := httpAnswer(t, p, 200, "")["suppressed"].([]any); !ok {
				t.Errorf("no suppressed list: %s", p)
			}
		}},
		{name: "list-suppressions", check: func(t *testing.T, p []byte) {
			if got := count(httpAnswer(t, p, 200, ""), "result"); got < 1 {
				t.Errorf("%d suppressions listed, want those add-suppressions added: %s", got, p)
			}
		}},
		{name: "delete-suppressions", check: func(t *testing.T, p []byte) {
			if _, ok := httpAnswer(t, p, 200, "")["deleted"].(float64); !ok {
				t.Errorf("no deleted count: %s", p)
			}
		}, checkWarm: func(t *testing.T, p []byte) {
			if got := number(httpAnswer(t, p, 200, ""), "deleted"); got != 0 {
				t.Errorf("the same addresses again: deleted %v, want 0: %s", got, p)
			}
		}},
		{name: "delete-target", check: func(t *testing.T, p []byte) { httpAnswer(t, p, targetStatus, targetCode) }},
		// No target has failed: nothing to delete, and nothing left.
		{name: "delete-targets", check: func(t *testing.T, p []byte) {
			if b := httpAnswer(t, p, 200, ""); number(b, "deleted") != 0 || b["more"] != false {
				t.Errorf("deleted %v more %v, want 0 and false (no failed target): %s", b["deleted"], b["more"], p)
			}
		}},
		// Archive twice (idempotent), then restore twice, so that the
		// outdial is active again for delete-outdial.
		{name: "archive-outdial", check: func(t *testing.T, p []byte) {
			if b := httpAnswer(t, p, 200, ""); b["archived"] != true || field(b, "tm_archive") == "<nil>" {
				t.Errorf("archived %v tm_archive %v, want true and a time: %s", b["archived"], b["tm_archive"], p)
			}
		}, checkWarm: func(t *testing.T, p []byte) {
			if b := httpAnswer(t, p, 200, ""); b["archived"] != true {
				t.Errorf("archiving again: archived %v, want true: %s", b["archived"], p)
			}
		}},
		{name: "restore-outdial", check: func(t *testing.T, p []byte) {
			if b := httpAnswer(t, p, 200, ""); b["archived"] != false || b["tm_archive"] != nil {
				t.Errorf("archived %v tm_archive %v, want false and null: %s", b["archived"], b["tm_archive"], p)
			}
		}},
		{name: "delete-outdial", check: func(t *testing.T, p []byte) {
			if got := field(httpAnswer(t, p, 200, ""), "id"); got != samtemplate.EventOutdialID {
				t.Errorf("deleted %s, want %s", got, samtemplate.EventOutdialID)
			}
		}, checkWarm: func(t *testing.T, p []byte) { httpAnswer(t, p, 404, "not_found") }},
		{name: "purge-targets", check: func(t *testing.T, p []byte) {
			if got := batchFailures(t, p); len(got) != 0 {
				t.Errorf("batchItemFailures %v purging a deleted outdial, want none", got)
			}
		}},
		// The sample customer's webhook (issue 15): set (its secret kept
		// when set again), read without the secret, rotated (a new secret
		// each time), pinged (two pings on the delivery queue), deleted
		// (then 404).
		{name: "put-webhook", check: func(t *testing.T, p []byte) {
			b := httpAnswer(t, p, 200, "")
			if field(b, "uri") != "https://hooks.example.com/outdial" || count(b, "event_types") != 2 || !secretRE.MatchString(field(b, "secret")) {
				t.Errorf("PUT answered %s, want the sample's uri and two types, with a secret", p)
			}
			secrets = append(secrets, field(b, "secret"))
		}, checkWarm: func(t *testing.T, p []byte) {
			if got := field(httpAnswer(t, p, 200, ""), "secret"); len(secrets) != 1 || got != secrets[0] {
				t.Errorf("the same PUT again answered secret %.12s..., want the first one kept", got)
			}
		}},
		{name: "get-webhook", check: func(t *testing.T, p []byte) {
			b := httpAnswer(t, p, 200, "")
			if _, ok := b["secret"]; ok || field(b, "uri") != "https://hooks.example.com/outdial" || count(b, "event_types") != 2 {
				t.Errorf("GET answered %s, want the webhook without its secret", p)
			}
		}},
		{name: "rotate-webhook", check: func(t *testing.T, p []byte) {
			rotated(t, httpAnswer(t, p, 200, ""))
		}, checkWarm: func(t *testing.T, p []byte) {
			rotated(t, httpAnswer(t, p, 200, ""))
		}},
		{name: "test-webhook", check: func(t *testing.T, p []byte) {
			if b := httpAnswer(t, p, 202, ""); b["queued"] != true || field(b, "event_id") == "" {
				t.Errorf("test answered %s, want queued and an event id", p)
			}
		}, checkWarm: func(t *testing.T, p []byte) {
			httpAnswer(t, p, 202, "")
			if got := queued(t); got != 2 {
				t.Errorf("%d messages on the delivery queue after two tests, want the two pings", got)
			}
		}},
		{name: "delete-webhook", check: func(t *testing.T, p []byte) {
			if b := httpAnswer(t, p, 200, ""); field(b, "uri") != "https://hooks.example.com/outdial" {
				t.Errorf("DELETE answered %s, want the webhook deleted", p)
			}
		}, checkWarm: func(t *testing.T, p []byte) { httpAnswer(t, p, 404, "not_found") }},
		// The sample delivery (a ping) for a customer who has no webhook
		// any more is dropped: acknowledged, nothing to retry.
		{name: "deliver-webhooks", check: func(t *testing.T, p []byte) {
			if got := batchFailures(t, p); len(got) != 0 {
				t.Errorf("batchItemFailures %v for a delivery to a customer without a webhook, want none (dropped)", got)
			}
		}},
		// The sample stream record renames the sample outdial, deleted by
		// now, of a customer without a webhook: no delivery, and nothing
		// to retry.
		{name: "publish-events", check: func(t *testing.T, p []byte) {
			streamFailures(t, p)
		}, checkWarm: func(t *testing.T, p []byte) {
			streamFailures(t, p)
			if got := queued(t); got != 2 {
				t.Errorf("%d messages on the delivery queue after publish-events, want only test-webhook's two pings", got)
			}
		}},
	}

	// Every function of the template has an expectation, and only those.
	var want, got []string
	for _, f := range fns {
		want = append(want, f.Name)
	}
	for _, e := range expectations {
		got = append(got, e.name)
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("expectations for %v\nbut the template's functions are %v", got, want)
	}

	byName := map[string]*samtemplate.Function{}
	for _, f := range fns {
		byName[f.Name] = f
	}
	var figs []figures
	for _, e := range expectations {
		fn := byName[e.name]
		ok := t.Run(fn.LogicalID, func(t *testing.T) {
			env, err := st.Env(fn)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(samtemplate.EventPath(root, fn.Name))
			if err != nil {
				t.Fatal(err)
			}
			ev, err := st.Event(raw)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(ev), samtemplate.TokenPlaceholder) {
				t.Fatal("the token placeholder is still in the event")
			}
			s, err := invoke.Start(ctx, invoke.Options{
				RIE: rie, Bootstrap: bootstraps[fn.Name], Env: env,
				Timeout: time.Duration(fn.Timeout) * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Stop()
			cold, err := s.Invoke(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if cold.Status != 200 {
				t.Fatalf("the emulator answered %d: %s\noutput:\n%s", cold.Status, cold.Payload, s.Output())
			}
			e.check(t, cold.Payload)
			if e.warm != nil {
				ev = e.warm(t, ev)
			}
			warm, err := s.Invoke(ctx, ev)
			if err != nil {
				t.Fatal(err)
			}
			if warm.Status != 200 {
				t.Fatalf("the emulator answered %d to the second invoke: %s\noutput:\n%s", warm.Status, warm.Payload, s.Output())
			}
			if warm.ColdStart != 0 {
				t.Errorf("the second invoke reports a cold start")
			}
			if e.checkWarm != nil {
				e.checkWarm(t, warm.Payload)
			}
			if t.Failed() {
				t.Logf("output of the emulator and the function:\n%s", s.Output())
			}
			info, err := os.Stat(bootstraps[fn.Name])
			if err != nil {
				t.Fatal(err)
			}
			figs = append(figs, figures{
				name: fn.Name, size: info.Size(), ready: s.Ready, cold: cold.Latency, coldTotal: cold.ColdStart,
				rieDuration: cold.Duration, warm: warm.Latency,
			})
		})
		if !ok && ctx.Err() != nil {
			break
		}
	}

	// The figures.
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
	var b strings.Builder
	fmt.Fprintf(&b, "cold start under aws-lambda-rie %s (ms; process start -> first response = ready + cold invoke):\n", rieVersion)
	fmt.Fprintf(&b, "%-26s %10s %8s %8s %10s %8s %8s\n", "function", "bytes", "ready", "invoke", "cold total", "rie dur", "warm")
	for _, f := range figs {
		fmt.Fprintf(&b, "%-26s %10d %8s %8s %10s %8s %8s\n", f.name, f.size, ms(f.ready), ms(f.cold), ms(f.coldTotal), ms(f.rieDuration), ms(f.warm))
	}
	t.Log(b.String())
}

// streamFailures checks a DynamoDB stream batch response reports no
// failure.
func streamFailures(t *testing.T, payload []byte) {
	t.Helper()
	var res events.DynamoDBEventResponse
	if err := json.Unmarshal(payload, &res); err != nil {
		t.Fatalf("not a DynamoDB batch response: %v\n%s", err, payload)
	}
	if len(res.BatchItemFailures) != 0 {
		t.Errorf("batchItemFailures %v, want none: %s", res.BatchItemFailures, payload)
	}
}

// secretRE is a webhook signing secret.
var secretRE = regexp.MustCompile(`^whsec_[0-9a-f]{64}$`)

// queueDepth is the number of messages on the queue at url
// (ApproximateNumberOfMessages, visible ones; nothing receives them here).
func queueDepth(t *testing.T, ctx context.Context, endpoint, url string) int {
	t.Helper()
	if url == "" {
		t.Fatal("the stack has no DeliveryQueue")
	}
	client, err := localstack.SQSClient(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages},
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	if err != nil {
		t.Fatalf("ApproximateNumberOfMessages: %v", err)
	}
	return n
}

func readEvent(t *testing.T, root, name string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	raw, err := os.ReadFile(samtemplate.EventPath(root, name))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestRIEVersion checks that go.mod pins the emulator as a tool, and that
// a go.mod without the tool directive or the requirement is refused.
func TestRIEVersion(t *testing.T) {
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	got, err := invoke.RIEVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "v0.0.0-") {
		t.Errorf("RIEVersion = %q, want the pseudo-version of a commit", got)
	}

	const require = "require " + invoke.RIEModule + " v0.0.0-20261030222936-bef5c4ba774d\n"
	const tool = "tool " + invoke.RIEPackage + "\n"
	tests := []struct {
		name, gomod string
		want        string // "" for an error
	}{
		{"tool and require", "module example.com/m\n" + require + tool, "v0.0.0-20261030222936-bef5c4ba774d"},
		{"no tool directive", "module example.com/m\n" + require, ""},
		{"no requirement", "module example.com/m\n" + tool, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(tt.gomod), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := invoke.RIEVersion(dir)
			if tt.want == "" {
				if err == nil {
					t.Errorf("RIEVersion = %q, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("RIEVersion = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestEnv checks the environment a function gets: the template's
// variables resolved for the stack, the local endpoints, dummy
// credentials and Lambda's own variables, and nothing unresolved.
func TestEnv(t *testing.T) {
	// The access key of the local clients, so that the function reads the
	// DynamoDB Local database the test binary's tables are in.
	t.Setenv(localstack.EnvAccessKeyID, "k1")
	tpl, err := samtemplate.LoadRepo()
	if err != nil {
		t.Fatal(err)
	}
	st := &invoke.Stack{
		DynamoDBEndpoint: "http://127.0.0.1:1", SQSEndpoint: "http://127.0.0.1:2", TableName: "t1",
		TokenSecret: "a-test-secret-that-is-long-enough-1234", Template: tpl,
		QueueURLs: map[string]string{},
	}
	for id := range tpl.Resources("AWS::SQS::Queue") {
		st.QueueURLs[id] = "http://127.0.0.1:2/000000000000/t1-" + id
	}
	tests := []struct {
		fn   string
		want map[string]string // a subset of the environment
	}{
		{"AuthorizerFunction", map[string]string{
			"OUTDIAL_TOKEN_SECRET": st.TokenSecret, "OUTDIAL_TOKEN_SECRET_PREVIOUS": "",
			"TABLE_NAME": "t1", "LOG_LEVEL": "INFO", "AWS_LAMBDA_FUNCTION_NAME": "authorizer",
		}},
		{"create-outdial", map[string]string{
			"TABLE_NAME": "t1", "DYNAMODB_ENDPOINT": "http://127.0.0.1:1", "AWS_REGION": localstack.Region,
			"AWS_ACCESS_KEY_ID": "k1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		}},
		{"AddTargetsFunction", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}},
		{"DeleteOutdialFunction", map[string]string{
			"PURGE_QUEUE_URL": st.QueueURLs["PurgeQueue"], "SQS_ENDPOINT": "http://127.0.0.1:2",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.fn, func(t *testing.T) {
			fn, err := invoke.Function(tpl, tt.fn)
			if err != nil {
				t.Fatal(err)
			}
			env, err := st.Env(fn)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if got, ok := env[k]; !ok || got != want {
					t.Errorf("%s = %q (set: %v), want %q", k, got, ok, want)
				}
			}
			for k := range fn.Env {
				if _, ok := env[k]; !ok {
					t.Errorf("the template's %s is missing", k)
				}
			}
		})
	}

	// A function that needs a queue, on a stack without SQS.
	noSQS := *st
	noSQS.SQSEndpoint, noSQS.QueueURLs = "", nil
	fn, err := invoke.Function(tpl, "delete-outdial")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noSQS.Env(fn); err == nil {
		t.Error("delete-outdial's environment resolved without the purge queue")
	}
	if !invoke.UsesQueues(tpl, fn) {
		t.Error("UsesQueues(delete-outdial) = false, want true: PURGE_QUEUE_URL is !Ref PurgeQueue")
	}
	get, err := invoke.Function(tpl, "GetOutdialFunction")
	if err != nil {
		t.Fatal(err)
	}
	if invoke.UsesQueues(tpl, get) {
		t.Error("UsesQueues(get-outdial) = true, want false")
	}
	if _, err := invoke.Function(tpl, "NoSuchFunction"); err == nil {
		t.Error("Function(NoSuchFunction) found one")
	}

	// The sample events get a token for their customer.
	ev, err := st.Event([]byte(`{"headers":{"authorization":"Bearer ` + samtemplate.TokenPlaceholder + `"}}`))
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Headers map[string]string }
	if err := json.Unmarshal(ev, &got); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(st.TokenSecret)
	if err != nil {
		t.Fatal(err)
	}
	customer, err := v.Verify(strings.TrimPrefix(got.Headers["authorization"], "Bearer "))
	if err != nil || customer != samtemplate.EventCustomerID {
		t.Errorf("the event's token verifies as %q, %v; want customer %s", customer, err, samtemplate.EventCustomerID)
	}
}
