package outdial_test

// These fuzz tests are of package destination; they live here, as an
// external test package, because the Makefile's FUZZ_TARGETS name them
// under ./internal/outdial.

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/outdial/outdial/internal/destination"
	"github.com/outdial/outdial/internal/outdial"
)

// checkNormalized fails t if destination.NormalizeAddress(a, region)
// breaks one of its promises: errors are *outdial.Error on the right field;
// an accepted address has the lower-case type, a target of at most maxLen
// bytes of printable ASCII and normalises to itself.
func checkNormalized(t *testing.T, a outdial.Address, region string, maxLen int) outdial.Address {
	t.Helper()
	got, err := destination.NormalizeAddress("destination", a, region)
	if err != nil {
		var e *outdial.Error
		if !errors.As(err, &e) {
			t.Fatalf("NormalizeAddress(%q, %q): error %v is not an *Error", a.Target, region, err)
		}
		if e.Field != "destination.target" && e.Field != "destination.type" && e.Field != "default_region" {
			t.Fatalf("NormalizeAddress(%q, %q): error on field %q", a.Target, region, e.Field)
		}
		if !strings.HasPrefix(e.Message, e.Field+": ") || !utf8.ValidString(e.Message) {
			t.Fatalf("NormalizeAddress(%q, %q): message %q", a.Target, region, e.Message)
		}
		return outdial.Address{}
	}
	if got.Type != strings.ToLower(a.Type) {
		t.Fatalf("NormalizeAddress(%q): got type %q", a.Target, got.Type)
	}
	if got.Target == "" || len(got.Target) > maxLen {
		t.Fatalf("NormalizeAddress(%q): got target of %d bytes, want 1-%d", a.Target, len(got.Target), maxLen)
	}
	for i := 0; i < len(got.Target); i++ {
		if c := got.Target[i]; c <= ' ' || c >= 0x7f {
			t.Fatalf("NormalizeAddress(%q): got %q with byte %#x", a.Target, got.Target, c)
		}
	}
	again, err := destination.NormalizeAddress("destination", got, region)
	if err != nil || again != got {
		t.Fatalf("NormalizeAddress(%q) = %q, which normalises to %q, %v", a.Target, got.Target, again.Target, err)
	}
	return got
}

func FuzzNormalizeTel(f *testing.F) {
	for _, s := range []struct{ target, region string }{
		{"+15551234567", ""},
		{"+15559876543", ""},
		{"+1 555 123 4567", ""},
		{"+1 (555) 123-4567", ""},
		{"tel:+15551234567", ""},
		{"(555) 123-4567", "US"},
		{"(555) 123-4567", ""},
		{"1 555 123 4567", "us"},
		{"011 44 20 7946 0958", "US"},
		{"00 44 20 7946 0958", "DE"},
		{"+44 (0) 20 7946 0958", ""},
		{"020 7946 0958", "GB"},
		{"+39 06 1234 5678", ""},
		{"+800 1234 5678", ""},
		{"1-800-FLOWERS", "US"},
		{"+1 555 123 4567 x123", ""},
		{"+15551234567;ext=1", ""},
		{"555 1234", "US"},
		{"+999 1234567", ""},
		{"+1555\r\n", ""},
		{"+54 9 11 1234 5678", "AR"},
		{"0 0 0 0", "IT"},
	} {
		f.Add(s.target, s.region)
	}
	f.Fuzz(func(t *testing.T, target, region string) {
		got := checkNormalized(t, outdial.Address{Type: "tel", Target: target}, region, 1+3+17)
		if got.Target != "" {
			if got.Target[0] != '+' || strings.Trim(got.Target[1:], "0123456789") != "" {
				t.Fatalf("NormalizeAddress(%q): got %q, want E.164", target, got.Target)
			}
			// An E.164 result is region-independent.
			checkNormalized(t, got, "", len(got.Target))
		}
	})
}

func FuzzNormalizeSIP(f *testing.F) {
	for _, s := range []string{
		"sip:user@pbx.company.com",
		"SIPS:Alice@Example.COM:5061;transport=TLS",
		"sip:+15551234567@gw.example.com;user=phone",
		"sip:1000@10.0.0.1:5060",
		"sip:alice@[2001:0DB8::1]:5060",
		"sip:alice@[::ffff:1.2.3.4]",
		"sip:a%20b@localhost",
		"sip:a&b=c+d$e,f;g?h/i@example.com",
		"sip:alice@example.com?subject=hi",
		"<sip:alice@example.com>",
		"sip:alice:pw@example.com",
		"sip:alice@example.com;maddr=[::1]",
		"sip:alice@1.2.3.256",
		"sip:alice@example.com\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		checkNormalized(t, outdial.Address{Type: "sip", Target: target}, "", destination.MaxSIPLen)
	})
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{
		"alice@example.com",
		"Alice.Smith+Tag@Example.CO.UK",
		"a!#$%&'*+-/=?^_`{|}~z@example.com",
		"\"a b\"@example.com",
		"Alice <alice@example.com>",
		"alice@[192.0.2.1]",
		"alice@192.0.2.1",
		"al..ice@example.com",
		"alice@example.com.",
		"alice@example.com\r\nBcc: x@example.com",
		"alicé@exämple.com",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		got := checkNormalized(t, outdial.Address{Type: "email", Target: target}, "", destination.MaxEmailLen)
		if got.Target != strings.ToLower(got.Target) || strings.Count(got.Target, "@") > 1 {
			t.Fatalf("NormalizeAddress(%q): got %q, want lower case with one @", target, got.Target)
		}
	})
}
