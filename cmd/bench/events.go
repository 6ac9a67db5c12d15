package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/ddbdouble"
	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/publish"
	"github.com/outdial/outdial/internal/webhook"
)

// The events measurement (issue 15): the whole local stack of `make run`
// (internal/localrun: the HTTP API, the SQS pollers, the stream poller
// feeding publish-events, the FIFO delivery queue on fauxqs feeding
// deliver-webhooks) on the bench's DynamoDB Local, with a webhook receiver
// on 127.0.0.1 that verifies every delivery (webhook.VerifyRequest) and
// dedupes events by id.
//
// Every function's DynamoDB requests go through the DynamoDB double
// (internal/ddbdouble) with no latency, no throttling and no item locks:
// only its counters, which tag each request with the function that sent
// it (requests by operation, write units from item sizes, read units as
// DynamoDB Local reports them). A reader of its own counts the table's
// stream records (outdial heads, targets, other items).
//
// Two customers run the same campaign, one after the other: first one
// without a webhook (which also warms the stack up), then one with a
// webhook subscribed to every event type. Each creates an outdial, imports
// N targets (try_count_max 1), claims them all (100 at a time) and sends
// one outcome per target on the outcome queue at a steady rate (3 in 5
// answered, 1 no_answer, 1 invalid: all final, so the last one completes
// the outdial). After each phase the bench waits for the phase's events
// (with the webhook), for the outcomes to be applied, and for the stream
// to go quiet, and takes the counters' difference.
//
// Figures: the latency from each outcome's SendMessage to the receiver's
// arrival of that target's outdial_target_updated (p50/p95); events per
// outcome; deliveries per event; publish-events' requests, read and write
// units per event; and process-outcomes' requests and write units per
// outcome with the webhook and without, which must be the same.

// eventsSettle is how long the stream and the publisher must stay quiet
// before a phase counts as over.
const eventsSettle = time.Second

// eventsWait bounds each wait of the measurement.
const eventsWait = 90 * time.Second

// recordCounts counts stream records by what they are.
type recordCounts struct {
	Outdial, Target, Other int
}

func (r recordCounts) Total() int { return r.Outdial + r.Target + r.Other }

func (r recordCounts) sub(b recordCounts) recordCounts {
	return recordCounts{r.Outdial - b.Outdial, r.Target - b.Target, r.Other - b.Other}
}

// eventsPhase is what one phase of one customer cost.
type eventsPhase struct {
	Name       string
	Events     int   // distinct events the receiver got
	Deliveries int   // POSTs the receiver got (retries included)
	Sizes      []int // events per delivery
	Records    recordCounts
	Pub        ddbdouble.Stats // publish-events
	Deliver    ddbdouble.Stats // deliver-webhooks
	Proc       ddbdouble.Stats // process-outcomes
	Wall       time.Duration
}

// eventsResult is the whole measurement.
type eventsResult struct {
	N          int
	Rate       float64
	StartUp    time.Duration
	Wall       time.Duration
	Without    []eventsPhase // import, claims, outcomes of the customer without a webhook
	With       []eventsPhase // the same with a webhook
	Latency    []time.Duration
	Completed  int  // outdial_completed events
	ImportOnly bool // only the import of the customer with a webhook was run
	ByType     map[events.Type]int
	Duplicates int // events received again (same id)
	Unverified int // deliveries whose signature did not verify
	Started    time.Time
}

// benchReceiver is the webhook: it verifies, dedupes and notes arrivals.
type benchReceiver struct {
	secret string

	mu         sync.Mutex
	seen       map[string]bool
	deliveries int
	sizes      []int
	events     int
	duplicates int
	unverified int
	byType     map[events.Type]int
	final      map[string]time.Time // target id -> arrival of its update out of dialing
	dialing    int
}

func newBenchReceiver() *benchReceiver {
	return &benchReceiver{seen: map[string]bool{}, byType: map[events.Type]int{}, final: map[string]time.Time{}}
}

func (r *benchReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := webhook.VerifyRequest(r.secret, req.Header, body, at, 0); err != nil {
		r.unverified++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var b events.Body
	if err := json.Unmarshal(body, &b); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.deliveries++
	r.sizes = append(r.sizes, len(b.Events))
	for _, e := range b.Events {
		if r.seen[e.ID] {
			r.duplicates++
			continue
		}
		r.seen[e.ID] = true
		r.events++
		r.byType[e.Type]++
		if e.Type != events.TargetUpdated {
			continue
		}
		var t struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		}
		_ = json.Unmarshal(e.Data, &t)
		switch t.Status {
		case "dialing":
			r.dialing++
		case "finished", "failed":
			if _, ok := r.final[t.ID]; !ok {
				r.final[t.ID] = at
			}
		}
	}
	w.WriteHeader(http.StatusOK)
}

// receiverSnap is the receiver's counters at one moment.
type receiverSnap struct{ deliveries, events int }

func (r *benchReceiver) snap() receiverSnap {
	r.mu.Lock()
	defer r.mu.Unlock()
	return receiverSnap{r.deliveries, r.events}
}

func (r *benchReceiver) count(f func(*benchReceiver) int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f(r)
}

// recordCounter counts the table's stream records, read by a stream
// poller of its own.
type recordCounter struct {
	mu sync.Mutex
	c  recordCounts
}

func (rc *recordCounter) handle(_ context.Context, ev awsevents.DynamoDBEvent) (awsevents.DynamoDBEventResponse, error) {
	var c recordCounts
	for _, r := range ev.Records {
		rec, err := publish.FromLambda(r)
		if err != nil {
			c.Other++
			continue
		}
		ch, err := dynamo.DecodeChange(rec.Op, rec.Old, rec.New, time.Now())
		switch {
		case err != nil:
			c.Other++
		case ch.Kind == dynamo.KindOutdial:
			c.Outdial++
		case ch.Kind == dynamo.KindTarget:
			c.Target++
		default:
			c.Other++
		}
	}
	rc.mu.Lock()
	rc.c.Outdial += c.Outdial
	rc.c.Target += c.Target
	rc.c.Other += c.Other
	rc.mu.Unlock()
	return awsevents.DynamoDBEventResponse{}, nil
}

func (rc *recordCounter) get() recordCounts {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.c
}

// eventsBench is the running measurement.
type eventsBench struct {
	st       *localrun.Stack
	double   *ddbdouble.Double
	rv       *benchReceiver
	records  *recordCounter
	sqs      *sqs.Client
	http     *http.Client
	n        int
	rate     float64
	progress io.Writer
	// importOnly stops after the import of the customer with a webhook.
	importOnly bool
}

func (b *eventsBench) progressf(format string, args ...any) {
	fmt.Fprintf(b.progress, "bench: events: "+format+"\n", args...)
}

// runEvents runs the events measurement on the DynamoDB Local at endpoint.
func runEvents(ctx context.Context, cfg config, root, endpoint string, progress io.Writer) (_ *eventsResult, err error) {
	res := &eventsResult{N: cfg.EventsTargets, Rate: cfg.EventsRate, Started: time.Now()}
	b := &eventsBench{
		double:     ddbdouble.New(nil, ddbdouble.Config{NoConflicts: true}),
		rv:         newBenchReceiver(),
		records:    &recordCounter{},
		http:       &http.Client{Timeout: 60 * time.Second},
		n:          cfg.EventsTargets,
		rate:       cfg.EventsRate,
		importOnly: cfg.EventsImport,
		progress:   progress,
	}

	// The receiver.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: b.rv, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	hookURI := "http://" + ln.Addr().String() + "/hook"

	// The stack. Its functions log JSON to standard output, as in Lambda,
	// one line per request and outcome: they are built while standard
	// output points at /dev/null, so the report stays clean.
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	table := "bench-events-" + hex.EncodeToString(suffix)
	b.progressf("starting the local stack (table %s, fauxqs, every function through the DynamoDB double's counters)", table)
	start := time.Now()
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	saved := os.Stdout
	os.Stdout = devnull
	st, err := localrun.Start(ctx, localrun.Options{
		Root: root, Addr: "127.0.0.1:0", TableName: table, DynamoDBEndpoint: endpoint,
		SQSEndpoint:        os.Getenv(localstack.EnvSQSEndpoint),
		DynamoDBHTTPClient: b.double.Client(),
		Log:                slog.New(slog.NewTextHandler(progress, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	os.Stdout = saved
	if err != nil {
		return nil, fmt.Errorf("start the local stack: %w", err)
	}
	b.st = st
	defer func() {
		st.Close()
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if client, cerr := localstack.DynamoDBClient(dctx, endpoint); cerr == nil {
			if _, derr := client.DeleteTable(dctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); derr != nil && err == nil {
				err = fmt.Errorf("delete table %s: %w", table, derr)
			}
		}
	}()
	res.StartUp = time.Since(start)
	if b.sqs, err = localstack.SQSClient(ctx, st.SQSEndpoint); err != nil {
		return nil, err
	}

	// The bench's own reader of the stream.
	counterFn := &localrun.Function{Name: "bench-stream-counter", Timeout: 30 * time.Second, Handler: lambda.NewHandler(b.records.handle)}
	sp, err := localrun.NewStreamPoller(ctx, endpoint, table, counterFn, 1000, 0, slog.New(slog.NewTextHandler(progress, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		return nil, err
	}
	spCtx, stopSP := context.WithCancel(ctx)
	spDone := make(chan struct{})
	go func() { defer close(spDone); sp.Run(spCtx) }()
	defer func() { stopSP(); <-spDone }()

	// The customer without a webhook first: it warms the stack up too.
	if !b.importOnly {
		b.progressf("customer without a webhook: %d targets, outcomes at %.0f/s", b.n, b.rate)
		if res.Without, _, err = b.campaign(ctx, uuid.NewString(), false); err != nil {
			return nil, fmt.Errorf("without a webhook: %w", err)
		}
	}

	// The customer with a webhook.
	customer := uuid.NewString()
	tok, err := st.Token(customer, time.Hour)
	if err != nil {
		return nil, err
	}
	var put struct {
		Secret string `json:"secret"`
	}
	if err := b.call(ctx, "PUT", "/v1.0/webhook", tok, fmt.Sprintf(`{"uri":%q}`, hookURI), &put); err != nil {
		return nil, err
	}
	b.rv.mu.Lock()
	b.rv.secret = put.Secret
	b.rv.mu.Unlock()
	b.progressf("customer with a webhook: %d targets, outcomes at %.0f/s", b.n, b.rate)
	var sent map[string]time.Time
	if res.With, sent, err = b.campaign(ctx, customer, true); err != nil {
		return nil, fmt.Errorf("with a webhook: %w", err)
	}

	b.rv.mu.Lock()
	for id, at := range b.rv.final {
		if s, ok := sent[id]; ok {
			res.Latency = append(res.Latency, at.Sub(s))
		}
	}
	res.Completed = b.rv.byType[events.OutdialCompleted]
	res.ByType = map[events.Type]int{}
	for k, v := range b.rv.byType {
		res.ByType[k] = v
	}
	res.Duplicates, res.Unverified = b.rv.duplicates, b.rv.unverified
	b.rv.mu.Unlock()
	res.ImportOnly = b.importOnly
	if len(res.Latency) != b.n && !b.importOnly {
		return nil, fmt.Errorf("latency of %d outcomes, want %d", len(res.Latency), b.n)
	}
	if res.Unverified > 0 {
		return nil, fmt.Errorf("%d deliveries did not verify with the secret PUT answered", res.Unverified)
	}
	res.Wall = time.Since(res.Started)
	return res, nil
}

// campaign runs one customer's outdial: create, import, claim, outcomes.
// It returns the phases (import, claims, outcomes) and when each target's
// outcome was sent.
func (b *eventsBench) campaign(ctx context.Context, customer string, hooked bool) ([]eventsPhase, map[string]time.Time, error) {
	tok, err := b.st.Token(customer, time.Hour)
	if err != nil {
		return nil, nil, err
	}
	var od struct {
		ID string `json:"id"`
	}
	if err := b.call(ctx, "POST", "/v1.0/outdials", tok, `{"name":"bench events"}`, &od); err != nil {
		return nil, nil, err
	}
	if hooked {
		if err := b.waitFor(ctx, "outdial_created", func() bool {
			return b.rv.count(func(r *benchReceiver) int { return r.byType[events.OutdialCreated] }) >= 1
		}); err != nil {
			return nil, nil, err
		}
	}
	if err := b.settle(ctx); err != nil {
		return nil, nil, err
	}
	base := "/v1.0/outdials/" + od.ID
	var phases []eventsPhase
	measure := func(name string, act func() error, done func() bool) error {
		before, rs, rc, start := b.stats(), b.rv.snap(), b.records.get(), time.Now()
		nSizes := b.rv.count(func(r *benchReceiver) int { return len(r.sizes) })
		if err := act(); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := b.waitFor(ctx, name, done); err != nil {
			return err
		}
		if err := b.settle(ctx); err != nil {
			return err
		}
		after, ra := b.stats(), b.rv.snap()
		ph := eventsPhase{
			Name: name, Events: ra.events - rs.events, Deliveries: ra.deliveries - rs.deliveries,
			Records: b.records.get().sub(rc),
			Pub:     after["publish-events"].Sub(before["publish-events"]),
			Deliver: after["deliver-webhooks"].Sub(before["deliver-webhooks"]),
			Proc:    after["process-outcomes"].Sub(before["process-outcomes"]),
			Wall:    time.Since(start),
		}
		b.rv.mu.Lock()
		ph.Sizes = append([]int(nil), b.rv.sizes[nSizes:]...)
		b.rv.mu.Unlock()
		phases = append(phases, ph)
		return nil
	}

	// Import.
	if err := measure("import", func() error {
		// Requests of up to eventImportChunk targets, one after the
		// other, as a client imports a large list.
		for from := 0; from < b.n; from += eventImportChunk {
			n := min(eventImportChunk, b.n-from)
			var imp struct {
				Created int `json:"created"`
			}
			if err := b.call(ctx, "POST", base+"/targets", tok, eventTargetsBody(from, n), &imp); err != nil {
				return err
			}
			if imp.Created != n {
				return fmt.Errorf("created %d targets, want %d", imp.Created, n)
			}
		}
		return nil
	}, func() bool {
		return !hooked || b.rv.count(func(r *benchReceiver) int { return r.byType[events.TargetCreated] }) >= b.n
	}); err != nil {
		return nil, nil, err
	}
	if b.importOnly {
		return phases, nil, nil
	}

	// Claims.
	type attempt struct{ attemptID, targetID string }
	var atts []attempt
	if err := measure("claims", func() error {
		for len(atts) < b.n {
			var page struct {
				Result []struct {
					AttemptID string `json:"attempt_id"`
					Target    struct {
						ID string `json:"id"`
					} `json:"target"`
				} `json:"result"`
			}
			if err := b.call(ctx, "POST", base+"/targets/claim", tok, fmt.Sprintf(`{"limit":100,"lease_seconds":%d}`, claimLease), &page); err != nil {
				return err
			}
			if len(page.Result) == 0 {
				return fmt.Errorf("claimed %d targets, then nothing", len(atts))
			}
			for _, c := range page.Result {
				atts = append(atts, attempt{c.AttemptID, c.Target.ID})
			}
		}
		return nil
	}, func() bool {
		return !hooked || b.rv.count(func(r *benchReceiver) int { return r.dialing }) >= b.n
	}); err != nil {
		return nil, nil, err
	}

	// Outcomes, at a steady rate, one SendMessage each as a dialer would.
	results := []string{"answered", "answered", "answered", "no_answer", "invalid"}
	sent := make(map[string]time.Time, len(atts))
	applied := func() bool {
		var o struct {
			Counts map[string]int64 `json:"target_counts"`
		}
		if err := b.call(ctx, "GET", base, tok, "", &o); err != nil {
			return false
		}
		return int(o.Counts["finished"]+o.Counts["failed"]) == b.n
	}
	if err := measure("outcomes", func() error {
		interval := time.Duration(float64(time.Second) / b.rate)
		next := time.Now()
		for i, a := range atts {
			if d := time.Until(next); d > 0 {
				time.Sleep(d)
			}
			next = next.Add(interval)
			msg, _ := json.Marshal(map[string]string{"attempt_id": a.attemptID, "outdial_id": od.ID, "target_id": a.targetID, "result": results[i%len(results)]})
			sent[a.targetID] = time.Now()
			if _, err := b.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(b.st.QueueURL("OutcomeQueue")), MessageBody: aws.String(string(msg))}); err != nil {
				return err
			}
		}
		return nil
	}, func() bool {
		if hooked && (b.rv.count(func(r *benchReceiver) int { return len(r.final) }) < b.n ||
			b.rv.count(func(r *benchReceiver) int { return r.byType[events.OutdialCompleted] }) < 1) {
			return false
		}
		return applied()
	}); err != nil {
		return nil, nil, err
	}
	return phases, sent, nil
}

// eventImportChunk is the most targets the events measurement imports
// per request: 10 000 in one request outlasts API Gateway's 29 s on
// DynamoDB Local while the stream is read.
const eventImportChunk = 2000

// eventTargetsBody is {"targets":[...]} of the tel targets from to
// from+n-1, with try_count_max 1 (every outcome is final).
func eventTargetsBody(from, n int) string {
	var sb strings.Builder
	sb.WriteString(`{"targets":[`)
	for i := from; i < from+n; i++ {
		if i > from {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"destination":{"type":"tel","target":"+1 555 %03d %04d"},"try_count_max":1,"name":"bench target %d"}`, 200+i/10000, i%10000, i)
	}
	sb.WriteString(`]}`)
	return sb.String()
}

// stats returns the double's counters of the functions the figures use.
func (b *eventsBench) stats() map[string]ddbdouble.Stats {
	out := map[string]ddbdouble.Stats{}
	for _, fn := range []string{"publish-events", "deliver-webhooks", "process-outcomes"} {
		out[fn] = b.double.Stats(fn)
	}
	return out
}

// settle waits until the stream records read, the publisher's and the
// deliverer's requests and the receiver's deliveries have not changed
// for eventsSettle.
func (b *eventsBench) settle(ctx context.Context) error {
	state := func() string {
		s := b.stats()
		return fmt.Sprint(b.records.get(), s["publish-events"].Total(), s["deliver-webhooks"].Total(), s["process-outcomes"].Total(), b.rv.snap())
	}
	deadline := time.Now().Add(eventsWait)
	last, since := state(), time.Now()
	for time.Since(since) < eventsSettle {
		if time.Now().After(deadline) {
			return errors.New("the stream and the functions did not go quiet")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if s := state(); s != last {
			last, since = s, time.Now()
		}
	}
	return nil
}

// waitFor polls done until it holds.
func (b *eventsBench) waitFor(ctx context.Context, what string, done func() bool) error {
	deadline := time.Now().Add(eventsWait)
	for !done() {
		if time.Now().After(deadline) {
			r := b.rv.snap()
			return fmt.Errorf("waited %v for %s (receiver: %d deliveries, %d events)", eventsWait, what, r.deliveries, r.events)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// call sends one request to the stack's API and decodes a 2xx answer.
func (b *eventsBench) call(ctx context.Context, method, path, tok, body string, out any) error {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.st.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %.300s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// eventsOnly prints only the events measurement (-events-only).
func eventsOnly(ctx context.Context, cfg config, root, endpoint string, m machine, ddbNote string, out, progress io.Writer) error {
	_, loadStart := loadAvg()
	r, err := runEvents(ctx, cfg, root, endpoint, progress)
	if err != nil {
		return err
	}
	_, loadEnd := loadAvg()
	fmt.Fprintf(out, "Outdial benchmark (events only), %s\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(out, "machine   %d CPUs (GOMAXPROCS %d), %s RAM, %s\n", m.CPUs, m.GOMAXPROCS, m.Memory, m.CPUModel)
	fmt.Fprintf(out, "go        %s %s\n", m.GoVersion, m.OS)
	fmt.Fprintf(out, "load      %s at the start, %s at the end (1, 5, 15 min)\n", loadStart, loadEnd)
	fmt.Fprintf(out, "dynamodb  %s\n          %s\n", m.DynamoDB, ddbNote)
	fmt.Fprintln(out)
	r.print(out)
	return nil
}

// print writes the figures.
func (r *eventsResult) print(w io.Writer) {
	fmt.Fprintf(w, "events (issue 15): the local stack (localrun) on DynamoDB Local and fauxqs, %d targets per customer, outcomes sent at %.0f/s; stack up in %s, measurement %s\n",
		r.N, r.Rate, dur(r.StartUp), dur(r.Wall))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t") }
	with := map[string]eventsPhase{}
	without := map[string]eventsPhase{}
	for _, p := range r.With {
		with[p.Name] = p
	}
	for _, p := range r.Without {
		without[p.Name] = p
	}
	oc, ocN := with["outcomes"], without["outcomes"]
	row("figure", "value")
	row("------", "-----")
	if r.ImportOnly {
		p := with["import"]
		row("import: events, deliveries (fewest possible), deliveries per event", fmt.Sprintf("%d, %d (%d), %.3f; events per delivery %s",
			p.Events, p.Deliveries, (p.Events+events.MaxEventsPerDelivery-1)/events.MaxEventsPerDelivery, ratio(p.Deliveries, p.Events), sizesSummary(p.Sizes)))
		row("import: stream records (outdial heads / targets / other items)", fmt.Sprintf("%d (%d / %d / %d), wall %s (requests of up to %d targets, then every event at the webhook)",
			p.Records.Total(), p.Records.Outdial, p.Records.Target, p.Records.Other, dur(p.Wall), eventImportChunk))
		var partial []string
		for i, n := range p.Sizes {
			if n < events.MaxEventsPerDelivery {
				partial = append(partial, fmt.Sprintf("#%d: %d", i+1, n))
			}
		}
		row("import: deliveries of fewer than 100 events", strings.Join(partial, ", "))
		tw.Flush()
		return
	}
	row("latency, outcome SendMessage -> outdial_target_updated at the webhook", lat(r.Latency, 0.50, 0.95, 0.99)+fmt.Sprintf(" (max %s, %d outcomes)", dur(percentile(r.Latency, 1)), len(r.Latency)))
	row("events per outcome", fmt.Sprintf("%.3f (%d events for %d outcomes: %d outdial_target_updated + %d outdial_completed)",
		ratio(oc.Events, r.N), oc.Events, r.N, oc.Events-r.Completed, r.Completed))
	for _, name := range []string{"import", "claims", "outcomes"} {
		p := with[name]
		row(fmt.Sprintf("%s: events, deliveries (fewest possible), deliveries per event", name), fmt.Sprintf("%d, %d (%d), %.3f; events per delivery %s",
			p.Events, p.Deliveries, (p.Events+events.MaxEventsPerDelivery-1)/events.MaxEventsPerDelivery, ratio(p.Deliveries, p.Events), sizesSummary(p.Sizes)))
	}
	for _, name := range []string{"import", "claims", "outcomes"} {
		p := with[name]
		row(fmt.Sprintf("%s: stream records (outdial heads / targets / other items)", name), fmt.Sprintf("%d (%d / %d / %d), %.2f per event",
			p.Records.Total(), p.Records.Outdial, p.Records.Target, p.Records.Other, ratio(p.Records.Total(), p.Events)))
	}
	for _, name := range []string{"import", "claims", "outcomes"} {
		p := with[name]
		row(fmt.Sprintf("publish-events per event, %s: requests / RCU / WCU", name), fmt.Sprintf("%.3f / %.3f / %.3f (%s)",
			ratio(p.Pub.Total(), p.Events), p.Pub.ReadUnits/float64(max(1, p.Events)), p.Pub.WriteUnits/float64(max(1, p.Events)), statOps(p.Pub)))
	}
	var pub ddbdouble.Stats
	evs := 0
	for _, p := range r.With {
		pub = addStats(pub, p.Pub)
		evs += p.Events
	}
	row("publish-events per event, all three: requests / RCU / WCU", fmt.Sprintf("%.3f / %.3f / %.3f (%d events)",
		ratio(pub.Total(), evs), pub.ReadUnits/float64(max(1, evs)), pub.WriteUnits/float64(max(1, evs)), evs))
	for _, name := range []string{"import", "claims", "outcomes"} {
		p := without[name]
		row(fmt.Sprintf("publish-events without a webhook, %s: requests / RCU / WCU per target", name), fmt.Sprintf("%.3f / %.3f / %.3f (%s)",
			ratio(p.Pub.Total(), r.N), p.Pub.ReadUnits/float64(r.N), p.Pub.WriteUnits/float64(r.N), statOps(p.Pub)))
	}
	var dl ddbdouble.Stats
	deliveries := 0
	for _, p := range r.With {
		dl = addStats(dl, p.Deliver)
		deliveries += p.Deliveries
	}
	row("deliver-webhooks per delivery: requests / RCU", fmt.Sprintf("%.3f / %.3f (%s)", ratio(dl.Total(), deliveries), dl.ReadUnits/float64(max(1, deliveries)), statOps(dl)))
	row("process-outcomes per outcome, with webhook: requests / WCU", fmt.Sprintf("%.3f / %.3f (%s)", ratio(oc.Proc.Total(), r.N), oc.Proc.WriteUnits/float64(r.N), statOps(oc.Proc)))
	row("process-outcomes per outcome, no webhook: requests / WCU", fmt.Sprintf("%.3f / %.3f (%s)", ratio(ocN.Proc.Total(), r.N), ocN.Proc.WriteUnits/float64(r.N), statOps(ocN.Proc)))
	same := oc.Proc.Total() == ocN.Proc.Total() && oc.Proc.WriteUnits == ocN.Proc.WriteUnits
	row("outcome writes unchanged by events", verdict(same))
	tw.Flush()
	types := make([]string, 0, len(r.ByType))
	for k, v := range r.ByType {
		types = append(types, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(types)
	fmt.Fprintf(w, "events:   received %s; %d received again (same id), %d deliveries refused for their signature.\n", strings.Join(types, ", "), r.Duplicates, r.Unverified)
	fmt.Fprintln(w, "counts:   every function's DynamoDB requests through the DynamoDB double's counters (no latency, throttling or locks), tagged by function;")
	fmt.Fprintln(w, "          WCU from item sizes, RCU as DynamoDB Local reports them. Stream records read by a stream reader of the bench's own.")
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// statOps lists a Stats' requests by operation.
func statOps(s ddbdouble.Stats) string {
	if len(s.Requests) == 0 {
		return "none"
	}
	names := make([]string, 0, len(s.Requests))
	for k := range s.Requests {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return s.Requests[names[i]] > s.Requests[names[j]] })
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %d", k, s.Requests[k])
	}
	return strings.Join(parts, ", ")
}

// addStats adds the request counts and units of b to a.
func addStats(a, b ddbdouble.Stats) ddbdouble.Stats {
	out := a
	out.Requests = map[string]int{}
	for k, v := range a.Requests {
		out.Requests[k] += v
	}
	for k, v := range b.Requests {
		out.Requests[k] += v
	}
	out.WriteUnits += b.WriteUnits
	out.IndexWriteUnits += b.IndexWriteUnits
	out.ReadUnits += b.ReadUnits
	return out
}

// sizesSummary lists the events per delivery, runs of the same size
// folded ("100 x9, 4").
func sizesSummary(sizes []int) string {
	if len(sizes) == 0 {
		return "none"
	}
	if len(sizes) > 12 {
		s := append([]int(nil), sizes...)
		sort.Ints(s)
		return fmt.Sprintf("min %d, median %d, max %d", s[0], s[len(s)/2], s[len(s)-1])
	}
	var parts []string
	for i := 0; i < len(sizes); {
		j := i
		for j < len(sizes) && sizes[j] == sizes[i] {
			j++
		}
		if j-i > 1 {
			parts = append(parts, fmt.Sprintf("%d x%d", sizes[i], j-i))
		} else {
			parts = append(parts, fmt.Sprint(sizes[i]))
		}
		i = j
	}
	return strings.Join(parts, ", ")
}
