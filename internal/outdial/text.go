package outdial

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rules for the free text of outdials and targets (docs/api.md "Outdials"
// and "Other target fields"). A name is one line shown to people, so it
// refuses every control character (C0 with tab and line feed, DEL, C1),
// the line and paragraph separators, Unicode's Bidi_Control characters
// (the embeddings and overrides U+202A–U+202E, the isolates U+2066–U+2069,
// and the marks U+200E, U+200F and U+061C: these are invisible too, and
// make two names that read the same differ) and U+FFFD, which stands for
// text a decoder lost (encoding/json turns a lone surrogate escape such as
// "\ud800" into it). A name is trimmed of white space and invisible
// characters at both ends and must keep a character after that. A detail
// follows the same rules but may hold tabs, line feeds and separators, and
// is not trimmed.

// isInvisible reports whether r is white space or a character that shows
// nothing on its own: such characters are trimmed from the ends of a name,
// and a name made only of them is refused. Joiners (U+200C, U+200D) are
// trimmed only at the ends: inside an emoji sequence such as "👩‍💻" they
// are part of the text.
func isInvisible(r rune) bool {
	switch {
	case r == 0x00AD, // soft hyphen
		r == 0x180E,                // Mongolian vowel separator
		0x200B <= r && r <= 0x200D, // zero-width space, non-joiner, joiner
		0x2060 <= r && r <= 0x2064, // word joiner, invisible operators
		r == 0x3164, r == 0xFFA0,   // Hangul fillers
		r == 0xFEFF: // zero-width no-break space (BOM)
		return true
	}
	return unicode.IsSpace(r)
}

// refusedInName says why r may not appear in a name, or returns "".
func refusedInName(r rune) string {
	switch {
	case r == '\t' || r == '\n':
		return "control characters such as tab or line feed"
	case r == 0x2028 || r == 0x2029:
		return "line or paragraph separators"
	}
	return refusedInDetail(r)
}

// refusedInDetail says why r may not appear in a detail, or returns "".
func refusedInDetail(r rune) string {
	switch {
	case r == '\t' || r == '\n':
		return ""
	case r < 0x20 || 0x7F <= r && r <= 0x9F:
		return "control characters"
	case unicode.Is(unicode.Bidi_Control, r):
		return "bidirectional control characters"
	case r == utf8.RuneError:
		return "the replacement character, which stands for text lost in decoding such as a lone surrogate"
	}
	return ""
}

// checkRunes refuses the first rune of s that refused describes.
func checkRunes(field, s string, refused func(rune) string) error {
	i := 0
	for _, r := range s {
		i++
		if why := refused(r); why != "" {
			return FieldErrorf(ECodeInvalidField, field, "must not contain %s (U+%04X at character %d)", why, r, i)
		}
	}
	return nil
}

// validateName checks the name s and returns it trimmed of white space and
// invisible characters at both ends. A blank name (empty or only white
// space) is refused when required (outdials) and is "" otherwise
// (targets); a name of only invisible characters is always refused.
func validateName(field, s string, required bool) (string, error) {
	if !utf8.ValidString(s) {
		return "", FieldErrorf(ECodeInvalidField, field, "must be valid UTF-8")
	}
	name := strings.TrimFunc(s, isInvisible)
	if name == "" {
		switch {
		case strings.TrimFunc(s, unicode.IsSpace) != "":
			return "", FieldErrorf(ECodeInvalidField, field, "must have a visible character: white space and invisible characters such as U+200B are trimmed from both ends")
		case required:
			return "", FieldErrorf(ECodeMissingField, field, "is required and must not be blank")
		}
		return "", nil
	}
	// The whole input is checked, so that a control character at an end is
	// refused rather than trimmed away unseen.
	if err := checkRunes(field, s, refusedInName); err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLen {
		return "", FieldErrorf(ECodeInvalidField, field, "must be at most %d characters, got %d", MaxNameLen, n)
	}
	return name, nil
}

// validateDetail checks the detail s: valid UTF-8, at most MaxDetailLen
// characters, no control characters but tab and line feed, no
// Bidi_Control characters, no U+FFFD.
func validateDetail(field, s string) error {
	if !utf8.ValidString(s) {
		return FieldErrorf(ECodeInvalidField, field, "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > MaxDetailLen {
		return FieldErrorf(ECodeInvalidField, field, "must be at most %d characters, got %d", MaxDetailLen, n)
	}
	return checkRunes(field, s, refusedInDetail)
}

// CheckSurrogates reports a string of the JSON text raw (a key or a value,
// at any depth) that holds a \u escape of a UTF-16 surrogate
// (U+D800–U+DFFF) other than a high surrogate immediately followed by the
// \u escape of a low one. encoding/json decodes such a lone surrogate to
// U+FFFD without an error, so the JSON decoder calls this on a body it has
// found well-formed, before the typed decode. The error is invalid_field;
// its field is the string's JSON path as the API names fields ("name",
// "targets[2].name", "data.note"; for a key, the object holding it), or
// "body" at the top level. On malformed JSON the answer is unspecified
// (nil from where the scan loses its way): the decoder reports that.
func CheckSurrogates(raw []byte) error {
	if !bytes.Contains(raw, []byte(`\u`)) {
		return nil
	}
	var stack []jsonFrame
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '{':
			stack = append(stack, jsonFrame{object: true, wantKey: true})
		case '[':
			stack = append(stack, jsonFrame{})
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case ',':
			if n := len(stack); n > 0 {
				if stack[n-1].object {
					stack[n-1].wantKey = true
				} else {
					stack[n-1].index++
				}
			}
		case '"':
			end, lone, ok := scanJSONString(raw, i)
			if !ok {
				return nil // malformed: the decoder answers it
			}
			n := len(stack)
			isKey := n > 0 && stack[n-1].object && stack[n-1].wantKey
			if lone != "" {
				path := jsonPath(stack, isKey)
				what := "a lone UTF-16 surrogate"
				if isKey {
					what += " in a key"
				}
				return FieldErrorf(ECodeInvalidField, path, "must not contain %s (%s): send a character beyond U+FFFF as a surrogate pair or as UTF-8", what, lone)
			}
			if isKey {
				stack[n-1].wantKey = false
				stack[n-1].key = jsonKey(raw[i : end+1])
			}
			i = end
		}
	}
	return nil
}

// jsonFrame is one open object or array of CheckSurrogates' scan.
type jsonFrame struct {
	object  bool
	wantKey bool   // object: the next string is a key
	key     string // object: the key of the current member
	index   int    // array: the index of the current element
}

// jsonPath names the current place of the scan; for a key, the object
// that holds it.
func jsonPath(stack []jsonFrame, inKey bool) string {
	if inKey {
		stack = stack[:len(stack)-1]
	}
	var b strings.Builder
	for _, f := range stack {
		if f.object {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		} else {
			fmt.Fprintf(&b, "[%d]", f.index)
		}
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

// jsonKey returns the text of the key literal lit (quotes included).
func jsonKey(lit []byte) string {
	if !bytes.Contains(lit, []byte{'\\'}) {
		return string(lit[1 : len(lit)-1])
	}
	var k string
	_ = json.Unmarshal(lit, &k) // scanned already; an odd escape leaves "" in a path
	return k
}

// scanJSONString scans the string literal whose opening quote is raw[start]
// and returns the index of its closing quote and the first lone surrogate
// escape in it ("" if none); ok is false if the literal is malformed.
func scanJSONString(raw []byte, start int) (end int, lone string, ok bool) {
	for i := start + 1; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			return i, lone, true
		case '\\':
			if i+1 >= len(raw) {
				return 0, "", false
			}
			if raw[i+1] != 'u' {
				i++
				continue
			}
			if i+6 > len(raw) {
				return 0, "", false
			}
			r, ok := hex4(string(raw[i+2 : i+6]))
			if !ok {
				return 0, "", false
			}
			esc := string(raw[i : i+6])
			i += 5
			switch {
			case 0xD800 <= r && r <= 0xDBFF:
				// A high surrogate must be followed by a low one.
				if i+7 <= len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
					if low, ok := hex4(string(raw[i+3 : i+7])); ok && 0xDC00 <= low && low <= 0xDFFF {
						i += 6
						continue
					}
				}
				if lone == "" {
					lone = esc
				}
			case 0xDC00 <= r && r <= 0xDFFF:
				if lone == "" {
					lone = esc
				}
			}
		}
	}
	return 0, "", false
}

// hex4 parses four hexadecimal digits.
func hex4(s string) (rune, bool) {
	if len(s) != 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
