// Package destination validates and normalises the addresses targets are
// dialed at: phone numbers (tel, with libphonenumber), SIP URIs and email
// addresses. NormalizeAddress lists the rules.
//
// It is a package of its own because libphonenumber is heavy: its metadata
// and regular expressions add megabytes to a binary and work to every cold
// start. Only the functions that take destinations in (add-targets, with
// its CSV import) link it; the domain package, internal/outdial, asks for
// an outdial.AddressNormalizer instead.
package destination

import (
	"strings"

	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/phonenumbers"
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

// Normalizer is the outdial.AddressNormalizer of one request:
// NormalizeAddress with the request's default region.
type Normalizer struct {
	// DefaultRegion is the region (ISO 3166-1 alpha-2, may be empty) of
	// phone numbers written without a country code.
	DefaultRegion string
}

var _ outdial.AddressNormalizer = Normalizer{}

// NormalizeAddress implements outdial.AddressNormalizer.
func (n Normalizer) NormalizeAddress(field string, a outdial.Address) (outdial.Address, error) {
	return NormalizeAddress(field, a, n.DefaultRegion)
}

// NormalizeAddress validates a and returns its normalised form, the form
// stored and compared for dedupe (outdial.Address.Key). field names a in
// errors ("destination", "destinations[2]"); the errors are *outdial.Error
// with Field set to field+".type" or field+".target" (or "default_region").
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
func NormalizeAddress(field string, a outdial.Address, defaultRegion string) (outdial.Address, error) {
	typ := strings.ToLower(strings.TrimSpace(a.Type))
	target := strings.TrimSpace(a.Target)
	switch typ {
	case "":
		return outdial.Address{}, outdial.FieldErrorf(outdial.ECodeMissingField, field+".type", "is required: one of tel, sip, email")
	case outdial.TypeTel, outdial.TypeSIP, outdial.TypeEmail:
	default:
		return outdial.Address{}, outdial.FieldErrorf(outdial.ECodeInvalidField, field+".type", "must be one of tel, sip, email")
	}
	if target == "" {
		return outdial.Address{}, outdial.FieldErrorf(outdial.ECodeMissingField, field+".target", "is required")
	}

	var (
		out string
		err error
	)
	switch typ {
	case outdial.TypeTel:
		out, err = normalizeTel(field+".target", target, defaultRegion)
	case outdial.TypeSIP:
		out, err = normalizeSIP(field+".target", target)
	case outdial.TypeEmail:
		out, err = normalizeEmail(field+".target", target)
	}
	if err != nil {
		return outdial.Address{}, err
	}
	return outdial.Address{Type: typ, Target: out}, nil
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
		return "", outdial.FieldErrorf(outdial.ECodeInvalidQuery, field, "must be an ISO 3166-1 alpha-2 region code such as US or GB")
	}
	return r, nil
}
