package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
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

	// With Create: a calling window, targets in a zone where it is closed,
	// and numbers on the customer's suppression list.
	Window           string  // "HH:MM-HH:MM" ("" none): the created outdial's calling window, every day
	WindowTZ         string  // the window's zone: an IANA name, or "auto" (a whole-hour zone where it is open now); "" = UTC
	ClosedShare      float64 // fraction of the generated targets given a zone where the window is closed now
	Suppress         int     // generated numbers suppressed before the import (which must reject exactly them)
	SuppressLate     int     // imported numbers suppressed after the import, before dialing (claims must fail them)
	KeepSuppressions bool    // leave the numbers it suppressed on the list (else removed at the end)

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
	case c.Window != "" && c.Create <= 0:
		return errors.New("-window needs -create (an existing outdial keeps its own calling window)")
	case c.ClosedShare < 0 || c.ClosedShare > 1:
		return errors.New("-closed-share must be between 0 and 1")
	case c.ClosedShare > 0 && c.Window == "":
		return errors.New("-closed-share needs -window")
	case c.Suppress < 0 || c.SuppressLate < 0:
		return errors.New("-suppress and -suppress-late must not be negative")
	case (c.Suppress > 0 || c.SuppressLate > 0) && c.Create <= 0:
		return errors.New("-suppress and -suppress-late need -create")
	case c.Create > 0 && c.Suppress+c.SuppressLate+c.closedTargets() > c.Create:
		return fmt.Errorf("-suppress %d + -suppress-late %d + %d targets of -closed-share exceed the %d of -create",
			c.Suppress, c.SuppressLate, c.closedTargets(), c.Create)
	}
	if c.Window != "" {
		if _, err := parseWindow(c.Window); err != nil {
			return err
		}
		if tz := c.windowTZ(); tz != autoZone {
			if _, err := outdial.LoadZone(tz); err != nil {
				return fmt.Errorf("-window-tz %q is not an IANA time zone name (such as UTC or America/New_York), nor auto", tz)
			}
		}
	}
	if c.OutdialID != "" {
		if _, err := outdial.ParseID("outdial", c.OutdialID); err != nil {
			return errors.New("-outdial must be a UUID")
		}
	}
	return c.Probs.validate()
}

// windowTZ is -window-tz, UTC when not set.
func (c *Config) windowTZ() string {
	if c.WindowTZ == "" {
		return "UTC"
	}
	return c.WindowTZ
}

// closedTargets is how many generated targets -closed-share puts in a zone
// where the window is closed.
func (c *Config) closedTargets() int {
	if c.Window == "" || c.Create <= 0 {
		return 0
	}
	return int(math.Round(c.ClosedShare * float64(c.Create)))
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

	// With -create: what the import did, and what the run expects of the
	// calling window and the suppression list.
	Created          bool
	Imported         int                    // targets created (rows minus those rejected)
	Rejected         int                    // rows the import rejected, every one as suppressed
	SuppressedBefore int                    // numbers the run suppressed before the import (-suppress)
	ListedBefore     int                    // generated numbers on the list before the run (earlier runs)
	SuppressedLate   int                    // imported numbers the run suppressed before dialing (-suppress-late)
	Window           *outdial.CallingWindow // the created outdial's window (nil: none)
	WindowCloses     time.Time              // when the window next closes in its zone
	ClosedZone       string                 // zone of the ClosedTargets, where the window is closed
	ClosedTargets    int                    // targets given ClosedZone
	ClosedOpens      time.Time              // when the window opens in ClosedZone
	Unsuppressed     int                    // numbers removed from the list at the end
	UnsuppressErr    error                  // why they could not all be removed
	Waiting          int64                  // idle targets waiting for the calling window at the end
	Reasons          map[outdial.Reason]int // targets by reason at the end (nil: not read)
	ReasonsErr       error                  // why Reasons could not be read

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

	// With -create.
	plan    *windowPlan // with -window
	base    int         // the generated numbers are +1555 base .. base+Create-1 (7 digits)
	roles   []byte      // the role of each generated number
	added   []string    // addresses this run put on the suppression list and has not removed
	waitMax int64       // targets that may wait for the window at the end (-1: unknown)

	lastWaitRead time.Time // the monitor's last count of targets waiting for the window
}

// Roles of the generated numbers.
const (
	roleDial     byte = iota // imported and dialed
	roleListed               // on the suppression list before the run: rejected by the import
	roleSuppress             // suppressed before the import (-suppress): rejected by it
	roleLate                 // suppressed after the import (-suppress-late): failed by a claim
	roleClosed               // given a zone where the window is closed (-closed-share): waits
)

// number is the i-th generated number, +1555 and 7 digits.
func (s *sim) number(i int) string { return fmt.Sprintf("+1555%07d", s.base+i) }

// indexOf returns i for the i-th generated number, written with or without
// "tel:"; false for any other.
func (s *sim) indexOf(num string) (int, bool) {
	d, ok := strings.CutPrefix(strings.TrimPrefix(num, "tel:"), "+1555")
	if !ok || len(d) != 7 {
		return 0, false
	}
	n, err := strconv.Atoi(d)
	if err != nil || n < s.base || n-s.base >= s.cfg.Create {
		return 0, false
	}
	return n - s.base, true
}

// roleOf returns the role of the number a target was created for
// (roleDial for numbers the run did not generate).
func (s *sim) roleOf(t *outdial.Target) byte {
	if i, ok := s.indexOf(t.Destination.Target); ok && i < len(s.roles) {
		return s.roles[i]
	}
	return roleDial
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
		waitMax: -1,
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
		// The numbers it suppresses are taken off the list again however
		// the run ends (unless -keep-suppressions); the summary reports it
		// when the run gets that far.
		defer s.unsuppress(ctx)
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
	} else {
		if o, err := s.api.getOutdial(fctx, s.outdialID); err == nil {
			s.rep.Final = o
		}
		s.endProgress()
		if byReason, err := s.byReason(fctx); err == nil {
			s.rep.Reasons = reasonCounts(byReason)
		} else {
			s.rep.ReasonsErr = err
		}
	}
	s.unsuppress(fctx)
	s.summary(time.Since(started))
	return s.rep, nil
}

// create makes an outdial with cfg.Create generated targets and returns
// its id. With -window the outdial gets that calling window (open now in
// its zone) and a -closed-share of the targets a zone where it is closed;
// with -suppress some generated numbers go on the suppression list before
// the import, which must reject exactly their rows (code suppressed), and
// with -suppress-late some imported numbers go on it after the import.
// Generated numbers on the list already (left by an earlier run) are
// expected rejected as well.
func (s *sim) create(ctx context.Context, rng *rand.Rand) (string, error) {
	cfg := s.cfg
	rep := s.rep
	rep.Created = true
	var win *outdial.CallingWindow
	if cfg.Window != "" {
		p, err := planWindow(cfg.Window, cfg.windowTZ(), cfg.closedTargets() > 0, time.Now(), cfg.Timeout)
		if err != nil {
			return "", err
		}
		s.plan, win = p, &p.Window
		rep.Window, rep.WindowCloses, rep.ClosedZone, rep.ClosedOpens = win, p.Closes, p.ClosedZone, p.Opens
	}
	o, err := s.api.createOutdial(ctx, "dialsim "+time.Now().UTC().Format("2006-01-02 15:04:05"),
		fmt.Sprintf("dialer simulator: %d fictional +1555 numbers, seed %d", cfg.Create, cfg.Seed), win)
	if err != nil {
		return "", fmt.Errorf("create outdial: %w", err)
	}
	if got := o.CallingWindow; win != nil && (got == nil || got.Start != win.Start || got.End != win.End || got.Timezone != win.Timezone) {
		return "", fmt.Errorf("create outdial: POST /v1.0/outdials with calling_window %s answered calling_window %s", windowString(win), windowString(got))
	}
	if cfg.RetryDelay >= 0 {
		if _, err := s.api.setRetryPolicy(ctx, o.ID, cfg.RetryDelay); err != nil {
			return "", fmt.Errorf("set retry policy: %w", err)
		}
	}

	// Distinct fictional numbers +1 555 xxx xxxx from a random base, each
	// with a role.
	s.base = rng.IntN(10_000_000 - cfg.Create + 1)
	listed, err := s.listedAlready(ctx)
	if err != nil {
		if cfg.Suppress > 0 || cfg.SuppressLate > 0 {
			return "", fmt.Errorf("check the suppression list: %w", err)
		}
		fmt.Fprintf(cfg.Out, "dialsim: cannot check the suppression list (%v); importing as if none of the numbers were on it\n", err)
		listed = nil
	}
	if free := cfg.Create - len(listed); cfg.Suppress+cfg.SuppressLate+cfg.closedTargets() > free {
		return "", fmt.Errorf("%d of the %d generated numbers are on the suppression list already: too few left for -suppress %d, -suppress-late %d and %d targets of -closed-share",
			len(listed), cfg.Create, cfg.Suppress, cfg.SuppressLate, cfg.closedTargets())
	}
	s.roles = assignRoles(rng, cfg.Create, listed, cfg.Suppress, cfg.SuppressLate, cfg.closedTargets())
	rep.ListedBefore, rep.ClosedTargets = len(listed), cfg.closedTargets()
	if err := s.suppress(ctx, roleSuppress); err != nil {
		return "", err
	}
	rep.SuppressedBefore = cfg.Suppress

	// The import: rows rejected as suppressed are exactly those of the
	// numbers on the list.
	wantRejected := 0
	for from := 0; from < cfg.Create; from += maxImportRows {
		n := min(maxImportRows, cfg.Create-from)
		var b strings.Builder
		b.WriteString("name,tel,try_count_max")
		if rep.ClosedTargets > 0 {
			b.WriteString(",timezone")
		}
		b.WriteString("\n")
		chunkRejected := 0
		for i := from; i < from+n; i++ {
			tries := ""
			if cfg.Tries > 0 {
				tries = fmt.Sprint(cfg.Tries)
			}
			fmt.Fprintf(&b, "Sim %06d,%s,%s", i+1, s.number(i), tries)
			if rep.ClosedTargets > 0 {
				zone := ""
				if s.roles[i] == roleClosed {
					zone = rep.ClosedZone
				}
				b.WriteString("," + zone)
			}
			b.WriteString("\n")
			if r := s.roles[i]; r == roleListed || r == roleSuppress {
				chunkRejected++
			}
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
		var unexpected []string
		for _, r := range res.RejectedTargets {
			i := from + r.Index
			if r.Code == outdial.ECodeSuppressed && r.Index >= 0 && r.Index < n && (s.roles[i] == roleListed || s.roles[i] == roleSuppress) {
				continue
			}
			unexpected = append(unexpected, fmt.Sprintf("line %d: %s: %s", r.Line, r.Code, r.Message))
		}
		if len(unexpected) > 0 || res.Rejected != chunkRejected || len(res.RejectedTargets) != res.Rejected {
			msg := fmt.Sprintf("import targets: %d rows rejected (%d listed), want exactly the %d whose numbers are on the suppression list, with code %s",
				res.Rejected, len(res.RejectedTargets), chunkRejected, outdial.ECodeSuppressed)
			if len(unexpected) > 0 {
				msg += "; first unexpected at " + unexpected[0]
			}
			return "", errors.New(msg)
		}
		// A retried request finds its earlier rows as duplicates.
		rep.Imported += res.Created + res.Duplicates
		rep.Rejected += res.Rejected
		wantRejected += chunkRejected
	}
	if rep.Imported != cfg.Create-wantRejected {
		return "", fmt.Errorf("import targets: %d imported, want %d (%d rows, %d rejected as suppressed)", rep.Imported, cfg.Create-wantRejected, cfg.Create, wantRejected)
	}
	out := s.cfg.Out
	fmt.Fprintf(out, "dialsim: created outdial %s with %d targets (CSV import", o.ID, rep.Imported)
	if cfg.RetryDelay >= 0 {
		fmt.Fprintf(out, ", every retry delay %ds", cfg.RetryDelay)
	}
	fmt.Fprintln(out, ")")
	if p := s.plan; p != nil {
		loc := mustZone(p.Window.Timezone)
		fmt.Fprintf(out, "dialsim: calling window %s-%s every day in %s: open now (%s there) until %s, in %s\n",
			p.Window.Start, p.Window.End, p.Window.Timezone, p.Now.In(loc).Format("15:04"), p.Closes.In(loc).Format("15:04"), fmtDur(p.Closes.Sub(p.Now)))
		if rep.ClosedTargets > 0 {
			fmt.Fprintf(out, "dialsim: %s in %s, where it is closed (%s there) and opens in %s: they wait\n",
				plural(rep.ClosedTargets, "target", "targets"), p.ClosedZone, p.Now.In(mustZone(p.ClosedZone)).Format("15:04"), fmtDur(p.Opens.Sub(p.Now)))
		}
	}
	if rep.Rejected > 0 {
		fmt.Fprintf(out, "dialsim: the import rejected the rows of the %s on the suppression list (code %s)", plural(rep.Rejected, "number", "numbers"), outdial.ECodeSuppressed)
		if rep.ListedBefore > 0 {
			fmt.Fprintf(out, ": %d suppressed now, %d listed before", rep.SuppressedBefore, rep.ListedBefore)
		}
		fmt.Fprintln(out)
	}

	// Then more numbers on the list, of targets now imported: the claims
	// must fail those targets instead of handing them out.
	if err := s.suppress(ctx, roleLate); err != nil {
		return "", err
	}
	rep.SuppressedLate = cfg.SuppressLate
	if cfg.SuppressLate > 0 {
		fmt.Fprintf(out, "dialsim: suppressed %s of the imported targets before dialing: claims must fail them\n", plural(cfg.SuppressLate, "number", "numbers"))
	}
	if s.plan != nil {
		s.waitMax = int64(rep.ClosedTargets)
	}
	return o.ID, nil
}

// windowString shows a calling window, or "null".
func windowString(w *outdial.CallingWindow) string {
	if w == nil {
		return "null"
	}
	b, _ := json.Marshal(w)
	return string(b)
}

// assignRoles gives n generated numbers their roles: those of listed are
// on the suppression list already; of the others, chosen uniformly at
// random, exactly suppress get roleSuppress, late roleLate and closed
// roleClosed (selection sampling: each number in turn gets a role with
// the odds of the counts still to give among the numbers still to come).
func assignRoles(rng *rand.Rand, n int, listed map[int]bool, suppress, late, closed int) []byte {
	roles := make([]byte, n)
	left := []int{suppress, late, closed}
	free := n - len(listed)
	for i := range roles {
		if listed[i] {
			roles[i] = roleListed
			continue
		}
		u := rng.IntN(free)
		free--
		for k, l := range left {
			if u < l {
				roles[i] = roleSuppress + byte(k)
				left[k]--
				break
			}
			u -= l
		}
	}
	return roles
}

// listedAlready returns the indexes of the generated numbers that are on
// the customer's suppression list (POST /v1.0/suppressions/check).
func (s *sim) listedAlready(ctx context.Context) (map[int]bool, error) {
	listed := map[int]bool{}
	for from := 0; from < s.cfg.Create; from += outdial.MaxSuppressionsPerRequest {
		n := min(outdial.MaxSuppressionsPerRequest, s.cfg.Create-from)
		addrs := make([]string, n)
		for i := range addrs {
			addrs[i] = "tel:" + s.number(from+i)
		}
		var got []string
		err := retry(ctx, 5, func() error {
			var err error
			got, err = s.api.checkSuppressions(ctx, addrs)
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, a := range got {
			i, ok := s.indexOf(a)
			if !ok || i < from || i >= from+n {
				return nil, fmt.Errorf("POST /v1.0/suppressions/check answered %q, not one of the addresses asked about", a)
			}
			listed[i] = true
		}
	}
	return listed, nil
}

// suppress puts the numbers of role on the suppression list
// (POST /v1.0/suppressions), remembering them for unsuppress.
func (s *sim) suppress(ctx context.Context, role byte) error {
	var addrs []string
	for i, r := range s.roles {
		if r == role {
			addrs = append(addrs, "tel:"+s.number(i))
		}
	}
	for len(addrs) > 0 {
		chunk := addrs[:min(len(addrs), outdial.MaxSuppressionsPerRequest)]
		addrs = addrs[len(chunk):]
		s.added = append(s.added, chunk...)
		var res *suppressionAnswer
		err := retry(ctx, 5, func() error {
			var err error
			res, err = s.api.addSuppressions(ctx, chunk)
			return err
		})
		if err != nil {
			return fmt.Errorf("suppress numbers: %w", err)
		}
		// A retried request finds the numbers it added as existing; none
		// was listed before (listedAlready).
		if len(res.Rejected) > 0 || res.Added+res.Existing != len(chunk) {
			msg := fmt.Sprintf("suppress numbers: POST /v1.0/suppressions with %d addresses answered added %d, existing %d, %d rejected",
				len(chunk), res.Added, res.Existing, len(res.Rejected))
			if len(res.Rejected) > 0 {
				r := res.Rejected[0]
				msg += fmt.Sprintf(", the first %q: %s: %s", r.Address, r.Error.Code, r.Error.Message)
			}
			return errors.New(msg)
		}
	}
	return nil
}

// unsuppress takes the numbers the run suppressed off the list again
// (POST /v1.0/suppressions/delete), unless -keep-suppressions: they are
// fictional numbers of the demo customer, and later runs draw from the
// same range. Deleting an entry does not bring back the targets it failed
// or the rows it rejected. It runs once; ctx may be done already (an
// interrupted run), so it works on a bound of its own.
func (s *sim) unsuppress(ctx context.Context) {
	if len(s.added) == 0 || s.cfg.KeepSuppressions {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	addrs := s.added
	s.added = nil
	for len(addrs) > 0 {
		chunk := addrs[:min(len(addrs), outdial.MaxSuppressionsPerRequest)]
		addrs = addrs[len(chunk):]
		var n int
		err := retry(ctx, 5, func() error {
			var err error
			n, err = s.api.deleteSuppressions(ctx, chunk)
			return err
		})
		if err != nil {
			s.rep.UnsuppressErr = err
			return
		}
		s.rep.Unsuppressed += n
	}
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

// settled reports whether the outdial is done for this run: nothing
// dialing, and every idle target (if any) waiting for its calling window,
// which no claim hands out before it opens. Without a window that is every
// target finished or failed. With one, the targets waiting are counted
// with GET …/targets?reason=outside_calling_window, only when they can be
// all that is idle (a created outdial: no more than it put in a closed
// zone), and at most every 2 s.
func (s *sim) settled(ctx context.Context, o *outdial.Outdial) bool {
	c := o.Counts
	switch {
	case c.Dialing > 0:
		return false
	case c.Idle == 0:
		return true
	case o.CallingWindow == nil:
		return false
	case s.waitMax >= 0 && c.Idle > s.waitMax:
		return false
	case time.Since(s.lastWaitRead) < max(s.cfg.Interval, 2*time.Second):
		return false
	}
	s.lastWaitRead = time.Now()
	waiting, err := s.api.listTargetsBy(ctx, s.outdialID, outdial.ReasonOutsideWindow)
	return err == nil && int64(len(waiting)) == c.Idle
}

// monitor polls the outdial every cfg.Interval, shows progress, and
// returns "settled" once nothing is dialing and nothing idle but targets
// waiting for the calling window (settled; the counts are read with a
// consistent read, finished and failed are final, and a target waiting
// for a window that stays closed for the run stays so, so one such answer
// is enough), or "" when ctx is done first or the outdial cannot be read
// (then with the error).
func (s *sim) monitor(ctx context.Context, start time.Time) (string, error) {
	for {
		next := time.Now().Add(s.cfg.Interval)
		o, err := s.api.getOutdial(ctx, s.outdialID)
		if err == nil {
			s.mu.Lock()
			s.rep.Final = o
			s.mu.Unlock()
			s.progress(o, time.Since(start))
			if s.settled(ctx, o) {
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

// reasonOrder lists the reasons in the order the summary shows them.
var reasonOrder = []outdial.Reason{
	outdial.ReasonDue, outdial.ReasonRetryScheduled, outdial.ReasonOutsideWindow, outdial.ReasonDialing,
	outdial.ReasonFinished, outdial.ReasonMaxTries, outdial.ReasonSuppressed,
}

// byReason lists the outdial's targets of every reason, one
// GET …/targets?reason= walk each.
func (s *sim) byReason(ctx context.Context) (map[outdial.Reason][]*outdial.Target, error) {
	lists := make([][]*outdial.Target, len(reasonOrder))
	g, gctx := errgroup.WithContext(ctx)
	for i, r := range reasonOrder {
		g.Go(func() error {
			var err error
			if lists[i], err = s.api.listTargetsBy(gctx, s.outdialID, r); err != nil {
				return fmt.Errorf("list targets with reason %s: %w", r, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make(map[outdial.Reason][]*outdial.Target, len(reasonOrder))
	for i, r := range reasonOrder {
		out[r] = lists[i]
	}
	return out, nil
}

// reasonCounts counts the lists of byReason.
func reasonCounts(by map[outdial.Reason][]*outdial.Target) map[outdial.Reason]int {
	n := make(map[outdial.Reason]int, len(by))
	for r, l := range by {
		n[r] = len(l)
	}
	return n
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
	by, err := s.byReason(ctx)
	if err != nil {
		rep.ReasonsErr = err
		add("reasons", false, "%v", err)
		return
	}
	rep.Reasons = reasonCounts(by)
	waiting := int64(len(by[outdial.ReasonOutsideWindow]))
	rep.Waiting = waiting

	// 1. Settled: nothing dialing, nothing idle but the targets waiting for
	// a calling window; every other target is finished or failed. A created
	// outdial has the targets the import created.
	imported := ""
	importedOK := true
	if rep.Created {
		importedOK = o.TargetCount == int64(rep.Imported)
		imported = fmt.Sprintf(" (imported %d)", rep.Imported)
	}
	if o.CallingWindow == nil && waiting == 0 {
		add("settled", c.Idle == 0 && c.Dialing == 0 && c.Retry == 0 && o.TargetCount == c.Finished+c.Failed && importedOK,
			"idle %d, dialing %d, retry_pending %d; target_count %d%s = finished %d + failed %d",
			c.Idle, c.Dialing, c.Retry, o.TargetCount, imported, c.Finished, c.Failed)
	} else {
		add("settled", c.Idle == waiting && c.Dialing == 0 && c.Retry <= c.Idle && o.TargetCount == c.Finished+c.Failed+waiting && importedOK,
			"idle %d = %d waiting for the calling window (retry_pending %d), dialing %d; target_count %d%s = finished %d + failed %d + %d waiting",
			c.Idle, waiting, c.Retry, c.Dialing, o.TargetCount, imported, c.Finished, c.Failed, waiting)
	}

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

	// 3. The counters against the targets themselves (retry_pending: the
	// idle targets dialed at least once).
	list, err := s.api.listTargets(ctx, s.outdialID)
	if err != nil {
		add("targets", false, "list targets: %v", err)
		return
	}
	var listed outdial.Counts
	listedReasons := map[outdial.Reason]int{}
	for _, t := range list {
		listedReasons[t.Reason]++
		switch t.Status {
		case outdial.StatusIdle:
			listed.Idle++
			if t.TryCountCurrent > 0 {
				listed.Retry++
			}
		case outdial.StatusDialing:
			listed.Dialing++
		case outdial.StatusFinished:
			listed.Finished++
		case outdial.StatusFailed:
			listed.Failed++
		}
	}
	add("listing", int64(len(list)) == o.TargetCount && listed.Idle == c.Idle && listed.Dialing == c.Dialing &&
		listed.Finished == c.Finished && listed.Failed == c.Failed && listed.Retry == c.Retry,
		"%d targets listed (idle %d, of them dialed before %d, dialing %d, finished %d, failed %d) vs counts (target_count %d, idle %d, retry_pending %d, dialing %d, finished %d, failed %d)",
		len(list), listed.Idle, listed.Retry, listed.Dialing, listed.Finished, listed.Failed, o.TargetCount, c.Idle, c.Retry, c.Dialing, c.Finished, c.Failed)

	// 4. Reasons: each ?reason= list holds targets of that reason, the
	// lists agree with the reasons of the full listing, and their sums
	// with the counts of each status.
	var reasonBad []string
	var byStatus outdial.Counts
	for _, r := range reasonOrder {
		n := int64(len(by[r]))
		for _, t := range by[r] {
			if t.Reason != r {
				reasonBad = append(reasonBad, fmt.Sprintf("?reason=%s lists target %s with reason %q", r, t.ID, t.Reason))
				break
			}
		}
		if listedReasons[r] != len(by[r]) {
			reasonBad = append(reasonBad, fmt.Sprintf("?reason=%s lists %d, the full listing has %d", r, len(by[r]), listedReasons[r]))
		}
		switch r.Status() {
		case outdial.StatusIdle:
			byStatus.Idle += n
		case outdial.StatusDialing:
			byStatus.Dialing += n
		case outdial.StatusFinished:
			byStatus.Finished += n
		case outdial.StatusFailed:
			byStatus.Failed += n
		}
	}
	for r, n := range listedReasons {
		if !slices.Contains(reasonOrder, r) {
			reasonBad = append(reasonBad, fmt.Sprintf("%d listed targets have reason %q", n, r))
		}
	}
	if byStatus.Idle != c.Idle || byStatus.Dialing != c.Dialing || byStatus.Finished != c.Finished || byStatus.Failed != c.Failed {
		reasonBad = append(reasonBad, fmt.Sprintf("by status: idle %d, dialing %d, finished %d, failed %d; counts: idle %d, dialing %d, finished %d, failed %d",
			byStatus.Idle, byStatus.Dialing, byStatus.Finished, byStatus.Failed, c.Idle, c.Dialing, c.Finished, c.Failed))
	}
	detail := "the ?reason= lists agree with the full listing and with the counts (idle = due + retry_scheduled + outside_calling_window, failed = max_tries_reached + suppressed)"
	if len(reasonBad) > 0 {
		detail = strings.Join(reasonBad, "; ")
	}
	add("reasons", len(reasonBad) == 0, "%s", detail)

	s.mu.Lock()
	defer s.mu.Unlock()

	// 5. The calling window: the targets waiting for it are exactly those
	// the run put in a zone where it is closed, each with that zone, its
	// opening there as next_attempt_at, and never handed out.
	if rep.Window != nil {
		var bad []string
		closed := 0
		for _, t := range list {
			if s.roleOf(t) != roleClosed {
				continue
			}
			closed++
			wantNext := rep.ClosedOpens.UTC().Truncate(time.Second)
			switch {
			case s.targets[t.ID] != nil:
				bad = append(bad, fmt.Sprintf("target %s in %s was handed out by a claim while the window was closed there", t.ID, rep.ClosedZone))
			case t.Status != outdial.StatusIdle || t.Reason != outdial.ReasonOutsideWindow || t.Timezone != rep.ClosedZone ||
				!t.NextAttemptAt.UTC().Truncate(time.Second).Equal(wantNext):
				bad = append(bad, fmt.Sprintf("target %s: status %s, reason %s, timezone %q, next_attempt_at %s; want idle, %s, %q, %s",
					t.ID, t.Status, t.Reason, t.Timezone, fmtTime(t.NextAttemptAt), outdial.ReasonOutsideWindow, rep.ClosedZone, wantNext.Format(time.RFC3339)))
			}
		}
		detail := fmt.Sprintf("%d targets wait for the window = the %d put in %s; each idle, reason %s, next_attempt_at its opening there (%s), never handed out",
			waiting, rep.ClosedTargets, rep.ClosedZone, outdial.ReasonOutsideWindow, fmtTimeOr(rep.ClosedOpens))
		if rep.ClosedTargets == 0 {
			detail = fmt.Sprintf("%d targets wait for the window, want none: it is open in %s, and no target was given a zone where it is closed", waiting, rep.Window.Timezone)
		}
		if closed != rep.ClosedTargets {
			bad = append(bad, fmt.Sprintf("%d targets of the closed zone listed, want %d", closed, rep.ClosedTargets))
		}
		if waiting != int64(rep.ClosedTargets) {
			bad = append(bad, fmt.Sprintf("%d targets wait for the window, want the %d put in a zone where it is closed", waiting, rep.ClosedTargets))
		}
		add("window", len(bad) == 0, "%s", badDetail(detail, bad))
	}

	// 6. The suppression list: no target has a number suppressed before
	// the import, and the targets of the numbers suppressed after it are
	// failed by claims (reason suppressed) and were never handed out.
	if rep.Created && (rep.SuppressedBefore > 0 || rep.SuppressedLate > 0 || rep.ListedBefore > 0) {
		var bad []string
		late := 0
		for _, t := range list {
			switch s.roleOf(t) {
			case roleSuppress, roleListed:
				bad = append(bad, fmt.Sprintf("target %s has a number suppressed before the import", t.ID))
			case roleLate:
				late++
				switch {
				case s.targets[t.ID] != nil:
					bad = append(bad, fmt.Sprintf("target %s was handed out by a claim after its number was suppressed", t.ID))
				case t.Status != outdial.StatusFailed || t.LastResult != outdial.ResultSuppressed || t.Reason != outdial.ReasonSuppressed || t.TryCountCurrent != 0:
					bad = append(bad, fmt.Sprintf("target %s: status %s, last_result %q, reason %s, try_count_current %d; want failed, suppressed, suppressed, 0",
						t.ID, t.Status, t.LastResult, t.Reason, t.TryCountCurrent))
				}
			}
		}
		if late != rep.SuppressedLate {
			bad = append(bad, fmt.Sprintf("%d targets of numbers suppressed after the import listed, want %d", late, rep.SuppressedLate))
		}
		if n := len(by[outdial.ReasonSuppressed]); n != rep.SuppressedLate {
			bad = append(bad, fmt.Sprintf("%d targets with reason suppressed, want the %d suppressed after the import", n, rep.SuppressedLate))
		}
		detail := fmt.Sprintf("%d rows rejected at import = %d numbers suppressed before it + %d listed already; %d targets failed with reason suppressed = the %d suppressed after it, never handed out",
			rep.Rejected, rep.SuppressedBefore, rep.ListedBefore, len(by[outdial.ReasonSuppressed]), rep.SuppressedLate)
		add("suppressed", len(bad) == 0, "%s", badDetail(detail, bad))
	}

	// 7. Each claimed target against the simulator's record.
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
		switch {
		case tr.last == outdial.ResultAnswered:
			wantStatus = outdial.StatusFinished
		case t.Status == outdial.StatusIdle && t.Reason == outdial.ReasonOutsideWindow && tr.last != "" &&
			tr.last != outdial.ResultInvalid && t.TryCountCurrent < t.TryCountMax:
			// The window closed after this attempt (an existing outdial's
			// window): the target, with tries left, waits for it.
			wantStatus = outdial.StatusIdle
		}
		wantTries := tr.firstTries + tr.claims
		if t.Status != wantStatus || t.TryCountCurrent != wantTries {
			bad = append(bad, fmt.Sprintf("target %s: status %s, try_count_current %d, last_result %s; simulator: %d claims, last sent %q (want %s, %d tries)",
				t.ID, t.Status, t.TryCountCurrent, t.LastResult, tr.claims, tr.last, wantStatus, wantTries))
		}
	}
	detail = fmt.Sprintf("%d claimed targets: status and try_count_current as the simulator's outcomes dictate (every outcome applied once, every duplicate ignored)", seen)
	if seen != len(s.targets) {
		bad = append(bad, fmt.Sprintf("%d claimed targets missing from the listing", len(s.targets)-seen))
	}
	if len(bad) > 0 {
		detail = fmt.Sprintf("%d of %d claimed targets differ", len(bad), len(s.targets))
		if expired > 0 {
			detail += fmt.Sprintf(" (%d ended with an expired lease: an outcome arrived after its lease, or could not be sent; try a longer -lease)", expired)
		}
		detail = badDetail(detail, bad)
	}
	add("per target", len(bad) == 0, "%s", detail)
}

// badDetail is detail followed by the first 5 of bad, each on a line of
// its own, and how many more there are.
func badDetail(detail string, bad []string) string {
	for i, b := range bad {
		if i == 5 {
			detail += fmt.Sprintf("\n          ... and %d more", len(bad)-5)
			break
		}
		detail += "\n          " + b
	}
	return detail
}

// fmtTime shows an API time, or null.
func fmtTime(t outdial.Time) string {
	if t.IsZero() {
		return "null"
	}
	return t.UTC().Format(time.RFC3339)
}

// fmtDur shows d to the minute, such as 5h40m (or 40s under a minute).
func fmtDur(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
}

// fmtTimeOr shows t in UTC, or "none".
func fmtTimeOr(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}

// plural returns "1 <one>" or "n <many>".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
