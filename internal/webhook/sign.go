package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Headers of a delivery.
const (
	// HeaderTimestamp is the Unix time in seconds the delivery was signed.
	HeaderTimestamp = "X-Outdial-Timestamp"
	// HeaderSignature holds one v1=<hex> entry per valid secret,
	// comma-separated.
	HeaderSignature = "X-Outdial-Signature"
	// UserAgent is the User-Agent of deliveries.
	UserAgent = "Outdial-Webhooks/1"
)

// DefaultTolerance is how far a delivery's timestamp may be from a
// receiver's clock (a replayed delivery older than that is refused).
const DefaultTolerance = 5 * time.Minute

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("webhook: no v1 signature")
	ErrBadSignature = errors.New("webhook: no v1 signature matches")
	ErrTimestamp    = errors.New("webhook: timestamp outside the tolerance")
)

// Sign returns the X-Outdial-Signature value of a delivery: for each
// secret, in order, "v1=" and the lower-case hex HMAC-SHA-256 keyed with
// the secret of "<ts>.<body>" (ts in decimal Unix seconds), joined with
// ",". During a rotation a delivery carries one entry per valid secret,
// so a receiver holding either verifies it.
func Sign(secrets []string, ts int64, body []byte) string {
	entries := make([]string, 0, len(secrets))
	for _, s := range secrets {
		entries = append(entries, "v1="+hex.EncodeToString(mac(s, ts, body)))
	}
	return strings.Join(entries, ",")
}

// mac is HMAC-SHA-256(secret, "<ts>." + body).
func mac(secret string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify is the receivers' reference check of a delivery: header is the
// X-Outdial-Signature value, ts the X-Outdial-Timestamp value and body the
// raw request body, byte for byte as received. It succeeds when any v1
// entry of header is the signature of ts and body under secret (compared
// in constant time; entries of other versions are ignored) and ts is
// within tolerance of now (DefaultTolerance when tolerance <= 0), which
// bounds replays. Receivers should then dedupe events by id: delivery is
// at least once.
func Verify(secret string, header string, ts int64, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	want := mac(secret, ts, body)
	seen, ok := false, false
	for _, e := range strings.Split(header, ",") {
		v, sig, found := strings.Cut(strings.TrimSpace(e), "=")
		if !found || v != "v1" {
			continue
		}
		seen = true
		got, err := hex.DecodeString(sig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			ok = true // no early exit: the time taken does not tell which entry matched
		}
	}
	switch {
	case !seen:
		return ErrNoSignature
	case !ok:
		return ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return ErrTimestamp
	}
	return nil
}

// VerifyRequest is Verify on a request's headers: it reads
// X-Outdial-Timestamp and X-Outdial-Signature from h.
func VerifyRequest(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(strings.TrimSpace(h.Get(HeaderTimestamp)), 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	return Verify(secret, h.Get(HeaderSignature), ts, body, now, tolerance)
}
