package outdial

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

var allWindowDays = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

func mustLoadZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := LoadZone(name)
	if err != nil {
		t.Fatalf("LoadZone(%q): %v", name, err)
	}
	return loc
}

// wallIn is the wall-clock time "2006-01-02 15:04:05" in zone name.
func wallIn(t testing.TB, name, wall string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04:05", wall, mustLoadZone(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustUTC(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCallingWindowValidate(t *testing.T) {
	ok := func(mod func(w *CallingWindow)) CallingWindow {
		w := CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon", "tue"}, Timezone: "America/New_York"}
		mod(&w)
		return w
	}
	tests := []struct {
		name      string
		in        CallingWindow
		wantCode  string // "" for success
		wantField string
		want      CallingWindow // after success
	}{
		{"valid", ok(func(*CallingWindow) {}), "", "",
			CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon", "tue"}, Timezone: "America/New_York"}},
		{"whole day", ok(func(w *CallingWindow) { w.Start, w.End = "00:00", "24:00" }), "", "",
			CallingWindow{Start: "00:00", End: "24:00", Days: []string{"mon", "tue"}, Timezone: "America/New_York"}},
		{"last minute", ok(func(w *CallingWindow) { w.Start, w.End = "23:59", "24:00" }), "", "",
			CallingWindow{Start: "23:59", End: "24:00", Days: []string{"mon", "tue"}, Timezone: "America/New_York"}},
		{"one minute", ok(func(w *CallingWindow) { w.Start, w.End = "09:00", "09:01" }), "", "",
			CallingWindow{Start: "09:00", End: "09:01", Days: []string{"mon", "tue"}, Timezone: "America/New_York"}},
		{"days deduped and ordered", ok(func(w *CallingWindow) { w.Days = []string{"sun", "fri", "mon", "fri", "sun"} }), "", "",
			CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon", "fri", "sun"}, Timezone: "America/New_York"}},
		{"days absent", ok(func(w *CallingWindow) { w.Days = nil }), "", "",
			CallingWindow{Start: "09:00", End: "20:00", Days: allWindowDays, Timezone: "America/New_York"}},
		{"days empty", ok(func(w *CallingWindow) { w.Days = []string{} }), "", "",
			CallingWindow{Start: "09:00", End: "20:00", Days: allWindowDays, Timezone: "America/New_York"}},
		{"all days reversed", ok(func(w *CallingWindow) { w.Days = []string{"sun", "sat", "fri", "thu", "wed", "tue", "mon"} }), "", "",
			CallingWindow{Start: "09:00", End: "20:00", Days: allWindowDays, Timezone: "America/New_York"}},
		{"UTC", ok(func(w *CallingWindow) { w.Timezone = "UTC" }), "", "",
			CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon", "tue"}, Timezone: "UTC"}},
		{"link zone kept", ok(func(w *CallingWindow) { w.Timezone = "US/Eastern" }), "", "",
			CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon", "tue"}, Timezone: "US/Eastern"}},
		{"Etc zone", ok(func(w *CallingWindow) { w.Timezone = "Etc/GMT+5" }), "", "",
			CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon", "tue"}, Timezone: "Etc/GMT+5"}},

		{"start missing", ok(func(w *CallingWindow) { w.Start = "" }), ECodeMissingField, "w.start", CallingWindow{}},
		{"end missing", ok(func(w *CallingWindow) { w.End = "" }), ECodeMissingField, "w.end", CallingWindow{}},
		{"start one-digit hour", ok(func(w *CallingWindow) { w.Start = "9:00" }), ECodeInvalidField, "w.start", CallingWindow{}},
		{"start hour 25", ok(func(w *CallingWindow) { w.Start = "25:00" }), ECodeInvalidField, "w.start", CallingWindow{}},
		{"start 24:00", ok(func(w *CallingWindow) { w.Start = "24:00" }), ECodeInvalidField, "w.start", CallingWindow{}},
		{"start minute 60", ok(func(w *CallingWindow) { w.Start = "09:60" }), ECodeInvalidField, "w.start", CallingWindow{}},
		{"start no colon", ok(func(w *CallingWindow) { w.Start = "0900" }), ECodeInvalidField, "w.start", CallingWindow{}},
		{"start seconds", ok(func(w *CallingWindow) { w.Start = "09:00:00" }), ECodeInvalidField, "w.start", CallingWindow{}},
		{"start spaces", ok(func(w *CallingWindow) { w.Start = " 09:00" }), ECodeInvalidField, "w.start", CallingWindow{}},
		{"start signed", ok(func(w *CallingWindow) { w.Start = "+9:00" }), ECodeInvalidField, "w.start", CallingWindow{}},
		{"start dot", ok(func(w *CallingWindow) { w.Start = "09.00" }), ECodeInvalidField, "w.start", CallingWindow{}},
		{"start letters", ok(func(w *CallingWindow) { w.Start = "9am" }), ECodeInvalidField, "w.start", CallingWindow{}},
		{"start full-width digits", ok(func(w *CallingWindow) { w.Start = "０9:00" }), ECodeInvalidField, "w.start", CallingWindow{}},
		{"end hour 25", ok(func(w *CallingWindow) { w.End = "25:00" }), ECodeInvalidField, "w.end", CallingWindow{}},
		{"end 24:01", ok(func(w *CallingWindow) { w.End = "24:01" }), ECodeInvalidField, "w.end", CallingWindow{}},
		{"end one-digit hour", ok(func(w *CallingWindow) { w.Start, w.End = "08:00", "9:00" }), ECodeInvalidField, "w.end", CallingWindow{}},
		{"end equals start", ok(func(w *CallingWindow) { w.End = "09:00" }), ECodeInvalidField, "w.end", CallingWindow{}},
		{"end before start", ok(func(w *CallingWindow) { w.End = "08:59" }), ECodeInvalidField, "w.end", CallingWindow{}},
		{"across midnight", ok(func(w *CallingWindow) { w.Start, w.End = "22:00", "02:00" }), ECodeInvalidField, "w.end", CallingWindow{}},
		{"end 00:00", ok(func(w *CallingWindow) { w.Start, w.End = "00:00", "00:00" }), ECodeInvalidField, "w.end", CallingWindow{}},
		{"day long name", ok(func(w *CallingWindow) { w.Days = []string{"mon", "tuesday"} }), ECodeInvalidField, "w.days[1]", CallingWindow{}},
		{"day monday", ok(func(w *CallingWindow) { w.Days = []string{"monday"} }), ECodeInvalidField, "w.days[0]", CallingWindow{}},
		{"day capitalised", ok(func(w *CallingWindow) { w.Days = []string{"Mon"} }), ECodeInvalidField, "w.days[0]", CallingWindow{}},
		{"day upper case", ok(func(w *CallingWindow) { w.Days = []string{"mon", "tue", "WED"} }), ECodeInvalidField, "w.days[2]", CallingWindow{}},
		{"day empty string", ok(func(w *CallingWindow) { w.Days = []string{""} }), ECodeInvalidField, "w.days[0]", CallingWindow{}},
		{"day padded", ok(func(w *CallingWindow) { w.Days = []string{" mon"} }), ECodeInvalidField, "w.days[0]", CallingWindow{}},
		{"day number", ok(func(w *CallingWindow) { w.Days = []string{"1"} }), ECodeInvalidField, "w.days[0]", CallingWindow{}},
		{"timezone missing", ok(func(w *CallingWindow) { w.Timezone = "" }), ECodeMissingField, "w.timezone", CallingWindow{}},
		{"timezone unknown", ok(func(w *CallingWindow) { w.Timezone = "Mars/Base" }), ECodeInvalidField, "w.timezone", CallingWindow{}},
		{"timezone Local", ok(func(w *CallingWindow) { w.Timezone = "Local" }), ECodeInvalidField, "w.timezone", CallingWindow{}},
		{"timezone lower case", ok(func(w *CallingWindow) { w.Timezone = "america/new_york" }), ECodeInvalidField, "w.timezone", CallingWindow{}},
		{"timezone padded", ok(func(w *CallingWindow) { w.Timezone = " America/New_York" }), ECodeInvalidField, "w.timezone", CallingWindow{}},
		{"timezone path", ok(func(w *CallingWindow) { w.Timezone = "../../etc/passwd" }), ECodeInvalidField, "w.timezone", CallingWindow{}},
		{"timezone posixrules", ok(func(w *CallingWindow) { w.Timezone = "posixrules" }), ECodeInvalidField, "w.timezone", CallingWindow{}},
		{"timezone offset", ok(func(w *CallingWindow) { w.Timezone = "+05:00" }), ECodeInvalidField, "w.timezone", CallingWindow{}},
	}
	for _, tt := range tests {
		w := tt.in
		w.Days = slices.Clone(tt.in.Days) // keeps nil and empty apart
		err := w.Validate("w")
		if tt.wantCode == "" {
			if err != nil {
				t.Errorf("%s: Validate(%+v): %v", tt.name, tt.in, err)
				continue
			}
			if !reflect.DeepEqual(w, tt.want) {
				t.Errorf("%s: Validate(%+v) left %+v, want %+v", tt.name, tt.in, w, tt.want)
			}
			// Validating again changes nothing.
			again := w
			again.Days = slices.Clone(w.Days)
			if err := again.Validate("w"); err != nil || !again.Equal(&w) {
				t.Errorf("%s: validating %+v again: %v, %+v", tt.name, w, err, again)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: Validate(%+v): got %v, want *Error %s on %s", tt.name, tt.in, err, tt.wantCode, tt.wantField)
			continue
		}
		if e.Code != tt.wantCode || e.Field != tt.wantField {
			t.Errorf("%s: Validate(%+v): got %s on %s (%s), want %s on %s", tt.name, tt.in, e.Code, e.Field, e.Message, tt.wantCode, tt.wantField)
		}
		if !strings.HasPrefix(e.Message, tt.wantField+": ") {
			t.Errorf("%s: message %q does not name %s", tt.name, e.Message, tt.wantField)
		}
	}
}

func TestCallingWindowValidateErrorsSayWhatIsAllowed(t *testing.T) {
	for _, tt := range []struct {
		w    CallingWindow
		want string
	}{
		{CallingWindow{Start: "9:00", End: "20:00", Timezone: "UTC"}, `"HH:MM"`},
		{CallingWindow{Start: "09:00", End: "25:00", Timezone: "UTC"}, "24:00"},
		{CallingWindow{Start: "09:00", End: "08:00", Timezone: "UTC"}, "after start (09:00)"},
		{CallingWindow{Start: "09:00", End: "20:00", Days: []string{"Mon"}, Timezone: "UTC"}, "mon, tue, wed, thu, fri, sat, sun"},
		{CallingWindow{Start: "09:00", End: "20:00", Timezone: "Mars/Base"}, "IANA time zone name"},
		{CallingWindow{Start: "09:00", End: "20:00"}, "IANA time zone name"},
	} {
		err := tt.w.Validate("calling_window")
		if err == nil || !strings.Contains(ErrorMessage(err), tt.want) {
			t.Errorf("Validate(%+v): got %v, want a message with %q", tt.w, err, tt.want)
		}
	}
}

func TestCallingWindowValidateFailureLeavesWindow(t *testing.T) {
	w := CallingWindow{Start: "09:00", End: "20:00", Timezone: "Mars/Base"}
	if err := w.Validate("w"); err == nil {
		t.Fatal("Validate accepted Mars/Base")
	}
	if w.Days != nil {
		t.Errorf("failed Validate set Days to %v", w.Days)
	}
}

func TestCallingWindowEqual(t *testing.T) {
	a := &CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon"}, Timezone: "UTC"}
	same := &CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon"}, Timezone: "UTC"}
	tests := []struct {
		a, b *CallingWindow
		want bool
	}{
		{nil, nil, true},
		{a, nil, false},
		{nil, a, false},
		{a, a, true},
		{a, same, true},
		{a, &CallingWindow{Start: "09:01", End: "20:00", Days: []string{"mon"}, Timezone: "UTC"}, false},
		{a, &CallingWindow{Start: "09:00", End: "20:01", Days: []string{"mon"}, Timezone: "UTC"}, false},
		{a, &CallingWindow{Start: "09:00", End: "20:00", Days: []string{"tue"}, Timezone: "UTC"}, false},
		{a, &CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon", "tue"}, Timezone: "UTC"}, false},
		{a, &CallingWindow{Start: "09:00", End: "20:00", Days: nil, Timezone: "UTC"}, false},
		{a, &CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon"}, Timezone: "Etc/UTC"}, false},
	}
	for i, tt := range tests {
		if got := tt.a.Equal(tt.b); got != tt.want {
			t.Errorf("%d: %+v.Equal(%+v) = %v, want %v", i, tt.a, tt.b, got, tt.want)
		}
	}
}

func TestLoadZone(t *testing.T) {
	for _, name := range []string{"America/New_York", "Europe/London", "UTC", "Etc/UTC", "US/Eastern", "Etc/GMT+5", "Etc/GMT-14",
		"America/Argentina/ComodRivadavia", "America/Port-au-Prince", "Asia/Kolkata", "Australia/Lord_Howe"} {
		loc, err := LoadZone(name)
		if err != nil {
			t.Errorf("LoadZone(%q): %v", name, err)
			continue
		}
		if loc.String() != name {
			t.Errorf("LoadZone(%q) = %s", name, loc)
		}
		if again, _ := LoadZone(name); again != loc {
			t.Errorf("LoadZone(%q) twice gave two locations", name)
		}
	}
	for _, name := range []string{"", "Local", "Mars/Base", "America/Gotham", "america/new_york", "AMERICA/NEW_YORK",
		"America/New_York ", "America//New_York", "/America/New_York", "America/New_York/", "/etc/passwd",
		"../zoneinfo/UTC", "America/../UTC", `America\New_York`, "localtime", "posixrules", "posix/UTC", "right/UTC",
		"zone.tab", "tzdata.zi", "UTC+1", "+01:00", "EST+5", strings.Repeat("A", MaxZoneNameLen+1)} {
		if loc, err := LoadZone(name); err == nil {
			t.Errorf("LoadZone(%q) = %v, want an error", name, loc)
		}
	}
	// A failed name is not cached, and stays refused.
	if _, err := LoadZone("Mars/Base"); err == nil {
		t.Error("LoadZone(Mars/Base) succeeded the second time")
	}
}

func TestValidateTimezone(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"America/New_York", "America/New_York"},
		{"UTC", "UTC"},
		{"Asia/Kolkata", "Asia/Kolkata"},
	} {
		got, err := ValidateTimezone("targets[0].timezone", tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ValidateTimezone(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"Local", "Mars/Base", "America/New_York\n", "-05:00"} {
		got, err := ValidateTimezone("targets[0].timezone", in)
		var e *Error
		if !errors.As(err, &e) || e.Code != ECodeInvalidField || e.Field != "targets[0].timezone" ||
			!strings.HasPrefix(e.Message, "targets[0].timezone: ") {
			t.Errorf("ValidateTimezone(%q) = %q, %v, want invalid_field on targets[0].timezone", in, got, err)
		}
	}
}

func TestOpenIn(t *testing.T) {
	ny := mustLoadZone(t, "America/New_York")
	chi := mustLoadZone(t, "America/Chicago")
	weekdays := &CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon", "tue", "wed", "thu", "fri"}, Timezone: "America/New_York"}
	wholeDay := &CallingWindow{Start: "00:00", End: "24:00", Days: []string{"sat"}, Timezone: "America/New_York"}
	// 2024-06-04 is a Tuesday, 2024-06-08 a Saturday.
	tests := []struct {
		name  string
		w     *CallingWindow
		t     time.Time
		zones []*time.Location
		want  bool
	}{
		{"before start", weekdays, wallIn(t, "America/New_York", "2024-06-04 08:59:59"), []*time.Location{ny}, false},
		{"just before start, fraction", weekdays, wallIn(t, "America/New_York", "2024-06-04 08:59:59").Add(999 * time.Millisecond), []*time.Location{ny}, false},
		{"at start", weekdays, wallIn(t, "America/New_York", "2024-06-04 09:00:00"), []*time.Location{ny}, true},
		{"middle", weekdays, wallIn(t, "America/New_York", "2024-06-04 13:30:00"), []*time.Location{ny}, true},
		{"last second", weekdays, wallIn(t, "America/New_York", "2024-06-04 19:59:59"), []*time.Location{ny}, true},
		{"last nanosecond", weekdays, wallIn(t, "America/New_York", "2024-06-04 20:00:00").Add(-1), []*time.Location{ny}, true},
		{"at end", weekdays, wallIn(t, "America/New_York", "2024-06-04 20:00:00"), []*time.Location{ny}, false},
		{"after end", weekdays, wallIn(t, "America/New_York", "2024-06-04 23:00:00"), []*time.Location{ny}, false},
		{"saturday", weekdays, wallIn(t, "America/New_York", "2024-06-08 12:00:00"), []*time.Location{ny}, false},
		{"t's own zone does not matter", weekdays, wallIn(t, "Asia/Tokyo", "2024-06-05 02:00:00"), []*time.Location{ny}, true},                            // 13:00 Tue in New York
		{"weekday is the zone's", weekdays, wallIn(t, "America/New_York", "2024-06-07 19:30:00"), []*time.Location{mustLoadZone(t, "Asia/Tokyo")}, false}, // Sat 08:30 in Tokyo
		{"two zones, both open", weekdays, wallIn(t, "America/New_York", "2024-06-04 10:00:00"), []*time.Location{ny, chi}, true},
		{"two zones, Chicago not yet", weekdays, wallIn(t, "America/New_York", "2024-06-04 09:59:59"), []*time.Location{ny, chi}, false},
		{"two zones, New York closed", weekdays, wallIn(t, "America/New_York", "2024-06-04 20:00:00"), []*time.Location{ny, chi}, false},
		{"no zones: the window's", weekdays, wallIn(t, "America/New_York", "2024-06-04 09:00:00"), nil, true},
		{"no zones: the window's, closed", weekdays, wallIn(t, "America/Chicago", "2024-06-04 07:30:00"), nil, false}, // 08:30 in New York
		{"nil zone: the window's", weekdays, wallIn(t, "America/New_York", "2024-06-04 09:30:00"), []*time.Location{chi, nil}, false},
		{"whole day, midnight", wholeDay, wallIn(t, "America/New_York", "2024-06-08 00:00:00"), []*time.Location{ny}, true},
		{"whole day, last second", wholeDay, wallIn(t, "America/New_York", "2024-06-08 23:59:59"), []*time.Location{ny}, true},
		{"whole day, next midnight", wholeDay, wallIn(t, "America/New_York", "2024-06-09 00:00:00"), []*time.Location{ny}, false},
		{"whole day, previous night", wholeDay, wallIn(t, "America/New_York", "2024-06-07 23:59:59"), []*time.Location{ny}, false},
		{"invalid window", &CallingWindow{Start: "9:00", End: "20:00", Timezone: "America/New_York"}, wallIn(t, "America/New_York", "2024-06-04 12:00:00"), []*time.Location{ny}, false},
		{"bad zone, none given", &CallingWindow{Start: "09:00", End: "20:00", Timezone: "Mars/Base"}, wallIn(t, "America/New_York", "2024-06-04 12:00:00"), nil, false},
		{"unvalidated empty days: every day", &CallingWindow{Start: "09:00", End: "20:00", Timezone: "America/New_York"}, wallIn(t, "America/New_York", "2024-06-08 12:00:00"), []*time.Location{ny}, true},
	}
	for _, tt := range tests {
		if got := tt.w.OpenIn(tt.t, tt.zones); got != tt.want {
			t.Errorf("%s: OpenIn(%v) = %v, want %v", tt.name, tt.t, got, tt.want)
		}
	}
}

func TestNextOpen(t *testing.T) {
	ny := mustLoadZone(t, "America/New_York")
	chi := mustLoadZone(t, "America/Chicago")
	weekdays := &CallingWindow{Start: "09:00", End: "20:00", Days: []string{"mon", "tue", "wed", "thu", "fri"}, Timezone: "America/New_York"}
	daily := func(start, end string, days ...string) *CallingWindow {
		return &CallingWindow{Start: start, End: end, Days: days, Timezone: "America/New_York"}
	}
	zones := func(names ...string) []*time.Location {
		out := make([]*time.Location, len(names))
		for i, n := range names {
			out[i] = mustLoadZone(t, n)
		}
		return out
	}
	const never = ""
	// 2024-06-04 is a Tuesday. New York changed to EDT on Sunday
	// 2024-03-10 at 02:00 EST (07:00Z) and back to EST on Sunday 2024-11-03
	// at 02:00 EDT (06:00Z); London to GMT on Sunday 2024-10-27 at 02:00 BST
	// (01:00Z).
	tests := []struct {
		name  string
		w     *CallingWindow
		t     time.Time
		zones []*time.Location
		want  string // RFC 3339 UTC, or never
	}{
		{"same day later", weekdays, wallIn(t, "America/New_York", "2024-06-04 07:00:00"), []*time.Location{ny}, "2024-06-04T13:00:00Z"},
		{"a second before start", weekdays, wallIn(t, "America/New_York", "2024-06-04 08:59:59"), []*time.Location{ny}, "2024-06-04T13:00:00Z"},
		{"a fraction before start", weekdays, wallIn(t, "America/New_York", "2024-06-04 08:59:59").Add(500 * time.Millisecond), []*time.Location{ny}, "2024-06-04T13:00:00Z"},
		{"exactly at start", weekdays, wallIn(t, "America/New_York", "2024-06-04 09:00:00"), []*time.Location{ny}, "2024-06-04T13:00:00Z"},
		{"open now", weekdays, wallIn(t, "America/New_York", "2024-06-04 12:34:56").Add(789 * time.Millisecond), []*time.Location{ny}, "2024-06-04T16:34:56.789Z"},
		{"last nanosecond", weekdays, wallIn(t, "America/New_York", "2024-06-04 20:00:00").Add(-1), []*time.Location{ny}, "2024-06-04T23:59:59.999999999Z"},
		{"exactly at end", weekdays, wallIn(t, "America/New_York", "2024-06-04 20:00:00"), []*time.Location{ny}, "2024-06-05T13:00:00Z"},
		{"late evening", weekdays, wallIn(t, "America/New_York", "2024-06-04 23:59:59"), []*time.Location{ny}, "2024-06-05T13:00:00Z"},
		{"friday end skips the weekend", weekdays, wallIn(t, "America/New_York", "2024-06-07 20:00:00"), []*time.Location{ny}, "2024-06-10T13:00:00Z"},
		{"saturday", weekdays, wallIn(t, "America/New_York", "2024-06-08 12:00:00"), []*time.Location{ny}, "2024-06-10T13:00:00Z"},
		{"sunday night", weekdays, wallIn(t, "America/New_York", "2024-06-09 23:59:59"), []*time.Location{ny}, "2024-06-10T13:00:00Z"},
		{"weekend only", daily("10:00", "12:00", "sat", "sun"), wallIn(t, "America/New_York", "2024-06-04 11:00:00"), []*time.Location{ny}, "2024-06-08T14:00:00Z"},
		{"one day a week, just missed", daily("09:00", "10:00", "mon"), wallIn(t, "America/New_York", "2024-06-10 10:00:00"), []*time.Location{ny}, "2024-06-17T13:00:00Z"},
		{"whole day starts at midnight", daily("00:00", "24:00", "wed"), wallIn(t, "America/New_York", "2024-06-04 23:00:00"), []*time.Location{ny}, "2024-06-05T04:00:00Z"},
		{"whole day ends at midnight", daily("00:00", "24:00", "wed"), wallIn(t, "America/New_York", "2024-06-06 00:00:00"), []*time.Location{ny}, "2024-06-12T04:00:00Z"},
		{"no zones: the window's", weekdays, wallIn(t, "America/New_York", "2024-06-04 07:00:00"), nil, "2024-06-04T13:00:00Z"},
		{"nil zone: the window's", weekdays, wallIn(t, "America/New_York", "2024-06-04 07:00:00"), []*time.Location{nil}, "2024-06-04T13:00:00Z"},
		{"t in another zone", weekdays, wallIn(t, "Asia/Tokyo", "2024-06-04 20:00:00"), []*time.Location{ny}, "2024-06-04T13:00:00Z"},

		// Spring forward: the clock goes from 01:59:59 EST to 03:00:00 EDT.
		{"spring forward, start in the gap", daily("02:30", "03:30"), wallIn(t, "America/New_York", "2024-03-10 00:00:00"), []*time.Location{ny}, "2024-03-10T07:00:00Z"},
		{"spring forward, start in the gap, from the day before", daily("02:30", "03:30"), wallIn(t, "America/New_York", "2024-03-09 12:00:00"), []*time.Location{ny}, "2024-03-10T07:00:00Z"},
		{"spring forward, start in the gap, rest of day", daily("02:30", "24:00"), wallIn(t, "America/New_York", "2024-03-10 00:00:00"), []*time.Location{ny}, "2024-03-10T07:00:00Z"},
		{"spring forward, window in the gap", daily("02:30", "03:00"), wallIn(t, "America/New_York", "2024-03-10 00:00:00"), []*time.Location{ny}, "2024-03-11T06:30:00Z"},
		{"spring forward, window is the gap", daily("02:00", "03:00"), wallIn(t, "America/New_York", "2024-03-10 00:00:00"), []*time.Location{ny}, "2024-03-11T06:00:00Z"},
		{"spring forward, start after the gap", daily("03:00", "04:00"), wallIn(t, "America/New_York", "2024-03-10 00:00:00"), []*time.Location{ny}, "2024-03-10T07:00:00Z"},
		{"spring forward, window before the gap", daily("01:00", "02:00"), wallIn(t, "America/New_York", "2024-03-10 01:59:59"), []*time.Location{ny}, "2024-03-10T06:59:59Z"},
		{"spring forward, window before the gap, missed", daily("01:00", "02:00"), wallIn(t, "America/New_York", "2024-03-10 03:00:00"), []*time.Location{ny}, "2024-03-11T05:00:00Z"},
		{"spring forward, not that day", daily("02:30", "03:30", "mon"), wallIn(t, "America/New_York", "2024-03-10 00:00:00"), []*time.Location{ny}, "2024-03-11T06:30:00Z"},
		{"spring forward, weekdays", weekdays, wallIn(t, "America/New_York", "2024-03-08 21:00:00"), []*time.Location{ny}, "2024-03-11T13:00:00Z"},

		// Fall back: the clock goes from 01:59:59 EDT to 01:00:00 EST.
		{"fall back, repeated start: first", daily("01:30", "02:00"), wallIn(t, "America/New_York", "2024-11-03 00:00:00"), []*time.Location{ny}, "2024-11-03T05:30:00Z"},
		{"fall back, second pass open", daily("01:30", "02:00"), mustUTC(t, "2024-11-03T06:45:00Z"), []*time.Location{ny}, "2024-11-03T06:45:00Z"},
		{"fall back, clock reaches start again", daily("01:30", "02:00"), mustUTC(t, "2024-11-03T06:10:00Z"), []*time.Location{ny}, "2024-11-03T06:30:00Z"},
		{"fall back, window over", daily("01:30", "02:00"), mustUTC(t, "2024-11-03T07:00:00Z"), []*time.Location{ny}, "2024-11-04T06:30:00Z"},
		{"fall back, clock goes back into the window", daily("01:00", "01:30"), mustUTC(t, "2024-11-03T05:30:00Z"), []*time.Location{ny}, "2024-11-03T06:00:00Z"},
		{"fall back, weekdays", weekdays, wallIn(t, "America/New_York", "2024-11-02 18:00:00"), []*time.Location{ny}, "2024-11-04T14:00:00Z"},
		{"fall back, London repeated start: first", &CallingWindow{Start: "01:30", End: "02:00", Timezone: "Europe/London"}, wallIn(t, "Europe/London", "2024-10-27 00:00:00"), nil, "2024-10-27T00:30:00Z"},
		{"fall back, London clock goes back into the window", &CallingWindow{Start: "01:00", End: "01:30", Timezone: "Europe/London"}, mustUTC(t, "2024-10-27T00:30:00Z"), nil, "2024-10-27T01:00:00Z"},

		// Several zones.
		{"New York and Chicago", daily("09:00", "20:00"), wallIn(t, "America/New_York", "2024-06-04 08:00:00"), []*time.Location{ny, chi}, "2024-06-04T14:00:00Z"},
		{"Chicago and New York", daily("09:00", "20:00"), wallIn(t, "America/New_York", "2024-06-04 08:00:00"), []*time.Location{chi, ny}, "2024-06-04T14:00:00Z"},
		{"New York and Chicago, open in both", daily("09:00", "20:00"), wallIn(t, "America/New_York", "2024-06-04 19:30:00"), []*time.Location{ny, chi}, "2024-06-04T23:30:00Z"},
		{"New York and Chicago, only Chicago open", daily("09:00", "20:00"), wallIn(t, "America/New_York", "2024-06-04 20:30:00"), []*time.Location{ny, chi}, "2024-06-05T14:00:00Z"},
		{"New York and Chicago, weekend", weekdays, wallIn(t, "America/New_York", "2024-06-07 20:00:00"), []*time.Location{ny, chi}, "2024-06-10T14:00:00Z"},
		{"same zone twice", daily("09:00", "20:00"), wallIn(t, "America/New_York", "2024-06-04 08:00:00"), []*time.Location{ny, ny}, "2024-06-04T13:00:00Z"},
		{"Los Angeles evening is Tokyo morning, weekdays in both", weekdays, wallIn(t, "America/Los_Angeles", "2024-06-07 12:00:00"), zones("America/Los_Angeles", "Asia/Tokyo"), "2024-06-11T00:00:00Z"},
		{"New York and Tokyo: disjoint", weekdays, wallIn(t, "America/New_York", "2024-06-04 08:00:00"), zones("America/New_York", "Asia/Tokyo"), never},
		{"12 hours apart, 1-hour window", daily("09:00", "10:00"), mustUTC(t, "2024-06-04T00:00:00Z"), zones("Etc/GMT-6", "Etc/GMT+6"), never},
		{"12 hours apart, 13-hour window", daily("09:00", "22:00"), mustUTC(t, "2024-06-04T00:00:00Z"), zones("Etc/GMT-6", "Etc/GMT+6"), "2024-06-04T03:00:00Z"},
		{"25 hours apart, one whole day", daily("00:00", "24:00", "mon"), mustUTC(t, "2024-06-04T00:00:00Z"), zones("Pacific/Kiritimati", "Pacific/Pago_Pago"), never},
		{"25 hours apart, two whole days", daily("00:00", "24:00", "mon", "tue"), mustUTC(t, "2024-06-04T12:00:00Z"), zones("Pacific/Kiritimati", "Pacific/Pago_Pago"), "2024-06-10T11:00:00Z"},

		{"invalid window", &CallingWindow{Start: "09:00", End: "09:00", Timezone: "America/New_York"}, mustUTC(t, "2024-06-04T00:00:00Z"), []*time.Location{ny}, never},
		{"unknown day", &CallingWindow{Start: "09:00", End: "10:00", Days: []string{"monday"}, Timezone: "America/New_York"}, mustUTC(t, "2024-06-04T00:00:00Z"), []*time.Location{ny}, never},
		{"bad zone, none given", &CallingWindow{Start: "09:00", End: "10:00", Timezone: "Mars/Base"}, mustUTC(t, "2024-06-04T00:00:00Z"), nil, never},
	}
	for _, tt := range tests {
		got, ok := tt.w.NextOpen(tt.t, tt.zones)
		if tt.want == never {
			if ok {
				t.Errorf("%s: NextOpen(%v) = %v, want none", tt.name, tt.t, got.UTC())
			}
			continue
		}
		want := mustUTC(t, tt.want)
		if !ok || !got.Equal(want) {
			t.Errorf("%s: NextOpen(%v) = %v, %v, want %v", tt.name, tt.t, got.UTC(), ok, want)
			continue
		}
		if got.Location() != tt.t.Location() {
			t.Errorf("%s: NextOpen(%v) is in %v, want t's zone %v", tt.name, tt.t, got.Location(), tt.t.Location())
		}
		if !tt.w.OpenIn(got, tt.zones) {
			t.Errorf("%s: NextOpen(%v) = %v, which is not open", tt.name, tt.t, got.UTC())
		}
	}

	// The two-zone example in local terms: 10:00 in New York, 09:00 in Chicago.
	got, _ := daily("09:00", "20:00").NextOpen(wallIn(t, "America/New_York", "2024-06-04 08:00:00"), []*time.Location{ny, chi})
	if a, b := got.In(ny).Format("15:04"), got.In(chi).Format("15:04"); a != "10:00" || b != "09:00" {
		t.Errorf("New York and Chicago open at %s / %s, want 10:00 / 09:00", a, b)
	}
	// Open now is t itself, monotonic clock reading and all.
	now := time.Now()
	if got, ok := daily("00:00", "24:00").NextOpen(now, nil); !ok || got != now {
		t.Errorf("NextOpen(now) in an always-open window = %v, %v, want now itself", got, ok)
	}
}

// TestNextOpenBruteForce checks NextOpen against a scan, minute by minute,
// of random windows in zones with daylight saving changes of every kind
// (an hour, half an hour, southern hemisphere, none) around their changes.
func TestNextOpenBruteForce(t *testing.T) {
	names := []string{"America/New_York", "America/Chicago", "America/Los_Angeles", "America/St_Johns", "America/Santiago",
		"Europe/London", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe", "Australia/Adelaide", "Asia/Kolkata",
		"Asia/Kathmandu", "Asia/Tokyo", "Pacific/Auckland", "Pacific/Chatham", "UTC"}
	bases := []string{"2024-03-10T07:00:00Z", "2024-03-31T01:00:00Z", "2024-04-07T00:00:00Z", "2024-09-08T04:00:00Z",
		"2024-10-06T00:00:00Z", "2024-10-27T01:00:00Z", "2024-11-03T06:00:00Z", "2024-06-15T12:00:00Z"}
	rng := rand.New(rand.NewPCG(14, 14))
	cases := 150
	if testing.Short() {
		cases = 20
	}
	for i := 0; i < cases; i++ {
		start := rng.IntN(24*4) * 15
		end := start + 15 + rng.IntN(24*60-start)/15*15
		if rng.IntN(4) == 0 { // minute-precise windows too
			start = rng.IntN(24 * 60)
			end = start + 1 + rng.IntN(24*60-start)
		}
		w := &CallingWindow{Start: hhmm(start), End: hhmm(end), Timezone: "UTC"}
		for _, d := range allWindowDays {
			if rng.IntN(2) == 0 {
				w.Days = append(w.Days, d)
			}
		}
		if err := w.Validate("w"); err != nil {
			t.Fatalf("random window %+v: %v", w, err)
		}
		var zones []*time.Location
		for n := 1 + rng.IntN(3); n > 0; n-- {
			zones = append(zones, mustLoadZone(t, names[rng.IntN(len(names))]))
		}
		from := mustUTC(t, bases[rng.IntN(len(bases))]).Add(time.Duration(rng.Int64N(int64(6*24*time.Hour))) - 3*24*time.Hour)

		got, ok := w.NextOpen(from, zones)
		end8 := from.Add(WindowSearchDays * 24 * time.Hour)
		stop := end8
		if ok {
			if got.Before(from) || got.After(end8) || !w.OpenIn(got, zones) {
				t.Errorf("%+v in %v from %v: NextOpen = %v: not an open instant within %d days", w, zones, from, got.UTC(), WindowSearchDays)
				continue
			}
			stop = got
		}
		// Openings come at whole minutes (a Start, or an offset change),
		// so the first open instant is from itself or a whole minute.
		for x := from; x.Before(stop) || !ok && x.Equal(stop); x = x.Truncate(time.Minute).Add(time.Minute) {
			if w.OpenIn(x, zones) {
				t.Errorf("%+v in %v from %v: NextOpen = %v, %v, but it is open at %v", w, zones, from, got.UTC(), ok, x.UTC())
				break
			}
		}
	}
}

// hhmm formats m minutes after midnight as "HH:MM".
func hhmm(m int) string {
	return string([]byte{byte('0' + m/600), byte('0' + m/60%10), ':', byte('0' + m%60/10), byte('0' + m%10)})
}
