package apigw_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
)

// jsonNames returns the JSON names of the fields of struct type t.
func jsonNames(t reflect.Type) map[string]reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	names := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		names[name] = f.Type
	}
	return names
}

// keysAllowed reports whether every key of the JSON object raw, and of
// the objects nested in struct-typed fields, names a field of t exactly.
// It is written independently of DecodeJSON's own key walk.
func keysAllowed(raw json.RawMessage, t reflect.Type) bool {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		if t.Kind() == reflect.Slice {
			if t.Elem().Kind() == reflect.Uint8 { // json.RawMessage: free-form
				return true
			}
			var arr []json.RawMessage
			if json.Unmarshal(raw, &arr) != nil {
				return true // not an array: the typed decode must have failed
			}
			for _, e := range arr {
				if !keysAllowed(e, t.Elem()) {
					return false
				}
			}
			return true
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return true
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return true
	}
	fields := jsonNames(t)
	for k, v := range obj {
		ft, ok := fields[k]
		if !ok || !keysAllowed(v, ft) {
			return false
		}
	}
	return true
}

// FuzzDecodeJSON decodes arbitrary bytes into the request structs of the
// API. It must never panic; every error is an *outdial.Error answered with
// a 4xx; and whatever it accepts is one JSON object whose keys, at every
// level, are exactly the request's field names.
func FuzzDecodeJSON(f *testing.F) {
	for _, seed := range []string{
		`{ "name": "January Leads", "detail": "Sales leads for Q1 campaign" }`,
		`{"name":"a","campaign_id":null,"data":{"x":[1,2,{"y":null}]}}`,
		`{ "destination": { "type": "tel", "target": "+15551234567" }, "try_count_max": 3 }`,
		`{"destinations":[{"type":"tel","target":"+1","try_count_max":2},{"type":"email","target":"a@b.c"}]}`,
		`{"name":"n","detail":"d","retry_policy":{"busy_seconds":5,"no_answer_seconds":1}}`,
		`{"NAME":"a"}`, `{"name":"a","name":"b"}`, `{"name":"a"}}`, `{"name":1}`, `{"retry_policy":{"busy":1}}`,
		`[]`, `null`, `"x"`, ``, "{\"name\":\"\xff\"}", `{"data":[[[[[[[[]]]]]]]]}`, `{"try_count_max":1e400}`,
		`{"destinations":[{"type":"tel","target":"+1","x":1}]}`, `{"destination":null,"destinations":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for name, newDst := range requestTypes {
			dst := newDst()
			err := apigw.DecodeJSON(data, dst)
			if err != nil {
				e, ok := err.(*outdial.Error)
				if !ok {
					t.Fatalf("%s: DecodeJSON(%q) = %T %v, want *outdial.Error", name, data, err, err)
				}
				if s := apigw.HTTPStatus(e.Code); s < 400 || s > 499 {
					t.Fatalf("%s: DecodeJSON(%q) = code %s (status %d), want a 4xx", name, data, e.Code, s)
				}
				if e.Message == "" {
					t.Fatalf("%s: DecodeJSON(%q) = code %s with no message", name, data, e.Code)
				}
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			var obj map[string]json.RawMessage
			if err := dec.Decode(&obj); err != nil || obj == nil {
				t.Fatalf("%s: DecodeJSON accepted %q, which is not a JSON object (%v)", name, data, err)
			}
			// Only whitespace may follow.
			rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")
			if len(rest) > 0 {
				t.Fatalf("%s: DecodeJSON accepted %q, which has %q after the object", name, data, rest)
			}
			if !keysAllowed(data, reflect.TypeOf(dst)) {
				t.Fatalf("%s: DecodeJSON accepted %q, which has a key that is not a field of the request", name, data)
			}
		}
	})
}

// FuzzPageToken checks that Open never panics and never accepts a token
// that Seal did not make for that customer and list: neither an arbitrary
// string, nor a sealed token with bytes changed, nor a sealed token
// presented by another customer or for another list.
func FuzzPageToken(f *testing.F) {
	p := apigw.NewPageTokens(pageKey)
	// Seeds: real tokens (so mutations start from valid ones) and junk.
	f.Add("a", "outdials", "cursor", p.Seal(uuid.NewSHA1(uuid.NameSpaceOID, []byte("a")).String(), "outdials", "cursor"), uint16(0), byte(1))
	f.Add("b", "targets/x/idle", `{"k":1}`, p.Seal(uuid.NewSHA1(uuid.NameSpaceOID, []byte("b")).String(), "targets/x/idle", `{"k":1}`), uint16(40), byte(3))
	f.Add("c", "", "", "", uint16(0), byte(0))
	f.Add("d", "s\x00", "\x00", "..", uint16(1), byte(0x80))
	f.Add("e", "outdials", "z", "eg.AAAA", uint16(3), byte(2))

	f.Fuzz(func(t *testing.T, custSeed, scope, cursor, token string, pos uint16, xor byte) {
		// Customers are UUIDs: the authorizer accepts nothing else.
		cust := uuid.NewSHA1(uuid.NameSpaceOID, []byte(custSeed)).String()
		other := uuid.NewSHA1(uuid.NameSpaceOID, []byte(custSeed+"/other")).String()
		if len(cursor) > 2048 {
			cursor = cursor[:2048] // store cursors are a few hundred bytes
		}

		// An arbitrary token opens only if it is the one Seal makes for
		// the cursor it holds.
		got, err := p.Open(cust, scope, token)
		if err == nil && token != "" && token != p.Seal(cust, scope, got) {
			t.Fatalf("Open(%s, %q, %q) accepted a token Seal did not make (cursor %q)", cust, scope, token, got)
		}
		if err != nil && outdial.ErrorCode(err) != outdial.ECodeInvalidPageToken {
			t.Fatalf("Open(%q) = %v, want invalid_page_token", token, err)
		}

		sealed := p.Seal(cust, scope, cursor)
		if cursor == "" {
			if sealed != "" {
				t.Fatalf("Seal(empty cursor) = %q, want empty", sealed)
			}
			return
		}
		// Round trip.
		if got, err := p.Open(cust, scope, sealed); err != nil || got != cursor {
			t.Fatalf("Open(Seal(%q)) = %q, %v", cursor, got, err)
		}
		// Bound to the customer and the list.
		if got, err := p.Open(other, scope, sealed); err == nil {
			t.Fatalf("another customer opened the token of %q: %q", cursor, got)
		}
		if got, err := p.Open(cust, scope+"/", sealed); err == nil {
			t.Fatalf("another list opened the token of %q: %q", cursor, got)
		}
		// A changed byte makes it unopenable.
		if xor != 0 {
			b := []byte(sealed)
			b[int(pos)%len(b)] ^= xor
			mutated := string(b)
			if got, err := p.Open(cust, scope, mutated); err == nil && mutated != sealed {
				t.Fatalf("Open accepted %q, a modified %q (cursor %q)", mutated, sealed, got)
			}
		}
	})
}
