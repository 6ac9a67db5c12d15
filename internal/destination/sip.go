package destination

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/outdial/outdial/internal/outdial"
)

// normalizeSIP returns the normalised form of the SIP URI s (trimmed,
// non-empty). The description of NormalizeAddress lists the rules.
func normalizeSIP(field, s string) (string, error) {
	if len(s) > MaxSIPLen {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be at most %d characters", MaxSIPLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be a SIP URI without spaces, control or non-ASCII characters")
		}
		if s[i] == '<' || s[i] == '>' || s[i] == '"' {
			return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be a bare SIP URI (sip:user@host), without display name or angle brackets")
		}
	}

	// Scheme.
	scheme, rest, ok := strings.Cut(s, ":")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "sip" && scheme != "sips") {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be a SIP URI starting with sip: or sips:")
	}

	// User part: everything before the one '@' (RFC 3261 allows '@' in
	// neither user, host, params nor headers unescaped).
	user, hostPart, ok := strings.Cut(rest, "@")
	if !ok || user == "" {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must have a user part: sip:user@host")
	}
	if strings.Contains(hostPart, "@") {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must have exactly one @")
	}
	if !validEscapes(user, isSIPUserChar) {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "has a user part with characters SIP does not allow (escape them as %%HH); a password (user:password@) is not accepted")
	}

	// Host, port and params; headers are refused.
	if strings.Contains(hostPart, "?") {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must not have headers (?...)")
	}
	hostPort, params, hasParams := strings.Cut(hostPart, ";")
	host, port, err := splitHostPort(field, hostPort)
	if err != nil {
		return "", err
	}
	if hasParams {
		for _, p := range strings.Split(params, ";") {
			name, value, _ := strings.Cut(p, "=")
			if name == "" || !validEscapes(name, isSIPParamChar) || !validEscapes(value, isSIPParamChar) {
				return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "has a malformed parameter: use ;name or ;name=value")
			}
		}
	}

	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(scheme)
	b.WriteByte(':')
	b.WriteString(user)
	b.WriteByte('@')
	b.WriteString(host)
	if port != "" {
		b.WriteByte(':')
		b.WriteString(port)
	}
	if hasParams {
		b.WriteByte(';')
		b.WriteString(params)
	}
	if b.Len() > MaxSIPLen {
		// Only a rewritten IPv6 host could get here.
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be at most %d characters", MaxSIPLen)
	}
	return b.String(), nil
}

// splitHostPort checks host[:port] of a SIP URI and returns the normalised
// host and the port ("" if absent).
func splitHostPort(field, hp string) (host, port string, err error) {
	if strings.HasPrefix(hp, "[") {
		// IPv6 reference.
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "has an IPv6 host without closing ]")
		}
		addr, perr := netip.ParseAddr(hp[1:end])
		if perr != nil || !addr.Is6() || addr.Zone() != "" {
			return "", "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "has an invalid IPv6 host")
		}
		host = "[" + addr.String() + "]"
		hp = hp[end+1:]
		if hp != "" && hp[0] != ':' {
			return "", "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "has characters after the IPv6 host")
		}
		port, hasPort := strings.CutPrefix(hp, ":")
		if hasPort && !validPort(port) {
			return "", "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must have a port between 1 and 65535")
		}
		return host, port, nil
	}

	h, port, hasPort := strings.Cut(hp, ":")
	if hasPort && !validPort(port) {
		return "", "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must have a port between 1 and 65535")
	}
	h = strings.ToLower(h)
	if !validHost(h, 1) {
		return "", "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must have a host that is a DNS name, an IPv4 address or an IPv6 address in []")
	}
	return h, port, nil
}

// validPort reports whether p is a decimal port 1-65535 without leading
// zeros.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}

// validHost reports whether h (lower-case) is a DNS name of at least
// minLabels labels or, if its last label is all digits, an IPv4 address in
// dotted decimal.
func validHost(h string, minLabels int) bool {
	if h == "" || len(h) > maxDNSName {
		return false
	}
	labels := strings.Split(h, ".")
	if allDigits(labels[len(labels)-1]) {
		addr, err := netip.ParseAddr(h)
		return err == nil && addr.Is4()
	}
	if len(labels) < minLabels {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > maxDNSLabel || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validEscapes reports whether s consists of characters ok allows and
// %HH escapes.
func validEscapes(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
			continue
		}
		if !ok(c) {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// isSIPUnreserved is RFC 3261 unreserved: alphanum / mark.
func isSIPUnreserved(c byte) bool {
	return isAlnum(c) || strings.IndexByte("-_.!~*'()", c) >= 0
}

// isSIPUserChar is RFC 3261 unreserved / user-unreserved.
func isSIPUserChar(c byte) bool {
	return isSIPUnreserved(c) || strings.IndexByte("&=+$,;?/", c) >= 0
}

// isSIPParamChar is RFC 3261 paramchar without escaped: param-unreserved /
// unreserved.
func isSIPParamChar(c byte) bool {
	return isSIPUnreserved(c) || strings.IndexByte("[]/:&+$", c) >= 0
}
