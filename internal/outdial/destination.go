package outdial

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Limits on destination addresses.
const (
	MaxTelInputLen = 32  // characters of a tel target as sent, after trimming and without "tel:"
	MaxSIPLen      = 256 // characters of a SIP URI
	MaxEmailLen    = 254 // characters of an email address (RFC 5321 path limit minus <>)
	MaxEmailLocal  = 64  // characters of the local part of an email address
	maxDNSName     = 253 // characters of a host name without a trailing dot
	maxDNSLabel    = 63  // characters of one label of a host name
)

// NormalizeAddress validates a and returns its normalised form, the form
// stored and compared for dedupe (Address.Key). field names a in errors
// ("destination", "destinations[2]"); the errors are *Error with Field set
// to field+".type" or field+".target" (or "default_region").
//
// The type is trimmed, matched case-insensitively and returned lower-case;
// it must be tel, sip or email. The target is trimmed of surrounding
// whitespace and then checked by its type:
//
// tel: an optional "tel:" prefix (any case) is dropped, then at most
// MaxTelInputLen characters of ASCII digits, spaces, '-', '.', '(' and ')',
// with an optional leading '+'. Letters are rejected, so vanity numbers
// (1-800-FLOWERS) and extensions ("x123", "ext. 4", ";ext=4") are refused.
// A number starting with '+' is international. Any other number is national
// and is accepted only with a defaultRegion (ISO 3166-1 alpha-2, any case),
// whose trunk prefix (the US "1", the UK "0") and international dialing
// prefix ("011" in the US, "00" in most of Europe) libphonenumber applies.
// Without a region "00" is not taken for an international prefix, since it
// is not one everywhere: such numbers must be sent in E.164 (+...). The
// number must be possible (libphonenumber's IsPossibleNumber: a known
// country code and a length the numbering plan allows, not a local-only
// number missing its area code); it need not be valid (assigned), so
// fictional numbers such as +1 555 123 4567 pass. The result is E.164:
// "+15551234567".
//
// sip: a SIP or SIPS URI sip:user@host[:port][;params], at most MaxSIPLen
// characters: no display name, no angle brackets, no password, no headers
// ('?' after the host), no whitespace or control characters. The user part
// is non-empty and made of RFC 3261 user characters (letters, digits,
// -_.!~*'() and &=+$,;?/ and %HH escapes). The host is a DNS name
// (dot-separated labels of 1-63 letters, digits and '-', neither starting
// nor ending with '-', the last label not all digits, no trailing dot; a
// single label such as "localhost" is allowed), an IPv4 address in dotted
// decimal, or an IPv6 address in brackets. The port, if any, is 1-65535
// without leading zeros. Params are ;name or ;name=value of RFC 3261 param
// characters. The scheme and host are lower-cased and an IPv6 address is
// written in its canonical form (RFC 5952); the user part, port and params
// are kept as sent.
//
// email: a bare addr-spec local@domain, at most MaxEmailLen characters,
// ASCII only: no display name, no angle brackets. The local part is a
// dot-atom of at most MaxEmailLocal characters (RFC 5322 atext: letters,
// digits and !#$%&'*+-/=?^_`{|}~, separated by single dots, no leading or
// trailing dot); quoted local parts ("a b"@example.com) are refused. The
// domain is a DNS name as for sip with at least two labels; IP literals
// ([192.0.2.1]) and internationalised (non-ASCII) addresses are refused.
// The whole address is lower-cased, so dedupe treats email addresses
// case-insensitively.
//
// Normalisation is idempotent: a normalised address normalises to itself.
func NormalizeAddress(field string, a Address, defaultRegion string) (Address, error) {
	typ := strings.ToLower(strings.TrimSpace(a.Type))
	target := strings.TrimSpace(a.Target)
	switch typ {
	case "":
		return Address{}, FieldErrorf(ECodeMissingField, field+".type", "is required: one of tel, sip, email")
	case TypeTel, TypeSIP, TypeEmail:
	default:
		return Address{}, FieldErrorf(ECodeInvalidField, field+".type", "must be one of tel, sip, email")
	}
	if target == "" {
		return Address{}, FieldErrorf(ECodeMissingField, field+".target", "is required")
	}

	var (
		out string
		err error
	)
	switch typ {
	case TypeTel:
		out, err = normalizeTel(field+".target", target, defaultRegion)
	case TypeSIP:
		out, err = normalizeSIP(field+".target", target)
	case TypeEmail:
		out, err = normalizeEmail(field+".target", target)
	}
	if err != nil {
		return Address{}, err
	}
	return Address{Type: typ, Target: out}, nil
}

// NormalizeRegion checks that region is empty or an ISO 3166-1 alpha-2
// code libphonenumber knows (any case) and returns it upper-case. field
// names the region in errors, usually "default_region". A region only ever
// comes from the default_region query parameter, so a bad one is
// invalid_query.
func NormalizeRegion(field, region string) (string, error) {
	if region == "" {
		return "", nil
	}
	r := strings.ToUpper(region)
	if len(r) != 2 || !phonenumbers.GetSupportedRegions()[r] {
		return "", FieldErrorf(ECodeInvalidQuery, field, "must be an ISO 3166-1 alpha-2 region code such as US or GB")
	}
	return r, nil
}

// normalizeTel returns the E.164 form of the phone number s (trimmed,
// non-empty). The description of NormalizeAddress lists the rules.
func normalizeTel(field, s, defaultRegion string) (string, error) {
	region, err := NormalizeRegion("default_region", defaultRegion)
	if err != nil {
		return "", err
	}
	out, err := telToE164(field, s, region)
	if err != nil {
		return "", err
	}
	// A result that would not normalise to itself is refused, so that
	// normalising is idempotent whatever libphonenumber's parser does with
	// national prefixes inside international numbers.
	if again, err := telToE164(field, out, region); err != nil || again != out {
		return "", FieldErrorf(ECodeInvalidField, field, "is not a possible phone number")
	}
	return out, nil
}

func telToE164(field, s, region string) (string, error) {
	// Check the characters before libphonenumber sees them: its parser
	// digs numbers out of free text, turns letters into digits and splits
	// off extensions, all of which we refuse.
	if len(s) >= 4 && strings.EqualFold(s[:4], "tel:") {
		s = s[4:]
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '+' && i == 0:
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			return "", FieldErrorf(ECodeInvalidField, field, "must be a phone number of digits only: letters (vanity numbers, extensions) are not accepted")
		default:
			return "", FieldErrorf(ECodeInvalidField, field, "must be a phone number: digits with an optional leading +, spaces and - . ( ) only")
		}
	}
	if digits == 0 {
		return "", FieldErrorf(ECodeInvalidField, field, "must be a phone number: it has no digits")
	}
	if len(s) > MaxTelInputLen {
		return "", FieldErrorf(ECodeInvalidField, field, "must be at most %d characters", MaxTelInputLen)
	}
	if s[0] != '+' && region == "" {
		return "", FieldErrorf(ECodeInvalidField, field, "must be in E.164 format (+ and country code, e.g. +15551234567), or pass default_region for national numbers")
	}

	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		switch err {
		case phonenumbers.ErrInvalidCountryCode:
			return "", FieldErrorf(ECodeInvalidField, field, "has an unknown country code")
		case phonenumbers.ErrNotANumber, phonenumbers.ErrTooShortNSN, phonenumbers.ErrTooShortAfterIDD:
			// The characters were checked above: what is left is too few digits.
			return "", FieldErrorf(ECodeInvalidField, field, "is too short to be a phone number")
		}
		return "", FieldErrorf(ECodeInvalidField, field, "is not a possible phone number")
	}
	if num.GetExtension() != "" {
		return "", FieldErrorf(ECodeInvalidField, field, "must not have an extension")
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "", FieldErrorf(ECodeInvalidField, field, "has an unknown country code")
	case phonenumbers.TOO_SHORT:
		return "", FieldErrorf(ECodeInvalidField, field, "is too short to be a phone number")
	case phonenumbers.TOO_LONG:
		return "", FieldErrorf(ECodeInvalidField, field, "is too long to be a phone number")
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "", FieldErrorf(ECodeInvalidField, field, "is a local number: add the area code")
	default:
		return "", FieldErrorf(ECodeInvalidField, field, "has a length that is not possible for its country")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// normalizeSIP returns the normalised form of the SIP URI s (trimmed,
// non-empty). The description of NormalizeAddress lists the rules.
func normalizeSIP(field, s string) (string, error) {
	if len(s) > MaxSIPLen {
		return "", FieldErrorf(ECodeInvalidField, field, "must be at most %d characters", MaxSIPLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return "", FieldErrorf(ECodeInvalidField, field, "must be a SIP URI without spaces, control or non-ASCII characters")
		}
		if s[i] == '<' || s[i] == '>' || s[i] == '"' {
			return "", FieldErrorf(ECodeInvalidField, field, "must be a bare SIP URI (sip:user@host), without display name or angle brackets")
		}
	}

	// Scheme.
	scheme, rest, ok := strings.Cut(s, ":")
	scheme = strings.ToLower(scheme)
	if !ok || (scheme != "sip" && scheme != "sips") {
		return "", FieldErrorf(ECodeInvalidField, field, "must be a SIP URI starting with sip: or sips:")
	}

	// User part: everything before the one '@' (RFC 3261 allows '@' in
	// neither user, host, params nor headers unescaped).
	user, hostPart, ok := strings.Cut(rest, "@")
	if !ok || user == "" {
		return "", FieldErrorf(ECodeInvalidField, field, "must have a user part: sip:user@host")
	}
	if strings.Contains(hostPart, "@") {
		return "", FieldErrorf(ECodeInvalidField, field, "must have exactly one @")
	}
	if !validEscapes(user, isSIPUserChar) {
		return "", FieldErrorf(ECodeInvalidField, field, "has a user part with characters SIP does not allow (escape them as %%HH); a password (user:password@) is not accepted")
	}

	// Host, port and params; headers are refused.
	if strings.Contains(hostPart, "?") {
		return "", FieldErrorf(ECodeInvalidField, field, "must not have headers (?...)")
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
				return "", FieldErrorf(ECodeInvalidField, field, "has a malformed parameter: use ;name or ;name=value")
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
		return "", FieldErrorf(ECodeInvalidField, field, "must be at most %d characters", MaxSIPLen)
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
			return "", "", FieldErrorf(ECodeInvalidField, field, "has an IPv6 host without closing ]")
		}
		addr, perr := netip.ParseAddr(hp[1:end])
		if perr != nil || !addr.Is6() || addr.Zone() != "" {
			return "", "", FieldErrorf(ECodeInvalidField, field, "has an invalid IPv6 host")
		}
		host = "[" + addr.String() + "]"
		hp = hp[end+1:]
		if hp != "" && hp[0] != ':' {
			return "", "", FieldErrorf(ECodeInvalidField, field, "has characters after the IPv6 host")
		}
		port, hasPort := strings.CutPrefix(hp, ":")
		if hasPort && !validPort(port) {
			return "", "", FieldErrorf(ECodeInvalidField, field, "must have a port between 1 and 65535")
		}
		return host, port, nil
	}

	h, port, hasPort := strings.Cut(hp, ":")
	if hasPort && !validPort(port) {
		return "", "", FieldErrorf(ECodeInvalidField, field, "must have a port between 1 and 65535")
	}
	h = strings.ToLower(h)
	if !validHost(h, 1) {
		return "", "", FieldErrorf(ECodeInvalidField, field, "must have a host that is a DNS name, an IPv4 address or an IPv6 address in []")
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

// isAtext is RFC 5322 atext restricted to ASCII.
func isAtext(c byte) bool {
	return isAlnum(c) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// normalizeEmail returns the normalised form of the email address s
// (trimmed, non-empty). The description of NormalizeAddress lists the
// rules.
func normalizeEmail(field, s string) (string, error) {
	if len(s) > MaxEmailLen {
		return "", FieldErrorf(ECodeInvalidField, field, "must be at most %d characters", MaxEmailLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' {
			return "", FieldErrorf(ECodeInvalidField, field, "must be a bare email address (name@example.com) of ASCII characters, without display name, quotes, angle brackets or spaces")
		}
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok {
		return "", FieldErrorf(ECodeInvalidField, field, "must be an email address: name@example.com")
	}
	if strings.Contains(domain, "@") {
		return "", FieldErrorf(ECodeInvalidField, field, "must have exactly one @")
	}
	if local == "" || len(local) > MaxEmailLocal {
		return "", FieldErrorf(ECodeInvalidField, field, "must have a local part (before @) of 1 to %d characters", MaxEmailLocal)
	}
	for _, atom := range strings.Split(local, ".") {
		if atom == "" {
			return "", FieldErrorf(ECodeInvalidField, field, "must not have a leading, trailing or double dot in the local part")
		}
		for i := 0; i < len(atom); i++ {
			if !isAtext(atom[i]) {
				return "", FieldErrorf(ECodeInvalidField, field, "has a character not allowed in the local part of an email address")
			}
		}
	}
	domain = strings.ToLower(domain)
	if strings.HasPrefix(domain, "[") {
		return "", FieldErrorf(ECodeInvalidField, field, "must have a domain name, not an IP address")
	}
	if !validHost(domain, 2) {
		return "", FieldErrorf(ECodeInvalidField, field, "must have a domain that is a DNS name with a dot, such as example.com")
	}
	if allDigits(domain[strings.LastIndexByte(domain, '.')+1:]) {
		return "", FieldErrorf(ECodeInvalidField, field, "must have a domain name, not an IP address")
	}
	return strings.ToLower(local) + "@" + domain, nil
}
