package loadtest

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localruntest"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/outdial"
)

// The size of the run. `make test` runs the defaults; `make load` passes
// the full size (see mk/load.mk).
var (
	flagTargets  = flag.Int("load.targets", 1000, "targets imported into the outdial")
	flagBatch    = flag.Int("load.batch", outdial.MaxTargetsPerRequest, "targets per import request")
	flagClaimers = flag.Int("load.claimers", 16, "concurrent claimers")
	flagLimit    = flag.Int("load.limit", 25, "limit of each claim")
	flagLease    = flag.Int("load.lease", 300, "lease_seconds of each claim")
	flagDup      = flag.Float64("load.duplicates", 0.10, "fraction of outcomes delivered twice")
	flagInFlight = flag.Int("load.inflight", 1500, "claimers pause while this many targets are dialing (keeps the queue's backlog well inside the lease)")
	flagSeed     = flag.Uint64("load.seed", 1, "random seed")
	flagDeadline = flag.Duration("load.deadline", 0, "bound of the campaign (0: 3 min + 25 ms per target)")
	flagDouble   = flag.Bool("load.double", true, "send the functions' DynamoDB requests through the DynamoDB double (internal/ddbdouble, its defaults)")
)

// loadConfig is one run's size and settings.
type loadConfig struct {
	targets, batch, claimers, limit, lease, inFlight int
	duplicates                                       float64
	seed                                             uint64
	deadline                                         time.Duration
}

// flagConfig returns the configuration the -load.* flags give.
func flagConfig() loadConfig {
	cfg := loadConfig{
		targets: *flagTargets, batch: *flagBatch, claimers: *flagClaimers, limit: *flagLimit, lease: *flagLease,
		inFlight: *flagInFlight, duplicates: *flagDup, seed: *flagSeed, deadline: *flagDeadline,
	}
	if cfg.deadline <= 0 {
		// Three minutes: a minute, and the outcome queue's visibility
		// timeout (120 s), after which the messages of a ReceiveMessage
		// answer the SQS stand-in lost come back (README, Figures).
		cfg.deadline = 3*time.Minute + time.Duration(cfg.targets)*25*time.Millisecond
	}
	return cfg
}

// The results the simulated calls end with, and how often.
var resultWeights = []struct {
	r outdial.Result
	w float64
}{
	{outdial.ResultAnswered, 0.30}, {outdial.ResultBusy, 0.25}, {outdial.ResultNoAnswer, 0.25},
	{outdial.ResultFailed, 0.10}, {outdial.ResultInvalid, 0.10},
}

// twoDestinations is the share of targets with a second destination.
const twoDestinations = 0.2

// pickResult returns the result for u, uniform in [0, 1).
func pickResult(u float64) outdial.Result {
	for _, e := range resultWeights {
		if u < e.w {
			return e.r
		}
		u -= e.w
	}
	return resultWeights[len(resultWeights)-1].r
}

// TestMain shares one DynamoDB Local among the package's tests (or uses
// OUTDIAL_DYNAMODB_ENDPOINT); the stack starts its own SQS stand-in.
func TestMain(m *testing.M) { dynamotest.Main(m) }

// TestLoad imports -load.targets targets into one outdial, dials them with
// -load.claimers claimers over the HTTP API, reports every call's outcome
// on the outcome queue (a share of them twice), and once nothing is idle
// or dialing checks every target against the model of what the dialers
// reported.
func TestLoad(t *testing.T) { runLoad(t, flagConfig()) }

// runLoad is one load test run.
func runLoad(t *testing.T, cfg loadConfig) {
	n := cfg.targets
	if n < 1 || n > 5_000_000 {
		t.Fatalf("-load.targets must be between 1 and 5000000, got %d", n)
	}
	deadline := cfg.deadline
	loadStart := loadAvg()
	var double *ddbdouble.Double
	if *flagDouble {
		double = ddbdouble.New(nil, ddbdouble.DefaultConfig())
	}
	st, logs := startStack(t, double)
	token, err := st.Token(uuid.NewString(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	api := &client{base: st.URL, token: token, http: &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
	ctx, cancel := context.WithTimeout(context.Background(), deadline+10*time.Minute)
	defer cancel()

	// The outdial, with every retry delay 0: a target that has tries left
	// is due again as soon as its outcome is applied.
	var od outdial.Outdial
	if err := api.do(ctx, "POST", "/v1.0/outdials", map[string]string{"name": "load test", "detail": fmt.Sprintf("%d targets, seed %d", n, cfg.seed)}, &od); err != nil {
		t.Fatal(err)
	}
	zero := outdial.RetryPolicy{}
	if err := api.do(ctx, "PUT", "/v1.0/outdials/"+od.ID, map[string]any{"retry_policy": zero}, &od); err != nil {
		t.Fatal(err)
	}
	if od.RetryPolicy != zero {
		t.Fatalf("retry policy after PUT = %+v, want every delay 0", od.RetryPolicy)
	}

	// 1. The import.
	model := NewModel()
	importStart := time.Now()
	requests := importTargets(ctx, t, api, od.ID, cfg, model)
	importTime := time.Since(importStart)
	if t.Failed() {
		return
	}
	if err := api.do(ctx, "GET", "/v1.0/outdials/"+od.ID, nil, &od); err != nil {
		t.Fatal(err)
	}
	if od.TargetCount != int64(n) || od.Counts.Idle != int64(n) || model.Len() != n {
		t.Fatalf("after the import: target_count %d, counts %+v, model %d; want %d idle", od.TargetCount, od.Counts, model.Len(), n)
	}
	t.Logf("import: %d targets in %d requests in %v (%.0f targets/s)", n, requests, importTime.Round(time.Millisecond), float64(n)/importTime.Seconds())

	// 2. The campaign.
	sqsClient, err := localstack.SQSClient(ctx, st.SQSEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	c := &campaign{
		t: t, cfg: cfg, api: api, sqs: sqsClient, queueURL: st.QueueURL("OutcomeQueue"), outdialID: od.ID, model: model,
		out: make(chan outMsg, 1024),
	}
	res := c.run(ctx, deadline)
	if !res.settled {
		t.Errorf("the campaign did not settle within %v: last counts %+v", deadline, res.last.Counts)
	}

	// 3. The checks, after the duplicates still queued were processed.
	// Messages whose receive answer was lost come back after the queue's
	// visibility timeout, so the drain waits that long and a minute more.
	drainFor := c.visibilityTimeout(ctx) + time.Minute
	drained := c.drain(ctx, drainFor)
	if !drained {
		model.Problem("the outcome queue did not drain within %v: %v", drainFor, c.queueAttributes(ctx, c.queueURL, sqstypes.QueueAttributeNameAll))
	}
	for _, q := range []string{"OutcomeDeadLetterQueue"} {
		if d := c.depth(ctx, st.QueueURL(q)); d != 0 {
			model.Problem("%s holds %d messages, want none", q, d)
		}
	}
	verifyStart := time.Now()
	if err := api.do(ctx, "GET", "/v1.0/outdials/"+od.ID, nil, &od); err != nil {
		t.Fatal(err)
	}
	list, err := api.listTargets(ctx, od.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Without settling too: after the drain every outcome sent is
	// applied, so the targets still idle must match the model as well.
	model.Check(&od, list)
	verifyTime := time.Since(verifyStart)

	// What the outcome processor did: every attempt applied exactly once,
	// every other delivery found stale.
	ls := logs.stats()
	stats := model.Stats()
	sent, dups := c.sent.Load(), c.dups.Load()
	if drained {
		if ls.applied != int64(stats.Attempts) || ls.applied+ls.stale != sent+dups {
			model.Problem("the processor applied %d outcomes and found %d stale; want %d applied (one per attempt) of %d deliveries",
				ls.applied, ls.stale, stats.Attempts, sent+dups)
		}
	}
	if ls.errors > 0 {
		model.Problem("the service logged %d errors, first: %s", ls.errors, ls.firstError)
	}

	// 4. The report.
	count, details := model.Discrepancies()
	for _, d := range details {
		t.Errorf("discrepancy: %s", d)
	}
	if count > len(details) {
		t.Errorf("... and %d more discrepancies", count-len(details))
	}
	rate := float64(sent) / res.duration.Seconds()
	var results []string
	for _, e := range resultWeights {
		results = append(results, fmt.Sprintf("%s %d", e.r, stats.Results[e.r]))
	}
	t.Logf("campaign: %v, %d claims in %d claim calls (%d empty; %d HTTP requests retried), %d outcomes + %d duplicates sent (%d of them while the target was dialing its next attempt; %.1f outcomes/s), results: %s; most attempts of one target %d",
		res.duration.Round(time.Millisecond), stats.Attempts, c.claimCalls.Load(), c.emptyClaims.Load(), api.retries.Load(),
		sent, dups, c.dupsAfterReclaim.Load(), rate, strings.Join(results, ", "), stats.MaxTries)
	t.Logf("final: target_count %d, finished %d, failed %d, idle %d, dialing %d; processor: %d applied, %d stale; service log: %d warnings, %d errors; checks took %v",
		od.TargetCount, od.Counts.Finished, od.Counts.Failed, od.Counts.Idle, od.Counts.Dialing, ls.applied, ls.stale, ls.warnings, ls.errors, verifyTime.Round(time.Millisecond))
	t.Logf("claim latency (calls that claimed something): %s; load average %s at the start, %s at the end", c.claimLatency(), loadStart, loadAvg())
	for _, w := range ls.firstWarnings {
		t.Logf("service warning: %s", w)
	}
	for _, f := range api.failureSummary() {
		t.Logf("failed HTTP answer (sent again): %s", f)
	}
	summary := fmt.Sprintf("LOAD targets=%d import=%.1fs (%.0f targets/s) campaign=%.1fs outcomes=%d duplicates=%d outcomes/s=%.1f claimers=%d settled=%t discrepancies=%d",
		n, importTime.Seconds(), float64(n)/importTime.Seconds(), res.duration.Seconds(), sent, dups, rate, cfg.claimers, res.settled, count)
	if double != nil {
		claim, out := double.Stats("claim-targets"), double.Stats("process-outcomes")
		sentTx := claim.Transactions + claim.SingleWrites + out.Transactions + out.SingleWrites
		pct := 0.0
		if sentTx > 0 {
			pct = 100 * float64(claim.Conflicts()+out.Conflicts()) / float64(sentTx)
		}
		summary += fmt.Sprintf(" double: cancelled_pct=%.2f (claims %d of %d, outcomes %d of %d) requests_per_outcome=%.3f wru_per_outcome=%.2f throttled=%d",
			pct, claim.Conflicts(), claim.Transactions+claim.SingleWrites, out.Conflicts(), out.Transactions+out.SingleWrites,
			float64(out.Total())/float64(max(1, ls.applied)), out.WriteUnits/float64(max(1, ls.applied)), double.Stats("").Throttled)
	}
	t.Log(summary)
	fmt.Println(summary)
}

// importTargets imports n generated targets in requests of -load.batch
// and records each in model; it returns the number of requests.
// Targets have try_count_max 1..3; a fifth of them a second destination
// with its own 1..3.
func importTargets(ctx context.Context, t *testing.T, api *client, outdialID string, cfg loadConfig, model *Model) int {
	t.Helper()
	n := cfg.targets
	rng := mrand.New(mrand.NewPCG(cfg.seed, 0))
	batch := max(1, min(cfg.batch, outdial.MaxTargetsPerRequest))
	requests := 0
	for from := 0; from < n; from += batch {
		size := min(batch, n-from)
		rows := make([]map[string]any, size)
		maxes := make([][]int, size)
		for j := range rows {
			i := from + j
			tel := fmt.Sprintf("+1555%07d", i)
			first := 1 + rng.IntN(3)
			if rng.Float64() < twoDestinations {
				second := 1 + rng.IntN(3)
				maxes[j] = []int{first, second}
				rows[j] = map[string]any{"name": fmt.Sprintf("Load %07d", i), "destinations": []map[string]any{
					{"type": "tel", "target": tel, "try_count_max": first},
					{"type": "tel", "target": fmt.Sprintf("+1555%07d", 5_000_000+i), "try_count_max": second},
				}}
				continue
			}
			maxes[j] = []int{first}
			rows[j] = map[string]any{"name": fmt.Sprintf("Load %07d", i), "destination": map[string]string{"type": "tel", "target": tel}, "try_count_max": first}
		}
		var res struct {
			Created, Duplicates, Rejected int
			CreatedTargets                []struct {
				Index    int    `json:"index"`
				TargetID string `json:"target_id"`
			} `json:"created_targets"`
			DuplicateTargets []outdial.Duplicate    `json:"duplicate_targets"`
			RejectedTargets  []outdial.RejectedItem `json:"rejected_targets"`
		}
		requests++
		if err := api.do(ctx, "POST", "/v1.0/outdials/"+outdialID+"/targets", map[string]any{"targets": rows}, &res); err != nil {
			t.Fatalf("import rows %d..%d: %v", from, from+size-1, err)
		}
		// A request retried after a lost answer finds its rows as
		// duplicates ("exists"); none may be rejected or repeated.
		if res.Rejected != 0 || res.Created+res.Duplicates != size {
			t.Fatalf("import rows %d..%d: created %d, duplicates %d, rejected %d (first %+v); want %d created", from, from+size-1,
				res.Created, res.Duplicates, res.Rejected, res.RejectedTargets[:min(1, len(res.RejectedTargets))], size)
		}
		ids := make([]string, size)
		for _, c := range res.CreatedTargets {
			ids[c.Index] = c.TargetID
		}
		for _, d := range res.DuplicateTargets {
			if d.Reason != "exists" {
				t.Fatalf("import rows %d..%d: row %d is a duplicate (%s); the generated rows are distinct", from, from+size-1, d.Index, d.Reason)
			}
			ids[d.Index] = d.TargetID
		}
		for j, id := range ids {
			if id == "" {
				t.Fatalf("import rows %d..%d: no target id for row %d", from, from+size-1, j)
			}
			model.Add(id, maxes[j]...)
		}
	}
	return requests
}

// outMsg is one outcome message to send.
type outMsg struct {
	body string
	dup  bool // the second delivery
}

// campaign is the simulated dialing campaign.
type campaign struct {
	t         *testing.T
	cfg       loadConfig
	api       *client
	sqs       *sqs.Client
	queueURL  string
	outdialID string
	model     *Model

	out   chan outMsg    // to the senders
	dupWG sync.WaitGroup // duplicates not yet handed to the senders

	mu       sync.Mutex
	claimLat []time.Duration   // of every claim call that claimed something, retries included
	held     map[string]string // duplicates to send when their target is claimed again, by target id

	dialing                                 atomic.Int64 // targets dialing: the last GET, plus claims since
	claimCalls, emptyClaims                 atomic.Int64
	sent, dups, sendRetries, sendBatchCalls atomic.Int64
	dupsAfterReclaim                        atomic.Int64 // duplicates sent while their target was dialing another attempt
}

// campaignResult is how the campaign ended.
type campaignResult struct {
	settled  bool
	duration time.Duration // from the first claim until settled (or the deadline)
	last     outdial.Outdial
}

// run dials until the outdial has nothing idle or dialing, or deadline
// passes.
func (c *campaign) run(ctx context.Context, deadline time.Duration) campaignResult {
	runCtx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	claimCtx, stopClaims := context.WithCancel(runCtx)
	defer stopClaims()

	// Senders: batches of up to 10 messages, as a dialer fleet sends them.
	var senders sync.WaitGroup
	for range 4 {
		senders.Add(1)
		go func() { defer senders.Done(); c.sender(ctx) }()
	}

	// Claimers.
	start := time.Now()
	var claimers sync.WaitGroup
	for i := range c.cfg.claimers {
		claimers.Add(1)
		go func() {
			defer claimers.Done()
			// Claims under way at the deadline are let finish too (with
			// the test's own bound): a claim cancelled mid-way may have
			// moved targets to dialing that nobody hears of.
			c.claimer(claimCtx, ctx, mrand.New(mrand.NewPCG(c.cfg.seed, uint64(i+1))), stopClaims)
		}()
	}

	// The monitor: the outdial's counts every 200 ms, progress every 10 s.
	res := c.monitor(claimCtx, ctx, start)
	stopClaims()
	claimers.Wait()
	c.sendHeld()
	c.dupWG.Wait()
	close(c.out)
	senders.Wait()
	return res
}

// monitor polls the outdial until it settles or ctx is done; its requests
// run with reqCtx, so that none is cancelled under way.
func (c *campaign) monitor(ctx, reqCtx context.Context, start time.Time) campaignResult {
	var res campaignResult
	nextLog := start.Add(10 * time.Second)
	for {
		var od outdial.Outdial
		if err := c.api.do(reqCtx, "GET", "/v1.0/outdials/"+c.outdialID, nil, &od); err == nil {
			res.last = od
			c.dialing.Store(od.Counts.Dialing)
			if od.Counts.Idle == 0 && od.Counts.Dialing == 0 {
				res.settled, res.duration = true, time.Since(start)
				return res
			}
			if time.Now().After(nextLog) {
				el := time.Since(start)
				c.t.Logf("  %5.0fs: idle %d, dialing %d, finished %d, failed %d; %d outcomes sent (%.0f/s), %d duplicates",
					el.Seconds(), od.Counts.Idle, od.Counts.Dialing, od.Counts.Finished, od.Counts.Failed,
					c.sent.Load(), float64(c.sent.Load())/el.Seconds(), c.dups.Load())
				nextLog = nextLog.Add(10 * time.Second)
			}
		} else if ctx.Err() == nil {
			c.model.Problem("monitor: %v", err)
		}
		select {
		case <-ctx.Done():
			res.duration = time.Since(start)
			return res
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// claimer is one dialer: it claims, "dials" every claimed target at once
// (a result drawn from resultWeights), and hands the outcomes (and some
// duplicates, sent a little later) to the senders. It pauses while
// -load.inflight targets are dialing.
func (c *campaign) claimer(ctx, reqCtx context.Context, rng *mrand.Rand, stop context.CancelFunc) {
	idle := 10 * time.Millisecond
	body := map[string]int{"limit": c.cfg.limit, "lease_seconds": c.cfg.lease}
	for ctx.Err() == nil {
		if c.dialing.Load() >= int64(c.cfg.inFlight) {
			sleep(ctx, 20*time.Millisecond)
			continue
		}
		var res struct {
			Result []*outdial.Claim `json:"result"`
		}
		c.claimCalls.Add(1)
		began := time.Now()
		// A claim under way when the campaign ends is let finish: a
		// request cancelled mid-claim could leave targets dialing.
		err := c.api.do(reqCtx, "POST", "/v1.0/outdials/"+c.outdialID+"/targets/claim", body, &res)
		c.noteClaim(time.Since(began), len(res.Result))
		if reqCtx.Err() != nil {
			return
		}
		if err != nil {
			c.model.Problem("claim: %v", err)
			stop()
			return
		}
		if len(res.Result) == 0 {
			c.emptyClaims.Add(1)
			sleep(ctx, idle/2+time.Duration(rng.Int64N(int64(idle))))
			idle = min(2*idle, 200*time.Millisecond)
			continue
		}
		idle = 10 * time.Millisecond
		c.dialing.Add(int64(len(res.Result)))
		for _, cl := range res.Result {
			tg := cl.Target
			if tg == nil {
				c.model.Problem("claim %s without its target", cl.AttemptID)
				continue
			}
			recorded := c.model.Claim(Claimed{
				AttemptID: cl.AttemptID, TargetID: tg.ID, DestIdx: cl.DestIdx, TargetDestIdx: tg.DestinationIdx,
				Status: string(tg.Status), TryCountCurrent: tg.TryCountCurrent, TryCountMax: tg.TryCountMax, LastResult: string(tg.LastResult),
			})
			// A duplicate held back for this target's next claim goes out
			// now: its attempt is over, the target dialing another one.
			if body, ok := c.takeHeld(tg.ID); ok {
				c.sendDup(body, tg.ID, "")
			}
			r := pickResult(rng.Float64())
			if recorded {
				c.model.Report(tg.ID, cl.AttemptID, r)
			}
			b, _ := json.Marshal(outcome.Message{AttemptID: cl.AttemptID, OutdialID: c.outdialID, TargetID: tg.ID, Result: string(r)})
			c.out <- outMsg{body: string(b)}
			if rng.Float64() >= c.cfg.duplicates {
				continue
			}
			// The second delivery: half of them 0..5 s later (with a
			// backlog on the queue, often before the first was applied),
			// half when the target is claimed again (or after the campaign,
			// for targets that are not).
			if rng.IntN(2) == 0 {
				c.hold(tg.ID, string(b))
				continue
			}
			c.dupWG.Add(1)
			attempt, target := cl.AttemptID, tg.ID
			time.AfterFunc(time.Duration(rng.Int64N(int64(5*time.Second))), func() {
				defer c.dupWG.Done()
				c.sendDup(string(b), target, attempt)
			})
		}
	}
}

// hold keeps body, a duplicate, until targetID is claimed again.
func (c *campaign) hold(targetID, body string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		c.held = map[string]string{}
	}
	c.held[targetID] = body
}

// takeHeld returns and forgets the duplicate held for targetID.
func (c *campaign) takeHeld(targetID string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	body, ok := c.held[targetID]
	delete(c.held, targetID)
	return body, ok
}

// sendHeld sends every duplicate still held (their targets were not
// claimed again).
func (c *campaign) sendHeld() {
	c.mu.Lock()
	held := c.held
	c.held = nil
	c.mu.Unlock()
	for target, body := range held {
		c.sendDup(body, target, "")
	}
}

// sendDup hands a duplicate of an outcome of targetID to the senders and
// counts it if the target has been claimed again since (attempt, when
// given, is the duplicate's own; "" means it is known to be over).
func (c *campaign) sendDup(body, targetID, attempt string) {
	if attempt == "" || c.model.Current(targetID) != attempt {
		if c.model.Target(targetID).Status == outdial.StatusDialing {
			c.dupsAfterReclaim.Add(1)
		}
	}
	c.out <- outMsg{body: body, dup: true}
}

// noteClaim records the latency of a claim call that claimed n targets.
func (c *campaign) noteClaim(d time.Duration, n int) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.claimLat = append(c.claimLat, d)
}

// claimLatency describes the latencies of the claim calls that claimed
// something.
func (c *campaign) claimLatency() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.claimLat) == 0 {
		return "no claims"
	}
	l := append([]time.Duration(nil), c.claimLat...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	q := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))].Round(time.Millisecond) }
	return fmt.Sprintf("p50 %v, p90 %v, p99 %v, max %v", q(0.5), q(0.9), q(0.99), l[len(l)-1].Round(time.Millisecond))
}

// sender sends the messages of c.out in batches of up to 10 until c.out
// is closed. A message SQS does not take is sent again; one that cannot
// be sent at all is a discrepancy (its target would wait for its lease).
func (c *campaign) sender(ctx context.Context) {
	for first := range c.out {
		batch := []outMsg{first}
	gather:
		for len(batch) < 10 {
			select {
			case m, ok := <-c.out:
				if !ok {
					break gather
				}
				batch = append(batch, m)
			case <-time.After(2 * time.Millisecond):
				break gather
			}
		}
		for try := 0; len(batch) > 0; try++ {
			entries := make([]sqstypes.SendMessageBatchRequestEntry, len(batch))
			for i, m := range batch {
				entries[i] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(m.body)}
			}
			c.sendBatchCalls.Add(1)
			out, err := c.sqs.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(c.queueURL), Entries: entries})
			var again []outMsg
			if err != nil {
				again = batch
			} else {
				failed := map[string]bool{}
				for _, f := range out.Failed {
					failed[aws.ToString(f.Id)] = true
				}
				for i, m := range batch {
					switch {
					case failed[strconv.Itoa(i)]:
						again = append(again, m)
					case m.dup:
						c.dups.Add(1)
					default:
						c.sent.Add(1)
					}
				}
			}
			if len(again) > 0 && (try >= 10 || ctx.Err() != nil) {
				c.model.Problem("%d outcome messages could not be sent: %v", len(again), err)
				break
			}
			if len(again) > 0 {
				c.sendRetries.Add(1)
				sleep(ctx, time.Duration(50<<min(try, 5))*time.Millisecond)
			}
			batch = again
		}
	}
}

// queueAttributes returns the named attributes of a queue; a failure is
// logged and answers nil.
func (c *campaign) queueAttributes(ctx context.Context, queueURL string, names ...sqstypes.QueueAttributeName) map[string]string {
	res, err := c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(queueURL), AttributeNames: names})
	if err != nil {
		c.t.Logf("queue attributes of %s: %v", queueURL, err)
		return nil
	}
	return res.Attributes
}

// depth returns how many messages the queue holds (visible, in flight or
// delayed), or -1 if it cannot tell.
func (c *campaign) depth(ctx context.Context, queueURL string) int {
	attrs := c.queueAttributes(ctx, queueURL,
		sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)
	if attrs == nil {
		return -1
	}
	n := 0
	for _, v := range attrs {
		i, _ := strconv.Atoi(v)
		n += i
	}
	return n
}

// visibilityTimeout returns the outcome queue's visibility timeout (2 min
// if it cannot tell).
func (c *campaign) visibilityTimeout(ctx context.Context) time.Duration {
	name := sqstypes.QueueAttributeNameVisibilityTimeout
	secs, err := strconv.Atoi(c.queueAttributes(ctx, c.queueURL, name)[string(name)])
	if err != nil {
		return 2 * time.Minute
	}
	return time.Duration(secs) * time.Second
}

// drain waits until the outcome queue is empty, for at most d.
func (c *campaign) drain(ctx context.Context, d time.Duration) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) && ctx.Err() == nil {
		if c.depth(ctx, c.queueURL) == 0 {
			return true
		}
		sleep(ctx, 100*time.Millisecond)
	}
	return false
}

// client is a client of the HTTP API with a bearer token; it retries
// throttling, 5xx answers and network errors.
type client struct {
	base, token string
	http        *http.Client
	retries     atomic.Int64 // requests sent again

	mu       sync.Mutex
	failures map[string]int // failed answers by route and status (and error code)
}

// noteFailure counts one failed answer.
func (c *client) noteFailure(method, path string, ae *apiError) {
	route := path
	if i := strings.IndexAny(route, "?"); i >= 0 {
		route = route[:i]
	}
	if strings.HasSuffix(route, "/claim") {
		route = "claim"
	} else if strings.HasSuffix(route, "/targets") {
		route = "targets"
	} else {
		route = "outdial"
	}
	key := fmt.Sprintf("%s %s %d", method, route, ae.status)
	if ae.err != nil {
		key = fmt.Sprintf("%s %s %v", method, route, ae.err)
	} else {
		var env struct {
			Error struct{ Code, Message string }
		}
		if json.Unmarshal([]byte(ae.body), &env) == nil && env.Error.Code != "" {
			key += " " + env.Error.Code + ": " + env.Error.Message
		} else {
			key += " " + ae.body
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failures == nil {
		c.failures = map[string]int{}
	}
	c.failures[key]++
}

// failureSummary lists the failed answers by kind, most frequent first.
func (c *client) failureSummary() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for k, n := range c.failures {
		out = append(out, fmt.Sprintf("%6d x %s", n, k))
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

// apiError is an answer that is not 2xx, or a request that failed.
type apiError struct {
	method, path string
	status       int
	body         string
	err          error
	retried      int
}

func (e *apiError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s %s: %v (after %d retries)", e.method, e.path, e.err, e.retried)
	}
	return fmt.Sprintf("%s %s: HTTP %d %s (after %d retries)", e.method, e.path, e.status, e.body, e.retried)
}

// do sends body (JSON, if not nil) and decodes a 2xx answer into out.
func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	wait := 50 * time.Millisecond
	for try := 0; ; try++ {
		ae := c.once(ctx, method, path, payload, out)
		if ae == nil {
			return nil
		}
		ae.retried = try
		c.noteFailure(method, path, ae)
		retryable := ae.err != nil || ae.status == http.StatusTooManyRequests || ae.status >= 500
		if !retryable || try >= 8 || ctx.Err() != nil {
			return ae
		}
		c.retries.Add(1)
		sleep(ctx, wait)
		wait = min(2*wait, 2*time.Second)
	}
}

func (c *client) once(ctx context.Context, method, path string, payload []byte, out any) *apiError {
	var rd io.Reader
	if payload != nil {
		rd = strings.NewReader(string(payload))
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return &apiError{method: method, path: path, err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return &apiError{method: method, path: path, err: err}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return &apiError{method: method, path: path, err: err}
	}
	if res.StatusCode/100 != 2 {
		return &apiError{method: method, path: path, status: res.StatusCode, body: string(b[:min(len(b), 300)])}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return &apiError{method: method, path: path, status: res.StatusCode, body: "undecodable answer: " + err.Error()}
		}
	}
	return nil
}

// listTargets returns every target of the outdial, page by page.
func (c *client) listTargets(ctx context.Context, outdialID string) ([]*outdial.Target, error) {
	var all []*outdial.Target
	token := ""
	for {
		path := "/v1.0/outdials/" + outdialID + "/targets?page_size=100"
		if token != "" {
			path += "&page_token=" + token
		}
		var page struct {
			Result        []*outdial.Target `json:"result"`
			NextPageToken string            `json:"next_page_token"`
		}
		if err := c.do(ctx, "GET", path, nil, &page); err != nil {
			return all, err
		}
		all = append(all, page.Result...)
		if page.NextPageToken == "" {
			return all, nil
		}
		token = page.NextPageToken
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
	case <-tm.C:
	}
}

// serviceLog reads the functions' JSON log (one record a line) as it is
// written and keeps what the checks need: how the outcome processor
// applied each delivery, and warnings and errors.
type serviceLog struct {
	mu               sync.Mutex
	applied, stale   int64
	warnings, errors int64
	firstError       string
	firstWarnings    []string
	done             chan struct{}
}

type logStats struct {
	applied, stale, warnings, errors int64
	firstError                       string
	firstWarnings                    []string
}

func (l *serviceLog) read(r io.Reader) {
	defer close(l.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		l.mu.Lock()
		switch {
		case strings.Contains(line, `"effect":"applied"`):
			l.applied++
		case strings.Contains(line, `"effect":"stale"`):
			l.stale++
		case strings.Contains(line, `"level":"ERROR"`):
			l.errors++
			if l.firstError == "" {
				l.firstError = line[:min(len(line), 500)]
			}
		case strings.Contains(line, `"level":"WARN"`):
			l.warnings++
			if len(l.firstWarnings) < 5 {
				l.firstWarnings = append(l.firstWarnings, line[:min(len(line), 500)])
			}
		}
		l.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

func (l *serviceLog) stats() logStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return logStats{applied: l.applied, stale: l.stale, warnings: l.warnings, errors: l.errors, firstError: l.firstError,
		firstWarnings: append([]string(nil), l.firstWarnings...)}
}

// startStack starts the local stack on the test binary's DynamoDB Local (a
// table of its own; through double, when not nil) and an SQS stand-in of
// its own, and stops it when the test ends. What the stack logs goes to a serviceLog as it is written,
// and is not kept otherwise (a line per outcome).
func startStack(t *testing.T, double *ddbdouble.Double) (*localrun.Stack, *serviceLog) {
	t.Helper()
	logs := &serviceLog{done: make(chan struct{})}
	r, w := io.Pipe()
	go logs.read(r)
	// Registered first, so it runs last: after the stack has stopped.
	t.Cleanup(func() {
		w.Close()
		<-logs.done
	})
	st := localruntest.Start(t, localruntest.Options{Prefix: "loadtest", Tee: w, DiscardLogs: true, Double: double})
	return st.Stack, logs
}

// loadAvg returns the 1, 5 and 15 minute load averages of the machine
// ("?" where they cannot be read): figures from a busy machine are low.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
