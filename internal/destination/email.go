package destination

import (
	"strings"

	"github.com/outdial/outdial/internal/outdial"
)

// isAtext is RFC 5322 atext restricted to ASCII.
func isAtext(c byte) bool {
	return isAlnum(c) || strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// normalizeEmail returns the normalised form of the email address s
// (trimmed, non-empty). The description of NormalizeAddress lists the
// rules.
func normalizeEmail(field, s string) (string, error) {
	if len(s) > MaxEmailLen {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be at most %d characters", MaxEmailLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' {
			return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be a bare email address (name@example.com) of ASCII characters, without display name, quotes, angle brackets or spaces")
		}
	}
	local, domain, ok := strings.Cut(s, "@")
	if !ok {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be an email address: name@example.com")
	}
	if strings.Contains(domain, "@") {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must have exactly one @")
	}
	if local == "" || len(local) > MaxEmailLocal {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must have a local part (before @) of 1 to %d characters", MaxEmailLocal)
	}
	for _, atom := range strings.Split(local, ".") {
		if atom == "" {
			return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must not have a leading, trailing or double dot in the local part")
		}
		for i := 0; i < len(atom); i++ {
			if !isAtext(atom[i]) {
				return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "has a character not allowed in the local part of an email address")
			}
		}
	}
	domain = strings.ToLower(domain)
	if strings.HasPrefix(domain, "[") {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must have a domain name, not an IP address")
	}
	if !validHost(domain, 2) {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must have a domain that is a DNS name with a dot, such as example.com")
	}
	if allDigits(domain[strings.LastIndexByte(domain, '.')+1:]) {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must have a domain name, not an IP address")
	}
	return strings.ToLower(local) + "@" + domain, nil
}
