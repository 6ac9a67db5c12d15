// Command bench measures Outdial against DynamoDB Local and prints every
// performance figure the README reports, as one table: import through the
// handler vs a plain BatchWriteItem loop, GET of an outdial with its
// counts, claims, outcomes through the SQS handler vs a plain UpdateItem
// loop, DynamoDB requests and capacity per operation, the Lambda
// bootstrap sizes and the cold starts under the runtime emulator, and
// claims from an outdial with a calling window and a suppression list
// beside claims from a plain one (claim-screened, issue 14).
//
// Usage (make bench runs it with BENCH_ARGS):
//
//	go run ./cmd/bench [-targets 10000] [-outcomes 2000] [-concurrency 10] [-cpuprofile file]
//	go run ./cmd/bench -coldstart-only [-coldstart-runs 5]
//	go run ./cmd/bench -screened-only [-targets 10000] [-claims 20]
//	go run ./cmd/bench -events-only [-events-targets 500] [-events-rate 100] [-events-import-only]
//
// It starts its own DynamoDB Local on a free port and stops it at the end,
// or uses OUTDIAL_DYNAMODB_ENDPOINT when that is set. Every DynamoDB call
// goes through a counting wrapper of dynamo.API that asks DynamoDB for the
// consumed capacity (ReturnConsumedCapacity=INDEXES), so requests and
// capacity units per operation come from what DynamoDB Local reports.
// Method and figures: docs/bench.md.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/outdial/outdial/internal/dynamo"
	"github.com/outdial/outdial/internal/localstack"
	"github.com/outdial/outdial/internal/outdial"
)

// config is the command line.
type config struct {
	Targets     int
	Outcomes    int
	Concurrency int
	Claims      int
	Gets        int
	Warmup      int
	Sizes       bool
	ColdStart   bool
	// ColdStartRuns is how often each function is started for its cold
	// start figure (the median is reported); ColdStartOnly prints only
	// the cold starts.
	ColdStartRuns int
	ColdStartOnly bool
	CPUProfile    string
	Timeout       time.Duration

	Contention         string // N values of the contention lines, comma-separated ("" for none)
	ContentionOutcomes int    // outcomes applied per contention run
	ContentionOnly     bool   // only the contention lines

	Screened     bool // the claim-screened measurement (screened.go)
	ScreenedOnly bool // only that measurement

	Events        bool    // the events measurement on the local stack (events.go)
	EventsOnly    bool    // only that measurement
	EventsTargets int     // targets per customer of the events measurement
	EventsRate    float64 // outcomes per second sent in the events measurement
	EventsImport  bool    // the events measurement stops after the import of the customer with a webhook
}

func main() {
	var cfg config
	flag.IntVar(&cfg.Targets, "targets", 10000, "targets imported through the handler (and written by the plain loop)")
	flag.IntVar(&cfg.Outcomes, "outcomes", 2000, "outcome messages through the SQS handler (and plain UpdateItems)")
	flag.IntVar(&cfg.Concurrency, "concurrency", 10, "outcomes in flight: the handler applies min(this, 10) messages of a batch at once and runs this/10 batches at once; the plain loop runs this many workers")
	flag.IntVar(&cfg.Claims, "claims", 20, "measured claims of 100 targets")
	flag.IntVar(&cfg.Gets, "gets", 200, "measured GET /v1.0/outdials/{id} calls")
	flag.IntVar(&cfg.Warmup, "warmup", 500, "targets of the untimed warm-up round (JIT of DynamoDB Local)")
	flag.BoolVar(&cfg.Sizes, "sizes", true, "build the Lambda bootstraps (linux/arm64) and print their sizes")
	flag.BoolVar(&cfg.ColdStart, "coldstart", true, "measure cold starts under the runtime emulator")
	flag.IntVar(&cfg.ColdStartRuns, "coldstart-runs", 5, "cold starts of each function under the runtime emulator; the median is reported")
	flag.BoolVar(&cfg.ColdStartOnly, "coldstart-only", false, "print only the bootstrap sizes, the cold starts and issue 13's goals, met or not (no DynamoDB Local of the bench's own, no other phase)")
	flag.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the bench process (handler and client side) to this file")
	flag.DurationVar(&cfg.Timeout, "timeout", 15*time.Minute, "give up after this long")
	flag.StringVar(&cfg.Contention, "contention", "5,20,100", "concurrent outcome batches of each contention line (through the DynamoDB double), comma-separated; empty for none")
	flag.IntVar(&cfg.ContentionOutcomes, "contention-outcomes", 6500, "targets claimed before each contention run, whose outcomes are fed in batches (the claimers claim a third as many more during the run)")
	flag.BoolVar(&cfg.ContentionOnly, "contention-only", false, "print only the contention lines")
	flag.BoolVar(&cfg.Screened, "screened", true, "measure claims from an outdial with a calling window (closed for half the targets) and a 10 000-address suppression list beside a plain outdial (claim-screened; -targets targets each, -claims claims per round)")
	flag.BoolVar(&cfg.ScreenedOnly, "screened-only", false, "print only the claim-screened measurement (after the untimed warm-up round)")
	flag.BoolVar(&cfg.Events, "events", true, "measure webhook events (issue 15) on the local stack: latency from an outcome's send to its event at a receiver, events per outcome, deliveries per event, publish-events' DynamoDB cost per event, outcome writes with and without a webhook")
	flag.BoolVar(&cfg.EventsOnly, "events-only", false, "print only the events measurement")
	flag.IntVar(&cfg.EventsTargets, "events-targets", 500, "targets imported, claimed and given an outcome per customer in the events measurement")
	flag.Float64Var(&cfg.EventsRate, "events-rate", 100, "outcomes sent per second in the events measurement")
	flag.BoolVar(&cfg.EventsImport, "events-import-only", false, "with -events-only: only the import of the customer with a webhook (deliveries per import)")
	flag.Parse()
	if cfg.Targets < 1 || cfg.Outcomes < 1 || cfg.Concurrency < 1 || cfg.Claims < 1 || cfg.Gets < 1 || cfg.Warmup < 0 || cfg.ColdStartRuns < 1 {
		fmt.Fprintln(os.Stderr, "bench: -targets, -outcomes, -concurrency, -claims, -gets and -coldstart-runs must be at least 1")
		os.Exit(2)
	}
	if cfg.EventsTargets < 1 || cfg.EventsTargets > 10000 || !(cfg.EventsRate > 0) {
		fmt.Fprintln(os.Stderr, "bench: -events-targets must be 1 to 10000 and -events-rate above 0")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx, cfg, os.Getenv(localstack.EnvDynamoDBEndpoint), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// run does the whole bench and writes the report to out, progress to
// progress. endpoint is an external DynamoDB Local, or "" to start one.
func run(ctx context.Context, cfg config, endpoint string, out, progress io.Writer) (err error) {
	root, err := localstack.RepoRoot()
	if err != nil {
		return err
	}
	if cfg.ColdStartOnly {
		return coldStartsOnly(ctx, cfg, root, out, progress)
	}
	rep := &report{cfg: cfg, machine: describeMachine(root, endpoint), started: time.Now()}
	rep.load1Start, rep.loadStart = loadAvg()

	// DynamoDB Local and a fresh table.
	ddbPID := 0
	if endpoint == "" {
		fmt.Fprintln(progress, "bench: starting DynamoDB Local")
		proc, err := localstack.StartDynamoDB(ctx, root, 0)
		if err != nil {
			return err
		}
		defer func() {
			if serr := proc.Stop(); serr != nil && err == nil {
				err = fmt.Errorf("stop DynamoDB Local: %w", serr)
			}
		}()
		endpoint, ddbPID = proc.Endpoint, proc.PID()
		rep.ddbNote = fmt.Sprintf("started by the bench (pid %d, %s, -inMemory, JVM -XX:+UseSerialGC -XX:TieredStopAtLevel=1), up in %s",
			proc.PID(), proc.Endpoint, proc.StartupTime.Round(time.Millisecond))
	} else {
		rep.ddbNote = "external; its CPU time is not measured"
	}
	client, err := localstack.DynamoDBClient(ctx, endpoint)
	if err != nil {
		return err
	}
	suffix := make([]byte, 4)
	rand.Read(suffix)
	table := "bench-" + hex.EncodeToString(suffix)
	if err := dynamo.CreateTable(ctx, client, dynamo.CreateTableInput(table)); err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, derr := client.DeleteTable(dctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)}); derr != nil && err == nil {
			err = fmt.Errorf("delete table %s: %w", table, derr)
		}
	}()
	e := newEnv(client, table, ddbPID, progress)

	if cfg.ScreenedOnly {
		return screenedOnly(ctx, e, cfg, rep.machine, rep.ddbNote, out)
	}
	if cfg.EventsOnly {
		return eventsOnly(ctx, cfg, root, endpoint, rep.machine, rep.ddbNote, out, progress)
	}
	if cfg.ContentionOnly {
		lines, err := contentionLines(ctx, client, table, cfg, progress)
		for _, l := range lines {
			fmt.Fprintln(out, l)
		}
		return err
	}

	// An untimed round at a small size: DynamoDB Local's JIT and the Go
	// side's first-use costs (phone metadata, connection pool) land here.
	if cfg.Warmup > 0 {
		e.progressf("warm-up round with %d targets", min(cfg.Warmup, cfg.Targets))
		start := time.Now()
		if _, err := e.round(ctx, cfg, min(cfg.Warmup, cfg.Targets), true); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		rep.warmup = time.Since(start)
	}

	rr, err := e.round(ctx, cfg, cfg.Targets, false)
	if err != nil {
		return err
	}
	rep.round = rr
	if cfg.Screened {
		if rep.screened, err = screenedClaims(ctx, e, cfg); err != nil {
			return err
		}
	}
	if rep.contention, err = contentionLines(ctx, client, table, cfg, progress); err != nil {
		return err
	}
	if cfg.Events {
		if rep.events, err = runEvents(ctx, cfg, root, endpoint, progress); err != nil {
			return fmt.Errorf("events: %w", err)
		}
	}

	if cfg.Sizes {
		e.progressf("building the bootstraps for linux/arm64")
		rep.sizes, rep.sizesErr = binarySizes(ctx, root)
	}
	if cfg.ColdStart {
		e.progressf("cold starts: each function %d times under the runtime emulator", cfg.ColdStartRuns)
		rep.cold, rep.coldNote = coldStarts(ctx, root, cfg.ColdStartRuns)
	} else {
		rep.coldNote = "skipped (-coldstart=false)"
	}
	rep.elapsed = time.Since(rep.started)
	rep.load1End, rep.loadEnd = loadAvg()
	rep.print(out)
	return nil
}

// coldStartsOnly prints, in one run (-coldstart-only), the figures issue
// 13 sets: every function's bootstrap size and cold start (the median of
// cfg.ColdStartRuns starts under the runtime emulator), then each goal
// with whether this run met it (issue13Goals).
func coldStartsOnly(ctx context.Context, cfg config, root string, out, progress io.Writer) error {
	fmt.Fprintln(progress, "bench: bootstrap sizes")
	sizes, err := binarySizes(ctx, root)
	if err != nil {
		return err
	}
	fmt.Fprintf(progress, "bench: cold starts, each function %d times under the runtime emulator\n", cfg.ColdStartRuns)
	rows, note := coldStarts(ctx, root, cfg.ColdStartRuns)
	if len(rows) == 0 {
		return fmt.Errorf("cold starts: %s", note)
	}
	m := describeMachine(root, "")
	fmt.Fprintf(out, "bootstrap sizes (linux/arm64, stripped) and cold starts under the runtime emulator, %d CPUs, %s, %s\n", m.CPUs, m.GoVersion, m.OS)
	mib := map[string]float64{}
	for _, r := range sizes {
		mib[r.Name] = float64(r.Bytes) / (1 << 20)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%.2f MiB\t%s\n", r.Name, mib[r.Name], r.Value)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, g := range issue13Goals(sizes, rows) {
		fmt.Fprintln(out, g)
	}
	return nil
}

// coldStartGoal is the goal of a cold start (process start to first
// response), add-targets excepted.
const coldStartGoal = 40 * time.Millisecond

// issue13Goals checks the sizes and cold starts against issue 13's goals:
// the authorizer at most 8 MiB, every other function but add-targets at
// most 14, 11.5 on average; every cold start but add-targets' at most
// coldStartGoal. One line per goal, saying met or not and why.
func issue13Goals(sizes []sizeRow, cold []coldStartRow) []string {
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT MET"
	}
	var total float64
	largest, largestName := 0.0, ""
	authz := 0.0
	for _, r := range sizes {
		m := float64(r.Bytes) / (1 << 20)
		total += m
		switch r.Name {
		case "authorizer":
			authz = m
		case "add-targets":
		default:
			if m > largest {
				largest, largestName = m, r.Name
			}
		}
	}
	avg := total / float64(max(len(sizes), 1))
	var over []string
	for _, r := range cold {
		if r.Name != "add-targets" && r.Median > coldStartGoal {
			over = append(over, fmt.Sprintf("%s %.0f ms", r.Name, ms(r.Median)))
		}
	}
	overText := "none"
	if len(over) > 0 {
		overText = strings.Join(over, ", ")
	}
	return []string{
		fmt.Sprintf("goal authorizer <= 8 MiB: %.2f MiB, %s", authz, verdict(authz <= 8)),
		fmt.Sprintf("goal every other function but add-targets <= 14 MiB: largest %s %.2f MiB, %s", largestName, largest, verdict(largest <= 14)),
		fmt.Sprintf("goal average <= 11.5 MiB: %.2f MiB over %d functions, %s", avg, len(sizes), verdict(avg <= 11.5)),
		fmt.Sprintf("goal cold start <= %.0f ms but add-targets: over it: %s; %s", ms(coldStartGoal), overText, verdict(len(over) == 0)),
	}
}

// roundResult is every figure of one round.
type roundResult struct {
	Import       importResult
	Get          latencyResult
	Claim        latencyResult
	ClaimLimit   int
	Outcomes     outcomeResult
	CountsWant   outdial.Counts
	CountsGot    outdial.Counts
	ClaimedTotal int
}

// round runs import, GET, claims and outcomes on a fresh outdial of n
// targets. A warm-up round uses fewer calls.
func (e *env) round(ctx context.Context, cfg config, n int, warm bool) (roundResult, error) {
	var rr roundResult
	gets, claims, outcomes := cfg.Gets, cfg.Claims, min(cfg.Outcomes, n)
	if warm {
		gets, claims, outcomes = min(gets, 20), min(claims, 1), min(outcomes, 100)
	}

	e.progressf("import: %d targets through the handler, then the same items with BatchWriteItem", n)
	ir, id, idleSizes, err := e.benchImport(ctx, n)
	if err != nil {
		return rr, err
	}
	rr.Import = ir

	e.progressf("GET /v1.0/outdials/{id}: %d calls", gets)
	if rr.Get, err = e.benchGet(ctx, id, gets, n); err != nil {
		return rr, err
	}

	rr.ClaimLimit = min(outdial.MaxClaimLimit, n)
	claims = max(1, min(claims, n/rr.ClaimLimit))
	e.progressf("claim: %d claims of %d", claims, rr.ClaimLimit)
	var atts []attempt
	if rr.Claim, atts, err = e.benchClaims(ctx, id, claims, rr.ClaimLimit); err != nil {
		return rr, err
	}
	measured := len(atts)
	if atts, err = e.claimMore(ctx, id, atts, outcomes); err != nil {
		return rr, err
	}
	dialing, err := e.scanTargets(ctx, id, outdial.StatusDialing)
	if err != nil {
		return rr, err
	}
	dialingSizes := sizesByID(dialing)
	for _, a := range atts[:measured] {
		rr.Claim.W = rr.Claim.W.add(rekeyCost(idleSizes[a.TargetID], dialingSizes[a.TargetID], true))
	}
	rr.Claim.W = rr.Claim.W.add(countCost(rr.Claim.C.Succeeded("TransactWriteItems")))
	rr.ClaimedTotal = len(atts)
	if len(atts) < outcomes {
		return rr, fmt.Errorf("claimed %d targets, want %d", len(atts), outcomes)
	}
	atts = atts[:outcomes]

	e.progressf("outcomes: %d through the SQS handler, then plain UpdateItems", outcomes)
	if rr.Outcomes, err = e.benchOutcomes(ctx, id, atts, dialing, cfg.Concurrency); err != nil {
		return rr, err
	}
	if rr.Outcomes.Failures > 0 {
		return rr, fmt.Errorf("outcomes: the handler reported %d batch item failures", rr.Outcomes.Failures)
	}

	// The counts must be exact.
	var want outdial.Counts
	for i := range atts {
		switch outcomeResults[i%sqsBatch] {
		case outdial.ResultAnswered:
			want.Finished++
		case outdial.ResultInvalid:
			want.Failed++
		default:
			want.Retry++
		}
	}
	want.Dialing = int64(rr.ClaimedTotal - len(atts))
	want.Idle = int64(n-rr.ClaimedTotal) + want.Retry
	o, err := e.store.GetOutdial(ctx, e.customer, id)
	if err != nil {
		return rr, err
	}
	rr.CountsWant, rr.CountsGot = want, o.Counts
	if o.Counts != want {
		return rr, fmt.Errorf("counts after the outcomes: got %+v, want %+v", o.Counts, want)
	}
	return rr, nil
}

// report is what the bench prints.
type report struct {
	cfg      config
	machine  machine
	ddbNote  string
	started  time.Time
	warmup   time.Duration
	elapsed  time.Duration
	round    roundResult
	sizes    []sizeRow
	sizesErr error
	cold     []coldStartRow
	coldNote string

	contention []string        // the contention lines
	screened   *screenedResult // the claim-screened measurement, when run
	events     *eventsResult   // the events measurement, when run

	load1Start, load1End float64 // 1-minute load averages
	loadStart, loadEnd   string  // /proc/loadavg's three averages
}

func (r *report) print(w io.Writer) {
	m := r.machine
	fmt.Fprintf(w, "Outdial benchmark, %s\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "machine   %d CPUs (GOMAXPROCS %d), %s RAM, %s\n", m.CPUs, m.GOMAXPROCS, m.Memory, m.CPUModel)
	fmt.Fprintf(w, "go        %s %s\n", m.GoVersion, m.OS)
	fmt.Fprintf(w, "load      %s at the start, %s at the end (1, 5, 15 min)\n", r.loadStart, r.loadEnd)
	if max(r.load1Start, r.load1End) > float64(m.CPUs) {
		fmt.Fprintf(w, "WARNING   the load average exceeded the %d CPUs: other processes competed with the bench, so rates and latencies are low and noisy;\n", m.CPUs)
		fmt.Fprintln(w, "          the CPU-time rows (DynamoDB Local CPU per item) are the steadier comparison.")
	}
	fmt.Fprintf(w, "dynamodb  %s\n          %s\n", m.DynamoDB, r.ddbNote)
	fmt.Fprintf(w, "settings  -targets %d -outcomes %d -concurrency %d -claims %d -gets %d; import writes %d shards at once (dynamo.ImportConcurrency) of %d (dynamo.Shards)\n",
		r.cfg.Targets, r.cfg.Outcomes, r.cfg.Concurrency, r.cfg.Claims, r.cfg.Gets, dynamo.ImportConcurrency, dynamo.Shards)
	fmt.Fprintln(w)

	rr := r.round
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t") }
	row("#", "figure", "outdial", "plain SDK loop", "ratio", "goal", "result")
	row("-", "------", "-------", "--------------", "-----", "----", "------")

	// 1. Import.
	im := rr.Import
	hRate, rRate := rate(im.N, im.Handler.Wall), rate(im.RawOK, im.Raw.Wall)
	ratio := hRate / rRate
	row("1", fmt.Sprintf("import %d targets, items/s", im.N), fmt.Sprintf("%.0f", hRate), fmt.Sprintf("%.0f", rRate),
		fmt.Sprintf("%.2fx", ratio), ">= 0.5x", verdict(ratio >= 0.5))
	row("", "  wall time", dur(im.Handler.Wall), dur(im.Raw.Wall), "", "", "")
	row("", "  of which before the first write (decode, validate, marshal)", dur(im.BeforeWrite), "", "", "", "")
	row("", "  DynamoDB requests / 1000 targets", per(im.HandlerC.Requests(), im.N, 1000), per(im.RawC.Requests(), im.RawOK, 1000), "", "", "")
	row("", "    by operation", ops(im.HandlerC, im.N, 1000), ops(im.RawC, im.RawOK, 1000), "", "", "")
	row("", "  WCU / 1000 targets, from item sizes (GSI1 part)", model(im.HandlerW, im.N, 1000), model(im.RawW, im.RawOK, 1000), "", "", "")
	row("", "  WCU / 1000 targets, as DynamoDB Local reports", wcu(im.HandlerC, im.N, 1000), wcu(im.RawC, im.RawOK, 1000), "", "", "")
	row("", "  mean target item size", fmt.Sprintf("%d bytes", im.ItemBytes), "same items", "", "", "")
	row("", "  CPU s: bench process / DynamoDB Local", cpu(im.Handler), cpu(im.Raw), "", "", "")
	row("", "  DynamoDB Local CPU ms / target", cpuPer(im.Handler, im.N), cpuPer(im.Raw, im.RawOK), cpuRatio(im.Handler, im.N, im.Raw, im.RawOK), "", "")

	// 2. GET.
	g := rr.Get
	row("2", fmt.Sprintf("GET /v1.0/outdials/{id}, %d targets, %d calls", im.N, len(g.Lat)), lat(g.Lat, 0.50, 0.95, 0.99), "", "", "", "")
	row("", "  DynamoDB requests / GET", per(g.C.Requests(), len(g.Lat), 1)+" ("+ops(g.C, len(g.Lat), 1)+")", "", "", "", "")
	row("", "  RCU / GET", fmt.Sprintf("%.1f", g.C.RCU/float64(len(g.Lat))), "", "", "", "")

	// 3. Outcomes.
	oc := rr.Outcomes
	hRate, rRate = rate(oc.N, oc.Handler.Wall), rate(oc.N, oc.Raw.Wall)
	ratio = hRate / rRate
	row("3", fmt.Sprintf("outcomes, %d messages, outcomes/s", oc.N), fmt.Sprintf("%.0f", hRate), fmt.Sprintf("%.0f", rRate),
		fmt.Sprintf("%.2fx", ratio), ">= 0.8x", verdict(ratio >= 0.8))
	row("", fmt.Sprintf("  in flight: %d batch(es) of %d x %d at once", oc.Lambda, sqsBatch, oc.PerBatch), fmt.Sprint(oc.Lambda*oc.PerBatch), fmt.Sprint(oc.Lambda*oc.PerBatch), "", "", "")
	reqPer := float64(oc.HandlerC.Requests()) / float64(oc.N)
	row("", "  DynamoDB requests / outcome", fmt.Sprintf("%.3f", reqPer), fmt.Sprintf("%.3f", float64(oc.RawC.Requests())/float64(oc.N)), "", "<= 1.1", verdict(reqPer <= 1.1))
	row("", "    by operation", ops(oc.HandlerC, oc.N, 1), ops(oc.RawC, oc.N, 1), "", "", "")
	row("", "  failed requests / outcome", fmt.Sprintf("%.3f", float64(oc.HandlerC.Failed())/float64(oc.N)), fmt.Sprintf("%.3f", float64(oc.RawC.Failed())/float64(oc.N)), "", "", "")
	row("", "  WCU / outcome, from item sizes (GSI1 part)", model(oc.HandlerW, oc.N, 1), model(oc.RawW, oc.N, 1), "", "", "")
	row("", "  WCU / outcome, as DynamoDB Local reports", wcu(oc.HandlerC, oc.N, 1), wcu(oc.RawC, oc.N, 1), "", "", "")
	row("", "  CPU s: bench process / DynamoDB Local", cpu(oc.Handler), cpu(oc.Raw), "", "", "")
	row("", "  DynamoDB Local CPU ms / outcome", cpuPer(oc.Handler, oc.N), cpuPer(oc.Raw, oc.N), cpuRatio(oc.Handler, oc.N, oc.Raw, oc.N), "", "")

	// 4. Claims.
	c := rr.Claim
	row("4", fmt.Sprintf("claim %d of %d targets, %d claims", rr.ClaimLimit, im.N, len(c.Lat)), lat(c.Lat, 0.50, 0.95), "", "", "", "")
	row("", "  DynamoDB requests / claim", per(c.C.Requests(), len(c.Lat), 1)+" ("+ops(c.C, len(c.Lat), 1)+")", "", "", "", "")
	row("", "  request time / claim, summed over parallel requests", opTimes(c.C, len(c.Lat)), "", "", "", "")
	row("", "  WCU / claim, from item sizes (GSI1 part)", model(c.W, len(c.Lat), 1), "", "", "", "")
	row("", "  RCU / claim, as DynamoDB Local reports", fmt.Sprintf("%.1f", c.C.RCU/float64(len(c.Lat))), "", "", "", "")

	// 5. Sizes.
	switch {
	case r.sizesErr != nil:
		row("5", "bootstrap sizes", "error: "+firstLine(r.sizesErr.Error()), "", "", "", "")
	case len(r.sizes) == 0:
		row("5", "bootstrap sizes", "skipped (-sizes=false)", "", "", "", "")
	default:
		var total int64
		same := true
		for _, s := range r.sizes {
			total += s.Bytes
			same = same && s.Bytes == r.sizes[0].Bytes
		}
		if same && len(r.sizes) > 1 {
			row("5", fmt.Sprintf("bootstrap, each of %d functions (linux/arm64, stripped)", len(r.sizes)), mib(r.sizes[0].Bytes), "", "", "", "")
		} else {
			for i, s := range r.sizes {
				label := ""
				if i == 0 {
					label = "5"
				}
				row(label, "bootstrap "+s.Name+" (linux/arm64, stripped)", mib(s.Bytes), "", "", "", "")
			}
		}
		row("", fmt.Sprintf("bootstraps total (%d functions)", len(r.sizes)), mib(total), "", "", "", "")
	}

	// 6. Cold starts.
	if len(r.cold) == 0 {
		row("6", "cold start under the runtime emulator", r.coldNote, "", "", "", "")
	}
	for i, cs := range r.cold {
		label := ""
		if i == 0 {
			label = "6"
		}
		row(label, "cold start "+cs.Name, cs.Value, "", "", "", "")
	}
	tw.Flush()

	fmt.Fprintln(w)
	all := []counts{im.HandlerC, im.RawC, g.C, oc.HandlerC, oc.RawC, c.C}
	reported, unreported := 0, 0
	for _, x := range all {
		reported += x.Reported
		unreported += x.Unreported
	}
	fmt.Fprintln(w, "requests: counted by a wrapper of dynamo.API around the SDK client; both sides of every comparison go through it.")
	fmt.Fprintln(w, "WCU, from item sizes: per item written, table 1 WCU per started KB (2 in a transaction; an update costs the larger of its sizes before and after),")
	fmt.Fprintln(w, "          GSI1 1 WCU per KB per index entry written or removed (a status change removes one and writes one), count slots 2 WCU per transaction (one slot each).")
	fmt.Fprintln(w, "          Item sizes are those of the stored items, read back after each phase (docs/bench.md).")
	fmt.Fprintf(w, "WCU, as DynamoDB Local reports: ConsumedCapacity summed (the wrapper sets ReturnConsumedCapacity=INDEXES on a copy of every request; %d of %d successful requests reported it).\n",
		reported, reported+unreported)
	fmt.Fprintln(w, "          Right for single-item writes; for TransactWriteItems DynamoDB Local reports about one item's worth however many items the transaction writes,")
	fmt.Fprintln(w, "          and it doubles GSI writes in transactions. Failed requests report nothing (DynamoDB charges them).")
	if len(r.sizes) > 0 {
		names := make([]string, len(r.sizes))
		for i, s := range r.sizes {
			names[i] = s.Name
		}
		fmt.Fprintf(w, "sizes:    go build -tags lambda.norpc -trimpath -ldflags \"-s -w\", GOOS=linux GOARCH=arm64 CGO_ENABLED=0, of functions/ %s.\n", strings.Join(names, " "))
	}
	fmt.Fprintf(w, "counts:   exact after the outcomes (%+v).\n", rr.CountsGot)
	fmt.Fprintf(w, "run:      warm-up round %s (untimed), whole run %s.\n", dur(r.warmup), dur(r.elapsed))
	if r.screened != nil {
		fmt.Fprintln(w)
		r.screened.print(w)
	}
	if r.events != nil {
		fmt.Fprintln(w)
		r.events.print(w)
	}
	if len(r.contention) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "contention: through the DynamoDB double at its defaults (docs/dynamodb-double.md); one line per number of concurrent outcome batches:")
		for _, l := range r.contention {
			fmt.Fprintln(w, l)
		}
	}
}

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return math.Inf(1)
	}
	return float64(n) / d.Seconds()
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}

// per returns n per every `every` of total, e.g. requests per 1000 targets.
func per(n, total, every int) string {
	if total == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f", float64(n)*float64(every)/float64(total))
}

// ops lists the requests by operation, per every `every` of total.
func ops(c counts, total, every int) string {
	if total == 0 {
		return "n/a"
	}
	names := make([]string, 0, len(c.Ops))
	for k := range c.Ops {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return c.Ops[names[i]] > c.Ops[names[j]] })
	parts := make([]string, len(names))
	for i, k := range names {
		v := float64(c.Ops[k]) * float64(every) / float64(total)
		if v == math.Trunc(v) {
			parts[i] = fmt.Sprintf("%s %.0f", k, v)
		} else {
			parts[i] = fmt.Sprintf("%s %.2f", k, v)
		}
	}
	return strings.Join(parts, ", ")
}

// wcu formats the reported write units per every `every` of n.
// opTimes lists the summed request time per call, by operation.
func opTimes(c counts, calls int) string {
	names := make([]string, 0, len(c.Time))
	for k := range c.Time {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return c.Time[names[i]] > c.Time[names[j]] })
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s %s", k, dur(c.Time[k]/time.Duration(calls)))
	}
	return strings.Join(parts, ", ")
}

func wcu(c counts, n, every int) string {
	if n == 0 {
		return "n/a"
	}
	f := float64(every) / float64(n)
	return fmt.Sprintf("%s (%s)", num(c.WCU*f), num(c.IndexWCU*f))
}

// model formats computed write units per every `every` of n.
func model(w wcuModel, n, every int) string {
	if n == 0 {
		return "n/a"
	}
	f := float64(every) / float64(n)
	return fmt.Sprintf("%s (%s)", num(w.Total()*f), num(w.Index*f))
}

// num prints v with two decimals below 100, none above.
func num(v float64) string {
	if math.Abs(v) >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func cpu(u cpuUse) string {
	if u.DDB < 0 {
		return fmt.Sprintf("%.1f / n/a", u.Self.Seconds())
	}
	return fmt.Sprintf("%.1f / %.1f", u.Self.Seconds(), u.DDB.Seconds())
}

// cpuPer formats DynamoDB Local's CPU time per item.
func cpuPer(u cpuUse, n int) string {
	if u.DDB < 0 || n == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", float64(u.DDB)/float64(time.Millisecond)/float64(n))
}

// cpuRatio is the plain loop's DynamoDB Local CPU per item over the
// handler's: the throughput ratio if DynamoDB Local's CPU were the only
// limit.
func cpuRatio(h cpuUse, hn int, r cpuUse, rn int) string {
	if h.DDB <= 0 || r.DDB <= 0 || hn == 0 || rn == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx cpu", (float64(r.DDB)/float64(rn))/(float64(h.DDB)/float64(hn)))
}

// lat formats the percentiles ps of d.
func lat(d []time.Duration, ps ...float64) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		parts[i] = fmt.Sprintf("p%.0f %s", p*100, dur(percentile(d, p)))
	}
	return strings.Join(parts, ", ")
}

// percentile returns the nearest-rank p-quantile of d (0 < p <= 1).
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func mib(b int64) string { return fmt.Sprintf("%.2f MiB (%d bytes)", float64(b)/(1<<20), b) }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
