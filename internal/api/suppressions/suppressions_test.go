package suppressions_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/api/suppressionlist"
	"github.com/outdial/outdial/internal/api/suppressions"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/samtemplate"
)

// harness runs the suppression handlers on a fresh DynamoDB Local table,
// with requests built from the events/ fixtures, and keeps their log.
type harness struct {
	t      *testing.T
	ctx    context.Context
	h      *suppressions.Handler
	lister *suppressionlist.Handler
	logs   *dynamotest.SyncBuffer
	root   string
	cust   string // the customer of event
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	client, table := dynamotest.Table(t)
	return newHarnessOn(t, dynamo.New(client, table))
}

func newHarnessOn(t *testing.T, store outdial.SuppressionStore) *harness {
	t.Helper()
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	logs := &dynamotest.SyncBuffer{}
	a := &harness{
		t: t, ctx: ctx, logs: logs, root: root, cust: uuid.NewString(),
		h: &suppressions.Handler{
			Store: store,
			Log:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			Now:   time.Now,
		},
	}
	a.lister = &suppressionlist.Handler{Store: store, Pages: apigw.NewPageTokens([]byte("suppressions test page secret")), Log: a.h.Log}
	// No address, nor any part of one, is ever logged.
	t.Cleanup(func() {
		// Request ids are random hex and may hold "555".
		out := requestIDs.ReplaceAllString(logs.String(), "")
		for _, frag := range []string{"tel:", "sip:", "sips:", "email:", "@", "555", "example", "<<<"} {
			if strings.Contains(out, frag) {
				t.Errorf("the log has %q: %s", frag, out)
			}
		}
	})
	return a
}

// requestIDs matches the request ids of a log: ours and DynamoDB's.
var requestIDs = regexp.MustCompile(`"request_id":"[^"]*"|RequestID: [0-9A-Za-z-]*`)

// with returns a copy of a that reports to t (a subtest's).
func (a *harness) with(t *testing.T) *harness {
	c := *a
	c.t = t
	return &c
}

// event loads events/<fixture>.json with a fresh request id and the
// harness's customer.
func (a *harness) event(fixture string) apigw.Request {
	a.t.Helper()
	data, err := os.ReadFile(samtemplate.EventPath(a.root, fixture))
	if err != nil {
		a.t.Fatal(err)
	}
	var req apigw.Request
	if err := json.Unmarshal(data, &req); err != nil {
		a.t.Fatalf("events/%s.json: %v", fixture, err)
	}
	req.RequestContext.RequestID += "-" + uuid.NewString()
	req.RequestContext.Authorizer.Lambda["customer_id"] = a.cust
	if req.QueryStringParameters == nil {
		req.QueryStringParameters = map[string]string{}
	}
	return req
}

// post is fixture's event with body and the query kv.
func (a *harness) post(fixture, body string, kv ...string) apigw.Request {
	req := a.event(fixture)
	req.Body = body
	req.QueryStringParameters = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		req.QueryStringParameters[kv[i]] = kv[i+1]
	}
	return req
}

// do runs fixture's handler on req. A handler never returns an error nor
// answers 5xx to these requests.
func (a *harness) do(fixture string, req apigw.Request) apigw.Response {
	a.t.Helper()
	fns := map[string]func(context.Context, apigw.Request) (apigw.Response, error){
		"add-suppressions":    a.h.Add,
		"check-suppressions":  a.h.Check,
		"delete-suppressions": a.h.Delete,
		"list-suppressions":   a.lister.List,
	}
	resp, err := fns[fixture](a.ctx, req)
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

// ok runs req, wants 200 and decodes the body into v strictly.
func (a *harness) ok(fixture string, req apigw.Request, v any) {
	a.t.Helper()
	resp := a.do(fixture, req)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("%s: status %d, want 200; body %s", fixture, resp.StatusCode, resp.Body)
	}
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		a.t.Fatalf("%s: decode %s: %v", fixture, resp.Body, err)
	}
}

func (a *harness) add(body string, kv ...string) suppressions.AddResponse {
	a.t.Helper()
	var res suppressions.AddResponse
	a.ok("add-suppressions", a.post("add-suppressions", body, kv...), &res)
	if res.Rejected == nil {
		a.t.Errorf("rejected is null, want an array")
	}
	return res
}

func (a *harness) addCSV(body string, kv ...string) suppressions.AddResponse {
	a.t.Helper()
	req := a.post("add-suppressions", body, kv...)
	req.Headers["content-type"] = "text/csv; charset=utf-8"
	var res suppressions.AddResponse
	a.ok("add-suppressions", req, &res)
	return res
}

func (a *harness) check(addresses ...string) []string {
	a.t.Helper()
	var res suppressions.CheckResponse
	a.ok("check-suppressions", a.post("check-suppressions", addressesJSON(addresses...)), &res)
	if res.Suppressed == nil {
		a.t.Errorf("suppressed is null, want an array")
	}
	return res.Suppressed
}

func (a *harness) deleteAll(addresses ...string) int {
	a.t.Helper()
	var res suppressions.DeleteResponse
	a.ok("delete-suppressions", a.post("delete-suppressions", addressesJSON(addresses...)), &res)
	return res.Deleted
}

// list pages through the list with page_size size; it fails the test on
// an address listed twice.
func (a *harness) list(size int) []outdial.Suppression {
	a.t.Helper()
	var out []outdial.Suppression
	seen := map[string]bool{}
	token := ""
	for page := 0; ; page++ {
		if page > 10000 {
			a.t.Fatal("no last page")
		}
		req := a.event("list-suppressions")
		req.QueryStringParameters = map[string]string{"page_size": fmt.Sprint(size)}
		if token != "" {
			req.QueryStringParameters["page_token"] = token
		}
		var res apigw.List[outdial.Suppression]
		a.ok("list-suppressions", req, &res)
		if res.Result == nil {
			a.t.Errorf("page %d: result is null, want an array", page)
		}
		for _, s := range res.Result {
			if seen[s.Address] {
				a.t.Fatalf("%s listed twice", s.Address)
			}
			seen[s.Address] = true
			if s.TMCreate.IsZero() {
				a.t.Errorf("%s has no tm_create", s.Address)
			}
			out = append(out, s)
		}
		if res.NextPageToken == "" {
			return out
		}
		token = res.NextPageToken
	}
}

func addresses(list []outdial.Suppression) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Address
	}
	slices.Sort(out)
	return out
}

func addressesJSON(list ...string) string {
	b, _ := json.Marshal(map[string][]string{"addresses": list})
	return string(b)
}

// errorDetail decodes an error envelope.
func errorDetail(t *testing.T, resp apigw.Response) apigw.ErrorDetail {
	t.Helper()
	var e apigw.ErrorBody
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %s: %v", resp.Body, err)
	}
	return e.Error
}

// wantError checks resp is an error with status and code whose message
// names field (and whose envelope's field, when set, is field).
func wantError(t *testing.T, resp apigw.Response, status int, code, field string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d; body %s", resp.StatusCode, status, resp.Body)
	}
	e := errorDetail(t, resp)
	if e.Code != code {
		t.Errorf("code = %q, want %q; body %s", e.Code, code, resp.Body)
	}
	if e.Reason != strings.ToUpper(code) || e.Status == "" || e.RequestID == "" {
		t.Errorf("envelope reason %q status %q request_id %q", e.Reason, e.Status, e.RequestID)
	}
	if field != "" && !strings.Contains(e.Message, field) {
		t.Errorf("message %q does not name the field %q", e.Message, field)
	}
	if e.Field != "" && e.Field != field {
		t.Errorf("field = %q, want %q", e.Field, field)
	}
}

func TestFixtures(t *testing.T) {
	a := newHarness(t)
	var added suppressions.AddResponse
	a.ok("add-suppressions", a.event("add-suppressions"), &added)
	if added.Added != 4 || added.Existing != 0 || len(added.Rejected) != 0 {
		t.Errorf("add = %+v, want 4 added", added)
	}
	a.ok("add-suppressions", a.event("add-suppressions"), &added)
	if added.Added != 0 || added.Existing != 4 {
		t.Errorf("add again = %+v, want 4 existing", added)
	}
	var checked suppressions.CheckResponse
	a.ok("check-suppressions", a.event("check-suppressions"), &checked)
	if want := []string{"tel:+15551234567", "email:optout@example.com"}; !slices.Equal(checked.Suppressed, want) {
		t.Errorf("check = %q, want %q", checked.Suppressed, want)
	}
	var list apigw.List[outdial.Suppression]
	a.ok("list-suppressions", a.event("list-suppressions"), &list)
	want := []string{"email:optout@example.com", "sip:optout@example.com", "tel:+15551234567", "tel:+15559876543"}
	if got := addresses(list.Result); !slices.Equal(got, want) {
		t.Errorf("list = %q, want %q", got, want)
	}
	var deleted suppressions.DeleteResponse
	a.ok("delete-suppressions", a.event("delete-suppressions"), &deleted)
	if deleted.Deleted != 1 {
		t.Errorf("delete = %+v, want 1", deleted)
	}
	a.ok("delete-suppressions", a.event("delete-suppressions"), &deleted)
	if deleted.Deleted != 0 {
		t.Errorf("delete again = %+v, want 0", deleted)
	}
}

func TestAddJSON(t *testing.T) {
	a := newHarness(t)
	res := a.add(addressesJSON(
		"tel:+15551234567",
		"tel:+1 555 123 4567", // the same number: counts once
		"+15557654321",        // no type
		"fax:+15551234567",    // unknown type
		"tel:555-FLOWERS",
		" sip:Alice@Example.COM ",
		"EMAIL:Bob@Example.com",
		"tel:(555) 123-4568", // national without default_region
		"",
		"sips:carol@[2001:DB8::1]:5061",
		"email:not an email",
		"Tel:+15551234567",
	))
	if res.Added != 4 || res.Existing != 0 {
		t.Errorf("added %d, existing %d; want 4, 0", res.Added, res.Existing)
	}
	wantRejected := []int{2, 3, 4, 7, 8, 10}
	var got []int
	for _, r := range res.Rejected {
		got = append(got, r.Index)
		field := fmt.Sprintf("addresses[%d]", r.Index)
		if r.Error.Code != outdial.ECodeInvalidField || r.Error.Field != field || !strings.HasPrefix(r.Error.Message, field+": ") {
			t.Errorf("rejected %+v: want invalid_field on %s with a message naming it", r, field)
		}
		if r.Line != 0 {
			t.Errorf("rejected %+v: a JSON entry has no line", r)
		}
	}
	if !slices.Equal(got, wantRejected) {
		t.Errorf("rejected indexes %v, want %v: %+v", got, wantRejected, res.Rejected)
	}
	if len(res.Rejected) == len(wantRejected) {
		if r := res.Rejected[0]; r.Address != "+15557654321" || !strings.Contains(r.Error.Message, "tel:") {
			t.Errorf("rejected[0] = %+v, want the address as sent and a message listing the types", r)
		}
		if r := res.Rejected[3]; !strings.Contains(r.Error.Message, "default_region") {
			t.Errorf("rejected national number: %+v, want a message about default_region", r)
		}
		for _, r := range res.Rejected {
			if a := strings.TrimSpace(r.Address); a != "" && strings.Contains(r.Error.Message, a) {
				t.Errorf("message %q repeats the address", r.Error.Message)
			}
		}
	}

	// Normalised: the SIP user is kept as sent, the host lower-cased; the
	// email address lower-cased; the IPv6 host canonical.
	want := []string{"email:bob@example.com", "sip:Alice@example.com", "sips:carol@[2001:db8::1]:5061", "tel:+15551234567"}
	if got := addresses(a.list(100)); !slices.Equal(got, want) {
		t.Errorf("list = %q, want %q", got, want)
	}

	// Adding again: all existing, in any spelling.
	res = a.add(addressesJSON("tel:+1-555-123-4567", "sip:Alice@EXAMPLE.com", "sip:sip:Alice@example.com", "email:BOB@example.com", "tel:+15550000001"))
	if res.Added != 1 || res.Existing != 3 || len(res.Rejected) != 0 {
		t.Errorf("re-add = %+v, want 1 added, 3 existing", res)
	}

	// A request whose every address is rejected adds nothing.
	res = a.add(addressesJSON("x", "y"))
	if res.Added != 0 || res.Existing != 0 || len(res.Rejected) != 2 {
		t.Errorf("all rejected = %+v", res)
	}
}

func TestDefaultRegion(t *testing.T) {
	a := newHarness(t)
	res := a.add(addressesJSON("tel:(555) 123-4567", "tel:5551234568", "tel:011 44 20 7946 0018"), "default_region", "us")
	if res.Added != 3 || len(res.Rejected) != 0 {
		t.Fatalf("add with default_region=us = %+v, want 3 added", res)
	}
	res = a.add(addressesJSON("tel:020 7946 0019"), "default_region", "GB")
	if res.Added != 1 || len(res.Rejected) != 0 {
		t.Fatalf("add with default_region=GB = %+v, want 1 added", res)
	}
	want := []string{"tel:+15551234567", "tel:+15551234568", "tel:+442079460018", "tel:+442079460019"}
	if got := addresses(a.list(100)); !slices.Equal(got, want) {
		t.Errorf("list = %q, want %q", got, want)
	}

	// Check and delete normalise with default_region as well.
	req := a.post("check-suppressions", addressesJSON("tel:555.123.4567", "tel:+15551234568", "tel:(555) 000-0000"), "default_region", "US")
	var checked suppressions.CheckResponse
	a.ok("check-suppressions", req, &checked)
	if w := []string{"tel:+15551234567", "tel:+15551234568"}; !slices.Equal(checked.Suppressed, w) {
		t.Errorf("check = %q, want %q", checked.Suppressed, w)
	}
	// Without it a national number is invalid.
	wantError(t, a.do("check-suppressions", a.post("check-suppressions", addressesJSON("tel:+15551234567", "tel:555.123.4567"))),
		http.StatusBadRequest, outdial.ECodeInvalidField, "addresses[1]")
	var deleted suppressions.DeleteResponse
	a.ok("delete-suppressions", a.post("delete-suppressions", addressesJSON("tel:555 123 4567"), "default_region", "US"), &deleted)
	if deleted.Deleted != 1 {
		t.Errorf("delete = %d, want 1", deleted.Deleted)
	}

	for _, fixture := range []string{"add-suppressions", "check-suppressions", "delete-suppressions"} {
		wantError(t, a.do(fixture, a.post(fixture, addressesJSON("tel:+15551234567"), "default_region", "XX")),
			http.StatusBadRequest, outdial.ECodeInvalidQuery, "default_region")
	}
}

func TestAddCSVAddressColumn(t *testing.T) {
	a := newHarness(t)
	csv := "\xef\xbb\xbfName, Address ,note\r\n" +
		"Alice,tel:+15551234567,x\r\n" + // row 0, line 2
		"\r\n" + // blank: not a row
		"Bob,\"email:Bob@Example.com\",\r\n" + // row 1, line 4
		"Carol,+15551234568,\r\n" + // row 2: no type
		"Dan,,\r\n" + // row 3: no address
		"Eve,tel:+15551234569\r\n" + // row 4: 2 fields
		"Fay,tel:(555) 123-4570,\"multi\nline\"\r\n" + // row 5, lines 8-9
		"Gus,a\"b,\r\n" + // row 6, line 10: bare quote
		"Hal,tel:+15551234567,dup\r\n" // row 7, line 11: repeat
	res := a.addCSV(csv, "default_region", "US")
	if res.Added != 3 || res.Existing != 0 {
		t.Errorf("added %d, existing %d; want 3, 0", res.Added, res.Existing)
	}
	type rej struct {
		index, line int
		code, field string
		address     string
	}
	want := []rej{
		{2, 5, outdial.ECodeInvalidField, "address", "+15551234568"},
		{3, 6, outdial.ECodeMissingField, "address", ""},
		{4, 7, outdial.ECodeInvalidField, "", ""},
		{6, 10, outdial.ECodeInvalidField, "", ""},
	}
	var got []rej
	for _, r := range res.Rejected {
		got = append(got, rej{r.Index, r.Line, r.Error.Code, r.Error.Field, r.Address})
		if r.Error.Message == "" {
			t.Errorf("rejected %+v has no message", r)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("rejected = %+v, want %+v", got, want)
	}
	if w := []string{"email:bob@example.com", "tel:+15551234567", "tel:+15551234570"}; !slices.Equal(addresses(a.list(100)), w) {
		t.Errorf("list = %q, want %q", addresses(a.list(100)), w)
	}

	// Semicolon separated.
	res = a.addCSV("address;x\ntel:+15551234571;1\nemail:bob@example.com;2\n")
	if res.Added != 1 || res.Existing != 1 || len(res.Rejected) != 0 {
		t.Errorf("semicolon CSV = %+v, want 1 added, 1 existing", res)
	}
}

func TestAddCSVTypedColumns(t *testing.T) {
	a := newHarness(t)
	csv := "TEL,tel,Email,sip,notes\n" +
		"+15551234567,(555) 123-4568,A@Example.com,sip:bob@example.com,x\n" + // row 0: 4 addresses
		",,,,\n" + // blank
		"tel:+15551234569,,not-an-email,,y\n" + // row 1: one good, one bad
		",,,,only notes\n" + // row 2: no address
		",,,bob@example.com,\n" // row 3: a SIP cell must be a SIP URI
	res := a.addCSV(csv, "default_region", "US")
	if res.Added != 5 || res.Existing != 0 {
		t.Errorf("added %d, existing %d; want 5, 0: %+v", res.Added, res.Existing, res)
	}
	type rej struct {
		index, line int
		code, field string
		address     string
	}
	want := []rej{
		{1, 4, outdial.ECodeInvalidField, "email", "not-an-email"},
		{2, 5, outdial.ECodeMissingField, "address", ""},
		{3, 6, outdial.ECodeInvalidField, "sip", "bob@example.com"},
	}
	var got []rej
	for _, r := range res.Rejected {
		got = append(got, rej{r.Index, r.Line, r.Error.Code, r.Error.Field, r.Address})
	}
	if !slices.Equal(got, want) {
		t.Errorf("rejected = %+v, want %+v", got, want)
	}
	w := []string{"email:a@example.com", "sip:bob@example.com", "tel:+15551234567", "tel:+15551234568", "tel:+15551234569"}
	if got := addresses(a.list(2)); !slices.Equal(got, w) {
		t.Errorf("list = %q, want %q", got, w)
	}
}

func TestCheck(t *testing.T) {
	a := newHarness(t)
	a.add(addressesJSON("tel:+15551234567", "email:c@example.com", "sip:d@example.com"))

	// Request order, each once, normalised.
	got := a.check("email:C@example.com", "tel:+15550000000", "tel:+1 (555) 123-4567", "email:c@example.com", "tel:+15551234567", "sip:sip:d@EXAMPLE.com")
	if want := []string{"email:c@example.com", "tel:+15551234567", "sip:d@example.com"}; !slices.Equal(got, want) {
		t.Errorf("check = %q, want %q", got, want)
	}
	if got := a.check("tel:+15550000000"); len(got) != 0 {
		t.Errorf("check of an unlisted address = %q", got)
	}

	// More than 100 addresses, and the most a request may hold.
	var many []string
	for i := range outdial.MaxSuppressionsPerRequest {
		many = append(many, fmt.Sprintf("tel:+1555%07d", 1230000+i))
	}
	got = a.check(many...)
	if want := []string{"tel:+15551234567"}; !slices.Equal(got, want) {
		t.Errorf("check of %d = %q, want %q", len(many), got, want)
	}
}

func TestDeleteAndList(t *testing.T) {
	a := newHarness(t)
	if list := a.list(10); len(list) != 0 {
		t.Errorf("empty list = %v", list)
	}
	var all []string
	for i := range 40 {
		all = append(all, fmt.Sprintf("tel:+1555%07d", i))
	}
	all = append(all, "sip:x@example.com", "email:y@example.com")
	if res := a.add(addressesJSON(all...)); res.Added != 42 {
		t.Fatalf("add = %+v", res)
	}
	slices.Sort(all)
	for _, size := range []int{1, 5, 42, 100} {
		a := a.with(t)
		if got := addresses(a.list(size)); !slices.Equal(got, all) {
			t.Errorf("page size %d: listed %d, want %d", size, len(got), len(all))
		}
	}

	if n := a.deleteAll("tel:+15550000000", "tel:+1 555 000 0000", "tel:+15559999999", "sip:x@example.com"); n != 2 {
		t.Errorf("deleted %d, want 2", n)
	}
	if got := a.check("tel:+15550000000", "sip:x@example.com", "email:y@example.com"); !slices.Equal(got, []string{"email:y@example.com"}) {
		t.Errorf("check after delete = %q", got)
	}
	if got := a.list(7); len(got) != 40 {
		t.Errorf("listed %d after delete, want 40", len(got))
	}

	// The page after the last page is empty, with no token.
	req := a.event("list-suppressions")
	req.QueryStringParameters = map[string]string{"page_size": "100"}
	var first apigw.List[outdial.Suppression]
	a.ok("list-suppressions", req, &first)
	if len(first.Result) != 40 || first.NextPageToken == "" {
		t.Fatalf("one page of all: %d, token %q", len(first.Result), first.NextPageToken)
	}
	req.QueryStringParameters["page_token"] = first.NextPageToken
	var end apigw.List[outdial.Suppression]
	a.ok("list-suppressions", req, &end)
	if end.Result == nil || len(end.Result) != 0 || end.NextPageToken != "" {
		t.Errorf("end page = %+v, want an empty array and no token", end)
	}
}

func TestCustomerIsolation(t *testing.T) {
	a := newHarness(t)
	a.add(addressesJSON("tel:+15551234567", "email:a@example.com"))
	b := a.with(t)
	b.cust = uuid.NewString()

	if got := b.check("tel:+15551234567", "email:a@example.com"); len(got) != 0 {
		t.Errorf("b checks %q", got)
	}
	if got := b.list(10); len(got) != 0 {
		t.Errorf("b lists %v", got)
	}
	if n := b.deleteAll("tel:+15551234567"); n != 0 {
		t.Errorf("b deleted %d", n)
	}
	if res := b.add(addressesJSON("tel:+15551234567")); res.Added != 1 {
		t.Errorf("b add = %+v, want 1 added", res)
	}
	if got := a.list(10); len(got) != 2 {
		t.Errorf("a lists %d, want 2", len(got))
	}

	// A page token of one customer is refused to another.
	req := a.event("list-suppressions")
	req.QueryStringParameters = map[string]string{"page_size": "1"}
	var page apigw.List[outdial.Suppression]
	a.ok("list-suppressions", req, &page)
	req = b.event("list-suppressions")
	req.QueryStringParameters = map[string]string{"page_token": page.NextPageToken}
	wantError(t, b.do("list-suppressions", req), http.StatusBadRequest, outdial.ECodeInvalidPageToken, "page_token")
}

func TestErrors(t *testing.T) {
	a := newHarness(t)
	tooMany := make([]string, outdial.MaxSuppressionsPerRequest+1)
	for i := range tooMany {
		tooMany[i] = "tel:+15551234567"
	}
	type errorCase struct {
		name    string
		fixture string
		req     func() apigw.Request
		status  int
		code    string
		field   string
	}
	post := func(fixture, body string) func() apigw.Request {
		return func() apigw.Request { return a.post(fixture, body) }
	}
	withType := func(fixture, body, ct string) func() apigw.Request {
		return func() apigw.Request {
			r := a.post(fixture, body)
			r.Headers["content-type"] = ct
			return r
		}
	}
	listQuery := func(kv ...string) func() apigw.Request {
		return func() apigw.Request {
			r := a.event("list-suppressions")
			r.QueryStringParameters = map[string]string{}
			for i := 0; i+1 < len(kv); i += 2 {
				r.QueryStringParameters[kv[i]] = kv[i+1]
			}
			return r
		}
	}
	var cases []errorCase
	for _, f := range []string{"add-suppressions", "check-suppressions", "delete-suppressions"} {
		cases = append(cases,
			errorCase{"no addresses", f, post(f, `{}`), 400, outdial.ECodeMissingField, "addresses"},
			errorCase{"empty addresses", f, post(f, `{"addresses":[]}`), 400, outdial.ECodeMissingField, "addresses"},
			errorCase{"null addresses", f, post(f, `{"addresses":null}`), 400, outdial.ECodeMissingField, "addresses"},
			errorCase{"not an array", f, post(f, `{"addresses":"tel:+15551234567"}`), 400, outdial.ECodeInvalidField, "addresses"},
			errorCase{"not a string", f, post(f, `{"addresses":["tel:+15551234567",15551234567]}`), 400, outdial.ECodeInvalidField, "addresses[1]"},
			errorCase{"null entry", f, post(f, `{"addresses":[null]}`), 400, outdial.ECodeInvalidField, "addresses[0]"},
			errorCase{"unknown field", f, post(f, `{"addresses":["tel:+15551234567"],"customer_id":"x"}`), 400, outdial.ECodeUnknownField, "customer_id"},
			errorCase{"case of a field", f, post(f, `{"Addresses":["tel:+15551234567"]}`), 400, outdial.ECodeUnknownField, "Addresses"},
			errorCase{"duplicate key", f, post(f, `{"addresses":[],"addresses":["tel:+15551234567"]}`), 400, outdial.ECodeInvalidJSON, "addresses"},
			errorCase{"not JSON", f, post(f, `addresses=tel:+15551234567`), 400, outdial.ECodeInvalidJSON, "body"},
			errorCase{"empty body", f, post(f, ``), 400, outdial.ECodeInvalidJSON, "body"},
			errorCase{"too many", f, post(f, addressesJSON(tooMany...)), 400, outdial.ECodeInvalidField, "addresses"},
			errorCase{"body too large", f, post(f, `{"addresses":["`+strings.Repeat("x", suppressions.MaxBody)+`"]}`), 413, outdial.ECodeBodyTooLarge, "body"},
			errorCase{"bad region", f, func() apigw.Request {
				r := a.post(f, addressesJSON("tel:+15551234567"))
				r.QueryStringParameters["default_region"] = "USA"
				return r
			}, 400, outdial.ECodeInvalidQuery, "default_region"},
			errorCase{"media type", f, withType(f, addressesJSON("tel:+15551234567"), "application/xml"), 415, outdial.ECodeUnsupportedMedia, "Content-Type"},
			errorCase{"no customer", f, func() apigw.Request {
				r := a.post(f, addressesJSON("tel:+15551234567"))
				r.RequestContext.Authorizer = nil
				return r
			}, 401, outdial.ECodeUnauthenticated, ""},
		)
	}
	for _, f := range []string{"check-suppressions", "delete-suppressions"} {
		cases = append(cases,
			errorCase{"no type", f, post(f, addressesJSON("tel:+15551234567", "+15551234567")), 400, outdial.ECodeInvalidField, "addresses[1]"},
			errorCase{"unknown type", f, post(f, addressesJSON("fax:+15551234567")), 400, outdial.ECodeInvalidField, "addresses[0]"},
			errorCase{"bad number", f, post(f, addressesJSON("tel:+1555", "tel:+15551234567")), 400, outdial.ECodeInvalidField, "addresses[0]"},
			errorCase{"bad email", f, post(f, addressesJSON("email:a@b@c.com")), 400, outdial.ECodeInvalidField, "addresses[0]"},
			errorCase{"bad sip", f, post(f, addressesJSON("sip:alice")), 400, outdial.ECodeInvalidField, "addresses[0]"},
			errorCase{"empty", f, post(f, addressesJSON("tel:+15551234567", "tel:+15551234568", " ")), 400, outdial.ECodeInvalidField, "addresses[2]"},
			errorCase{"csv", f, withType(f, "address\ntel:+15551234567\n", "text/csv"), 415, outdial.ECodeUnsupportedMedia, "Content-Type"},
		)
	}
	csvRows := func(n int) string {
		var b strings.Builder
		b.WriteString("tel\n")
		for i := range n {
			fmt.Fprintf(&b, "+1555%07d\n", i)
		}
		return b.String()
	}
	const add = "add-suppressions"
	cases = append(cases,
		errorCase{"csv without address column", add, withType(add, "phone\n+15551234567\n", "text/csv"), 400, outdial.ECodeInvalidCSV, "body"},
		errorCase{"csv with both kinds", add, withType(add, "address,tel\ntel:+15551234567,+15551234568\n", "text/csv"), 400, outdial.ECodeInvalidCSV, "body"},
		errorCase{"csv with address twice", add, withType(add, "address,Address\ntel:+15551234567,tel:+15551234568\n", "text/csv"), 400, outdial.ECodeInvalidCSV, "body"},
		errorCase{"csv with an unnamed column", add, withType(add, "address,\ntel:+15551234567,\n", "text/csv"), 400, outdial.ECodeInvalidCSV, "body"},
		errorCase{"empty csv", add, withType(add, "", "text/csv"), 400, outdial.ECodeInvalidCSV, "body"},
		errorCase{"csv not UTF-8", add, withType(add, "address\ntel:+1555\xff\n", "text/csv"), 400, outdial.ECodeInvalidCSV, "body"},
		errorCase{"csv bad header", add, withType(add, "addr\"ess\n", "text/csv"), 400, outdial.ECodeInvalidCSV, "body"},
		errorCase{"csv long line", add, withType(add, "address\ntel:"+strings.Repeat("1", 40000)+"\n", "text/csv"), 400, outdial.ECodeInvalidCSV, "body"},
		errorCase{"csv header only", add, withType(add, "address\n\n", "text/csv"), 400, outdial.ECodeMissingField, "addresses"},
		errorCase{"csv too many", add, withType(add, csvRows(outdial.MaxSuppressionsPerRequest+1), "text/csv"), 400, outdial.ECodeInvalidField, "addresses"},
		errorCase{"csv bad content type", add, withType(add, "address\n", "text/csv; =="), 415, outdial.ECodeUnsupportedMedia, "Content-Type"},
		errorCase{"page size", "list-suppressions", listQuery("page_size", "0"), 400, outdial.ECodeInvalidQuery, "page_size"},
		errorCase{"page size too big", "list-suppressions", listQuery("page_size", "101"), 400, outdial.ECodeInvalidQuery, "page_size"},
		errorCase{"page token", "list-suppressions", listQuery("page_token", "garbage"), 400, outdial.ECodeInvalidPageToken, "page_token"},
		errorCase{"page token of another list", "list-suppressions", listQuery("page_token", a.lister.Pages.Seal(a.cust, "targets/x//", `{"b":0,"a":"tel:+15551234567"}`)), 400, outdial.ECodeInvalidPageToken, "page_token"},
		errorCase{"page token with a bad cursor", "list-suppressions", listQuery("page_token", a.lister.Pages.Seal(a.cust, "suppressions", `{"b":99}`)), 400, outdial.ECodeInvalidPageToken, "page_token"},
	)
	for _, c := range cases {
		t.Run(c.fixture+"/"+c.name, func(t *testing.T) {
			a := a.with(t)
			wantError(t, a.do(c.fixture, c.req()), c.status, c.code, c.field)
		})
	}

	// Exactly the most addresses is fine, in CSV too.
	if res := a.addCSV(csvRows(outdial.MaxSuppressionsPerRequest)); res.Added != outdial.MaxSuppressionsPerRequest {
		t.Errorf("CSV of %d = %d added", outdial.MaxSuppressionsPerRequest, res.Added)
	}
}

func TestBase64Body(t *testing.T) {
	a := newHarness(t)
	req := a.post("add-suppressions", base64.StdEncoding.EncodeToString([]byte("address\ntel:+15551234567\n")))
	req.IsBase64Encoded = true
	req.Headers["content-type"] = "text/csv"
	var res suppressions.AddResponse
	a.ok("add-suppressions", req, &res)
	if res.Added != 1 {
		t.Errorf("base64 CSV = %+v", res)
	}
}

// TestRejectedEcho: the address of a rejected entry is as sent, cut when
// it is long, so that the most rejections a request can have still fit a
// Lambda response.
func TestRejectedEcho(t *testing.T) {
	a := newHarness(t)
	long := "tel:+1" + strings.Repeat("5", 400)
	res := a.add(addressesJSON(long, "x<y"))
	if len(res.Rejected) != 2 {
		t.Fatalf("rejected = %+v", res.Rejected)
	}
	if got := res.Rejected[0].Address; !strings.HasSuffix(got, "…") || !strings.HasPrefix(long, strings.TrimSuffix(got, "…")) || len(got) > 300 {
		t.Errorf("long address echoed as %q, want a prefix of it and …", got)
	}
	if got := res.Rejected[1].Address; got != "x<y" {
		t.Errorf("short address echoed as %q", got)
	}

	// 10 000 addresses of 400 '<', which encoding/json escapes as
	// \u003c: the body (4 MB) holds them raw.
	worst := `"` + strings.Repeat("<", 400) + `"`
	body := `{"addresses":[` + strings.Repeat(worst+",", outdial.MaxSuppressionsPerRequest-1) + worst + `]}`
	resp := a.do("add-suppressions", a.post("add-suppressions", body))
	if resp.StatusCode != http.StatusOK || len(resp.Body) > 6_000_000 {
		t.Errorf("10 000 rejected long addresses: status %d, %d bytes; want 200 under 6 MB", resp.StatusCode, len(resp.Body))
	}
}

// TestStoreFailure: an internal error answers 500 and is logged, with no
// address in the log (the harness checks that).
func TestStoreFailure(t *testing.T) {
	client := dynamotest.Client(t)
	a := newHarnessOn(t, dynamo.New(client, "no-such-table-"+uuid.NewString()))
	fixtures := []string{"add-suppressions", "check-suppressions", "delete-suppressions", "list-suppressions"}
	for _, f := range fixtures {
		resp, err := map[string]func(context.Context, apigw.Request) (apigw.Response, error){
			"add-suppressions": a.h.Add, "check-suppressions": a.h.Check,
			"delete-suppressions": a.h.Delete, "list-suppressions": a.lister.List,
		}[f](a.ctx, a.event(f))
		if err != nil {
			t.Fatalf("%s returned an error: %v", f, err)
		}
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("%s: status %d, want 500: %s", f, resp.StatusCode, resp.Body)
		}
		if e := errorDetail(t, resp); e.Code != outdial.ECodeInternal || e.Message != "internal error" {
			t.Errorf("%s: %+v, want a generic internal error", f, e)
		}
	}
	if n := strings.Count(a.logs.String(), "internal error"); n != len(fixtures) {
		t.Errorf("%d internal errors logged, want %d: %s", n, len(fixtures), a.logs.String())
	}
}
