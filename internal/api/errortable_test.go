package api_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/api"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outdial"
)

// errorRow is one row of the documented error table (docs/api.md, API
// reference, Conventions).
type errorRow struct {
	code   string
	status int
	when   string
}

// notAnswered is how the table marks a code no route answers today.
const notAnswered = "not answered by any route today"

var errorRowRE = regexp.MustCompile("^\\s*\\|\\s*`([a-z_]+)`\\s*\\|\\s*(\\d{3})\\s*\\|\\s*(.*?)\\s*\\|\\s*$")

// readmeErrorTable reads the error table of docs/api.md.
func readmeErrorTable(t *testing.T) []errorRow {
	t.Helper()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "docs", "api.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n### Conventions\n")
	if !ok {
		t.Fatal(`docs/api.md: no "### Conventions" section`)
	}
	section, _, _ = strings.Cut(section, "\n### ")
	var rows []errorRow
	seen := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		m := errorRowRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		status, _ := strconv.Atoi(m[2])
		if seen[m[1]] {
			t.Errorf("docs/api.md error table: %s has two rows", m[1])
		}
		seen[m[1]] = true
		rows = append(rows, errorRow{code: m[1], status: status, when: m[3]})
	}
	if len(rows) < 10 {
		t.Fatalf("docs/api.md error table: found %d rows, want the whole table", len(rows))
	}
	return rows
}

// definedErrorCodes returns the values of the ECode constants of
// internal/outdial/errors.go, read from the source so that a new constant
// is seen without editing this test.
func definedErrorCodes(t *testing.T) map[string]string {
	t.Helper()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "internal", "outdial", "errors.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{} // value -> constant name
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "ECode") || i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					t.Fatalf("%s: %s is not a string literal", path, name.Name)
				}
				v, _ := strconv.Unquote(lit.Value)
				codes[v] = name.Name
			}
		}
	}
	if len(codes) < 10 {
		t.Fatalf("%s: found %d ECode constants", path, len(codes))
	}
	return codes
}

// TestErrorTableListsExactlyTheCodes checks the error table of docs/api.md
// against the code: every ECode constant has a row, every row is a
// constant, and the row's status is the one apigw answers.
func TestErrorTableListsExactlyTheCodes(t *testing.T) {
	rows := readmeErrorTable(t)
	defined := definedErrorCodes(t)
	inTable := map[string]bool{}
	for _, r := range rows {
		inTable[r.code] = true
		if _, ok := defined[r.code]; !ok {
			t.Errorf("docs/api.md error table: %s is not an ECode constant of internal/outdial", r.code)
		}
		if got := apigw.HTTPStatus(r.code); got != r.status {
			t.Errorf("docs/api.md error table: %s is %d, apigw answers %d", r.code, r.status, got)
		}
	}
	for code, name := range defined {
		if !inTable[code] {
			t.Errorf("outdial.%s (%s) has no row in the docs/api.md error table", name, code)
		}
	}
}

// errorProducer is one request that must get a documented error.
type errorProducer struct {
	name string
	do   func(t *testing.T) apigw.Response
}

// TestEveryDocumentedErrorIsAnswered walks the error table of docs/api.md and,
// for each code, sends requests through the real handlers (over DynamoDB
// Local) that must get exactly the row's status and code. Codes the table
// marks as answered by no route are checked through apigw.Error, the one
// function that maps errors to statuses.
func TestEveryDocumentedErrorIsAnswered(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")

	// req builds the fixture's request for outdial o with changes applied.
	req := func(fixture string, changes ...func(*apigw.Request)) apigw.Request {
		r := a.event(fixture, "", o.ID)
		for _, c := range changes {
			c(&r)
		}
		return r
	}
	send := func(fixture string, changes ...func(*apigw.Request)) func(t *testing.T) apigw.Response {
		return func(t *testing.T) apigw.Response {
			return invoke(t, a.ctx, a, cleanCallTimeout, fixture, req(fixture, changes...))
		}
	}
	header := func(k, v string) func(*apigw.Request) {
		return func(r *apigw.Request) { r.Headers[k] = v }
	}

	// DynamoDB faults the engine cannot produce on demand: a throttle that
	// lasts, and an error no retry can clear.
	faults := newFaultTable(t)
	throttled := func(t *testing.T) apigw.Response {
		e := faults.env(t)
		e.createOutdial("")
		e.db.arm(&faultRule{op: "Query", kind: faultThrottle})
		resp := e.call(e.faulty, "get-outdial", e.req("get-outdial", ""))
		if _, injected := e.db.stats(); injected == 0 {
			t.Errorf("get-outdial made no Query call to throttle")
		}
		return resp
	}
	broken := func(t *testing.T) apigw.Response {
		e := faults.env(t)
		e.createOutdial("")
		// DynamoDB answers every Query with an error no retry clears (a
		// ValidationException, as for a malformed request): the API must
		// answer 500 internal with a generic message.
		d := ddbdouble.New(nil, ddbdouble.Config{NoConflicts: true, Fault: func(op string, _ []byte) *ddbdouble.Fault {
			if op != "Query" {
				return nil
			}
			return &ddbdouble.Fault{Type: "ValidationException", Message: "One or more parameter values were invalid"}
		}})
		h := e.harness(dynamotest.Through(e.tab.client, d), 0)
		resp := e.call(h, "get-outdial", e.req("get-outdial", ""))
		if d.Stats("").Faults == 0 {
			t.Errorf("get-outdial made no Query call to refuse")
		}
		return resp
	}

	producers := map[string][]errorProducer{
		outdial.ECodeInvalidJSON: {
			{"truncated body", send("create-outdial", body(`{"name":`))},
			{"array body", send("add-targets", body(`[{"name":"x"}]`))},
		},
		outdial.ECodeInvalidCSV: {
			{"CSV without a destination column", send("add-targets", header("content-type", "text/csv"), body("name\nAda\n"))},
		},
		outdial.ECodeUnknownField: {
			{"status in a create", send("create-outdial", body(`{"name":"n","status":"idle"}`))},
		},
		outdial.ECodeMissingField: {
			{"no name", send("create-outdial", body(`{"detail":"d"}`))},
		},
		outdial.ECodeInvalidField: {
			{"name too long", send("create-outdial", body(`{"name":"`+strings.Repeat("x", outdial.MaxNameLen+1)+`"}`))},
			{"name with a tab", send("update-outdial", body(`{"name":"a\tb"}`))},
		},
		outdial.ECodeInvalidID: {
			{"path id", send("get-outdial", pathParam("id", "nope"))},
			{"campaign_id", send("update-outdial-campaign", body(`{"campaign_id":"campaign-1"}`))},
		},
		outdial.ECodeInvalidQuery: {
			{"default_region=XX", send("add-targets", query("default_region", "XX"))},
			{"default_region=USA on CSV", send("add-targets", header("content-type", "text/csv"), body("destination\n(555) 123-4567\n"), query("default_region", "USA"))},
			{"page_size=0", send("list-outdials", query("page_size", "0"))},
			{"status=answered", send("list-targets", query("status", "answered"))},
		},
		outdial.ECodeInvalidPageToken: {
			{"garbage", send("list-outdials", query("page_token", "%%%"))},
		},
		outdial.ECodeUnauthenticated: {
			{"no customer from the authorizer", send("get-outdial", func(r *apigw.Request) {
				delete(r.RequestContext.Authorizer.Lambda, "customer_id")
			})},
		},
		outdial.ECodeNotFound: {
			{"missing outdial", send("get-outdial", pathParam("id", uuid.NewString()))},
			{"another customer's outdial", func(t *testing.T) apigw.Response {
				return invoke(t, a.ctx, a, cleanCallTimeout, "get-outdial", a.event("get-outdial", uuid.NewString(), o.ID))
			}},
		},
		outdial.ECodeBodyTooLarge: {
			{"body over 64 KiB", send("create-outdial", body(`{"name":"x","detail":"`+strings.Repeat("y", api.MaxOutdialBody)+`"}`))},
		},
		outdial.ECodeUnsupportedMedia: {
			{"XML", send("add-targets", header("content-type", "application/xml"), body("<targets/>"))},
		},
		outdial.ECodeArchived: {
			{"claim from an archived outdial", func(t *testing.T) apigw.Response {
				arch := a.createOutdial("", "")
				a.with(t).call("archive-outdial", a.h.ArchiveOutdial, a.event("archive-outdial", "", arch.ID))
				return invoke(t, a.ctx, a, cleanCallTimeout, "claim-targets", a.event("claim-targets", "", arch.ID))
			}},
		},
		outdial.ECodeSuppressed: {
			{"a single target whose destination is suppressed", func(t *testing.T) apigw.Response {
				cust := a.event("add-targets", "", "").RequestContext.Authorizer.Lambda["customer_id"].(string)
				if _, _, err := a.store.AddSuppressions(a.ctx, cust, []string{"tel:+15550009876"}); err != nil {
					t.Fatal(err)
				}
				return send("add-targets", body(`{"destination":{"type":"tel","target":"+15550009876"}}`))(t)
			}},
		},
		outdial.ECodeUnavailable: {
			{"DynamoDB throttles every read", throttled},
		},
		outdial.ECodeInternal: {
			{"DynamoDB refuses the request", broken},
		},
	}

	rows := readmeErrorTable(t)
	tested := map[string]bool{}
	for _, row := range rows {
		t.Run(row.code, func(t *testing.T) {
			ps, ok := producers[row.code]
			if !ok {
				// No request can produce it: the table must say so, and the
				// mapping from error to answer must still follow the row.
				if !strings.Contains(row.when, notAnswered) {
					t.Fatalf("docs/api.md says %s is answered (%q), but this test has no request that produces it; add one", row.code, row.when)
				}
				r := a.event("get-outdial", "", o.ID)
				resp := apigw.Error(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), r, outdial.Errorf(row.code, "x"))
				wantCode(t, resp, row.status, row.code)
				return
			}
			if strings.Contains(row.when, notAnswered) {
				t.Errorf("docs/api.md says %s is %s, but a request here produces it", row.code, notAnswered)
			}
			for _, p := range ps {
				t.Run(p.name, func(t *testing.T) {
					wantCode(t, p.do(t), row.status, row.code)
				})
			}
		})
		tested[row.code] = true
	}
	for code := range producers {
		if !tested[code] {
			t.Errorf("a request here produces %s, which the docs/api.md error table lacks", code)
		}
	}
}

// wantCode checks that resp is the error envelope with status and code.
func wantCode(t *testing.T, resp apigw.Response, status int, code string) {
	t.Helper()
	e := errorBody(t, resp)
	if resp.StatusCode != status || e.Code != code || e.Reason != strings.ToUpper(code) {
		t.Errorf("got %d %s (reason %s), want %d %s; body %s", resp.StatusCode, e.Code, e.Reason, status, code, resp.Body)
	}
}

// TestNameRulesOnEveryRoute sends refused and accepted names and details
// through every route that takes them: outdial create and update, a single
// target, a batch row and a CSV row (rows are rejected on their own).
func TestNameRulesOnEveryRoute(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	refused := []struct{ name, json, csv string }{
		{"tab", `a\tb`, "a\tb"},
		{"line feed", `a\nb`, "\"a\nb\""},
		{"only a zero-width space", `\u200b`, "\u200b"},
		{"right-to-left override", `evil\u202etxt.exe`, "evil\u202etxt.exe"},
		{"C1 control", `a\u0085b`, "a\u0085b"},
	}
	for i, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			a := a.with(t)
			for _, fixture := range []string{"create-outdial", "update-outdial"} {
				r := a.event(fixture, "", o.ID)
				r.Body = `{"name":"` + tt.json + `"}`
				wantError(t, a.do(fixture, r), http.StatusBadRequest, outdial.ECodeInvalidField, "name")
			}
			tel := func(n int) string { return "+1555300" + strconv.Itoa(1000+10*i+n) }
			r := a.event("add-targets", "", o.ID)
			r.Body = `{"name":"` + tt.json + `","destination":{"type":"tel","target":"` + tel(0) + `"}}`
			wantError(t, a.do("add-targets", r), http.StatusBadRequest, outdial.ECodeInvalidField, "name")

			batch := a.importTargets(o.ID, "application/json", `{"targets":[{"name":"`+tt.json+`","destination":{"type":"tel","target":"`+tel(1)+`"}}]}`)
			csv := a.importTargets(o.ID, "text/csv", "name,destination\n"+tt.csv+","+tel(2)+"\n")
			for what, res := range map[string]api.ImportResponse{"batch": batch, "CSV": csv} {
				if res.Created != 0 || len(res.RejectedTargets) != 1 || res.RejectedTargets[0].Code != outdial.ECodeInvalidField || res.RejectedTargets[0].Field != "name" {
					t.Errorf("%s row: %s, want the row rejected with invalid_field on name", what, asJSON(res))
				}
			}
		})
	}

	// Accepted: an emoji joined by U+200D, lines in a detail.
	var got outdial.Outdial
	r := a.event("update-outdial", "", o.ID)
	r.Body = `{"name":"\u200b👩‍💻 team ","detail":"one\ntwo\tthree"}`
	a.ok("update-outdial", r, &got)
	if got.Name != "👩‍💻 team" || got.Detail != "one\ntwo\tthree" {
		t.Errorf("name %q detail %q, want %q and the detail as sent", got.Name, got.Detail, "👩‍💻 team")
	}
	res := a.importTargets(o.ID, "application/json", `{"targets":[{"name":"👩‍💻 team","detail":"a\nb","destination":{"type":"tel","target":"+15553009999"}}]}`)
	if res.Created != 1 {
		t.Fatalf("target with an emoji name: %s", asJSON(res))
	}
	if tg := a.getTarget(o.ID, res.CreatedTargets[0].TargetID); tg.Name != "👩‍💻 team" || tg.Detail != "a\nb" {
		t.Errorf("stored target name %q detail %q", tg.Name, tg.Detail)
	}
	r = a.event("update-outdial", "", o.ID)
	r.Body = `{"detail":"invoice \u202efdp.exe"}`
	wantError(t, a.do("update-outdial", r), http.StatusBadRequest, outdial.ECodeInvalidField, "detail")
}
