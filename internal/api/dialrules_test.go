package api_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
)

// Issue 14 through the handlers: suppressed rows of an import, target
// zones, calling window validation, archive and restore, bulk delete and
// the reason filter.

// call runs fn on req and fails on a returned error or a 5xx.
func (a *apiHarness) call(name string, fn handlerFunc, req apigw.Request) apigw.Response {
	a.t.Helper()
	resp, err := fn(a.ctx, req)
	if err != nil {
		a.t.Fatalf("%s returned an error: %v", name, err)
	}
	if resp.StatusCode >= 500 {
		a.t.Errorf("%s answered %d: %s", name, resp.StatusCode, resp.Body)
	}
	return resp
}

// wantError checks resp is an error with status, code and field.
func (a *apiHarness) wantError(what string, resp apigw.Response, status int, code, field string) {
	a.t.Helper()
	if resp.StatusCode != status {
		a.t.Errorf("%s: status %d, want %d; body %s", what, resp.StatusCode, status, resp.Body)
		return
	}
	e := errorBody(a.t, resp)
	if e.Code != code || (field != "" && e.Field != field) {
		a.t.Errorf("%s: error %s on %q (%s), want %s on %q", what, e.Code, e.Field, e.Message, code, field)
	}
}

func TestImportSkipsSuppressedDestinations(t *testing.T) {
	a := newAPIHarness(t)
	cust := a.event("create-outdial", "", "").RequestContext.Authorizer.Lambda["customer_id"].(string)
	o := a.createOutdial("", "")
	if _, _, err := a.store.AddSuppressions(a.ctx, cust, []string{"tel:+15550000001", "tel:+15550000003"}); err != nil {
		t.Fatal(err)
	}
	res := a.importTargets(o.ID, "application/json", `{"targets":[
		{"destination":{"type":"tel","target":"+15550000001"}},
		{"destination":{"type":"tel","target":"+15550000002"}},
		{"destinations":[{"type":"tel","target":"+15550000003"},{"type":"tel","target":"+15550000004"}]}]}`)
	if res.Created != 2 || res.Rejected != 1 || res.RejectedTargets[0].Index != 0 || res.RejectedTargets[0].Code != outdial.ECodeSuppressed {
		t.Fatalf("import = %+v, want row 0 rejected as suppressed and 2 created", res)
	}
	// The third row lost its suppressed destination: only +15550000004 is
	// stored.
	var third *outdial.Target
	for _, c := range res.CreatedTargets {
		if c.Index == 2 {
			third = a.getTarget(o.ID, c.TargetID)
		}
	}
	if third == nil || third.Destination.Target != "+15550000004" || len(third.Destinations) > 1 {
		t.Fatalf("third row's target %+v, want only its unsuppressed destination", third)
	}

	// CSV rows are rejected the same way, with their line.
	res = a.importTargets(o.ID, "text/csv", "tel,name\n+15550000003,x\n+15550000005,y\n")
	if res.Created != 1 || res.Rejected != 1 || res.RejectedTargets[0].Line != 2 || res.RejectedTargets[0].Code != outdial.ECodeSuppressed {
		t.Fatalf("CSV import = %+v, want line 2 rejected as suppressed", res)
	}

	// The single-target form answers the error itself.
	req := a.event("add-targets", "", o.ID)
	req.Body = `{"destination":{"type":"tel","target":"+15550000001"}}`
	a.wantError("single suppressed target", a.do("add-targets", req), http.StatusConflict, outdial.ECodeSuppressed, "destination")

	// Nothing suppressed was created.
	for _, tg := range a.listTargets(o.ID, "", 100) {
		if tg.Destination.Target == "+15550000001" || tg.Destination.Target == "+15550000003" {
			t.Errorf("suppressed number %s was imported", tg.Destination.Target)
		}
	}
	if c := a.getOutdial("", o.ID).Counts; c.Idle != 3 {
		t.Errorf("counts %+v, want 3 idle", c)
	}
}

func TestImportWorksOutTargetZones(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	res := a.importTargets(o.ID, "application/json", `{"targets":[
		{"destination":{"type":"tel","target":"+12125550123"}},
		{"destination":{"type":"tel","target":"+12085550123"}},
		{"destination":{"type":"tel","target":"+15551234567"}},
		{"destination":{"type":"tel","target":"+12125550124"},"timezone":"Europe/Paris"},
		{"destination":{"type":"tel","target":"+12125550125"},"timezone":"Mars/Olympus"}]}`)
	if res.Created != 4 || res.Rejected != 1 || res.RejectedTargets[0].Field != "timezone" {
		t.Fatalf("import = %+v, want 4 created and the unknown zone rejected on timezone", res)
	}
	want := [][]string{{"America/New_York"}, {"America/Boise", "America/Los_Angeles"}, nil, {"Europe/Paris"}}
	for _, c := range res.CreatedTargets {
		tg := a.getTarget(o.ID, c.TargetID)
		if strings.Join(tg.Timezones, ",") != strings.Join(want[c.Index], ",") {
			t.Errorf("row %d: timezones %v, want %v", c.Index, tg.Timezones, want[c.Index])
		}
	}
	res = a.importTargets(o.ID, "text/csv", "tel,timezone\n+12125550126,Asia/Tokyo\n")
	if res.Created != 1 {
		t.Fatalf("CSV import = %+v", res)
	}
	if tg := a.getTarget(o.ID, res.CreatedTargets[0].TargetID); tg.Timezone != "Asia/Tokyo" {
		t.Errorf("CSV timezone column: timezone %q, want Asia/Tokyo", tg.Timezone)
	}
}

func TestCallingWindowOnCreateAndUpdate(t *testing.T) {
	a := newAPIHarness(t)
	for _, tc := range []struct {
		window, field, code string
	}{
		{`{"start":"9:00","end":"20:00","timezone":"UTC"}`, "calling_window.start", outdial.ECodeInvalidField},
		{`{"start":"09:00","end":"25:00","timezone":"UTC"}`, "calling_window.end", outdial.ECodeInvalidField},
		{`{"start":"20:00","end":"09:00","timezone":"UTC"}`, "calling_window.end", outdial.ECodeInvalidField},
		{`{"start":"09:00","end":"20:00","timezone":"Mars/Base"}`, "calling_window.timezone", outdial.ECodeInvalidField},
		{`{"start":"09:00","end":"20:00"}`, "calling_window.timezone", outdial.ECodeMissingField},
		{`{"start":"09:00","end":"20:00","timezone":"UTC","days":["monday"]}`, "calling_window.days[0]", outdial.ECodeInvalidField},
		{`{"start":"09:00","end":"20:00","timezone":"UTC","hours":3}`, "calling_window.hours", outdial.ECodeUnknownField},
	} {
		req := a.event("create-outdial", "", "")
		req.Body = `{"name":"w","calling_window":` + tc.window + `}`
		a.wantError("create with "+tc.window, a.do("create-outdial", req), http.StatusBadRequest, tc.code, tc.field)
	}
	o := a.createOutdial("", `{"name":"w","calling_window":{"start":"09:00","end":"20:00","days":["fri","mon"],"timezone":"America/New_York"}}`)
	w := a.getOutdial("", o.ID).CallingWindow
	if w == nil || w.Start != "09:00" || strings.Join(w.Days, ",") != "mon,fri" || w.Timezone != "America/New_York" {
		t.Fatalf("stored window %+v, want 09:00-20:00 mon,fri New York", w)
	}
	req := a.event("update-outdial", "", o.ID)
	req.Body = `{"calling_window":null}`
	a.ok("update-outdial", req, nil)
	if w := a.getOutdial("", o.ID).CallingWindow; w != nil {
		t.Errorf("window after PUT null: %+v, want none", w)
	}
	req = a.event("update-outdial", "", o.ID)
	req.Body = `{"calling_window":{"start":"08:00","end":"24:00","timezone":"UTC"}}`
	a.ok("update-outdial", req, nil)
	if w := a.getOutdial("", o.ID).CallingWindow; w == nil || w.End != "24:00" || len(w.Days) != 7 {
		t.Errorf("window after PUT: %+v, want 08:00-24:00 every day", w)
	}
}

func TestArchiveAndRestoreThroughTheRoutes(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	a.importTargets(o.ID, "application/json", `{"targets":[{"destination":{"type":"tel","target":"+15550000001"}}]}`)

	var got outdial.Outdial
	resp := a.call("archive-outdial", a.h.ArchiveOutdial, a.event("archive-outdial", "", o.ID))
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &got) != nil || !got.Archived || got.TMArchive.IsZero() || got.Counts.Idle != 1 {
		t.Fatalf("archive: %d %s", resp.StatusCode, resp.Body)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal([]byte(resp.Body), &raw)
	for _, k := range []string{"archived", "tm_archive", "calling_window"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("outdial JSON lacks %q", k)
		}
	}
	if resp := a.call("archive-outdial", a.h.ArchiveOutdial, a.event("archive-outdial", "", o.ID)); resp.StatusCode != http.StatusOK {
		t.Errorf("archiving again: %d, want 200 (idempotent)", resp.StatusCode)
	}
	a.wantError("claim from an archived outdial", a.do("claim-targets", a.event("claim-targets", "", o.ID)), http.StatusConflict, outdial.ECodeArchived, "")
	req := a.event("add-targets", "", o.ID)
	req.Body = `{"destination":{"type":"tel","target":"+15550000002"}}`
	a.wantError("import into an archived outdial", a.do("add-targets", req), http.StatusConflict, outdial.ECodeArchived, "")

	list := func(q map[string]string) []*outdial.Outdial {
		req := a.event("list-outdials", "", "")
		req.QueryStringParameters = q
		var l apigw.List[*outdial.Outdial]
		a.ok("list-outdials", req, &l)
		return l.Result
	}
	if l := list(nil); len(l) != 0 {
		t.Errorf("GET /v1.0/outdials lists %d, want the archived one left out", len(l))
	}
	if l := list(map[string]string{"archived": "true"}); len(l) != 1 || l[0].ID != o.ID {
		t.Errorf("?archived=true lists %d, want the archived one", len(l))
	}
	req = a.event("list-outdials", "", "")
	req.QueryStringParameters = map[string]string{"archived": "yes"}
	a.wantError("?archived=yes", a.do("list-outdials", req), http.StatusBadRequest, outdial.ECodeInvalidQuery, "archived")

	resp = a.call("restore-outdial", a.h.RestoreOutdial, a.event("restore-outdial", "", o.ID))
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &got) != nil || got.Archived {
		t.Fatalf("restore: %d %s", resp.StatusCode, resp.Body)
	}
	var claims struct{ Result []*outdial.Claim }
	a.ok("claim-targets", a.event("claim-targets", "", o.ID), &claims)
	if len(claims.Result) != 1 {
		t.Errorf("claim after restore: %d, want 1", len(claims.Result))
	}
	a.wantError("archive another customer's outdial", a.call("archive-outdial", a.h.ArchiveOutdial, a.event("archive-outdial", "7e1b7c1e-0000-4000-8000-000000000001", o.ID)), http.StatusNotFound, outdial.ECodeNotFound, "")
}

func TestDeleteTargetsRoute(t *testing.T) {
	a := newAPIHarness(t)
	o := a.createOutdial("", "")
	a.importTargets(o.ID, "application/json", `{"targets":[{"destination":{"type":"tel","target":"+15550000001"}},{"destination":{"type":"tel","target":"+15550000002"}}]}`)
	for _, tc := range []struct{ body, code, field string }{
		{`{}`, outdial.ECodeMissingField, "status"},
		{`{"status":"gone"}`, outdial.ECodeInvalidField, "status"},
		{`{"reason":"tired"}`, outdial.ECodeInvalidField, "reason"},
		{`{"status":"idle","all":true}`, outdial.ECodeUnknownField, "all"},
	} {
		req := a.event("delete-targets", "", o.ID)
		req.Body = tc.body
		a.wantError("delete-targets "+tc.body, a.call("delete-targets", a.h.DeleteTargets, req), http.StatusBadRequest, tc.code, tc.field)
	}
	req := a.event("delete-targets", "", o.ID)
	req.Body = `{"reason":"due"}`
	resp := a.call("delete-targets", a.h.DeleteTargets, req)
	var out struct {
		Deleted int  `json:"deleted"`
		More    bool `json:"more"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(resp.Body), &out) != nil || out.Deleted != 2 || out.More {
		t.Fatalf("delete-targets reason due: %d %s, want 2 deleted", resp.StatusCode, resp.Body)
	}
	if c := a.getOutdial("", o.ID); c.TargetCount != 0 {
		t.Errorf("target_count %d after deleting every target", c.TargetCount)
	}

	req = a.event("list-targets", "", o.ID)
	req.QueryStringParameters = map[string]string{"reason": "sleepy"}
	a.wantError("?reason=sleepy", a.do("list-targets", req), http.StatusBadRequest, outdial.ECodeInvalidQuery, "reason")
}
