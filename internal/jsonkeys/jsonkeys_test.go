package jsonkeys_test

import (
	"testing"

	"github.com/outdial/outdial/internal/jsonkeys"
)

func TestDuplicate(t *testing.T) {
	tests := []struct {
		in, key string
		found   bool
	}{
		{`{"a":1,"b":2}`, "", false},
		{`{"a":1,"a":2}`, "a", true},
		{`{"a":{"b":1,"b":2}}`, "b", true},
		{`{"a":[{"b":1},{"b":2}]}`, "", false}, // one b in each object
		{`{"a":[1,{"c":"c","c":3}]}`, "c", true},
		{`{"a":"a","b":{"a":1}}`, "", false}, // same key, other objects
		{`{"x":"b","b":1}`, "", false},       // a value equal to a later key
		{`{"n":1e400,"k":1,"k":2}`, "k", true},
		{`[{"k":1},{"k":1,"k":1}]`, "k", true},
	}
	for _, tt := range tests {
		key, found := jsonkeys.Duplicate([]byte(tt.in))
		if key != tt.key || found != tt.found {
			t.Errorf("Duplicate(%s) = %q, %v; want %q, %v", tt.in, key, found, tt.key, tt.found)
		}
	}
}
