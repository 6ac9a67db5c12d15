package localrun

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
)

// Schedule invokes a function on a fixed period, like the EventBridge
// Scheduler schedule of a ScheduleV2 event: each run gets the payload
// Scheduler sends a Lambda target when the schedule has no Input, and runs
// never overlap, as the template's ReservedConcurrentExecutions: 1 keeps
// them apart on AWS: a tick that comes during a run waits for it, and
// further ticks meanwhile are dropped. The first run comes one period
// after Run starts.
type Schedule struct {
	Name  string // the schedule's name: <function LogicalId><event name>
	Fn    *Function
	Every time.Duration
	Log   *slog.Logger
}

// Run invokes the function every period until ctx is done.
func (s *Schedule) Run(ctx context.Context) {
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case tick := <-t.C:
			s.fire(ctx, tick)
		}
	}
}

// fire runs the function once and logs its result.
func (s *Schedule) fire(ctx context.Context, at time.Time) {
	payload, err := json.Marshal(schedulerEvent(s.Name, at))
	if err != nil {
		s.Log.Error("scheduled run: build the event", "function", s.Fn.Name, "err", err)
		return
	}
	start := time.Now()
	out, err := s.Fn.Invoke(ctx, payload)
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case ctx.Err() != nil:
		s.Log.Info("scheduled run stopped with the stack", "function", s.Fn.Name, "schedule", s.Name)
	case err != nil:
		s.Log.Error("scheduled run failed", "function", s.Fn.Name, "schedule", s.Name, "err", err, "duration", took)
	default:
		var result any = string(out)
		if json.Valid(out) {
			result = json.RawMessage(out)
		}
		s.Log.Info("scheduled run", "function", s.Fn.Name, "schedule", s.Name, "result", result, "duration", took)
	}
}

// schedulerEvent is EventBridge Scheduler's default notification to a
// Lambda target (a schedule without Input): an EventBridge event from
// aws.scheduler whose detail is the string "{}".
func schedulerEvent(name string, at time.Time) events.EventBridgeEvent {
	return events.EventBridgeEvent{
		Version: "0", ID: uuid.NewString(), DetailType: "Scheduled Event", Source: "aws.scheduler",
		AccountID: pseudoParams["AWS::AccountId"], Region: pseudoParams["AWS::Region"],
		Time:      at.UTC().Truncate(time.Second),
		Resources: []string{fmt.Sprintf("arn:aws:scheduler:%s:%s:schedule/default/%s", pseudoParams["AWS::Region"], pseudoParams["AWS::AccountId"], name)},
		Detail:    json.RawMessage(`"{}"`),
	}
}

// rateExpr is a rate expression: rate(<value> <unit>).
var rateExpr = regexp.MustCompile(`^rate\(\s*([0-9]+)\s+([a-z]+)\s*\)$`)

// rateUnits are the units of a rate expression. Scheduler itself accepts
// minutes, hours and days; seconds are for local runs and tests only.
var rateUnits = map[string]time.Duration{
	"second": time.Second, "seconds": time.Second,
	"minute": time.Minute, "minutes": time.Minute,
	"hour": time.Hour, "hours": time.Hour,
	"day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseRate returns the period of a rate expression such as
// "rate(1 minute)" or "rate(5 minutes)". Cron and one-time (at)
// expressions, and anything else, are errors: the local stack runs rates
// only.
func ParseRate(expr string) (time.Duration, error) {
	m := rateExpr.FindStringSubmatch(expr)
	if m == nil {
		return 0, fmt.Errorf("schedule expression %q: the local stack runs only rate(<n> second|seconds|minute|minutes|hour|hours|day|days) expressions, not cron() or at()", expr)
	}
	n, err := strconv.Atoi(m[1])
	unit, ok := rateUnits[m[2]]
	switch {
	case !ok:
		return 0, fmt.Errorf("schedule expression %q: unknown unit %q (want second(s), minute(s), hour(s) or day(s))", expr, m[2])
	case err != nil || n < 1 || n > 1<<20:
		return 0, fmt.Errorf("schedule expression %q: the value must be a whole number from 1 on", expr)
	}
	return time.Duration(n) * unit, nil
}
