package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/outdial/outdial/internal/outdial"
)

// barWidth is the width of the progress bar in characters.
const barWidth = 20

// progressLine renders one line of live progress: the outdial's counts,
// the outcomes sent and their rate. With width > 0 (a terminal's columns)
// the line fits in width-1 columns: first the bar and then the long labels
// go, and what still does not fit is cut.
func progressLine(o *outdial.Outdial, elapsed time.Duration, sent, dups int64, width int) string {
	c := o.Counts
	done := c.Finished + c.Failed
	frac := 1.0
	if o.TargetCount > 0 {
		frac = float64(done) / float64(o.TargetCount)
	}
	// Rounded down: 100% only when every target is done.
	filled, pct := int(frac*barWidth), int(frac*100)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(sent) / s
	}
	bar := "[" + strings.Repeat("#", filled) + strings.Repeat("-", barWidth-filled) + "] "
	line := fmt.Sprintf("%6.1fs %s%3d%%  idle %d (retry_pending %d)  dialing %d  finished %d  failed %d | sent %d +%d dup  %.1f/s",
		elapsed.Seconds(), bar, pct, c.Idle, c.Retry, c.Dialing, c.Finished, c.Failed, sent, dups, rate)
	if width <= 0 || len(line) < width {
		return line
	}
	line = fmt.Sprintf("%.1fs %d%% idle %d retry %d dialing %d finished %d failed %d | sent %d+%d %.0f/s",
		elapsed.Seconds(), pct, c.Idle, c.Retry, c.Dialing, c.Finished, c.Failed, sent, dups, rate)
	if len(line) >= width {
		line = line[:max(width-1, 0)]
	}
	return line
}

// progress shows the line: redrawn in place on a terminal, else one line
// per call (the monitor calls it once per interval).
func (s *sim) progress(o *outdial.Outdial, elapsed time.Duration) {
	if s.cfg.TTY {
		line := progressLine(o, elapsed, s.sentN.Load(), s.dupN.Load(), s.cfg.Width)
		fmt.Fprint(s.cfg.Out, "\r"+line+"\x1b[K")
		return
	}
	fmt.Fprintln(s.cfg.Out, progressLine(o, elapsed, s.sentN.Load(), s.dupN.Load(), 0))
}

// endProgress ends the refreshing line on a terminal.
func (s *sim) endProgress() {
	if s.cfg.TTY {
		fmt.Fprintln(s.cfg.Out)
	}
}

// summary prints the final counts, the simulator's tallies and the checks.
func (s *sim) summary(total time.Duration) {
	r, out := s.rep, s.cfg.Out
	fmt.Fprintf(out, "\nSummary: outdial %s, %s after %s of dialing (%s in all)\n", r.OutdialID, r.Ending,
		r.Elapsed.Round(10*time.Millisecond), total.Round(10*time.Millisecond))
	if o := r.Final; o != nil {
		c := o.Counts
		fmt.Fprintf(out, "  API counts   target_count %d  idle %d  dialing %d  finished %d  failed %d  retry_pending %d\n",
			o.TargetCount, c.Idle, c.Dialing, c.Finished, c.Failed, c.Retry)
	}
	if r.Reasons != nil {
		fmt.Fprintf(out, "  reasons      %s\n", reasonsLine(r.Reasons))
	} else if r.ReasonsErr != nil {
		fmt.Fprintf(out, "  reasons      not read: %v\n", r.ReasonsErr)
	}
	if r.Created && (r.Rejected > 0 || r.SuppressedBefore > 0 || r.SuppressedLate > 0) {
		fmt.Fprintf(out, "  import       %d rows: %d targets, %d rejected as suppressed (%d suppressed before the import, %d listed already); %d suppressed after it\n",
			r.Imported+r.Rejected, r.Imported, r.Rejected, r.SuppressedBefore, r.ListedBefore, r.SuppressedLate)
	}
	if w := r.Window; w != nil {
		fmt.Fprintf(out, "  window       %s-%s in %s, open until %s", w.Start, w.End, w.Timezone, r.WindowCloses.UTC().Format(time.RFC3339))
		if r.ClosedTargets > 0 {
			fmt.Fprintf(out, "; %d targets in %s wait for its opening there at %s", r.ClosedTargets, r.ClosedZone, r.ClosedOpens.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(out)
	}
	if r.Unsuppressed > 0 || r.UnsuppressErr != nil {
		fmt.Fprintf(out, "  cleanup      %d numbers taken off the suppression list again (-keep-suppressions keeps them)", r.Unsuppressed)
		if r.UnsuppressErr != nil {
			fmt.Fprintf(out, "; the others could not be: %v", r.UnsuppressErr)
		}
		fmt.Fprintln(out)
	}
	sent := r.SentTotal()
	var parts []string
	for _, res := range []outdial.Result{outdial.ResultAnswered, outdial.ResultBusy, outdial.ResultNoAnswer, outdial.ResultFailed, outdial.ResultInvalid} {
		parts = append(parts, fmt.Sprintf("%s %d", res, r.Sent[res]))
	}
	s.mu.Lock()
	targets := len(s.targets)
	s.mu.Unlock()
	fmt.Fprintf(out, "  simulator    %d claims of %d targets in %d claim requests (%d empty, %d retried)\n",
		r.Claims, targets, r.ClaimCalls, r.EmptyClaims, r.ClaimRetries)
	fmt.Fprintf(out, "               outcomes sent %d (%s), duplicates sent %d, send errors %d\n",
		sent, strings.Join(parts, ", "), r.Duplicates, r.SendErrors)
	if secs := r.Elapsed.Seconds(); secs > 0 {
		fmt.Fprintf(out, "  throughput   %.1f outcomes/s\n", float64(sent)/secs)
	}
	if len(r.Checks) == 0 {
		fmt.Fprintf(out, "  not checked: the run %s before every target was finished, failed or waiting for the calling window\n", verb(r.Ending))
		return
	}
	fmt.Fprintln(out, "  checks (the simulator assumed to be the outdial's only dialer)")
	for _, c := range r.Checks {
		mark := "ok  "
		if !c.OK {
			mark = "FAIL"
		}
		fmt.Fprintf(out, "    %s  %-10s %s\n", mark, c.Name, c.Detail)
	}
	if r.Agree() {
		fmt.Fprintln(out, "counts agree")
	} else {
		fmt.Fprintln(out, "counts DISAGREE")
	}
}

// reasonsLine shows the targets of each reason, in reasonOrder.
func reasonsLine(n map[outdial.Reason]int) string {
	parts := make([]string, len(reasonOrder))
	for i, r := range reasonOrder {
		parts[i] = fmt.Sprintf("%s %d", r, n[r])
	}
	return strings.Join(parts, ", ")
}

func verb(ending string) string {
	switch ending {
	case "timeout":
		return "timed out"
	case "interrupted":
		return "was interrupted"
	}
	return "stopped"
}
