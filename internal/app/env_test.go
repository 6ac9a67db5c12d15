package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/app"
)

func getenv(k, v string) func(string) string {
	return func(key string) string {
		if key == k {
			return v
		}
		return ""
	}
}

// TestEnvReaders checks the bounds of the numeric variables: what is
// accepted, what the default is (ok false when unset) and that an error
// names the variable and quotes the value.
func TestEnvReaders(t *testing.T) {
	for _, tt := range []struct {
		variable string
		read     func(func(string) string) (time.Duration, bool, error)
		value    string
		want     time.Duration // -1: an error
	}{
		{app.EnvLeaseGrace, app.LeaseGrace, "", 0},
		{app.EnvLeaseGrace, app.LeaseGrace, "0", 0},
		{app.EnvLeaseGrace, app.LeaseGrace, "60", time.Minute},
		{app.EnvLeaseGrace, app.LeaseGrace, "3600", time.Hour},
		{app.EnvLeaseGrace, app.LeaseGrace, "3601", -1},
		{app.EnvLeaseGrace, app.LeaseGrace, "-1", -1},
		{app.EnvLeaseGrace, app.LeaseGrace, "1m", -1},
		{app.EnvMaxTokenLifetime, app.MaxTokenLifetime, "", 0},
		{app.EnvMaxTokenLifetime, app.MaxTokenLifetime, "60", time.Minute},
		{app.EnvMaxTokenLifetime, app.MaxTokenLifetime, "31536000", 365 * 24 * time.Hour},
		{app.EnvMaxTokenLifetime, app.MaxTokenLifetime, "59", -1},
		{app.EnvMaxTokenLifetime, app.MaxTokenLifetime, "31536001", -1},
		{app.EnvMaxTokenLifetime, app.MaxTokenLifetime, "30d", -1},
	} {
		got, ok, err := tt.read(getenv(tt.variable, tt.value))
		switch {
		case tt.want < 0:
			if err == nil || !strings.Contains(err.Error(), tt.variable) || !strings.Contains(err.Error(), `"`+tt.value+`"`) {
				t.Errorf("%s=%q: %v, %v, %v; want an error naming it and quoting the value", tt.variable, tt.value, got, ok, err)
			}
		case err != nil || got != tt.want || ok != (tt.value != ""):
			t.Errorf("%s=%q: got %v, %v, %v; want %v, %v, nil", tt.variable, tt.value, got, ok, err, tt.want, tt.value != "")
		}
	}
}

// TestRequiredVariables checks the variables without a default.
func TestRequiredVariables(t *testing.T) {
	for _, tt := range []struct {
		variable string
		read     func(func(string) string) (string, error)
	}{
		{app.EnvTableName, app.TableName},
		{app.EnvPurgeQueueURL, app.PurgeQueueURL},
		{app.EnvOutcomeQueueURL, app.OutcomeQueueURL},
		{app.EnvTokenSecret, app.TokenSecret},
		{app.EnvDeliveryQueueURL, app.DeliveryQueueURL},
	} {
		if _, err := tt.read(getenv(tt.variable, "")); err == nil || !strings.Contains(err.Error(), tt.variable) {
			t.Errorf("%s unset: %v, want an error naming it", tt.variable, err)
		}
		v := "a-value-long-enough-for-a-token-secret"
		if got, err := tt.read(getenv(tt.variable, v)); err != nil || got != v {
			t.Errorf("%s=%q: got %q, %v", tt.variable, v, got, err)
		}
	}
}

// TestWebhookEnv checks the webhook functions' variables (issue 15):
// LOCAL_WEBHOOKS is true or false (unset: false), the retry window 1 to
// 336 hours (default 24) and the first backoff 1 to 3600 seconds (default
// 10); errors name the variable and quote the value.
func TestWebhookEnv(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  bool
		err   bool
	}{{"", false, false}, {"false", false, false}, {"true", true, false}, {"TRUE", false, true}, {"1", false, true}, {"yes", false, true}} {
		got, err := app.LocalWebhooks(getenv(app.EnvLocalWebhooks, tt.value))
		switch {
		case tt.err:
			if err == nil || !strings.Contains(err.Error(), app.EnvLocalWebhooks) || !strings.Contains(err.Error(), `"`+tt.value+`"`) {
				t.Errorf("%s=%q: %v, %v; want an error naming it and quoting the value", app.EnvLocalWebhooks, tt.value, got, err)
			}
		case err != nil || got != tt.want:
			t.Errorf("%s=%q: %v, %v; want %v", app.EnvLocalWebhooks, tt.value, got, err, tt.want)
		}
	}

	for _, tt := range []struct {
		variable, value string
		window, backoff time.Duration // 0: an error
	}{
		{app.EnvWebhookRetryHours, "", 24 * time.Hour, 10 * time.Second},
		{app.EnvWebhookRetryHours, "1", time.Hour, 10 * time.Second},
		{app.EnvWebhookRetryHours, "336", 336 * time.Hour, 10 * time.Second},
		{app.EnvWebhookRetryHours, "0", 0, 0},
		{app.EnvWebhookRetryHours, "337", 0, 0},
		{app.EnvWebhookRetryHours, "24h", 0, 0},
		{app.EnvWebhookBackoffSeconds, "1", 24 * time.Hour, time.Second},
		{app.EnvWebhookBackoffSeconds, "3600", 24 * time.Hour, time.Hour},
		{app.EnvWebhookBackoffSeconds, "0", 0, 0},
		{app.EnvWebhookBackoffSeconds, "3601", 0, 0},
		{app.EnvWebhookBackoffSeconds, "-5", 0, 0},
	} {
		window, backoff, err := app.WebhookRetry(getenv(tt.variable, tt.value))
		switch {
		case tt.window == 0:
			if err == nil || !strings.Contains(err.Error(), tt.variable) || !strings.Contains(err.Error(), `"`+tt.value+`"`) {
				t.Errorf("%s=%q: %v, %v, %v; want an error naming it and quoting the value", tt.variable, tt.value, window, backoff, err)
			}
		case err != nil || window != tt.window || backoff != tt.backoff:
			t.Errorf("%s=%q: %v, %v, %v; want %v, %v", tt.variable, tt.value, window, backoff, err, tt.window, tt.backoff)
		}
	}
}
