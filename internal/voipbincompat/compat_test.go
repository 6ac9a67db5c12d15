package voipbincompat_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/localstack"
)

// TestVoIPBINClientDrivesEveryRoute walks every route of VoIPBIN's spec
// the way VoIPBIN's SDK drives it (?accesskey=, full bodies, answers
// decoded into VoIPBIN's types) and checks the values; in between, a
// dialer claims the target and reports a busy outcome on the queue, which
// shows as try_count_0 = 1.
func TestVoIPBINClientDrivesEveryRoute(t *testing.T) {
	st := startStack(t)
	sdk, customer := newClient(t, st, accessKey)

	// POST /outdials: every field, campaign_id "" for none, data as text.
	// The data is text that happens to be JSON: it must come back as the
	// same text, not as an object.
	const odData = `{"crm_id":"A-17","tier":"gold"}`
	var od OutdialManagerOutdial
	sdk.do(t, "POST", "/v1.0/outdials", nil, PostOutdialsJSONBody{
		CampaignID: "", Name: "Q1 Target List", Detail: "Outbound dial list for Q1 campaign", Data: odData,
	}, &od)
	id := deref(od.ID)
	if _, err := uuid.Parse(id); err != nil {
		t.Fatalf("POST /outdials: id %q is not a UUID", id)
	}
	want := wantOutdial{id: id, customer: customer, name: "Q1 Target List", detail: "Outbound dial list for Q1 campaign", data: odData}
	checkOutdial(t, "POST /outdials", od, want)
	base := "/v1.0/outdials/" + id

	// GET /outdials: the customer's only outdial.
	var list OutdialList
	sdk.do(t, "GET", "/v1.0/outdials", nil, nil, &list)
	if got := deref(list.Result); len(got) != 1 {
		t.Errorf("GET /outdials: %d outdials, want 1", len(got))
	} else {
		checkOutdial(t, "GET /outdials", got[0], want)
	}

	// GET /outdials/{id}.
	sdk.do(t, "GET", base, nil, nil, &od)
	checkOutdial(t, "GET /outdials/{id}", od, want)

	// PUT /outdials/{id}: name and detail.
	want.name, want.detail = "Q1 Target List (week 2)", "Second week"
	sdk.do(t, "PUT", base, nil, PutOutdialsIDJSONBody{Name: want.name, Detail: want.detail}, &od)
	checkOutdial(t, "PUT /outdials/{id}", od, want)

	// PUT /outdials/{id}/campaign_id: a campaign, then none, sent as "" and
	// as the all-zero UUID (both answered as no campaign).
	campaign := uuid.NewString()
	for _, c := range []struct{ send, want string }{
		{campaign, campaign}, {"", ""}, {campaign, campaign}, {uuid.Nil.String(), ""},
	} {
		want.campaign = c.want
		sdk.do(t, "PUT", base+"/campaign_id", nil, PutOutdialsIDCampaignIDJSONBody{CampaignID: c.send}, &od)
		checkOutdial(t, "PUT /outdials/{id}/campaign_id "+quote(c.send), od, want)
	}
	sdk.do(t, "GET", base, nil, nil, &od)
	checkOutdial(t, "GET /outdials/{id} after detaching the campaign", od, want)

	// PUT /outdials/{id}/data: text round-trips, "" included.
	for _, d := range []string{"vip-tag", "", "Ünïcode ✓ \"quoted\"", odData} {
		want.data = d
		sdk.do(t, "PUT", base+"/data", nil, PutOutdialsIDDataJSONBody{Data: d}, &od)
		checkOutdial(t, "PUT /outdials/{id}/data "+quote(d), od, want)
	}

	// POST /outdials/{id}/targets, VoIPBIN's shape: slot 0 a phone number
	// with every address field, slot 2 an email address, slots 1 and 4 {}
	// and slot 3 with an empty type (absent too). No try counts.
	body := PostOutdialsIDTargetsJSONBody{
		Name: "John Smith", Detail: "Priority customer", Data: "vip-tag",
		Destination0: CommonAddress{
			Type: ptr(CommonAddressType("tel")), Target: ptr("+15551230001"),
			TargetName: ptr("John Smith"), Name: ptr("Mobile"), Detail: ptr("Primary contact number"),
		},
		Destination2: address("email", "john.smith@example.com"),
		Destination3: CommonAddress{Type: ptr(CommonAddressType("")), Target: ptr("")},
	}
	wantTg := wantTarget{
		outdial: id, name: "John Smith", detail: "Priority customer", data: "vip-tag", status: "idle",
		slots: [5]slot{{"tel", "+15551230001"}, {}, {"email", "john.smith@example.com"}, {}, {}},
	}
	var tg OutdialManagerOutdialtarget
	sdk.do(t, "POST", base+"/targets", nil, body, &tg)
	tid := deref(tg.ID)
	if _, err := uuid.Parse(tid); err != nil {
		t.Fatalf("POST /outdials/{id}/targets: id %q is not a UUID", tid)
	}
	checkTarget(t, "POST /outdials/{id}/targets", tg, wantTg)

	// A retried POST answers the same target.
	sdk.do(t, "POST", base+"/targets", nil, body, &tg)
	if got := deref(tg.ID); got != tid {
		t.Errorf("POST /outdials/{id}/targets again: id %s, want the first post's %s", got, tid)
	}

	// GET /outdials/{id}/targets and GET /outdials/{id}/targets/{target_id}.
	var tl TargetList
	sdk.do(t, "GET", base+"/targets", nil, nil, &tl)
	if got := deref(tl.Result); len(got) != 1 {
		t.Errorf("GET /outdials/{id}/targets: %d targets, want 1", len(got))
	} else {
		checkTarget(t, "GET /outdials/{id}/targets", got[0], wantTg)
	}
	sdk.do(t, "GET", base+"/targets/"+tid, nil, nil, &tg)
	checkTarget(t, "GET /outdials/{id}/targets/{target_id}", tg, wantTg)

	// A dialer claims it and reports busy: one try on destination 0.
	claimAndReport(t, st.SQSEndpoint, st.QueueURL("OutcomeQueue"), sdk.as(bearer), id, tid, "busy")
	wantTg.tries = [5]int{1, 0, 0, 0, 0}
	deadline := time.Now().Add(20 * time.Second)
	for {
		sdk.do(t, "GET", base+"/targets/"+tid, nil, nil, &tg)
		if deref(tg.Status) != "dialing" || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkTarget(t, "GET /outdials/{id}/targets/{target_id} after a busy outcome", tg, wantTg)

	// DELETE /outdials/{id}/targets/{target_id} answers the deleted target.
	sdk.do(t, "DELETE", base+"/targets/"+tid, nil, nil, &tg)
	checkTarget(t, "DELETE /outdials/{id}/targets/{target_id}", tg, wantTg)
	if e := sdk.fails(t, "GET", base+"/targets/"+tid, nil, http.StatusNotFound); e.Status != "NOT_FOUND" {
		t.Errorf("GET a deleted target: status %q, want NOT_FOUND", e.Status)
	}

	// DELETE /outdials/{id} answers the deleted outdial.
	sdk.do(t, "DELETE", base, nil, nil, &od)
	checkOutdial(t, "DELETE /outdials/{id}", od, want)
	if e := sdk.fails(t, "GET", base, nil, http.StatusNotFound); e.Status != "NOT_FOUND" {
		t.Errorf("GET a deleted outdial: status %q, want NOT_FOUND", e.Status)
	}
}

// claimAndReport claims one target of outdial od as a dialer (it must be
// target) and sends result for it on the outcome queue.
func claimAndReport(t *testing.T, sqsEndpoint, queue string, dialer *client, od, target, result string) {
	t.Helper()
	var claim struct {
		Result []struct {
			AttemptID        string                      `json:"attempt_id"`
			DestinationIndex int                         `json:"destination_index"`
			Target           OutdialManagerOutdialtarget `json:"target"`
		} `json:"result"`
	}
	dialer.do(t, "POST", "/v1.0/outdials/"+od+"/targets/claim", nil, `{"limit":1}`, &claim)
	if len(claim.Result) != 1 {
		t.Fatalf("claim: %d targets, want 1", len(claim.Result))
	}
	c := claim.Result[0]
	if got := deref(c.Target.ID); got != target || c.DestinationIndex != 0 || deref(c.Target.Status) != "dialing" {
		t.Fatalf("claim: target %s, destination %d, status %q; want %s, 0, dialing", got, c.DestinationIndex, deref(c.Target.Status), target)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q, err := localstack.SQSClient(ctx, sqsEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := json.Marshal(map[string]string{"attempt_id": c.AttemptID, "outdial_id": od, "target_id": target, "result": result})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(string(msg))}); err != nil {
		t.Fatalf("send the outcome: %v", err)
	}
}

// wantOutdial is what an outdial answer must hold. An empty campaign means
// none: null or "" both decode as no campaign in VoIPBIN's SDK.
type wantOutdial struct {
	id, customer, campaign, name, detail, data string
}

// checkOutdial compares an outdial decoded as VoIPBIN types it with want.
func checkOutdial(t *testing.T, what string, got OutdialManagerOutdial, want wantOutdial) {
	t.Helper()
	if g := deref(got.ID); g != want.id {
		t.Errorf("%s: id %q, want %q", what, g, want.id)
	}
	if g := deref(got.CustomerID); g != want.customer {
		t.Errorf("%s: customer_id %q, want %q", what, g, want.customer)
	}
	if g := deref(got.CampaignID); g != want.campaign {
		t.Errorf("%s: campaign_id %q, want %q", what, g, want.campaign)
	}
	if g := deref(got.Name); g != want.name {
		t.Errorf("%s: name %q, want %q", what, g, want.name)
	}
	if g := deref(got.Detail); g != want.detail {
		t.Errorf("%s: detail %q, want %q", what, g, want.detail)
	}
	if got.Data == nil {
		t.Errorf("%s: data is null or absent, want the string %q", what, want.data)
	} else if *got.Data != want.data {
		t.Errorf("%s: data %q, want %q", what, *got.Data, want.data)
	}
	if deref(got.TMCreate) == "" || deref(got.TMUpdate) == "" {
		t.Errorf("%s: tm_create %q, tm_update %q; want both set", what, deref(got.TMCreate), deref(got.TMUpdate))
	}
}

// slot is a destination slot: type and target, both "" when absent.
type slot struct{ typ, target string }

// wantTarget is what a target answer must hold.
type wantTarget struct {
	outdial, name, detail, data, status string
	slots                               [5]slot
	tries                               [5]int
}

// checkTarget compares a target decoded as VoIPBIN types it with want.
// Every target carries all five destination slots (absent ones as {}) and
// all five try counts.
func checkTarget(t *testing.T, what string, got OutdialManagerOutdialtarget, want wantTarget) {
	t.Helper()
	if g := deref(got.OutdialID); g != want.outdial {
		t.Errorf("%s: outdial_id %q, want %q", what, g, want.outdial)
	}
	if g := deref(got.Name); g != want.name {
		t.Errorf("%s: name %q, want %q", what, g, want.name)
	}
	if g := deref(got.Detail); g != want.detail {
		t.Errorf("%s: detail %q, want %q", what, g, want.detail)
	}
	if got.Data == nil {
		t.Errorf("%s: data is null or absent, want the string %q", what, want.data)
	} else if *got.Data != want.data {
		t.Errorf("%s: data %q, want %q", what, *got.Data, want.data)
	}
	if g := deref(got.Status); string(g) != want.status {
		t.Errorf("%s: status %q, want %q", what, g, want.status)
	}
	for i, d := range got.destinations() {
		if d == nil {
			t.Errorf("%s: destination_%d is absent, want %+v ({} when unused)", what, i, want.slots[i])
			continue
		}
		if g := (slot{string(deref(d.Type)), deref(d.Target)}); g != want.slots[i] {
			t.Errorf("%s: destination_%d %+v, want %+v", what, i, g, want.slots[i])
		}
	}
	for i, n := range got.tryCounts() {
		if n == nil {
			t.Errorf("%s: try_count_%d is absent, want %d", what, i, want.tries[i])
		} else if *n != want.tries[i] {
			t.Errorf("%s: try_count_%d = %d, want %d", what, i, *n, want.tries[i])
		}
	}
	if deref(got.TMCreate) == "" {
		t.Errorf("%s: tm_create is not set", what)
	}
}

// quote returns s as a JSON string, for messages.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
