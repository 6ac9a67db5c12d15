package localrun_test

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/localrun"
	"github.com/outdial/outdial/internal/localruntest"
	"github.com/outdial/outdial/internal/localstack"
)

// TestLeaseExpiresOnTheSchedule follows a dialer that goes away: it claims
// a target under a 10 s lease and never sends the outcome. With no further
// claim, the scheduled expire-leases function (run every second here, with
// a lease grace of 1 s) records the expired attempt once the lease's end
// plus the grace has passed: the target is idle again with last_result
// expired and one try counted, and the outdial no longer counts it as
// dialing.
func TestLeaseExpiresOnTheSchedule(t *testing.T) {
	const (
		lease  = 10 * time.Second
		grace  = time.Second
		period = time.Second
	)
	st := startStackWith(t, localruntest.Options{
		ScheduleEvery: period,
		Parameters:    map[string]string{"LeaseGraceSeconds": "1"},
	})
	tok := st.token(t, uuid.NewString(), time.Hour)

	// An outdial with one target.
	var od outdialJSON
	st.ok(t, request{method: "POST", path: "/v1.0/outdials", token: tok, body: `{"name":"Leases"}`}, &od)
	base := "/v1.0/outdials/" + od.ID
	var imp importJSON
	st.ok(t, request{method: "POST", path: base + "/targets", token: tok,
		body: `{"targets":[{"destination":{"type":"tel","target":"+15551234567"},"try_count_max":3}]}`}, &imp)
	if imp.Created != 1 || len(imp.CreatedTargets) != 1 {
		t.Fatalf("import = %+v, want 1 created", imp)
	}
	targetPath := base + "/targets/" + imp.CreatedTargets[0].TargetID

	// Claim it under a 10 s lease; no outcome will come.
	claimedAt := time.Now()
	var claimed list[struct {
		claimJSON
		LeaseExpire time.Time `json:"tm_lease_expire"`
	}]
	st.ok(t, request{method: "POST", path: base + "/targets/claim", token: tok, body: `{"limit":1,"lease_seconds":10}`}, &claimed)
	if len(claimed.Result) != 1 {
		t.Fatalf("claimed %d targets, want 1", len(claimed.Result))
	}
	leaseEnd := claimed.Result[0].LeaseExpire
	if d := leaseEnd.Sub(claimedAt); d < lease-time.Second || d > lease+5*time.Second {
		t.Fatalf("tm_lease_expire %v is %v after the claim was sent, want about %v", leaseEnd, d, lease)
	}
	var tg targetJSON
	st.ok(t, request{method: "GET", path: targetPath, token: tok}, &tg)
	if tg.Status != "dialing" {
		t.Fatalf("after the claim the target is %s, want dialing", tg.Status)
	}

	// Wait: the lease's end, the grace, and a few periods of the schedule.
	deadline := leaseEnd.Add(grace + 4*period + 2*time.Second)
	for {
		st.ok(t, request{method: "GET", path: targetPath, token: tok}, &tg)
		seen := time.Now()
		if tg.Status != "dialing" {
			if earliest := leaseEnd.Add(grace); seen.Before(earliest) {
				t.Errorf("the target left dialing (%s, %s) by %v, before its lease end plus grace %v",
					tg.Status, tg.LastResult, seen.Format(time.StampMilli), earliest.Format(time.StampMilli))
			}
			t.Logf("the target left dialing %v after its lease end", seen.Sub(leaseEnd).Round(100*time.Millisecond))
			break
		}
		if seen.After(deadline) {
			t.Fatalf("the target is still dialing %v after its lease end (grace %v, schedule every %v)",
				seen.Sub(leaseEnd).Round(100*time.Millisecond), grace, period)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if tg.Status != "idle" || tg.LastResult != "expired" || tg.TryCountCurrent != 1 {
		t.Errorf("after the lease: status %s, last_result %q, try_count_current %d; want idle, expired, 1",
			tg.Status, tg.LastResult, tg.TryCountCurrent)
	}
	st.ok(t, request{method: "GET", path: base, token: tok}, &od)
	if od.TargetCounts["dialing"] != 0 || od.TargetCounts["idle"] != 1 || od.TargetCount != 1 {
		t.Errorf("outdial counts %v (target_count %d), want 0 dialing and 1 idle", od.TargetCounts, od.TargetCount)
	}

	// It was the schedule: its runs are logged with the sweep's report,
	// and exactly one lease was expired in all of them.
	runs, expired := 0, 0
	sc := bufio.NewScanner(strings.NewReader(st.Logs()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var rec struct {
			Msg      string `json:"msg"`
			Function string `json:"function"`
			Result   struct{ Expired, Failed int }
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Msg != "scheduled run" || rec.Function != "expire-leases" {
			continue
		}
		runs++
		expired += rec.Result.Expired
		if rec.Result.Failed != 0 {
			t.Errorf("a sweep reports %d failed outdials: %s", rec.Result.Failed, sc.Bytes())
		}
	}
	if runs == 0 || expired != 1 {
		t.Errorf("the logs show %d runs of expire-leases expiring %d leases, want runs expiring 1 in all", runs, expired)
	}
}

// TestParseRate checks the schedule expressions the local stack runs, and
// that it refuses the others clearly.
func TestParseRate(t *testing.T) {
	tests := []struct {
		expr string
		want time.Duration
		err  string
	}{
		{"rate(1 minute)", time.Minute, ""},
		{"rate(5 minutes)", 5 * time.Minute, ""},
		{"rate(30 seconds)", 30 * time.Second, ""},
		{"rate(1 second)", time.Second, ""},
		{"rate(2 hours)", 2 * time.Hour, ""},
		{"rate(1 day)", 24 * time.Hour, ""},
		{"rate( 3  minutes )", 3 * time.Minute, ""},
		{"cron(0 8 * * ? *)", 0, "not cron() or at()"},
		{"at(2030-01-01T00:00:00)", 0, "not cron() or at()"},
		{"rate(0 minutes)", 0, "from 1 on"},
		{"rate(1 fortnight)", 0, "unknown unit"},
		{"rate(-1 minutes)", 0, "only rate("},
		{"rate(1.5 minutes)", 0, "only rate("},
		{"", 0, "only rate("},
	}
	for _, tt := range tests {
		got, err := localrun.ParseRate(tt.expr)
		switch {
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseRate(%q) = %v, %v; want %v", tt.expr, got, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("ParseRate(%q) = %v, %v; want an error containing %q", tt.expr, got, err, tt.err)
		}
	}
}

// TestParameterOverrides checks that overrides of template parameters are
// held to the template's declaration before anything starts.
func TestParameterOverrides(t *testing.T) {
	root, err := localstack.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		params map[string]string
		err    string
	}{
		{map[string]string{"NoSuchParameter": "1"}, "no such parameter"},
		{map[string]string{"LeaseGraceSeconds": "soon"}, "not a number"},
		{map[string]string{"LeaseGraceSeconds": "-1"}, "below its MinValue"},
		{map[string]string{"LeaseGraceSeconds": "3601"}, "above its MaxValue"},
		{map[string]string{"LogLevel": "LOUD"}, "is not one of"},
		{map[string]string{"TokenSecret": "a-secret-that-is-long-enough-for-hs256"}, "its own option"},
	}
	for _, tt := range tests {
		// Nothing is started: the endpoints only have to be set.
		_, err := localrun.Provision(context.Background(), localrun.ProvisionOptions{
			Root: root, Parameters: tt.params, DynamoDBEndpoint: "http://127.0.0.1:1", NoSQS: true,
		})
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Provision with %v: %v, want an error containing %q", tt.params, err, tt.err)
		}
	}
}
