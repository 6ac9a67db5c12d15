package destination

import (
	"strings"

	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/phonenumbers"
)

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
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "is not a possible phone number")
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
			return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be a phone number of digits only: letters (vanity numbers, extensions) are not accepted")
		default:
			return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be a phone number: digits with an optional leading +, spaces and - . ( ) only")
		}
	}
	if digits == 0 {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be a phone number: it has no digits")
	}
	if len(s) > MaxTelInputLen {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be at most %d characters", MaxTelInputLen)
	}
	if s[0] != '+' && region == "" {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be in E.164 format (+ and country code, e.g. +15551234567), or pass default_region for national numbers")
	}

	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		switch err {
		case phonenumbers.ErrInvalidCountryCode:
			return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "has an unknown country code")
		case phonenumbers.ErrNotANumber, phonenumbers.ErrTooShortNSN, phonenumbers.ErrTooShortAfterIDD:
			// The characters were checked above: what is left is too few digits.
			return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "is too short to be a phone number")
		}
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "is not a possible phone number")
	}
	if num.GetExtension() != "" {
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must not have an extension")
	}
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.IS_POSSIBLE:
	case phonenumbers.INVALID_COUNTRY_CODE:
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "has an unknown country code")
	case phonenumbers.TOO_SHORT:
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "is too short to be a phone number")
	case phonenumbers.TOO_LONG:
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "is too long to be a phone number")
	case phonenumbers.IS_POSSIBLE_LOCAL_ONLY:
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "is a local number: add the area code")
	default:
		return "", outdial.FieldErrorf(outdial.ECodeInvalidField, field, "has a length that is not possible for its country")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}
