package events_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/webhook"
)

var _ webhook.Enqueuer = (*events.Queue)(nil)

// sender captures messages.
type sender struct {
	got []events.Message
	err error
}

func (s *sender) Send(_ context.Context, m events.Message) error {
	s.got = append(s.got, m)
	return s.err
}

func delivery(customer string, ids ...string) events.Delivery {
	d := events.Delivery{CustomerID: customer, FirstTry: 1700000000000}
	for _, id := range ids {
		d.Events = append(d.Events, events.Event{ID: id, Type: events.TargetUpdated, Data: json.RawMessage(`{"id":"` + id + `"}`)})
	}
	return d
}

func TestQueueEnqueue(t *testing.T) {
	s := &sender{}
	q := &events.Queue{Client: s, URL: "http://sqs.local/000000000000/deliveries.fifo"}
	d := delivery("cust-a", "e1", "e2")
	if err := q.Enqueue(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if len(s.got) != 1 {
		t.Fatalf("%d sends", len(s.got))
	}
	m := s.got[0]
	if m.QueueURL != q.URL || m.GroupID != "cust-a" {
		t.Errorf("queue %q, group %q", m.QueueURL, m.GroupID)
	}
	sum := sha256.Sum256([]byte("e1\ne2\n"))
	if m.DedupeID != hex.EncodeToString(sum[:]) || len(m.DedupeID) > 128 {
		t.Errorf("dedupe id %q", m.DedupeID)
	}
	var back events.Delivery
	if err := json.Unmarshal([]byte(m.Body), &back); err != nil {
		t.Fatal(err)
	}
	if back.CustomerID != "cust-a" || back.FirstTry != d.FirstTry || len(back.Events) != 2 || back.Events[1].ID != "e2" || string(back.Events[1].Data) != `{"id":"e2"}` {
		t.Errorf("body = %+v", back)
	}

	s.err = errors.New("throttled")
	if err := q.Enqueue(context.Background(), d); err == nil || !strings.Contains(err.Error(), "throttled") {
		t.Errorf("Enqueue with a failing SQS = %v", err)
	}
	for _, bad := range []events.Delivery{delivery("", "e1"), delivery("cust-a")} {
		if err := q.Enqueue(context.Background(), bad); err == nil {
			t.Errorf("Enqueue(%+v): no error", bad)
		}
	}
}

func TestDedupeID(t *testing.T) {
	id := func(ids ...string) string { return events.DedupeID(delivery("c", ids...).Events) }
	if id("a", "b") != id("a", "b") {
		t.Error("not deterministic")
	}
	for _, pair := range [][2]string{
		{id("a", "b"), id("b", "a")},
		{id("ab", "c"), id("a", "bc")},
		{id("a"), id("a", "")},
	} {
		if pair[0] == pair[1] {
			t.Errorf("same dedupe id %s for different events", pair[0])
		}
	}
}
