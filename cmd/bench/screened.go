package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/api"
	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/outdial"
)

// The claim-screened measurement (issue 14): claims of 100 from an outdial
// with a calling window that is closed now for half of its targets and
// whose customer has a suppression list of 10 000 addresses, 5 % of the
// outdial's destinations among them, beside the same claims from a plain
// outdial (no window, a customer without suppressions). Both outdials get
// the same targets, each through its own env (its own customer, store and
// counting wrapper) on DynamoDB Local, measured as row 4 is.
//
// Each side is measured in two rounds of claims through the handler:
//
//   - round 1, the fresh list: the first claims after the import. On the
//     screened side each claim defers the closed-window targets it reads
//     (one UpdateItem each, to a wait partition due at the window's next
//     opening) and fails the open ones whose destination is suppressed;
//   - round 2, after the first pass: the claims after the rest of the list
//     was claimed (uncounted, until a claim finds nothing), so that every
//     closed-window target has been deferred; as many targets as the
//     round claims, the first claimed ones in import order, came back for
//     a retry (busy, retry_after_seconds 0). Only these are due, so a
//     round-2 claim shows what the deferred targets still cost a claim:
//     nothing but the empty reads of the wait partitions.
//
// Deferred, failed and claimed targets and the write units are found from
// the outdial's items, read (uncounted) before and after each round.

const (
	// screenedWindowStart and screenedWindowEnd are the calling window
	// (every day), in the outdial's zone or the target's own.
	screenedWindowStart = "08:00"
	screenedWindowEnd   = "20:00"
	// screenedMargin is how long the window must stay open (closed) in the
	// zone picked for the open (closed) half of the targets.
	screenedMargin = 2 * time.Hour
	// suppressionListSize is the size of the screened customer's list.
	suppressionListSize = 10000
)

// screenedZones are the candidates for the outdial's zone (where the window
// is open now) and the closed half's zone: about one per hour of offset.
var screenedZones = []string{
	"Pacific/Pago_Pago", "Pacific/Honolulu", "America/Anchorage", "America/Los_Angeles", "America/Denver",
	"America/Chicago", "America/New_York", "America/Halifax", "America/Sao_Paulo", "Atlantic/South_Georgia",
	"Atlantic/Azores", "UTC", "Europe/Paris", "Europe/Athens", "Europe/Moscow", "Asia/Dubai", "Asia/Karachi",
	"Asia/Dhaka", "Asia/Bangkok", "Asia/Shanghai", "Asia/Tokyo", "Australia/Brisbane", "Pacific/Noumea",
	"Pacific/Auckland", "Pacific/Tongatapu", "Pacific/Kiritimati",
}

// pickScreenedZones returns the calling window (its zone one where it is
// open at now and stays open for margin, its local time nearest 14:00) and
// the zone of the closed half (closed at now and for margin after, its
// local time nearest 02:00).
func pickScreenedZones(now time.Time, margin time.Duration) (outdial.CallingWindow, string, error) {
	w := outdial.CallingWindow{Start: screenedWindowStart, End: screenedWindowEnd}
	// distance is how far t's local clock in loc is from hh:00, around
	// the clock.
	distance := func(loc *time.Location, hh int) int {
		l := now.In(loc)
		d := l.Hour()*60 + l.Minute() - hh*60
		if d < 0 {
			d = -d
		}
		return min(d, 24*60-d)
	}
	open, closed := "", ""
	bestOpen, bestClosed := math.MaxInt, math.MaxInt
	for _, name := range screenedZones {
		loc, err := outdial.LoadZone(name)
		if err != nil {
			continue
		}
		zs := []*time.Location{loc}
		w.Timezone = name
		if w.OpenIn(now, zs) && w.OpenIn(now.Add(margin), zs) {
			if d := distance(loc, 14); d < bestOpen {
				open, bestOpen = name, d
			}
		}
		if at, ok := w.NextOpen(now, zs); ok && at.Sub(now) >= margin {
			if d := distance(loc, 2); d < bestClosed {
				closed, bestClosed = name, d
			}
		}
	}
	if open == "" || closed == "" {
		return w, "", fmt.Errorf("claim-screened: no zone of %d where the window %s-%s is open (closed) now and for %s", len(screenedZones), w.Start, w.End, margin)
	}
	w.Timezone = open
	if err := w.Validate("calling_window"); err != nil {
		return w, "", err
	}
	return w, closed, nil
}

// closedTarget reports whether target i of the screened outdial has the
// closed zone: every other one.
func closedTarget(i int) bool { return i%2 == 1 }

// suppressedTarget reports whether target i's destination is on the
// screened customer's list: 1 in 20, half of them open-window targets and
// half closed-window ones.
func suppressedTarget(i int) bool { return i%40 == 0 || i%40 == 21 }

// benchNumber is the E.164 number of target i (as targetsBody writes it,
// "+1 555 200 0000" on).
func benchNumber(i int) string { return fmt.Sprintf("+1555%03d%04d", 200+i/10000, i%10000) }

// screenedTargetsBody returns an import of targets first..first+k-1, as
// targetsBody writes them; with zone set, every closedTarget has it as its
// own timezone.
func screenedTargetsBody(first, k int, zone string) string {
	var b strings.Builder
	b.WriteString(`{"targets":[`)
	for i := first; i < first+k; i++ {
		if i > first {
			b.WriteByte(',')
		}
		tz := ""
		if zone != "" && closedTarget(i) {
			tz = fmt.Sprintf(`,"timezone":%q`, zone)
		}
		fmt.Fprintf(&b, `{"destination":{"type":"tel","target":"+1 555 %03d %04d"},"try_count_max":3,"name":"bench target %d","data":"{\"crm_id\":%d}"%s}`,
			200+i/10000, i%10000, i, i, tz)
	}
	b.WriteString(`]}`)
	return b.String()
}

// suppressionKeys returns the screened customer's list: the destinations
// of the suppressedTargets of n targets, then other numbers (+1 555 900
// 0000 on) up to size entries.
func suppressionKeys(n, size int) (keys []string, members int) {
	for i := 0; i < n && len(keys) < size; i++ {
		if suppressedTarget(i) {
			keys = append(keys, "tel:"+benchNumber(i))
		}
	}
	members = len(keys)
	for j := 0; len(keys) < size; j++ {
		keys = append(keys, fmt.Sprintf("tel:+1555%03d%04d", 900+j/10000, j%10000))
	}
	return keys, members
}

// claimRound holds the figures of one round of claims on one side.
type claimRound struct {
	Lat []time.Duration
	Got []int    // targets each claim handed out
	C   counts   // requests and reported capacity of the claims
	W   wcuModel // write units from item sizes
	// Claimed, Deferred and Failed are the targets the round moved to
	// dialing, to a wait partition (idle, another index key) and to
	// failed, from the items before and after.
	Claimed, Deferred, Failed int
}

// passResult is the first pass through a list: round 1 and the claims
// after it until one found nothing.
type passResult struct {
	Claims, Claimed, Deferred, Failed int
}

// screenedSide is one outdial of the measurement and its figures.
type screenedSide struct {
	e        *env
	id       string
	n        int
	screened bool
	atts     []attempt            // in claim order
	imported map[string]itemState // the targets' items after the import

	Rounds [2]claimRound
	Pass   passResult
}

// screenedResult is the claim-screened measurement.
type screenedResult struct {
	N, Limit, Calls int
	Window          outdial.CallingWindow
	ClosedZone      string
	Start           time.Time
	ListSize        int // entries of the screened customer's suppression list
	Members         int // of them, destinations of the outdial
	MembersOpen     int // of those, destinations of open-window targets
	Plain, Screened *screenedSide
	Checks          []string
}

// itemState is what the measurement reads of a target item.
type itemState struct {
	Index          int // i of its name, "bench target <i>"; -1 for another name
	Size           int
	Status, GSI1PK string
	TryCur         int
	LastResult     string
}

func stateOf(it map[string]types.AttributeValue) itemState {
	str := func(k string) string {
		if v, ok := it[k].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	st := itemState{Index: -1, Size: itemSize(it), Status: str("status"), GSI1PK: str("GSI1PK"), LastResult: str("last_result")}
	if i, err := strconv.Atoi(strings.TrimPrefix(str("name"), "bench target ")); err == nil && i >= 0 {
		st.Index = i
	}
	if v, ok := it["try_cur"].(*types.AttributeValueMemberN); ok {
		st.TryCur, _ = strconv.Atoi(v.Value)
	}
	return st
}

// states reads the side's target items (uncounted) by target id.
func (s *screenedSide) states(ctx context.Context) (map[string]itemState, error) {
	items, err := s.e.scanTargets(ctx, s.id, "")
	if err != nil {
		return nil, err
	}
	out := make(map[string]itemState, len(items))
	for _, it := range items {
		out[it["id"].(*types.AttributeValueMemberS).Value] = stateOf(it)
	}
	if len(out) != s.n {
		return nil, fmt.Errorf("claim-screened: the table holds %d targets of the outdial, want %d", len(out), s.n)
	}
	return out, nil
}

// diffStates classifies what changed between before and after and prices
// the writes by the model of capacity.go: a claim and a failure are
// updates in a transaction that change the index key, a deferral a single
// update that changes it.
func diffStates(before, after map[string]itemState) (claimed, deferred, failed int, w wcuModel) {
	idle, dialing, failedSt := string(outdial.StatusIdle), string(outdial.StatusDialing), string(outdial.StatusFailed)
	for id, a := range after {
		b, ok := before[id]
		if !ok || b.Status != idle || a.GSI1PK == b.GSI1PK {
			continue
		}
		switch a.Status {
		case dialing:
			claimed++
			w = w.add(rekeyCost(b.Size, a.Size, true))
		case failedSt:
			failed++
			w = w.add(rekeyCost(b.Size, a.Size, true))
		case idle:
			deferred++
			w = w.add(rekeyCost(b.Size, a.Size, false))
		}
	}
	return claimed, deferred, failed, w
}

// claimedAnswer is the part of a claim answer the measurement reads.
type claimedAnswer struct {
	Result []struct {
		AttemptID string `json:"attempt_id"`
		Target    struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"target"`
	} `json:"result"`
}

// check returns an error if the target named name (bench target <i>) must
// not be handed out: on the screened side, a closed-window target or one
// whose destination is suppressed.
func (s *screenedSide) check(name string) error {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "bench target "))
	if err != nil {
		return fmt.Errorf("claim-screened: a claim handed out target %q, not one of the bench's", name)
	}
	if s.screened && closedTarget(i) {
		return fmt.Errorf("claim-screened: a claim handed out target %d, whose calling window is closed", i)
	}
	if s.screened && suppressedTarget(i) {
		return fmt.Errorf("claim-screened: a claim handed out target %d, whose destination is suppressed", i)
	}
	return nil
}

// round measures calls claims of limit through the handler; before are
// the items before, and it returns them after.
func (s *screenedSide) round(ctx context.Context, r *claimRound, before map[string]itemState, calls, limit int) (map[string]itemState, error) {
	e := s.e
	body := fmt.Sprintf(`{"limit":%d,"lease_seconds":%d}`, limit, claimLease)
	snap := e.db.Snapshot()
	for i := 0; i < calls; i++ {
		req := e.request(s.id, body)
		start := time.Now()
		resp, err := e.h.ClaimTargets(ctx, req)
		r.Lat = append(r.Lat, time.Since(start))
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("claim-screened: claim: %d %.300s %v", resp.StatusCode, resp.Body, err)
		}
		var got claimedAnswer
		if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
			return nil, fmt.Errorf("claim-screened: claim answer: %w", err)
		}
		for _, c := range got.Result {
			if err := s.check(c.Target.Name); err != nil {
				return nil, err
			}
			s.atts = append(s.atts, attempt{TargetID: c.Target.ID, AttemptID: c.AttemptID})
		}
		r.Got = append(r.Got, len(got.Result))
	}
	r.C = e.db.Snapshot().Sub(snap)
	after, err := s.states(ctx)
	if err != nil {
		return nil, err
	}
	r.Claimed, r.Deferred, r.Failed, r.W = diffStates(before, after)
	r.W = r.W.add(countCost(r.C.Succeeded("TransactWriteItems")))
	handed := 0
	for _, g := range r.Got {
		handed += g
	}
	if handed != r.Claimed {
		return nil, fmt.Errorf("claim-screened: the claims handed out %d targets, the items show %d claimed", handed, r.Claimed)
	}
	return after, nil
}

// drain claims (uncounted, with the side's store) until a claim finds
// nothing due, and returns how many claims it took and how many targets
// they handed out.
func (s *screenedSide) drain(ctx context.Context, limit int) (claims, claimed int, err error) {
	for empty := 0; empty < 2; {
		got, err := s.e.store.ClaimTargets(ctx, s.e.customer, s.id, limit, claimLease*time.Second)
		if err != nil {
			return claims, claimed, fmt.Errorf("claim-screened: claim: %w", err)
		}
		claims++
		if len(got) == 0 {
			empty++
			continue
		}
		empty = 0
		for _, c := range got {
			if err := s.check(c.Target.Name); err != nil {
				return claims, claimed, err
			}
			s.atts = append(s.atts, attempt{TargetID: c.Target.ID, AttemptID: c.AttemptID})
		}
		claimed += len(got)
	}
	return claims, claimed, nil
}

// retry sends a busy outcome with retry_after_seconds 0 for each of atts
// through the outcome processor (uncounted set-up), so that they are due
// again at once.
func (s *screenedSide) retry(ctx context.Context, atts []attempt) error {
	zero := 0
	proc := &outcome.Processor{Store: s.e.store, Log: s.e.log, Concurrency: sqsBatch}
	var g errgroup.Group
	g.SetLimit(4)
	failures := make([]int, (len(atts)+sqsBatch-1)/sqsBatch)
	for b := range failures {
		var ev events.SQSEvent
		for _, a := range atts[b*sqsBatch : min((b+1)*sqsBatch, len(atts))] {
			body, _ := json.Marshal(outcome.Message{
				AttemptID: a.AttemptID, OutdialID: s.id, TargetID: a.TargetID,
				Result: string(outdial.ResultBusy), RetryAfterSeconds: &zero,
			})
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: uuid.NewString(), Body: string(body), EventSource: "aws:sqs"})
		}
		g.Go(func() error {
			resp, _ := proc.Handle(ctx, ev)
			failures[b] = len(resp.BatchItemFailures)
			return nil
		})
	}
	_ = g.Wait()
	for _, f := range failures {
		if f > 0 {
			return fmt.Errorf("claim-screened: the outcome processor reported batch item failures")
		}
	}
	return nil
}

// verifyPass checks the items after the first pass against what the list
// holds: on the screened side every closed-window target deferred (idle,
// off its import-time index key), every open one with a suppressed
// destination failed with last_result suppressed, every other one dialing;
// on the plain side every target dialing. It also checks the outdial's
// counts against the items.
func (s *screenedSide) verifyPass(ctx context.Context, now map[string]itemState) error {
	for id, st := range now {
		i := st.Index
		if _, ok := s.imported[id]; !ok || i < 0 {
			return fmt.Errorf("claim-screened: target %s is not one of the import's", id)
		}
		want := "dialing"
		switch {
		case s.screened && closedTarget(i):
			want = "deferred"
		case s.screened && suppressedTarget(i):
			want = "failed (suppressed)"
		}
		got := st.Status
		switch {
		case st.Status == string(outdial.StatusIdle) && st.GSI1PK != s.imported[id].GSI1PK:
			got = "deferred"
		case st.Status == string(outdial.StatusFailed) && st.LastResult == string(outdial.ResultSuppressed):
			got = "failed (suppressed)"
		}
		if got != want {
			return fmt.Errorf("claim-screened: after the first pass target %d is %s, want %s", i, got, want)
		}
	}
	return s.verifyCounts(ctx, now)
}

// verifyCounts checks the outdial's counts against the items.
func (s *screenedSide) verifyCounts(ctx context.Context, items map[string]itemState) error {
	var want outdial.Counts
	for _, st := range items {
		switch outdial.Status(st.Status) {
		case outdial.StatusIdle:
			want.Idle++
			if st.TryCur > 0 {
				want.Retry++
			}
		case outdial.StatusDialing:
			want.Dialing++
		case outdial.StatusFinished:
			want.Finished++
		case outdial.StatusFailed:
			want.Failed++
		}
	}
	o, err := s.e.store.GetOutdial(ctx, s.e.customer, s.id)
	if err != nil {
		return err
	}
	if o.Counts != want {
		return fmt.Errorf("claim-screened: counts %+v, the items say %+v", o.Counts, want)
	}
	return nil
}

// newScreenedSide creates an outdial of n targets for a fresh customer,
// with the window and the closed half's zone when w is set.
func newScreenedSide(ctx context.Context, base *env, n int, w *outdial.CallingWindow, closedZone string) (*screenedSide, error) {
	e := newEnv(base.client, base.table, base.ddbPID, base.progress)
	s := &screenedSide{e: e, n: n, screened: w != nil}
	create := map[string]any{"name": "bench claim-plain"}
	if w != nil {
		create = map[string]any{"name": "bench claim-screened", "calling_window": w}
	}
	b, _ := json.Marshal(create)
	resp, err := e.h.CreateOutdial(ctx, e.request("", string(b)))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("claim-screened: create outdial: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	var o struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &o); err != nil {
		return nil, fmt.Errorf("claim-screened: create outdial: %w", err)
	}
	s.id = o.ID
	for from := 0; from < n; from += 10000 {
		k := min(10000, n-from)
		resp, err := e.h.AddTargets(ctx, e.request(s.id, screenedTargetsBody(from, k, closedZone)))
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("claim-screened: import: %d %.300s %v", resp.StatusCode, resp.Body, err)
		}
		var ir api.ImportResponse
		if err := json.Unmarshal([]byte(resp.Body), &ir); err != nil {
			return nil, fmt.Errorf("claim-screened: import answer: %w", err)
		}
		if ir.Created != k {
			return nil, fmt.Errorf("claim-screened: import: created %d of %d (first rejection: %+v)", ir.Created, k, first(ir.RejectedTargets))
		}
	}
	if s.imported, err = s.states(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// screenedClaims runs the claim-screened measurement: two outdials of
// cfg.Targets targets (at least 200), cfg.Claims claims of up to 100 per
// round and side.
func screenedClaims(ctx context.Context, base *env, cfg config) (*screenedResult, error) {
	n := max(cfg.Targets, 200)
	start := time.Now()
	w, closedZone, err := pickScreenedZones(start, screenedMargin)
	if err != nil {
		return nil, err
	}
	r := &screenedResult{N: n, Window: w, ClosedZone: closedZone, Start: start}
	// Every claim of a round hands out a full limit, on both sides, and
	// the retries of round 2 fit in what the first pass claimed.
	claimable := 0
	for i := 0; i < n; i++ {
		if !closedTarget(i) && !suppressedTarget(i) {
			claimable++
		}
	}
	r.Limit = min(outdial.MaxClaimLimit, claimable)
	r.Calls = max(1, min(cfg.Claims, claimable/r.Limit))

	progress := func(format string, args ...any) {
		base.progressf("claim-screened (%s): "+format, append([]any{time.Since(start).Round(time.Second)}, args...)...)
	}
	progress("two outdials of %d targets; window %s-%s in %s, the other half of the screened one's targets in %s",
		n, w.Start, w.End, w.Timezone, closedZone)
	if r.Plain, err = newScreenedSide(ctx, base, n, nil, ""); err != nil {
		return r, err
	}
	if r.Screened, err = newScreenedSide(ctx, base, n, &w, closedZone); err != nil {
		return r, err
	}
	// The suppression list, written after the import (an import skips
	// suppressed destinations, a claim must catch the ones added later).
	keys, members := suppressionKeys(n, suppressionListSize)
	r.ListSize, r.Members = len(keys), members
	for i := 0; i < n; i++ {
		if suppressedTarget(i) && !closedTarget(i) {
			r.MembersOpen++
		}
	}
	sc := r.Screened
	progress("suppression list of %d addresses", len(keys))
	for at := 0; at < len(keys); at += outdial.MaxSuppressionsPerRequest {
		chunk := keys[at:min(at+outdial.MaxSuppressionsPerRequest, len(keys))]
		added, existing, err := sc.e.store.AddSuppressions(ctx, sc.e.customer, chunk)
		if err != nil {
			return r, fmt.Errorf("claim-screened: add suppressions: %w", err)
		}
		if added != len(chunk) || existing != 0 {
			return r, fmt.Errorf("claim-screened: add suppressions: added %d, existing %d of %d", added, existing, len(chunk))
		}
	}
	sides := []*screenedSide{r.Plain, r.Screened}
	label := func(s *screenedSide) string {
		if s.screened {
			return "screened"
		}
		return "plain"
	}
	// Round 1, then the rest of the first pass, then the retries.
	items := map[*screenedSide]map[string]itemState{}
	for _, s := range sides {
		progress("%s round 1: %d claims of %d", label(s), r.Calls, r.Limit)
		if items[s], err = s.round(ctx, &s.Rounds[0], s.imported, r.Calls, r.Limit); err != nil {
			return r, err
		}
	}
	for _, s := range sides {
		progress("%s: claiming the rest of the list", label(s))
		claims, claimed, err := s.drain(ctx, r.Limit)
		if err != nil {
			return r, err
		}
		now, err := s.states(ctx)
		if err != nil {
			return r, err
		}
		if err := s.verifyPass(ctx, now); err != nil {
			return r, err
		}
		c, d, f, _ := diffStates(s.imported, now)
		s.Pass = passResult{Claims: r.Calls + claims, Claimed: c, Deferred: d, Failed: f}
		if c != claimed+s.Rounds[0].Claimed {
			return r, fmt.Errorf("claim-screened: %s: the claims handed out %d targets, the items show %d dialing", label(s), claimed+s.Rounds[0].Claimed, c)
		}
		// The retries: the first targets of the list (by import order)
		// that the first pass claimed, spread over the shards alike on
		// both sides (by the hash of their ids), whichever claims took
		// them.
		need := r.Calls * r.Limit
		if len(s.atts) < need {
			return r, fmt.Errorf("claim-screened: %s: %d targets claimed in the first pass, round 2 needs %d", label(s), len(s.atts), need)
		}
		atts := slices.Clone(s.atts)
		slices.SortFunc(atts, func(a, b attempt) int { return s.imported[a.TargetID].Index - s.imported[b.TargetID].Index })
		progress("%s: %d busy outcomes (retry after 0 s)", label(s), need)
		if err := s.retry(ctx, atts[:need]); err != nil {
			return r, err
		}
		if items[s], err = s.states(ctx); err != nil {
			return r, err
		}
	}
	for _, s := range sides {
		progress("%s round 2: %d claims of %d", label(s), r.Calls, r.Limit)
		after, err := s.round(ctx, &s.Rounds[1], items[s], r.Calls, r.Limit)
		if err != nil {
			return r, err
		}
		if err := s.verifyCounts(ctx, after); err != nil {
			return r, err
		}
	}
	progress("done")
	sp := r.Screened.Pass
	r.Checks = append(r.Checks,
		fmt.Sprintf("no claim handed out a closed-window or a suppressed target; after the first pass the screened outdial held %d deferred, %d failed (suppressed), %d dialing targets, as the list says",
			sp.Deferred, sp.Failed, sp.Claimed),
		"counts exact on both outdials after the first pass and after round 2")
	return r, nil
}

// print writes the claim-screened block.
func (r *screenedResult) print(w io.Writer) {
	fmt.Fprintf(w, "claim-screened: claims of %d from two outdials of %d targets, %d claims per round and outdial, through the handler as row 4\n", r.Limit, r.N, r.Calls)
	open, _ := outdial.LoadZone(r.Window.Timezone)
	closed, _ := outdial.LoadZone(r.ClosedZone)
	opens, _ := r.Window.NextOpen(r.Start, []*time.Location{closed})
	fmt.Fprintf(w, "  screened: calling window %s-%s every day in %s (%s there at the start, open); every other target has timezone %s (%s there: closed, opens in %s);\n",
		r.Window.Start, r.Window.End, r.Window.Timezone, r.Start.In(open).Format("15:04"), r.ClosedZone, r.Start.In(closed).Format("15:04"),
		hoursMinutes(opens.Sub(r.Start)))
	fmt.Fprintf(w, "            the customer's suppression list holds %d addresses, %d of them destinations of the outdial (%.0f%%; %d of open-window targets), added after the import\n",
		r.ListSize, r.Members, 100*float64(r.Members)/float64(r.N), r.MembersOpen)
	fmt.Fprintln(w, "  plain:    the same targets, no calling window, a customer without suppressions")
	fmt.Fprintln(w, "  round 1:  the first claims from the fresh list")
	fmt.Fprintf(w, "  round 2:  after the first pass (round 1, then claims until one found nothing), every closed-window target deferred: claims of %d targets\n", r.Calls*r.Limit)
	fmt.Fprintln(w, "            back for a retry (busy, retry after 0 s), the first claimed ones in import order (spread over the shards alike on both outdials)")

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t") }
	row("", "figure", "plain", "screened")
	row("", "------", "-----", "--------")
	for i, name := range []string{"round 1, fresh list", "round 2, after the first pass"} {
		p, s := r.Plain.Rounds[i], r.Screened.Rounds[i]
		row("", name+": latency", lat(p.Lat, 0.50, 0.95), lat(s.Lat, 0.50, 0.95))
		row("", "  DynamoDB requests / claim", per(p.C.Requests(), len(p.Lat), 1), per(s.C.Requests(), len(s.Lat), 1))
		row("", "    by operation", ops(p.C, len(p.Lat), 1), ops(s.C, len(s.Lat), 1))
		row("", "  items read / claim, by operation", itemsRead(p.C, len(p.Lat)), itemsRead(s.C, len(s.Lat)))
		row("", "  RCU / claim, as DynamoDB Local reports", rcu(p.C, len(p.Lat)), rcu(s.C, len(s.Lat)))
		row("", "    by operation", rcuOps(p.C, len(p.Lat)), rcuOps(s.C, len(s.Lat)))
		row("", "  RCU / claim as DynamoDB charges: 1 per key asked, 0.5 per empty query", pricedRCU(p.C, len(p.Lat)), pricedRCU(s.C, len(s.Lat)))
		row("", "  WCU / claim, from item sizes (GSI1 part)", model(p.W, len(p.Lat), 1), model(s.W, len(s.Lat), 1))
		row("", "  targets handed out / deferred / failed, per claim", perClaim(p), perClaim(s))
	}
	pass := func(p passResult) string {
		return fmt.Sprintf("%d claims: %d handed out, %d deferred, %d failed", p.Claims, p.Claimed, p.Deferred, p.Failed)
	}
	row("", "first pass through the list", pass(r.Plain.Pass), pass(r.Screened.Pass))
	tw.Flush()
	for _, c := range r.Checks {
		fmt.Fprintln(w, "  checked: "+c)
	}
	fmt.Fprintln(w, "  handed out, deferred and failed: from the outdial's items before and after each round. WCU from item sizes as for row 4: 1 per KB (2 in a transaction),")
	fmt.Fprintln(w, "  GSI1 1 per KB per entry written or removed, 2 per count slot; a deferral is one UpdateItem that moves the GSI1 entry to a wait partition.")
}

// hoursMinutes formats d as "5 h 44 min".
func hoursMinutes(d time.Duration) string {
	m := int(d.Round(time.Minute).Minutes())
	return fmt.Sprintf("%d h %02d min", m/60, m%60)
}

// perClaim formats a round's targets handed out, deferred and failed per
// claim, with the range handed out.
func perClaim(r claimRound) string {
	n := len(r.Got)
	if n == 0 {
		return "n/a"
	}
	lo, hi := r.Got[0], r.Got[0]
	for _, g := range r.Got {
		lo, hi = min(lo, g), max(hi, g)
	}
	f := func(v int) string { return strconv.FormatFloat(float64(v)/float64(n), 'f', 1, 64) }
	s := fmt.Sprintf("%s / %s / %s", f(r.Claimed), f(r.Deferred), f(r.Failed))
	if lo != hi {
		s += fmt.Sprintf(" (handed out %d-%d)", lo, hi)
	}
	return s
}

// rcu formats the reported read units per claim.
func rcu(c counts, calls int) string {
	if calls == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", c.RCU/float64(calls))
}

// pricedRCU is the read units per claim as DynamoDB charges them: what
// DynamoDB Local reports, with BatchGetItem priced at 1 unit per key asked
// (strongly consistent, suppression items far below 4 KB; DynamoDB charges
// a key that is not found, DynamoDB Local reports nothing for it) and half
// a unit for each query that found nothing (DynamoDB Local reports 0), and
// the keys and empty queries per claim.
func pricedRCU(c counts, calls int) string {
	if calls == 0 {
		return "n/a"
	}
	v := c.RCU - c.ReadUnits["BatchGetItem"] + float64(c.BatchGetKeys) + 0.5*float64(c.EmptyQueries)
	f := float64(calls)
	return fmt.Sprintf("%.1f (%.1f keys, %.1f empty queries)", v/f, float64(c.BatchGetKeys)/f, float64(c.EmptyQueries)/f)
}

// itemsRead lists the items the reads returned per claim, by operation.
func itemsRead(c counts, calls int) string {
	if calls == 0 {
		return "n/a"
	}
	parts := []string{}
	for _, op := range []string{"Query", "BatchGetItem", "GetItem"} {
		if v, ok := c.ItemsRead[op]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", op, float64(v)/float64(calls)))
		}
	}
	return strings.Join(parts, ", ")
}

// rcuOps lists the reported read units per claim by operation.
func rcuOps(c counts, calls int) string {
	if calls == 0 || len(c.ReadUnits) == 0 {
		return ""
	}
	parts := make([]string, 0, len(c.ReadUnits))
	for _, op := range []string{"Query", "BatchGetItem", "GetItem"} {
		if v, ok := c.ReadUnits[op]; ok {
			parts = append(parts, fmt.Sprintf("%s %.1f", op, v/float64(calls)))
		}
	}
	return strings.Join(parts, ", ")
}

// screenedOnly runs only the claim-screened measurement (-screened-only),
// after the untimed warm-up round.
func screenedOnly(ctx context.Context, e *env, cfg config, m machine, ddbNote string, out io.Writer) error {
	started := time.Now()
	if cfg.Warmup > 0 {
		e.progressf("warm-up round with %d targets", min(cfg.Warmup, cfg.Targets))
		if _, err := e.round(ctx, cfg, min(cfg.Warmup, cfg.Targets), true); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	_, loadStart := loadAvg()
	r, err := screenedClaims(ctx, e, cfg)
	if err != nil {
		return err
	}
	_, loadEnd := loadAvg()
	fmt.Fprintf(out, "Outdial benchmark (claim-screened only), %s\n", started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(out, "machine   %d CPUs (GOMAXPROCS %d), %s RAM, %s\n", m.CPUs, m.GOMAXPROCS, m.Memory, m.CPUModel)
	fmt.Fprintf(out, "go        %s %s\n", m.GoVersion, m.OS)
	fmt.Fprintf(out, "load      %s at the start, %s at the end (1, 5, 15 min)\n", loadStart, loadEnd)
	fmt.Fprintf(out, "dynamodb  %s\n          %s\n", m.DynamoDB, ddbNote)
	fmt.Fprintln(out)
	r.print(out)
	fmt.Fprintf(out, "run:      %s in all.\n", dur(time.Since(started)))
	return nil
}
