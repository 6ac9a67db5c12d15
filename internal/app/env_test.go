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
		{app.EnvTokenSecret, app.TokenSecret},
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
