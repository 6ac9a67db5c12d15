package outdial

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// nameValidators are the three places a name is checked: outdial create,
// outdial update and target create (JSON and CSV imports alike).
var nameValidators = map[string]func(name string) (string, error){
	"outdial create": func(name string) (string, error) {
		c := OutdialCreate{Name: name}
		err := c.Validate()
		return c.Name, err
	},
	"outdial update": func(name string) (string, error) {
		u := OutdialUpdate{Name: &name}
		if err := u.Validate(); err != nil {
			return "", err
		}
		return *u.Name, nil
	},
	"target": func(name string) (string, error) {
		c := TargetCreate{Name: name, Destination: &Address{Type: "tel", Target: "+15551234567"}}
		nt, err := c.Validate(asSent{})
		if err != nil {
			return "", err
		}
		return nt.Name, nil
	},
}

// detailValidators are the places a detail is checked.
var detailValidators = map[string]func(detail string) error{
	"outdial create": func(detail string) error {
		c := OutdialCreate{Name: "n", Detail: detail}
		return c.Validate()
	},
	"outdial update": func(detail string) error {
		u := OutdialUpdate{Detail: &detail}
		return u.Validate()
	},
	"target": func(detail string) error {
		c := TargetCreate{Detail: detail, Destination: &Address{Type: "tel", Target: "+15551234567"}}
		_, err := c.Validate(asSent{})
		return err
	},
}

func TestNamesRefuseControlBidiAndInvisibleOnlyText(t *testing.T) {
	tests := []struct {
		name, in string
		message  string // a substring of the message
	}{
		{"tab inside", "John\tSmith", "control characters such as tab or line feed (U+0009 at character 5)"},
		{"newline inside", "John\nSmith", "U+000A at character 5"},
		{"newline at the end", "John\n", "U+000A"},
		{"carriage return", "a\rb", "control characters (U+000D"},
		{"NUL", "a\x00b", "U+0000"},
		{"escape", "\x1b[31mred", "U+001B at character 1"},
		{"DEL", "a\x7fb", "U+007F"},
		{"C1 next line", "a\u0085b", "U+0085"},
		{"C1 CSI", "a\u009bb", "U+009B"},
		{"right-to-left override", "evil\u202Etxt.exe", "bidirectional control characters (U+202E at character 5)"},
		{"left-to-right embedding", "\u202Aname", "U+202A"},
		{"pop directional formatting", "name\u202C", "U+202C"},
		{"first strong isolate", "a\u2068b\u2069", "U+2068"},
		{"pop directional isolate", "a\u2069", "U+2069"},
		{"left-to-right mark", "a\u200Eb", "U+200E"},
		{"right-to-left mark", "a\u200Fb", "U+200F"},
		{"Arabic letter mark", "a\u061Cb", "U+061C"},
		{"line separator", "a\u2028b", "line or paragraph separators (U+2028"},
		{"paragraph separator", "a\u2029b", "U+2029"},
		{"replacement character (a decoded lone surrogate)", "a\uFFFDb", "replacement character, which stands for text lost in decoding such as a lone surrogate (U+FFFD at character 2)"},
		{"only a zero-width space", "\u200B", "must have a visible character"},
		{"only invisible characters and spaces", " \u200B\u2060\uFEFF \u200D ", "must have a visible character"},
		{"only a Hangul filler", "\u3164", "must have a visible character"},
		{"too long", strings.Repeat("é", MaxNameLen+1), "at most 255 characters, got 256"},
		{"invalid UTF-8", "a\xffb", "valid UTF-8"},
	}
	for where, validate := range nameValidators {
		for _, tt := range tests {
			_, err := validate(tt.in)
			checkFieldError(t, where+" "+tt.name, err, ECodeInvalidField, "name", tt.message)
		}
	}
}

func TestNamesAreTrimmedAndMayHoldAnyVisibleText(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"January Leads", "January Leads"},
		{"  Full  ", "Full"},
		{"\u200BBob\u200B", "Bob"},
		{"\uFEFFBob\u2060 ", "Bob"},
		{"👩‍💻 team", "👩‍💻 team"}, // U+200D joins the emoji
		{"\u200D👩‍💻\u200D", "👩‍💻"},
		{"👨‍👩‍👧‍👦", "👨‍👩‍👧‍👦"},
		{"❤️", "❤️"}, // a variation selector at the end stays
		{"🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland", "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland"}, // tag characters stay
		{"Zoë O'Brien-Smith", "Zoë O'Brien-Smith"},
		{"مرحبا بالعالم", "مرحبا بالعالم"}, // right-to-left text needs no controls
		{"שלום", "שלום"},
		{"山田 太郎", "山田 太郎"},
		{"a\u00A0b", "a\u00A0b"}, // no-break space inside
		{"co\u00ADoperate", "co\u00ADoperate"},
		{strings.Repeat("é", MaxNameLen), strings.Repeat("é", MaxNameLen)},
		{" " + strings.Repeat("x", MaxNameLen) + "\u200B", strings.Repeat("x", MaxNameLen)},
	}
	for where, validate := range nameValidators {
		for _, tt := range tests {
			got, err := validate(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("%s: name %q: got %q, %v; want %q", where, tt.in, got, err, tt.want)
			}
		}
	}
}

func TestBlankNames(t *testing.T) {
	// An outdial needs a name: blank is missing_field, as before.
	for _, in := range []string{"", " ", " \t ", "\n", "\u3000"} {
		for _, where := range []string{"outdial create", "outdial update"} {
			_, err := nameValidators[where](in)
			checkFieldError(t, where+" blank "+jsonQuote(in), err, ECodeMissingField, "name", "required")
		}
		// A target's name is optional: blank is no name.
		if got, err := nameValidators["target"](in); err != nil || got != "" {
			t.Errorf("target name %s: got %q, %v; want no name", jsonQuote(in), got, err)
		}
	}
}

func TestDetailMayHoldLinesButNoOtherControlOrBidi(t *testing.T) {
	ok := []string{"", "Sales leads for Q1 campaign", "one\ntwo\n\tthree", "\u200Bzero width\u200B", "مرحبا", "👩‍💻", " padded ", "a\u2028b"}
	for where, validate := range detailValidators {
		for _, in := range ok {
			if err := validate(in); err != nil {
				t.Errorf("%s: detail %s: %v", where, jsonQuote(in), err)
			}
		}
	}
	bad := []struct {
		in, message string
	}{
		{"line\r\nbreak", "control characters (U+000D at character 5)"},
		{"bell\a", "U+0007"},
		{"a\x7f", "U+007F"},
		{"a\u0085", "U+0085"},
		{"invoice \u202Efdp.exe", "bidirectional control characters (U+202E at character 9)"},
		{"a\u2066b", "U+2066"},
		{"a\u200Fb", "U+200F"},
		{"lost \uFFFD", "replacement character"},
		{strings.Repeat("d", MaxDetailLen+1), "at most 2048 characters, got 2049"},
		{"\xc3\x28", "valid UTF-8"},
	}
	for where, validate := range detailValidators {
		for _, tt := range bad {
			checkFieldError(t, where+" detail "+jsonQuote(tt.in[:min(len(tt.in), 20)]), validate(tt.in), ECodeInvalidField, "detail", tt.message)
		}
	}
}

func TestCheckSurrogates(t *testing.T) {
	ok := []string{
		``,
		`{"name": "John"}`,
		`{"name": "\u00e9\u4e2d"}`,
		`{"name": "\ud83d\ude00 grin"}`, // a pair: U+1F600
		`{"name": "\uD83D\uDE00"}`,
		`{"name": "\\ud800"}`, // an escaped backslash, then text
		`{"name": "\\\ud83d\ude00"}`,
		`{"name": "\ufffd"}`, // U+FFFD itself is not a surrogate (names refuse it later)
		`{"targets": [{"name": "😀", "data": {"k": ["\ud800\udc00"]}}]}`,
		`{"a\"b": "\"\ud800\udfff"}`,
		"{\"name\": \"\xed\xa0\x80\"}", // raw bytes: invalid UTF-8, the decoder's business
		`{"name": "\ud800`,             // malformed: the decoder's business
		`{"name": "\uzzzz\ud800"}`,
	}
	for _, raw := range ok {
		if err := CheckSurrogates([]byte(raw)); err != nil {
			t.Errorf("CheckSurrogates(%s) = %v, want nil", raw, err)
		}
	}
	bad := []struct {
		raw, field, message string
	}{
		{`{"name": "\ud800"}`, "name", `must not contain a lone UTF-16 surrogate (\ud800)`},
		{`{"name": "\uDFFF"}`, "name", `(\uDFFF)`},
		{`{"name": "a\ud83d b"}`, "name", `\ud83d`},
		{`{"name": "\ud83d\u0041"}`, "name", `\ud83d`},
		{`{"name": "\ud83d\ud83d\ude00"}`, "name", `\ud83d`},
		{`{"name": "\ude00\ud83d"}`, "name", `\ude00`},
		{`{"name": "ok", "detail": "x\udc00"}`, "detail", `\udc00`},
		{`{"targets": [{"name": "a"}, {"destination": {"type": "tel", "target": "+1555\ud800"}}]}`, "targets[1].destination.target", `\ud800`},
		{`{"data": {"list": [1, "x", {"note": "\ud800"}]}}`, "data.list[2].note", `\ud800`},
		{`{"data": {"k\ud800": 1}}`, "data", `in a key (\ud800)`},
		{`{"k\ud800": 1}`, "body", `in a key`},
		{`"\ud800"`, "body", `\ud800`},
		{`["x", "\ud800"]`, "[1]", `\ud800`},
		{`{"da\u0074a": {"n": "\ud800"}}`, "data.n", `\ud800`}, // an escaped key
	}
	for _, tt := range bad {
		checkFieldError(t, tt.raw, CheckSurrogates([]byte(tt.raw)), ECodeInvalidField, tt.field, tt.message)
	}
}

// TestLoneSurrogateIsCaughtEvenAfterDecoding shows why CheckSurrogates is
// needed and what happens without it: encoding/json decodes "\ud800" to
// U+FFFD without an error, and the name rules then refuse U+FFFD.
func TestLoneSurrogateIsCaughtEvenAfterDecoding(t *testing.T) {
	var c OutdialCreate
	if err := json.Unmarshal([]byte(`{"name": "a\ud800b"}`), &c); err != nil {
		t.Fatalf("encoding/json refused a lone surrogate (it used not to): %v", err)
	}
	if c.Name != "a\uFFFDb" {
		t.Fatalf("decoded name = %q, want a\\uFFFDb", c.Name)
	}
	checkFieldError(t, "decoded lone surrogate", c.Validate(), ECodeInvalidField, "name", "U+FFFD")
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// asSent is an AddressNormalizer that keeps addresses as sent: the text
// rules do not depend on them (package destination tests the addresses).
type asSent struct{}

func (asSent) NormalizeAddress(_ string, a Address) (Address, error) { return a, nil }

// checkFieldError fails t unless err is an *Error with code and field whose
// message starts with the field and contains message.
func checkFieldError(t *testing.T, name string, err error, code, field, message string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Errorf("%s: got error %v, want *Error %s on %s", name, err, code, field)
		return
	}
	if e.Code != code || e.Field != field {
		t.Errorf("%s: got code %q field %q, want %q %q (message %q)", name, e.Code, e.Field, code, field, e.Message)
	}
	if !strings.HasPrefix(e.Message, field+": ") || !strings.Contains(e.Message, message) {
		t.Errorf("%s: got message %q, want it to start with %q and contain %q", name, e.Message, field+": ", message)
	}
}
