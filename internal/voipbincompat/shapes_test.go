package voipbincompat_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/auth"
)

// TestAccessKeyAuthenticates checks VoIPBIN's ?accesskey= beside the
// seed's ?token=: the same token rules, and the Authorization header wins
// when both are sent.
func TestAccessKeyAuthenticates(t *testing.T) {
	st := startStack(t)
	sdk, customer := newClient(t, st, accessKey)
	forged, err := auth.Mint("another-secret-of-at-least-32-bytes!!", customer, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	expired, err := auth.Mint(st.TokenSecret, customer, time.Hour, time.Now().Add(-2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	bad := func(tok string) *client { c := *sdk; c.token = tok; return &c }
	tests := []struct {
		name   string
		c      *client
		query  map[string][]string
		status int
	}{
		{"accesskey", sdk, nil, http.StatusOK},
		{"token", sdk.as(tokenQuery), nil, http.StatusOK},
		{"forged accesskey", bad(forged), nil, http.StatusForbidden},
		{"expired accesskey", bad(expired), nil, http.StatusForbidden},
		{"header wins over a forged accesskey", sdk.as(bearer), map[string][]string{"accesskey": {forged}}, http.StatusOK},
		{"header wins over a valid accesskey", bad(forged).as(bearer), map[string][]string{"accesskey": {sdk.token}}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.c.call(t, "GET", "/v1.0/outdials", tt.query, nil)
			if r.status != tt.status {
				t.Fatalf("GET /outdials = %d %s, want %d", r.status, r.body, tt.status)
			}
			if r.status == http.StatusOK {
				var l OutdialList
				if err := json.Unmarshal(r.body, &l); err != nil {
					t.Errorf("the answer does not decode into OutdialList: %v", err)
				}
			}
		})
	}
}

// TestSeedShapesStillWork sends the seed's own requests with ?token=: they
// work as before, and their answers decode into VoIPBIN's types too.
func TestSeedShapesStillWork(t *testing.T) {
	st := startStack(t)
	seed, customer := newClient(t, st, tokenQuery)

	// The seed's create: no campaign, no data (answered as "").
	var od OutdialManagerOutdial
	seed.do(t, "POST", "/v1.0/outdials", nil, `{ "name": "January Leads", "detail": "Sales leads for Q1 campaign" }`, &od)
	id := deref(od.ID)
	checkOutdial(t, "POST /outdials (seed)", od, wantOutdial{id: id, customer: customer, name: "January Leads", detail: "Sales leads for Q1 campaign"})
	base := "/v1.0/outdials/" + id

	// One target in the seed's shape, with its own try_count_max.
	r := seed.call(t, "POST", base+"/targets", nil, `{"destination":{"type":"tel","target":"+15551234567"},"try_count_max":2}`)
	if r.status != http.StatusOK {
		t.Fatalf("POST seed target = %d %s, want 200", r.status, r.body)
	}
	var own struct {
		Destination struct {
			Type   string `json:"type"`
			Target string `json:"target"`
		} `json:"destination"`
		TryCountMax     int `json:"try_count_max"`
		TryCountCurrent int `json:"try_count_current"`
	}
	if err := json.Unmarshal(r.body, &own); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	if own.Destination.Type != "tel" || own.Destination.Target != "+15551234567" || own.TryCountMax != 2 || own.TryCountCurrent != 0 {
		t.Errorf("seed target = %+v, want tel +15551234567, try_count_max 2, try_count_current 0", own)
	}
	var tg OutdialManagerOutdialtarget
	if err := json.Unmarshal(r.body, &tg); err != nil {
		t.Fatalf("the seed target does not decode into OutdialManagerOutdialtarget: %v\nbody: %s", err, r.body)
	}
	checkTarget(t, "POST seed target", tg, wantTarget{outdial: id, status: "idle", slots: [5]slot{{"tel", "+15551234567"}}})

	// The seed's batch.
	var imp importSummary
	seed.do(t, "POST", base+"/targets", nil, `{ "targets": [ { "destination": { "type": "tel", "target": "+15559876543" }, "try_count_max": 3 }, { "destination": { "type": "tel", "target": "+15552345678" }, "try_count_max": 3 } ] }`, &imp)
	if imp.Created != 2 || imp.Rejected != 0 {
		t.Errorf("seed batch = %+v, want 2 created", imp)
	}
	var tl TargetList
	seed.do(t, "GET", base+"/targets", nil, nil, &tl)
	if got := len(deref(tl.Result)); got != 3 {
		t.Errorf("GET targets (seed) = %d targets, want 3", got)
	}

	// data: null clears it, answered as "".
	seed.do(t, "PUT", base+"/data", nil, `{"data":"x"}`, &od)
	seed.do(t, "PUT", base+"/data", nil, `{"data":null}`, &od)
	checkOutdial(t, "PUT /outdials/{id}/data null", od, wantOutdial{id: id, customer: customer, name: "January Leads", detail: "Sales leads for Q1 campaign"})
}

// TestErrorsDecodeAsVoIPBINErrors checks error answers against VoIPBIN's
// ErrorResponse, and that a data that is not text is refused naming data.
func TestErrorsDecodeAsVoIPBINErrors(t *testing.T) {
	st := startStack(t)
	sdk, _ := newClient(t, st, accessKey)
	var od OutdialManagerOutdial
	sdk.do(t, "POST", "/v1.0/outdials", nil, PostOutdialsJSONBody{Name: "Errors"}, &od)
	base := "/v1.0/outdials/" + deref(od.ID)

	if e := sdk.fails(t, "GET", "/v1.0/outdials/"+uuid.NewString(), nil, http.StatusNotFound); e.Status != "NOT_FOUND" {
		t.Errorf("GET a missing outdial: status %q, want NOT_FOUND", e.Status)
	}
	// reason is the wanted error.reason ("" for any); field must appear in
	// the message.
	tests := []struct {
		name, method, path, body, reason, field string
	}{
		{"create outdial with object data", "POST", "/v1.0/outdials", `{"campaign_id":"","name":"x","detail":"","data":{"a":1}}`, "INVALID_FIELD", "data"},
		{"put number data", "PUT", base + "/data", `{"data":17}`, "INVALID_FIELD", "data"},
		{"create target with object data", "POST", base + "/targets", `{"name":"","detail":"","data":{"a":1},"destination_0":{"type":"tel","target":"+15551230009"},"destination_1":{},"destination_2":{},"destination_3":{},"destination_4":{}}`, "INVALID_FIELD", "data"},
		{"destination with destination_0", "POST", base + "/targets", `{"destination":{"type":"tel","target":"+15551230008"},"destination_0":{"type":"tel","target":"+15551230008"}}`, "", "destination"},
		{"destinations with destination_1", "POST", base + "/targets", `{"destinations":[{"type":"tel","target":"+15551230007"}],"destination_1":{"type":"tel","target":"+15551230007"}}`, "", "destination"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sdk.fails(t, tt.method, tt.path, tt.body, http.StatusBadRequest)
			if e.Status != "INVALID_ARGUMENT" {
				t.Errorf("status %q, want INVALID_ARGUMENT", e.Status)
			}
			if tt.reason != "" && e.Reason != tt.reason {
				t.Errorf("reason %q, want %s (message %q)", e.Reason, tt.reason, e.Message)
			}
			if !strings.Contains(e.Message, tt.field) {
				t.Errorf("message %q does not name %s", e.Message, tt.field)
			}
		})
	}
}

// TestVoIPBINShapedBatch posts targets in VoIPBIN's shape as one
// {"targets": [...]} batch and reads each back.
func TestVoIPBINShapedBatch(t *testing.T) {
	st := startStack(t)
	sdk, _ := newClient(t, st, accessKey)
	var od OutdialManagerOutdial
	sdk.do(t, "POST", "/v1.0/outdials", nil, PostOutdialsJSONBody{Name: "Batch"}, &od)
	id := deref(od.ID)
	base := "/v1.0/outdials/" + id

	bodies, wants := voipbinTargets(id, 5)
	ids := postBatch(t, sdk, base, bodies)
	for i, tid := range ids {
		var tg OutdialManagerOutdialtarget
		sdk.do(t, "GET", base+"/targets/"+tid, nil, nil, &tg)
		checkTarget(t, fmt.Sprintf("batch row %d", i), tg, wants[i])
	}

	// Without try counts in the body, each destination gets the default 3.
	r := sdk.call(t, "GET", base+"/targets/"+ids[len(ids)-1], nil, nil)
	var own struct {
		Destinations []struct {
			TryCountMax int `json:"try_count_max"`
		} `json:"destinations"`
	}
	if err := json.Unmarshal(r.body, &own); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	if len(own.Destinations) != 2 || own.Destinations[0].TryCountMax != 3 || own.Destinations[1].TryCountMax != 3 {
		t.Errorf("destinations %+v, want two with try_count_max 3", own.Destinations)
	}
}

// importSummary is the service's answer to a batch.
type importSummary struct {
	Created        int `json:"created"`
	Duplicates     int `json:"duplicates"`
	Rejected       int `json:"rejected"`
	CreatedTargets []struct {
		Index    int    `json:"index"`
		TargetID string `json:"target_id"`
	} `json:"created_targets"`
	RejectedTargets []struct {
		Index   int    `json:"index"`
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"rejected_targets"`
}

// voipbinTargets returns n targets (n ≥ 2) of outdial od in VoIPBIN's
// shape and what each must read back as. The last leaves slot 0 unused and
// holds a SIP address in slot 1 and a phone number in slot 3.
func voipbinTargets(od string, n int) ([]PostOutdialsIDTargetsJSONBody, []wantTarget) {
	bodies := make([]PostOutdialsIDTargetsJSONBody, n)
	wants := make([]wantTarget, n)
	for i := range n {
		name, data := fmt.Sprintf("Lead %d", i), fmt.Sprintf(`{"row":%d}`, i)
		bodies[i] = PostOutdialsIDTargetsJSONBody{Name: name, Detail: "batch", Data: data}
		wants[i] = wantTarget{outdial: od, name: name, detail: "batch", data: data, status: "idle"}
		if i < n-1 {
			tel := fmt.Sprintf("+1555124%04d", i)
			bodies[i].Destination0 = address("tel", tel)
			wants[i].slots[0] = slot{"tel", tel}
			continue
		}
		bodies[i].Destination1 = address("sip", "sip:lead@pbx.example.com")
		bodies[i].Destination3 = address("tel", "+15551249999")
		wants[i].slots[1] = slot{"sip", "sip:lead@pbx.example.com"}
		wants[i].slots[3] = slot{"tel", "+15551249999"}
	}
	return bodies, wants
}

// postBatch posts bodies as one batch to the targets of the outdial at
// base; all must be created. It returns the target ids by row.
func postBatch(t *testing.T, c *client, base string, bodies []PostOutdialsIDTargetsJSONBody) []string {
	t.Helper()
	var imp importSummary
	c.do(t, "POST", base+"/targets", nil, map[string]any{"targets": bodies}, &imp)
	if imp.Created != len(bodies) || len(imp.CreatedTargets) != len(bodies) {
		t.Fatalf("batch of %d VoIPBIN-shaped targets = %+v, want all created", len(bodies), imp)
	}
	ids := make([]string, len(bodies))
	for _, ct := range imp.CreatedTargets {
		if ct.Index < 0 || ct.Index >= len(ids) || ids[ct.Index] != "" {
			t.Fatalf("batch answer names row %d wrongly: %+v", ct.Index, imp)
		}
		ids[ct.Index] = ct.TargetID
	}
	return ids
}
