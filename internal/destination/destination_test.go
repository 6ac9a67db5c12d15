package destination

import (
	"errors"
	"strings"
	"testing"

	"github.com/outdial/outdial/internal/outdial"
)

func TestNormalizeAddressTel(t *testing.T) {
	tests := []struct {
		in     string
		region string
		want   string
	}{
		// The seed's examples.
		{"+15551234567", "", "+15551234567"},
		{"+15559876543", "", "+15559876543"},
		{"+15551111111", "", "+15551111111"},
		// Formatting is dropped.
		{"+1 555 123 4567", "", "+15551234567"},
		{"+1 (555) 123-4567", "", "+15551234567"},
		{"+1-555-123-4567", "", "+15551234567"},
		{"+1.555.123.4567", "", "+15551234567"},
		{"  +15551234567\t", "", "+15551234567"},
		{"tel:+15551234567", "", "+15551234567"},
		{"TEL:+1 555 123 4567", "", "+15551234567"},
		{"+44 20 7946 0958", "", "+442079460958"},
		{"+44 (0) 20 7946 0958", "", "+442079460958"},
		{"+49 30 1234567", "", "+49301234567"},
		{"+39 06 1234 5678", "", "+390612345678"}, // Italian leading zero kept
		{"+800 1234 5678", "", "+80012345678"},    // non-geographic
		// National numbers with a default region.
		{"(555) 123-4567", "US", "+15551234567"},
		{"(555) 123-4567", "us", "+15551234567"},
		{"555-123-4567", "US", "+15551234567"},
		{"1 555 123 4567", "US", "+15551234567"},
		{"020 7946 0958", "GB", "+442079460958"},
		{"tel:020 7946 0958", "GB", "+442079460958"},
		// International dialing prefixes are the region's.
		{"011 44 20 7946 0958", "US", "+442079460958"},
		{"00 44 20 7946 0958", "DE", "+442079460958"},
		// A region does not change an international number.
		{"+44 20 7946 0958", "US", "+442079460958"},
		// Already normalised.
		{"+442079460958", "", "+442079460958"},
	}
	for _, tt := range tests {
		got, err := NormalizeAddress("destination", outdial.Address{Type: "tel", Target: tt.in}, tt.region)
		if err != nil {
			t.Errorf("NormalizeAddress(tel %q, %q): got error %v, want %q", tt.in, tt.region, err, tt.want)
			continue
		}
		if want := (outdial.Address{Type: "tel", Target: tt.want}); got != want {
			t.Errorf("NormalizeAddress(tel %q, %q): got %+v, want %+v", tt.in, tt.region, got, want)
		}
	}
}

func TestNormalizeAddressTelRejected(t *testing.T) {
	tests := []struct {
		in      string
		region  string
		field   string // default "destination.target"
		message string // a substring of the message
	}{
		{"(555) 123-4567", "", "", "E.164"},
		{"5551234567", "", "", "default_region"},
		{"00 44 20 7946 0958", "", "", "E.164"},
		{"011 44 20 7946 0958", "", "", "E.164"},
		{"+15551234567", "XX", "default_region", "ISO 3166-1"},
		{"+15551234567", "USA", "default_region", "ISO 3166-1"},
		{"555 1234", "ZZ", "default_region", "ISO 3166-1"},
		{"1-800-FLOWERS", "US", "", "letters"},
		{"+1 800 FLOWERS", "", "", "letters"},
		{"+1 555 123 4567 x123", "", "", "letters"},
		{"+1 555 123 4567 ext. 12", "", "", "letters"},
		{"+15551234567;ext=12", "", "", "digits"},
		{"tel:+15551234567;phone-context=x", "", "", "digits"},
		{"+1 555 123 4567 #12", "", "", "digits"},
		{"+1/555/1234567", "", "", "digits"},
		{"++15551234567", "", "", "digits"},
		{"1+5551234567", "US", "", "digits"},
		{"+１５５５１２３４５６７", "", "", "digits"}, // full-width digits
		{"+1555123\x004567", "", "", "digits"},
		{"+1555123\n4567", "", "", "digits"},
		{"+", "", "", "no digits"},
		{"tel:", "", "", "no digits"},
		{"()-. ", "", "", "no digits"},
		{"+1 555 123 4567 8901 2345 6789 0123 4567", "", "", "at most 32"},
		{"+1555", "", "", "too short"},
		{"+1", "", "", "too short"},
		{"+1 555 123 45678", "", "", "too long"},
		{"+3906123456789012", "", "", "too long"},
		{"+999 1234567", "", "", "country code"},
		{"+0 1234567", "", "", "country code"},
		{"555 1234", "US", "", "area code"},
	}
	for _, tt := range tests {
		_, err := NormalizeAddress("destination", outdial.Address{Type: "tel", Target: tt.in}, tt.region)
		field := tt.field
		if field == "" {
			field = "destination.target"
		}
		// default_region is a query parameter (README error table).
		code := outdial.ECodeInvalidField
		if field == "default_region" {
			code = outdial.ECodeInvalidQuery
		}
		checkFieldError(t, "tel "+tt.in, err, code, field, tt.message)
	}
}

func TestNormalizeAddressSIP(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		// The seed's example.
		{"sip:user@pbx.company.com", "sip:user@pbx.company.com"},
		{"SIP:user@PBX.Company.COM", "sip:user@pbx.company.com"},
		{"sips:User@pbx.company.com", "sips:User@pbx.company.com"},
		{"SiPs:alice@example.com:5061", "sips:alice@example.com:5061"},
		{" sip:user@pbx.company.com \n", "sip:user@pbx.company.com"},
		{"sip:+15551234567@gw.example.com;user=phone", "sip:+15551234567@gw.example.com;user=phone"},
		{"sip:1000@10.0.0.1", "sip:1000@10.0.0.1"},
		{"sip:1000@10.0.0.1:5060;transport=TCP", "sip:1000@10.0.0.1:5060;transport=TCP"},
		{"sip:alice@[2001:DB8::1]", "sip:alice@[2001:db8::1]"},
		{"sip:alice@[2001:0db8:0:0:0:0:0:1]:5060", "sip:alice@[2001:db8::1]:5060"},
		{"sip:alice@localhost", "sip:alice@localhost"},
		{"sip:a.b-c_d!~*'()@x-1.example.com", "sip:a.b-c_d!~*'()@x-1.example.com"},
		{"sip:a&b=c+d$e,f;g?h/i@example.com", "sip:a&b=c+d$e,f;g?h/i@example.com"},
		{"sip:al%20ice@example.com", "sip:al%20ice@example.com"},
		{"sip:alice@example.com;transport=tcp;lr", "sip:alice@example.com;transport=tcp;lr"},
		{"sip:alice@example.com;maddr=[2001:db8::1]", "sip:alice@example.com;maddr=[2001:db8::1]"},
		{"sip:alice@example.com:65535", "sip:alice@example.com:65535"},
		{"sip:alice@123.example.com", "sip:alice@123.example.com"},
		{"sip:alice@" + strings.Repeat("a", 63) + ".com", "sip:alice@" + strings.Repeat("a", 63) + ".com"},
	}
	for _, tt := range tests {
		got, err := NormalizeAddress("destination", outdial.Address{Type: "SIP", Target: tt.in}, "")
		if err != nil {
			t.Errorf("NormalizeAddress(sip %q): got error %v, want %q", tt.in, err, tt.want)
			continue
		}
		if want := (outdial.Address{Type: "sip", Target: tt.want}); got != want {
			t.Errorf("NormalizeAddress(sip %q): got %+v, want %+v", tt.in, got, want)
		}
	}
}

func TestNormalizeAddressSIPRejected(t *testing.T) {
	tests := []struct {
		in      string
		message string
	}{
		{"user@pbx.company.com", "sip: or sips:"},
		{"tel:+15551234567", "sip: or sips:"},
		{"sipx:user@example.com", "sip: or sips:"},
		{"sip:pbx.company.com", "user part"},
		{"sip:@pbx.company.com", "user part"},
		{"sip:a@b@example.com", "exactly one @"},
		{"sip:alice:secret@example.com", "password"},
		{"sip:al ice@example.com", "spaces"},
		{"sip:alice@example.com\r\nVia: x", "spaces"},
		{"sip:alice@exa\tmple.com", "spaces"},
		{"sip:alice@exa\x00mple.com", "spaces"},
		{"sip:alicé@example.com", "non-ASCII"},
		{"<sip:alice@example.com>", "angle brackets"},
		{"\"Alice\"<sip:alice@example.com>", "display name"},
		{"sip:alice@example.com?subject=hi", "headers"},
		{"sip:alice@example.com;transport=tcp?x=y", "headers"},
		{"sip:al%2@example.com", "user part"},
		{"sip:al%zz@example.com", "user part"},
		{"sip:al#ice@example.com", "user part"},
		{"sip:alice@", "host"},
		{"sip:alice@:5060", "host"},
		{"sip:alice@-example.com", "host"},
		{"sip:alice@example-.com", "host"},
		{"sip:alice@exa_mple.com", "host"},
		{"sip:alice@example..com", "host"},
		{"sip:alice@example.com.", "host"},
		{"sip:alice@" + strings.Repeat("a", 64) + ".com", "host"},
		{"sip:alice@1.2.3", "host"},
		{"sip:alice@1.2.3.256", "host"},
		{"sip:alice@01.2.3.4", "host"},
		{"sip:alice@2001:db8::1", "port"},
		{"sip:alice@[2001:db8::1", "closing ]"},
		{"sip:alice@[1.2.3.4]", "IPv6"},
		{"sip:alice@[fe80::1%25eth0]", "IPv6"},
		{"sip:alice@[::1]x", "after the IPv6"},
		{"sip:alice@[::1]:0", "port"},
		{"sip:alice@example.com:0", "port"},
		{"sip:alice@example.com:65536", "port"},
		{"sip:alice@example.com:05060", "port"},
		{"sip:alice@example.com:", "port"},
		{"sip:alice@example.com:50a", "port"},
		{"sip:alice@example.com;", "parameter"},
		{"sip:alice@example.com;;lr", "parameter"},
		{"sip:alice@example.com;=tcp", "parameter"},
		{"sip:alice@example.com;a=b{c}", "parameter"},
		{"sip:" + strings.Repeat("a", 250) + "@example.com", "at most 256"},
	}
	for _, tt := range tests {
		_, err := NormalizeAddress("destinations[1]", outdial.Address{Type: "sip", Target: tt.in}, "")
		checkFieldError(t, "sip "+tt.in, err, outdial.ECodeInvalidField, "destinations[1].target", tt.message)
	}
}

func TestNormalizeAddressEmail(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"alice@example.com", "alice@example.com"},
		{"Alice.Smith@Example.COM", "alice.smith@example.com"},
		{"  bob@example.org\n", "bob@example.org"},
		{"first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"},
		{"a!#$%&'*+-/=?^_`{|}~z@example.com", "a!#$%&'*+-/=?^_`{|}~z@example.com"},
		{"x@a-b.example", "x@a-b.example"},
		{"x@123.example.com", "x@123.example.com"},
		{"x@example.c0m", "x@example.c0m"},
		{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
	}
	for _, tt := range tests {
		got, err := NormalizeAddress("destination", outdial.Address{Type: " Email ", Target: tt.in}, "")
		if err != nil {
			t.Errorf("NormalizeAddress(email %q): got error %v, want %q", tt.in, err, tt.want)
			continue
		}
		if want := (outdial.Address{Type: "email", Target: tt.want}); got != want {
			t.Errorf("NormalizeAddress(email %q): got %+v, want %+v", tt.in, got, want)
		}
	}
}

func TestNormalizeAddressEmailRejected(t *testing.T) {
	long := strings.Repeat("a", 60)
	tests := []struct {
		in      string
		message string
	}{
		{"alice", "name@example.com"},
		{"alice@example", "with a dot"},
		{"alice@", "with a dot"},
		{"@example.com", "local part"},
		{"a@b@example.com", "exactly one @"},
		{"Alice <alice@example.com>", "display name"},
		{"<alice@example.com>", "angle brackets"},
		{"\"alice smith\"@example.com", "quotes"},
		{"alice smith@example.com", "spaces"},
		{"alice@example.com\r\nBcc: x@example.com", "spaces"},
		{"alice@exa\x00mple.com", "spaces"},
		{"alicé@example.com", "ASCII"},
		{"alice@exämple.com", "ASCII"},
		{".alice@example.com", "dot"},
		{"alice.@example.com", "dot"},
		{"al..ice@example.com", "dot"},
		{"al(ice)@example.com", "not allowed"},
		{"al,ice@example.com", "not allowed"},
		{"alice@[192.0.2.1]", "IP address"},
		{"alice@192.0.2.1", "IP address"},
		{"alice@-example.com", "DNS name"},
		{"alice@example-.com", "DNS name"},
		{"alice@exa_mple.com", "DNS name"},
		{"alice@example..com", "DNS name"},
		{"alice@example.com.", "DNS name"},
		{"alice@.example.com", "DNS name"},
		{"alice@example.com:25", "DNS name"},
		{strings.Repeat("a", 65) + "@example.com", "local part"},
		{"a@" + strings.Repeat(long+".", 5) + "com", "at most 254"},
	}
	for _, tt := range tests {
		_, err := NormalizeAddress("destination", outdial.Address{Type: "email", Target: tt.in}, "")
		checkFieldError(t, "email "+tt.in, err, outdial.ECodeInvalidField, "destination.target", tt.message)
	}
}

func TestNormalizeAddressType(t *testing.T) {
	tests := []struct {
		a       outdial.Address
		code    string
		field   string
		message string
	}{
		{outdial.Address{Type: "", Target: "+15551234567"}, outdial.ECodeMissingField, "destination.type", "tel, sip, email"},
		{outdial.Address{Type: "  ", Target: "+15551234567"}, outdial.ECodeMissingField, "destination.type", "tel, sip, email"},
		{outdial.Address{Type: "phone", Target: "+15551234567"}, outdial.ECodeInvalidField, "destination.type", "tel, sip, email"},
		{outdial.Address{Type: "sms", Target: "+15551234567"}, outdial.ECodeInvalidField, "destination.type", "tel, sip, email"},
		{outdial.Address{Type: "tel", Target: ""}, outdial.ECodeMissingField, "destination.target", "required"},
		{outdial.Address{Type: "sip", Target: " \t "}, outdial.ECodeMissingField, "destination.target", "required"},
		{outdial.Address{Type: "email", Target: "\n"}, outdial.ECodeMissingField, "destination.target", "required"},
	}
	for _, tt := range tests {
		_, err := NormalizeAddress("destination", tt.a, "")
		checkFieldError(t, tt.a.Type+" "+tt.a.Target, err, tt.code, tt.field, tt.message)
	}
}

func TestNormalizeRegion(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"US", "US", true},
		{"gb", "GB", true},
		{"De", "DE", true},
		{"XX", "", false},
		{"ZZ", "", false},
		{"001", "", false},
		{"USA", "", false},
		{"u", "", false},
	}
	for _, tt := range tests {
		got, err := NormalizeRegion("default_region", tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeRegion(%q): got %q, %v, want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		checkFieldError(t, "region "+tt.in, err, outdial.ECodeInvalidQuery, "default_region", "ISO 3166-1")
	}
}

// TestNormalizeAddressIdempotent re-normalises every accepted example.
func TestNormalizeAddressIdempotent(t *testing.T) {
	inputs := []outdial.Address{
		{Type: "tel", Target: "+1 (555) 123-4567"},
		{Type: "tel", Target: "+44 (0) 20 7946 0958"},
		{Type: "tel", Target: "+39 06 1234 5678"},
		{Type: "TEL", Target: "(555) 123-4567"},
		{Type: "sip", Target: "SIPS:Alice@[2001:0DB8::0001]:5061;Transport=TLS"},
		{Type: "email", Target: "First.Last+Tag@Example.COM"},
	}
	for _, a := range inputs {
		once, err := NormalizeAddress("destination", a, "US")
		if err != nil {
			t.Errorf("NormalizeAddress(%+v): %v", a, err)
			continue
		}
		twice, err := NormalizeAddress("destination", once, "US")
		if err != nil || twice != once {
			t.Errorf("NormalizeAddress(%+v): got %+v, %v, want %+v", once, twice, err, once)
		}
	}
}

// TestTargetCreateValidateNormalizes checks that Validate stores the
// normalised form.
func TestTargetCreateValidateNormalizes(t *testing.T) {
	c := outdial.TargetCreate{Destinations: []outdial.DestinationCreate{
		{Type: "TEL", Target: "(555) 123-4567"},
		{Type: "tel", Target: "+1 555 123 4567"},
	}}
	_, err := c.Validate(Normalizer{DefaultRegion: "US"})
	checkFieldError(t, "repeated destination", err, outdial.ECodeInvalidField, "destinations[1]", "repeats")

	c = outdial.TargetCreate{Destination: &outdial.Address{Type: "Email", Target: "Alice@Example.com"}}
	nt, err := c.Validate(Normalizer{})
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got, want := nt.Key(), "email:alice@example.com"; got != want {
		t.Errorf("Key: got %q, want %q", got, want)
	}
}

// checkFieldError fails t unless err is an *outdial.Error with code and
// field whose message starts with the field and contains message.
func checkFieldError(t *testing.T, name string, err error, code, field, message string) {
	t.Helper()
	var e *outdial.Error
	if !errors.As(err, &e) {
		t.Errorf("%s: got error %v, want *outdial.Error %s on %s", name, err, code, field)
		return
	}
	if e.Code != code || e.Field != field {
		t.Errorf("%s: got code %q field %q, want %q %q (message %q)", name, e.Code, e.Field, code, field, e.Message)
	}
	if !strings.HasPrefix(e.Message, field+": ") || !strings.Contains(e.Message, message) {
		t.Errorf("%s: got message %q, want it to start with %q and contain %q", name, e.Message, field+": ", message)
	}
}
