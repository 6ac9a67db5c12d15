package outcome_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/outdial/outdial/internal/outcome"
	"github.com/outdial/outdial/internal/outdial"
)

// parseBudget bounds one Parse call: a body is at most MaxMessageBytes, so
// anything slower is a pathological case.
const parseBudget = time.Second

// FuzzParse checks that Parse never panics, stays fast, accepts only
// valid UTF-8 holding one object whose keys are the contract's, each once
// and spelled exactly (checked here independently of strictjson), and that
// every message it accepts survives a round trip: encoding the outcome it
// returned as a message and parsing that gives the same outcome.
func FuzzParse(f *testing.F) {
	seeds := []string{
		body(nil),
		body(map[string]any{"result": "answered"}),
		body(map[string]any{"result": "invalid", "retry_after_seconds": 0}),
		body(map[string]any{"retry_after_seconds": outcome.MaxRetryAfter}),
		body(map[string]any{"retry_after_seconds": -1}),
		body(map[string]any{"result": "expired"}),
		body(map[string]any{"outdial_id": strings.ToUpper(testOutdial)}),
		body(map[string]any{"extra": true}),
		body(nil) + body(nil),
		`{"attempt_id":"","outdial_id":"","target_id":"","result":""}`,
		`{"retry_after_seconds":1e400}`,
		`[]`, `null`, `""`, `{`, ``,
		`{"result":"busy","result":"answered"}`,
		strings.Replace(body(map[string]any{"result": "answered"}), `"result":"answered"`, `"result":"answered","result":"busy"`, 1),
		strings.Replace(body(nil), `"result"`, `"Result"`, 1),
		strings.Replace(body(nil), `"busy"`, "\"b\xffusy\"", 1),
		strings.Replace(body(nil), `"busy"`, `"b\ud800usy"`, 1),
		"{\"attempt_id\":\"\u0000\"}",
		strings.Repeat("[", 5000),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		start := time.Now()
		o, err := outcome.Parse(in)
		if d := time.Since(start); d > parseBudget {
			t.Errorf("Parse of %d bytes took %v (budget %v)", len(in), d, parseBudget)
		}
		if err != nil {
			if outdial.ErrorCode(err) == outdial.ECodeInternal {
				t.Errorf("Parse error is not an *outdial.Error: %v", err)
			}
			return
		}
		if !utf8.ValidString(in) {
			t.Errorf("Parse accepted invalid UTF-8 %q", in)
		}
		if keys := topLevelKeys(t, in); keys != nil {
			seen := map[string]bool{}
			for _, k := range keys {
				if seen[k] || !contract[k] {
					t.Errorf("Parse accepted %q: key %q repeated or not in the contract", in, k)
				}
				seen[k] = true
			}
		}
		if len(in) > outcome.MaxMessageBytes {
			t.Errorf("Parse accepted %d bytes (max %d)", len(in), outcome.MaxMessageBytes)
		}
		if _, err := outdial.ParseResult(string(o.Result)); err != nil {
			t.Errorf("accepted result %q: %v", o.Result, err)
		}
		if _, err := outdial.ParseAttemptID(o.AttemptID); err != nil {
			t.Errorf("accepted attempt id %q: %v", o.AttemptID, err)
		}
		for _, id := range []string{o.OutdialID, o.TargetID} {
			if canon, err := outdial.ParseID("id", id); err != nil || canon != id {
				t.Errorf("accepted id %q is not a canonical UUID (%v)", id, err)
			}
		}
		m := outcome.Message{AttemptID: o.AttemptID, OutdialID: o.OutdialID, TargetID: o.TargetID, Result: string(o.Result)}
		if o.RetryAfter != nil {
			d := *o.RetryAfter
			if d < 0 || d > outcome.MaxRetryAfter*time.Second || d%time.Second != 0 {
				t.Errorf("accepted retry after %v", d)
			}
			s := int(d / time.Second)
			m.RetryAfterSeconds = &s
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		again, err := outcome.Parse(string(b))
		if err != nil {
			t.Fatalf("re-encoded message %s rejected: %v", b, err)
		}
		if again.AttemptID != o.AttemptID || again.OutdialID != o.OutdialID || again.TargetID != o.TargetID || again.Result != o.Result ||
			(again.RetryAfter == nil) != (o.RetryAfter == nil) || (o.RetryAfter != nil && *again.RetryAfter != *o.RetryAfter) {
			t.Errorf("round trip: %+v became %+v", o, again)
		}
	})
}

var contract = map[string]bool{"attempt_id": true, "outdial_id": true, "target_id": true, "result": true, "retry_after_seconds": true}

// topLevelKeys lists the keys of the JSON object in, in order and with
// repeats (encoding/json's map decoding would fold them).
func topLevelKeys(t *testing.T, in string) []string {
	dec := json.NewDecoder(strings.NewReader(in))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Errorf("Parse accepted %q, which is not a JSON object", in)
		return nil
	}
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Errorf("Parse accepted %q: %v", in, err)
			return nil
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Errorf("Parse accepted %q: %v", in, err)
			return nil
		}
	}
	return keys
}
