package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/api"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/samtemplate"
)

// apiHarness runs the handlers on a real dynamo.Store over a fresh
// DynamoDB Local table, with requests built from the events/ fixtures.
type apiHarness struct {
	t     *testing.T
	ctx   context.Context
	h     *api.Handlers
	store *dynamo.Store
	root  string
}

// handlerFunc is the signature of every HTTP handler.
type handlerFunc = func(context.Context, apigw.Request) (apigw.Response, error)

func newAPIHarness(t *testing.T) *apiHarness {
	t.Helper()
	client, table := dynamotest.Table(t)
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	store := dynamo.New(client, table)
	return &apiHarness{
		t: t, ctx: ctx, store: store, root: root,
		h: &api.Handlers{
			Store: store,
			Pages: apigw.NewPageTokens([]byte("api test page secret")),
			Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
			Now:   time.Now,
		},
	}
}

// with returns a copy of a that reports to t (a subtest's).
func (a *apiHarness) with(t *testing.T) *apiHarness {
	c := *a
	c.t = t
	return &c
}

// handler returns the handler of the function that fixture (an events/
// file name without .json) belongs to.
func (a *apiHarness) handler(fixture string) handlerFunc {
	fns := map[string]handlerFunc{
		"create-outdial":          a.h.CreateOutdial,
		"list-outdials":           a.h.ListOutdials,
		"get-outdial":             a.h.GetOutdial,
		"update-outdial":          a.h.UpdateOutdial,
		"update-outdial-campaign": a.h.UpdateOutdialCampaign,
		"update-outdial-data":     a.h.UpdateOutdialData,
		"delete-outdial":          a.h.DeleteOutdial,
		"add-targets":             a.h.AddTargets,
		"list-targets":            a.h.ListTargets,
		"get-target":              a.h.GetTarget,
		"delete-target":           a.h.DeleteTarget,
		"claim-targets":           a.h.ClaimTargets,
	}
	fn := fns[fixture]
	if fn == nil {
		a.t.Fatalf("no handler for fixture %s", fixture)
	}
	return fn
}

// event loads events/<fixture>.json, gives it a fresh request id and the
// customer cust (the fixture's customer if empty), and points its {id} at
// outdialID if that is not empty.
func (a *apiHarness) event(fixture, cust, outdialID string) apigw.Request {
	a.t.Helper()
	data, err := os.ReadFile(samtemplate.EventPath(a.root, fixture))
	if err != nil {
		a.t.Fatal(err)
	}
	var req apigw.Request
	if err := json.Unmarshal(data, &req); err != nil {
		a.t.Fatalf("events/%s.json: %v", fixture, err)
	}
	// Every request gets its own id, as from API Gateway.
	req.RequestContext.RequestID += "-" + uuid.NewString()
	if cust != "" {
		req.RequestContext.Authorizer.Lambda["customer_id"] = cust
	}
	if outdialID != "" && req.PathParameters != nil {
		req.PathParameters["id"] = outdialID
		req.RawPath = strings.Replace(req.RawPath, samtemplate.EventOutdialID, outdialID, 1)
	}
	if req.QueryStringParameters == nil {
		req.QueryStringParameters = map[string]string{}
	}
	return req
}

// do runs the fixture's handler on req. A handler must never return an
// error (API Gateway would answer 502) nor answer 5xx to these requests.
func (a *apiHarness) do(fixture string, req apigw.Request) apigw.Response {
	a.t.Helper()
	resp, err := a.handler(fixture)(a.ctx, req)
	if err != nil {
		a.t.Fatalf("%s returned an error: %v", fixture, err)
	}
	if resp.StatusCode >= 500 {
		a.t.Errorf("%s answered %d: %s", fixture, resp.StatusCode, resp.Body)
	}
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		a.t.Errorf("%s: Content-Type = %q, want application/json", fixture, ct)
	}
	return resp
}

// ok runs req, wants 200 and decodes the body into v.
func (a *apiHarness) ok(fixture string, req apigw.Request, v any) {
	a.t.Helper()
	resp := a.do(fixture, req)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("%s: status %d, want 200; body %s", fixture, resp.StatusCode, resp.Body)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(resp.Body), v); err != nil {
			a.t.Fatalf("%s: decode %s: %v", fixture, resp.Body, err)
		}
	}
}

// createOutdial creates an outdial of cust through the handler.
func (a *apiHarness) createOutdial(cust, body string) *outdial.Outdial {
	a.t.Helper()
	req := a.event("create-outdial", cust, "")
	if body != "" {
		req.Body = body
	}
	var o outdial.Outdial
	a.ok("create-outdial", req, &o)
	return &o
}

// getOutdial reads an outdial of cust through the handler.
func (a *apiHarness) getOutdial(cust, id string) *outdial.Outdial {
	a.t.Helper()
	var o outdial.Outdial
	a.ok("get-outdial", a.event("get-outdial", cust, id), &o)
	return &o
}

// errorBody decodes an error envelope.
func errorBody(t *testing.T, resp apigw.Response) apigw.ErrorDetail {
	t.Helper()
	var e apigw.ErrorBody
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %s: %v", resp.Body, err)
	}
	return e.Error
}

// wantError checks resp is an error with status, code and a message that
// names field (and the envelope's field, when set, is field).
func wantError(t *testing.T, resp apigw.Response, status int, code, field string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d; body %s", resp.StatusCode, status, resp.Body)
	}
	e := errorBody(t, resp)
	if e.Code != code {
		t.Errorf("code = %q, want %q; body %s", e.Code, code, resp.Body)
	}
	if e.Reason != strings.ToUpper(code) || e.Status == "" || e.RequestID == "" {
		t.Errorf("envelope reason %q status %q request_id %q, want %q, a status and the request id", e.Reason, e.Status, e.RequestID, strings.ToUpper(code))
	}
	if field != "" && !strings.Contains(e.Message, field) {
		t.Errorf("message %q does not name the field %q", e.Message, field)
	}
	if e.Field != "" && e.Field != field {
		t.Errorf("field = %q, want %q", e.Field, field)
	}
}

// errorCase is one bad request and the error it must get.
type errorCase struct {
	name    string
	fixture string
	modify  func(*apigw.Request)
	status  int
	code    string
	field   string // the field the message names
}

func runErrorCases(t *testing.T, a *apiHarness, cust, outdialID string, cases []errorCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.fixture+"/"+c.name, func(t *testing.T) {
			a := a.with(t)
			req := a.event(c.fixture, cust, outdialID)
			if c.modify != nil {
				c.modify(&req)
			}
			wantError(t, a.do(c.fixture, req), c.status, c.code, c.field)
		})
	}
}

func body(s string) func(*apigw.Request) {
	return func(r *apigw.Request) { r.Body = s }
}

func query(kv ...string) func(*apigw.Request) {
	return func(r *apigw.Request) {
		for i := 0; i+1 < len(kv); i += 2 {
			r.QueryStringParameters[kv[i]] = kv[i+1]
		}
	}
}

func pathParam(name, v string) func(*apigw.Request) {
	return func(r *apigw.Request) { r.PathParameters[name] = v }
}

func TestOutdialRoutes(t *testing.T) {
	a := newAPIHarness(t)
	cust := samtemplate.EventCustomerID

	// Create from the fixture as it is.
	created := a.createOutdial("", "")
	if _, err := uuid.Parse(created.ID); err != nil || created.CustomerID != cust ||
		created.Name != "January Leads" || created.Detail != "Sales leads for Q1 campaign" ||
		created.CampaignID != nil || created.Data != "" || created.RetryPolicy != outdial.DefaultRetryPolicy() ||
		created.TargetCount != 0 || created.TMCreate.IsZero() || !created.TMUpdate.Equal(created.TMCreate.Time) {
		t.Errorf("created outdial = %+v", created)
	}
	if created.ID == samtemplate.EventOutdialID {
		t.Errorf("the new outdial took the fixture's id")
	}
	// The wire form has every field: campaign_id null where unset, data ""
	// (data is text, as in VoIPBIN).
	var raw map[string]json.RawMessage
	a.ok("get-outdial", a.event("get-outdial", "", created.ID), &raw)
	for _, k := range []string{"id", "customer_id", "campaign_id", "name", "detail", "data", "retry_policy", "target_count", "target_counts", "tm_create", "tm_update"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("GET outdial lacks %q: %v", k, raw)
		}
	}
	if string(raw["campaign_id"]) != "null" || string(raw["data"]) != `""` {
		t.Errorf("campaign_id, data = %s, %s; want null, \"\"", raw["campaign_id"], raw["data"])
	}

	// Create with everything a client may set; a base64 body as API Gateway
	// sends some. data is text, kept byte for byte (structured data goes in
	// encoded as a string, and is not compacted).
	campaign := uuid.NewString()
	req := a.event("create-outdial", "", "")
	req.Body = base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"name":"  Full  ","detail":"d","campaign_id":%q,"data":"{\"k\": [1, 2]}"}`, strings.ToUpper(campaign))))
	req.IsBase64Encoded = true
	var full outdial.Outdial
	a.ok("create-outdial", req, &full)
	if full.Name != "Full" || full.CampaignID == nil || *full.CampaignID != campaign || full.Data != `{"k": [1, 2]}` {
		t.Errorf("full outdial: name %q campaign %v data %q; want Full, %s, {\"k\": [1, 2]}", full.Name, full.CampaignID, full.Data, campaign)
	}
	time.Sleep(2 * time.Millisecond)
	third := a.createOutdial("", `{"name":"third"}`)

	// Get: what create answered, under either case of the id.
	if got := a.getOutdial("", strings.ToUpper(full.ID)); asJSON(got) != asJSON(&full) {
		t.Errorf("GET outdial =\n%s\nwant what POST answered\n%s", asJSON(got), asJSON(&full))
	}

	// List: the fixture's page size, then pages of 2.
	var list apigw.List[*outdial.Outdial]
	a.ok("list-outdials", a.event("list-outdials", "", ""), &list)
	if got, want := outdialIDs(list.Result), []string{third.ID, full.ID, created.ID}; fmt.Sprint(got) != fmt.Sprint(want) || list.NextPageToken == "" {
		t.Errorf("list = %v, token %q; want %v (newest first) and a token (of the empty end page)", got, list.NextPageToken, want)
	}
	// That token answers the empty end page: a loop that pages until a
	// page is empty ends too.
	req = a.event("list-outdials", "", "")
	req.QueryStringParameters["page_token"] = list.NextPageToken
	a.ok("list-outdials", req, &list)
	if len(list.Result) != 0 || list.Result == nil || list.NextPageToken != "" {
		t.Errorf("end page = %v, token %q; want [] and no token", outdialIDs(list.Result), list.NextPageToken)
	}
	req = a.event("list-outdials", "", "")
	req.QueryStringParameters["page_size"] = "2"
	a.ok("list-outdials", req, &list)
	if len(list.Result) != 2 || list.NextPageToken == "" {
		t.Fatalf("first page of 2: %d outdials, token %q", len(list.Result), list.NextPageToken)
	}
	req.QueryStringParameters["page_token"] = list.NextPageToken
	a.ok("list-outdials", req, &list)
	if got := outdialIDs(list.Result); len(got) != 1 || got[0] != created.ID || list.NextPageToken == "" {
		t.Errorf("second page = %v, token %q; want [%s] and the end page's token", got, list.NextPageToken, created.ID)
	}
	// Another customer sees none of them.
	a.ok("list-outdials", a.event("list-outdials", uuid.NewString(), ""), &list)
	if len(list.Result) != 0 || list.NextPageToken != "" {
		t.Errorf("another customer's list = %d outdials, token %q; want none", len(list.Result), list.NextPageToken)
	}

	// Update name and detail (the fixture), then one retry delay.
	var o outdial.Outdial
	a.ok("update-outdial", a.event("update-outdial", "", created.ID), &o)
	if o.Name != "January Leads (revised)" || o.Detail != "Sales leads for Q1 campaign, second pass" || !o.TMUpdate.After(created.TMUpdate.Time) {
		t.Errorf("after PUT: name %q detail %q tm_update %v", o.Name, o.Detail, o.TMUpdate)
	}
	req = a.event("update-outdial", "", created.ID)
	req.Body = `{"retry_policy":{"busy_seconds":5}}`
	a.ok("update-outdial", req, &o)
	want := outdial.DefaultRetryPolicy()
	want.BusySeconds = 5
	if o.RetryPolicy != want || o.Name != "January Leads (revised)" {
		t.Errorf("after the retry policy PUT: %+v, name %q; want %+v and the name kept", o.RetryPolicy, o.Name, want)
	}

	// Campaign: attach (the fixture), then another one. Detaching is
	// TestDetachCampaign.
	a.ok("update-outdial-campaign", a.event("update-outdial-campaign", "", created.ID), &o)
	if o.CampaignID == nil || *o.CampaignID != "5e8a2b1c-3d4f-4a6b-8c9d-0e1f2a3b4c5d" {
		t.Errorf("campaign after attach = %v", o.CampaignID)
	}
	req = a.event("update-outdial-campaign", "", created.ID)
	req.Body = fmt.Sprintf(`{"campaign_id": %q}`, strings.ToUpper(campaign))
	a.ok("update-outdial-campaign", req, &o)
	if o.CampaignID == nil || *o.CampaignID != campaign {
		t.Errorf("campaign after the second attach = %v, want %s", o.CampaignID, campaign)
	}

	// Data: set (the fixture), then clear with null, set again and clear
	// with "".
	a.ok("update-outdial-data", a.event("update-outdial-data", "", created.ID), &o)
	if o.Data != "source=crm-export;priority=2" {
		t.Errorf("data after PUT = %q", o.Data)
	}
	req = a.event("update-outdial-data", "", created.ID)
	req.Body = `{"data": null}`
	a.ok("update-outdial-data", req, &o)
	if o.Data != "" {
		t.Errorf("data after clearing with null = %q, want \"\"", o.Data)
	}
	a.ok("update-outdial-data", a.event("update-outdial-data", "", created.ID), &o)
	req = a.event("update-outdial-data", "", created.ID)
	req.Body = `{"data": ""}`
	a.ok("update-outdial-data", req, &o)
	if o.Data != "" {
		t.Errorf("data after clearing with \"\" = %q, want \"\"", o.Data)
	}
	if got := a.getOutdial("", created.ID); asJSON(got) != asJSON(&o) {
		t.Errorf("GET after the updates =\n%s\nwant\n%s", asJSON(got), asJSON(&o))
	}

	// Delete answers the outdial as it was; then it is gone.
	var deleted outdial.Outdial
	a.ok("delete-outdial", a.event("delete-outdial", "", created.ID), &deleted)
	if asJSON(&deleted) != asJSON(&o) {
		t.Errorf("DELETE answered\n%s\nwant\n%s", asJSON(&deleted), asJSON(&o))
	}
	for _, fixture := range []string{"get-outdial", "delete-outdial", "update-outdial", "update-outdial-campaign", "update-outdial-data", "add-targets", "list-targets"} {
		wantError(t, a.do(fixture, a.event(fixture, "", created.ID)), http.StatusNotFound, outdial.ECodeNotFound, "outdial")
	}
	a.ok("list-outdials", a.event("list-outdials", "", ""), &list)
	if got := outdialIDs(list.Result); fmt.Sprint(got) != fmt.Sprint([]string{third.ID, full.ID}) {
		t.Errorf("list after delete = %v", got)
	}
}

// TestDetachCampaign detaches an outdial from its campaign with
// {"campaign_id": null}, as the route documents, and with "" or the
// all-zero UUID, which mean none as in VoIPBIN.
func TestDetachCampaign(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", fmt.Sprintf(`{"name":"n","campaign_id":%q}`, uuid.NewString()))
	if o.CampaignID == nil {
		t.Fatalf("created without its campaign")
	}
	for _, b := range []string{`{"campaign_id": null}`, `{"campaign_id":null}`, `{"campaign_id": ""}`, `{"campaign_id": "00000000-0000-0000-0000-000000000000"}`} {
		// Attach one first, so that each body detaches.
		campaign := uuid.NewString()
		req := a.event("update-outdial-campaign", "", o.ID)
		req.Body = fmt.Sprintf(`{"campaign_id": %q}`, campaign)
		var got outdial.Outdial
		a.ok("update-outdial-campaign", req, &got)
		if got.CampaignID == nil || *got.CampaignID != campaign {
			t.Fatalf("campaign_id after attaching = %v, want %s", got.CampaignID, campaign)
		}
		req = a.event("update-outdial-campaign", "", o.ID)
		req.Body = b
		got = outdial.Outdial{}
		a.ok("update-outdial-campaign", req, &got)
		if got.CampaignID != nil {
			t.Errorf("%s: campaign_id = %s, want null", b, *got.CampaignID)
		}
		if g := a.getOutdial("", o.ID); g.CampaignID != nil {
			t.Errorf("%s: GET campaign_id = %s, want null", b, *g.CampaignID)
		}
	}
	// On create, "" and the all-zero UUID are no campaign too.
	for _, c := range []string{`""`, `"00000000-0000-0000-0000-000000000000"`, `null`} {
		o := a.createOutdial("", `{"name":"n","campaign_id":`+c+`}`)
		if o.CampaignID != nil {
			t.Errorf("created with campaign_id %s: campaign_id = %s, want null", c, *o.CampaignID)
		}
	}
}

func outdialIDs(list []*outdial.Outdial) []string {
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = o.ID
	}
	return out
}

func asJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestOutdialRouteErrors(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	long := strings.Repeat("é", outdial.MaxNameLen+1)
	// data is text of at most 16 KiB: one byte more is refused.
	bigData := `{"data":"` + strings.Repeat("x", outdial.MaxOutdialData+1) + `"}`
	huge := `{"name":"x","detail":"` + strings.Repeat("y", api.MaxOutdialBody) + `"}`

	var cases []errorCase
	// No mass assignment: fields the server owns are unknown on every
	// route with a body.
	for _, fixture := range []string{"create-outdial", "update-outdial", "update-outdial-campaign", "update-outdial-data"} {
		for _, f := range []string{"id", "customer_id", "tm_create", "tm_update", "status", "try_count_current", "target_count"} {
			valid := map[string]string{
				"create-outdial": `"name":"n"`, "update-outdial": `"name":"n"`,
				"update-outdial-campaign": `"campaign_id":null`, "update-outdial-data": `"data":"x"`,
			}[fixture]
			cases = append(cases, errorCase{"unknown " + f, fixture, body(fmt.Sprintf(`{%s,%q:"x"}`, valid, f)), 400, outdial.ECodeUnknownField, f})
		}
		cases = append(cases,
			errorCase{"invalid JSON", fixture, body(`{"name":`), 400, outdial.ECodeInvalidJSON, "body"},
			errorCase{"trailing garbage", fixture, body(`{"name":"x"} {}`), 400, outdial.ECodeInvalidJSON, "body"},
			errorCase{"invalid UTF-8", fixture, body("{\"name\":\"\xff\xfe\"}"), 400, outdial.ECodeInvalidJSON, "body"},
			errorCase{"empty body", fixture, body(""), 400, outdial.ECodeInvalidJSON, "body"},
			errorCase{"array body", fixture, body(`[{"name":"x"}]`), 400, outdial.ECodeInvalidJSON, "body"},
			errorCase{"body over 64 KiB", fixture, body(huge), 413, outdial.ECodeBodyTooLarge, "body"},
			errorCase{"base64 body over 64 KiB", fixture, func(r *apigw.Request) {
				r.Body, r.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(huge)), true
			}, 413, outdial.ECodeBodyTooLarge, "body"},
			errorCase{"bad base64", fixture, func(r *apigw.Request) { r.Body, r.IsBase64Encoded = "!!!", true }, 400, outdial.ECodeInvalidJSON, "body"},
		)
	}
	cases = append(cases,
		// Create.
		errorCase{"name missing", "create-outdial", body(`{"detail":"d"}`), 400, outdial.ECodeMissingField, "name"},
		errorCase{"name blank", "create-outdial", body(`{"name":" \t "}`), 400, outdial.ECodeMissingField, "name"},
		errorCase{"name too long", "create-outdial", body(`{"name":"` + long + `"}`), 400, outdial.ECodeInvalidField, "name"},
		errorCase{"name not a string", "create-outdial", body(`{"name":5}`), 400, outdial.ECodeInvalidField, "name"},
		errorCase{"name with a control character", "create-outdial", body(`{"name":"a\u0007b"}`), 400, outdial.ECodeInvalidField, "name"},
		errorCase{"name in another case", "create-outdial", body(`{"NAME":"x"}`), 400, outdial.ECodeUnknownField, "NAME"},
		errorCase{"detail too long", "create-outdial", body(`{"name":"n","detail":"` + strings.Repeat("d", outdial.MaxDetailLen+1) + `"}`), 400, outdial.ECodeInvalidField, "detail"},
		errorCase{"data over 16 KiB", "create-outdial", body(`{"name":"n",` + bigData[1:]), 400, outdial.ECodeInvalidField, "data"},
		errorCase{"data over 16 KiB in multi-byte runes", "create-outdial", body(`{"name":"n","data":"` + strings.Repeat("é", outdial.MaxOutdialData/2+1) + `"}`), 400, outdial.ECodeInvalidField, "data"},
		errorCase{"campaign_id not a UUID", "create-outdial", body(`{"name":"n","campaign_id":"campaign-1"}`), 400, outdial.ECodeInvalidID, "campaign_id"},
		errorCase{"campaign_id a number", "create-outdial", body(`{"name":"n","campaign_id":7}`), 400, outdial.ECodeInvalidField, "campaign_id"},
		// Update.
		errorCase{"nothing to change", "update-outdial", body(`{}`), 400, outdial.ECodeMissingField, "body"},
		errorCase{"name blank", "update-outdial", body(`{"name":""}`), 400, outdial.ECodeMissingField, "name"},
		errorCase{"name too long", "update-outdial", body(`{"name":"` + long + `"}`), 400, outdial.ECodeInvalidField, "name"},
		errorCase{"campaign_id on the wrong route", "update-outdial", body(`{"name":"n","campaign_id":null}`), 400, outdial.ECodeUnknownField, "campaign_id"},
		errorCase{"data on the wrong route", "update-outdial", body(`{"name":"n","data":"x"}`), 400, outdial.ECodeUnknownField, "data"},
		errorCase{"negative retry delay", "update-outdial", body(`{"retry_policy":{"busy_seconds":-1}}`), 400, outdial.ECodeInvalidField, "retry_policy.busy_seconds"},
		errorCase{"retry delay too long", "update-outdial", body(`{"retry_policy":{"expired_seconds":604801}}`), 400, outdial.ECodeInvalidField, "retry_policy.expired_seconds"},
		errorCase{"empty retry policy", "update-outdial", body(`{"retry_policy":{}}`), 400, outdial.ECodeMissingField, "retry_policy"},
		errorCase{"unknown retry policy key", "update-outdial", body(`{"retry_policy":{"busy":1}}`), 400, outdial.ECodeUnknownField, "retry_policy.busy"},
		// Campaign.
		errorCase{"campaign_id missing", "update-outdial-campaign", body(`{}`), 400, outdial.ECodeMissingField, "campaign_id"},
		errorCase{"campaign_id not a UUID", "update-outdial-campaign", body(`{"campaign_id":"abc"}`), 400, outdial.ECodeInvalidID, "campaign_id"},
		errorCase{"campaign_id a number", "update-outdial-campaign", body(`{"campaign_id":5}`), 400, outdial.ECodeInvalidField, "campaign_id"},
		errorCase{"name on the campaign route", "update-outdial-campaign", body(`{"campaign_id":null,"name":"n"}`), 400, outdial.ECodeUnknownField, "name"},
		// Data.
		errorCase{"data missing", "update-outdial-data", body(`{}`), 400, outdial.ECodeMissingField, "data"},
		errorCase{"data over 16 KiB", "update-outdial-data", body(bigData), 400, outdial.ECodeInvalidField, "data"},
		// List.
		errorCase{"page_size 0", "list-outdials", query("page_size", "0"), 400, outdial.ECodeInvalidQuery, "page_size"},
		errorCase{"page_size 101", "list-outdials", query("page_size", "101"), 400, outdial.ECodeInvalidQuery, "page_size"},
		errorCase{"page_size abc", "list-outdials", query("page_size", "abc"), 400, outdial.ECodeInvalidQuery, "page_size"},
		errorCase{"page_size -1", "list-outdials", query("page_size", "-1"), 400, outdial.ECodeInvalidQuery, "page_size"},
		errorCase{"page_token garbage", "list-outdials", query("page_token", "abc"), 400, outdial.ECodeInvalidPageToken, "page_token"},
		errorCase{"page_token forged", "list-outdials", query("page_token", base64.RawURLEncoding.EncodeToString([]byte(o.ID))+".AAAA"), 400, outdial.ECodeInvalidPageToken, "page_token"},
	)
	// data is text, as in VoIPBIN: any other JSON value is refused.
	for _, fixture := range []string{"create-outdial", "update-outdial-data"} {
		for _, v := range []string{`{"k":[1,2]}`, `["a"]`, `1`, `true`, `{}`} {
			b := `{"data":` + v + `}`
			if fixture == "create-outdial" {
				b = `{"name":"n","data":` + v + `}`
			}
			cases = append(cases, errorCase{"data " + v, fixture, body(b), 400, outdial.ECodeInvalidField, "data"})
		}
	}
	// Bad path ids on every route with one.
	for _, fixture := range []string{"get-outdial", "update-outdial", "update-outdial-campaign", "update-outdial-data", "delete-outdial"} {
		for _, id := range []string{"", "not-a-uuid", "018f6b2e8c1a7d3e9f00123456789abc", o.ID + "0", "{" + o.ID[1:35] + "}", "../" + o.ID[3:], "urn:uuid:" + o.ID} {
			cases = append(cases, errorCase{fmt.Sprintf("path id %q", id), fixture, pathParam("id", id), 400, outdial.ECodeInvalidID, "id"})
		}
	}
	runErrorCases(t, a, "", o.ID, cases)

	// None of it changed the outdial.
	if got := a.getOutdial("", o.ID); asJSON(got) != asJSON(o) {
		t.Errorf("outdial after the bad requests =\n%s\nwant\n%s", asJSON(got), asJSON(o))
	}
	var list apigw.List[*outdial.Outdial]
	a.ok("list-outdials", a.event("list-outdials", "", ""), &list)
	if len(list.Result) != 1 {
		t.Errorf("after the bad creates the customer has %d outdials, want 1", len(list.Result))
	}
}

// TestPageTokensAreBound checks page tokens only open for the customer and
// the list that issued them.
func TestPageTokensAreBound(t *testing.T) {
	a := newAPIHarness(t)
	owner, other := samtemplate.EventCustomerID, uuid.NewString()
	var ownerOutdials []*outdial.Outdial
	for i := 0; i < 3; i++ {
		ownerOutdials = append(ownerOutdials, a.createOutdial(owner, fmt.Sprintf(`{"name":"o%d"}`, i)))
		a.createOutdial(other, fmt.Sprintf(`{"name":"x%d"}`, i))
	}
	od := ownerOutdials[0]
	second := ownerOutdials[1]
	for _, target := range []string{od.ID, second.ID} {
		req := a.event("add-targets", owner, target)
		var res api.ImportResponse
		a.ok("add-targets", req, &res)
		if res.Created != 2 {
			t.Fatalf("import created %d, want 2", res.Created)
		}
	}
	token := func(fixture, cust, id string, q ...string) string {
		t.Helper()
		req := a.event(fixture, cust, id)
		req.QueryStringParameters = map[string]string{"page_size": "1"}
		query(q...)(&req)
		var list struct {
			Result        []json.RawMessage `json:"result"`
			NextPageToken string            `json:"next_page_token"`
		}
		a.ok(fixture, req, &list)
		if list.NextPageToken == "" {
			t.Fatalf("%s: no next page token", fixture)
		}
		return list.NextPageToken
	}
	ownerOutdialsTok := token("list-outdials", owner, "")
	otherOutdialsTok := token("list-outdials", other, "")
	targetsTok := token("list-targets", owner, od.ID)
	idleTok := token("list-targets", owner, od.ID, "status", "idle")

	tamper := func(tok string) string {
		b := []byte(tok)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		return string(b)
	}
	noStatus := func(r *apigw.Request) { delete(r.QueryStringParameters, "status") }
	withToken := func(tok string, more ...func(*apigw.Request)) func(*apigw.Request) {
		return func(r *apigw.Request) {
			r.QueryStringParameters["page_token"] = tok
			for _, m := range more {
				m(r)
			}
		}
	}
	cases := []struct {
		name    string
		fixture string
		cust    string
		id      string
		modify  func(*apigw.Request)
	}{
		{"tampered outdials token", "list-outdials", owner, "", withToken(tamper(ownerOutdialsTok))},
		{"truncated outdials token", "list-outdials", owner, "", withToken(ownerOutdialsTok[:len(ownerOutdialsTok)-2])},
		{"another customer's outdials token", "list-outdials", owner, "", withToken(otherOutdialsTok)},
		{"outdials token used by another customer", "list-outdials", other, "", withToken(ownerOutdialsTok)},
		{"outdials token on a targets list", "list-targets", owner, od.ID, withToken(ownerOutdialsTok, noStatus)},
		{"targets token on the outdials list", "list-outdials", owner, "", withToken(targetsTok)},
		{"tampered targets token", "list-targets", owner, od.ID, withToken(tamper(targetsTok), noStatus)},
		{"targets token of another outdial", "list-targets", owner, second.ID, withToken(targetsTok, noStatus)},
		{"targets token of another customer", "list-targets", other, od.ID, withToken(targetsTok, noStatus)},
		{"idle list token without the status", "list-targets", owner, od.ID, withToken(idleTok, noStatus)},
		{"idle list token on the dialing list", "list-targets", owner, od.ID, withToken(idleTok, query("status", "dialing"))},
		{"full list token on the idle list", "list-targets", owner, od.ID, withToken(targetsTok, query("status", "idle"))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := a.with(t)
			req := a.event(c.fixture, c.cust, c.id)
			c.modify(&req)
			wantError(t, a.do(c.fixture, req), 400, outdial.ECodeInvalidPageToken, "page_token")
		})
	}

	// The genuine tokens work where they were issued.
	for _, c := range []struct {
		fixture, id, tok string
		q                []string
	}{
		{"list-outdials", "", ownerOutdialsTok, nil},
		{"list-targets", od.ID, targetsTok, nil},
		{"list-targets", od.ID, idleTok, []string{"status", "idle"}},
	} {
		req := a.event(c.fixture, owner, c.id)
		req.QueryStringParameters = map[string]string{"page_size": "1", "page_token": c.tok}
		query(c.q...)(&req)
		var list struct {
			Result []json.RawMessage `json:"result"`
		}
		a.ok(c.fixture, req, &list)
		if len(list.Result) != 1 {
			t.Errorf("%s with its own token: %d results, want 1", c.fixture, len(list.Result))
		}
	}
}

// routeFixtures lists every HTTP route's fixture.
var routeFixtures = []string{
	"create-outdial", "list-outdials", "get-outdial", "update-outdial", "update-outdial-campaign",
	"update-outdial-data", "delete-outdial", "add-targets", "list-targets", "get-target", "delete-target", "claim-targets",
}

// hasOutdialID reports whether the fixture's route has an {id}.
func hasOutdialID(fixture string) bool {
	return fixture != "create-outdial" && fixture != "list-outdials"
}

func TestMissingAuthorizerContextIs401(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	variants := map[string]func(*apigw.Request){
		"no authorizer":          func(r *apigw.Request) { r.RequestContext.Authorizer = nil },
		"no lambda context":      func(r *apigw.Request) { r.RequestContext.Authorizer.Lambda = nil },
		"no customer_id":         func(r *apigw.Request) { delete(r.RequestContext.Authorizer.Lambda, "customer_id") },
		"empty customer_id":      func(r *apigw.Request) { r.RequestContext.Authorizer.Lambda["customer_id"] = "" },
		"customer_id not string": func(r *apigw.Request) { r.RequestContext.Authorizer.Lambda["customer_id"] = 42.0 },
	}
	for _, fixture := range routeFixtures {
		for name, modify := range variants {
			t.Run(fixture+"/"+name, func(t *testing.T) {
				a := a.with(t)
				id := ""
				if hasOutdialID(fixture) {
					id = o.ID
				}
				req := a.event(fixture, "", id)
				modify(&req)
				wantError(t, a.do(fixture, req), http.StatusUnauthorized, outdial.ECodeUnauthenticated, "")
			})
		}
	}
	// Nothing was created or deleted.
	var list apigw.List[*outdial.Outdial]
	a.ok("list-outdials", a.event("list-outdials", "", ""), &list)
	if len(list.Result) != 1 || list.Result[0].ID != o.ID {
		t.Errorf("after the unauthenticated requests: %v, want only %s", outdialIDs(list.Result), o.ID)
	}
}

// TestAnotherCustomersOutdialIs404LikeAMissingOne sends every route with an
// {id} once for another customer's outdial and once for an id nobody has:
// the two answers must be the same 404, byte for byte.
func TestAnotherCustomersOutdialIs404LikeAMissingOne(t *testing.T) {
	a := newAPIHarness(t)
	owner, intruder := samtemplate.EventCustomerID, uuid.NewString()
	o := a.createOutdial(owner, "")
	var imp api.ImportResponse
	a.ok("add-targets", a.event("add-targets", owner, o.ID), &imp)
	a.createOutdial(intruder, `{"name":"the intruder's own"}`)
	before := a.getOutdial(owner, o.ID)

	for _, fixture := range routeFixtures {
		if !hasOutdialID(fixture) {
			continue
		}
		t.Run(fixture, func(t *testing.T) {
			a := a.with(t)
			foreign := a.event(fixture, intruder, o.ID)
			missing := a.event(fixture, intruder, uuid.NewString())
			missing.RequestContext.RequestID = foreign.RequestContext.RequestID
			if _, ok := foreign.PathParameters["target_id"]; ok {
				foreign.PathParameters["target_id"] = imp.CreatedTargets[0].TargetID
				missing.PathParameters["target_id"] = imp.CreatedTargets[0].TargetID
			}
			got, want := a.do(fixture, foreign), a.do(fixture, missing)
			wantError(t, got, http.StatusNotFound, outdial.ECodeNotFound, "")
			if got.Body != want.Body || got.StatusCode != want.StatusCode {
				t.Errorf("another customer's outdial: %d %s\na missing one:              %d %s", got.StatusCode, got.Body, want.StatusCode, want.Body)
			}
		})
	}
	// An import of nothing but bad rows is a 404 too, not a 200 listing them.
	foreign := a.event("add-targets", intruder, o.ID)
	missing := a.event("add-targets", intruder, uuid.NewString())
	missing.RequestContext.RequestID = foreign.RequestContext.RequestID
	foreign.Body = `{"targets":[{"destination":{"type":"tel","target":"bad"}}]}`
	missing.Body = foreign.Body
	got, want := a.do("add-targets", foreign), a.do("add-targets", missing)
	wantError(t, got, http.StatusNotFound, outdial.ECodeNotFound, "")
	if got.Body != want.Body {
		t.Errorf("all-bad import into another customer's outdial: %s\ninto a missing one: %s", got.Body, want.Body)
	}

	// The owner's outdial and targets are as they were.
	if got := a.getOutdial(owner, o.ID); asJSON(got) != asJSON(before) {
		t.Errorf("owner's outdial changed:\n%s\nwas\n%s", asJSON(got), asJSON(before))
	}
	var tg outdial.Target
	req := a.event("get-target", owner, o.ID)
	req.PathParameters["target_id"] = imp.CreatedTargets[0].TargetID
	a.ok("get-target", req, &tg)
	if tg.Status != outdial.StatusIdle {
		t.Errorf("owner's target status = %s, want idle", tg.Status)
	}
}
