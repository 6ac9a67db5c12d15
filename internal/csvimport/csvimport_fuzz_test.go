package csvimport

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/outdial/outdial/internal/outdial"
)

func FuzzParseCSV(f *testing.F) {
	for _, s := range []string{
		"destination,name,try_count_max\n+15551234567,John Smith,3\n+15552345678,Jane Doe,3\n",
		"\xef\xbb\xbfdestination,type\r\nsip:user@pbx.company.com,\r\nalice@example.com,email\r\n",
		"name,tel,tel,email,sip\nAnn,+15551234567,+15559876543,ann@example.com,\nBob,,,,\n",
		"destination,detail,Appointment Time\n+15551234567,\"one\ntwo, \"\"three\"\"\",09:00\n",
		"destination;name;city\n+15551234567;Smith, John;Köln\n",
		"destination,name\n+15551234567\n+1,a,b\n+15551234567,Jo\"hn\n+1555,\"Jane\n",
		"destination,try_count_max\n+15551234567,x\n,3\n\n,\n",
		"destination,,name\n",
		"tel,type\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		const maxRows = 50
		rows, err := Parse(strings.NewReader(in), maxRows)
		if err != nil {
			var e *outdial.Error
			if !errors.As(err, &e) || e.Field != "body" || (e.Code != outdial.ECodeInvalidCSV && e.Code != outdial.ECodeBodyTooLarge) {
				t.Fatalf("Parse: error %v", err)
			}
			if rows != nil {
				t.Fatalf("Parse: %d rows with error %v", len(rows), err)
			}
			return
		}
		if len(rows) > maxRows {
			t.Fatalf("Parse: got %d rows, more than %d", len(rows), maxRows)
		}
		last := 1 // the header's line at least
		for i, r := range rows {
			if r.Line <= last {
				t.Fatalf("row %d: line %d after line %d", i, r.Line, last)
			}
			last = r.Line
			if r.Err != nil {
				if r.Err.Code == "" || r.Err.Message == "" || !reflectZero(r.Target) {
					t.Fatalf("row %d: error %+v with target %+v", i, r.Err, r.Target)
				}
				continue
			}
			tc := r.Target
			if (tc.Destination == nil) == (len(tc.Destinations) == 0) {
				t.Fatalf("row %d: want destination or destinations, got %+v", i, tc)
			}
			if tc.Destination != nil && tc.Destination.Target == "" || len(tc.Destinations) == 1 {
				t.Fatalf("row %d: bad destination in %+v", i, tc)
			}
			for _, d := range tc.Destinations {
				if d.Target == "" || d.Type == "" {
					t.Fatalf("row %d: empty destination in %+v", i, tc)
				}
			}
			if tc.Data != nil {
				// data is text (as in VoIPBIN): a JSON string whose text is
				// the object of the extra columns.
				var text string
				if err := json.Unmarshal(tc.Data, &text); err != nil {
					t.Fatalf("row %d: data %s is not a JSON string: %v", i, tc.Data, err)
				}
				var m map[string]string
				if err := json.Unmarshal([]byte(text), &m); err != nil || len(m) == 0 {
					t.Fatalf("row %d: data %q is not a non-empty object of strings: %v", i, text, err)
				}
			}
		}
	})
}

func reflectZero(tc outdial.TargetCreate) bool {
	return tc.Name == "" && tc.Detail == "" && tc.Data == nil && tc.Destination == nil && tc.TryCountMax == nil && tc.Destinations == nil
}
