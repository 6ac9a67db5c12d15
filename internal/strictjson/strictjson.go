// Package strictjson is the one JSON decoder of every input the service
// reads: HTTP bodies and SQS outcome messages alike. It rejects what
// encoding/json lets through silently: duplicate keys (the last would win),
// keys that match a field only case-insensitively, unknown fields, trailing
// data and invalid UTF-8; wrong types are reported with the field's name.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/outdial/outdial/internal/jsonkeys"
	"github.com/outdial/outdial/internal/outdial"
)

// Decode decodes body into dst strictly: the body must be valid UTF-8
// (without escaped lone surrogates) holding exactly one JSON object, every key must match a field's JSON name
// exactly (encoding/json alone would accept "NAME" for "name"), and no
// unknown key is allowed, so that clients cannot set id, customer_id, tm_*
// or any other field the route does not take.
func Decode(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return outdial.Errorf(outdial.ECodeInvalidJSON, "body: a JSON object is required")
	}
	if !utf8.Valid(body) {
		return outdial.Errorf(outdial.ECodeInvalidJSON, "body: must be valid UTF-8")
	}
	// First pass: generic decode to check the keys against dst's type.
	var generic any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&generic); err != nil {
		return syntaxError(err)
	}
	// Only white space may follow the value (dec.More alone misses a
	// stray '}' or ']').
	if _, err := dec.Token(); err != io.EOF {
		return outdial.Errorf(outdial.ECodeInvalidJSON, "body: must hold exactly one JSON value")
	}
	if _, ok := generic.(map[string]any); !ok {
		return outdial.Errorf(outdial.ECodeInvalidJSON, "body: must be a JSON object")
	}
	if err := checkDuplicateKeys(body); err != nil {
		return err
	}
	if err := checkKeys(generic, reflect.TypeOf(dst), ""); err != nil {
		return err
	}
	// encoding/json turns an escaped lone surrogate ("\ud800") into
	// U+FFFD without a word: refuse it, naming the field.
	if err := outdial.CheckSurrogates(body); err != nil {
		return err
	}
	// Second pass: the typed decode.
	dec = json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := te.Field
			if field == "" {
				field = "body"
			}
			return outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be %s", describeKind(te.Type))
		}
		var fe interface{ Error() string }
		if errors.As(err, &fe) && strings.Contains(err.Error(), "unknown field") {
			return outdial.Errorf(outdial.ECodeUnknownField, "body: %s", err.Error())
		}
		return outdial.Errorf(outdial.ECodeInvalidField, "body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// checkDuplicateKeys rejects an object of body (already known to be valid
// JSON) that names a key twice: encoding/json would silently keep the last
// one.
func checkDuplicateKeys(body []byte) error {
	if key, dup := jsonkeys.Duplicate(body); dup {
		return outdial.FieldErrorf(outdial.ECodeInvalidJSON, key, "appears twice in one object")
	}
	return nil
}

func syntaxError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return outdial.Errorf(outdial.ECodeInvalidJSON, "body: invalid JSON at byte %d: %s", se.Offset, se.Error())
	}
	return outdial.Errorf(outdial.ECodeInvalidJSON, "body: invalid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func describeKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "of another type"
}

var (
	rawMessageType = reflect.TypeOf(json.RawMessage(nil))
	unmarshalerT   = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()
	fieldsCache    sync.Map // reflect.Type -> map[string]reflect.Type
)

// checkKeys walks v (from a generic decode) alongside type t and reports
// the first object key that names no field of the struct at that place.
func checkKeys(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType || t.Kind() == reflect.Interface || reflect.PointerTo(t).Implements(unmarshalerT) {
		return nil // free-form JSON or a type with its own decoding
	}
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil // the typed decode reports the type mismatch
		}
		fields := structFields(t)
		for k, fv := range obj {
			ft, ok := fields[k]
			name := joinPath(path, k)
			if !ok {
				return outdial.FieldErrorf(outdial.ECodeUnknownField, name, "is not a field this request accepts")
			}
			if err := checkKeys(fv, ft, name); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, ev := range arr {
			if err := checkKeys(ev, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// structFields maps the JSON names of t's fields to their types.
func structFields(t reflect.Type) map[string]reflect.Type {
	if f, ok := fieldsCache.Load(t); ok {
		return f.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	fieldsCache.Store(t, m)
	return m
}
