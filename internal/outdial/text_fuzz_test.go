package outdial

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

// The refused and invisible classes, written out again from the README
// rather than taken from text.go, so that the fuzz targets check the code
// against the documented rules.
func docRefusedInName(r rune) bool {
	return docRefusedInDetail(r) || r == '\t' || r == '\n' || r == 0x2028 || r == 0x2029
}

func docRefusedInDetail(r rune) bool {
	switch {
	case r <= 0x1F && r != '\t' && r != '\n', // C0
		0x7F <= r && r <= 0x9F,                // DEL, C1
		0x202A <= r && r <= 0x202E,            // embeddings, overrides
		0x2066 <= r && r <= 0x2069,            // isolates
		r == 0x200E, r == 0x200F, r == 0x061C, // marks
		0xD800 <= r && r <= 0xDFFF, // surrogates (never in valid UTF-8)
		r == 0xFFFD:
		return true
	}
	return false
}

// docSpace is Unicode's White_Space, which unicode.IsSpace implements.
func docSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
		return true
	}
	return 0x2000 <= r && r <= 0x200A
}

func docInvisible(r rune) bool {
	switch r {
	case 0x00AD, 0x180E, 0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x3164, 0xFFA0, 0xFEFF:
		return true
	}
	return docSpace(r)
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{
		"January Leads", "  Full  ", "John\tSmith", "a\nb", "\u200B", "evil\u202Etxt", "👩‍💻 team",
		"\u200D👩‍💻\u200D", " \t ", "", "\uFEFF\u2060", "a\uFFFDb", "\x1b[31m", "a\u0085", "\xff", "❤️",
		strings.Repeat("é", MaxNameLen+1), `{"name": "\ud800"}`, `{"a": ["\ud83d\ude00", {"b": "\udc00"}]}`, `"\ud800\u`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, required := range []bool{true, false} {
			got, err := validateName("name", in, required)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) || e.Field != "name" || !strings.HasPrefix(e.Message, "name: ") ||
					(e.Code != ECodeInvalidField && e.Code != ECodeMissingField) {
					t.Fatalf("validateName(%q, %v): error %#v", in, required, err)
				}
				continue
			}
			if got == "" {
				// Only an optional name may be blank, and only when it was
				// nothing but white space.
				if required || strings.TrimFunc(in, docSpace) != "" {
					t.Fatalf("validateName(%q, %v) = \"\", want an error", in, required)
				}
				continue
			}
			if !utf8.ValidString(in) {
				t.Fatalf("validateName(%q, %v) accepted invalid UTF-8", in, required)
			}
			for i, r := range in {
				if docRefusedInName(r) {
					t.Fatalf("validateName(%q, %v) = %q: accepted U+%04X at byte %d", in, required, got, r, i)
				}
			}
			if trimmed := strings.TrimFunc(got, docInvisible); trimmed != got || trimmed == "" {
				t.Fatalf("validateName(%q, %v) = %q: not trimmed or nothing visible left", in, required, got)
			}
			if !strings.Contains(in, got) || utf8.RuneCountInString(got) > MaxNameLen {
				t.Fatalf("validateName(%q, %v) = %q: not a trimmed copy of at most %d characters", in, required, got, MaxNameLen)
			}
			if again, err := validateName("name", got, required); err != nil || again != got {
				t.Fatalf("validateName(%q) = %q, then %q, %v: not idempotent", in, got, again, err)
			}
		}
		// Any bytes may reach CheckSurrogates: it must not panic, and it
		// reports only a document with a \u escape.
		if err := CheckSurrogates([]byte(in)); err != nil && !strings.Contains(in, `\u`) {
			t.Fatalf("CheckSurrogates(%q) = %v without any \\u escape", in, err)
		}

		if err := validateDetail("detail", in); err == nil {
			for i, r := range in {
				if docRefusedInDetail(r) {
					t.Fatalf("validateDetail(%q): accepted U+%04X at byte %d", in, r, i)
				}
			}
			if !utf8.ValidString(in) || utf8.RuneCountInString(in) > MaxDetailLen {
				t.Fatalf("validateDetail(%q): accepted", in)
			}
		} else if e := (*Error)(nil); !errors.As(err, &e) || e.Code != ECodeInvalidField || e.Field != "detail" {
			t.Fatalf("validateDetail(%q): error %#v", in, err)
		}
	})
}

// FuzzCheckSurrogates builds a JSON string of UTF-16 code units, each sent
// as a \u escape or (when it can be) as UTF-8, at a place in a document,
// and checks CheckSurrogates against unicode/utf16: the units are valid
// UTF-16 exactly when decoding and encoding them again gives them back.
func FuzzCheckSurrogates(f *testing.F) {
	f.Add([]byte{0xD8, 0x3D, 0xDE, 0x00}, uint64(0), uint8(0))
	f.Add([]byte{0xD8, 0x00}, uint64(1), uint8(1))
	f.Add([]byte{0x00, 0x41, 0xDC, 0x00, 0xD8, 0x00}, uint64(5), uint8(2))
	f.Add([]byte{0x00, 0x5C, 0x00, 0x22, 0xFF, 0xFD}, uint64(0), uint8(3))
	f.Fuzz(func(t *testing.T, units []byte, rawMask uint64, place uint8) {
		u := make([]uint16, len(units)/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(units[2*i:])
		}
		valid := fmt.Sprint(utf16.Encode(utf16.Decode(u))) == fmt.Sprint(u)

		// The literal: units as \u escapes, or some as UTF-8 text.
		var lit strings.Builder
		lit.WriteByte('"')
		for i, c := range u {
			r := rune(c)
			if rawMask>>(i%64)&1 == 1 && !utf16.IsSurrogate(r) && r >= 0x20 && r != '"' && r != '\\' {
				lit.WriteRune(r)
			} else {
				fmt.Fprintf(&lit, `\u%04x`, c)
			}
		}
		lit.WriteByte('"')

		docs := []struct{ doc, field string }{
			{`{"name": ` + lit.String() + `}`, "name"},
			{`{"targets": [{"name": "ok"}, {"detail": ` + lit.String() + `, "name": "x"}]}`, "targets[1].detail"},
			{`{"data": {"a\"b": [null, true, 1.5e3, {"k": ` + lit.String() + `}]}}`, `data.a"b[3].k`},
			{`{` + lit.String() + `: 1}`, "body"},
		}
		d := docs[int(place)%len(docs)]
		err := CheckSurrogates([]byte(d.doc))
		switch {
		case valid && err != nil:
			t.Fatalf("CheckSurrogates(%s) = %v for valid UTF-16", d.doc, err)
		case !valid && err == nil:
			t.Fatalf("CheckSurrogates(%s) = nil for a lone surrogate", d.doc)
		case err != nil:
			var e *Error
			if !errors.As(err, &e) || e.Code != ECodeInvalidField || e.Field != d.field {
				t.Fatalf("CheckSurrogates(%s) = %#v, want invalid_field on %s", d.doc, err, d.field)
			}
		}
	})
}
