package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/api"
	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/outdial"
)

// contentionConfig is one contention run: Targets targets in one outdial,
// Claimers dialers claiming Limit at a time, and outcomes applied through
// outcome.Processor.Handle in SQS batches of Batch from N concurrent
// batches, everything through the DynamoDB double at its defaults.
type contentionConfig struct {
	Targets  int
	Claimers int
	Limit    int
	Batch    int
	Outcomes int           // outcomes applied before the claimers stop
	Lease    time.Duration // lease of every claim
}

// contentionResult is one `contention` line.
type contentionResult struct {
	N                  int
	Applied            int
	Elapsed            time.Duration
	Transactions       int // claims and outcomes: transactions and single writes sent
	Conflicts          int // of them, cancelled or refused for a transaction conflict
	OutcomeRequests    int
	OutcomeWriteUnits  float64
	Batches            int // outcome batches handed to the processor
	Redelivered        int
	ExpiredInLease     int
	ClaimErrors        int
	ClaimErrorExamples []string
	Discrepancies      []string

	ClaimStats, OutcomeStats, SweepStats ddbdouble.Stats // what the double saw, by path
	ClaimLatency                         []time.Duration
}

// Line is the result in the form the issue fixes.
func (r contentionResult) Line() string {
	pct := 0.0
	if r.Transactions > 0 {
		pct = 100 * float64(r.Conflicts) / float64(r.Transactions)
	}
	perOutcome := func(v float64) float64 {
		if r.Applied == 0 {
			return 0
		}
		return v / float64(r.Applied)
	}
	return fmt.Sprintf("contention n=%d outcomes_per_s=%.0f cancelled_pct=%.2f requests_per_outcome=%.3f wru_per_outcome=%.2f redelivered=%d expired_in_lease=%d claim_errors=%d discrepancies=%d",
		r.N, float64(r.Applied)/r.Elapsed.Seconds(), pct, perOutcome(float64(r.OutcomeRequests)), perOutcome(r.OutcomeWriteUnits),
		r.Redelivered, r.ExpiredInLease, r.ClaimErrors, len(r.Discrepancies))
}

// Tags of the double's counters.
const (
	tagSetup   = "setup"
	tagClaim   = "claim"
	tagOutcome = "outcome"
	tagCheck   = "check"
	tagSweep   = "sweep"
)

// sentOutcome is one attempt of the run and what the dialer reports.
type sentOutcome struct {
	TargetID, AttemptID string
	Result              outdial.Result
	LeaseUntil          time.Time
	FirstSent           time.Time
}

// contentionRun is the state of one run.
type contentionRun struct {
	cfg      contentionConfig
	n        int
	double   *ddbdouble.Double
	client   *dynamodb.Client // through the double
	table    string
	customer string
	outdial  string
	log      *slog.Logger

	queue       chan *sentOutcome // outcomes of the claimers' claims (and redeliveries)
	backlog     chan *sentOutcome // outcomes of the targets claimed before the run
	outstanding atomic.Int64      // claimed by the claimers, not yet applied
	claimed     atomic.Int64      // claimed by the claimers
	claimLat    []time.Duration
	applied     atomic.Int64
	batches     atomic.Int64 // batches handed to the processor
	redelivered atomic.Int64
	claimErrs   atomic.Int64

	runStart time.Time // when the backlog was sent

	mu       sync.Mutex
	attempts []*sentOutcome // in claim order
	errs     []string
}

// instance is what one Lambda execution environment has: its own store
// (with the store's in-process state) on the shared client.
func (c *contentionRun) instance() *dynamo.Store { return dynamo.New(c.client, c.table) }

// request builds an API Gateway event of the run's customer.
func (c *contentionRun) request(outdialID, body string) apigw.Request {
	req := apigw.Request{Headers: map[string]string{"content-type": "application/json"}, Body: body}
	req.RequestContext.RequestID = uuid.NewString()
	req.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		Lambda: map[string]any{"customer_id": c.customer},
	}
	if outdialID != "" {
		req.PathParameters = map[string]string{"id": outdialID}
	}
	return req
}

// resultFor is the result the simulated dialer reports for a target: the
// bench's usual mix (4 answered, 2 busy, 2 no_answer, 1 failed, 1 invalid
// in 10), by a hash of the target id.
func resultFor(targetID string) outdial.Result {
	h := fnv.New32a()
	h.Write([]byte(targetID))
	return outcomeResults[h.Sum32()%uint32(len(outcomeResults))]
}

// runContention runs one contention measurement with n concurrent outcome
// batches on a fresh outdial and returns its line's figures.
func runContention(ctx context.Context, base *dynamodb.Client, table string, cfg contentionConfig, n int, progress io.Writer) (contentionResult, error) {
	d := ddbdouble.New(nil, ddbdouble.DefaultConfig())
	c := &contentionRun{
		cfg: cfg, n: n, double: d, table: table, customer: uuid.NewString(),
		client:  dynamodb.New(base.Options(), dynamo.ClientOptions, func(o *dynamodb.Options) { o.HTTPClient = d.Client() }),
		log:     slog.New(slog.NewJSONHandler(io.Discard, nil)),
		queue:   make(chan *sentOutcome, cfg.Targets+cfg.Claimers*cfg.Limit),
		backlog: make(chan *sentOutcome, cfg.Outcomes),
	}
	res := contentionResult{N: n}

	// Set-up, through the double so that it knows the items' sizes.
	setup := ddbdouble.WithTag(ctx, tagSetup)
	h := &api.Handlers{Store: c.instance(), Log: c.log, Now: time.Now}
	resp, err := h.CreateOutdial(setup, c.request("", `{"name":"contention"}`))
	if err != nil || resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("create outdial: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	var od struct{ ID string }
	_ = json.Unmarshal([]byte(resp.Body), &od)
	c.outdial = od.ID
	for done := 0; done < cfg.Targets; done += 10000 {
		k := min(10000, cfg.Targets-done)
		resp, err := h.AddTargets(setup, c.request(c.outdial, contentionTargets(done, k)))
		if err != nil || resp.StatusCode != http.StatusOK {
			return res, fmt.Errorf("import: %d %.300s %v", resp.StatusCode, resp.Body, err)
		}
	}
	// The backlog: cfg.Outcomes targets claimed before the run, whose
	// outcomes wait in the queue, so that the feeders have full batches
	// from the start (the set-up: outcomes fed in batches of 25 by
	// N concurrent batches while the claimers claim).
	// The claimers' stores (their processes) claim it, in turns, so that
	// it is taken evenly from the shards each claimer starts from.
	claimerStores := make([]*dynamo.Store, cfg.Claimers)
	for i := range claimerStores {
		claimerStores[i] = c.instance()
	}
	var backlog []*sentOutcome
	for i := 0; len(backlog) < cfg.Outcomes; i++ {
		pre := claimerStores[i%len(claimerStores)]
		claims, err := pre.ClaimTargets(setup, c.customer, c.outdial, min(outdial.MaxClaimLimit, cfg.Outcomes-len(backlog)), 10*time.Minute)
		if err != nil {
			return res, fmt.Errorf("claim the backlog: %w", err)
		}
		if len(claims) == 0 {
			return res, fmt.Errorf("claim the backlog: only %d targets due", len(backlog))
		}
		for _, cl := range claims {
			backlog = append(backlog, &sentOutcome{TargetID: cl.Target.ID, AttemptID: cl.AttemptID, Result: resultFor(cl.Target.ID), LeaseUntil: cl.LeaseExpire.Time})
		}
	}
	fmt.Fprintf(progress, "bench: contention n=%d: %d targets imported, %d claimed for the backlog; %d claimers, %d concurrent outcome batches\n",
		n, cfg.Targets, len(backlog), cfg.Claimers, n)

	// The campaign: feeders apply the backlog while the claimers claim (and
	// their outcomes go first); once the backlog is applied the claimers
	// stop and the feeders drain what they claimed.
	start := time.Now()
	c.mu.Lock()
	c.attempts = append(c.attempts, backlog...)
	c.mu.Unlock()
	c.runStart = start
	for _, o := range backlog {
		o.FirstSent = start
		c.backlog <- o
	}
	stopClaims := make(chan struct{})
	var claimers, feeders sync.WaitGroup
	for _, st := range claimerStores {
		claimers.Add(1)
		go func() { defer claimers.Done(); c.claimer(ctx, st, stopClaims) }()
	}
	feedCtx, stopFeeding := context.WithCancel(ctx)
	defer stopFeeding()
	batches := make(chan []*sentOutcome)
	feeders.Add(1)
	go func() { defer feeders.Done(); c.batcher(feedCtx, batches) }()
	for i := 0; i < n; i++ {
		feeders.Add(1)
		go func() { defer feeders.Done(); c.feeder(feedCtx, batches) }()
	}
	// The lease sweep, as the schedule runs it (more often here, so that
	// an early expiry would show within a run).
	feeders.Add(1)
	go func() { defer feeders.Done(); c.sweeper(feedCtx) }()
	for (len(c.backlog) > 0 || c.applied.Load() < int64(cfg.Outcomes)) && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	close(stopClaims)
	claimers.Wait()
	// Every attempt handed out (the backlog's and the claimers') applied.
	for ctx.Err() == nil {
		c.mu.Lock()
		all := int64(len(c.attempts))
		c.mu.Unlock()
		if c.applied.Load() >= all {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	res.Elapsed = time.Since(start)
	stopFeeding()
	feeders.Wait()
	if err := ctx.Err(); err != nil {
		return res, err
	}

	claim := d.Stats(tagClaim)
	out := d.Stats(tagOutcome)
	res.Applied = int(c.applied.Load())
	res.Transactions = claim.Transactions + claim.SingleWrites + out.Transactions + out.SingleWrites
	res.Conflicts = claim.Conflicts() + out.Conflicts()
	res.OutcomeRequests = out.Total()
	res.OutcomeWriteUnits = out.WriteUnits
	res.Redelivered = int(c.redelivered.Load())
	res.Batches = int(c.batches.Load())
	res.ClaimErrors = int(c.claimErrs.Load())
	res.ClaimErrorExamples = c.errs
	res.ClaimStats, res.OutcomeStats, res.SweepStats = claim, out, d.Stats(tagSweep)
	res.ClaimLatency = c.claimLat

	// Item by item against the model.
	res.Discrepancies, res.ExpiredInLease, err = c.check(ddbdouble.WithTag(ctx, tagCheck))
	return res, err
}

// contentionTargets returns an import body of k tel targets numbered from
// first.
func contentionTargets(first, k int) string {
	var b strings.Builder
	b.WriteString(`{"targets":[`)
	for i := first; i < first+k; i++ {
		if i > first {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"destination":{"type":"tel","target":"+1 555 %03d %04d"},"name":"contention %d"}`, 300+i/10000, i%10000, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

// claimer is one dialer: it claims while fewer than two claims' worth per
// claimer are claimed and not yet reported, so that the claims keep pace
// with the feeders.
func (c *contentionRun) claimer(ctx context.Context, store *dynamo.Store, stop <-chan struct{}) {
	h := &api.Handlers{Store: store, Log: c.log, Now: time.Now}
	ctx = ddbdouble.WithTag(ctx, tagClaim)
	bound := int64(2 * c.cfg.Claimers * c.cfg.Limit)
	body := fmt.Sprintf(`{"limit":%d,"lease_seconds":%d}`, c.cfg.Limit, int(c.cfg.Lease.Seconds()))
	for {
		select {
		case <-stop:
			return
		default:
		}
		if c.claimed.Load() >= int64(c.cfg.Outcomes/3) {
			return // enough claimed: the list must not run dry, or the claimers would race for its last targets
		}
		if c.outstanding.Load() >= bound {
			time.Sleep(2 * time.Millisecond)
			continue
		}
		// As API Gateway would: the claim function's 10 s timeout.
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		began := time.Now()
		resp, err := h.ClaimTargets(cctx, c.request(c.outdial, body))
		took := time.Since(began)
		cancel()
		c.mu.Lock()
		c.claimLat = append(c.claimLat, took)
		c.mu.Unlock()
		if err != nil || resp.StatusCode >= 500 {
			c.claimErrs.Add(1)
			c.mu.Lock()
			if len(c.errs) < 5 {
				c.errs = append(c.errs, fmt.Sprintf("%d %.200s %v", resp.StatusCode, resp.Body, err))
			}
			c.mu.Unlock()
			continue
		}
		if resp.StatusCode != http.StatusOK {
			continue
		}
		var got struct {
			Result []struct {
				AttemptID     string `json:"attempt_id"`
				TMLeaseExpire string `json:"tm_lease_expire"`
				Target        struct {
					ID string `json:"id"`
				} `json:"target"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(resp.Body), &got); err != nil {
			continue
		}
		if len(got.Result) == 0 {
			time.Sleep(20 * time.Millisecond) // nothing due: poll again later
			continue
		}
		now := time.Now()
		for _, r := range got.Result {
			until, _ := time.Parse(time.RFC3339Nano, r.TMLeaseExpire)
			o := &sentOutcome{TargetID: r.Target.ID, AttemptID: r.AttemptID, Result: resultFor(r.Target.ID), LeaseUntil: until, FirstSent: now}
			c.mu.Lock()
			c.attempts = append(c.attempts, o)
			c.mu.Unlock()
			c.outstanding.Add(1)
			c.claimed.Add(1)
			c.queue <- o
		}
	}
}

// batchWindow is the outcome queue's batching window in template.yaml.
const batchWindow = time.Second

// batcher is the event source mapping: it gathers outcomes into batches
// of Batch (sending a smaller one when the first outcome has waited
// batchWindow) and hands each to a free feeder.
func (c *contentionRun) batcher(ctx context.Context, batches chan<- []*sentOutcome) {
	for {
		var batch []*sentOutcome
		var window <-chan time.Time
		for len(batch) < c.cfg.Batch {
			// window is nil (never ready) until the batch has its first
			// outcome; when it fires, the batch goes as it is. (It used
			// to be received here and then looked for again, in vain: a
			// partial batch waited for outcomes that never came, and the
			// run hung.)
			select {
			case <-ctx.Done():
				return
			case o := <-c.queue:
				batch = append(batch, o)
			case o := <-c.backlog:
				batch = append(batch, o)
			case <-window:
				goto send
			}
			if len(batch) == 1 && window == nil {
				window = time.After(batchWindow)
			}
		}
	send:
		select {
		case <-ctx.Done():
			return
		case batches <- batch:
		}
	}
}

// feeder is one concurrent invocation of the outcome processor: it applies
// the batches the batcher hands it with its own processor (its own
// process), and puts the messages the processor reported as failed back
// (SQS would deliver them again after the visibility timeout).
func (c *contentionRun) feeder(ctx context.Context, batches <-chan []*sentOutcome) {
	p := &outcome.Processor{Store: c.instance(), Log: c.log}
	tctx := ddbdouble.WithTag(ctx, tagOutcome)
	for {
		var batch []*sentOutcome
		select {
		case <-ctx.Done():
			return
		case batch = <-batches:
		}
		c.batches.Add(1)
		ev := events.SQSEvent{}
		byID := map[string]*sentOutcome{}
		for i, o := range batch {
			body, _ := json.Marshal(outcome.Message{AttemptID: o.AttemptID, OutdialID: c.outdial, TargetID: o.TargetID, Result: string(o.Result)})
			id := strconv.Itoa(i)
			byID[id] = o
			ev.Records = append(ev.Records, events.SQSMessage{MessageId: id, Body: string(body)})
		}
		// As Lambda would: the processor's 20 s timeout.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(tctx), 20*time.Second)
		resp, _ := p.Handle(hctx, ev)
		cancel()
		failed := map[string]bool{}
		for _, f := range resp.BatchItemFailures {
			failed[f.ItemIdentifier] = true
		}
		c.redelivered.Add(int64(len(failed)))
		for id, o := range byID {
			if failed[id] {
				c.queue <- o
				continue
			}
			c.applied.Add(1)
			if !o.FirstSent.Equal(c.runStart) {
				c.outstanding.Add(-1) // a claimer's
			}
		}
	}
}

// sweeper runs the lease sweep every 5 s until ctx is done.
func (c *contentionRun) sweeper(ctx context.Context) {
	s := c.instance()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = s.ExpireLeases(ddbdouble.WithTag(ctx, tagSweep))
		}
	}
}

// attemptsOf describes the attempts of a target: the ones claim answers
// named, and the one stored.
func (c *contentionRun) attemptsOf(ctx context.Context, targetID string) string {
	var named []string
	for _, a := range c.attempts {
		if a.TargetID == targetID {
			named = append(named, a.AttemptID)
		}
	}
	stored := "?"
	res, err := c.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: &c.table, ConsistentRead: aws.Bool(true), Key: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: fmt.Sprintf("OUTDIAL#%s#%02d", c.outdial, dynamo.ShardOf(targetID))},
		"SK": &types.AttributeValueMemberS{Value: "TARGET#" + targetID},
	}})
	if err == nil {
		if a, ok := res.Item["attempt_id"].(*types.AttributeValueMemberS); ok {
			stored = a.Value
		}
	}
	return fmt.Sprintf("claim answers named %v, the target holds %s", named, stored)
}

// check compares every target and the outdial's counts with the model:
// each attempt's outcome applied once, in claim order. It returns the
// discrepancies found, and how many attempts were recorded as expired
// although their outcome was sent before the lease ended.
func (c *contentionRun) check(ctx context.Context) ([]string, int, error) {
	type state struct {
		status outdial.Status
		tries  int
	}
	model := map[string]*state{}
	expiredInTime := map[string]bool{}
	for _, a := range c.attempts {
		st := model[a.TargetID]
		if st == nil {
			st = &state{}
			model[a.TargetID] = st
		}
		plan, err := outdial.ParseAttemptID(a.AttemptID)
		if err != nil {
			return nil, 0, err
		}
		st.status = plan.Apply(a.Result).Status
		st.tries++
		if a.FirstSent.Before(a.LeaseUntil) {
			expiredInTime[a.TargetID] = true
		}
	}
	store := c.instance()
	var discrepancies []string
	var want outdial.Counts
	expiredInLease := 0
	seen := 0
	page := outdial.Page{Size: 100}
	for {
		targets, next, err := store.ListTargets(ctx, c.customer, c.outdial, outdial.TargetFilter{}, page)
		if err != nil {
			return nil, 0, err
		}
		for _, t := range targets {
			seen++
			st := model[t.ID]
			if st == nil {
				st = &state{status: outdial.StatusIdle}
			}
			switch st.status {
			case outdial.StatusIdle:
				want.Idle++
				if st.tries > 0 {
					want.Retry++
				}
			case outdial.StatusFinished:
				want.Finished++
			case outdial.StatusFailed:
				want.Failed++
			}
			if t.LastResult == outdial.ResultExpired && expiredInTime[t.ID] {
				expiredInLease++
			}
			if t.Status != st.status || t.TryCountCurrent != st.tries {
				discrepancies = append(discrepancies, fmt.Sprintf("target %s: %s after %d tries, model %s after %d; %s", t.ID, t.Status, t.TryCountCurrent, st.status, st.tries, c.attemptsOf(ctx, t.ID)))
			}
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if seen != c.cfg.Targets {
		discrepancies = append(discrepancies, fmt.Sprintf("listed %d targets, imported %d", seen, c.cfg.Targets))
	}
	o, err := store.GetOutdial(ctx, c.customer, c.outdial)
	if err != nil {
		return nil, 0, err
	}
	if o.Counts != want {
		discrepancies = append(discrepancies, fmt.Sprintf("counts %+v, model %+v", o.Counts, want))
	}
	return discrepancies, expiredInLease, nil
}

// contentionLines runs one contention measurement per N of cfg.Contention
// and returns their lines (and, for a run with discrepancies or claim
// errors, lines with examples).
func contentionLines(ctx context.Context, base *dynamodb.Client, table string, cfg config, progress io.Writer) ([]string, error) {
	var lines []string
	for _, f := range strings.Split(cfg.Contention, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return lines, fmt.Errorf("-contention: %q is not a positive number", f)
		}
		r, err := runContention(ctx, base, table, contentionConfig{
			Targets: 10000, Claimers: 16, Limit: 25, Batch: 25, Outcomes: cfg.ContentionOutcomes, Lease: 120 * time.Second,
		}, n, progress)
		if err != nil {
			return lines, fmt.Errorf("contention n=%d: %w", n, err)
		}
		lines = append(lines, r.Line())
		fmt.Fprintln(progress, "bench: "+r.Line())
		sort.Slice(r.ClaimLatency, func(i, j int) bool { return r.ClaimLatency[i] < r.ClaimLatency[j] })
		if n := len(r.ClaimLatency); n > 0 {
			fmt.Fprintf(progress, "bench:   %d claims: p50 %s, p99 %s, max %s; %d outcomes applied in %s\n", n,
				r.ClaimLatency[n/2].Round(time.Millisecond), r.ClaimLatency[n*99/100].Round(time.Millisecond), r.ClaimLatency[n-1].Round(time.Millisecond),
				r.Applied, r.Elapsed.Round(time.Millisecond))
		}
		fmt.Fprintf(progress, "bench:   outcomes in %d batches (%.1f each); outcome requests %v, %.1f write units\n",
			r.Batches, float64(r.Applied+r.Redelivered)/float64(max(r.Batches, 1)), r.OutcomeStats.Requests, r.OutcomeStats.WriteUnits)
		fmt.Fprintf(progress, "bench:   conflicts: claims %d+%d of %d transactions and writes, outcomes %d of %d, sweep %d; claim requests %v\n",
			r.ClaimStats.TransactionConflicts, r.ClaimStats.WriteConflicts, r.ClaimStats.Transactions+r.ClaimStats.SingleWrites,
			r.OutcomeStats.Conflicts(), r.OutcomeStats.Transactions+r.OutcomeStats.SingleWrites, r.SweepStats.Conflicts(), r.ClaimStats.Requests)
		for i, d := range r.Discrepancies {
			if i == 5 {
				lines = append(lines, fmt.Sprintf("  ... %d more discrepancies", len(r.Discrepancies)-5))
				break
			}
			lines = append(lines, "  discrepancy: "+d)
		}
		for _, e := range r.ClaimErrorExamples {
			lines = append(lines, "  claim error: "+e)
		}
	}
	return lines, nil
}
