package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/outdial/outdial/internal/events"
	"github.com/outdial/outdial/internal/outdial"
)

// ErrURIRefused is returned (wrapped) when the stored URI no longer passes
// ValidateURI (say, one stored under other rules): the delivery is
// retried, and goes through once the customer PUTs a valid one.
var ErrURIRefused = errors.New("webhook: URI refused")

// Deliverer POSTs deliveries to customers' webhooks.
type Deliverer struct {
	// Client sends the requests; nil means a shared NewClient(AllowLocal).
	Client *http.Client
	// Store reads the customer's webhook at each attempt, so a URI fixed
	// or a secret rotated between retries takes effect.
	Store Store
	// Now is the clock that signs (time.Now when nil).
	Now func() time.Time
	// AllowLocal (make run) lets the stored URI point at 127.0.0.1 or ::1;
	// it must match the client's.
	AllowLocal bool
}

// Status says what became of a delivery that did not fail.
type Status string

// Statuses of Result.
const (
	// Delivered: the webhook answered 2xx.
	Delivered Status = "delivered"
	// NoWebhook: the customer has no webhook; the delivery is dropped.
	NoWebhook Status = "no_webhook"
	// NotWanted: the webhook subscribes to none of the delivery's event
	// types; nothing was sent.
	NotWanted Status = "not_wanted"
)

// Result is what Send did.
type Result struct {
	Status     Status
	Events     int // the events sent (after the webhook's filter)
	StatusCode int // the webhook's answer, when one was sent
}

// DeliveryError is a failed attempt: the webhook answered StatusCode
// (not 2xx; 3xx included, since redirects are not followed), or, with
// StatusCode 0, the request failed (refused address, DNS, TLS, timeout).
// Its message never carries the URI or the answer's body.
type DeliveryError struct {
	StatusCode int
	Err        error
}

func (e *DeliveryError) Error() string {
	if e.StatusCode != 0 {
		return "webhook answered " + strconv.Itoa(e.StatusCode)
	}
	return "webhook request failed: " + e.Err.Error()
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// Deliver sends d to its customer's webhook. It returns nil when the
// webhook answered 2xx, when the customer has no webhook (the delivery
// is dropped: there is nowhere to send it) and when the webhook
// subscribes to none of d's events; any other outcome is an error and
// the delivery should be retried. Send says which.
func (dl *Deliverer) Deliver(ctx context.Context, d events.Delivery) error {
	_, err := dl.Send(ctx, d)
	return err
}

// Send is Deliver that also says what it did.
//
// It reads the webhook, keeps the events it subscribes to (in order),
// and POSTs {"events":[...]} to its URI with Content-Type
// application/json, User-Agent UserAgent, X-Outdial-Timestamp (now, Unix
// seconds) and X-Outdial-Signature (Sign with the webhook's secrets valid
// now). The URI is checked again with ValidateURI before sending, and
// the client refuses private addresses at connect time.
func (dl *Deliverer) Send(ctx context.Context, d events.Delivery) (Result, error) {
	cfg, err := dl.Webhook(ctx, d.CustomerID)
	if err != nil {
		return Result{}, err
	}
	return dl.SendTo(ctx, cfg, d)
}

// Webhook reads the customer's webhook; nil, and no error, when it has
// none.
func (dl *Deliverer) Webhook(ctx context.Context, customerID string) (*Config, error) {
	cfg, err := dl.Store.GetWebhook(ctx, customerID)
	switch {
	case outdial.ErrorCode(err) == outdial.ECodeNotFound:
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read webhook: %w", err)
	}
	return cfg, nil
}

// SendTo is Send to cfg, the customer's webhook as Webhook read it (nil:
// none, so nothing is sent), for a caller that sends several deliveries
// of one customer at one go.
func (dl *Deliverer) SendTo(ctx context.Context, cfg *Config, d events.Delivery) (Result, error) {
	if cfg == nil {
		return Result{Status: NoWebhook}, nil
	}
	var wanted []events.Event
	for _, e := range d.Events {
		if cfg.Wants(e.Type) {
			wanted = append(wanted, e)
		}
	}
	if len(wanted) == 0 {
		return Result{Status: NotWanted}, nil
	}
	uri, err := ValidateURI("uri", cfg.URI, dl.AllowLocal)
	if err != nil {
		return Result{}, &DeliveryError{Err: fmt.Errorf("%w: %s", ErrURIRefused, outdial.ErrorMessage(err))}
	}
	now := dl.now()
	secrets := cfg.ValidSecrets(now)
	if len(secrets) == 0 {
		return Result{}, errors.New("webhook has no valid secret")
	}
	body, err := json.Marshal(events.Body{Events: wanted})
	if err != nil {
		return Result{}, fmt.Errorf("encode delivery: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, bytes.NewReader(body))
	if err != nil {
		return Result{}, &DeliveryError{Err: errors.New("invalid webhook URI")}
	}
	ts := now.Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(secrets, ts, body))
	resp, err := dl.client().Do(req)
	if err != nil {
		return Result{}, &DeliveryError{Err: redact(err)}
	}
	// Read a little of the answer so the connection can be reused; its
	// content is not looked at.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return Result{StatusCode: resp.StatusCode}, &DeliveryError{StatusCode: resp.StatusCode}
	}
	return Result{Status: Delivered, Events: len(wanted), StatusCode: resp.StatusCode}, nil
}

// redact strips the URL from the client's error (it may carry a query
// string holding the customer's own token).
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("timeout: %w", ue.Err)
		}
		return ue.Err
	}
	return err
}

func (dl *Deliverer) now() time.Time {
	if dl.Now == nil {
		return time.Now()
	}
	return dl.Now()
}

// Shared default clients, built on first use.
var (
	defaultClient      = sync.OnceValue(func() *http.Client { return NewClient(false) })
	defaultLocalClient = sync.OnceValue(func() *http.Client { return NewClient(true) })
)

func (dl *Deliverer) client() *http.Client {
	switch {
	case dl.Client != nil:
		return dl.Client
	case dl.AllowLocal:
		return defaultLocalClient()
	}
	return defaultClient()
}
