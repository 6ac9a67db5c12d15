package strictjson_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/strictjson"
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
// It is written independently of Decode's own key walk.
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

// FuzzDecode decodes arbitrary bytes into the request structs of the
// API. It must never panic; every error is an *outdial.Error answered with
// a 4xx; and whatever it accepts is one JSON object whose keys, at every
// level, are exactly the request's field names.
func FuzzDecode(f *testing.F) {
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
			err := strictjson.Decode(data, dst)
			if err != nil {
				e, ok := err.(*outdial.Error)
				if !ok {
					t.Fatalf("%s: Decode(%q) = %T %v, want *outdial.Error", name, data, err, err)
				}
				if s := apigw.HTTPStatus(e.Code); s < 400 || s > 499 {
					t.Fatalf("%s: Decode(%q) = code %s (status %d), want a 4xx", name, data, e.Code, s)
				}
				if e.Message == "" {
					t.Fatalf("%s: Decode(%q) = code %s with no message", name, data, e.Code)
				}
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(data))
			var obj map[string]json.RawMessage
			if err := dec.Decode(&obj); err != nil || obj == nil {
				t.Fatalf("%s: Decode accepted %q, which is not a JSON object (%v)", name, data, err)
			}
			// Only whitespace may follow.
			rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")
			if len(rest) > 0 {
				t.Fatalf("%s: Decode accepted %q, which has %q after the object", name, data, rest)
			}
			if !keysAllowed(data, reflect.TypeOf(dst)) {
				t.Fatalf("%s: Decode accepted %q, which has a key that is not a field of the request", name, data)
			}
		}
	})
}
