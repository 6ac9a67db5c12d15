package readme_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localruntest"
	"github.com/outdial/outdial/internal/localstack"
)

// readmeHost is the address `make run` serves and the README's commands
// use.
const readmeHost = "http://127.0.0.1:3000"

// startStack runs the local stack (`make run`'s) on the test binary's
// DynamoDB Local, in a table of its own, until the test ends; what the
// functions log is shown only if the test fails.
func startStack(t *testing.T) *localrun.Stack {
	t.Helper()
	return localruntest.Start(t, localruntest.Options{Prefix: "readme"}).Stack
}

// bash runs script with bash -c in the repository root, with env added to
// (or replacing in) the environment, and returns its standard output; a
// non-zero exit fails the test.
func bash(t *testing.T, root, script string, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = root
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, override := env[k]; override || strings.HasPrefix(k, "AWS_") {
			continue // the local stack's dummy AWS settings only
		}
		cmd.Env = append(cmd.Env, kv)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("bash -c %q: %v\nstdout:\n%s\nstderr:\n%s", script, err, out.String(), errb.String())
	}
	return out.String()
}

// api calls the stack with the token as Bearer and decodes a 200 answer.
func api(t *testing.T, st *localrun.Stack, token, method, path, body string, v any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, st.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s = %d %s, want 200", method, path, res.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
	}
}

// outdialJSON and targetJSON are what the test reads of the answers.
type outdialJSON struct {
	ID           string           `json:"id"`
	CustomerID   string           `json:"customer_id"`
	Name         string           `json:"name"`
	Detail       string           `json:"detail"`
	TargetCount  int              `json:"target_count"`
	TargetCounts map[string]int64 `json:"target_counts"`
}

type targetJSON struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Status          string `json:"status"`
	TryCountMax     int    `json:"try_count_max"`
	TryCountCurrent int    `json:"try_count_current"`
	LastResult      string `json:"last_result"`
	Destination     struct {
		Type   string `json:"type"`
		Target string `json:"target"`
	} `json:"destination"`
}

type importJSON struct {
	Created          int `json:"created"`
	Duplicates       int `json:"duplicates"`
	Rejected         int `json:"rejected"`
	DuplicateTargets []struct {
		Reason string `json:"reason"`
	} `json:"duplicate_targets"`
}

// readmeE164 is what the README's CSV numbers must become (national
// numbers with ?default_region=US).
var readmeE164 = map[string]string{
	"(555) 123-4567":  "+15551234567",
	"+1 555 234 5678": "+15552345678",
}

var (
	placeholderRE = regexp.MustCompile(`<[A-Za-z_]+>`)
	dataRE        = regexp.MustCompile(`--data '([^']*)'`)
	csvDataRE     = regexp.MustCompile(`--data-binary \$'((?:[^'\\]|\\.)*)'`)
	messageRE     = regexp.MustCompile(`--message-body\s+'([^']*)'`)
	ellipsisRE    = regexp.MustCompile(`"([a-z_]+)":"…"`)
)

// ansiC decodes the body of a bash $'...' string (the escapes the README
// uses).
func ansiC(s string) string {
	return strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\r`, "\r", `\'`, "'", `\"`, `"`, `\\`, `\`).Replace(s)
}

// TestQuickstart runs the README's Quickstart for real: a token minted
// with `go run ./cmd/token -customer <uuid>`, then each curl command of
// the README with bash and curl against a local stack (the host
// http://127.0.0.1:3000 replaced by the stack's, $TOKEN exported, <id>
// the outdial the first one created), checking each answer; then the
// outcome message of `aws sqs send-message` is sent to the stack's
// outcome queue (with the AWS CLI when it is installed) and applied.
func TestQuickstart(t *testing.T) {
	r := loadREADME(t)
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("the README's Quickstart needs curl: %v", err)
	}
	started := time.Now()
	st := startStack(t)
	t.Logf("stack up in %v at %s", time.Since(started).Round(time.Millisecond), st.URL)

	// The token, as the README mints one.
	var mint string
	for _, c := range r.table {
		if strings.HasPrefix(c, "go run ./cmd/token") {
			mint = c
		}
	}
	if mint == "" || !strings.Contains(mint, "<uuid>") {
		t.Fatalf("the command table has no `go run ./cmd/token -customer <uuid>` (found %q)", mint)
	}
	customer := uuid.NewString()
	out := bash(t, r.root, strings.ReplaceAll(mint, "<uuid>", customer), map[string]string{"OUTDIAL_TOKEN_SECRET": st.TokenSecret})
	token := strings.TrimSpace(out)
	verifier, err := auth.NewVerifier(st.TokenSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := verifier.Verify(token); err != nil || got != customer {
		t.Fatalf("%s printed %q: customer %q, %v; want a token of %s", mint, out, got, err, customer)
	}

	// The curl commands, in README order.
	var curls []string
	for _, c := range r.shellCommands() {
		if strings.HasPrefix(c, "curl ") {
			curls = append(curls, c)
		}
	}
	if len(curls) == 0 {
		t.Fatal("the README shows no curl command")
	}
	env := map[string]string{"TOKEN": token, "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"}
	// curl as the README runs it, plus the status code on a last line.
	const wrap = "curl() { command curl -sS --max-time 30 -w '\\n%{http_code}' \"$@\"; }\n"
	run := func(c string) (int, string) {
		t.Helper()
		out := bash(t, r.root, wrap+c, env)
		i := strings.LastIndexByte(out, '\n')
		code := 0
		fmt.Sscanf(out[i+1:], "%d", &code)
		return code, out[:max(i, 0)]
	}
	var outdialID string
	var sawCreate, sawCSV bool
	for _, orig := range curls {
		c := strings.ReplaceAll(orig, readmeHost, st.URL)
		if !strings.Contains(c, st.URL) {
			t.Errorf("README curl does not call %s (make run's address): %s", readmeHost, orig)
			continue
		}
		if strings.Contains(c, "<id>") {
			if outdialID == "" {
				t.Fatalf("README curl uses <id> before any outdial was created: %s", orig)
			}
			c = strings.ReplaceAll(c, "<id>", outdialID)
		}
		if p := placeholderRE.FindString(c); p != "" {
			t.Fatalf("README curl has a placeholder %s this test cannot fill: %s", p, orig)
		}
		code, body := run(c)
		if code != http.StatusOK {
			t.Fatalf("README curl answered %d %s:\n%s", code, body, orig)
		}
		switch {
		case strings.Contains(c, "/targets") && strings.Contains(c, "text/csv"):
			sawCSV = true
			checkCSVImport(t, st, token, outdialID, c, body)
			// The README: a re-post of the same request creates nothing.
			_, body = run(c)
			var again importJSON
			if err := json.Unmarshal([]byte(body), &again); err != nil || again.Created != 0 || again.Rejected != 0 || again.Duplicates == 0 {
				t.Errorf("the CSV import posted again answered %s; want nothing created, every row a duplicate", body)
			}
			for _, d := range again.DuplicateTargets {
				if d.Reason != "exists" {
					t.Errorf("re-posted row is a duplicate for %q, want exists", d.Reason)
				}
			}
		case strings.Contains(c, "-X POST") && regexp.MustCompile(`/v1\.0/outdials(\?|'|"|\s|$)`).MatchString(c):
			sawCreate = true
			var o outdialJSON
			if err := json.Unmarshal([]byte(body), &o); err != nil {
				t.Fatalf("create outdial answered %s: %v", body, err)
			}
			m := dataRE.FindStringSubmatch(c)
			if m == nil {
				t.Fatalf("README create-outdial curl without --data '...': %s", orig)
			}
			var sent struct{ Name, Detail string }
			if err := json.Unmarshal([]byte(m[1]), &sent); err != nil {
				t.Fatalf("README create-outdial body %s: %v", m[1], err)
			}
			if _, err := uuid.Parse(o.ID); err != nil || o.CustomerID != customer || o.Name != sent.Name || o.Detail != sent.Detail || o.TargetCount != 0 {
				t.Errorf("create outdial answered %s; want a new outdial of %s named %q, detail %q, no targets", body, customer, sent.Name, sent.Detail)
			}
			outdialID = o.ID
		default:
			var v any
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Errorf("README curl answered %q, not JSON: %s", body, orig)
			}
		}
	}
	if !sawCreate || !sawCSV {
		t.Fatalf("the Quickstart should create an outdial (%v) and import a CSV into it (%v)", sawCreate, sawCSV)
	}

	t.Run("aws sqs send-message", func(t *testing.T) {
		sendOutcome(t, r, st, token, outdialID)
	})
}

// checkCSVImport checks the answer of the README's CSV import and the
// targets it made: each row once, its number in E.164.
func checkCSVImport(t *testing.T, st *localrun.Stack, token, outdialID, cmd, body string) {
	t.Helper()
	m := csvDataRE.FindStringSubmatch(cmd)
	if m == nil {
		t.Fatalf("README CSV curl without --data-binary $'...': %s", cmd)
	}
	records, err := csv.NewReader(strings.NewReader(ansiC(m[1]))).ReadAll()
	if err != nil || len(records) < 2 {
		t.Fatalf("README CSV %q: %v", m[1], err)
	}
	col := map[string]int{}
	for i, h := range records[0] {
		col[h] = i
	}
	for _, h := range []string{"name", "tel", "try_count_max"} {
		if _, ok := col[h]; !ok {
			t.Fatalf("README CSV has no %s column: %q", h, records[0])
		}
	}
	rows := records[1:]

	var res importJSON
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatalf("CSV import answered %s: %v", body, err)
	}
	if res.Created != len(rows) || res.Duplicates != 0 || res.Rejected != 0 {
		t.Errorf("CSV import answered %s; want %d created, none duplicate or rejected", body, len(rows))
	}

	var list struct{ Result []targetJSON }
	api(t, st, token, "GET", "/v1.0/outdials/"+outdialID+"/targets", "", &list)
	byTel := map[string]targetJSON{}
	for _, tg := range list.Result {
		byTel[tg.Destination.Target] = tg
	}
	if len(list.Result) != len(rows) {
		t.Errorf("the outdial has %d targets, want %d", len(list.Result), len(rows))
	}
	for _, row := range rows {
		e164, ok := readmeE164[row[col["tel"]]]
		if !ok {
			t.Errorf("README CSV number %q: add its E.164 form to readmeE164", row[col["tel"]])
			continue
		}
		tg, ok := byTel[e164]
		if !ok || tg.Destination.Type != "tel" || tg.Name != row[col["name"]] || fmt.Sprint(tg.TryCountMax) != row[col["try_count_max"]] || tg.Status != "idle" || tg.TryCountCurrent != 0 {
			t.Errorf("row %q: target %+v; want tel %s named %q, try_count_max %s, idle", row, tg, e164, row[col["name"]], row[col["try_count_max"]])
		}
	}
	var o outdialJSON
	api(t, st, token, "GET", "/v1.0/outdials/"+outdialID, "", &o)
	if o.TargetCount != len(rows) || o.TargetCounts["idle"] != int64(len(rows)) {
		t.Errorf("outdial after the import: target_count %d, counts %v; want %d idle", o.TargetCount, o.TargetCounts, len(rows))
	}
}

// sendOutcome claims a target like a dialer, fills the README's outcome
// message with the claim, sends it as the README's `aws sqs send-message`
// does, and waits until the target shows the outcome.
func sendOutcome(t *testing.T, r *readme, st *localrun.Stack, token, outdialID string) {
	var send string
	for _, c := range r.shellCommands() {
		if strings.HasPrefix(c, "aws sqs send-message ") {
			send = c
		}
	}
	if send == "" {
		t.Skip("the README shows no aws sqs send-message")
	}
	m := messageRE.FindStringSubmatch(send)
	if m == nil {
		t.Fatalf("README aws sqs send-message without --message-body '...': %s", send)
	}
	var claims struct {
		Result []struct {
			AttemptID string     `json:"attempt_id"`
			Target    targetJSON `json:"target"`
		}
	}
	api(t, st, token, "POST", "/v1.0/outdials/"+outdialID+"/targets/claim", `{"limit": 1}`, &claims)
	if len(claims.Result) != 1 {
		t.Fatalf("claimed %d targets, want 1", len(claims.Result))
	}
	c := claims.Result[0]
	ids := map[string]string{"attempt_id": c.AttemptID, "outdial_id": outdialID, "target_id": c.Target.ID}
	var missing []string
	fill := func(s string) string {
		return ellipsisRE.ReplaceAllStringFunc(s, func(kv string) string {
			k := ellipsisRE.FindStringSubmatch(kv)[1]
			v, ok := ids[k]
			if !ok {
				missing = append(missing, k)
			}
			return fmt.Sprintf("%q:%q", k, v)
		})
	}
	msg := fill(m[1])
	var fields struct {
		Result string `json:"result"`
	}
	if err := json.Unmarshal([]byte(msg), &fields); err != nil || len(missing) > 0 || fields.Result == "" {
		t.Fatalf("README outcome message %s: %v, no value for %v", m[1], err, missing)
	}
	queue := st.QueueURL("OutcomeQueue")
	if _, err := exec.LookPath("aws"); err == nil {
		// The AWS CLI with the local stand-in's endpoint and dummy
		// credentials; nothing from the user's AWS configuration. The
		// endpoint goes on the command line: AWS CLI v1 replaces a
		// configured SQS endpoint with its own for most regions.
		wrapAWS := "aws() { command aws --endpoint-url \"$AWS_ENDPOINT_URL_SQS\" --cli-connect-timeout 5 \"$@\"; }\n"
		cmd := fill(send)
		if strings.Contains(cmd, "--endpoint-url") {
			// The README's local form names make run's endpoint and queue:
			// point them at this stack's.
			cmd = strings.ReplaceAll(cmd, "http://sqs.us-east-1.localhost:9324/000000000000/outdial-local-OutcomeQueue", queue)
			cmd = strings.ReplaceAll(cmd, "http://127.0.0.1:9324", st.SQSEndpoint)
			wrapAWS = "aws() { command aws --cli-connect-timeout 5 \"$@\"; }\n"
		}
		bash(t, r.root, wrapAWS+cmd, map[string]string{
			"OUTCOME_QUEUE_URL":           queue,
			"AWS_ENDPOINT_URL_SQS":        st.SQSEndpoint,
			"AWS_ACCESS_KEY_ID":           "local",
			"AWS_SECRET_ACCESS_KEY":       "local",
			"AWS_DEFAULT_REGION":          localstack.Region,
			"AWS_CONFIG_FILE":             os.DevNull,
			"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
			"AWS_PAGER":                   "",
			"AWS_MAX_ATTEMPTS":            "2",
		})
	} else {
		t.Logf("aws CLI not installed; sending the README's message with the SDK")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		client, err := localstack.SQSClient(ctx, st.SQSEndpoint)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(msg)}); err != nil {
			t.Fatal(err)
		}
	}

	// process-outcomes applies it within its batching window.
	deadline := time.Now().Add(60 * time.Second)
	var tg targetJSON
	for {
		api(t, st, token, "GET", "/v1.0/outdials/"+outdialID+"/targets/"+c.Target.ID, "", &tg)
		if tg.TryCountCurrent == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outcome was not applied within 60 s: target %+v", tg)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if tg.LastResult != fields.Result || tg.Status != "idle" {
		t.Errorf("after the README's %s outcome: target %+v; want last_result %s, idle until its retry", fields.Result, tg, fields.Result)
	}
	var o outdialJSON
	api(t, st, token, "GET", "/v1.0/outdials/"+outdialID, "", &o)
	if o.TargetCounts["dialing"] != 0 || o.TargetCounts["retry_pending"] != 1 || int(o.TargetCounts["idle"]) != o.TargetCount {
		t.Errorf("counts after the outcome: %v (target_count %d); want all idle, 1 retry pending", o.TargetCounts, o.TargetCount)
	}
}
