package webhook_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/webhook"
)

// Known answers, computed independently (Python's hmac module):
// hmac.new(secret, b'1700000000.{"events":[]}', hashlib.sha256).hexdigest().
const (
	katTS     = int64(1700000000)
	katBody   = `{"events":[]}`
	katSecret = "whsec_test_secret"
	katSig    = "decf25707539432b05c1ca945d0a9c637485e759de0ecbdbc708e5b504771f16"
	katOld    = "old_secret"
	katOldSig = "988b9983030d7cdb62a37cea451eb5f55947a9986ac8b26cd895dc4b7acec088"
)

var katNow = time.Unix(katTS, 0).Add(30 * time.Second)

func TestSignKnownAnswer(t *testing.T) {
	if got, want := webhook.Sign([]string{katSecret}, katTS, []byte(katBody)), "v1="+katSig; got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
	if got, want := webhook.Sign([]string{katSecret, katOld}, katTS, []byte(katBody)), "v1="+katSig+",v1="+katOldSig; got != want {
		t.Errorf("Sign with two secrets = %q, want %q", got, want)
	}
	if got := webhook.Sign(nil, katTS, []byte(katBody)); got != "" {
		t.Errorf("Sign with no secret = %q, want empty", got)
	}
	if err := webhook.Verify(katSecret, "v1="+katSig, katTS, []byte(katBody), katNow, 0); err != nil {
		t.Errorf("Verify of the known answer: %v", err)
	}
}

func TestVerifyTampering(t *testing.T) {
	body := []byte(`{"events":[{"id":"e1","type":"ping","tm":null,"data":{}}]}`)
	sig := webhook.Sign([]string{katSecret}, katTS, body)
	if err := webhook.Verify(katSecret, sig, katTS, body, katNow, time.Minute); err != nil {
		t.Fatalf("Verify of an untouched delivery: %v", err)
	}
	tampered := []byte(strings.Replace(string(body), "ping", "pong", 1))
	last := "0"
	if strings.HasSuffix(sig, "0") {
		last = "1"
	}
	flipped := sig[:len(sig)-1] + last
	cases := []struct {
		name   string
		secret string
		header string
		ts     int64
		body   []byte
		now    time.Time
		want   error
	}{
		{"body changed", katSecret, sig, katTS, tampered, katNow, webhook.ErrBadSignature},
		{"body extended", katSecret, sig, katTS, append(append([]byte{}, body...), ' '), katNow, webhook.ErrBadSignature},
		{"timestamp changed", katSecret, sig, katTS + 1, body, katNow, webhook.ErrBadSignature},
		{"signature changed", katSecret, flipped, katTS, body, katNow, webhook.ErrBadSignature},
		{"other secret", "another_secret", sig, katTS, body, katNow, webhook.ErrBadSignature},
		{"not hex", katSecret, "v1=zz", katTS, body, katNow, webhook.ErrBadSignature},
		{"other version only", katSecret, strings.Replace(sig, "v1=", "v0=", 1), katTS, body, katNow, webhook.ErrNoSignature},
		{"empty header", katSecret, "", katTS, body, katNow, webhook.ErrNoSignature},
		{"too old", katSecret, sig, katTS, body, time.Unix(katTS, 0).Add(2 * time.Minute), webhook.ErrTimestamp},
		{"from the future", katSecret, sig, katTS, body, time.Unix(katTS, 0).Add(-2 * time.Minute), webhook.ErrTimestamp},
	}
	for _, tc := range cases {
		if err := webhook.Verify(tc.secret, tc.header, tc.ts, tc.body, tc.now, time.Minute); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	// The default tolerance (5 minutes) applies when none is given.
	if err := webhook.Verify(katSecret, sig, katTS, body, time.Unix(katTS, 0).Add(4*time.Minute), 0); err != nil {
		t.Errorf("Verify 4 minutes late with the default tolerance: %v", err)
	}
	if err := webhook.Verify(katSecret, sig, katTS, body, time.Unix(katTS, 0).Add(6*time.Minute), 0); !errors.Is(err, webhook.ErrTimestamp) {
		t.Errorf("Verify 6 minutes late with the default tolerance = %v, want ErrTimestamp", err)
	}
}

// TestVerifyRotation: during a rotation a delivery carries one v1 entry
// per valid secret; a receiver holding either one verifies it, and one
// holding neither does not.
func TestVerifyRotation(t *testing.T) {
	body := []byte(katBody)
	header := webhook.Sign([]string{"new-secret", "old-secret"}, katTS, body)
	if n := strings.Count(header, "v1="); n != 2 {
		t.Fatalf("header %q has %d v1 entries, want 2", header, n)
	}
	for _, s := range []string{"new-secret", "old-secret"} {
		if err := webhook.Verify(s, header, katTS, body, katNow, 0); err != nil {
			t.Errorf("Verify with %s: %v", s, err)
		}
	}
	if err := webhook.Verify("third-secret", header, katTS, body, katNow, 0); !errors.Is(err, webhook.ErrBadSignature) {
		t.Errorf("Verify with a secret not in the rotation = %v, want ErrBadSignature", err)
	}
	// Spaces after commas and unknown versions are tolerated.
	spaced := "v0=abc, " + strings.ReplaceAll(header, ",", " , ")
	if err := webhook.Verify("old-secret", spaced, katTS, body, katNow, 0); err != nil {
		t.Errorf("Verify of %q: %v", spaced, err)
	}
}

func TestVerifyRequest(t *testing.T) {
	body := []byte(katBody)
	h := http.Header{}
	h.Set(webhook.HeaderTimestamp, "1700000000")
	h.Set(webhook.HeaderSignature, "v1="+katSig)
	if err := webhook.VerifyRequest(katSecret, h, body, katNow, 0); err != nil {
		t.Errorf("VerifyRequest: %v", err)
	}
	for _, ts := range []string{"", "abc", "1700000000.5"} {
		h.Set(webhook.HeaderTimestamp, ts)
		if err := webhook.VerifyRequest(katSecret, h, body, katNow, 0); !errors.Is(err, webhook.ErrTimestamp) {
			t.Errorf("VerifyRequest with timestamp %q = %v, want ErrTimestamp", ts, err)
		}
	}
}
