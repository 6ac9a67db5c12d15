package main

import (
	"bytes"
	"context"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/auth"
	"github.com/outdial/outdial/internal/dynamotest"
	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localruntest"
	"github.com/outdial/outdial/internal/outdial"
)

func TestMain(m *testing.M) { dynamotest.Main(m) }

// startStack brings up the local stack (DynamoDB Local of the test binary,
// its own SQS stand-in) on a table of its own, stopped when t ends.
func startStack(t *testing.T) *localrun.Stack {
	t.Helper()
	return localruntest.Start(t, localruntest.Options{Prefix: "dialsim"}).Stack
}

// stackConfig is a quick run against st: no retry delays, short calls.
func stackConfig(t *testing.T, st *localrun.Stack, out io.Writer) Config {
	t.Helper()
	token, err := st.Token("0b7e4c1a-3f2d-4e5b-8a9c-1d2e3f4a5b6c", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return Config{
		API: st.URL, Token: token, SQSEndpoint: st.SQSEndpoint, QueueURL: st.QueueURL("OutcomeQueue"),
		RetryDelay: 0, Dialers: 4, Claim: 5, Lease: time.Minute,
		Probs:        Probabilities{Answered: 0.5, Busy: 0.2, NoAnswer: 0.2, Failed: 0.05, Invalid: 0.05},
		CallDuration: 20 * time.Millisecond, Timeout: 40 * time.Second, Seed: 42, Out: out,
		Interval: 200 * time.Millisecond, Drain: 5 * time.Second,
	}
}

// TestSimulator runs the simulator in-process against one local stack.
func TestSimulator(t *testing.T) {
	st := startStack(t)

	t.Run("command settles and counts agree", func(t *testing.T) {
		// The whole command, flags to exit status, on 50 targets with
		// every third outcome sent twice.
		cfg := stackConfig(t, st, nil)
		var stdout, stderr bytes.Buffer
		code := realMain([]string{
			"-api", st.URL, "-token", cfg.Token, "-sqs-endpoint", st.SQSEndpoint, "-queue-url", cfg.QueueURL,
			"-create", "50", "-retry-delay", "0", "-call-duration", "20ms", "-dialers", "4", "-claim", "5",
			"-duplicate", "0.3", "-timeout", "40s", "-seed", "7",
		}, func(string) string { return "" }, &stdout, &stderr)
		out := stdout.String()
		t.Logf("output:\n%s", out)
		if code != 0 {
			t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
		}
		for _, want := range []string{"created outdial", "Summary:", "settled after", "counts agree", "target_count 50"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "FAIL") {
			t.Errorf("output has a failed check:\n%s", out)
		}
		if strings.Contains(out, "duplicates sent 0,") {
			t.Errorf("no duplicate was sent; the run does not exercise exactly-once:\n%s", out)
		}
	})

	t.Run("report and checks", func(t *testing.T) {
		var out bytes.Buffer
		cfg := stackConfig(t, st, &out)
		// One try each: a target is finished or failed after one call,
		// so both kinds occur (all 20 alike has odds of 2 in a million).
		cfg.Create, cfg.Tries, cfg.Duplicate = 20, 1, 0.5
		s, err := newSim(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		rep, err := s.run(ctx)
		if err != nil {
			t.Fatalf("run: %v\n%s", err, out.String())
		}
		if !rep.Agree() {
			t.Fatalf("counts disagree:\n%s", out.String())
		}
		if rep.Ending != "settled" || rep.Final.TargetCount != 20 || rep.Targets != 20 {
			t.Errorf("ending %q, target_count %d, targets claimed %d; want settled, 20, 20", rep.Ending, rep.Final.TargetCount, rep.Targets)
		}
		if got, want := rep.SentTotal(), rep.Claims; got != want || rep.SendErrors != 0 {
			t.Errorf("%d outcomes sent for %d claims (%d send errors); want one per claim", got, want, rep.SendErrors)
		}
		if got, want := rep.Final.Counts.Finished, int64(rep.AnsweredTargets); got != want {
			t.Errorf("finished %d, want %d", got, want)
		}

		// The checks must catch a simulator record that does not match
		// the service: each mutation below makes the named checks fail.
		var answered, other string
		for id, tr := range s.targets {
			if tr.last == outdial.ResultAnswered && answered == "" {
				answered = id
			}
			if tr.last != outdial.ResultAnswered && other == "" {
				other = id
			}
		}
		if answered == "" || other == "" {
			t.Fatalf("want both an answered and an unanswered target among %d (seed %d)", len(s.targets), cfg.Seed)
		}
		for _, tc := range []struct {
			name     string
			mutate   func() (undo func())
			wantFail []string
		}{
			{"an answered target recorded as busy", func() func() {
				tr := s.targets[answered]
				tr.last = outdial.ResultBusy
				return func() { tr.last = outdial.ResultAnswered }
			}, []string{"finished", "per target"}},
			{"a failed target recorded as answered", func() func() {
				tr := s.targets[other]
				old := tr.last
				tr.last = outdial.ResultAnswered
				return func() { tr.last = old }
			}, []string{"finished", "per target"}},
			{"one claim more than the service counted", func() func() {
				s.targets[other].claims++
				return func() { s.targets[other].claims-- }
			}, []string{"per target"}},
			{"one target finished before the run", func() func() {
				s.rep.Start.Finished++
				return func() { s.rep.Start.Finished-- }
			}, []string{"finished"}},
			{"nothing changed", func() func() { return func() {} }, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				undo := tc.mutate()
				defer undo()
				s.rep.Checks = nil
				s.verify(ctx)
				var failed []string
				for _, c := range s.rep.Checks {
					if !c.OK {
						failed = append(failed, c.Name)
					}
				}
				if strings.Join(failed, ",") != strings.Join(tc.wantFail, ",") {
					t.Errorf("failed checks %q, want %q; checks: %+v", failed, tc.wantFail, s.rep.Checks)
				}
				if got, want := s.rep.Agree(), len(tc.wantFail) == 0; got != want {
					t.Errorf("Agree() = %v, want %v", got, want)
				}
			})
		}

		// The same outdial again with -outdial: already settled, nothing
		// to claim, and the counts still agree.
		var again bytes.Buffer
		cfg2 := stackConfig(t, st, &again)
		cfg2.OutdialID = rep.OutdialID
		rep2, err := Run(ctx, cfg2)
		if err != nil {
			t.Fatalf("second run: %v", err)
		}
		if !rep2.Agree() || rep2.Claims != 0 || rep2.Start.Finished != rep.Final.Counts.Finished {
			t.Errorf("second run: agree %v, %d claims, finished at start %d; want true, 0, %d\n%s",
				rep2.Agree(), rep2.Claims, rep2.Start.Finished, rep.Final.Counts.Finished, again.String())
		}
	})

	t.Run("calling window and suppression list", func(t *testing.T) {
		// The whole command on 200 targets: a window open now in the zone
		// -window-tz auto picks, 20 targets in a zone where it is closed,
		// 10 numbers suppressed before the import and 5 after it. The run
		// settles with the 20 waiting, and the reasons add up.
		cfg := stackConfig(t, st, nil)
		var stdout, stderr bytes.Buffer
		code := realMain([]string{
			"-api", st.URL, "-token", cfg.Token, "-sqs-endpoint", st.SQSEndpoint, "-queue-url", cfg.QueueURL,
			"-create", "200", "-tries", "2", "-retry-delay", "0", "-call-duration", "20ms", "-dialers", "4", "-claim", "10",
			"-window", "06:00-18:00", "-window-tz", "auto", "-closed-share", "0.1", "-suppress", "10", "-suppress-late", "5",
			"-duplicate", "0.2", "-timeout", "40s", "-seed", "11",
		}, func(string) string { return "" }, &stdout, &stderr)
		out := stdout.String()
		t.Logf("output:\n%s", out)
		if code != 0 {
			t.Fatalf("exit status %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, stderr.String())
		}
		for _, want := range []string{
			"settled after", "counts agree", "target_count 190",
			"import       200 rows: 190 targets, 10 rejected as suppressed (10 suppressed before the import, 0 listed already); 5 suppressed after it",
			"20 targets in Etc/GMT", "cleanup      15 numbers taken off the suppression list",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		for _, name := range []string{"settled", "finished", "listing", "reasons", "window", "suppressed", "per target"} {
			if !regexp.MustCompile(`(?m)^    ok    ` + name + ` `).MatchString(out) {
				t.Errorf("output lacks the passed check %q", name)
			}
		}
		got := reasonsOf(t, out)
		if got[outdial.ReasonOutsideWindow] != 20 || got[outdial.ReasonSuppressed] != 5 || got[outdial.ReasonDue] != 0 ||
			got[outdial.ReasonRetryScheduled] != 0 || got[outdial.ReasonDialing] != 0 {
			t.Errorf("reasons %v, want outside_calling_window 20, suppressed 5, due, retry_scheduled and dialing 0", got)
		}
		if n := got[outdial.ReasonFinished] + got[outdial.ReasonMaxTries]; n != 190-20-5 || got[outdial.ReasonFinished] == 0 {
			t.Errorf("finished %d + max_tries_reached %d = %d, want 165, some finished", got[outdial.ReasonFinished], got[outdial.ReasonMaxTries], n)
		}

		// The numbers it suppressed are off the list again.
		api := &apiClient{base: st.URL, token: cfg.Token, http: &http.Client{Timeout: 30 * time.Second}}
		var list struct {
			Result []struct{ Address string } `json:"result"`
		}
		if err := api.do(context.Background(), http.MethodGet, "/v1.0/suppressions?page_size=100", "", nil, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Result) != 0 {
			t.Errorf("the suppression list holds %d entries after the run, want 0", len(list.Result))
		}
	})

	t.Run("window and suppression checks", func(t *testing.T) {
		// In process, with numbers left on the suppression list by an
		// earlier run (-keep-suppressions): the import rejects those rows
		// too, and the checks must catch a record that does not match.
		var out bytes.Buffer
		cfg := stackConfig(t, st, &out)
		cfg.Create, cfg.Tries, cfg.Duplicate = 60, 1, 0.2
		cfg.Window, cfg.WindowTZ, cfg.ClosedShare, cfg.Suppress, cfg.SuppressLate = "06:00-18:00", autoZone, 0.2, 4, 3
		cfg.KeepSuppressions = true
		s, err := newSim(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		rep, err := s.run(ctx)
		if err != nil {
			t.Fatalf("run: %v\n%s", err, out.String())
		}
		if !rep.Agree() {
			t.Fatalf("counts disagree:\n%s", out.String())
		}
		if rep.Imported != 56 || rep.Rejected != 4 || rep.ClosedTargets != 12 || rep.Waiting != 12 || rep.Reasons[outdial.ReasonSuppressed] != 3 {
			t.Errorf("imported %d, rejected %d, closed %d, waiting %d, suppressed %d; want 56, 4, 12, 12, 3\n%s",
				rep.Imported, rep.Rejected, rep.ClosedTargets, rep.Waiting, rep.Reasons[outdial.ReasonSuppressed], out.String())
		}
		var late, closed string
		for i, r := range s.roles {
			switch {
			case r == roleLate && late == "":
				late = s.number(i)
			case r == roleClosed && closed == "":
				closed = s.number(i)
			}
		}
		list, err := s.api.listTargets(ctx, s.outdialID)
		if err != nil {
			t.Fatal(err)
		}
		idOf := map[string]string{}
		for _, tg := range list {
			idOf[tg.Destination.Target] = tg.ID
		}
		if idOf[late] == "" || idOf[closed] == "" {
			t.Fatalf("no target for the late-suppressed %s or the closed-zone %s", late, closed)
		}
		for _, tc := range []struct {
			name     string
			mutate   func() (undo func())
			wantFail []string
		}{
			{"one more target expected in the closed zone", func() func() {
				s.rep.ClosedTargets++
				return func() { s.rep.ClosedTargets-- }
			}, []string{"window"}},
			{"the window's opening a minute later", func() func() {
				s.rep.ClosedOpens = s.rep.ClosedOpens.Add(time.Minute)
				return func() { s.rep.ClosedOpens = s.rep.ClosedOpens.Add(-time.Minute) }
			}, []string{"window"}},
			{"a closed-zone target handed out", func() func() {
				s.targets[idOf[closed]] = &track{}
				return func() { delete(s.targets, idOf[closed]) }
			}, []string{"window", "per target"}},
			{"one number less suppressed after the import", func() func() {
				s.rep.SuppressedLate--
				return func() { s.rep.SuppressedLate++ }
			}, []string{"suppressed"}},
			{"a late-suppressed target handed out", func() func() {
				s.targets[idOf[late]] = &track{}
				return func() { delete(s.targets, idOf[late]) }
			}, []string{"suppressed"}},
			{"nothing changed", func() func() { return func() {} }, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				undo := tc.mutate()
				defer undo()
				s.rep.Checks = nil
				s.verify(ctx)
				var failed []string
				for _, c := range s.rep.Checks {
					if !c.OK {
						failed = append(failed, c.Name)
					}
				}
				if strings.Join(failed, ",") != strings.Join(tc.wantFail, ",") {
					t.Errorf("failed checks %q, want %q; checks: %+v", failed, tc.wantFail, s.rep.Checks)
				}
			})
		}

		// Another run finds the 7 numbers it kept on the list among its
		// own (the same seed draws the same numbers): the import rejects
		// those rows too, and the targets of the late ones are not created.
		var again bytes.Buffer
		cfg2 := cfg
		cfg2.Out, cfg2.KeepSuppressions = &again, false
		rep2, err := Run(ctx, cfg2)
		if err != nil {
			t.Fatalf("second run: %v\n%s", err, again.String())
		}
		if !rep2.Agree() || rep2.ListedBefore != 7 || rep2.Rejected != 11 || rep2.Imported != 49 || rep2.Unsuppressed != 7 {
			t.Errorf("second run: agree %v, listed before %d, rejected %d, imported %d, unsuppressed %d; want true, 7, 11, 49, 7\n%s",
				rep2.Agree(), rep2.ListedBefore, rep2.Rejected, rep2.Imported, rep2.Unsuppressed, again.String())
		}

		// The first run's numbers off the list too.
		s.cfg.KeepSuppressions = false
		s.unsuppress(ctx)
		if s.rep.Unsuppressed != 7 || s.rep.UnsuppressErr != nil {
			t.Errorf("unsuppressed %d (%v), want the 7 the first run kept", s.rep.Unsuppressed, s.rep.UnsuppressErr)
		}
	})

	t.Run("window closed now", func(t *testing.T) {
		// A -window-tz where the window is closed: it fails at once and
		// says which zone would do.
		cfg := stackConfig(t, st, nil)
		w, _ := parseWindow("06:00-18:00")
		zone, _, ok := pickClosedZone(w, time.Now(), time.Hour)
		if !ok {
			t.Fatal("no zone where 06:00-18:00 is closed")
		}
		var stdout, stderr bytes.Buffer
		code := realMain([]string{
			"-api", st.URL, "-token", cfg.Token, "-sqs-endpoint", st.SQSEndpoint, "-queue-url", cfg.QueueURL,
			"-create", "10", "-window", "06:00-18:00", "-window-tz", zone, "-suppress", "2",
		}, func(string) string { return "" }, &stdout, &stderr)
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		for _, want := range []string{"is closed now in " + zone, "pick a window open now", "-window-tz auto"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
			}
		}
		if strings.Contains(stdout.String(), "created outdial") {
			t.Errorf("an outdial was created:\n%s", stdout.String())
		}
	})

	t.Run("outdial deleted mid-run", func(t *testing.T) {
		// Retries wait an hour, so the run goes on until the outdial is
		// deleted under it; then it must stop with an error at once.
		var out bytes.Buffer
		cfg := stackConfig(t, st, &out)
		ctx := context.Background()
		api := &apiClient{base: st.URL, token: cfg.Token, http: &http.Client{Timeout: 30 * time.Second}}
		o, err := api.createOutdial(ctx, "to be deleted", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := api.setRetryPolicy(ctx, o.ID, 3600); err != nil {
			t.Fatal(err)
		}
		if _, err := api.importCSV(ctx, o.ID, []byte("tel\n+15550000001\n+15550000002\n")); err != nil {
			t.Fatal(err)
		}
		cfg.OutdialID, cfg.Probs = o.ID, Probabilities{Busy: 1}
		go func() {
			time.Sleep(2 * time.Second)
			if err := api.do(ctx, http.MethodDelete, "/v1.0/outdials/"+o.ID, "", nil, nil); err != nil {
				t.Errorf("delete outdial: %v", err)
			}
		}()
		start := time.Now()
		_, err = Run(ctx, cfg)
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("run: err %v, want a 404 error\n%s", err, out.String())
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("the run stopped after %s, want soon after the deletion at 2 s", d)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		// Every call is busy and retries wait an hour: it cannot settle.
		cfg := stackConfig(t, st, nil)
		var stdout, stderr bytes.Buffer
		start := time.Now()
		code := realMain([]string{
			"-api", st.URL, "-token", cfg.Token, "-sqs-endpoint", st.SQSEndpoint, "-queue-url", cfg.QueueURL,
			"-create", "10", "-retry-delay", "3600", "-call-duration", "10ms",
			"-p-answered", "0", "-p-busy", "1", "-p-no-answer", "0", "-p-failed", "0", "-p-invalid", "0",
			"-timeout", "6s",
		}, func(string) string { return "" }, &stdout, &stderr)
		out := stdout.String()
		if code != 1 {
			t.Errorf("exit status %d, want 1\n%s%s", code, out, stderr.String())
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("a 6 s timeout took %s", d)
		}
		for _, want := range []string{"timeout after", "not checked: the run timed out", "target_count 10", "finished 0  failed 0"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

// reasonsOf reads the summary's reasons line.
func reasonsOf(t *testing.T, out string) map[outdial.Reason]int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  reasons      (.*)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no reasons line in:\n%s", out)
	}
	got := map[outdial.Reason]int{}
	for _, part := range strings.Split(m[1], ", ") {
		name, n, ok := strings.Cut(part, " ")
		v, err := strconv.Atoi(n)
		if !ok || err != nil {
			t.Fatalf("reasons line %q: cannot read %q", m[1], part)
		}
		got[outdial.Reason(name)] = v
	}
	if len(got) != len(reasonOrder) {
		t.Errorf("reasons line %q names %d reasons, want %d", m[1], len(got), len(reasonOrder))
	}
	return got
}

func TestProbabilitiesPick(t *testing.T) {
	all := Probabilities{1, 1, 1, 1, 1}
	for _, tc := range []struct {
		name string
		p    Probabilities
		u    float64
		want outdial.Result
	}{
		{"only answered", Probabilities{Answered: 1}, 0.99, outdial.ResultAnswered},
		{"only invalid", Probabilities{Invalid: 3}, 0, outdial.ResultInvalid},
		{"busy or invalid, low", Probabilities{Busy: 1, Invalid: 1}, 0, outdial.ResultBusy},
		{"busy or invalid, below half", Probabilities{Busy: 1, Invalid: 1}, 0.49, outdial.ResultBusy},
		{"busy or invalid, half", Probabilities{Busy: 1, Invalid: 1}, 0.5, outdial.ResultInvalid},
		{"busy or invalid, top", Probabilities{Busy: 1, Invalid: 1}, math.Nextafter(1, 0), outdial.ResultInvalid},
		{"even, first fifth", all, 0.1, outdial.ResultAnswered},
		{"even, second fifth", all, 0.3, outdial.ResultBusy},
		{"even, third fifth", all, 0.5, outdial.ResultNoAnswer},
		{"even, fourth fifth", all, 0.7, outdial.ResultFailed},
		{"even, last fifth", all, 0.9, outdial.ResultInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.pick(tc.u); got != tc.want {
				t.Errorf("pick(%g) = %s, want %s", tc.u, got, tc.want)
			}
		})
	}

	// Frequencies follow the weights.
	p := Probabilities{Answered: 0.5, Busy: 0.2, NoAnswer: 0.2, Failed: 0.05, Invalid: 0.05}
	rng := mrand.New(mrand.NewPCG(1, 2))
	const n = 100_000
	got := map[outdial.Result]int{}
	for range n {
		got[p.pick(rng.Float64())]++
	}
	for _, e := range p.entries() {
		if f := float64(got[e.r]) / n; math.Abs(f-e.w) > 0.01 {
			t.Errorf("%s: frequency %.3f, want %.2f ± 0.01", e.r, f, e.w)
		}
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"neither create nor outdial", nil, "exactly one of -outdial"},
		{"both create and outdial", []string{"-create", "5", "-outdial", "01a219fd-9b67-7c76-8ecb-6c2e639ca02b"}, "exactly one of -outdial"},
		{"outdial not a UUID", []string{"-outdial", "x"}, "-outdial must be a UUID"},
		{"claim too large", []string{"-create", "5", "-claim", "101"}, "-claim must be between 1 and 100"},
		{"lease too short", []string{"-create", "5", "-lease", "5s"}, "-lease must be"},
		{"lease not whole seconds", []string{"-create", "5", "-lease", "10500ms"}, "-lease must be"},
		{"no dialers", []string{"-create", "5", "-dialers", "0"}, "-dialers must be at least 1"},
		{"negative probability", []string{"-create", "5", "-p-busy", "-1"}, "must not be negative"},
		{"all probabilities zero", []string{"-create", "5", "-p-answered", "0", "-p-busy", "0", "-p-no-answer", "0", "-p-failed", "0", "-p-invalid", "0"}, "at least one result probability"},
		{"duplicate above 1", []string{"-create", "5", "-duplicate", "1.5"}, "-duplicate must be between 0 and 1"},
		{"retry-after too large", []string{"-create", "5", "-retry-after", "999999999"}, "-retry-after must be between"},
		{"tries too large", []string{"-create", "5", "-tries", "21"}, "-tries must be between"},
		{"remote API without token", []string{"-create", "5", "-api", "https://example.execute-api.eu-west-1.amazonaws.com"}, "no token"},
		{"stray argument", []string{"-create", "5", "extra"}, "unexpected argument"},
		{"window without create", []string{"-outdial", "01a219fd-9b67-7c76-8ecb-6c2e639ca02b", "-window", "08:00-21:00"}, "-window needs -create"},
		{"window not HH:MM-HH:MM", []string{"-create", "5", "-window", "8-21"}, `-window "8-21": want HH:MM-HH:MM`},
		{"window ending before it starts", []string{"-create", "5", "-window", "21:00-08:00"}, "want HH:MM-HH:MM with the end after the start"},
		{"unknown window zone", []string{"-create", "5", "-window", "08:00-21:00", "-window-tz", "Mars/Olympus"}, `-window-tz "Mars/Olympus" is not an IANA`},
		{"window zone without window", []string{"-create", "5", "-window-tz", "UTC"}, "-window-tz needs -window"},
		{"closed share without window", []string{"-create", "5", "-closed-share", "0.5"}, "-closed-share needs -window"},
		{"closed share above 1", []string{"-create", "5", "-window", "08:00-21:00", "-closed-share", "1.5"}, "-closed-share must be between 0 and 1"},
		{"suppress without create", []string{"-outdial", "01a219fd-9b67-7c76-8ecb-6c2e639ca02b", "-suppress", "1"}, "-suppress and -suppress-late need -create"},
		{"negative suppress-late", []string{"-create", "5", "-suppress-late", "-1"}, "must not be negative"},
		{"more roles than targets", []string{"-create", "10", "-suppress", "4", "-suppress-late", "4", "-window", "08:00-21:00", "-closed-share", "0.3"}, "exceed the 10 of -create"},
		{"unknown flag", []string{"-nope"}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := realMain(tc.args, func(string) string { return "" }, &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit status %d, want 2", code)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestResolveToken(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	secret := "a-test-secret-that-is-at-least-32-bytes-long"
	for _, tc := range []struct {
		name       string
		flag, api  string
		env        map[string]string
		want       string // exact token, or "" to verify a minted one
		wantSecret string
		wantErr    string
	}{
		{"flag wins", "flagtok", "https://x.example", map[string]string{"TOKEN": "envtok"}, "flagtok", "", ""},
		{"env TOKEN", "", "https://x.example", map[string]string{"TOKEN": "envtok"}, "envtok", "", ""},
		{"remote without token", "", "https://x.example", nil, "", "", "no token"},
		{"local minted with the dev secret", "", "http://127.0.0.1:3000", nil, "", auth.DevSecret, ""},
		{"localhost minted with OUTDIAL_TOKEN_SECRET", "", "http://localhost:3000", map[string]string{"OUTDIAL_TOKEN_SECRET": secret}, "", secret, ""},
		{"IPv6 loopback", "", "http://[::1]:3000", nil, "", auth.DevSecret, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := auth.ClientToken(tc.flag, tc.api, demoCustomer, env(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" {
				if got != tc.want {
					t.Errorf("token %q, want %q", got, tc.want)
				}
				return
			}
			v, err := auth.NewVerifier(tc.wantSecret)
			if err != nil {
				t.Fatal(err)
			}
			customer, err := v.Verify(got)
			if err != nil {
				t.Fatalf("minted token does not verify with the expected secret: %v", err)
			}
			if customer != demoCustomer {
				t.Errorf("customer %s, want %s", customer, demoCustomer)
			}
		})
	}
}

func TestQueueRegion(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://sqs.eu-west-1.amazonaws.com/123456789012/q", "eu-west-1"},
		{"https://sqs.us-gov-west-1.amazonaws.com/123456789012/q", "us-gov-west-1"},
		{"http://sqs.us-east-1.localhost:9324/000000000000/q", ""},
		{"not a url", ""},
	} {
		if got := queueRegion(tc.url); got != tc.want {
			t.Errorf("queueRegion(%q) = %q, want %q", tc.url, got, tc.want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	o := &outdial.Outdial{TargetCount: 200, Counts: outdial.Counts{Idle: 40, Dialing: 10, Finished: 120, Failed: 30, Retry: 15}}
	for _, tc := range []struct {
		name  string
		o     *outdial.Outdial
		width int
		want  []string
	}{
		{"file", o, 0, []string{"10.0s", "[###############-----]", " 75%", "idle 40 (retry_pending 15)", "dialing 10",
			"finished 120", "failed 30", "sent 250 +12 dup", "25.0/s"}},
		{"wide terminal", o, 200, []string{"[###############-----]", "idle 40 (retry_pending 15)", "25.0/s"}},
		{"80 columns", o, 80, []string{"10.0s 75% idle 40 retry 15 dialing 10 finished 120 failed 30 | sent 250+12 25/s"}},
		{"40 columns", o, 40, []string{"10.0s 75% idle 40 retry 15 dialing 10"}},
		{"empty outdial", &outdial.Outdial{}, 0, []string{"100%", "0.0/s"}},
		{"one of 200 left", &outdial.Outdial{TargetCount: 200, Counts: outdial.Counts{Dialing: 1, Finished: 199}}, 0,
			[]string{"[###################-]  99%"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := progressLine(tc.o, 10*time.Second, 250, 12, tc.width)
			if tc.o.TargetCount == 0 {
				got = progressLine(tc.o, 0, 0, 0, tc.width)
			}
			if tc.width > 0 && len(got) >= tc.width {
				t.Errorf("line of %d characters for a %d-column terminal: %q", len(got), tc.width, got)
			}
			for _, want := range tc.want {
				if !strings.Contains(got, want) {
					t.Errorf("progress line %q lacks %q", got, want)
				}
			}
		})
	}
}
