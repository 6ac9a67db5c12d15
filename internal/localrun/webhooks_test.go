package localrun_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/localruntest"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/webhook"
)

// TestWebhookEvents drives issue 15's webhooks end to end on the local
// stack: the table's stream on DynamoDB Local, publish-events, the FIFO
// delivery queue on fauxqs and deliver-webhooks, with receivers as
// httptest servers on 127.0.0.1 that check every delivery with
// webhook.VerifyRequest and the secret PUT /v1.0/webhook answered. One
// stack (WebhookBackoffSeconds=1, so retries come back within seconds)
// serves every part; each part is a customer of its own with a receiver
// of its own, and they run in parallel. Afterwards every receiver is
// checked to have received only its own customer's events.
func TestWebhookEvents(t *testing.T) {
	h := &hookEnv{owners: map[string]string{}}
	// The receivers answer until the stack is stopped (cleanups run last
	// registered first), so that an event sent to the wrong one late is
	// still seen.
	t.Cleanup(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, r := range h.receivers {
			r.srv.Close()
		}
	})
	st := startStackWith(t, localruntest.Options{Events: true, Parameters: map[string]string{"WebhookBackoffSeconds": "1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sqsClient, err := localstack.SQSClient(ctx, st.SQSEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	h.st, h.ctx, h.sqs, h.outcomeQueue = st, ctx, sqsClient, st.QueueURL("OutcomeQueue")
	if h.outcomeQueue == "" {
		t.Fatal("no OutcomeQueue")
	}

	t.Run("parts", func(t *testing.T) {
		t.Run("Lifecycle", func(t *testing.T) { t.Parallel(); h.lifecycle(t) })
		t.Run("Retries", func(t *testing.T) { t.Parallel(); h.retries(t) })
		t.Run("RotationAndPing", func(t *testing.T) { t.Parallel(); h.rotation(t) })
		t.Run("ImportBatching", func(t *testing.T) { t.Parallel(); h.importBatching(t) })
		t.Run("Bystander", func(t *testing.T) { t.Parallel(); h.bystander(t) })
		t.Run("RefusedURIs", func(t *testing.T) { t.Parallel(); h.refusedURIs(t) })
	})

	// Customer isolation: every event a receiver got is about an outdial
	// of the receiver's own customer (ping aside, which names none).
	t.Run("Isolation", func(t *testing.T) {
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.receivers) == 0 {
			t.Skip("no part ran")
		}
		for _, r := range h.receivers {
			n := 0
			for _, d := range r.all() {
				for _, e := range d.events {
					if e.Type == events.Ping {
						continue
					}
					n++
					od := hookDataOf(t, e).outdialOf(e.Type)
					owner, ok := h.owners[od]
					switch {
					case !ok:
						t.Errorf("receiver of customer %s got %s %s about outdial %s, which no part of the test created", r.customer, e.Type, e.ID, od)
					case owner != r.customer:
						t.Errorf("receiver of customer %s got %s %s about outdial %s of customer %s", r.customer, e.Type, e.ID, od, owner)
					}
				}
			}
			t.Logf("receiver of customer %s: %d deliveries, %d events (retries counted), all its own", r.customer, len(r.all()), n)
		}
	})
}

// hookEnv is what the parts share: the stack, the outcome queue, and who
// owns each outdial the parts created (for the isolation check).
type hookEnv struct {
	st           *stack
	ctx          context.Context
	sqs          *sqs.Client
	outcomeQueue string

	mu        sync.Mutex
	owners    map[string]string // outdial id -> customer id
	receivers []*hookReceiver
}

// hookCustomer is one customer of a part: a token and, once put, a webhook.
type hookCustomer struct {
	h      *hookEnv
	id     string
	tok    string
	rv     *hookReceiver
	secret string // the one PUT answered
}

// newCustomer makes a customer with a receiver that answers 500 to its
// first failFirst deliveries, and puts the receiver as its webhook.
func (h *hookEnv) newCustomer(t *testing.T, failFirst int) *hookCustomer {
	t.Helper()
	c := &hookCustomer{h: h, id: uuid.NewString()}
	c.tok = h.st.token(t, c.id, time.Hour)
	c.rv = newHookReceiver(c.id, failFirst)
	h.mu.Lock()
	h.receivers = append(h.receivers, c.rv)
	h.mu.Unlock()
	var put webhookJSON
	h.st.ok(t, request{method: "PUT", path: "/v1.0/webhook", token: c.tok, body: fmt.Sprintf(`{"uri":%q}`, c.rv.uri())}, &put)
	if put.URI != c.rv.uri() || put.Secret == "" || put.EventTypes != nil {
		t.Fatalf("PUT /v1.0/webhook = %+v; want the URI, event_types null (all) and a secret", put)
	}
	c.secret = put.Secret
	c.rv.setSecrets(put.Secret)
	return c
}

// webhookJSON is the answer of the webhook routes.
type webhookJSON struct {
	URI        string   `json:"uri"`
	EventTypes []string `json:"event_types"`
	Secret     string   `json:"secret"`
}

// createOutdial creates an outdial called name and records its owner.
func (c *hookCustomer) createOutdial(t *testing.T, name string) string {
	t.Helper()
	var od outdialJSON
	c.h.st.ok(t, request{method: "POST", path: "/v1.0/outdials", token: c.tok, body: fmt.Sprintf(`{"name":%q}`, name)}, &od)
	if od.ID == "" || od.CustomerID != c.id {
		t.Fatalf("created outdial = %+v", od)
	}
	c.h.mu.Lock()
	c.h.owners[od.ID] = c.id
	c.h.mu.Unlock()
	return od.ID
}

// importTargets imports n tel targets (+1555<prefix><index>) with
// try_count_max 1 and returns their ids in import order.
func (c *hookCustomer) importTargets(t *testing.T, outdialID string, prefix, n int) []string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"targets":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"destination":{"type":"tel","target":"+1555%03d%04d"},"try_count_max":1}`, prefix, i)
	}
	b.WriteString(`]}`)
	var imp importJSON
	c.h.st.ok(t, request{method: "POST", path: "/v1.0/outdials/" + outdialID + "/targets", token: c.tok, body: b.String()}, &imp)
	if imp.Created != n || len(imp.CreatedTargets) != n {
		t.Fatalf("import of %d targets = created %d, rejected %d %+v", n, imp.Created, imp.Rejected, imp.RejectedTargets)
	}
	ids := make([]string, n)
	for _, ct := range imp.CreatedTargets {
		ids[ct.Index] = ct.TargetID
	}
	return ids
}

// sendOutcome puts one outcome on the outcome queue, as a dialer does.
func (h *hookEnv) sendOutcome(t *testing.T, outdialID string, c claimJSON, result string) {
	t.Helper()
	msg, _ := json.Marshal(map[string]string{"attempt_id": c.AttemptID, "outdial_id": outdialID, "target_id": c.Target.ID, "result": result})
	if _, err := h.sqs.SendMessage(h.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(h.outcomeQueue), MessageBody: aws.String(string(msg))}); err != nil {
		t.Fatalf("send outcome: %v", err)
	}
}

// lifecycle: every event type of an outdial's life, in order per target,
// signed; a rename is outdial_updated and count changes are not; the last
// outcome completes the outdial once; deleting it is one outdial_deleted
// and its purge sends no target events.
func (h *hookEnv) lifecycle(t *testing.T) {
	c := h.newCustomer(t, 0)
	st := h.st
	od := c.createOutdial(t, "Lifecycle")
	base := "/v1.0/outdials/" + od
	st.ok(t, request{method: "PUT", path: base, token: c.tok, body: `{"name":"Renamed"}`}, nil)
	ids := c.importTargets(t, od, 100, 5)
	kept, gone := ids[:4], ids[4]
	st.ok(t, request{method: "DELETE", path: base + "/targets/" + gone, token: c.tok}, nil)

	var claimed list[claimJSON]
	st.ok(t, request{method: "POST", path: base + "/targets/claim", token: c.tok, body: `{"limit":100,"lease_seconds":60}`}, &claimed)
	if len(claimed.Result) != 4 {
		t.Fatalf("claimed %d targets, want 4", len(claimed.Result))
	}
	final := map[string]string{} // target id -> status its outcome leads to
	for i, cl := range claimed.Result {
		result, status := "answered", "finished"
		if i%2 == 1 {
			result, status = "invalid", "failed"
		}
		h.sendOutcome(t, od, cl, result)
		final[cl.Target.ID] = status
	}
	h.sendOutcome(t, od, claimed.Result[0], "answered") // a duplicate delivery of an outcome: applied once, no event

	evs := c.rv.waitEvents(t, "outdial_completed of the lifecycle outdial", 60*time.Second, func(evs []events.Event) bool {
		return hasEvent(t, evs, events.OutdialCompleted, od)
	})

	// The sequence of each resource.
	var outdialSeq []string
	targetSeq := map[string][]string{}
	completedAt, lastTargetAt := -1, -1
	for i, e := range evs {
		d := hookDataOf(t, e)
		switch e.Type {
		case events.OutdialCreated, events.OutdialUpdated, events.OutdialDeleted, events.OutdialCompleted:
			if d.ID != od {
				continue
			}
			s := string(e.Type)
			if e.Type == events.OutdialUpdated {
				s += "(" + d.Name + ")"
			}
			outdialSeq = append(outdialSeq, s)
			if e.Type == events.OutdialCompleted {
				completedAt = i
				if d.Counts["finished"] != 2 || d.Counts["failed"] != 2 || d.Counts["idle"] != 0 || d.Counts["dialing"] != 0 || d.TargetCount != 4 {
					t.Errorf("outdial_completed carries target_count %d, counts %v; want 4: 2 finished, 2 failed", d.TargetCount, d.Counts)
				}
			}
		case events.TargetCreated, events.TargetUpdated, events.TargetDeleted:
			if d.OutdialID != od {
				t.Errorf("%s %s names outdial %s, want %s", e.Type, e.ID, d.OutdialID, od)
				continue
			}
			s := string(e.Type)
			if e.Type == events.TargetUpdated {
				s += "(" + d.Status + ")"
			}
			targetSeq[d.ID] = append(targetSeq[d.ID], s)
			lastTargetAt = i
		default:
			t.Errorf("unexpected event %s %s", e.Type, e.ID)
		}
	}
	if want := []string{"outdial_created", "outdial_updated(Renamed)", "outdial_completed"}; !slices.Equal(outdialSeq, want) {
		t.Errorf("the outdial's events (in arrival order) = %q, want %q: one outdial_updated for the rename, none for the count changes of the import, claim and outcomes", outdialSeq, want)
	}
	for _, id := range kept {
		want := []string{"outdial_target_created", "outdial_target_updated(dialing)", "outdial_target_updated(" + final[id] + ")"}
		if !slices.Equal(targetSeq[id], want) {
			t.Errorf("target %s: events in arrival order %q, want %q", id, targetSeq[id], want)
		}
	}
	if want := []string{"outdial_target_created", "outdial_target_deleted"}; !slices.Equal(targetSeq[gone], want) {
		t.Errorf("deleted target %s: events %q, want %q", gone, targetSeq[gone], want)
	}
	if completedAt < lastTargetAt {
		t.Errorf("outdial_completed arrived at position %d, before the target event at %d", completedAt, lastTargetAt)
	}

	// Delete the outdial: one outdial_deleted, and nothing from the purge
	// of its 4 targets. A sentinel outdial created once the purge is done
	// arrives after anything the purge could have made (stream order, FIFO
	// order per customer).
	st.ok(t, request{method: "DELETE", path: base, token: c.tok}, nil)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if line, ok := purged(st.Logs(), od); ok {
			// The purge really removed the 4 targets: with none removed
			// there would be no events to miss either. Its message came
			// with the marked attribute through the SQS stand-in.
			if !strings.Contains(line, `"deleted":4`) || !strings.Contains(line, `"marked":true`) {
				t.Fatalf("the purge of outdial %s: %s; want 4 targets deleted, marked", od, line)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the purge of outdial %s did not finish in 60 s", od)
		}
		time.Sleep(100 * time.Millisecond)
	}
	sentinel := c.createOutdial(t, "Sentinel")
	evs = c.rv.waitEvents(t, "outdial_created of the sentinel", 60*time.Second, func(evs []events.Event) bool {
		return hasEvent(t, evs, events.OutdialCreated, sentinel)
	})
	deleted, afterDelete := 0, 0
	seenDelete := false
	for _, e := range evs {
		d := hookDataOf(t, e)
		switch {
		case e.Type == events.OutdialDeleted && d.ID == od:
			deleted++
			seenDelete = true
			if d.Name != "Renamed" {
				t.Errorf("outdial_deleted carries name %q, want the outdial as it was (Renamed)", d.Name)
			}
		case e.Type == events.OutdialCompleted && d.ID == od && seenDelete:
			t.Errorf("outdial_completed %s after the delete", e.ID)
		case seenDelete && d.OutdialID == od:
			afterDelete++
			t.Errorf("%s %s (target %s) after the outdial was deleted: the purge must send no per-target events", e.Type, e.ID, d.ID)
		}
	}
	if deleted != 1 {
		t.Errorf("%d outdial_deleted events, want 1", deleted)
	}
	c.rv.checkSigned(t)
	t.Logf("lifecycle: %d events in %d deliveries, all signed with the secret PUT answered", len(evs), len(c.rv.all()))
}

// purged reports whether the stack logged the end of the purge of
// outdial id.
// purged returns the first log line saying the purge of outdial id is
// done.
func purged(logs, id string) (string, bool) {
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "purged targets of deleted outdial") && strings.Contains(line, id) {
			return line, true
		}
	}
	return "", false
}

// retries: a receiver answering 500 to its first two deliveries gets the
// same events again (same ids: it dedupes), after the backoff, and then
// the rest in order.
func (h *hookEnv) retries(t *testing.T) {
	c := h.newCustomer(t, 2)
	od := c.createOutdial(t, "Retried")
	ids := c.importTargets(t, od, 200, 3)
	evs := c.rv.waitEvents(t, "outdial_created and 3 outdial_target_created after two 500s", 60*time.Second, func(evs []events.Event) bool {
		return len(evs) >= 4
	})
	all := c.rv.all()
	if len(all) < 3 {
		t.Fatalf("%d deliveries, want at least 3 (two answered 500, then the retry)", len(all))
	}
	if all[0].status != 500 || all[1].status != 500 || all[2].status != 200 {
		t.Errorf("answers %d, %d, %d; want 500, 500, 200", all[0].status, all[1].status, all[2].status)
	}
	// A retry carries the failed delivery's events first, in the same
	// order, and may carry the customer's later ones after them (the
	// deliverer cuts what is queued afresh).
	first := eventIDs(all[0].events)
	for i := 1; i <= 2; i++ {
		if got := eventIDs(all[i].events); len(got) < len(first) || !slices.Equal(got[:len(first)], first) {
			t.Errorf("delivery %d carries events %q, want the ids of the failed delivery %q first: a retry carries the same events", i, got, first)
		}
	}
	// The backoff: 1 s, then 2 s (each within +-20%, in whole seconds).
	if gap := all[1].at.Sub(all[0].at); gap < 700*time.Millisecond {
		t.Errorf("first retry %v after the first try, want about 1 s (WebhookBackoffSeconds=1)", gap)
	}
	if gap := all[2].at.Sub(all[1].at); gap < 1500*time.Millisecond {
		t.Errorf("second retry %v after the first retry, want about 2 s (the backoff doubles)", gap)
	}
	t.Logf("tries at +0, +%v, +%v", all[1].at.Sub(all[0].at).Round(10*time.Millisecond), all[2].at.Sub(all[0].at).Round(10*time.Millisecond))

	// In order: the outdial, then its targets; each event once after
	// deduping by id, although the first ones were received three times.
	if len(evs) != 4 {
		t.Errorf("%d distinct events, want 4: %q", len(evs), eventIDs(evs))
	}
	if evs[0].Type != events.OutdialCreated {
		t.Errorf("first event %s, want outdial_created", evs[0].Type)
	}
	got := map[string]bool{}
	for _, e := range evs[1:] {
		if e.Type != events.TargetCreated {
			t.Errorf("event %s %s, want outdial_target_created", e.Type, e.ID)
		}
		got[hookDataOf(t, e).ID] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("no outdial_target_created for target %s", id)
		}
	}
	received := 0
	for _, d := range all {
		received += len(d.events)
	}
	if received <= len(evs) {
		t.Errorf("received %d events in all, %d distinct; the retries should have repeated some", received, len(evs))
	}
	c.rv.checkSigned(t)
}

// rotation: POST /v1.0/webhook/test sends one ping; after POST
// /v1.0/webhook/rotate a delivery carries two v1= entries, each secret
// verifies it, and a tampered body, timestamp or a wrong secret does not.
func (h *hookEnv) rotation(t *testing.T) {
	c := h.newCustomer(t, 0)
	st := h.st
	var got webhookJSON
	st.ok(t, request{method: "GET", path: "/v1.0/webhook", token: c.tok}, &got)
	if got.URI != c.rv.uri() || got.Secret != "" {
		t.Errorf("GET /v1.0/webhook = %+v; want the URI and no secret", got)
	}

	ping := func() (hookDelivery, events.Event) {
		t.Helper()
		r := st.do(t, request{method: "POST", path: "/v1.0/webhook/test", token: c.tok})
		var tr struct {
			Queued  bool   `json:"queued"`
			EventID string `json:"event_id"`
		}
		if r.status != http.StatusAccepted || json.Unmarshal(r.body, &tr) != nil || !tr.Queued || tr.EventID == "" {
			t.Fatalf("POST /v1.0/webhook/test = %s; want 202 {queued, event_id}", r)
		}
		c.rv.waitEvents(t, "ping "+tr.EventID, 45*time.Second, func(evs []events.Event) bool {
			return slices.ContainsFunc(evs, func(e events.Event) bool { return e.ID == tr.EventID })
		})
		for _, d := range c.rv.all() {
			for _, e := range d.events {
				if e.ID == tr.EventID {
					if e.Type != events.Ping || len(d.events) != 1 || hookDataOf(t, e).Message != "ping" {
						t.Errorf("test delivery carries %d events, %s %s; want one ping", len(d.events), e.Type, e.Data)
					}
					return d, e
				}
			}
		}
		t.Fatalf("ping %s not found", tr.EventID)
		return hookDelivery{}, events.Event{}
	}

	d1, _ := ping()
	if n := signatureEntries(d1); n != 1 {
		t.Errorf("before rotation the signature has %d v1= entries, want 1: %s", n, d1.header.Get(webhook.HeaderSignature))
	}
	checkDelivery(t, d1, c.secret)

	var rot webhookJSON
	st.ok(t, request{method: "POST", path: "/v1.0/webhook/rotate", token: c.tok}, &rot)
	if rot.Secret == "" || rot.Secret == c.secret || rot.URI != c.rv.uri() {
		t.Fatalf("rotate = %+v; want the URI and a new secret", rot)
	}
	c.rv.setSecrets(c.secret, rot.Secret)
	d2, _ := ping()
	if n := signatureEntries(d2); n != 2 {
		t.Errorf("after rotation the signature has %d v1= entries, want 2 (new and old secret): %s", n, d2.header.Get(webhook.HeaderSignature))
	}
	checkDelivery(t, d2, rot.Secret)
	checkDelivery(t, d2, c.secret)

	// An event through the stream is signed with both secrets too.
	od := c.createOutdial(t, "After rotation")
	c.rv.waitEvents(t, "outdial_created after rotation", 45*time.Second, func(evs []events.Event) bool {
		return hasEvent(t, evs, events.OutdialCreated, od)
	})
	c.rv.checkSigned(t)
	for _, d := range c.rv.all() {
		if d.at.After(d2.at.Add(-time.Millisecond)) && signatureEntries(d) != 2 {
			t.Errorf("a delivery after the rotation has %d v1= entries, want 2", signatureEntries(d))
		}
	}
}

// signatureEntries counts the v1= entries of a delivery's signature.
func signatureEntries(d hookDelivery) int {
	n := 0
	for _, e := range strings.Split(d.header.Get(webhook.HeaderSignature), ",") {
		if strings.HasPrefix(strings.TrimSpace(e), "v1=") {
			n++
		}
	}
	return n
}

// importBatching: an import of 1 000 targets, written in four requests
// a second apart so that its records span several stream batches,
// reaches the webhook in exactly 10 deliveries of 100 events (each within
// the limits) and makes no outdial_updated. publish-events cuts each
// stream batch on its own, so each batch ends in a partial delivery;
// deliver-webhooks sends a young partial delivery of bulk events with
// the next batch's events (internal/deliver, Hold), so the import is
// n/100 deliveries however many batches it spans: the 10^4 in
// 10^2.
func (h *hookEnv) importBatching(t *testing.T) {
	const n = 1000
	c := h.newCustomer(t, 0)
	od := c.createOutdial(t, "Import")
	c.rv.waitEvents(t, "outdial_created", 45*time.Second, func(evs []events.Event) bool { return hasEvent(t, evs, events.OutdialCreated, od) })
	before := len(c.rv.all())
	start := time.Now()
	var ids []string
	for k := range 4 {
		if k > 0 {
			time.Sleep(time.Second)
		}
		ids = append(ids, c.importTargets(t, od, 300+k, n/4)...)
	}
	written := time.Since(start) // the import's answers: every target is in the table
	c.rv.waitEvents(t, "1000 outdial_target_created", 60*time.Second, func(evs []events.Event) bool {
		k := 0
		for _, e := range evs {
			if e.Type == events.TargetCreated {
				k++
			}
		}
		return k >= n
	})
	took := time.Since(start)
	// A rename afterwards: its outdial_updated is the only one.
	h.st.ok(t, request{method: "PUT", path: "/v1.0/outdials/" + od, token: c.tok, body: `{"name":"Imported"}`}, nil)
	evs := c.rv.waitEvents(t, "outdial_updated of the rename", 45*time.Second, func(evs []events.Event) bool {
		return hasEvent(t, evs, events.OutdialUpdated, od)
	})
	for _, e := range evs {
		if e.Type == events.OutdialUpdated && hookDataOf(t, e).Name != "Imported" {
			t.Errorf("outdial_updated %s with name %q: the import (a count change) made one", e.ID, hookDataOf(t, e).Name)
		}
	}

	deliveries, created := 0, map[string]bool{}
	sizes := []int{}
	for _, d := range c.rv.all()[before:] {
		k := 0
		for _, e := range d.events {
			if e.Type == events.TargetCreated {
				k++
				created[hookDataOf(t, e).ID] = true
			}
		}
		if k > 0 {
			deliveries++
			sizes = append(sizes, k)
			if k < len(d.events) {
				var other []string
				for _, e := range d.events {
					if e.Type != events.TargetCreated {
						other = append(other, string(e.Type))
					}
				}
				t.Logf("a delivery of the import also carries %q", other)
			}
		}
		if len(d.events) > events.MaxEventsPerDelivery || len(d.body) > events.MaxDeliveryBytes {
			t.Errorf("a delivery of %d events, %d bytes: over the limits (%d events, %d bytes)", len(d.events), len(d.body), events.MaxEventsPerDelivery, events.MaxDeliveryBytes)
		}
	}
	for _, id := range ids {
		if !created[id] {
			t.Errorf("no outdial_target_created for target %s", id)
			break
		}
	}
	t.Logf("import of %d targets written in %v: %d deliveries of %v events, the last %v after the import began",
		n, written.Round(10*time.Millisecond), deliveries, sizes, took.Round(10*time.Millisecond))
	if max := n / events.MaxEventsPerDelivery; deliveries > max {
		t.Errorf("the import of %d targets, written in %v, came in %d deliveries (events per delivery %v), want at most %d",
			n, written.Round(10*time.Millisecond), deliveries, sizes, max)
	}
	c.rv.checkSigned(t)
}

// bystander: a customer whose webhook gets its own outdial's event while
// the other parts run, and nothing else: its receiver answers until the
// end, and the Isolation check looks at everything it got.
func (h *hookEnv) bystander(t *testing.T) {
	c := h.newCustomer(t, 0)
	od := c.createOutdial(t, "Bystander")
	c.rv.waitEvents(t, "outdial_created", 45*time.Second, func(evs []events.Event) bool { return hasEvent(t, evs, events.OutdialCreated, od) })
	c.rv.checkSigned(t)
}

// refusedURIs: PUT /v1.0/webhook refuses private, link-local, metadata
// and non-https URIs (the local stack allows only http(s)://127.0.0.1 and
// [::1] besides public https), and stores nothing.
func (h *hookEnv) refusedURIs(t *testing.T) {
	customer := uuid.NewString()
	tok := h.st.token(t, customer, time.Hour)
	for _, uri := range []string{
		"http://10.0.0.1/x",
		"https://10.0.0.1/x",
		"https://192.168.1.10/hook",
		"https://172.16.0.1/hook",
		"https://100.64.0.1/hook", // CGNAT
		"https://169.254.169.254/",
		"http://169.254.169.254/latest/meta-data/",
		"https://[fd00:ec2::254]/", // the IPv6 metadata address
		"https://[fe80::1]/hook",
		"https://[::ffff:10.0.0.1]/hook",
		"https://0.0.0.0/hook",
		"https://localhost/hook",
		"http://example.com/hook", // not https, not loopback
		"ftp://example.com/hook",
		"example.com/hook",
	} {
		r := h.st.do(t, request{method: "PUT", path: "/v1.0/webhook", token: tok, body: fmt.Sprintf(`{"uri":%q}`, uri)})
		if r.status != http.StatusBadRequest {
			t.Errorf("PUT /v1.0/webhook %s = %s, want 400", uri, r)
			continue
		}
		if e := r.errorBody(t); e.Error.Code != "invalid_field" || e.Error.Field != "uri" {
			t.Errorf("PUT /v1.0/webhook %s: error %+v, want invalid_field on uri", uri, e.Error)
		}
		if strings.Contains(string(r.body), uri) {
			t.Errorf("the error for %s quotes the URI", uri)
		}
	}
	if r := h.st.do(t, request{method: "GET", path: "/v1.0/webhook", token: tok}); r.status != http.StatusNotFound {
		t.Errorf("GET /v1.0/webhook after refused PUTs = %s, want 404 (nothing stored)", r)
	}
}

// hookReceiver is a customer's webhook: an httptest server on 127.0.0.1
// that keeps every delivery and checks its signature on arrival with
// webhook.VerifyRequest and the secrets it was given. It answers 500 to
// its first failFirst deliveries, 401 when no secret verifies, and 200.
type hookReceiver struct {
	customer  string
	srv       *httptest.Server
	failFirst int

	mu      sync.Mutex
	secrets []string
	got     []hookDelivery
}

// hookDelivery is one POST the receiver got.
type hookDelivery struct {
	at     time.Time
	path   string
	header http.Header
	body   []byte
	status int // the receiver's answer
	events []events.Event
	bad    error            // the body is not {"events":[...]}
	verify map[string]error // VerifyRequest's answer at arrival, by secret
}

// newHookReceiver starts a receiver; TestWebhookEvents closes it.
func newHookReceiver(customer string, failFirst int) *hookReceiver {
	r := &hookReceiver{customer: customer, failFirst: failFirst}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r
}

func (r *hookReceiver) uri() string { return r.srv.URL + "/hook" }

func (r *hookReceiver) setSecrets(s ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = s
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	d := hookDelivery{at: time.Now(), path: req.Method + " " + req.URL.Path, header: req.Header.Clone(), body: body, verify: map[string]error{}}
	var b events.Body
	if err == nil {
		err = json.Unmarshal(body, &b)
	}
	d.bad, d.events = err, b.Events
	r.mu.Lock()
	ok := false
	for _, s := range r.secrets {
		d.verify[s] = webhook.VerifyRequest(s, req.Header, body, d.at, 0)
		ok = ok || d.verify[s] == nil
	}
	switch {
	case len(r.got) < r.failFirst:
		d.status = http.StatusInternalServerError
	case !ok:
		d.status = http.StatusUnauthorized
	default:
		d.status = http.StatusOK
	}
	r.got = append(r.got, d)
	r.mu.Unlock()
	w.WriteHeader(d.status)
}

// all returns every delivery so far, in arrival order.
func (r *hookReceiver) all() []hookDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// accepted returns the events of the deliveries answered 200, in arrival
// order, each once (deduped by id, as a receiver does).
func (r *hookReceiver) accepted() []events.Event {
	var out []events.Event
	seen := map[string]bool{}
	for _, d := range r.all() {
		if d.status != http.StatusOK {
			continue
		}
		for _, e := range d.events {
			if !seen[e.ID] {
				seen[e.ID] = true
				out = append(out, e)
			}
		}
	}
	return out
}

// waitEvents polls the accepted events until done says so, or fails the
// test after timeout.
func (r *hookReceiver) waitEvents(t *testing.T, what string, timeout time.Duration, done func([]events.Event) bool) []events.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		evs := r.accepted()
		if done(evs) {
			return evs
		}
		if time.Now().After(deadline) {
			var types []string
			for _, e := range evs {
				types = append(types, string(e.Type))
			}
			t.Fatalf("waited %v for %s; the receiver got %d deliveries, accepted events %q", timeout, what, len(r.all()), types)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkSigned checks every delivery the receiver got: a POST to its path
// with the service's headers, a body of events, and a signature that
// verified on arrival with every secret the receiver held then (the one
// PUT answered, and after a rotation the new one too); on a few, that
// tampering is caught (checkDelivery).
func (r *hookReceiver) checkSigned(t *testing.T) {
	t.Helper()
	all := r.all()
	if len(all) == 0 {
		t.Errorf("receiver of customer %s got no delivery", r.customer)
	}
	for i, d := range all {
		if d.path != "POST /hook" || d.header.Get("Content-Type") != "application/json" || d.header.Get("User-Agent") != webhook.UserAgent {
			t.Errorf("delivery %d: %s, Content-Type %q, User-Agent %q", i, d.path, d.header.Get("Content-Type"), d.header.Get("User-Agent"))
		}
		if d.bad != nil || len(d.events) == 0 {
			t.Errorf("delivery %d: body %.200s is not {\"events\":[...]} with events (%v)", i, d.body, d.bad)
		}
		if len(d.verify) == 0 {
			t.Errorf("delivery %d arrived before the receiver knew its secret", i)
		}
		for s, err := range d.verify {
			if err != nil {
				t.Errorf("delivery %d did not verify on arrival with a secret of the webhook: %v (signature %s)", i, err, d.header.Get(webhook.HeaderSignature))
			} else if i < 3 || i == len(all)-1 { // the tampering checks on a few
				checkDelivery(t, d, s)
			}
		}
	}
}

// checkDelivery checks that secret verifies d, and that a tampered body
// or timestamp, a wrong secret and a stale timestamp do not.
func checkDelivery(t *testing.T, d hookDelivery, secret string) {
	t.Helper()
	if err := webhook.VerifyRequest(secret, d.header, d.body, d.at, 0); err != nil {
		t.Errorf("VerifyRequest with the secret: %v (signature %s)", err, d.header.Get(webhook.HeaderSignature))
	}
	tampered := slices.Clone(d.body)
	if i := strings.Index(string(tampered), `"type":"`); i >= 0 {
		tampered[i+len(`"type":"`)] ^= 0x20 // one letter's case
	} else {
		tampered = append(tampered, ' ')
	}
	if err := webhook.VerifyRequest(secret, d.header, tampered, d.at, 0); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("VerifyRequest of a tampered body = %v, want ErrBadSignature", err)
	}
	if err := webhook.VerifyRequest(secret+"x", d.header, d.body, d.at, 0); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("VerifyRequest with a wrong secret = %v, want ErrBadSignature", err)
	}
	if err := webhook.VerifyRequest("whsec_"+uuid.NewString(), d.header, d.body, d.at, 0); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("VerifyRequest with another secret = %v, want ErrBadSignature", err)
	}
	ts, _ := strconv.ParseInt(d.header.Get(webhook.HeaderTimestamp), 10, 64)
	h := d.header.Clone()
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts+1, 10))
	if err := webhook.VerifyRequest(secret, h, d.body, d.at, 0); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("VerifyRequest with a changed timestamp = %v, want ErrBadSignature", err)
	}
	if err := webhook.VerifyRequest(secret, d.header, d.body, d.at.Add(time.Hour), 0); !errors.Is(err, webhook.ErrTimestamp) {
		t.Errorf("VerifyRequest an hour later (a replay) = %v, want ErrTimestamp", err)
	}
}

// hookData is the part of an event's data the tests read: an outdial, a
// target or a ping.
type hookData struct {
	ID          string           `json:"id"`
	CustomerID  string           `json:"customer_id"`
	OutdialID   string           `json:"outdial_id"`
	Name        string           `json:"name"`
	Status      string           `json:"status"`
	TargetCount int64            `json:"target_count"`
	Counts      map[string]int64 `json:"target_counts"`
	Message     string           `json:"message"`
}

func hookDataOf(t *testing.T, e events.Event) hookData {
	t.Helper()
	var d hookData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatalf("event %s %s: data %s: %v", e.Type, e.ID, e.Data, err)
	}
	if e.ID == "" || e.TM.IsZero() {
		t.Errorf("event %s without id or tm: %+v", e.Type, e)
	}
	return d
}

// outdialOf is the outdial an event of type typ is about.
func (d hookData) outdialOf(typ events.Type) string {
	switch typ {
	case events.TargetCreated, events.TargetUpdated, events.TargetDeleted:
		return d.OutdialID
	}
	return d.ID
}

// hasEvent reports whether evs hold an event of type typ about outdial od.
func hasEvent(t *testing.T, evs []events.Event, typ events.Type, od string) bool {
	for _, e := range evs {
		if e.Type == typ && hookDataOf(t, e).outdialOf(typ) == od {
			return true
		}
	}
	return false
}

func eventIDs(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}
