package outcome_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/outdial"
)

// Ids of well-formed test messages.
var (
	testOutdial = "0190a6b8-7c3d-7e4f-8a9b-0c1d2e3f4a5b"
	testTarget  = "5e0d9c8b-7a6f-5e4d-9c2b-1a0f9e8d7c6b"
	testAttempt = outdial.NewAttemptID(outdial.AttemptPlan{Dest: 0, LastTry: false, Next: 1})
)

// body returns a message body with the given fields over a valid base;
// a nil value removes the field.
func body(fields map[string]any) string {
	m := map[string]any{
		"attempt_id": testAttempt, "outdial_id": testOutdial, "target_id": testTarget, "result": "busy",
	}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestParse(t *testing.T) {
	secs := func(s int) *time.Duration { d := time.Duration(s) * time.Second; return &d }
	valid := []struct {
		name string
		body string
		want outdial.Outcome
	}{
		{"busy", body(nil), outdial.Outcome{AttemptID: testAttempt, OutdialID: testOutdial, TargetID: testTarget, Result: outdial.ResultBusy}},
		{"answered", body(map[string]any{"result": "answered"}), outdial.Outcome{AttemptID: testAttempt, OutdialID: testOutdial, TargetID: testTarget, Result: outdial.ResultAnswered}},
		{"no_answer", body(map[string]any{"result": "no_answer"}), outdial.Outcome{AttemptID: testAttempt, OutdialID: testOutdial, TargetID: testTarget, Result: outdial.ResultNoAnswer}},
		{"failed", body(map[string]any{"result": "failed"}), outdial.Outcome{AttemptID: testAttempt, OutdialID: testOutdial, TargetID: testTarget, Result: outdial.ResultFailed}},
		{"invalid", body(map[string]any{"result": "invalid"}), outdial.Outcome{AttemptID: testAttempt, OutdialID: testOutdial, TargetID: testTarget, Result: outdial.ResultInvalid}},
		{"retry after", body(map[string]any{"retry_after_seconds": 90}), outdial.Outcome{AttemptID: testAttempt, OutdialID: testOutdial, TargetID: testTarget, Result: outdial.ResultBusy, RetryAfter: secs(90)}},
		{"retry after zero", body(map[string]any{"retry_after_seconds": 0}), outdial.Outcome{AttemptID: testAttempt, OutdialID: testOutdial, TargetID: testTarget, Result: outdial.ResultBusy, RetryAfter: secs(0)}},
		{"retry after max", body(map[string]any{"retry_after_seconds": outcome.MaxRetryAfter}), outdial.Outcome{AttemptID: testAttempt, OutdialID: testOutdial, TargetID: testTarget, Result: outdial.ResultBusy, RetryAfter: secs(outcome.MaxRetryAfter)}},
		{"retry after null", body(map[string]any{"retry_after_seconds": json.RawMessage("null")}), outdial.Outcome{AttemptID: testAttempt, OutdialID: testOutdial, TargetID: testTarget, Result: outdial.ResultBusy}},
		{"upper-case ids", body(map[string]any{"outdial_id": strings.ToUpper(testOutdial), "target_id": strings.ToUpper(testTarget)}),
			outdial.Outcome{AttemptID: testAttempt, OutdialID: testOutdial, TargetID: testTarget, Result: outdial.ResultBusy}},
		{"whitespace around", " \n" + body(nil) + "\n ", outdial.Outcome{AttemptID: testAttempt, OutdialID: testOutdial, TargetID: testTarget, Result: outdial.ResultBusy}},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := outcome.Parse(tc.body)
			if err != nil {
				t.Fatalf("Parse(%s): %v", tc.body, err)
			}
			if fmt.Sprint(got.AttemptID, got.OutdialID, got.TargetID, got.Result) != fmt.Sprint(tc.want.AttemptID, tc.want.OutdialID, tc.want.TargetID, tc.want.Result) {
				t.Errorf("Parse = %+v, want %+v", got, tc.want)
			}
			if (got.RetryAfter == nil) != (tc.want.RetryAfter == nil) || (got.RetryAfter != nil && *got.RetryAfter != *tc.want.RetryAfter) {
				t.Errorf("RetryAfter = %v, want %v", got.RetryAfter, tc.want.RetryAfter)
			}
		})
	}

	invalid := []struct {
		name  string
		body  string
		code  string
		field string
	}{
		{"empty", "", outdial.ECodeInvalidJSON, ""},
		{"not JSON", "busy", outdial.ECodeInvalidJSON, ""},
		{"truncated", body(nil)[:40], outdial.ECodeInvalidJSON, ""},
		{"array", "[" + body(nil) + "]", outdial.ECodeInvalidJSON, ""},
		{"two objects", body(nil) + body(nil), outdial.ECodeInvalidJSON, ""},
		{"trailing garbage", body(nil) + "x", outdial.ECodeInvalidJSON, ""},
		{"null", "null", outdial.ECodeInvalidJSON, ""},
		{"unknown field", body(map[string]any{"destination": "+15550001234"}), outdial.ECodeUnknownField, ""},
		{"field in other case", strings.Replace(body(nil), `"result"`, `"RESULT"`, 1), outdial.ECodeUnknownField, ""},
		{"duplicate result", strings.Replace(body(map[string]any{"result": "answered"}), `"result":"answered"`, `"result":"answered","result":"busy"`, 1), outdial.ECodeInvalidJSON, "result"},
		{"duplicate unknown key", strings.Replace(body(nil), "{", `{"+15550001234":1,"+15550001234":2,`, 1), outdial.ECodeInvalidJSON, "(unknown)"},
		{"invalid UTF-8", strings.Replace(body(nil), `"busy"`, "\"bu\xffsy\"", 1), outdial.ECodeInvalidJSON, ""},
		{"unknown result", body(map[string]any{"result": "voicemail"}), outdial.ECodeInvalidField, "result"},
		{"expired is the service's own", body(map[string]any{"result": "expired"}), outdial.ECodeInvalidField, "result"},
		{"result upper-case", body(map[string]any{"result": "BUSY"}), outdial.ECodeInvalidField, "result"},
		{"result missing", body(map[string]any{"result": nil}), outdial.ECodeInvalidField, "result"},
		{"result a number", body(map[string]any{"result": 1}), outdial.ECodeInvalidField, "result"},
		{"outdial id missing", body(map[string]any{"outdial_id": nil}), outdial.ECodeInvalidID, "outdial_id"},
		{"target id not a UUID", body(map[string]any{"target_id": "42"}), outdial.ECodeInvalidID, "target_id"},
		{"attempt id missing", body(map[string]any{"attempt_id": nil}), outdial.ECodeInvalidField, "attempt_id"},
		{"attempt id a UUIDv4", body(map[string]any{"attempt_id": uuid.NewString()}), outdial.ECodeInvalidField, "attempt_id"},
		{"retry after negative", body(map[string]any{"retry_after_seconds": -1}), outdial.ECodeInvalidField, "retry_after_seconds"},
		{"retry after too large", body(map[string]any{"retry_after_seconds": outcome.MaxRetryAfter + 1}), outdial.ECodeInvalidField, "retry_after_seconds"},
		{"retry after fractional", body(map[string]any{"retry_after_seconds": 1.5}), outdial.ECodeInvalidField, "retry_after_seconds"},
		{"retry after a string", body(map[string]any{"retry_after_seconds": "60"}), outdial.ECodeInvalidField, "retry_after_seconds"},
		{"too large", body(map[string]any{"result": strings.Repeat("x", outcome.MaxMessageBytes)}), outdial.ECodeBodyTooLarge, ""},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			got, err := outcome.Parse(tc.body)
			if err == nil {
				t.Fatalf("Parse(%.80s) = %+v, want an error", tc.body, got)
			}
			var oe *outdial.Error
			if !errors.As(err, &oe) {
				t.Fatalf("Parse(%.80s): %v, want an *outdial.Error", tc.body, err)
			}
			if oe.Code != tc.code || oe.Field != tc.field {
				t.Errorf("Parse(%.80s): code %s field %q (%v), want code %s field %q", tc.body, oe.Code, oe.Field, err, tc.code, tc.field)
			}
			// The error is logged: it never quotes the message.
			if strings.Contains(oe.Message, "5550001234") {
				t.Errorf("Parse(%.80s): message %q quotes the body", tc.body, oe.Message)
			}
		})
	}
}

// env is one outdial with claimed targets in a fresh table.
type env struct {
	store    *dynamo.Store
	customer string
	outdial  string
	claims   []*outdial.Claim
}

// phone returns the i-th test destination.
func phone(i int) string { return fmt.Sprintf("+1555%07d", 1000+i) }

// newEnv creates an outdial with n one-destination targets (3 tries each)
// and claims them all.
func newEnv(t *testing.T, n int) *env {
	t.Helper()
	client, table := dynamotest.Table(t)
	ctx := context.Background()
	e := &env{store: dynamo.New(client, table), customer: uuid.NewString()}
	id, _ := uuid.NewV7()
	now := time.Now().UTC()
	o := &outdial.Outdial{ID: id.String(), CustomerID: e.customer, Name: "outcome test", RetryPolicy: outdial.DefaultRetryPolicy(),
		TMCreate: outdial.Time{Time: now}, TMUpdate: outdial.Time{Time: now}}
	if err := e.store.CreateOutdial(ctx, o); err != nil {
		t.Fatalf("CreateOutdial: %v", err)
	}
	e.outdial = o.ID
	nts := make([]*outdial.NewTarget, n)
	for i := range nts {
		nts[i] = &outdial.NewTarget{Name: fmt.Sprint(i), Destinations: []outdial.TargetDestination{{Type: outdial.TypeTel, Target: phone(i), TryCountMax: 3}}}
	}
	if _, err := e.store.AddTargets(ctx, e.customer, e.outdial, uuid.NewString(), nts); err != nil {
		t.Fatalf("AddTargets: %v", err)
	}
	claims, err := e.store.ClaimTargets(ctx, e.customer, e.outdial, n, time.Minute)
	if err != nil || len(claims) != n {
		t.Fatalf("ClaimTargets: %d claims, %v; want %d", len(claims), err, n)
	}
	sort.Slice(claims, func(i, j int) bool { return claims[i].Destination.Target < claims[j].Destination.Target })
	e.claims = claims
	return e
}

// message returns the SQS message reporting result r for claim c.
func message(id string, c *outdial.Claim, r string) events.SQSMessage {
	return events.SQSMessage{MessageId: id, Body: fmt.Sprintf(`{"attempt_id":%q,"outdial_id":%q,"target_id":%q,"result":%q}`,
		c.AttemptID, c.Target.OutdialID, c.Target.ID, r)}
}

// processor returns a processor on store logging JSON into logs.
func processor(store outcome.Applier, logs *bytes.Buffer) *outcome.Processor {
	return &outcome.Processor{Store: store, Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

// failures returns the sorted ids of the failed messages.
func failures(resp events.SQSEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	sort.Strings(out)
	return out
}

// checkLogs fails if the log output holds any destination of e or is not
// JSON lines.
func checkLogs(t *testing.T, logs *bytes.Buffer, e *env) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
	for _, c := range e.claims {
		digits := strings.TrimPrefix(c.Destination.Target, "+")
		if strings.Contains(logs.String(), digits) {
			t.Errorf("log output holds destination %s:\n%s", c.Destination.Target, logs.String())
		}
	}
}

func TestHandleBatchWithMalformedMessage(t *testing.T) {
	tests := []struct {
		name string
		bad  func(e *env) string // body of message m4
	}{
		{"not JSON", func(e *env) string { return "call " + e.claims[4].Destination.Target + " later" }},
		{"unknown result", func(e *env) string {
			return fmt.Sprintf(`{"attempt_id":%q,"outdial_id":%q,"target_id":%q,"result":"voicemail"}`, e.claims[4].AttemptID, e.outdial, e.claims[4].Target.ID)
		}},
		{"unknown field", func(e *env) string {
			return fmt.Sprintf(`{"attempt_id":%q,"outdial_id":%q,"target_id":%q,"result":"busy","destination":%q}`,
				e.claims[4].AttemptID, e.outdial, e.claims[4].Target.ID, e.claims[4].Destination.Target)
		}},
		{"duplicate result", func(e *env) string {
			return fmt.Sprintf(`{"attempt_id":%q,"outdial_id":%q,"target_id":%q,"result":"answered","result":"busy"}`, e.claims[4].AttemptID, e.outdial, e.claims[4].Target.ID)
		}},
		{"missing attempt", func(e *env) string {
			return fmt.Sprintf(`{"outdial_id":%q,"target_id":%q,"result":"answered"}`, e.outdial, e.claims[4].Target.ID)
		}},
		{"result holds the number", func(e *env) string {
			return fmt.Sprintf(`{"attempt_id":%q,"outdial_id":%q,"target_id":%q,"result":%q}`, e.claims[4].AttemptID, e.outdial, e.claims[4].Target.ID, e.claims[4].Destination.Target)
		}},
		{"retry_after holds the number", func(e *env) string {
			return fmt.Sprintf(`{"attempt_id":%q,"outdial_id":%q,"target_id":%q,"result":"busy","retry_after_seconds":%s.5}`,
				e.claims[4].AttemptID, e.outdial, e.claims[4].Target.ID, strings.TrimPrefix(e.claims[4].Destination.Target, "+"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 10)
			results := []string{"answered", "busy", "no_answer", "failed", "", "invalid", "answered", "busy", "no_answer", "answered"}
			ev := events.SQSEvent{}
			for i, c := range e.claims {
				m := message(fmt.Sprintf("m%d", i), c, results[i])
				if i == 4 {
					m.Body = tc.bad(e)
				}
				ev.Records = append(ev.Records, m)
			}
			var logs bytes.Buffer
			resp, err := processor(e.store, &logs).Handle(context.Background(), ev)
			if err != nil {
				t.Fatalf("Handle returned an error: %v", err)
			}
			if got, want := failures(resp), []string{"m4"}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("batch item failures %v, want %v", got, want)
			}
			want := map[string]outdial.Status{
				"answered": outdial.StatusFinished, "busy": outdial.StatusIdle, "no_answer": outdial.StatusIdle,
				"failed": outdial.StatusIdle, "invalid": outdial.StatusFailed, "": outdial.StatusDialing,
			}
			for i, c := range e.claims {
				got, err := e.store.GetTarget(context.Background(), e.customer, e.outdial, c.Target.ID)
				if err != nil {
					t.Fatal(err)
				}
				tries := 1
				if results[i] == "" {
					tries = 0
				}
				if got.Status != want[results[i]] || got.TryCountCurrent != tries || string(got.LastResult) != results[i] {
					t.Errorf("target %d: %s, %d tries, last result %q; want %s, %d, %q", i, got.Status, got.TryCountCurrent, got.LastResult, want[results[i]], tries, results[i])
				}
			}
			o, err := e.store.GetOutdial(context.Background(), e.customer, e.outdial)
			if err != nil {
				t.Fatal(err)
			}
			if want := (outdial.Counts{Finished: 3, Idle: 5, Retry: 5, Failed: 1, Dialing: 1}); o.Counts != want {
				t.Errorf("counts %+v, want %+v", o.Counts, want)
			}
			if !strings.Contains(logs.String(), `"message_id":"m4"`) {
				t.Errorf("the malformed message is not logged by id:\n%s", logs.String())
			}
			checkLogs(t, &logs, e)
		})
	}
}

func TestHandleDuplicatesInOneBatch(t *testing.T) {
	e := newEnv(t, 3)
	ev := events.SQSEvent{}
	for i := range 9 {
		ev.Records = append(ev.Records, message(fmt.Sprintf("m%d", i), e.claims[i%3], "no_answer"))
	}
	var logs bytes.Buffer
	resp, err := processor(e.store, &logs).Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	for _, c := range e.claims {
		got, err := e.store.GetTarget(context.Background(), e.customer, e.outdial, c.Target.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != outdial.StatusIdle || got.TryCountCurrent != 1 {
			t.Errorf("target %s: %s with %d tries, want idle with 1", c.Target.ID, got.Status, got.TryCountCurrent)
		}
	}
	o, err := e.store.GetOutdial(context.Background(), e.customer, e.outdial)
	if err != nil {
		t.Fatal(err)
	}
	if want := (outdial.Counts{Idle: 3, Retry: 3}); o.Counts != want {
		t.Errorf("counts %+v, want %+v", o.Counts, want)
	}
	checkLogs(t, &logs, e)
	if len(resp.BatchItemFailures) != 0 {
		t.Errorf("batch item failures %v, want none (duplicates are acknowledged)", failures(resp))
	}
}

func TestHandleEmptyBatch(t *testing.T) {
	var logs bytes.Buffer
	resp, err := processor(panicStore{}, &logs).Handle(context.Background(), events.SQSEvent{})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Errorf("Handle(empty): failures %v, error %v; want none", resp.BatchItemFailures, err)
	}
}

// panicStore is an Applier that panics: a bug the processor must contain
// to its message.
type panicStore struct{}

func (panicStore) ApplyOutcome(context.Context, outdial.Outcome) (outdial.OutcomeEffect, error) {
	panic("store bug")
}

// errStore is an Applier that fails every outcome with err.
type errStore struct{ err error }

func (s errStore) ApplyOutcome(context.Context, outdial.Outcome) (outdial.OutcomeEffect, error) {
	return "", s.err
}

func TestHandleNeverReturnsAnError(t *testing.T) {
	good := events.SQSMessage{MessageId: "good", Body: body(nil)}
	bad := events.SQSMessage{MessageId: "bad", Body: "{"}
	tests := []struct {
		name  string
		store outcome.Applier
		want  []string
	}{
		{"store panics", panicStore{}, []string{"bad", "good"}},
		{"store unavailable", errStore{outdial.Errorf(outdial.ECodeUnavailable, "busy")}, []string{"bad", "good"}},
		{"store fails", errStore{fmt.Errorf("boom")}, []string{"bad", "good"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			resp, err := processor(tc.store, &logs).Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{good, bad}})
			if err != nil {
				t.Errorf("Handle returned an error: %v", err)
			}
			if got := failures(resp); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("batch item failures %v, want %v", got, tc.want)
			}
		})
	}
}

// TestHandleCancelledContext checks that a batch whose invocation ran out
// of time reports its messages as failures rather than an error.
func TestHandleCancelledContext(t *testing.T) {
	e := newEnv(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ev := events.SQSEvent{Records: []events.SQSMessage{message("a", e.claims[0], "answered"), message("b", e.claims[1], "busy")}}
	var logs bytes.Buffer
	resp, err := processor(e.store, &logs).Handle(ctx, ev)
	if err != nil {
		t.Errorf("Handle returned an error: %v", err)
	}
	if got := failures(resp); fmt.Sprint(got) != "[a b]" {
		t.Errorf("batch item failures %v, want [a b]", got)
	}
	checkLogs(t, &logs, e)
}

// TestHandleAttemptIDCase checks a message whose ids a dialer wrote in
// upper case (Swift's UUID.uuidString does): the ids are the same UUIDs,
// so the outcome must apply, not be acknowledged as stale and lost.
func TestHandleAttemptIDCase(t *testing.T) {
	e := newEnv(t, 1)
	c := e.claims[0]
	m := events.SQSMessage{MessageId: "upper", Body: fmt.Sprintf(`{"attempt_id":%q,"outdial_id":%q,"target_id":%q,"result":"answered"}`,
		strings.ToUpper(c.AttemptID), strings.ToUpper(c.Target.OutdialID), strings.ToUpper(c.Target.ID))}
	var logs bytes.Buffer
	resp, err := processor(e.store, &logs).Handle(context.Background(), events.SQSEvent{Records: []events.SQSMessage{m}})
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	got, err := e.store.GetTarget(context.Background(), e.customer, e.outdial, c.Target.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 || got.Status != outdial.StatusFinished {
		t.Errorf("upper-case ids: failures %v, target %s; want applied (finished)", failures(resp), got.Status)
	}
}
