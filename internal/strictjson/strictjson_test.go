package strictjson_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/strictjson"
)

// updateBody is the body of PUT /v1.0/outdials/{id} (api.UpdateOutdial
// declares it inline): a struct with a nested RetryPolicyPatch.
type updateBody struct {
	Name        *string                   `json:"name"`
	Detail      *string                   `json:"detail"`
	RetryPolicy *outdial.RetryPolicyPatch `json:"retry_policy"`
}

// requestTypes are the request structs the handlers decode into.
var requestTypes = map[string]func() any{
	"OutdialCreate": func() any { return new(outdial.OutdialCreate) },
	"TargetCreate":  func() any { return new(outdial.TargetCreate) },
	"update":        func() any { return new(updateBody) },
}

// wantDecodeError checks err is an *outdial.Error (not wrapped: the target
// import keeps it as is) with code, a 4xx status and, if field is not
// empty, that field.
func wantDecodeError(t *testing.T, err error, code, field string) {
	t.Helper()
	e, ok := err.(*outdial.Error)
	if !ok {
		t.Fatalf("error = %T %v, want *outdial.Error with code %s", err, err, code)
	}
	if e.Code != code {
		t.Errorf("code = %s (%s), want %s", e.Code, e.Message, code)
	}
	if field != "" && e.Field != field {
		t.Errorf("field = %q (%s), want %q", e.Field, e.Message, field)
	}
	if s := apigw.HTTPStatus(e.Code); s < 400 || s > 499 {
		t.Errorf("status of %s = %d, want 4xx", e.Code, s)
	}
}

func TestDecodeAccepts(t *testing.T) {
	tests := []struct {
		name, typ, body string
		check           func(t *testing.T, v any)
	}{
		{"seed create body", "OutdialCreate", `{ "name": "January Leads", "detail": "Sales leads for Q1 campaign" }`, func(t *testing.T, v any) {
			c := v.(*outdial.OutdialCreate)
			if c.Name != "January Leads" || c.Detail != "Sales leads for Q1 campaign" {
				t.Errorf("decoded %+v", c)
			}
		}},
		{"surrounding whitespace", "OutdialCreate", "\n\t {\"name\":\"a\"} \r\n", nil},
		{"null campaign", "OutdialCreate", `{"name":"a","campaign_id":null}`, nil},
		{"free-form data keeps any key", "OutdialCreate", `{"name":"a","data":{"id":1,"customer_id":"x","NAME":[{"status":2}]}}`, func(t *testing.T, v any) {
			if got := string(v.(*outdial.OutdialCreate).Data); got != `{"id":1,"customer_id":"x","NAME":[{"status":2}]}` {
				t.Errorf("data = %s", got)
			}
		}},
		{"seed tel target", "TargetCreate", `{ "destination": { "type": "tel", "target": "+15551234567" }, "try_count_max": 3 }`, func(t *testing.T, v any) {
			c := v.(*outdial.TargetCreate)
			if c.Destination == nil || c.Destination.Target != "+15551234567" || c.TryCountMax == nil || *c.TryCountMax != 3 {
				t.Errorf("decoded %+v", c)
			}
		}},
		{"destinations", "TargetCreate", `{"destinations":[{"type":"tel","target":"+1","try_count_max":2},{"type":"email","target":"a@b.c"}]}`, nil},
		{"retry policy patch", "update", `{"retry_policy":{"busy_seconds":5}}`, func(t *testing.T, v any) {
			u := v.(*updateBody)
			if u.RetryPolicy == nil || u.RetryPolicy.BusySeconds == nil || *u.RetryPolicy.BusySeconds != 5 || u.RetryPolicy.NoAnswerSeconds != nil {
				t.Errorf("decoded %+v", u.RetryPolicy)
			}
		}},
		{"unicode escapes", "OutdialCreate", `{"name":"\u00e9t\u00e9"}`, func(t *testing.T, v any) {
			if got := v.(*outdial.OutdialCreate).Name; got != "été" {
				t.Errorf("name = %q", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := requestTypes[tt.typ]()
			if err := strictjson.Decode([]byte(tt.body), v); err != nil {
				t.Fatalf("DecodeJSON(%s) = %v", tt.body, err)
			}
			if tt.check != nil {
				tt.check(t, v)
			}
		})
	}
}

// TestDecodeRejects checks the error code and the field named for each
// body that is not one well-formed object of the route's type.
func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name, typ, body string
		code, field     string
	}{
		// Keys must match exactly, so clients cannot set what a route does
		// not take (mass assignment).
		{"upper-case key", "OutdialCreate", `{"NAME":"a"}`, outdial.ECodeUnknownField, "NAME"},
		{"title-case key", "OutdialCreate", `{"Name":"a"}`, outdial.ECodeUnknownField, "Name"},
		{"id", "OutdialCreate", `{"name":"a","id":"0190a3a4-7b1c-7d2e-8f30-4a5b6c7d8e9f"}`, outdial.ECodeUnknownField, "id"},
		{"customer_id", "OutdialCreate", `{"name":"a","customer_id":"0190a3a4-7b1c-7d2e-8f30-4a5b6c7d8e9f"}`, outdial.ECodeUnknownField, "customer_id"},
		{"tm_create", "OutdialCreate", `{"name":"a","tm_create":"2020-01-01T00:00:00Z"}`, outdial.ECodeUnknownField, "tm_create"},
		{"target status", "TargetCreate", `{"destination":{"type":"tel","target":"+1"},"status":"finished"}`, outdial.ECodeUnknownField, "status"},
		{"target try_count_current", "TargetCreate", `{"destination":{"type":"tel","target":"+1"},"try_count_current":3}`, outdial.ECodeUnknownField, "try_count_current"},
		{"unknown nested field", "TargetCreate", `{"destination":{"type":"tel","target":"+1","Type":"sip"}}`, outdial.ECodeUnknownField, "destination.Type"},
		{"unknown field in an array entry", "TargetCreate", `{"destinations":[{"type":"tel","target":"+1"},{"type":"tel","target":"+2","try_count_current":1}]}`, outdial.ECodeUnknownField, "destinations[1].try_count_current"},
		{"unknown field in retry_policy", "update", `{"retry_policy":{"busy_seconds":1,"busy":2}}`, outdial.ECodeUnknownField, "retry_policy.busy"},
		{"upper-case nested key", "update", `{"retry_policy":{"BUSY_SECONDS":1}}`, outdial.ECodeUnknownField, "retry_policy.BUSY_SECONDS"},

		// Wrong types name the field.
		{"name a number", "OutdialCreate", `{"name":1}`, outdial.ECodeInvalidField, "name"},
		{"try_count_max a fraction", "TargetCreate", `{"destination":{"type":"tel","target":"+1"},"try_count_max":1.5}`, outdial.ECodeInvalidField, "try_count_max"},
		{"nested wrong type", "update", `{"retry_policy":{"busy_seconds":"5"}}`, outdial.ECodeInvalidField, "retry_policy.busy_seconds"},
		{"destination an array", "TargetCreate", `{"destination":[]}`, outdial.ECodeInvalidField, "destination"},
		{"huge integer", "TargetCreate", `{"try_count_max":1e400}`, outdial.ECodeInvalidField, ""},

		// Not one JSON object.
		{"empty", "OutdialCreate", ``, outdial.ECodeInvalidJSON, ""},
		{"blank", "OutdialCreate", " \n\t", outdial.ECodeInvalidJSON, ""},
		{"array", "OutdialCreate", `[]`, outdial.ECodeInvalidJSON, ""},
		{"array of object", "OutdialCreate", `[{"name":"a"}]`, outdial.ECodeInvalidJSON, ""},
		{"string", "OutdialCreate", `"a"`, outdial.ECodeInvalidJSON, ""},
		{"number", "OutdialCreate", `1`, outdial.ECodeInvalidJSON, ""},
		{"null", "OutdialCreate", `null`, outdial.ECodeInvalidJSON, ""},
		{"true", "OutdialCreate", `true`, outdial.ECodeInvalidJSON, ""},
		{"two objects", "OutdialCreate", `{"name":"a"} {"name":"b"}`, outdial.ECodeInvalidJSON, ""},
		{"trailing garbage", "OutdialCreate", `{"name":"a"}x`, outdial.ECodeInvalidJSON, ""},
		{"trailing closing brace", "OutdialCreate", `{"name":"a"}}`, outdial.ECodeInvalidJSON, ""},
		{"trailing closing bracket", "OutdialCreate", `{"name":"a"}]`, outdial.ECodeInvalidJSON, ""},
		{"garbage after a closing brace", "OutdialCreate", `{"name":"a"}} {"id":"x"}`, outdial.ECodeInvalidJSON, ""},
		{"truncated", "OutdialCreate", `{"name":"a"`, outdial.ECodeInvalidJSON, ""},
		{"single quotes", "OutdialCreate", `{'name':'a'}`, outdial.ECodeInvalidJSON, ""},
		{"comment", "OutdialCreate", `{"name":"a" /* x */}`, outdial.ECodeInvalidJSON, ""},
		{"byte order mark", "OutdialCreate", "\ufeff{\"name\":\"a\"}", outdial.ECodeInvalidJSON, ""},

		// Duplicate keys make two readers of the same body disagree.
		{"duplicate key", "OutdialCreate", `{"name":"a","name":"b"}`, outdial.ECodeInvalidJSON, ""},
		{"duplicate nested key", "update", `{"retry_policy":{"busy_seconds":1,"busy_seconds":2}}`, outdial.ECodeInvalidJSON, ""},

		// Encoding.
		{"invalid UTF-8 in a value", "OutdialCreate", "{\"name\":\"\xff\xfe\"}", outdial.ECodeInvalidJSON, ""},
		{"invalid UTF-8 in a key", "OutdialCreate", "{\"na\xc3me\":\"a\"}", outdial.ECodeInvalidJSON, ""},
		{"overlong UTF-8", "OutdialCreate", "{\"name\":\"\xc0\xaf\"}", outdial.ECodeInvalidJSON, ""},
		{"lone surrogate in a name", "OutdialCreate", `{"name":"a\ud800b"}`, outdial.ECodeInvalidField, "name"},
		{"lone low surrogate in a nested field", "TargetCreate", `{"destination":{"type":"tel","target":"\udc00"}}`, outdial.ECodeInvalidField, "destination.target"},
		{"NUL outside a string", "OutdialCreate", "{\"name\":\"a\"\x00}", outdial.ECodeInvalidJSON, ""},
		{"raw control character in a string", "OutdialCreate", "{\"name\":\"a\x01\"}", outdial.ECodeInvalidJSON, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := strictjson.Decode([]byte(tt.body), requestTypes[tt.typ]())
			wantDecodeError(t, err, tt.code, tt.field)
		})
	}
}

// TestDecodeDeepNesting feeds 10 000 and more levels of nesting into
// free-form and typed fields: each gives a clear 400 quickly, never a panic
// or a stack overflow.
func TestDecodeDeepNesting(t *testing.T) {
	nest := func(open, close string, n int, leaf string) string {
		return strings.Repeat(open, n) + leaf + strings.Repeat(close, n)
	}
	tests := []struct {
		name, typ, body string
	}{
		{"10 000 arrays in data", "OutdialCreate", `{"name":"a","data":` + nest("[", "]", 10000, "") + `}`},
		{"10 000 objects in data", "OutdialCreate", `{"name":"a","data":` + nest(`{"a":`, "}", 10000, "1") + `}`},
		{"100 000 unclosed arrays", "OutdialCreate", `{"data":` + strings.Repeat("[", 100000)},
		{"10 000 arrays in a typed field", "TargetCreate", `{"destinations":` + nest("[", "]", 10000, "") + `}`},
		{"10 000 objects under an unknown key", "update", `{"x":` + nest(`{"x":`, "}", 10000, "1") + `}`},
		{"10 000 objects in retry_policy", "update", `{"retry_policy":` + nest(`{"busy_seconds":`, "}", 10000, "1") + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := strictjson.Decode([]byte(tt.body), requestTypes[tt.typ]())
			if err == nil {
				t.Fatal("DecodeJSON = nil, want a 400")
			}
			e, ok := err.(*outdial.Error)
			if !ok || apigw.HTTPStatus(e.Code) != 400 {
				t.Fatalf("DecodeJSON = %T %v, want an *outdial.Error answered with 400", err, err)
			}
			if len(e.Message) > 300 {
				t.Errorf("message is %d bytes long, want a short one: %.300s", len(e.Message), e.Message)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("DecodeJSON took %v", d)
			}
		})
	}

	// Deep but within the JSON decoder's limit: data is free-form, so it
	// decodes (its size is checked by Validate).
	body := `{"name":"a","data":` + nest("[", "]", 5000, "") + `}`
	var c outdial.OutdialCreate
	if err := strictjson.Decode([]byte(body), &c); err != nil {
		t.Errorf("DecodeJSON(5 000 levels in data) = %v, want nil", err)
	}
	if !json.Valid(c.Data) {
		t.Errorf("data is not valid JSON after decoding")
	}
}

// TestDecodeMessagesNameTheField checks the client-facing message of a
// field error starts with the field, so a client reading only the message
// knows which one.
func TestDecodeMessagesNameTheField(t *testing.T) {
	for _, body := range []string{`{"name":"a","id":"x"}`, `{"name":7}`} {
		err := strictjson.Decode([]byte(body), new(outdial.OutdialCreate))
		e, ok := err.(*outdial.Error)
		if !ok {
			t.Fatalf("DecodeJSON(%s) = %v", body, err)
		}
		if e.Field == "" || !strings.HasPrefix(e.Message, e.Field+": ") {
			t.Errorf("DecodeJSON(%s): field %q, message %q; want the message to start with the field", body, e.Field, e.Message)
		}
	}
}
