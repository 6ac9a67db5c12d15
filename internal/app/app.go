// Package app holds what the functions' mains share: the names of the
// environment variables template.yaml gives them, readers that check
// those variables, the JSON logger, the authorizer's wiring and Exit for
// init failures. Each functions/<name>/main.go builds its own dependencies
// with these and calls lambda.Start on its handler; the clients of AWS
// services are built by the subpackages storeenv (DynamoDB) and purgeenv
// (SQS), so that a function links only the clients it uses: the
// authorizer links none. The name of every function with its handler is
// the local runner's business (internal/localrun).
package app

import (
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/outdial/outdial/internal/auth"
)

// Environment variables read by the functions (template.yaml sets them).
const (
	EnvTableName        = "TABLE_NAME"
	EnvTokenSecret      = "OUTDIAL_TOKEN_SECRET"
	EnvTokenSecretPrev  = "OUTDIAL_TOKEN_SECRET_PREVIOUS"
	EnvDynamoDBEndpoint = "DYNAMODB_ENDPOINT" // local stand-in only; empty on AWS
	EnvSQSEndpoint      = "SQS_ENDPOINT"      // local stand-in only; empty on AWS
	EnvPurgeQueueURL    = "PURGE_QUEUE_URL"
	EnvOutcomeQueueURL  = "OUTCOME_QUEUE_URL" // process-outcomes makes outcomes it could not apply in time visible again early
	EnvLogLevel         = "LOG_LEVEL"
	EnvLeaseGrace       = "LEASE_GRACE_SECONDS" // claim-targets and expire-leases; default 60
	// EnvMaxTokenLifetime is the authorizer's maximum token lifetime in
	// seconds, MinMaxTokenLifetime to MaxMaxTokenLifetime; default
	// auth.DefaultMaxLifetime (30 days).
	EnvMaxTokenLifetime = "MAX_TOKEN_LIFETIME_SECONDS"
)

// Bounds of EnvMaxTokenLifetime in seconds (the template parameter
// MaxTokenLifetimeSeconds has the same MinValue and MaxValue).
const (
	MinMaxTokenLifetime = 60
	MaxMaxTokenLifetime = 365 * 24 * 3600
)

// Exit ends a Lambda binary whose init failed: it logs the error with the
// function's name and exits non-zero, which Lambda reports as an init
// error.
func Exit(log *slog.Logger, function string, err error) {
	log.Error("init failed", "function", function, "err", InitError(function, err))
	os.Exit(1)
}

// InitError is err as the init of function reports it.
func InitError(function string, err error) error {
	return fmt.Errorf("init %s: %w", function, err)
}

// TableName returns TABLE_NAME, which must be set.
func TableName(getenv func(string) string) (string, error) {
	return required(getenv, EnvTableName)
}

// LeaseGrace returns LEASE_GRACE_SECONDS, 0 to 3600 seconds; ok is false
// when it is not set (the store's default applies).
func LeaseGrace(getenv func(string) string) (grace time.Duration, ok bool, err error) {
	v := getenv(EnvLeaseGrace)
	if v == "" {
		return 0, false, nil
	}
	secs, err := strconv.Atoi(v)
	if err != nil || secs < 0 || secs > 3600 {
		return 0, false, fmt.Errorf("%s must be a number of seconds from 0 to 3600, not %q", EnvLeaseGrace, v)
	}
	return time.Duration(secs) * time.Second, true, nil
}

// TokenSecret returns OUTDIAL_TOKEN_SECRET, which signs tokens and page
// tokens: at least auth.MinSecretLen bytes. The error does not quote it.
func TokenSecret(getenv func(string) string) (string, error) {
	s := getenv(EnvTokenSecret)
	if len(s) < auth.MinSecretLen {
		return "", fmt.Errorf("%s must be set to at least %d bytes", EnvTokenSecret, auth.MinSecretLen)
	}
	return s, nil
}

// MaxTokenLifetime returns MAX_TOKEN_LIFETIME_SECONDS, from
// MinMaxTokenLifetime to MaxMaxTokenLifetime seconds; ok is false when it
// is not set (auth.DefaultMaxLifetime applies).
func MaxTokenLifetime(getenv func(string) string) (lifetime time.Duration, ok bool, err error) {
	s := getenv(EnvMaxTokenLifetime)
	if s == "" {
		return 0, false, nil
	}
	secs, err := strconv.Atoi(s)
	if err != nil || secs < MinMaxTokenLifetime || secs > MaxMaxTokenLifetime {
		return 0, false, fmt.Errorf("%s must be a number of seconds from %d to %d, not %q",
			EnvMaxTokenLifetime, MinMaxTokenLifetime, MaxMaxTokenLifetime, s)
	}
	return time.Duration(secs) * time.Second, true, nil
}

// PurgeQueueURL returns PURGE_QUEUE_URL, which must be set.
func PurgeQueueURL(getenv func(string) string) (string, error) {
	return required(getenv, EnvPurgeQueueURL)
}

// OutcomeQueueURL returns OUTCOME_QUEUE_URL, which must be set.
func OutcomeQueueURL(getenv func(string) string) (string, error) {
	return required(getenv, EnvOutcomeQueueURL)
}

// Authorizer builds the authorizer function's handler: tokens signed with
// OUTDIAL_TOKEN_SECRET (or, while secrets rotate,
// OUTDIAL_TOKEN_SECRET_PREVIOUS), valid for at most
// MAX_TOKEN_LIFETIME_SECONDS.
func Authorizer(getenv func(string) string, log *slog.Logger) (*auth.Authorizer, error) {
	secret, err := TokenSecret(getenv)
	if err != nil {
		return nil, err
	}
	v, err := auth.NewVerifier(secret, getenv(EnvTokenSecretPrev))
	if err != nil {
		return nil, err
	}
	lifetime, ok, err := MaxTokenLifetime(getenv)
	if err != nil {
		return nil, err
	}
	if ok {
		v = v.WithMaxLifetime(lifetime)
	}
	return &auth.Authorizer{Verifier: v, Log: log}, nil
}

// required returns the environment variable name, which must be set.
func required(getenv func(string) string, name string) (string, error) {
	v := getenv(name)
	if v == "" {
		return "", fmt.Errorf("%s is not set", name)
	}
	return v, nil
}
