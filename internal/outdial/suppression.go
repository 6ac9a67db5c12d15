package outdial

import (
	"context"
	"strings"
)

// Suppression list limits (docs/api.md "Suppression list").
const (
	MaxSuppressionsPerRequest = 10000
)

// Suppression is one entry of a customer's suppression (do-not-call)
// list: a normalised address in its written form (WrittenAddress, such as
// "tel:+15551234567", "sip:alice@example.com" or "email:a@example.com").
type Suppression struct {
	Address  string `json:"address"`
	TMCreate Time   `json:"tm_create"`
}

// SuppressionStore is the part of the store that keeps each customer's
// suppression list. Addresses are Address.Key() of normalised addresses.
type SuppressionStore interface {
	// AddSuppressions adds keys; it returns how many were new and how
	// many were on the list already.
	AddSuppressions(ctx context.Context, customerID string, keys []string) (added, existing int, err error)
	// DeleteSuppressions removes keys and returns how many were listed.
	DeleteSuppressions(ctx context.Context, customerID string, keys []string) (int, error)
	// Suppressed returns the keys of keys that are on the list.
	Suppressed(ctx context.Context, customerID string, keys []string) (map[string]bool, error)
	// ListSuppressions pages through the list.
	ListSuppressions(ctx context.Context, customerID string, p Page) ([]Suppression, string, error)
}

// The written form of an address is how the suppression routes take and
// give addresses: one string "<type>:<target>".
//
//   - tel:+15551234567 (tel:<phone number>), email:a@example.com
//     (email:<address>): the type, a colon and the target, which is
//     Address.Key().
//   - sip:alice@example.com, sips:alice@example.com: a SIP address is
//     written as its URI, whose scheme already says it is SIP. Its key
//     (Address.Key()) is "sip:" followed by the URI, and that form
//     (sip:sip:alice@example.com) is read as well.
//
// The type prefix is matched case-insensitively; a string without one of
// these prefixes is not an address.

// ParseWrittenAddress splits the written address s into the Address it
// names, not yet normalised (surrounding whitespace is trimmed). An s
// without a known type prefix is an *Error with ECodeInvalidField on
// field; the message never repeats s.
func ParseWrittenAddress(field, s string) (Address, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Address{}, FieldErrorf(ECodeInvalidField, field, "is empty: write an address as tel:+15551234567, sip:user@host or email:user@example.com")
	}
	prefix, rest, ok := strings.Cut(s, ":")
	if ok {
		switch strings.ToLower(prefix) {
		case TypeTel:
			return Address{Type: TypeTel, Target: rest}, nil
		case TypeEmail:
			return Address{Type: TypeEmail, Target: rest}, nil
		case TypeSIP:
			if isSIPURI(rest) {
				return Address{Type: TypeSIP, Target: rest}, nil // the key form sip:sip:...
			}
			return Address{Type: TypeSIP, Target: s}, nil
		case "sips":
			return Address{Type: TypeSIP, Target: s}, nil
		}
	}
	return Address{}, FieldErrorf(ECodeInvalidField, field, "must start with its type: tel:, sip: or email: (for example tel:+15551234567)")
}

// isSIPURI reports whether s starts with the scheme sip: or sips: (any
// case).
func isSIPURI(s string) bool {
	scheme, _, ok := strings.Cut(s, ":")
	if !ok {
		return false
	}
	scheme = strings.ToLower(scheme)
	return scheme == "sip" || scheme == "sips"
}

// WrittenAddress returns the written form of the normalised address a:
// Address.Key(), or for SIP the URI (the target) itself.
func WrittenAddress(a Address) string {
	if a.Type == TypeSIP && isSIPURI(a.Target) {
		return a.Target
	}
	return a.Key()
}

// WrittenKey returns the written form of the address whose key
// (Address.Key() of a normalised address) is key.
func WrittenKey(key string) string {
	if rest, ok := strings.CutPrefix(key, TypeSIP+":"); ok && isSIPURI(rest) {
		return rest
	}
	return key
}
