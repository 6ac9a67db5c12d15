package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/api"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/samtemplate"
)

// importTargets posts body to the outdial's targets with contentType and
// the query kv, and wants 200 with an import summary.
func (a *apiHarness) importTargets(outdialID, contentType, body string, kv ...string) api.ImportResponse {
	a.t.Helper()
	req := a.event("add-targets", "", outdialID)
	req.Headers["content-type"] = contentType
	req.Body = body
	query(kv...)(&req)
	var res api.ImportResponse
	a.ok("add-targets", req, &res)
	return res
}

// getTarget reads one target through the handler.
func (a *apiHarness) getTarget(outdialID, targetID string) *outdial.Target {
	a.t.Helper()
	req := a.event("get-target", "", outdialID)
	req.PathParameters["target_id"] = targetID
	var tg outdial.Target
	a.ok("get-target", req, &tg)
	return &tg
}

// listTargets pages through the outdial's targets (status may be empty)
// with page size size and returns them in order; it fails the test on a
// target listed twice.
func (a *apiHarness) listTargets(outdialID, status string, size int) []*outdial.Target {
	a.t.Helper()
	var out []*outdial.Target
	seen := map[string]bool{}
	token := ""
	for page := 0; ; page++ {
		if page > 10000 {
			a.t.Fatalf("no last page after %d pages", page)
		}
		req := a.event("list-targets", "", outdialID)
		req.QueryStringParameters = map[string]string{"page_size": fmt.Sprint(size)}
		if status != "" {
			req.QueryStringParameters["status"] = status
		}
		if token != "" {
			req.QueryStringParameters["page_token"] = token
		}
		var list apigw.List[*outdial.Target]
		a.ok("list-targets", req, &list)
		if list.Result == nil {
			a.t.Errorf("page %d: result is null, want an array", page)
		}
		for _, tg := range list.Result {
			if seen[tg.ID] {
				a.t.Fatalf("target %s listed twice", tg.ID)
			}
			seen[tg.ID] = true
			out = append(out, tg)
		}
		if list.NextPageToken == "" {
			return out
		}
		token = list.NextPageToken
	}
}

// destID returns the id of the target whose first destination is typ
// and target in the customer's outdial (the store derives it under the
// outdial's id key, which nobody outside the store sees).
func (a *apiHarness) destID(cust, outdialID, typ, target string) string {
	a.t.Helper()
	id, err := a.store.TargetIDOf(a.ctx, cust, outdialID, outdial.Address{Type: typ, Target: target})
	if err != nil {
		a.t.Fatal(err)
	}
	return id
}

// telID is destID of a phone number.
func (a *apiHarness) telID(cust, outdialID, e164 string) string {
	a.t.Helper()
	return a.destID(cust, outdialID, outdial.TypeTel, e164)
}

func TestTargetRoutes(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")

	// Import the fixture's two targets.
	var res api.ImportResponse
	a.ok("add-targets", a.event("add-targets", "", o.ID), &res)
	want := []api.CreatedRef{{Index: 0, TargetID: a.telID(o.CustomerID, o.ID, "+15551234567")}, {Index: 1, TargetID: a.telID(o.CustomerID, o.ID, "+15559876543")}}
	if res.Created != 2 || res.Duplicates != 0 || res.Rejected != 0 || asJSON(res.CreatedTargets) != asJSON(want) {
		t.Errorf("import = %s, want 2 created: %s", asJSON(res), asJSON(want))
	}
	var raw map[string]json.RawMessage
	a.ok("add-targets", a.event("add-targets", "", o.ID), &raw)
	for _, k := range []string{"duplicate_targets", "rejected_targets", "created_targets"} {
		if s := string(raw[k]); s == "null" || s == "" {
			t.Errorf("re-import: %s = %q, want an array", k, s)
		}
	}

	// Get one; its wire form.
	req := a.event("get-target", "", o.ID)
	req.PathParameters["target_id"] = want[0].TargetID
	var wire map[string]json.RawMessage
	a.ok("get-target", req, &wire)
	for _, k := range []string{"id", "outdial_id", "name", "detail", "data", "destination", "destination_index", "try_count_max", "try_count_current", "status", "tm_last_result", "next_attempt_at", "reason", "tm_create", "tm_update",
		"destination_0", "destination_1", "destination_2", "destination_3", "destination_4", "try_count_0", "try_count_1", "try_count_2", "try_count_3", "try_count_4"} {
		if _, ok := wire[k]; !ok {
			t.Errorf("target JSON lacks %q: %v", k, wire)
		}
	}
	// data is text ("" when unset); VoIPBIN's slots hold the destination in
	// destination_0, the others are {}.
	if got := string(wire["data"]); got != `""` {
		t.Errorf("data = %s, want \"\"", got)
	}
	if got, want := string(wire["destination_0"]), `{"type":"tel","target":"+15551234567"}`; got != want {
		t.Errorf("destination_0 = %s, want %s", got, want)
	}
	for _, k := range []string{"destination_1", "destination_2", "destination_3", "destination_4"} {
		if got := string(wire[k]); got != "{}" {
			t.Errorf("%s = %s, want {}", k, got)
		}
	}
	if _, ok := wire["destinations"]; ok {
		t.Errorf("a one-destination target carries destinations: %s", wire["destinations"])
	}
	tg := a.getTarget(o.ID, strings.ToUpper(want[0].TargetID))
	if tg.ID != want[0].TargetID || tg.OutdialID != o.ID || tg.Status != outdial.StatusIdle ||
		tg.Destination != (outdial.Address{Type: "tel", Target: "+15551234567"}) || tg.TryCountMax != 3 || tg.TryCountCurrent != 0 ||
		tg.NextAttemptAt.IsZero() || tg.TMCreate.IsZero() || !tg.TMLastResult.IsZero() {
		t.Errorf("target = %s", asJSON(tg))
	}

	// List with the fixture's query (status idle, page size 50), and all.
	var list apigw.List[*outdial.Target]
	a.ok("list-targets", a.event("list-targets", "", o.ID), &list)
	if len(list.Result) != 2 || list.NextPageToken == "" {
		t.Errorf("idle list = %d targets, token %q; want 2 and the end page's token", len(list.Result), list.NextPageToken)
	}
	if got := a.listTargets(o.ID, "", 1); len(got) != 2 {
		t.Errorf("paged list = %d targets, want 2", len(got))
	}

	// Counts on the outdial.
	if got := a.getOutdial("", o.ID); got.TargetCount != 2 || got.Counts != (outdial.Counts{Idle: 2}) {
		t.Errorf("outdial counts = %d %+v, want 2 idle", got.TargetCount, got.Counts)
	}

	// Delete one: the answer is the target; then it is gone.
	req = a.event("delete-target", "", o.ID)
	req.PathParameters["target_id"] = want[1].TargetID
	var deleted outdial.Target
	a.ok("delete-target", req, &deleted)
	if deleted.ID != want[1].TargetID || deleted.Destination.Target != "+15559876543" {
		t.Errorf("DELETE answered %s", asJSON(&deleted))
	}
	for _, fixture := range []string{"get-target", "delete-target"} {
		req := a.event(fixture, "", o.ID)
		req.PathParameters["target_id"] = want[1].TargetID
		wantError(t, a.do(fixture, req), http.StatusNotFound, outdial.ECodeNotFound, "target")
	}
	if got := a.getOutdial("", o.ID); got.TargetCount != 1 || got.Counts != (outdial.Counts{Idle: 1}) {
		t.Errorf("outdial counts after delete = %d %+v, want 1 idle", got.TargetCount, got.Counts)
	}
	if got := a.listTargets(o.ID, "", 100); len(got) != 1 || got[0].ID != want[0].TargetID {
		t.Errorf("list after delete = %s", asJSON(got))
	}
}

func TestAddTargetsJSONBatchWithMixedRows(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	bigData := `"` + strings.Repeat("d", outdial.MaxTargetData+1) + `"` // one byte over 4 KiB of text
	rows := []string{
		0:  `{"destination":{"type":"tel","target":"+1 555 123 4567"},"try_count_max":3,"name":"Ada","data":"crm=1"}`,
		1:  `{"destination":{"type":"tel","target":"12ab"}}`,
		2:  `{"destination":{"type":"email","target":"Bob@Example.COM"},"try_count_max":1}`,
		3:  `{"name":"nobody"}`,
		4:  `{"destination":{"type":"tel","target":"+15551234567"},"name":"Ada again"}`,
		5:  `{"destination":{"type":"tel","target":"+15550000005"},"status":"finished"}`,
		6:  `{"destination":{"type":"tel","target":"+15550000006"},"try_count_max":0}`,
		7:  `{"destination":{"type":"tel","target":"+15550000007"},"data":` + bigData + `}`,
		8:  `5`,
		9:  `{"destination":{"type":"sip","target":"sip:carol@Example.com:5060"}}`,
		10: `{"destination":{"type":"tel","target":"+15550000010","id":"x"}}`,
		11: `{"destination":{"type":"fax","target":"+15550000011"}}`,
		12: `{"destinations":[{"type":"tel","target":"+15550000012","try_count_max":2},{"type":"email","target":"dan@example.com"}],"try_count_max":4}`,
		13: `{"destination":{"type":"tel","target":"+15550000013"},"try_count_current":2}`,
		14: `{"destination":{"type":"tel","target":"+15550000014"},"id":"` + uuid.NewString() + `"}`,
		15: `{"destinations":[{"type":"tel","target":"+15550000015"},{"type":"tel","target":"+1 555 000 0015"}]}`,
		16: `{"destination":{"type":"tel","target":"+15550000016"},"data":{"crm":1}}`, // data is text
	}
	batch := `{"targets":[` + strings.Join(rows, ",") + `]}`
	res := a.importTargets(o.ID, "application/json; charset=utf-8", batch)

	wantCreated := []api.CreatedRef{
		{Index: 0, TargetID: a.telID(o.CustomerID, o.ID, "+15551234567")},
		{Index: 2, TargetID: a.destID(o.CustomerID, o.ID, outdial.TypeEmail, "bob@example.com")},
		{Index: 9, TargetID: a.destID(o.CustomerID, o.ID, outdial.TypeSIP, "sip:carol@example.com:5060")},
		{Index: 12, TargetID: a.telID(o.CustomerID, o.ID, "+15550000012")},
	}
	wantDups := []outdial.Duplicate{{Index: 4, TargetID: a.telID(o.CustomerID, o.ID, "+15551234567"), Reason: "repeated_in_request"}}
	wantRejected := []struct {
		index       int
		code, field string
	}{
		{1, outdial.ECodeInvalidField, "destination.target"},
		{3, outdial.ECodeMissingField, "destination"},
		{5, outdial.ECodeUnknownField, "status"},
		{6, outdial.ECodeInvalidField, "try_count_max"},
		{7, outdial.ECodeInvalidField, "data"},
		{8, outdial.ECodeInvalidJSON, ""},
		{10, outdial.ECodeUnknownField, "destination.id"},
		{11, outdial.ECodeInvalidField, "destination.type"},
		{13, outdial.ECodeUnknownField, "try_count_current"},
		{14, outdial.ECodeUnknownField, "id"},
		{15, outdial.ECodeInvalidField, "destinations[1]"},
		{16, outdial.ECodeInvalidField, "data"},
	}
	if res.Created != len(wantCreated) || res.Duplicates != len(wantDups) || res.Rejected != len(wantRejected) {
		t.Errorf("counts = %d created, %d duplicates, %d rejected; want %d, %d, %d", res.Created, res.Duplicates, res.Rejected, len(wantCreated), len(wantDups), len(wantRejected))
	}
	if asJSON(res.CreatedTargets) != asJSON(wantCreated) {
		t.Errorf("created_targets =\n%s\nwant\n%s", asJSON(res.CreatedTargets), asJSON(wantCreated))
	}
	if asJSON(res.DuplicateTargets) != asJSON(wantDups) {
		t.Errorf("duplicate_targets = %s, want %s", asJSON(res.DuplicateTargets), asJSON(wantDups))
	}
	if len(res.RejectedTargets) != len(wantRejected) {
		t.Fatalf("rejected_targets = %s", asJSON(res.RejectedTargets))
	}
	for i, w := range wantRejected {
		r := res.RejectedTargets[i]
		if r.Index != w.index || r.Code != w.code || r.Field != w.field || r.Message == "" || !strings.Contains(r.Message, w.field) {
			t.Errorf("rejected_targets[%d] = %s, want index %d, code %s, field %q named in the message", i, asJSON(r), w.index, w.code, w.field)
		}
	}

	// The valid rows are stored, normalised.
	ada := a.getTarget(o.ID, wantCreated[0].TargetID)
	if ada.Name != "Ada" || ada.Data != "crm=1" || ada.Destination.Target != "+15551234567" || ada.TryCountMax != 3 {
		t.Errorf("Ada = %s", asJSON(ada))
	}
	multi := a.getTarget(o.ID, wantCreated[3].TargetID)
	wantDests := []outdial.TargetDestination{{Type: "tel", Target: "+15550000012", TryCountMax: 2}, {Type: "email", Target: "dan@example.com", TryCountMax: 4}}
	if asJSON(multi.Destinations) != asJSON(wantDests) || multi.TryCountMax != 6 || multi.Destination != wantDests[0].Address() {
		t.Errorf("multi-destination target = %s", asJSON(multi))
	}
	if got := a.getOutdial("", o.ID); got.Counts != (outdial.Counts{Idle: 4}) {
		t.Errorf("counts = %+v, want 4 idle", got.Counts)
	}

	// The client retries the request (a new request id): nothing new.
	again := a.importTargets(o.ID, "application/json", batch)
	if again.Created != 0 || again.Duplicates != 5 || again.Rejected != len(wantRejected) {
		t.Errorf("retry = %d created, %d duplicates, %d rejected; want 0, 5, %d", again.Created, again.Duplicates, again.Rejected, len(wantRejected))
	}
	for _, d := range again.DuplicateTargets {
		if want := map[int]string{4: "repeated_in_request"}[d.Index]; want != "" && d.Reason != want || want == "" && d.Reason != "exists" {
			t.Errorf("retry duplicate %s", asJSON(d))
		}
	}
	if got := a.getOutdial("", o.ID); got.Counts != (outdial.Counts{Idle: 4}) {
		t.Errorf("counts after the retry = %+v, want 4 idle", got.Counts)
	}
	if got := a.getTarget(o.ID, wantCreated[0].TargetID); asJSON(got) != asJSON(ada) {
		t.Errorf("Ada changed by the retry:\n%s\nwas\n%s", asJSON(got), asJSON(ada))
	}

	// A batch of nothing but bad rows stores nothing and says why.
	res = a.importTargets(o.ID, "application/json", `{"targets":[{"destination":{"type":"tel","target":"x"}}, {}]}`)
	if res.Created != 0 || res.Rejected != 2 || len(res.CreatedTargets) != 0 {
		t.Errorf("all-bad batch = %s", asJSON(res))
	}
}

// TestAddTargetsSameRequestTwice replays one request with its request id,
// as `sam local invoke` or `make invoke` does with an events/ payload.
func TestAddTargetsSameRequestTwice(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	req := a.event("add-targets", "", o.ID)
	var first, second api.ImportResponse
	a.ok("add-targets", req, &first)
	time.Sleep(5 * time.Millisecond)
	a.ok("add-targets", req, &second)
	if first.Created != 2 || second.Created != 0 || second.Duplicates != 2 {
		t.Errorf("first %d created; replay %d created, %d duplicates; want 2, then 0 and 2", first.Created, second.Created, second.Duplicates)
	}
	if got := a.getOutdial("", o.ID); got.Counts != (outdial.Counts{Idle: 2}) {
		t.Errorf("counts = %+v, want 2 idle", got.Counts)
	}
}

func TestAddTargetsSingleForm(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	post := func(b string) apigw.Response {
		req := a.event("add-targets", "", o.ID)
		req.Body = b
		return a.do("add-targets", req)
	}
	decode := func(resp apigw.Response) *outdial.Target {
		t.Helper()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
		var tg outdial.Target
		if err := json.Unmarshal([]byte(resp.Body), &tg); err != nil {
			t.Fatal(err)
		}
		return &tg
	}

	first := decode(post(`{"destination":{"type":"TEL","target":" +1 (555) 123-4567 "},"try_count_max":2,"name":"Ada","detail":"d","data":"x=1"}`))
	if first.ID != a.telID(o.CustomerID, o.ID, "+15551234567") || first.OutdialID != o.ID || first.Status != outdial.StatusIdle ||
		first.TryCountMax != 2 || first.Name != "Ada" || first.Data != "x=1" || first.Destination != (outdial.Address{Type: "tel", Target: "+15551234567"}) {
		t.Errorf("single target = %s", asJSON(first))
	}
	if got := a.getTarget(o.ID, first.ID); asJSON(got) != asJSON(first) {
		t.Errorf("GET =\n%s\nPOST answered\n%s", asJSON(got), asJSON(first))
	}
	// Re-posting it, even with other fields, answers the existing target.
	for _, b := range []string{
		`{"destination":{"type":"tel","target":"+1 (555) 123-4567"},"try_count_max":2,"name":"Ada","detail":"d","data":"x=1"}`,
		`{"destination":{"type":"tel","target":"+15551234567"},"name":"Someone else","try_count_max":9}`,
	} {
		if got := decode(post(b)); asJSON(got) != asJSON(first) {
			t.Errorf("re-post answered\n%s\nwant the existing target\n%s", asJSON(got), asJSON(first))
		}
	}
	if got := a.getOutdial("", o.ID); got.TargetCount != 1 {
		t.Errorf("target_count = %d, want 1", got.TargetCount)
	}

	// curl --data sends text/plain or form-urlencoded: read as JSON.
	for i, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		req := a.event("add-targets", "", o.ID)
		req.Headers["content-type"] = ct
		req.Body = fmt.Sprintf(`{"destination":{"type":"tel","target":"+1555000990%d"}}`, i)
		if got := decode(a.do("add-targets", req)); got.Destination.Target != fmt.Sprintf("+1555000990%d", i) {
			t.Errorf("Content-Type %q: target %s", ct, asJSON(got))
		}
	}

	// Several destinations in the single form.
	multi := decode(post(`{"destinations":[{"type":"email","target":"Ada@Example.com","try_count_max":1},{"type":"sip","target":"sip:ada@example.com"}]}`))
	if len(multi.Destinations) != 2 || multi.Destinations[0].Target != "ada@example.com" || multi.TryCountMax != 4 || multi.ID != a.destID(o.CustomerID, o.ID, outdial.TypeEmail, "ada@example.com") {
		t.Errorf("multi-destination single target = %s", asJSON(multi))
	}

	// A bad single target is the request's error, with its field.
	for _, c := range []struct {
		body, code, field string
	}{
		{`{"destination":{"type":"fax","target":"1"}}`, outdial.ECodeInvalidField, "destination.type"},
		{`{"destination":{"type":"tel","target":"555 123 4567"}}`, outdial.ECodeInvalidField, "destination.target"},
		{`{"destination":{"type":"email","target":"Ada <ada@example.com>"}}`, outdial.ECodeInvalidField, "destination.target"},
		{`{"destination":{"type":"sip","target":"sip:ada@example.com\r\nVia: x"}}`, outdial.ECodeInvalidField, "destination.target"},
		{`{"destination":{"type":"tel","target":"+15551234567"},"destinations":[{"type":"tel","target":"+15551234568"}]}`, outdial.ECodeInvalidField, "destinations"},
		{`{"destination":{"type":"tel","target":"+15551234567"},"destination_1":{"type":"tel","target":"+15551234568"}}`, outdial.ECodeInvalidField, "destination_1"},
		{`{"destination":{"type":"tel","target":"+15551234567"},"try_count_max":21}`, outdial.ECodeInvalidField, "try_count_max"},
		{`{"destination":{"type":"tel","target":"+15551234567"},"data":{"x":1}}`, outdial.ECodeInvalidField, "data"},
		{`{"destination":{"type":"tel","target":"+15551234567"},"data":"` + strings.Repeat("d", outdial.MaxTargetData+1) + `"}`, outdial.ECodeInvalidField, "data"},
		{`{"destination":{"type":"tel","target":"+15551234567"},"name":"` + strings.Repeat("n", outdial.MaxNameLen+1) + `"}`, outdial.ECodeInvalidField, "name"},
		{`{}`, outdial.ECodeMissingField, "destination"},
	} {
		t.Run(c.field, func(t *testing.T) {
			wantError(t, post(c.body), http.StatusBadRequest, c.code, c.field)
		})
	}
	if got := a.getOutdial("", o.ID); got.TargetCount != 5 {
		t.Errorf("target_count after the bad posts = %d, want 5", got.TargetCount)
	}
}

func TestAddTargetsCSV(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	csv := "\ufeffName,Destination,try_count_max,Company,Note\r\n" +
		"\"Lovelace, Ada\",(555) 123-4567,2,\"Acme, Inc.\",\"said \"\"call me\"\"\"\r\n" +
		"Bob,+1 555 987 6543,,Initech,\r\n" +
		"Carol,555-000-0001,,,\"two\r\nlines\"\r\n" +
		"Dup,555.123.4567,,,\r\n" +
		"Bad,12ab,,,\r\n" +
		"Eve,eve@example.com,,,\r\n" +
		"Sip,sip:eve@example.com,,,\r\n"
	res := a.importTargets(o.ID, "text/csv; charset=utf-8", csv, "default_region", "us")

	ada, bob, carol := a.telID(o.CustomerID, o.ID, "+15551234567"), a.telID(o.CustomerID, o.ID, "+15559876543"), a.telID(o.CustomerID, o.ID, "+15550000001")
	eve, sip := a.destID(o.CustomerID, o.ID, outdial.TypeEmail, "eve@example.com"), a.destID(o.CustomerID, o.ID, outdial.TypeSIP, "sip:eve@example.com")
	wantCreated := []api.CreatedRef{
		{Index: 0, Line: 2, TargetID: ada}, {Index: 1, Line: 3, TargetID: bob}, {Index: 2, Line: 4, TargetID: carol},
		{Index: 5, Line: 8, TargetID: eve}, {Index: 6, Line: 9, TargetID: sip},
	}
	if asJSON(res.CreatedTargets) != asJSON(wantCreated) {
		t.Errorf("created_targets =\n%s\nwant\n%s", asJSON(res.CreatedTargets), asJSON(wantCreated))
	}
	wantDups := []outdial.Duplicate{{Index: 3, Line: 6, TargetID: ada, Reason: "repeated_in_request"}}
	if asJSON(res.DuplicateTargets) != asJSON(wantDups) {
		t.Errorf("duplicate_targets = %s, want %s", asJSON(res.DuplicateTargets), asJSON(wantDups))
	}
	if len(res.RejectedTargets) != 1 {
		t.Fatalf("rejected_targets = %s, want the Bad row", asJSON(res.RejectedTargets))
	}
	if r := res.RejectedTargets[0]; r.Index != 4 || r.Line != 7 || r.Code != outdial.ECodeInvalidField || r.Field != "destination.target" || !strings.Contains(r.Message, "destination.target") {
		t.Errorf("rejected = %s, want index 4, line 7, invalid_field on destination.target", asJSON(r))
	}
	if res.Created != 5 || res.Duplicates != 1 || res.Rejected != 1 {
		t.Errorf("counts = %d/%d/%d, want 5/1/1", res.Created, res.Duplicates, res.Rejected)
	}

	for _, c := range []struct {
		id, name, target, data string
		max                    int
	}{
		{ada, "Lovelace, Ada", "+15551234567", `{"Company":"Acme, Inc.","Note":"said \"call me\""}`, 2},
		{bob, "Bob", "+15559876543", `{"Company":"Initech"}`, 3},
		{carol, "Carol", "+15550000001", `{"Note":"two\nlines"}`, 3}, // encoding/csv drops \r before \n
		{eve, "Eve", "eve@example.com", "", 3},
		{sip, "Sip", "sip:eve@example.com", "", 3},
	} {
		tg := a.getTarget(o.ID, c.id)
		if tg.Name != c.name || tg.Destination.Target != c.target || tg.Data != c.data || tg.TryCountMax != c.max {
			t.Errorf("target %s = %s; want name %q, target %s, data %q, try_count_max %d", c.name, asJSON(tg), c.name, c.target, c.data, c.max)
		}
	}

	// Again without default_region, base64-encoded: the national numbers
	// are rejected (naming default_region), the rest already exist.
	req := a.event("add-targets", "", o.ID)
	req.Headers["Content-Type"] = "application/csv"
	delete(req.Headers, "content-type")
	req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(csv)), true
	var again api.ImportResponse
	a.ok("add-targets", req, &again)
	if again.Created != 0 || again.Duplicates != 3 || again.Rejected != 4 {
		t.Errorf("without default_region: %d/%d/%d, want 0 created, 3 duplicates, 4 rejected: %s", again.Created, again.Duplicates, again.Rejected, asJSON(again))
	}
	for _, r := range again.RejectedTargets {
		if r.Index == 0 && !strings.Contains(r.Message, "default_region") {
			t.Errorf("national number without a region: message %q does not mention default_region", r.Message)
		}
	}
	if got := a.getOutdial("", o.ID); got.Counts != (outdial.Counts{Idle: 5}) {
		t.Errorf("counts = %+v, want 5 idle", got.Counts)
	}

	// Semicolon-separated, tel columns for several destinations.
	res = a.importTargets(o.ID, "text/csv", "name;tel;tel;email\nFrank;+15550000100;+15550000101;frank@example.com\n")
	if res.Created != 1 {
		t.Fatalf("semicolon CSV = %s", asJSON(res))
	}
	frank := a.getTarget(o.ID, res.CreatedTargets[0].TargetID)
	if len(frank.Destinations) != 3 || frank.Destinations[2].Target != "frank@example.com" || frank.Name != "Frank" {
		t.Errorf("Frank = %s", asJSON(frank))
	}
}

func TestTargetListsByStatus(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	var rows []string
	for i := 0; i < 9; i++ {
		rows = append(rows, fmt.Sprintf(`{"destination":{"type":"tel","target":"+1555000%04d"}}`, i))
	}
	if res := a.importTargets(o.ID, "application/json", `{"targets":[`+strings.Join(rows, ",")+`]}`); res.Created != 9 {
		t.Fatalf("import = %s", asJSON(res))
	}
	time.Sleep(2 * time.Millisecond) // due <= now
	claims, err := a.store.ClaimTargets(a.ctx, samtemplate.EventCustomerID, o.ID, 3, time.Minute)
	if err != nil || len(claims) != 3 {
		t.Fatalf("ClaimTargets = %d, %v", len(claims), err)
	}
	dialing := map[string]bool{}
	for _, c := range claims {
		dialing[c.Target.ID] = true
	}

	for _, c := range []struct {
		status string
		want   int
	}{{"idle", 6}, {"dialing", 3}, {"finished", 0}, {"failed", 0}, {"", 9}} {
		for _, size := range []int{1, 2, 100} {
			got := a.listTargets(o.ID, c.status, size)
			if len(got) != c.want {
				t.Errorf("status %q, page size %d: %d targets, want %d", c.status, size, len(got), c.want)
			}
			for _, tg := range got {
				if c.status != "" && string(tg.Status) != c.status {
					t.Errorf("status %q list holds %s in %s", c.status, tg.ID, tg.Status)
				}
				if c.status == "dialing" && !dialing[tg.ID] {
					t.Errorf("dialing list holds %s, which was not claimed", tg.ID)
				}
			}
		}
	}
	// An empty list is an empty array, not null.
	req := a.event("list-targets", "", o.ID)
	req.QueryStringParameters["status"] = "failed"
	resp := a.do("list-targets", req)
	if !strings.Contains(resp.Body, `"result":[]`) {
		t.Errorf("empty list body = %s, want \"result\":[]", resp.Body)
	}
}

func TestTargetRouteErrors(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	imp := a.importTargets(o.ID, "application/json", `{"targets":[{"destination":{"type":"tel","target":"+15551234567"}},{"destination":{"type":"tel","target":"+15551234568"}}]}`)
	if imp.Created != 2 {
		t.Fatalf("import = %s", asJSON(imp))
	}
	target := imp.CreatedTargets[0].TargetID

	// A page token of this very list, tampered with.
	req := a.event("list-targets", "", o.ID)
	req.QueryStringParameters = map[string]string{"page_size": "1"}
	var list apigw.List[*outdial.Target]
	a.ok("list-targets", req, &list)
	if list.NextPageToken == "" {
		t.Fatal("no page token")
	}
	tok := list.NextPageToken
	// A cursor in the readable form tokens once had (base64url JSON and a
	// signature) is refused like any other forgery.
	forged := base64.RawURLEncoding.EncodeToString([]byte(`{"k":1,"id":"`+uuid.NewString()+`"}`)) + "." + tok[:43]

	var tooManyJSON, tooManyCSV strings.Builder
	tooManyJSON.WriteString(`{"targets":[`)
	tooManyCSV.WriteString("destination\n")
	for i := 0; i <= outdial.MaxTargetsPerRequest; i++ {
		if i > 0 {
			tooManyJSON.WriteByte(',')
		}
		fmt.Fprintf(&tooManyJSON, `{"destination":{"type":"tel","target":"+1555%07d"}}`, i)
		fmt.Fprintf(&tooManyCSV, "+1555%07d\n", i)
	}
	tooManyJSON.WriteString(`]}`)
	contentType := func(ct string) func(*apigw.Request) {
		return func(r *apigw.Request) { r.Headers["content-type"] = ct }
	}
	csvBody := func(b string) func(*apigw.Request) {
		return func(r *apigw.Request) { r.Headers["content-type"], r.Body = "text/csv", b }
	}
	targetPath := func(v string) func(*apigw.Request) { return pathParam("target_id", v) }
	valid := `{"destination":{"type":"tel","target":"+15550009999"}`

	var cases []errorCase
	for _, f := range []string{"id", "outdial_id", "customer_id", "status", "try_count_current", "tm_create", "tm_update", "next_attempt_at", "reason", "last_result"} {
		cases = append(cases, errorCase{"single with " + f, "add-targets", body(valid + `,"` + f + `":"x"}`), 400, outdial.ECodeUnknownField, f})
	}
	cases = append(cases,
		errorCase{"invalid JSON", "add-targets", body(`{"targets":[`), 400, outdial.ECodeInvalidJSON, "body"},
		errorCase{"invalid UTF-8", "add-targets", body("{\"targets\":[{\"name\":\"\xc3\x28\"}]}"), 400, outdial.ECodeInvalidJSON, "body"},
		errorCase{"empty body", "add-targets", body(""), 400, outdial.ECodeInvalidJSON, "body"},
		errorCase{"targets not an array", "add-targets", body(`{"targets":5}`), 400, outdial.ECodeInvalidField, "targets"},
		errorCase{"no targets", "add-targets", body(`{"targets":[]}`), 400, outdial.ECodeMissingField, "targets"},
		errorCase{"targets null", "add-targets", body(`{"targets":null}`), 400, outdial.ECodeMissingField, "targets"},
		errorCase{"field beside targets", "add-targets", body(`{"targets":[],"default_region":"US"}`), 400, outdial.ECodeUnknownField, "default_region"},
		errorCase{"unknown default_region", "add-targets", query("default_region", "ZZ"), 400, outdial.ECodeInvalidQuery, "default_region"},
		errorCase{"three-letter default_region", "add-targets", query("default_region", "USA"), 400, outdial.ECodeInvalidQuery, "default_region"},
		errorCase{"default_region on CSV", "add-targets", func(r *apigw.Request) {
			csvBody("destination\n(555) 123-4567\n")(r)
			query("default_region", "XX")(r)
		}, 400, outdial.ECodeInvalidQuery, "default_region"},
		errorCase{"octet-stream", "add-targets", contentType("application/octet-stream"), 415, outdial.ECodeUnsupportedMedia, "Content-Type"},
		errorCase{"application/xml", "add-targets", contentType("application/xml"), 415, outdial.ECodeUnsupportedMedia, "Content-Type"},
		errorCase{"multipart", "add-targets", contentType("multipart/form-data; boundary=x"), 415, outdial.ECodeUnsupportedMedia, "Content-Type"},
		errorCase{"malformed Content-Type", "add-targets", contentType("text/csv;;;=="), 415, outdial.ECodeUnsupportedMedia, "Content-Type"},
		errorCase{"10 001 JSON targets", "add-targets", body(tooManyJSON.String()), 413, outdial.ECodeBodyTooLarge, "targets"},
		errorCase{"10 001 CSV rows", "add-targets", csvBody(tooManyCSV.String()), 413, outdial.ECodeBodyTooLarge, "body"},
		errorCase{"body over 5 MiB", "add-targets", body(`{"targets":[` + strings.Repeat(" ", api.MaxImportBody) + `]}`), 413, outdial.ECodeBodyTooLarge, "body"},
		errorCase{"empty CSV", "add-targets", csvBody(""), 400, outdial.ECodeInvalidCSV, "body"},
		errorCase{"CSV without a destination column", "add-targets", csvBody("name,phone\nAda,+15551234567\n"), 400, outdial.ECodeInvalidCSV, "body"},
		errorCase{"CSV not UTF-8", "add-targets", csvBody("destination,name\n+15551234567,\xff\xfe\n"), 400, outdial.ECodeInvalidCSV, "body"},
		errorCase{"status unknown", "list-targets", query("status", "answered"), 400, outdial.ECodeInvalidQuery, "status"},
		errorCase{"page_size 0", "list-targets", query("page_size", "0"), 400, outdial.ECodeInvalidQuery, "page_size"},
		errorCase{"page_size 101", "list-targets", query("page_size", "101"), 400, outdial.ECodeInvalidQuery, "page_size"},
		errorCase{"page_size abc", "list-targets", query("page_size", "abc"), 400, outdial.ECodeInvalidQuery, "page_size"},
		errorCase{"tampered page_token", "list-targets", query("status", "", "page_token", tamperAt(tok, len(tok)-5)), 400, outdial.ECodeInvalidPageToken, "page_token"},
		errorCase{"tampered salt", "list-targets", query("status", "", "page_token", tamperAt(tok, 2)), 400, outdial.ECodeInvalidPageToken, "page_token"},
		errorCase{"forged readable cursor", "list-targets", query("status", "", "page_token", forged), 400, outdial.ECodeInvalidPageToken, "page_token"},
		errorCase{"page_token garbage", "list-targets", query("page_token", "%%%"), 400, outdial.ECodeInvalidPageToken, "page_token"},
		errorCase{"missing target", "get-target", targetPath(uuid.NewString()), 404, outdial.ECodeNotFound, "target"},
		errorCase{"missing target", "delete-target", targetPath(uuid.NewString()), 404, outdial.ECodeNotFound, "target"},
	)
	for _, id := range []string{"", "nope", target[:35], target + "a", strings.ReplaceAll(target, "-", "")} {
		for _, fixture := range []string{"get-target", "delete-target"} {
			cases = append(cases, errorCase{fmt.Sprintf("target_id %q", id), fixture, targetPath(id), 400, outdial.ECodeInvalidID, "target_id"})
		}
		for _, fixture := range []string{"add-targets", "list-targets", "get-target", "delete-target"} {
			cases = append(cases, errorCase{fmt.Sprintf("id %q", id), fixture, pathParam("id", id), 400, outdial.ECodeInvalidID, "id"})
		}
	}
	runErrorCases(t, a, "", o.ID, cases)

	// None of it changed anything.
	if got := a.getOutdial("", o.ID); got.TargetCount != 2 || got.Counts != (outdial.Counts{Idle: 2}) {
		t.Errorf("counts after the bad requests = %d %+v, want 2 idle", got.TargetCount, got.Counts)
	}
	if got := a.listTargets(o.ID, "", 100); len(got) != 2 {
		t.Errorf("list after the bad requests = %d targets, want 2", len(got))
	}
}

// tamperAt returns tok with its i-th character replaced by another
// base64url character (A and B differ in the low bit of the 6 that the
// character holds, which is data, not padding, away from the end).
func tamperAt(tok string, i int) string {
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestVoIPBINSlotsKeepTheirNumberAndTheTryCountMax checks VoIPBIN's shape
// with the target's try_count_max: each filled slot gets it, the slots
// keep their numbers through the store (a fresh read, not the import's
// answer), and the empty slots stay {}.
func TestVoIPBINSlotsKeepTheirNumberAndTheTryCountMax(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	req := a.event("add-targets", "", o.ID)
	req.Body = `{"name":"slots","try_count_max":5,"destination_0":{},"destination_1":{"type":"tel","target":"+15551234567","target_name":"x"},` +
		`"destination_2":{"type":"","target":"+15559999999"},"destination_3":{"type":"email","target":"Ada@Example.com"},"destination_4":{}}`
	var created outdial.Target
	a.ok("add-targets", req, &created)

	get := a.event("get-target", "", o.ID)
	get.PathParameters["target_id"] = created.ID
	var wire map[string]json.RawMessage
	a.ok("get-target", get, &wire)
	want := map[string]string{
		"destination_0": `{}`, "destination_1": `{"type":"tel","target":"+15551234567"}`, "destination_2": `{}`,
		"destination_3": `{"type":"email","target":"ada@example.com"}`, "destination_4": `{}`,
		"try_count_max": "10",
		"destinations": `[{"type":"tel","target":"+15551234567","try_count_max":5,"try_count_current":0,"exhausted":false},` +
			`{"type":"email","target":"ada@example.com","try_count_max":5,"try_count_current":0,"exhausted":false}]`,
	}
	for k, v := range want {
		if got := string(wire[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
}
