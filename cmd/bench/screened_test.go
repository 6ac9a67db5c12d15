package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/outdial"
)

// TestPickScreenedZones checks, every 20 minutes over a year, that the
// window picked is open in its own zone now and for the margin, and closed
// in the other zone now and for the margin.
func TestPickScreenedZones(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 7, 0, 0, time.UTC)
	for now := start; now.Before(start.AddDate(1, 0, 0)); now = now.Add(20*time.Minute + 13*time.Second) {
		w, closedZone, err := pickScreenedZones(now, screenedMargin)
		if err != nil {
			t.Fatalf("%s: %v", now, err)
		}
		open, err := outdial.LoadZone(w.Timezone)
		if err != nil {
			t.Fatal(err)
		}
		closed, err := outdial.LoadZone(closedZone)
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range []time.Time{now, now.Add(screenedMargin / 2), now.Add(screenedMargin)} {
			if !w.OpenIn(at, []*time.Location{open}) {
				t.Fatalf("%s: window %+v closed in its zone at %s", now, w, at)
			}
			if w.OpenIn(at, []*time.Location{closed}) {
				t.Fatalf("%s: window %+v open in %s at %s", now, w, closedZone, at)
			}
		}
	}
}

// TestScreenedTargets checks the list: every other target closed, 5 % of
// the destinations on the suppression list, half of those of open-window
// targets, and the rest of the list numbers no target has.
func TestScreenedTargets(t *testing.T) {
	const n = 10000
	keys, members := suppressionKeys(n, suppressionListSize)
	if len(keys) != suppressionListSize || members != n/20 {
		t.Fatalf("%d keys, %d members; want %d and %d", len(keys), members, suppressionListSize, n/20)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			t.Fatalf("key %s twice", k)
		}
		seen[k] = true
	}
	open, closedN, onList := 0, 0, 0
	for i := 0; i < n; i++ {
		if closedTarget(i) {
			closedN++
		}
		if seen["tel:"+benchNumber(i)] != suppressedTarget(i) {
			t.Fatalf("target %d: on the list %v, suppressedTarget %v", i, seen["tel:"+benchNumber(i)], suppressedTarget(i))
		}
		if suppressedTarget(i) {
			onList++
			if !closedTarget(i) {
				open++
			}
		}
	}
	if closedN != n/2 || onList != n/20 || open != n/40 {
		t.Errorf("%d closed, %d suppressed of them %d open; want %d, %d, %d", closedN, onList, open, n/2, n/20, n/40)
	}

	var body struct {
		Targets []struct {
			Destination struct{ Target string }
			Name        string
			Timezone    string
		}
	}
	if err := json.Unmarshal([]byte(screenedTargetsBody(10, 4, "Asia/Tokyo")), &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Targets) != 4 || body.Targets[0].Name != "bench target 10" || body.Targets[0].Timezone != "" ||
		body.Targets[1].Timezone != "Asia/Tokyo" || body.Targets[3].Destination.Target != "+1 555 200 0013" {
		t.Errorf("import body: %+v", body.Targets)
	}
}

// TestDiffStates checks how the items before and after a round are read.
func TestDiffStates(t *testing.T) {
	before := map[string]itemState{
		"claimed":  {Size: 500, Status: "idle", GSI1PK: "O#1#idle"},
		"deferred": {Size: 500, Status: "idle", GSI1PK: "O#1#idle"},
		"failed":   {Size: 500, Status: "idle", GSI1PK: "O#1#idle"},
		"same":     {Size: 500, Status: "idle", GSI1PK: "O#1#idle"},
		"dialing":  {Size: 600, Status: "dialing", GSI1PK: "O#1#dialing"},
	}
	after := map[string]itemState{
		"claimed":  {Size: 1100, Status: "dialing", GSI1PK: "O#1#dialing"},
		"deferred": {Size: 510, Status: "idle", GSI1PK: "O#1#wait#0"},
		"failed":   {Size: 520, Status: "failed", GSI1PK: "O#1#failed"},
		"same":     {Size: 500, Status: "idle", GSI1PK: "O#1#idle"},
		"dialing":  {Size: 700, Status: "idle", GSI1PK: "O#1#idle"},
	}
	c, d, f, w := diffStates(before, after)
	if c != 1 || d != 1 || f != 1 {
		t.Errorf("claimed %d, deferred %d, failed %d; want 1 each", c, d, f)
	}
	// claimed: 2x2 table + 1+2 index; failed: 2 + 2; deferred: 1 + 2.
	if want := (wcuModel{Table: 4 + 2 + 1, Index: 3 + 2 + 2}); w != want {
		t.Errorf("write units %+v, want %+v", w, want)
	}
}

// TestScreenedSmall runs the claim-screened measurement alone (as
// -screened-only does) at a small size against the shared DynamoDB Local.
func TestScreenedSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("imports two outdials and claims them through")
	}
	var out bytes.Buffer
	cfg := config{Targets: 600, Claims: 2, Warmup: 0, ScreenedOnly: true}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, cfg, dynamotest.Endpoint(), &out, io.Discard); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	report := out.String()
	for _, want := range []string{
		"claim-screened: claims of 100 from two outdials of 600 targets, 2 claims per round",
		"round 1, fresh list: latency", "round 2, after the first pass: latency", "UpdateItem",
		"RCU / claim as DynamoDB charges", "deferred, 15 failed (suppressed), 285 dialing",
		"300 deferred, 15 failed", "counts exact",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q:\n%s", want, report)
		}
	}
}
