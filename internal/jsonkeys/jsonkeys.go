// Package jsonkeys finds a key given twice in one object of a JSON text,
// which encoding/json accepts silently (the last value wins). It has no
// dependency beyond the standard library, so that the authorizer can use
// it without linking the service's domain (internal/strictjson wraps it in
// the service's errors for bodies and messages).
package jsonkeys

import (
	"bytes"
	"encoding/json"
)

// Duplicate returns the first key that appears twice in one object of
// data, at any depth. Call it on well-formed JSON: on malformed input it
// reports what it saw before the error.
func Duplicate(data []byte) (key string, found bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a number too large for float64 must not end the scan
	type frame struct {
		object bool
		keys   map[string]bool
		expect bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.object {
					top.expect = true // the object or array is a value
				}
				stack = append(stack, &frame{object: v == '{', keys: map[string]bool{}, expect: v == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
			continue
		case string:
			if top != nil && top.object && top.expect {
				if top.keys[v] {
					return v, true
				}
				top.keys[v] = true
				top.expect = false
				continue
			}
		}
		if top != nil && top.object {
			top.expect = true // a value was read; a key comes next
		}
	}
}
