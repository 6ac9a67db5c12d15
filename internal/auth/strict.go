package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/outdial/outdial/internal/jsonkeys"
)

// numericClaims are the registered claims that must be JSON numbers
// (RFC 7519 NumericDate), never strings that look like one.
var numericClaims = []string{"exp", "iat", "nbf"}

// checkStrict refuses a token whose JOSE header or claims the JWT library
// would read leniently: a key given twice (encoding/json keeps the last),
// a crit header (RFC 7515 4.1.11: we understand no extension, so any crit
// must be refused), and exp, iat or nbf that are not JSON numbers. The
// errors never quote the token.
func checkStrict(token string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("token: want three dot-separated parts")
	}

	// The JOSE header.
	header, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return errors.New("token: header is not base64url")
	}
	fields, err := topLevel(header)
	if err != nil {
		return fmt.Errorf("token: header: %w", err)
	}
	if _, ok := fields["crit"]; ok {
		return errors.New("token: header has crit; no extension is understood")
	}

	// The claims.
	claims, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return errors.New("token: claims are not base64url")
	}
	if fields, err = topLevel(claims); err != nil {
		return fmt.Errorf("token: claims: %w", err)
	}
	for _, name := range numericClaims {
		if raw, ok := fields[name]; ok {
			if !isNumber(raw) {
				return fmt.Errorf("token: %s is not a JSON number", name)
			}
		}
	}
	return nil
}

// topLevel checks that data is one JSON object with no key twice in it or
// in any object nested in it, and returns its members.
func topLevel(data []byte) (map[string]json.RawMessage, error) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&fields); err != nil || fields == nil {
		return nil, errors.New("not a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	if _, dup := jsonkeys.Duplicate(data); dup {
		// The key itself is not quoted: it is the sender's text.
		return nil, errors.New("a key appears twice")
	}
	return fields, nil
}

// isNumber reports whether raw is a JSON number (not a string, null or
// anything else that looks like one).
func isNumber(raw json.RawMessage) bool {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return false
	}
	_, ok := v.(json.Number)
	return ok
}
