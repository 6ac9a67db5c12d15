package dynamo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outdial"
)

// storeHarness is one fresh table with a Store on it, for the outdial and
// target tests of this package.
// The store reads the time from the harness's clock, which starts at the
// current time (whole milliseconds) and moves only when advanced.
type storeHarness struct {
	t      *testing.T
	ctx    context.Context
	store  *dynamo.Store
	client *dynamodb.Client
	table  string
	clock  *dynamotest.Clock
}

func newStoreHarness(t *testing.T) *storeHarness {
	t.Helper()
	client, table := dynamotest.Table(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	clock := dynamotest.NewClock(time.Now().UTC().Truncate(time.Millisecond))
	h := &storeHarness{t: t, ctx: ctx, client: client, table: table, clock: clock}
	h.store = dynamo.New(client, table).WithClock(clock.Now)
	return h
}

// customer returns a fresh customer id.
func (h *storeHarness) customer() string { return uuid.NewString() }

// outdial creates an outdial of customerID called name and returns it as
// CreateOutdial stored it.
func (h *storeHarness) outdial(customerID, name string) *outdial.Outdial {
	h.t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		h.t.Fatal(err)
	}
	now := outdial.Time{Time: time.Now().UTC()}
	o := &outdial.Outdial{
		ID: id.String(), CustomerID: customerID, Name: name, Detail: "detail of " + name,
		RetryPolicy: outdial.DefaultRetryPolicy(), TMCreate: now, TMUpdate: now,
	}
	if err := h.store.CreateOutdial(h.ctx, o); err != nil {
		h.t.Fatalf("CreateOutdial(%s): %v", name, err)
	}
	return o
}

// tel returns a one-destination target for the fictional US number with
// suffix n.
func tel(n int) *outdial.NewTarget {
	return &outdial.NewTarget{Destinations: []outdial.TargetDestination{{Type: outdial.TypeTel, Target: telNumber(n), TryCountMax: 3}}}
}

func telNumber(n int) string { return fmt.Sprintf("+1555%07d", n) }

// tels returns tel(from) .. tel(to-1).
func tels(from, to int) []*outdial.NewTarget {
	out := make([]*outdial.NewTarget, 0, to-from)
	for n := from; n < to; n++ {
		out = append(out, tel(n))
	}
	return out
}

// targetIDOf is the id the store gives the target whose first destination
// is the tel number telNumber(n).
// targetIDOf returns the id of the target with telNumber(n) in the
// customer's outdial (its id key is the outdial's secret: the store
// derives it).
func (h *storeHarness) targetIDOf(customerID, outdialID string, n int) string {
	h.t.Helper()
	id, err := h.store.TargetIDOf(h.ctx, customerID, outdialID, outdial.Address{Type: outdial.TypeTel, Target: telNumber(n)})
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

// counts returns the counts GetOutdial reports.
func (h *storeHarness) counts(customerID, id string) outdial.Counts {
	h.t.Helper()
	o, err := h.store.GetOutdial(h.ctx, customerID, id)
	if err != nil {
		h.t.Fatalf("GetOutdial: %v", err)
	}
	if o.TargetCount != o.Counts.Total() {
		h.t.Errorf("target_count = %d, want the sum of the counts %d", o.TargetCount, o.Counts.Total())
	}
	return o.Counts
}

// listAll pages through ListTargets with page size size and returns the
// targets by id; it fails the test on a target listed twice.
func (h *storeHarness) listAll(customerID, id string, status outdial.Status, size int) map[string]*outdial.Target {
	h.t.Helper()
	seen := map[string]*outdial.Target{}
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 100000/size {
			h.t.Fatalf("ListTargets: no last page after %d pages", pages)
		}
		list, next, err := h.store.ListTargets(h.ctx, customerID, id, outdial.TargetFilter{Status: status}, outdial.Page{Size: size, Cursor: cursor})
		if err != nil {
			h.t.Fatalf("ListTargets(page %d): %v", pages, err)
		}
		if len(list) > size {
			h.t.Fatalf("ListTargets(page %d) returned %d targets, more than the page size %d", pages, len(list), size)
		}
		for _, tg := range list {
			if seen[tg.ID] != nil {
				h.t.Fatalf("ListTargets: target %s listed twice (page %d)", tg.ID, pages)
			}
			seen[tg.ID] = tg
		}
		if next == "" {
			return seen
		}
		cursor = next
	}
}

// wantCode fails the test unless err is an *outdial.Error with code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var oe *outdial.Error
	if !errors.As(err, &oe) {
		t.Errorf("%s: error = %v, want an *outdial.Error with code %s", what, err, code)
		return
	}
	if oe.Code != code {
		t.Errorf("%s: code = %s (%v), want %s", what, oe.Code, err, code)
	}
}

func ptr[T any](v T) *T { return &v }

func TestCreateAndGetOutdial(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	campaign := uuid.NewString()
	id, _ := uuid.NewV7()
	created := time.Date(2026, 1, 15, 9, 30, 0, 123456000, time.UTC)
	in := &outdial.Outdial{
		ID: id.String(), CustomerID: cust, CampaignID: &campaign,
		Name: "January Leads", Detail: "Q1", Data: `{"source":"crm","n":[1,2]}`,
		RetryPolicy: outdial.RetryPolicy{BusySeconds: 1, NoAnswerSeconds: 2, FailedSeconds: 3, ExpiredSeconds: 4},
		TMCreate:    outdial.Time{Time: created}, TMUpdate: outdial.Time{Time: created},
	}
	if err := h.store.CreateOutdial(h.ctx, in); err != nil {
		t.Fatalf("CreateOutdial: %v", err)
	}
	got, err := h.store.GetOutdial(h.ctx, cust, in.ID)
	if err != nil {
		t.Fatalf("GetOutdial: %v", err)
	}
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(in)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("GetOutdial =\n%s\nwant\n%s", gotJSON, wantJSON)
	}
	if got.TargetCount != 0 || got.Counts != (outdial.Counts{}) {
		t.Errorf("new outdial counts = %d %+v, want all zero", got.TargetCount, got.Counts)
	}

	// The same id again is refused, not overwritten.
	again := *in
	again.Name = "overwritten"
	again.TMCreate = outdial.Time{Time: created.Add(time.Hour)}
	if err := h.store.CreateOutdial(h.ctx, &again); err == nil {
		t.Errorf("CreateOutdial of an existing id: error = nil, want one")
	}
	got, err = h.store.GetOutdial(h.ctx, cust, in.ID)
	if err != nil {
		t.Fatalf("GetOutdial: %v", err)
	}
	if got.Name != in.Name {
		t.Errorf("after a second create of the same id: name = %q, want %q", got.Name, in.Name)
	}

	// An outdial without campaign and data reads back with nil for both.
	bare := h.outdial(cust, "bare")
	got, err = h.store.GetOutdial(h.ctx, cust, bare.ID)
	if err != nil {
		t.Fatalf("GetOutdial: %v", err)
	}
	if got.CampaignID != nil || got.Data != "" {
		t.Errorf("bare outdial: campaign_id = %v, data = %s; want nil, empty", got.CampaignID, got.Data)
	}
}

func TestListOutdialsNewestFirstWithPaging(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	other := h.customer()
	var want []string // newest first
	for i := 0; i < 7; i++ {
		o := h.outdial(cust, fmt.Sprintf("outdial %d", i))
		want = append([]string{o.ID}, want...)
		time.Sleep(2 * time.Millisecond) // UUIDv7 orders by millisecond
	}
	h.outdial(other, "someone else's")

	// One page holding everything.
	all, next, err := h.store.ListOutdials(h.ctx, cust, false, outdial.Page{Size: 100})
	if err != nil {
		t.Fatalf("ListOutdials: %v", err)
	}
	if next != "" {
		t.Errorf("ListOutdials(size 100) cursor = %q, want empty on the only page", next)
	}
	if got := ids(all); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListOutdials ids =\n%v\nwant (newest first)\n%v", got, want)
	}

	// Pages of 3: 3, 3, 1, the last one without a cursor.
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		if page > len(want) {
			t.Fatalf("ListOutdials: no last page after %d pages", page)
		}
		list, next, err := h.store.ListOutdials(h.ctx, cust, false, outdial.Page{Size: 3, Cursor: cursor})
		if err != nil {
			t.Fatalf("ListOutdials(page %d): %v", page, err)
		}
		if len(list) > 3 {
			t.Fatalf("page %d has %d outdials, want at most 3", page, len(list))
		}
		for _, o := range list {
			if o.CustomerID != cust {
				t.Errorf("ListOutdials returned outdial %s of customer %s", o.ID, o.CustomerID)
			}
		}
		got = append(got, ids(list)...)
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("paged ids =\n%v\nwant\n%v", got, want)
	}

	// A customer without outdials gets an empty list and no cursor.
	list, next, err := h.store.ListOutdials(h.ctx, h.customer(), false, outdial.Page{Size: 10})
	if err != nil || len(list) != 0 || next != "" {
		t.Errorf("ListOutdials(new customer) = %d outdials, cursor %q, err %v; want none, \"\", nil", len(list), next, err)
	}
}

// TestListOutdialsLastFullPage pages through a list whose length is a
// multiple of the page size: the last page must not carry a cursor that
// leads to an empty page.
func TestListOutdialsLastFullPage(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	for i := 0; i < 4; i++ {
		h.outdial(cust, fmt.Sprintf("outdial %d", i))
	}
	list, next, err := h.store.ListOutdials(h.ctx, cust, false, outdial.Page{Size: 4})
	if err != nil {
		t.Fatalf("ListOutdials: %v", err)
	}
	if len(list) != 4 || next != "" {
		t.Errorf("ListOutdials(size 4 of 4) = %d outdials, cursor %q; want 4 and no cursor", len(list), next)
	}
}

func ids(list []*outdial.Outdial) []string {
	out := make([]string, len(list))
	for i, o := range list {
		out[i] = o.ID
	}
	return out
}

func TestUpdateOutdial(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	campaign := uuid.NewString()
	def := outdial.DefaultRetryPolicy()

	tests := []struct {
		name  string
		setup *outdial.OutdialUpdate // applied first, if set
		u     outdial.OutdialUpdate
		check func(t *testing.T, before, got *outdial.Outdial)
	}{
		{
			name: "name only keeps detail",
			u:    outdial.OutdialUpdate{Name: ptr("renamed")},
			check: func(t *testing.T, before, got *outdial.Outdial) {
				if got.Name != "renamed" || got.Detail != before.Detail {
					t.Errorf("name, detail = %q, %q; want %q, %q", got.Name, got.Detail, "renamed", before.Detail)
				}
			},
		},
		{
			name: "detail only keeps name",
			u:    outdial.OutdialUpdate{Detail: ptr("")},
			check: func(t *testing.T, before, got *outdial.Outdial) {
				if got.Name != before.Name || got.Detail != "" {
					t.Errorf("name, detail = %q, %q; want %q, \"\"", got.Name, got.Detail, before.Name)
				}
			},
		},
		{
			name: "attach campaign",
			u:    outdial.OutdialUpdate{SetCampaign: true, CampaignID: &campaign},
			check: func(t *testing.T, _, got *outdial.Outdial) {
				if got.CampaignID == nil || *got.CampaignID != campaign {
					t.Errorf("campaign_id = %v, want %s", got.CampaignID, campaign)
				}
			},
		},
		{
			name:  "detach campaign with null",
			setup: &outdial.OutdialUpdate{SetCampaign: true, CampaignID: &campaign},
			u:     outdial.OutdialUpdate{SetCampaign: true, CampaignID: nil},
			check: func(t *testing.T, _, got *outdial.Outdial) {
				if got.CampaignID != nil {
					t.Errorf("campaign_id = %s, want nil", *got.CampaignID)
				}
			},
		},
		{
			name: "set data",
			u:    outdial.OutdialUpdate{Data: ptr(`{"a":[1,"x"],"b":null}`)},
			check: func(t *testing.T, _, got *outdial.Outdial) {
				if got.Data != `{"a":[1,"x"],"b":null}` {
					t.Errorf("data = %q, want the text set, byte for byte", got.Data)
				}
			},
		},
		{
			name:  "clear data",
			setup: &outdial.OutdialUpdate{Data: ptr("something")},
			u:     outdial.OutdialUpdate{Data: ptr("")},
			check: func(t *testing.T, _, got *outdial.Outdial) {
				if got.Data != "" {
					t.Errorf("data = %q, want \"\" (cleared)", got.Data)
				}
			},
		},
		{
			name: "retry policy patch keeps the other delays",
			u:    outdial.OutdialUpdate{RetryPolicy: &outdial.RetryPolicyPatch{BusySeconds: ptr(7), ExpiredSeconds: ptr(0)}},
			check: func(t *testing.T, _, got *outdial.Outdial) {
				want := outdial.RetryPolicy{BusySeconds: 7, NoAnswerSeconds: def.NoAnswerSeconds, FailedSeconds: def.FailedSeconds, ExpiredSeconds: 0}
				if got.RetryPolicy != want {
					t.Errorf("retry_policy = %+v, want %+v", got.RetryPolicy, want)
				}
			},
		},
		{
			name: "everything at once",
			u: outdial.OutdialUpdate{
				Name: ptr("all"), Detail: ptr("of it"), SetCampaign: true, CampaignID: &campaign,
				Data: ptr(`[1]`), RetryPolicy: &outdial.RetryPolicyPatch{NoAnswerSeconds: ptr(11)},
			},
			check: func(t *testing.T, _, got *outdial.Outdial) {
				if got.Name != "all" || got.Detail != "of it" || got.CampaignID == nil || *got.CampaignID != campaign ||
					got.Data != `[1]` || got.RetryPolicy.NoAnswerSeconds != 11 || got.RetryPolicy.BusySeconds != def.BusySeconds {
					b, _ := json.Marshal(got)
					t.Errorf("after the update: %s", b)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.outdial(cust, tt.name)
			if tt.setup != nil {
				if _, err := h.store.UpdateOutdial(h.ctx, cust, before.ID, tt.setup); err != nil {
					t.Fatalf("setup UpdateOutdial: %v", err)
				}
			}
			// The store stamps tm_update from its clock.
			stamp := time.Now().UTC().Add(time.Hour).Truncate(time.Microsecond)
			s := h.store.WithClock(func() time.Time { return stamp })
			got, err := s.UpdateOutdial(h.ctx, cust, before.ID, &tt.u)
			if err != nil {
				t.Fatalf("UpdateOutdial: %v", err)
			}
			tt.check(t, before, got)
			if !got.TMUpdate.Equal(stamp) {
				t.Errorf("tm_update = %v, want %v", got.TMUpdate, stamp)
			}
			if !got.TMCreate.Equal(before.TMCreate.Time) {
				t.Errorf("tm_create = %v, want it unchanged (%v)", got.TMCreate, before.TMCreate)
			}
			if got.ID != before.ID || got.CustomerID != cust {
				t.Errorf("id, customer_id = %s, %s; want %s, %s", got.ID, got.CustomerID, before.ID, cust)
			}
			// What UpdateOutdial returned is what is stored.
			read, err := h.store.GetOutdial(h.ctx, cust, before.ID)
			if err != nil {
				t.Fatalf("GetOutdial: %v", err)
			}
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(read)
			if string(a) != string(b) {
				t.Errorf("UpdateOutdial returned\n%s\nGetOutdial reads\n%s", a, b)
			}
		})
	}

	// The counts come with the updated outdial.
	t.Run("counts", func(t *testing.T) {
		o := h.outdial(cust, "with targets")
		if _, err := h.store.AddTargets(h.ctx, cust, o.ID, "r1", tels(0, 5)); err != nil {
			t.Fatalf("AddTargets: %v", err)
		}
		got, err := h.store.UpdateOutdial(h.ctx, cust, o.ID, &outdial.OutdialUpdate{Name: ptr("x")})
		if err != nil {
			t.Fatalf("UpdateOutdial: %v", err)
		}
		if got.TargetCount != 5 || got.Counts.Idle != 5 {
			t.Errorf("UpdateOutdial counts = %d %+v, want 5 idle", got.TargetCount, got.Counts)
		}
	})
}

// TestDeleteOutdialBefore: the hook of DeleteOutdial (the API queues the
// purge there) runs once, with the outdial, only for the customer's own
// outdial; its error stops the delete.
func TestDeleteOutdialBefore(t *testing.T) {
	h := newStoreHarness(t)
	cust, intruder := h.customer(), h.customer()
	o := h.outdial(cust, "guarded")
	var seen []string
	hook := func(err error) func(*outdial.Outdial) error {
		return func(got *outdial.Outdial) error {
			seen = append(seen, got.ID)
			return err
		}
	}

	_, err := h.store.DeleteOutdial(h.ctx, intruder, o.ID, hook(nil))
	wantCode(t, "another customer's delete", err, outdial.ECodeNotFound)
	if len(seen) != 0 {
		t.Errorf("another customer's delete ran the hook for %v", seen)
	}
	refused := outdial.Errorf(outdial.ECodeUnavailable, "queue down")
	if _, err := h.store.DeleteOutdial(h.ctx, cust, o.ID, hook(refused)); !errors.Is(err, refused) {
		t.Errorf("delete with a failing hook: err %v, want the hook's", err)
	}
	if _, err := h.store.GetOutdial(h.ctx, cust, o.ID); err != nil {
		t.Errorf("after a delete whose hook failed: %v, want the outdial still there", err)
	}
	deleted, err := h.store.DeleteOutdial(h.ctx, cust, o.ID, hook(nil))
	if err != nil || deleted.ID != o.ID {
		t.Fatalf("delete: %v, %v", deleted, err)
	}
	if fmt.Sprint(seen) != fmt.Sprint([]string{o.ID, o.ID}) {
		t.Errorf("hook ran for %v, want once per delete of %s", seen, o.ID)
	}
}

func TestDeleteOutdialThenNotFoundEverywhere(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	o := h.outdial(cust, "doomed")
	keep := h.outdial(cust, "kept")
	if _, err := h.store.AddTargets(h.ctx, cust, o.ID, "r1", tels(0, 3)); err != nil {
		t.Fatalf("AddTargets: %v", err)
	}
	if _, err := h.store.AddTargets(h.ctx, cust, keep.ID, "r2", tels(0, 2)); err != nil {
		t.Fatalf("AddTargets: %v", err)
	}

	target := h.targetIDOf(cust, o.ID, 0)
	deleted, err := h.store.DeleteOutdial(h.ctx, cust, o.ID, nil)
	if err != nil {
		t.Fatalf("DeleteOutdial: %v", err)
	}
	if deleted.ID != o.ID || deleted.Name != "doomed" || deleted.TargetCount != 3 {
		t.Errorf("DeleteOutdial returned id %s name %q target_count %d; want %s, doomed, 3", deleted.ID, deleted.Name, deleted.TargetCount, o.ID)
	}

	calls := map[string]func() error{
		"GetOutdial": func() error { _, err := h.store.GetOutdial(h.ctx, cust, o.ID); return err },
		"UpdateOutdial": func() error {
			_, err := h.store.UpdateOutdial(h.ctx, cust, o.ID, &outdial.OutdialUpdate{Name: ptr("back")})
			return err
		},
		"DeleteOutdial": func() error { _, err := h.store.DeleteOutdial(h.ctx, cust, o.ID, nil); return err },
		"ListTargets": func() error {
			_, _, err := h.store.ListTargets(h.ctx, cust, o.ID, outdial.TargetFilter{}, outdial.Page{Size: 10})
			return err
		},
		"ListTargets(idle)": func() error {
			_, _, err := h.store.ListTargets(h.ctx, cust, o.ID, outdial.TargetFilter{Status: outdial.StatusIdle}, outdial.Page{Size: 10})
			return err
		},
		"AddTargets": func() error { _, err := h.store.AddTargets(h.ctx, cust, o.ID, "r3", tels(10, 12)); return err },
		"GetTarget":  func() error { _, err := h.store.GetTarget(h.ctx, cust, o.ID, target); return err },
		"DeleteTarget": func() error {
			_, err := h.store.DeleteTarget(h.ctx, cust, o.ID, target)
			return err
		},
		"ClaimTargets": func() error {
			_, err := h.store.ClaimTargets(h.ctx, cust, o.ID, 10, time.Minute)
			return err
		},
	}
	for name, call := range calls {
		wantCode(t, name+" after DeleteOutdial", call(), outdial.ECodeNotFound)
	}

	// The other outdial of the customer is untouched.
	list, _, err := h.store.ListOutdials(h.ctx, cust, false, outdial.Page{Size: 10})
	if err != nil {
		t.Fatalf("ListOutdials: %v", err)
	}
	if got := ids(list); len(got) != 1 || got[0] != keep.ID {
		t.Errorf("ListOutdials after delete = %v, want only %s", got, keep.ID)
	}
	if c := h.counts(cust, keep.ID); c.Idle != 2 {
		t.Errorf("kept outdial idle = %d, want 2", c.Idle)
	}
	if got := h.listAll(cust, keep.ID, "", 100); len(got) != 2 {
		t.Errorf("kept outdial lists %d targets, want 2", len(got))
	}
}

func TestOtherCustomersOutdialIsNotFound(t *testing.T) {
	h := newStoreHarness(t)
	owner, intruder := h.customer(), h.customer()
	o := h.outdial(owner, "mine")
	res, err := h.store.AddTargets(h.ctx, owner, o.ID, "r1", tels(0, 3))
	if err != nil {
		t.Fatalf("AddTargets: %v", err)
	}
	target := res.Created[0].Target.ID
	h.outdial(intruder, "theirs") // the intruder has outdials of their own

	calls := map[string]func() error{
		"GetOutdial": func() error { _, err := h.store.GetOutdial(h.ctx, intruder, o.ID); return err },
		"UpdateOutdial": func() error {
			_, err := h.store.UpdateOutdial(h.ctx, intruder, o.ID, &outdial.OutdialUpdate{Name: ptr("stolen")})
			return err
		},
		"UpdateOutdial(data)": func() error {
			_, err := h.store.UpdateOutdial(h.ctx, intruder, o.ID, &outdial.OutdialUpdate{Data: ptr("hijacked")})
			return err
		},
		"DeleteOutdial": func() error { _, err := h.store.DeleteOutdial(h.ctx, intruder, o.ID, nil); return err },
		"AddTargets": func() error {
			_, err := h.store.AddTargets(h.ctx, intruder, o.ID, "r2", tels(100, 103))
			return err
		},
		"ListTargets": func() error {
			_, _, err := h.store.ListTargets(h.ctx, intruder, o.ID, outdial.TargetFilter{}, outdial.Page{Size: 10})
			return err
		},
		"ListTargets(idle)": func() error {
			_, _, err := h.store.ListTargets(h.ctx, intruder, o.ID, outdial.TargetFilter{Status: outdial.StatusIdle}, outdial.Page{Size: 10})
			return err
		},
		"GetTarget": func() error { _, err := h.store.GetTarget(h.ctx, intruder, o.ID, target); return err },
		"DeleteTarget": func() error {
			_, err := h.store.DeleteTarget(h.ctx, intruder, o.ID, target)
			return err
		},
		"ClaimTargets": func() error {
			_, err := h.store.ClaimTargets(h.ctx, intruder, o.ID, 10, time.Minute)
			return err
		},
	}
	for name, call := range calls {
		wantCode(t, name+" by another customer", call(), outdial.ECodeNotFound)
	}

	// Nothing of the owner's changed, and the intruder's list lacks it.
	got, err := h.store.GetOutdial(h.ctx, owner, o.ID)
	if err != nil {
		t.Fatalf("GetOutdial by the owner: %v", err)
	}
	if got.Name != "mine" || got.Data != "" || got.Counts != (outdial.Counts{Idle: 3}) {
		t.Errorf("owner's outdial after the intruder: name %q data %q counts %+v; want mine, \"\", 3 idle", got.Name, got.Data, got.Counts)
	}
	if all := h.listAll(owner, o.ID, "", 100); len(all) != 3 {
		t.Errorf("owner lists %d targets, want 3", len(all))
	}
	if tg, err := h.store.GetTarget(h.ctx, owner, o.ID, target); err != nil || tg.Status != outdial.StatusIdle {
		t.Errorf("owner's target after the intruder: %v, %v; want it idle", tg, err)
	}
	list, _, err := h.store.ListOutdials(h.ctx, intruder, false, outdial.Page{Size: 100})
	if err != nil {
		t.Fatalf("ListOutdials: %v", err)
	}
	for _, l := range list {
		if l.ID == o.ID {
			t.Errorf("the intruder's ListOutdials holds the owner's outdial")
		}
	}
}

// rawTargetItems counts the target items stored under an outdial's shard
// keys, whether or not the outdial exists.
func (h *storeHarness) rawTargetItems(outdialID string) int {
	h.t.Helper()
	total := 0
	for k := 0; k < dynamo.Shards; k++ {
		res, err := h.client.Query(h.ctx, &dynamodb.QueryInput{
			TableName:              &h.table,
			KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :sk)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("OUTDIAL#%s#%02d", outdialID, k)},
				":sk": &types.AttributeValueMemberS{Value: "TARGET#"},
			},
			Select: types.SelectCount,
		})
		if err != nil {
			h.t.Fatal(err)
		}
		total += int(res.Count)
	}
	return total
}
