package csvimport

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/outdial/outdial/internal/destination"
	"github.com/outdial/outdial/internal/outdial"
)

func intp(n int) *int { return &n }

func tel(s string) *outdial.Address { return &outdial.Address{Type: outdial.TypeTel, Target: s} }

// rowErr is a Row rejected with code on field; messages are checked apart.
func rowErr(line int, code, field string) Row {
	return Row{Line: line, Err: &outdial.Error{Code: code, Field: field}}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Row
	}{
		{
			name: "seed scenario",
			in:   "destination,name,try_count_max\n+15551234567,John Smith,3\n+15552345678,Jane Doe,3\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Name: "John Smith", Destination: tel("+15551234567"), TryCountMax: intp(3)}},
				{Line: 3, Target: outdial.TargetCreate{Name: "Jane Doe", Destination: tel("+15552345678"), TryCountMax: intp(3)}},
			},
		},
		{
			name: "no trailing newline, header case and spaces",
			in:   " Destination , NAME ,Try_Count_Max,Detail\n+15551234567,John,,note",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Name: "John", Detail: "note", Destination: tel("+15551234567")}},
			},
		},
		{
			name: "type inferred",
			in:   "destination\nsip:user@pbx.company.com\nSIPS:alice@example.com\nalice@example.com\n(555) 123-4567\ntel:+15551234567\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Destination: &outdial.Address{Type: "sip", Target: "sip:user@pbx.company.com"}}},
				{Line: 3, Target: outdial.TargetCreate{Destination: &outdial.Address{Type: "sip", Target: "SIPS:alice@example.com"}}},
				{Line: 4, Target: outdial.TargetCreate{Destination: &outdial.Address{Type: "email", Target: "alice@example.com"}}},
				{Line: 5, Target: outdial.TargetCreate{Destination: tel("(555) 123-4567")}},
				{Line: 6, Target: outdial.TargetCreate{Destination: tel("tel:+15551234567")}},
			},
		},
		{
			name: "type column overrides inference",
			in:   "type,destination\nsip,1000@pbx.example.com\n,1000@pbx.example.com\nTEL,+15551234567\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Destination: &outdial.Address{Type: "sip", Target: "1000@pbx.example.com"}}},
				{Line: 3, Target: outdial.TargetCreate{Destination: &outdial.Address{Type: "email", Target: "1000@pbx.example.com"}}},
				{Line: 4, Target: outdial.TargetCreate{Destination: &outdial.Address{Type: "TEL", Target: "+15551234567"}}},
			},
		},
		{
			name: "tel sip email columns",
			in: "name,tel,TEL,email,sip,try_count_max\n" +
				"Ann,+15551234567,+15559876543,ann@example.com,,5\n" +
				"Bob,,+15551111111,,,\n" +
				"Cy,,,,sip:cy@pbx.example.com,\n" +
				"Dee,,,,,2\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Name: "Ann", TryCountMax: intp(5), Destinations: []outdial.DestinationCreate{
					{Type: "tel", Target: "+15551234567"},
					{Type: "tel", Target: "+15559876543"},
					{Type: "email", Target: "ann@example.com"},
				}}},
				{Line: 3, Target: outdial.TargetCreate{Name: "Bob", Destination: tel("+15551111111")}},
				{Line: 4, Target: outdial.TargetCreate{Name: "Cy", Destination: &outdial.Address{Type: "sip", Target: "sip:cy@pbx.example.com"}}},
				rowErr(5, outdial.ECodeMissingField, "destination"),
			},
		},
		{
			name: "quoted fields",
			in:   "destination,name,detail\n\"+1 555 123 4567\",\"Smith, John \"\"JJ\"\"\",\"\"\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Name: `Smith, John "JJ"`, Destination: tel("+1 555 123 4567")}},
			},
		},
		{
			name: "BOM",
			in:   "\xef\xbb\xbfdestination,name\n+15551234567,John\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Name: "John", Destination: tel("+15551234567")}},
			},
		},
		{
			name: "CRLF",
			in:   "destination,name\r\n+15551234567,John\r\n\r\n+15559876543,\"Jane\r\nDoe\"\r\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Name: "John", Destination: tel("+15551234567")}},
				{Line: 4, Target: outdial.TargetCreate{Name: "Jane\nDoe", Destination: tel("+15559876543")}},
			},
		},
		{
			name: "multi-line quoted field line numbers",
			in:   "destination,detail\n+15551234567,\"one\ntwo\nthree\"\n+15559876543,x\n\"+15551111111\n\",y\n+15552222222,z\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Detail: "one\ntwo\nthree", Destination: tel("+15551234567")}},
				{Line: 5, Target: outdial.TargetCreate{Detail: "x", Destination: tel("+15559876543")}},
				{Line: 6, Target: outdial.TargetCreate{Detail: "y", Destination: tel("+15551111111")}},
				{Line: 8, Target: outdial.TargetCreate{Detail: "z", Destination: tel("+15552222222")}},
			},
		},
		{
			name: "other columns go to data",
			in:   "destination,Appointment Time,clinic,notes\n+15551234567,2024-01-16 09:00,,\"<b>&\"\"q\"\"\"\n+15559876543,,,\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Destination: tel("+15551234567"), Data: dataText(`{"Appointment Time":"2024-01-16 09:00","notes":"<b>&\"q\""}`)}},
				{Line: 3, Target: outdial.TargetCreate{Destination: tel("+15559876543")}},
			},
		},
		{
			name: "duplicate rows are kept",
			in:   "destination\n+15551234567\n+15551234567\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Destination: tel("+15551234567")}},
				{Line: 3, Target: outdial.TargetCreate{Destination: tel("+15551234567")}},
			},
		},
		{
			name: "wrong field counts",
			in:   "destination,name\n+15551234567\n+15559876543,Jane,extra\n+15551111111,Bob\n",
			want: []Row{
				rowErr(2, outdial.ECodeInvalidField, ""),
				rowErr(3, outdial.ECodeInvalidField, ""),
				{Line: 4, Target: outdial.TargetCreate{Name: "Bob", Destination: tel("+15551111111")}},
			},
		},
		{
			name: "try_count_max",
			in:   "destination,try_count_max\n+15551234567,three\n+15551234567,2.5\n+15551234567, 4 \n+15551234567,-1\n+15551234567,99999999999999999999\n",
			want: []Row{
				rowErr(2, outdial.ECodeInvalidField, "try_count_max"),
				rowErr(3, outdial.ECodeInvalidField, "try_count_max"),
				{Line: 4, Target: outdial.TargetCreate{Destination: tel("+15551234567"), TryCountMax: intp(4)}},
				{Line: 5, Target: outdial.TargetCreate{Destination: tel("+15551234567"), TryCountMax: intp(-1)}}, // Validate's range check
				rowErr(6, outdial.ECodeInvalidField, "try_count_max"),
			},
		},
		{
			name: "missing destination",
			in:   "destination,name\n,John\n \t,Jane\n",
			want: []Row{
				rowErr(2, outdial.ECodeMissingField, "destination"),
				rowErr(3, outdial.ECodeMissingField, "destination"),
			},
		},
		{
			name: "blank lines and rows of empty cells are skipped",
			in:   "\n\ndestination,name\n\n,\n  ,  \n+15551234567,John\n\n",
			want: []Row{
				{Line: 7, Target: outdial.TargetCreate{Name: "John", Destination: tel("+15551234567")}},
			},
		},
		{
			name: "semicolon separated",
			in:   "destination;name;city\n+15551234567;Smith, John;Köln\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Name: "Smith, John", Destination: tel("+15551234567"), Data: dataText(`{"city":"Köln"}`)}},
			},
		},
		{
			name: "comma wins when the header has both",
			in:   "destination,name;x\n+15551234567,a;b\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Destination: tel("+15551234567"), Data: dataText(`{"name;x":"a;b"}`)}},
			},
		},
		{
			name: "broken quoting rejects the row only",
			in:   "destination,name\n+15551234567,Jo\"hn\n+15559876543,\"Jane\"x\n+15551111111,Bob\n",
			want: []Row{
				rowErr(2, outdial.ECodeInvalidField, ""),
				rowErr(3, outdial.ECodeInvalidField, ""),
				{Line: 4, Target: outdial.TargetCreate{Name: "Bob", Destination: tel("+15551111111")}},
			},
		},
		{
			name: "unterminated quote rejects the rest",
			in:   "destination,name\n+15551234567,John\n+15559876543,\"Jane\n+15551111111,Bob\n",
			want: []Row{
				{Line: 2, Target: outdial.TargetCreate{Name: "John", Destination: tel("+15551234567")}},
				rowErr(3, outdial.ECodeInvalidField, ""),
			},
		},
		{
			name: "header only",
			in:   "destination,name\n",
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tt.in), 100)
			if err != nil {
				t.Fatalf("Parse: got error %v", err)
			}
			for i := range got {
				if got[i].Err != nil {
					if !strings.HasPrefix(got[i].Err.Message, got[i].Err.Field) || got[i].Err.Message == "" {
						t.Errorf("row %d: message %q does not start with field %q", i, got[i].Err.Message, got[i].Err.Field)
					}
					got[i].Err = &outdial.Error{Code: got[i].Err.Code, Field: got[i].Err.Field}
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %s\nwant %s", dump(got), dump(tt.want))
			}
		})
	}
}

func TestParseRowMessages(t *testing.T) {
	in := "destination,name,try_count_max\n+15551234567\n,x,\n+15551234567,x,lots\n+15551234567,Jo\"hn,\n"
	got, err := Parse(strings.NewReader(in), 0)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := []string{
		"row has 1 fields, but the header has 3",
		"destination: is required: the row has no destination",
		"try_count_max: must be a whole number between 1 and 20",
		"row is not valid CSV: bare \" in non-quoted-field",
	}
	if len(got) != len(want) {
		t.Fatalf("Parse: got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Err == nil || got[i].Err.Message != want[i] {
			t.Errorf("row %d: got %+v, want message %q", i, got[i].Err, want[i])
		}
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		maxRows int
		code    string
		message string
	}{
		{"empty", "", 10, outdial.ECodeInvalidCSV, "is empty"},
		{"only BOM", "\xef\xbb\xbf", 10, outdial.ECodeInvalidCSV, "is empty"},
		{"only blank lines", "\n\r\n,,\n", 10, outdial.ECodeInvalidCSV, "is empty"},
		{"no destination column", "name,phone\nJohn,+15551234567\n", 10, outdial.ECodeInvalidCSV, "destination column"},
		{"destinations is not destination", "destinations\n+15551234567\n", 10, outdial.ECodeInvalidCSV, "destination column"},
		{"destination and tel", "destination,tel\n+15551234567,\n", 10, outdial.ECodeInvalidCSV, "not both"},
		{"type without destination", "tel,type\n+15551234567,tel\n", 10, outdial.ECodeInvalidCSV, "type column"},
		{"duplicate name", "destination,Name,name\n", 10, outdial.ECodeInvalidCSV, `"name" more than once`},
		{"duplicate destination", "destination,DESTINATION\n", 10, outdial.ECodeInvalidCSV, "more than once"},
		{"duplicate try_count_max", "tel,try_count_max,try_count_max\n", 10, outdial.ECodeInvalidCSV, "more than once"},
		{"duplicate data column", "destination,city, city\n", 10, outdial.ECodeInvalidCSV, `"city" more than once`},
		{"empty header name", "destination,,name\n", 10, outdial.ECodeInvalidCSV, "column 2 has no name"},
		{"bad header quoting", "destination,na\"me\n", 10, outdial.ECodeInvalidCSV, "header (line 1) is not valid CSV"},
		{"invalid UTF-8", "destination,name\n+15551234567,\xff\xfe\n", 10, outdial.ECodeInvalidCSV, "UTF-8"},
		{"UTF-16", "\xff\xfed\x00e\x00s\x00t\x00", 10, outdial.ECodeInvalidCSV, "UTF-8"},
		{"huge line", "destination,name\n+15551234567," + strings.Repeat("a", MaxLineBytes) + "\n", 10, outdial.ECodeInvalidCSV, "line 2 is longer than 32768 bytes"},
		{"huge header", strings.Repeat("a,", MaxLineBytes/2+1) + "destination\n", 10, outdial.ECodeInvalidCSV, "line 1 is longer"},
		{"too many rows", "destination\n+15551234567\n+15551234568\n+15551234569\n", 2, outdial.ECodeBodyTooLarge, "at most 2 rows"},
		{"too many rows, rejected ones count", "destination\nx,y\n+15551234567\n", 1, outdial.ECodeBodyTooLarge, "at most 1 rows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := Parse(strings.NewReader(tt.in), tt.maxRows)
			var e *outdial.Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse: got %d rows, error %v, want *outdial.Error %s", len(rows), err, tt.code)
			}
			if e.Code != tt.code || e.Field != "body" || !strings.HasPrefix(e.Message, "body: ") || !strings.Contains(e.Message, tt.message) {
				t.Errorf("Parse: got %+v, want code %q field body and a message with %q", e, tt.code, tt.message)
			}
		})
	}
}

func TestParseMaxRows(t *testing.T) {
	in := "destination\n+15551234567\n\n,\n+15551234568,x\n"
	rows, err := Parse(strings.NewReader(in), 2)
	if err != nil || len(rows) != 2 {
		t.Fatalf("Parse with exactly maxRows rows: got %d rows, %v; want 2 rows", len(rows), err)
	}
	if _, err := Parse(strings.NewReader(in), 1); outdial.ErrorCode(err) != outdial.ECodeBodyTooLarge {
		t.Errorf("Parse with maxRows 1: got %v, want %s", err, outdial.ECodeBodyTooLarge)
	}
	big := "destination\n" + strings.Repeat("+15551234567\n", outdial.MaxTargetsPerRequest+1)
	if _, err := Parse(strings.NewReader(big), 0); outdial.ErrorCode(err) != outdial.ECodeBodyTooLarge {
		t.Errorf("Parse with default maxRows: got %v, want %s", err, outdial.ECodeBodyTooLarge)
	}
}

// TestParseThenValidate runs the rows through TargetCreate.Validate, as
// the import handler does.
func TestParseThenValidate(t *testing.T) {
	in := "name,tel,email,try_count_max,plan\n" +
		"Ann,(555) 123-4567,Ann@Example.com,2,gold\n" +
		"Bob,+1 555 987 6543,,,\n" +
		"Cy,1-800-FLOWERS,,,\n"
	rows, err := Parse(strings.NewReader(in), 10)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var got []string
	for _, r := range rows {
		if r.Err != nil {
			t.Fatalf("line %d: %v", r.Line, r.Err)
		}
		nt, err := r.Target.Validate(destination.Normalizer{DefaultRegion: "US"})
		if err != nil {
			got = append(got, outdial.ErrorMessage(err))
			continue
		}
		var ds []string
		for _, d := range nt.Destinations {
			ds = append(ds, d.Address().Key()+"*"+strings.Repeat("x", d.TryCountMax))
		}
		got = append(got, nt.Name+" "+strings.Join(ds, ",")+" "+nt.Data)
	}
	want := []string{
		`Ann tel:+15551234567*xx,email:ann@example.com*xx {"plan":"gold"}`,
		"Bob tel:+15559876543*xxx ",
		"destination.target: must be a phone number of digits only: letters (vanity numbers, extensions) are not accepted",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func dump(rows []Row) string {
	b, _ := json.MarshalIndent(rows, "", "  ")
	return string(b)
}

// dataText is the data of a row whose extra columns make the JSON object
// obj: the object encoded as a JSON string (data is text).
func dataText(obj string) json.RawMessage {
	b, _ := json.Marshal(obj)
	return b
}
