package dynamo_test

import (
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/webhook"
)

var secretRE = regexp.MustCompile(`^whsec_[0-9a-f]{64}$`)

// webhookItem reads the raw webhook item of customerID, or nil.
func (h *storeHarness) webhookItem(customerID string) map[string]types.AttributeValue {
	h.t.Helper()
	res, err := h.client.GetItem(h.ctx, &dynamodb.GetItemInput{
		TableName: aws.String(h.table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "WEBHOOK#" + customerID},
			"SK": &types.AttributeValueMemberS{Value: "#CFG"},
		},
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Item
}

// storedSecrets returns the secrets list of the raw item: value and until
// (ms, 0 when absent).
func (h *storeHarness) storedSecrets(customerID string) (values []string, until []int64) {
	h.t.Helper()
	item := h.webhookItem(customerID)
	l, ok := item["secrets"].(*types.AttributeValueMemberL)
	if !ok {
		h.t.Fatalf("secrets is %T, want a list", item["secrets"])
	}
	for _, e := range l.Value {
		m := e.(*types.AttributeValueMemberM).Value
		values = append(values, m["v"].(*types.AttributeValueMemberS).Value)
		var u int64
		if n, ok := m["until"].(*types.AttributeValueMemberN); ok {
			var err error
			if u, err = strconv.ParseInt(n.Value, 10, 64); err != nil {
				h.t.Fatal(err)
			}
		} else if m["until"] != nil {
			h.t.Fatalf("until is %T, want a number", m["until"])
		}
		until = append(until, u)
	}
	return values, until
}

func secretValues(c *webhook.Config) []string {
	var out []string
	for _, s := range c.Secrets {
		out = append(out, s.Value)
	}
	return out
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if outdial.ErrorCode(err) != outdial.ECodeNotFound || outdial.ErrorMessage(err) != "webhook not found" {
		t.Errorf("%s: err = %v, want not_found (webhook not found)", what, err)
	}
}

func TestWebhookPutGetDelete(t *testing.T) {
	h := newStoreHarness(t)
	cust, other := h.customer(), h.customer()

	_, err := h.store.GetWebhook(h.ctx, cust)
	wantNotFound(t, "GetWebhook before any put", err)
	wantNotFound(t, "DeleteWebhook before any put", h.store.DeleteWebhook(h.ctx, cust))
	_, err = h.store.RotateWebhook(h.ctx, cust)
	wantNotFound(t, "RotateWebhook before any put", err)

	created := h.clock.Now()
	types1 := []events.Type{events.TargetUpdated, events.OutdialCompleted}
	c, err := h.store.PutWebhook(h.ctx, cust, "https://hooks.example.com/a", types1)
	if err != nil {
		t.Fatal(err)
	}
	if c.CustomerID != cust || c.URI != "https://hooks.example.com/a" || !slices.Equal(c.EventTypes, types1) {
		t.Errorf("PutWebhook = %+v", c)
	}
	if len(c.Secrets) != 1 || !secretRE.MatchString(c.Secrets[0].Value) || !c.Secrets[0].Until.IsZero() {
		t.Fatalf("secrets = %+v, want one current whsec_<64 hex>", c.Secrets)
	}
	secret := c.Secrets[0].Value
	if !c.TMCreate.Equal(created) || !c.TMUpdate.Equal(created) {
		t.Errorf("tm_create, tm_update = %v, %v, want %v", c.TMCreate, c.TMUpdate, created)
	}

	// The stored item.
	item := h.webhookItem(cust)
	if s, _ := item["type"].(*types.AttributeValueMemberS); s == nil || s.Value != "webhook" {
		t.Errorf("type = %v, want webhook", item["type"])
	}
	if l, _ := item["event_types"].(*types.AttributeValueMemberL); l == nil || len(l.Value) != 2 {
		t.Errorf("event_types = %#v, want a list of 2", item["event_types"])
	}
	if v, u := h.storedSecrets(cust); !slices.Equal(v, []string{secret}) || u[0] != 0 {
		t.Errorf("stored secrets = %v %v", v, u)
	}

	got, err := h.store.GetWebhook(h.ctx, cust)
	if err != nil {
		t.Fatal(err)
	}
	if got.URI != c.URI || !slices.Equal(got.EventTypes, types1) || !slices.Equal(secretValues(got), []string{secret}) || !got.TMCreate.Equal(created) {
		t.Errorf("GetWebhook = %+v, want %+v", got, c)
	}
	if !got.Wants(events.TargetUpdated) || got.Wants(events.TargetCreated) || !got.Wants(events.Ping) {
		t.Errorf("Wants: the subscription is not the one put")
	}

	// Other customers see nothing.
	_, err = h.store.GetWebhook(h.ctx, other)
	wantNotFound(t, "GetWebhook of another customer", err)
	wantNotFound(t, "DeleteWebhook of another customer", h.store.DeleteWebhook(h.ctx, other))

	// A second put changes the URI and types, keeps the secret and
	// tm_create; no types is all (event_types removed).
	h.clock.Advance(time.Minute)
	c2, err := h.store.PutWebhook(h.ctx, cust, "https://hooks.example.com/b", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c2.URI != "https://hooks.example.com/b" || c2.EventTypes != nil || !slices.Equal(secretValues(c2), []string{secret}) {
		t.Errorf("second PutWebhook = %+v", c2)
	}
	if !c2.TMCreate.Equal(created) || !c2.TMUpdate.Equal(created.Add(time.Minute)) {
		t.Errorf("tm_create, tm_update = %v, %v, want %v, %v", c2.TMCreate, c2.TMUpdate, created, created.Add(time.Minute))
	}
	if _, ok := h.webhookItem(cust)["event_types"]; ok {
		t.Errorf("event_types is stored for a webhook of every type")
	}
	if !c2.Wants(events.TargetCreated) || !c2.Wants(events.OutdialDeleted) {
		t.Errorf("a webhook without types does not want every type")
	}

	// Delete, then nothing is left; a new put makes a new secret.
	if err := h.store.DeleteWebhook(h.ctx, cust); err != nil {
		t.Fatal(err)
	}
	if item := h.webhookItem(cust); item != nil {
		t.Errorf("the item is still there: %v", item)
	}
	_, err = h.store.GetWebhook(h.ctx, cust)
	wantNotFound(t, "GetWebhook after delete", err)
	wantNotFound(t, "DeleteWebhook twice", h.store.DeleteWebhook(h.ctx, cust))
	c3, err := h.store.PutWebhook(h.ctx, cust, "https://hooks.example.com/c", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c3.Secrets) != 1 || c3.Secrets[0].Value == secret || !secretRE.MatchString(c3.Secrets[0].Value) {
		t.Errorf("put after delete: secrets = %+v, want one new secret", c3.Secrets)
	}
	if !c3.TMCreate.Equal(created.Add(time.Minute)) {
		t.Errorf("put after delete: tm_create = %v, want the new put's", c3.TMCreate)
	}
}

func TestWebhookRotate(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	c, err := h.store.PutWebhook(h.ctx, cust, "https://hooks.example.com/", nil)
	if err != nil {
		t.Fatal(err)
	}
	s0 := c.Secrets[0].Value
	t0 := h.clock.Now()

	// First rotation: a new current secret, the old one valid 24 h.
	r1, err := h.store.RotateWebhook(h.ctx, cust)
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Secrets) != 2 || r1.Secrets[1].Value != s0 || !r1.Secrets[0].Until.IsZero() ||
		!r1.Secrets[1].Until.Equal(t0.Add(webhook.RotationGrace)) || !secretRE.MatchString(r1.Secrets[0].Value) || r1.Secrets[0].Value == s0 {
		t.Fatalf("after a rotation: secrets = %+v", r1.Secrets)
	}
	s1 := r1.Secrets[0].Value
	if got := r1.ValidSecrets(t0); !slices.Equal(got, []string{s1, s0}) {
		t.Errorf("ValidSecrets = %v, want the new then the old", got)
	}
	if !r1.TMUpdate.Equal(t0) {
		t.Errorf("tm_update = %v, want %v", r1.TMUpdate, t0)
	}

	// A put keeps both.
	p, err := h.store.PutWebhook(h.ctx, cust, "https://hooks.example.com/2", []events.Type{events.OutdialCreated})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(secretValues(p), []string{s1, s0}) {
		t.Errorf("put after a rotation: secrets = %v, want %v", secretValues(p), []string{s1, s0})
	}

	// A second rotation an hour later keeps s0 (still valid).
	h.clock.Advance(time.Hour)
	r2, err := h.store.RotateWebhook(h.ctx, cust)
	if err != nil {
		t.Fatal(err)
	}
	s2 := r2.Secrets[0].Value
	if !slices.Equal(secretValues(r2), []string{s2, s1, s0}) {
		t.Fatalf("second rotation: secrets = %v, want %v", secretValues(r2), []string{s2, s1, s0})
	}
	if !r2.Secrets[1].Until.Equal(t0.Add(time.Hour + webhook.RotationGrace)) {
		t.Errorf("s1 until %v, want %v", r2.Secrets[1].Until, t0.Add(time.Hour+webhook.RotationGrace))
	}
	if r2.URI != "https://hooks.example.com/2" || !slices.Equal(r2.EventTypes, []events.Type{events.OutdialCreated}) {
		t.Errorf("a rotation changed the URI or types: %+v", r2)
	}

	// Once s0 has expired, reads leave it out; the stored list keeps it
	// until the next rotation, which drops it.
	h.clock.Advance(webhook.RotationGrace - time.Hour)
	g, err := h.store.GetWebhook(h.ctx, cust)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(secretValues(g), []string{s2, s1}) {
		t.Errorf("at s0's until: secrets = %v, want %v", secretValues(g), []string{s2, s1})
	}
	if v, _ := h.storedSecrets(cust); len(v) != 3 {
		t.Errorf("stored secrets before the next rotation = %d, want 3", len(v))
	}
	r3, err := h.store.RotateWebhook(h.ctx, cust)
	if err != nil {
		t.Fatal(err)
	}
	s3 := r3.Secrets[0].Value
	v, u := h.storedSecrets(cust)
	if !slices.Equal(v, []string{s3, s2, s1}) || !slices.Equal(secretValues(r3), v) {
		t.Errorf("third rotation: stored %v, answered %v, want %v", v, secretValues(r3), []string{s3, s2, s1})
	}
	now := h.clock.Now()
	if want := []int64{0, now.Add(webhook.RotationGrace).UnixMilli(), t0.Add(time.Hour + webhook.RotationGrace).UnixMilli()}; !slices.Equal(u, want) {
		t.Errorf("stored until = %v, want %v", u, want)
	}
	if got := r3.ValidSecrets(now.Add(webhook.RotationGrace)); !slices.Equal(got, []string{s3}) {
		t.Errorf("ValidSecrets a grace later = %v, want only the current one", got)
	}
}

// TestWebhookRotateRace rotates concurrently, and puts while rotating:
// every rotation's new secret is kept, the last one current.
func TestWebhookRotateRace(t *testing.T) {
	h := newStoreHarness(t)
	cust := h.customer()
	c, err := h.store.PutWebhook(h.ctx, cust, "https://hooks.example.com/", nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	var wg sync.WaitGroup
	news := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			r, err := h.store.RotateWebhook(h.ctx, cust)
			if err != nil {
				errs[i] = err
				return
			}
			news[i] = r.Secrets[0].Value
		})
		wg.Go(func() {
			if _, err := h.store.PutWebhook(h.ctx, cust, "https://hooks.example.com/", nil); err != nil {
				t.Errorf("PutWebhook: %v", err)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
	}
	g, err := h.store.GetWebhook(h.ctx, cust)
	if err != nil {
		t.Fatal(err)
	}
	got := secretValues(g)
	if len(got) != n+1 || got[len(got)-1] != c.Secrets[0].Value {
		t.Fatalf("secrets after %d rotations = %d of them, want %d ending with the first", n, len(got), n+1)
	}
	if !g.Secrets[0].Until.IsZero() {
		t.Errorf("the first secret is not current: %+v", g.Secrets[0])
	}
	for i, s := range g.Secrets[1:] {
		if s.Until.IsZero() {
			t.Errorf("secret %d has no until", i+1)
		}
	}
	for i, s := range news {
		if !slices.Contains(got, s) {
			t.Errorf("rotation %d's secret was lost", i)
		}
	}
}
