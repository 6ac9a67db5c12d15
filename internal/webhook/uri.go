package webhook

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/outdial/outdial/internal/outdial"
)

// MaxURILength bounds a webhook URI.
const MaxURILength = 2048

// ValidateURI checks a webhook URI given at PUT time and returns it in
// canonical form (scheme and host lower-cased).
//
// In production it must be an absolute https URI with a host, no user
// information and no fragment, at most MaxURILength bytes. A host that is
// a literal IP address must be one IPAllowed accepts (no private,
// loopback, link-local, unspecified, multicast, CGNAT or metadata
// address); "localhost" and names under .localhost are refused, and so
// are hosts whose last label is numeric (such as 127.1 or 0x7f.1, which
// some resolvers read as IPv4 addresses). A host name is checked again,
// on the addresses it resolves to, each time a delivery connects
// (NewClient).
//
// allowLocal (make run) additionally accepts the loopback literals
// 127.0.0.1 and [::1], over http or https, for local receivers; nothing
// else private.
//
// Errors are *outdial.Error about field: ECodeMissingField when raw is
// empty, ECodeInvalidField otherwise. They never quote raw.
func ValidateURI(field, raw string, allowLocal bool) (string, error) {
	if raw == "" {
		return "", outdial.FieldErrorf(outdial.ECodeMissingField, field, "is required")
	}
	if len(raw) > MaxURILength {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be at most %d bytes", MaxURILength)
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x7f {
			return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must not contain spaces, control or non-ASCII characters (percent-encode them)")
		}
	}
	bad := func(format string, args ...any) (string, error) {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, format, args...)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return bad("must be an absolute URI such as https://example.com/webhook")
	}
	if u.User != nil {
		return bad("must not carry a user name or password")
	}
	if u.Fragment != "" || u.RawFragment != "" || strings.Contains(raw, "#") {
		return bad("must not have a fragment (#...)")
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return bad("must have a host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("has an invalid port")
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("has an invalid port")
	}
	scheme := strings.ToLower(u.Scheme)
	ip, isIP := literalIP(u.Host, host)
	local := allowLocal && isIP && isLocalReceiver(ip)
	switch {
	case scheme == "https":
	case scheme == "http" && local:
	case allowLocal:
		return bad("must use https (or http to 127.0.0.1 or [::1] when running locally)")
	default:
		return bad("must use https")
	}
	if isIP {
		if ip.Zone() != "" {
			return bad("must not have an IPv6 zone")
		}
		if !local && !addrAllowed(ip, false) {
			return bad("must not point at a private, loopback, link-local, multicast or metadata address")
		}
	} else {
		if msg := checkHostName(host); msg != "" {
			return bad("%s", msg)
		}
	}
	port := u.Port()
	u.Scheme = scheme
	if isIP && ip.Is6() {
		u.Host = "[" + ip.String() + "]"
	} else {
		u.Host = host
	}
	if port != "" {
		u.Host += ":" + port
	}
	return u.String(), nil
}

// literalIP reports whether the URI's host is an IP literal: dotted IPv4,
// or IPv6 in brackets.
func literalIP(rawHost, host string) (netip.Addr, bool) {
	if strings.HasPrefix(rawHost, "[") {
		h := host
		if i := strings.IndexByte(h, '%'); i >= 0 {
			// url.Parse has decoded %25 into %: keep the zone so that it is refused.
			a, err := netip.ParseAddr(h[:i])
			if err != nil {
				return netip.Addr{}, true // an invalid literal: refused below as not allowed
			}
			return a.WithZone(h[i+1:]), true
		}
		a, err := netip.ParseAddr(h)
		if err != nil {
			return netip.Addr{}, true
		}
		return a, true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a, true
}

// checkHostName checks a DNS host name (lower-cased) and says what is
// wrong with it, or "".
func checkHostName(host string) string {
	name := strings.TrimSuffix(host, ".")
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		return "must not point at localhost"
	}
	if len(name) > 253 {
		return "has a host name longer than 253 characters"
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return "has an invalid host name"
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "has an invalid host name (write internationalised names in punycode, xn--...)"
			}
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "has an invalid host name"
		}
	}
	last := labels[len(labels)-1]
	if numericLabel(last) {
		return "has a host that is neither a dotted IPv4 address nor a host name"
	}
	return ""
}

// numericLabel reports whether l is all decimal digits or a 0x hex
// number, as the last label of an IPv4 address in one of inet_aton's
// shorter forms (127.1, 2130706433, 0x7f.0.0.1) is.
func numericLabel(l string) bool {
	if rest, ok := strings.CutPrefix(l, "0x"); ok {
		l = rest
		if l == "" {
			return true
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

// isLocalReceiver reports whether a is 127.0.0.1 or ::1, the addresses a
// local receiver listens on under make run.
func isLocalReceiver(a netip.Addr) bool {
	a = a.Unmap()
	return a == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || a == netip.IPv6Loopback()
}

// IPAllowed reports whether a delivery may connect to ip. It refuses
// private (RFC 1918, IPv6 ULA fc00::/7), loopback, link-local, unspecified,
// multicast and broadcast addresses, CGNAT 100.64.0.0/10, the cloud
// metadata addresses (169.254.169.254, fd00:ec2::254), and the other
// special-purpose ranges that never reach a customer's server (0.0.0.0/8,
// 192.0.0.0/24, the documentation and benchmarking ranges, 240.0.0.0/4,
// IPv6 discard and documentation prefixes, site-local fec0::/10). IPv4
// addresses written as IPv6 (IPv4-mapped, IPv4-compatible, NAT64
// 64:ff9b::/96 and 6to4 2002::/16) are judged by the IPv4 address they
// carry; local-use NAT64 64:ff9b:1::/48 and Teredo 2001::/32 are
// refused. allowLocal additionally allows 127.0.0.1 and ::1.
func IPAllowed(ip net.IP, allowLocal bool) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	return addrAllowed(a, allowLocal)
}

// addrAllowed is IPAllowed on a netip.Addr (its zone is ignored).
func addrAllowed(a netip.Addr, allowLocal bool) bool {
	if !a.IsValid() {
		return false
	}
	a = a.WithZone("").Unmap()
	if allowLocal && isLocalReceiver(a) {
		return true
	}
	if a.Is6() {
		if v4, ok := embeddedIPv4(a); ok {
			return addrAllowed(v4, false)
		}
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() || a.IsMulticast() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range refused {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// embeddedIPv4 returns the IPv4 address an IPv6 address carries by one of
// the translation or transition schemes, if it does.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case ipv4Compatible.Contains(a) && a != netip.IPv6Unspecified() && a != netip.IPv6Loopback():
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case nat64.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

var (
	ipv4Compatible = netip.MustParsePrefix("::/96")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour      = netip.MustParsePrefix("2002::/16")
)

// refused are the special-purpose ranges netip's predicates do not cover.
var refused = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",          // "this network"
		"100.64.0.0/10",      // CGNAT (Alibaba's metadata service, 100.100.100.200, too)
		"169.254.0.0/16",     // link-local, the metadata service 169.254.169.254 (also IsLinkLocalUnicast)
		"192.0.0.0/24",       // IETF protocol assignments
		"192.0.2.0/24",       // TEST-NET-1
		"198.18.0.0/15",      // benchmarking
		"198.51.100.0/24",    // TEST-NET-2
		"203.0.113.0/24",     // TEST-NET-3
		"240.0.0.0/4",        // reserved, and the broadcast address
		"fd00:ec2::254/128",  // AWS metadata over IPv6 (also in fc00::/7)
		"fc00::/7",           // unique local
		"fec0::/10",          // site-local (deprecated)
		"100::/64",           // discard
		"2001:db8::/32",      // documentation
		"2001::/32",          // Teredo: the IPv4 address inside is obfuscated, refuse the lot
		"2001:10::/28",       // ORCHID
		"ff00::/8",           // multicast (also IsMulticast)
		"::ffff:0:0:0/96",    // IPv4-translated (SIIT)
		"64:ff9b:1::/48",     // local-use NAT64
		"::/128",             // unspecified
		"::1/128",            // loopback
		"fe80::/10",          // link-local
		"169.254.169.254/32", // metadata, named for the reader
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()
