package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// maxJSONDepth bounds the nesting of a token's JSON; ours has depth 1.
const maxJSONDepth = 16

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
		if first, ok := fields[name]; ok {
			if _, isNumber := first.(json.Number); !isNumber {
				return fmt.Errorf("token: %s is not a JSON number", name)
			}
		}
	}
	return nil
}

// topLevel checks that data is one JSON object with no key twice in it or
// in any object nested in it, and returns the first token of the value of
// each of its keys (json.Number for a number, json.Delim for an object or
// array).
func topLevel(data []byte) (map[string]json.Token, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	fields := map[string]json.Token{}
	if err := walkObject(dec, fields, 1); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	return fields, nil
}

// walkObject reads the members of an object whose '{' has been read, up
// to and including its '}', and records the first token of each value in
// fields when fields is not nil.
func walkObject(dec *json.Decoder, fields map[string]json.Token, depth int) error {
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return errors.New("not valid JSON")
		}
		key, _ := tok.(string)
		if seen[key] {
			// The key itself is not quoted: it is the sender's text.
			return errors.New("a key appears twice")
		}
		seen[key] = true
		first, err := walkValue(dec, depth)
		if err != nil {
			return err
		}
		if fields != nil {
			fields[key] = first
		}
	}
	if _, err := dec.Token(); err != nil {
		return errors.New("not valid JSON")
	}
	return nil
}

// walkValue reads one value and returns its first token.
func walkValue(dec *json.Decoder, depth int) (json.Token, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, errors.New("not valid JSON")
	}
	switch tok {
	case json.Delim('{'), json.Delim('['):
		if depth >= maxJSONDepth {
			return nil, errors.New("JSON nested too deep")
		}
	}
	switch tok {
	case json.Delim('{'):
		return tok, walkObject(dec, nil, depth+1)
	case json.Delim('['):
		for dec.More() {
			if _, err := walkValue(dec, depth+1); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, errors.New("not valid JSON")
		}
	}
	return tok, nil
}
