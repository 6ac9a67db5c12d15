package app

import (
	"fmt"
	"strconv"
	"time"
)

// Environment of the webhook functions (issue 15).
const (
	EnvDeliveryQueueURL = "DELIVERY_QUEUE_URL" // publish-events and test-webhook send to it; deliver-webhooks changes its visibility
	// EnvLocalWebhooks "true" lets webhooks point at http://127.0.0.1
	// (make run); production refuses private addresses.
	EnvLocalWebhooks = "LOCAL_WEBHOOKS"
	// EnvWebhookRetryHours is how long deliver-webhooks retries a
	// delivery, 1 to 336 hours; default 24.
	EnvWebhookRetryHours = "WEBHOOK_RETRY_HOURS"
	// EnvWebhookBackoffSeconds is the first retry's delay, doubling up to
	// an hour, 1 to 3600 seconds; default 10.
	EnvWebhookBackoffSeconds = "WEBHOOK_BACKOFF_SECONDS"
)

// DeliveryQueueURL returns DELIVERY_QUEUE_URL, which must be set.
func DeliveryQueueURL(getenv func(string) string) (string, error) {
	return required(getenv, EnvDeliveryQueueURL)
}

// LocalWebhooks reports whether LOCAL_WEBHOOKS is "true".
func LocalWebhooks(getenv func(string) string) (bool, error) {
	switch v := getenv(EnvLocalWebhooks); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, fmt.Errorf("%s must be true or false, not %q", EnvLocalWebhooks, v)
	}
}

// WebhookRetry returns how long deliveries are retried
// (WEBHOOK_RETRY_HOURS, default 24 h) and the first retry's delay
// (WEBHOOK_BACKOFF_SECONDS, default 10 s).
func WebhookRetry(getenv func(string) string) (window, backoff time.Duration, err error) {
	hours, err := intEnv(getenv, EnvWebhookRetryHours, 24, 1, 336)
	if err != nil {
		return 0, 0, err
	}
	secs, err := intEnv(getenv, EnvWebhookBackoffSeconds, 10, 1, 3600)
	if err != nil {
		return 0, 0, err
	}
	return time.Duration(hours) * time.Hour, time.Duration(secs) * time.Second, nil
}

// intEnv reads name as a whole number from lo to hi, def when unset.
func intEnv(getenv func(string) string, name string, def, lo, hi int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be a whole number from %d to %d, not %q", name, lo, hi, v)
	}
	return n, nil
}
