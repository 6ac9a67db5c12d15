package webhook_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/webhook"
)

func TestValidateURI(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("a", webhook.MaxURILength)
	cases := []struct {
		uri         string
		prod, local bool   // accepted in production, with allowLocal
		want        string // the canonical form, when accepted ("" = as given)
	}{
		{uri: "https://example.com/hook", prod: true, local: true},
		{uri: "https://example.com:8443/hook?token=abc", prod: true, local: true},
		{uri: "HTTPS://Example.COM/Hook", prod: true, local: true, want: "https://example.com/Hook"},
		{uri: "https://93.184.216.34/hook", prod: true, local: true},
		{uri: "https://[2606:2800:220:1:248:1893:25c8:1946]/hook", prod: true, local: true},
		{uri: "https://hooks.example.com./x", prod: true, local: true},
		{uri: "http://example.com/hook"},
		{uri: "ftp://example.com/hook"},
		{uri: "example.com/hook"},
		{uri: "/hook"},
		{uri: ""},
		{uri: "https://"},
		{uri: "https:///hook"},
		{uri: "https://user:pass@example.com/hook"},
		{uri: "https://user@example.com/hook"},
		{uri: "https://example.com/hook#frag"},
		{uri: "https://example.com:0/hook"},
		{uri: "https://example.com:99999/hook"},
		{uri: "https://example.com:/hook"},
		{uri: "https://exa mple.com/hook"},
		{uri: "https://exämple.com/hook"},
		{uri: "https://-bad-.com/hook"},
		{uri: long},
		// Private, loopback, link-local, metadata and other non-public literals.
		{uri: "https://10.0.0.1/hook"},
		{uri: "https://172.16.5.4/hook"},
		{uri: "https://192.168.1.1/hook"},
		{uri: "https://127.0.0.1/hook", local: true},
		{uri: "https://127.0.0.2/hook"},
		{uri: "https://[::1]/hook", local: true},
		{uri: "https://169.254.169.254/latest/meta-data/"},
		{uri: "https://[fd00:ec2::254]/latest/meta-data/"},
		{uri: "https://[fd12:3456::1]/hook"},
		{uri: "https://[fe80::1]/hook"},
		{uri: "https://[fe80::1%25eth0]/hook"},
		{uri: "https://100.64.0.1/hook"},
		{uri: "https://100.100.100.200/hook"},
		{uri: "https://0.0.0.0/hook"},
		{uri: "https://[::]/hook"},
		{uri: "https://224.0.0.1/hook"},
		{uri: "https://255.255.255.255/hook"},
		{uri: "https://[::ffff:10.0.0.1]/hook"},
		{uri: "https://[::ffff:169.254.169.254]/hook"},
		{uri: "https://[64:ff9b::a9fe:a9fe]/hook"},
		{uri: "https://[2002:a00:1::]/hook"},
		{uri: "https://localhost/hook"},
		{uri: "https://LOCALHOST:8080/hook"},
		{uri: "https://localhost./hook"},
		{uri: "https://api.localhost/hook"},
		{uri: "https://127.1/hook"},
		{uri: "https://2130706433/hook"},
		{uri: "https://0x7f.0.0.1/hook"},
		// Local receivers: only with allowLocal, only 127.0.0.1 and ::1.
		{uri: "http://127.0.0.1:8080/x", local: true},
		{uri: "http://127.0.0.1:8765/", local: true},
		{uri: "https://127.0.0.1:8765/", local: true},
		{uri: "http://[::1]:8765/x", local: true},
		{uri: "http://127.0.0.2:8080/x"},
		{uri: "http://localhost:8080/x"},
		{uri: "http://10.0.0.1:8080/x"},
		{uri: "http://192.168.1.1:8080/x"},
		{uri: "http://169.254.169.254/latest/meta-data/"},
		{uri: "http://user@127.0.0.1:8080/x"},
	}
	for _, tc := range cases {
		for _, allowLocal := range []bool{false, true} {
			want := tc.prod
			if allowLocal {
				want = tc.local
			}
			got, err := webhook.ValidateURI("uri", tc.uri, allowLocal)
			if want != (err == nil) {
				t.Errorf("ValidateURI(%.60q, allowLocal=%v): err %v, want accepted=%v", tc.uri, allowLocal, err, want)
				continue
			}
			if err != nil {
				code := outdial.ECodeInvalidField
				if tc.uri == "" {
					code = outdial.ECodeMissingField
				}
				var e *outdial.Error
				if !errors.As(err, &e) || e.Code != code || e.Field != "uri" || !strings.HasPrefix(e.Message, "uri: ") {
					t.Errorf("ValidateURI(%.60q): error %#v, want %s about field uri", tc.uri, err, code)
					continue
				}
				if len(tc.uri) > 8 && strings.Contains(e.Message, tc.uri) {
					t.Errorf("ValidateURI(%.60q): error %q quotes the URI", tc.uri, e.Message)
				}
				continue
			}
			w := tc.want
			if w == "" {
				w = tc.uri
			}
			if got != w {
				t.Errorf("ValidateURI(%q) = %q, want %q", tc.uri, got, w)
			}
		}
	}
}

func TestIPAllowed(t *testing.T) {
	cases := []struct {
		ip          string
		prod, local bool
	}{
		{"93.184.216.34", true, true},
		{"8.8.8.8", true, true},
		{"2606:4700:4700::1111", true, true},
		{"::ffff:93.184.216.34", true, true},
		{"64:ff9b::808:808", true, true}, // NAT64 of 8.8.8.8
		{"127.0.0.1", false, true},
		{"::1", false, true},
		{"::ffff:127.0.0.1", false, true},
		{"127.0.0.2", false, false},
		{"10.0.0.1", false, false},
		{"172.31.255.255", false, false},
		{"192.168.1.1", false, false},
		{"169.254.169.254", false, false},
		{"169.254.1.1", false, false},
		{"fd00:ec2::254", false, false},
		{"fc00::1", false, false},
		{"fe80::1", false, false},
		{"fec0::1", false, false},
		{"100.64.0.1", false, false},
		{"100.127.255.255", false, false},
		{"0.0.0.0", false, false},
		{"::", false, false},
		{"224.0.0.1", false, false},
		{"ff02::1", false, false},
		{"255.255.255.255", false, false},
		{"240.0.0.1", false, false},
		{"198.18.0.1", false, false},
		{"192.0.0.170", false, false},
		{"::ffff:10.1.2.3", false, false},
		{"::a00:1", false, false}, // IPv4-compatible 10.0.0.1
		{"64:ff9b::a9fe:a9fe", false, false},
		{"64:ff9b:1::1", false, false},
		{"2002:c0a8:101::1", false, false}, // 6to4 of 192.168.1.1
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false, false},
		{"2001:db8::1", false, false},
	}
	for _, tc := range cases {
		ip := net.ParseIP(tc.ip)
		if ip == nil {
			t.Fatalf("bad test IP %q", tc.ip)
		}
		if got := webhook.IPAllowed(ip, false); got != tc.prod {
			t.Errorf("IPAllowed(%s, false) = %v, want %v", tc.ip, got, tc.prod)
		}
		if got := webhook.IPAllowed(ip, true); got != tc.local {
			t.Errorf("IPAllowed(%s, true) = %v, want %v", tc.ip, got, tc.local)
		}
	}
	if webhook.IPAllowed(nil, true) || webhook.IPAllowed(net.IP{1, 2, 3}, true) {
		t.Error("IPAllowed accepted an invalid IP")
	}
}
