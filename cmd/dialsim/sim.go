package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"golang.org/x/sync/errgroup"

	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/outdial"
)

// maxImportRows is how many targets one import request carries.
const maxImportRows = outdial.MaxTargetsPerRequest

// Probabilities are the relative weights of the results a simulated call
// ends with; they need not sum to 1.
type Probabilities struct {
	Answered, Busy, NoAnswer, Failed, Invalid float64
}

// entries returns the weights in a fixed order with their results.
func (p Probabilities) entries() []struct {
	r outdial.Result
	w float64
} {
	return []struct {
		r outdial.Result
		w float64
	}{
		{outdial.ResultAnswered, p.Answered}, {outdial.ResultBusy, p.Busy}, {outdial.ResultNoAnswer, p.NoAnswer},
		{outdial.ResultFailed, p.Failed}, {outdial.ResultInvalid, p.Invalid},
	}
}

func (p Probabilities) validate() error {
	sum := 0.0
	for _, e := range p.entries() {
		if e.w < 0 {
			return fmt.Errorf("probability of %s must not be negative, got %g", e.r, e.w)
		}
		sum += e.w
	}
	if sum <= 0 {
		return errors.New("at least one result probability must be positive")
	}
	return nil
}

// pick returns the result for u, a uniform number in [0, 1).
func (p Probabilities) pick(u float64) outdial.Result {
	sum := 0.0
	for _, e := range p.entries() {
		sum += e.w
	}
	x, last := u*sum, outdial.ResultAnswered
	for _, e := range p.entries() {
		if e.w <= 0 {
			continue
		}
		last = e.r
		if x < e.w {
			return e.r
		}
		x -= e.w
	}
	return last // rounding at the top end
}

// String shows the weights normalised to percentages.
func (p Probabilities) String() string {
	sum := 0.0
	for _, e := range p.entries() {
		sum += e.w
	}
	var parts []string
	for _, e := range p.entries() {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", e.r, 100*e.w/sum))
	}
	return strings.Join(parts, ", ")
}

// Config is one simulation run. Run talks to the service only through the
// HTTP API (API, Token) and the outcome queue (SQS*, Queue*).
type Config struct {
	API        string       // base URL of the HTTP API, e.g. http://127.0.0.1:3000
	Token      string       // bearer token
	HTTPClient *http.Client // nil: a client with a 30 s timeout

	SQSEndpoint string // "" resolves the real AWS endpoint (credentials from the environment)
	Region      string // "" = us-east-1 for an SQS endpoint, else from the queue URL or the environment
	QueueURL    string // the outcome queue; "" looks QueueName up with GetQueueUrl
	QueueName   string

	OutdialID  string // dial this outdial, or
	Create     int    // create an outdial with this many generated targets
	Tries      int    // try_count_max of generated targets (0: the service's default)
	RetryDelay int    // seconds of every retry delay of a created outdial (<0: the service's defaults)

	Dialers      int           // concurrent claim loops
	Claim        int           // limit of each claim
	Lease        time.Duration // lease of each claim
	Probs        Probabilities // result weights
	CallDuration time.Duration // mean simulated call time (uniform in [0.5, 1.5] of it)
	RetryAfter   *int          // retry_after_seconds sent with busy/no_answer/failed (nil: not sent)
	Duplicate    float64       // fraction of outcomes sent a second time
	Timeout      time.Duration // bound of the whole run
	Seed         uint64        // 0: from the clock

	Out      io.Writer     // progress and summary
	TTY      bool          // Out is a terminal: one refreshing line
	Width    int           // the terminal's columns (0: unknown)
	Interval time.Duration // progress refresh (0: 250 ms on a terminal, 1 s otherwise)
	Drain    time.Duration // longest wait for the queue to drain before the checks (0: 30 s)
}

func (c *Config) validate() error {
	switch {
	case c.API == "":
		return errors.New("-api is required")
	case c.Token == "":
		return errors.New("a token is required (-token or $TOKEN)")
	case c.QueueURL == "" && c.QueueName == "":
		return errors.New("-queue-url or -queue-name is required")
	case (c.OutdialID == "") == (c.Create <= 0):
		return errors.New("give exactly one of -outdial <id> and -create <n>")
	case c.Create > 10_000_000:
		return errors.New("-create: at most 10000000 targets")
	case c.Tries != 0 && (c.Tries < outdial.MinTryCount || c.Tries > outdial.MaxTryCount):
		return fmt.Errorf("-tries must be between %d and %d", outdial.MinTryCount, outdial.MaxTryCount)
	case c.RetryDelay > outdial.MaxRetryDelay:
		return fmt.Errorf("-retry-delay must be at most %d", outdial.MaxRetryDelay)
	case c.Dialers < 1:
		return errors.New("-dialers must be at least 1")
	case c.Claim < 1 || c.Claim > outdial.MaxClaimLimit:
		return fmt.Errorf("-claim must be between 1 and %d", outdial.MaxClaimLimit)
	case c.Lease < outdial.MinLease || c.Lease > outdial.MaxLease || c.Lease%time.Second != 0:
		return fmt.Errorf("-lease must be whole seconds between %s and %s", outdial.MinLease, outdial.MaxLease)
	case c.CallDuration < 0:
		return errors.New("-call-duration must not be negative")
	case c.RetryAfter != nil && (*c.RetryAfter < 0 || *c.RetryAfter > outcome.MaxRetryAfter):
		return fmt.Errorf("-retry-after must be between 0 and %d", outcome.MaxRetryAfter)
	case c.Duplicate < 0 || c.Duplicate > 1:
		return errors.New("-duplicate must be between 0 and 1")
	case c.Timeout <= 0:
		return errors.New("-timeout must be positive")
	}
	if c.OutdialID != "" {
		if _, err := outdial.ParseID("outdial", c.OutdialID); err != nil {
			return errors.New("-outdial must be a UUID")
		}
	}
	return c.Probs.validate()
}

// Check is one line of the final verification.
type Check struct {
	Name   string
	OK     bool
	Detail string
}

// Report is what a run did and found.
type Report struct {
	OutdialID string
	Seed      uint64
	Ending    string // "settled", "timeout" or "interrupted"
	Elapsed   time.Duration
	Start     outdial.Counts   // counts when the run began
	Final     *outdial.Outdial // last GET of the outdial (nil if none succeeded)

	Claims, ClaimCalls, EmptyClaims, ClaimRetries int
	Targets                                       int // distinct targets claimed
	Sent                                          map[outdial.Result]int
	Duplicates, SendErrors                        int
	AnsweredTargets                               int // distinct targets whose last attempt was answered

	Checks []Check
}

// Agree reports whether the run settled and every check passed.
func (r *Report) Agree() bool {
	if r.Ending != "settled" || len(r.Checks) == 0 {
		return false
	}
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// SentTotal is the number of outcomes sent, duplicates not included.
func (r *Report) SentTotal() int {
	n := 0
	for _, v := range r.Sent {
		n += v
	}
	return n
}

// track is what the simulator knows of one target it claimed.
type track struct {
	firstTries  int    // try_count_current when first claimed
	claims      int    // attempts claimed
	lastAttempt string // attempt id of the latest claim
	// last is the result delivered for lastAttempt: "" while the call is
	// on, "expired" when sending the outcome failed (so only the lease
	// running out can end that attempt).
	last outdial.Result
}

// sim is one run in progress.
type sim struct {
	cfg       Config
	api       *apiClient
	sqs       *sqs.Client
	queueURL  string
	outdialID string

	sentN, dupN atomic.Int64

	mu      sync.Mutex
	targets map[string]*track
	rep     *Report
}

// Run runs one simulation: it creates or takes the outdial, dials it with
// cfg.Dialers claim loops until every target is finished or failed (or
// ctx is done, or cfg.Timeout passes), and then checks the outdial's
// counts against what the simulator sent. Progress and the summary go to
// cfg.Out. The error is for runs that could not start or had to stop
// (bad configuration, the API or the queue refusing requests); a run that
// ends with counts that disagree returns a Report whose Agree is false.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	s, err := newSim(cfg)
	if err != nil {
		return nil, err
	}
	return s.run(ctx)
}

// newSim checks cfg and fills in its defaults.
func newSim(cfg Config) (*sim, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
		if cfg.TTY {
			cfg.Interval = 250 * time.Millisecond
		}
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 30 * time.Second
	}
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	return &sim{
		cfg: cfg, api: &apiClient{base: strings.TrimRight(cfg.API, "/"), token: cfg.Token, http: cfg.HTTPClient},
		targets: map[string]*track{},
		rep:     &Report{Seed: cfg.Seed, Sent: map[outdial.Result]int{}},
	}, nil
}

// run is Run after newSim.
func (s *sim) run(ctx context.Context) (*Report, error) {
	cfg := s.cfg
	started := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	// The API and the token first: their errors are the common ones.
	if err := s.api.do(runCtx, http.MethodGet, "/v1.0/outdials?page_size=1", "", nil, nil); err != nil {
		return nil, fmt.Errorf("API %s: %w", cfg.API, err)
	}

	// The outcome queue.
	var err error
	if s.sqs, err = newSQSClient(runCtx, cfg.SQSEndpoint, cfg.Region, cfg.QueueURL); err != nil {
		return nil, err
	}
	s.queueURL = cfg.QueueURL
	if s.queueURL == "" {
		res, err := s.sqs.GetQueueUrl(runCtx, &sqs.GetQueueUrlInput{QueueName: aws.String(cfg.QueueName)})
		if err != nil {
			return nil, fmt.Errorf("outcome queue %q: %w", cfg.QueueName, err)
		}
		s.queueURL = aws.ToString(res.QueueUrl)
	}

	// The outdial: created with generated targets, or an existing one.
	rng := rand.New(rand.NewPCG(cfg.Seed, 0))
	s.outdialID = cfg.OutdialID
	if cfg.Create > 0 {
		if s.outdialID, err = s.create(runCtx, rng); err != nil {
			return nil, err
		}
	}
	s.rep.OutdialID = s.outdialID
	first, err := s.api.getOutdial(runCtx, s.outdialID)
	if err != nil {
		return nil, err
	}
	s.rep.Start, s.rep.Final = first.Counts, first
	fmt.Fprintf(cfg.Out, "dialsim: outdial %s %q: %d targets (idle %d, dialing %d, finished %d, failed %d)\n",
		first.ID, first.Name, first.TargetCount, first.Counts.Idle, first.Counts.Dialing, first.Counts.Finished, first.Counts.Failed)
	fmt.Fprintf(cfg.Out, "dialsim: %d dialers x %d per claim, lease %s, calls ~%s, results: %s; duplicates %.0f%%; seed %d\n",
		cfg.Dialers, cfg.Claim, cfg.Lease, cfg.CallDuration, cfg.Probs, 100*cfg.Duplicate, cfg.Seed)
	fmt.Fprintf(cfg.Out, "dialsim: outcomes to %s\n", s.queueURL)

	// Dialers until the outdial settles; the monitor decides when. The
	// first error of a dialer or the monitor stops them all.
	stopCtx, stopDialers := context.WithCancel(runCtx)
	defer stopDialers()
	dialers, dialCtx := errgroup.WithContext(stopCtx)
	var dups sync.WaitGroup
	for i := range cfg.Dialers {
		dialers.Go(func() error {
			drng := rand.New(rand.NewPCG(cfg.Seed, uint64(i+1)))
			return s.dialer(dialCtx, runCtx, i, drng, &dups)
		})
	}
	dialStart := time.Now()
	var ending string
	dialers.Go(func() error {
		defer stopDialers()
		var err error
		ending, err = s.monitor(dialCtx, dialStart)
		return err
	})
	err = dialers.Wait()
	dups.Wait()
	if err != nil {
		s.endProgress()
		return s.rep, err
	}
	switch {
	case ending == "settled":
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		ending = "timeout"
	default:
		ending = "interrupted"
	}
	s.rep.Ending = ending
	s.rep.Elapsed = time.Since(dialStart)

	// The final state, read with a fresh bound so that a timeout or Ctrl-C
	// still gets a summary.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second+cfg.Drain)
	defer fcancel()
	if ending == "settled" {
		if s.rep.Duplicates > 0 {
			s.drain(fctx)
		}
		s.verify(fctx)
	} else if o, err := s.api.getOutdial(fctx, s.outdialID); err == nil {
		s.rep.Final = o
		s.endProgress()
	}
	s.summary(time.Since(started))
	return s.rep, nil
}

// create makes an outdial with cfg.Create generated targets and returns
// its id.
func (s *sim) create(ctx context.Context, rng *rand.Rand) (string, error) {
	cfg := s.cfg
	o, err := s.api.createOutdial(ctx, "dialsim "+time.Now().UTC().Format("2006-01-02 15:04:05"),
		fmt.Sprintf("dialer simulator: %d fictional +1555 numbers, seed %d", cfg.Create, cfg.Seed))
	if err != nil {
		return "", fmt.Errorf("create outdial: %w", err)
	}
	if cfg.RetryDelay >= 0 {
		if _, err := s.api.setRetryPolicy(ctx, o.ID, cfg.RetryDelay); err != nil {
			return "", fmt.Errorf("set retry policy: %w", err)
		}
	}

	// Distinct fictional numbers +1 555 xxx xxxx from a random base.
	base := rng.IntN(10_000_000 - cfg.Create + 1)
	imported := 0
	for from := 0; from < cfg.Create; from += maxImportRows {
		n := min(maxImportRows, cfg.Create-from)
		var b strings.Builder
		b.WriteString("name,tel,try_count_max\n")
		for i := from; i < from+n; i++ {
			tries := ""
			if cfg.Tries > 0 {
				tries = fmt.Sprint(cfg.Tries)
			}
			fmt.Fprintf(&b, "Sim %06d,+1555%07d,%s\n", i+1, base+i, tries)
		}
		var res *importResult
		err := retry(ctx, 5, func() error {
			var err error
			res, err = s.api.importCSV(ctx, o.ID, []byte(b.String()))
			return err
		})
		if err != nil {
			return "", fmt.Errorf("import targets: %w", err)
		}
		if res.Rejected > 0 {
			r := res.RejectedTargets[0]
			return "", fmt.Errorf("import targets: %d rows rejected, first at line %d: %s: %s", res.Rejected, r.Line, r.Code, r.Message)
		}
		// A retried request finds its earlier rows as duplicates.
		imported += res.Created + res.Duplicates
	}
	if imported != cfg.Create {
		return "", fmt.Errorf("import targets: %d imported, want %d", imported, cfg.Create)
	}
	fmt.Fprintf(s.cfg.Out, "dialsim: created outdial %s with %d targets (CSV import", o.ID, imported)
	if cfg.RetryDelay >= 0 {
		fmt.Fprintf(s.cfg.Out, ", every retry delay %ds", cfg.RetryDelay)
	}
	fmt.Fprintln(s.cfg.Out, ")")
	return o.ID, nil
}

// dialer is one claim loop. It claims with dialCtx (the run stops it when
// the outdial settles) and sends duplicates with runCtx, so that those
// still due go out. It returns an error only when the API refuses claims
// for good (a 4xx, or 5xx that retries did not cure).
func (s *sim) dialer(dialCtx, runCtx context.Context, id int, rng *rand.Rand, dups *sync.WaitGroup) error {
	const minIdle, maxIdle = 100 * time.Millisecond, 500 * time.Millisecond
	idle := minIdle
	for dialCtx.Err() == nil {
		var claims []*outdial.Claim
		tries := 0
		err := retry(dialCtx, 8, func() error {
			tries++
			var err error
			claims, err = s.api.claim(dialCtx, s.outdialID, s.cfg.Claim, s.cfg.Lease)
			return err
		})
		if dialCtx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dialer %d: claim: %w", id, err)
		}
		s.recordClaims(claims, tries-1)
		if len(claims) == 0 {
			// Nothing due now (retries wait, or outcomes are on their way).
			if sleepCtx(dialCtx, idle/2+time.Duration(rng.Int64N(int64(idle)))) != nil {
				return nil
			}
			idle = min(2*idle, maxIdle)
			continue
		}
		idle = minIdle

		// Every claimed target is dialed at once, on its own line.
		var lines sync.WaitGroup
		for _, c := range claims {
			call := time.Duration(float64(s.cfg.CallDuration) * (0.5 + rng.Float64()))
			res := s.cfg.Probs.pick(rng.Float64())
			dup := rng.Float64() < s.cfg.Duplicate
			dupDelay := time.Duration(rng.Float64() * float64(2*s.cfg.CallDuration))
			lines.Add(1)
			go func() {
				defer lines.Done()
				if sleepCtx(dialCtx, call) != nil {
					return // stopped mid-call: the lease runs out
				}
				s.report(runCtx, c, res, dup, dupDelay, dups)
			}()
		}
		lines.Wait()
	}
	return nil
}

func (s *sim) recordClaims(claims []*outdial.Claim, retries int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rep.ClaimCalls++
	s.rep.ClaimRetries += retries
	if len(claims) == 0 {
		s.rep.EmptyClaims++
	}
	for _, c := range claims {
		s.rep.Claims++
		t := s.targets[c.Target.ID]
		if t == nil {
			t = &track{firstTries: c.Target.TryCountCurrent}
			s.targets[c.Target.ID] = t
		}
		t.claims++
		t.lastAttempt, t.last = c.AttemptID, ""
	}
}

// report sends the outcome of one call (and maybe its duplicate later).
func (s *sim) report(ctx context.Context, c *outdial.Claim, res outdial.Result, dup bool, dupDelay time.Duration, dups *sync.WaitGroup) {
	m := outcome.Message{AttemptID: c.AttemptID, OutdialID: s.outdialID, TargetID: c.Target.ID, Result: string(res)}
	if res == outdial.ResultBusy || res == outdial.ResultNoAnswer || res == outdial.ResultFailed {
		m.RetryAfterSeconds = s.cfg.RetryAfter
	}
	body, _ := json.Marshal(m)
	err := s.send(ctx, string(body))

	s.mu.Lock()
	if t := s.targets[c.Target.ID]; t.lastAttempt == c.AttemptID {
		t.last = res
		if err != nil {
			t.last = outdial.ResultExpired
		}
	}
	if err != nil {
		s.rep.SendErrors++
	} else {
		s.rep.Sent[res]++
		s.sentN.Add(1)
	}
	s.mu.Unlock()
	if err != nil || !dup {
		return
	}

	// The duplicate: the same message again, at once or a little later
	// (maybe after the target was claimed again). It must change nothing.
	dups.Add(1)
	go func() {
		defer dups.Done()
		if sleepCtx(ctx, dupDelay) != nil {
			return
		}
		err := s.send(ctx, string(body))
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil {
			s.rep.SendErrors++
			return
		}
		s.rep.Duplicates++
		s.dupN.Add(1)
	}()
}

func (s *sim) send(ctx context.Context, body string) error {
	_, err := s.sqs.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.queueURL), MessageBody: aws.String(body)})
	return err
}

// settled reports whether every target is finished or failed.
func settled(o *outdial.Outdial) bool {
	return o.Counts.Idle == 0 && o.Counts.Dialing == 0
}

// monitor polls the outdial every cfg.Interval, shows progress, and
// returns "settled" once nothing is idle or dialing (the counts are read
// with a consistent read, and finished and failed are final, so one such
// answer is enough), or "" when ctx is done first or the outdial cannot be
// read (then with the error).
func (s *sim) monitor(ctx context.Context, start time.Time) (string, error) {
	for {
		next := time.Now().Add(s.cfg.Interval)
		o, err := s.api.getOutdial(ctx, s.outdialID)
		if err == nil {
			s.mu.Lock()
			s.rep.Final = o
			s.mu.Unlock()
			s.progress(o, time.Since(start))
			if settled(o) {
				s.endProgress()
				return "settled", nil
			}
		} else if ctx.Err() == nil && !retryable(err) {
			// The outdial is gone or the token expired: stop.
			return "", fmt.Errorf("monitor: %w", err)
		}
		if sleepCtx(ctx, time.Until(next)) != nil {
			return "", nil
		}
	}
}

// drain waits until the outcome queue is empty, so that every duplicate
// has been processed before the checks, for at most cfg.Drain. Messages
// in flight (received, not yet deleted) that stay so for 3 s are failed
// deliveries waiting for the queue's visibility timeout; it says so and
// stops waiting. It needs sqs:GetQueueAttributes; without it the checks
// run at once.
func (s *sim) drain(ctx context.Context) {
	deadline := time.Now().Add(s.cfg.Drain)
	lastInFlight, since := -1, time.Now()
	for {
		res, err := s.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(s.queueURL),
			AttributeNames: []sqstypes.QueueAttributeName{
				sqstypes.QueueAttributeNameApproximateNumberOfMessages,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
				sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed,
			},
		})
		if err != nil {
			fmt.Fprintf(s.cfg.Out, "dialsim: cannot read the queue's depth (%v); checking without waiting for duplicates\n", err)
			return
		}
		num := func(a sqstypes.QueueAttributeName) int {
			n, _ := strconv.Atoi(res.Attributes[string(a)])
			return n
		}
		waiting := num(sqstypes.QueueAttributeNameApproximateNumberOfMessages) + num(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)
		inFlight := num(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)
		switch {
		case waiting+inFlight == 0:
			return
		case waiting == 0 && inFlight == lastInFlight && time.Since(since) >= 3*time.Second:
			fmt.Fprintf(s.cfg.Out, "dialsim: %s in flight for 3 s: deliveries the processor failed, redelivered after the queue's visibility timeout (see the service's log); checking now\n", plural(inFlight, "outcome message stays", "outcome messages stay"))
			return
		case time.Now().After(deadline):
			fmt.Fprintf(s.cfg.Out, "dialsim: the queue still holds %d messages (%d in flight) after %s; checking now\n", waiting+inFlight, inFlight, s.cfg.Drain)
			return
		}
		if inFlight != lastInFlight || waiting > 0 {
			lastInFlight, since = inFlight, time.Now()
		}
		if sleepCtx(ctx, 200*time.Millisecond) != nil {
			return
		}
	}
}

// verify reads the final state and checks it against the simulator's
// record. It assumes the simulator was the only dialer of the outdial.
func (s *sim) verify(ctx context.Context) {
	rep := s.rep
	add := func(name string, ok bool, format string, args ...any) {
		rep.Checks = append(rep.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
	}
	o, err := s.api.getOutdial(ctx, s.outdialID)
	if err != nil {
		add("final counts", false, "GET outdial: %v", err)
		return
	}
	rep.Final = o
	c := o.Counts

	// 1. Settled: nothing idle, dialing or waiting for a retry; every
	// target is finished or failed.
	add("settled", c.Idle == 0 && c.Dialing == 0 && c.Retry == 0 && o.TargetCount == c.Finished+c.Failed,
		"idle %d, dialing %d, retry_pending %d; target_count %d = finished %d + failed %d",
		c.Idle, c.Dialing, c.Retry, o.TargetCount, c.Finished, c.Failed)

	// 2. Finished: the targets finished before the run, plus the distinct
	// targets whose latest attempt the simulator answered. (An earlier
	// answered attempt cannot exist: finished targets are never claimed
	// again.) A duplicate applied twice would count twice here.
	s.mu.Lock()
	answered := 0
	for _, t := range s.targets {
		if t.last == outdial.ResultAnswered {
			answered++
		}
	}
	rep.AnsweredTargets, rep.Targets = answered, len(s.targets)
	s.mu.Unlock()
	want := rep.Start.Finished + int64(answered)
	add("finished", c.Finished == want, "API finished %d, want %d = %d finished at start + %d targets whose last attempt was answered",
		c.Finished, want, rep.Start.Finished, answered)

	// 3. The counters against the targets themselves, and 4. each claimed
	// target against the simulator's record.
	list, err := s.api.listTargets(ctx, s.outdialID)
	if err != nil {
		add("targets", false, "list targets: %v", err)
		return
	}
	var listed outdial.Counts
	for _, t := range list {
		switch t.Status {
		case outdial.StatusIdle:
			listed.Idle++
		case outdial.StatusDialing:
			listed.Dialing++
		case outdial.StatusFinished:
			listed.Finished++
		case outdial.StatusFailed:
			listed.Failed++
		}
	}
	add("listing", int64(len(list)) == o.TargetCount && listed.Idle == c.Idle && listed.Dialing == c.Dialing &&
		listed.Finished == c.Finished && listed.Failed == c.Failed,
		"%d targets listed (idle %d, dialing %d, finished %d, failed %d) vs counts (target_count %d, idle %d, dialing %d, finished %d, failed %d)",
		len(list), listed.Idle, listed.Dialing, listed.Finished, listed.Failed, o.TargetCount, c.Idle, c.Dialing, c.Finished, c.Failed)

	s.mu.Lock()
	defer s.mu.Unlock()
	var bad []string
	seen, expired := 0, 0
	for _, t := range list {
		tr := s.targets[t.ID]
		if tr == nil {
			continue
		}
		seen++
		if t.LastResult == outdial.ResultExpired {
			expired++
		}
		wantStatus := outdial.StatusFailed
		if tr.last == outdial.ResultAnswered {
			wantStatus = outdial.StatusFinished
		}
		wantTries := tr.firstTries + tr.claims
		if t.Status != wantStatus || t.TryCountCurrent != wantTries {
			bad = append(bad, fmt.Sprintf("target %s: status %s, try_count_current %d, last_result %s; simulator: %d claims, last sent %q (want %s, %d tries)",
				t.ID, t.Status, t.TryCountCurrent, t.LastResult, tr.claims, tr.last, wantStatus, wantTries))
		}
	}
	detail := fmt.Sprintf("%d claimed targets: status and try_count_current as the simulator's outcomes dictate (every outcome applied once, every duplicate ignored)", seen)
	if seen != len(s.targets) {
		bad = append(bad, fmt.Sprintf("%d claimed targets missing from the listing", len(s.targets)-seen))
	}
	if len(bad) > 0 {
		detail = fmt.Sprintf("%d of %d claimed targets differ", len(bad), len(s.targets))
		if expired > 0 {
			detail += fmt.Sprintf(" (%d ended with an expired lease: an outcome arrived after its lease, or could not be sent; try a longer -lease)", expired)
		}
		for i, b := range bad {
			if i == 5 {
				detail += fmt.Sprintf("\n          ... and %d more", len(bad)-5)
				break
			}
			detail += "\n          " + b
		}
	}
	add("per target", len(bad) == 0, "%s", detail)
}

// plural returns "1 <one>" or "n <many>".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
