package outdial

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	// The IANA time zone database, embedded in the binary: Lambda's
	// minimal images have no /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Limits of calling windows.
const (
	// WindowSearchDays bounds NextOpen: a window that does not open within
	// this many days of the time asked about counts as never opening.
	WindowSearchDays = 8
	// MaxZoneNameLen is the longest time zone name accepted (the longest
	// IANA name has 32 characters).
	MaxZoneNameLen = 64
)

// windowDays are the names of CallingWindow.Days in their stored order,
// Monday first.
var windowDays = [7]string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// windowDayWeekday maps the names of windowDays to their time.Weekday.
var windowDayWeekday = map[string]time.Weekday{
	"mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday, "thu": time.Thursday,
	"fri": time.Friday, "sat": time.Saturday, "sun": time.Sunday,
}

// CallingWindow says when targets may be dialed, in the callee's local
// time: on the listed days, from Start (inclusive) to End (exclusive) by
// the local wall clock. A window does not cross midnight.
type CallingWindow struct {
	Start    string   `json:"start"`    // "HH:MM", 00:00..23:59
	End      string   `json:"end"`      // "HH:MM", strictly after Start; "24:00" is the end of the day
	Days     []string `json:"days"`     // some of mon, tue, wed, thu, fri, sat, sun; stored Monday first, all seven when none were sent
	Timezone string   `json:"timezone"` // IANA zone name; the zone of targets that have none of their own
}

// Validate checks w and normalises it in place. field names w in errors
// ("calling_window"); the errors are *Error with Field set to field+".start",
// ".end", ".days[i]" or ".timezone".
//
// Start and End are exactly "HH:MM" (two digits each): Start from 00:00 to
// 23:59, End from 00:00 to 23:59 or 24:00 (the end of the day), and End
// strictly after Start. Days holds only the lower-case names mon, tue, wed,
// thu, fri, sat and sun ("Mon" and "monday" are refused); duplicates are
// dropped and the days are stored Monday first. Absent, null or empty Days
// means every day, and is stored as all seven. Timezone is required and
// must be an IANA time zone name (LoadZone): "UTC" is one, "Local" is not.
func (w *CallingWindow) Validate(field string) error {
	if w.Start == "" {
		return FieldErrorf(ECodeMissingField, field+".start", `is required: a time "HH:MM" from 00:00 to 23:59`)
	}
	start, ok := parseWindowClock(w.Start, false)
	if !ok {
		return FieldErrorf(ECodeInvalidField, field+".start", `must be a time "HH:MM" (two digits each) from 00:00 to 23:59`)
	}
	if w.End == "" {
		return FieldErrorf(ECodeMissingField, field+".end", `is required: a time "HH:MM" after start, up to 24:00`)
	}
	end, ok := parseWindowClock(w.End, true)
	if !ok {
		return FieldErrorf(ECodeInvalidField, field+".end", `must be a time "HH:MM" (two digits each) from 00:00 to 23:59, or 24:00 for the end of the day`)
	}
	if end <= start {
		return FieldErrorf(ECodeInvalidField, field+".end", "must be after start (%s): a window ends on the day it starts, use 24:00 for the end of the day", w.Start)
	}

	var seen [7]bool
	for i, d := range w.Days {
		wd, ok := windowDayWeekday[d]
		if !ok {
			return FieldErrorf(ECodeInvalidField, field+".days["+strconv.Itoa(i)+"]", "must be one of mon, tue, wed, thu, fri, sat, sun (lower case)")
		}
		seen[(wd+6)%7] = true // Monday first
	}
	days := make([]string, 0, len(windowDays))
	for i, d := range windowDays {
		if seen[i] || len(w.Days) == 0 {
			days = append(days, d)
		}
	}

	if w.Timezone == "" {
		return FieldErrorf(ECodeMissingField, field+".timezone", "is required: an IANA time zone name such as America/New_York")
	}
	tz, err := ValidateTimezone(field+".timezone", w.Timezone)
	if err != nil {
		return err
	}
	w.Days, w.Timezone = days, tz
	return nil
}

// Equal reports whether w and o are the same window, field by field (compare
// validated windows: an unvalidated one may list its days differently). Two
// nil windows are equal; a nil window equals no other.
func (w *CallingWindow) Equal(o *CallingWindow) bool {
	if w == nil || o == nil {
		return w == o
	}
	if w.Start != o.Start || w.End != o.End || w.Timezone != o.Timezone || len(w.Days) != len(o.Days) {
		return false
	}
	for i := range w.Days {
		if w.Days[i] != o.Days[i] {
			return false
		}
	}
	return true
}

// OpenIn reports whether w is open at t in every one of zones: in each zone
// the local weekday of t is one of Days and Start <= local clock < End,
// seconds counting (08:59:59 is before a 09:00 start, and 20:00:00 is past
// a 20:00 end). Callers pass a target's own zones, or the outdial's zone
// for a target without one; an empty zones, or a nil entry, stands for
// w.Timezone. A window whose times or days do not validate is never open.
func (w *CallingWindow) OpenIn(t time.Time, zones []*time.Location) bool {
	s, ok := w.schedule()
	if !ok {
		return false
	}
	zones, ok = w.zones(zones)
	if !ok {
		return false
	}
	for _, loc := range zones {
		if !s.openAt(t, loc) {
			return false
		}
	}
	return true
}

// NextOpen returns the earliest instant at or after t at which w is open in
// every one of zones (OpenIn), t itself when it is open already, and false
// when there is none within WindowSearchDays days of t (a 1-hour window in
// two zones 12 hours apart never opens). zones is read as by OpenIn.
//
// The local clock is followed through daylight saving changes: on a
// spring-forward day a window whose Start falls in the skipped hour opens
// when the clock jumps past Start (if that is before End), and on a
// fall-back day a Start that occurs twice opens at its first occurrence.
func (w *CallingWindow) NextOpen(t time.Time, zones []*time.Location) (time.Time, bool) {
	s, ok := w.schedule()
	if !ok {
		return time.Time{}, false
	}
	zones, ok = w.zones(zones)
	if !ok {
		return time.Time{}, false
	}
	limit := t.Add(WindowSearchDays * 24 * time.Hour)
	// Each round moves x to the latest of the zones' next openings; it
	// stops when that is x itself, open in every zone. Every round moves x
	// forward to an opening in some zone, of which there are few before
	// limit; the bound on rounds only guards against a bug looping.
	x := t
	for round := 0; round < 64*(len(zones)+1); round++ {
		next := x
		for _, loc := range zones {
			at, ok := s.nextOpenIn(x, loc, limit)
			if !ok {
				return time.Time{}, false
			}
			if at.After(next) {
				next = at
			}
		}
		if next.Equal(x) {
			if x.Equal(t) {
				return t, true
			}
			return x.In(t.Location()), true
		}
		x = next
	}
	return time.Time{}, false
}

// windowSchedule is a parsed CallingWindow.
type windowSchedule struct {
	start, end int64 // seconds after local midnight, end exclusive
	days       [7]bool
}

// schedule parses w; false if w does not validate (its zone aside).
func (w *CallingWindow) schedule() (windowSchedule, bool) {
	start, ok1 := parseWindowClock(w.Start, false)
	end, ok2 := parseWindowClock(w.End, true)
	if !ok1 || !ok2 || end <= start {
		return windowSchedule{}, false
	}
	s := windowSchedule{start: int64(start) * 60, end: int64(end) * 60}
	for _, d := range w.Days {
		wd, ok := windowDayWeekday[d]
		if !ok {
			return windowSchedule{}, false
		}
		s.days[wd] = true
	}
	if len(w.Days) == 0 {
		s.days = [7]bool{true, true, true, true, true, true, true}
	}
	return s, true
}

// zones returns zones with w's own zone for an empty list and nil entries;
// false if that zone is needed and does not load.
func (w *CallingWindow) zones(zones []*time.Location) ([]*time.Location, bool) {
	needOwn := len(zones) == 0
	for _, loc := range zones {
		needOwn = needOwn || loc == nil
	}
	if !needOwn {
		return zones, true
	}
	own, err := LoadZone(w.Timezone)
	if err != nil {
		return nil, false
	}
	if len(zones) == 0 {
		return []*time.Location{own}, true
	}
	out := make([]*time.Location, len(zones))
	for i, loc := range zones {
		if loc == nil {
			loc = own
		}
		out[i] = loc
	}
	return out, true
}

// openAt reports whether s is open at t by the wall clock of loc.
func (s windowSchedule) openAt(t time.Time, loc *time.Location) bool {
	lt := t.In(loc)
	sec := int64(lt.Hour()*3600 + lt.Minute()*60 + lt.Second())
	return s.days[lt.Weekday()] && sec >= s.start && sec < s.end
}

// nextOpenIn returns the earliest instant at or after x, and not after
// limit, at which s is open in loc.
//
// Between two changes of loc's UTC offset the wall clock runs with UTC, so
// within such a span the window next opens at x if it is open then, and
// otherwise at the next Start on an allowed day. Past the span's end the
// search goes on from that end with the new offset: that is how a Start in
// a skipped hour opens when the clock jumps (at the end of the span), and
// why a repeated Start opens at its first occurrence.
func (s windowSchedule) nextOpenIn(x time.Time, loc *time.Location, limit time.Time) (time.Time, bool) {
	const day = 24 * 3600
	// Offsets change a few times a year; a span of minutes around a change
	// is the worst any zone has had. The bound only guards against a bug.
	for span := 0; span < 1000; span++ {
		if x.After(limit) {
			return time.Time{}, false
		}
		if s.openAt(x, loc) {
			return x, true
		}
		lt := x.In(loc)
		_, offset := lt.Zone()
		_, spanEnd := lt.ZoneBounds()

		// The wall clock as seconds since 1970-01-01 00:00 local.
		wall := x.Unix() + int64(offset)
		d := floorDiv(wall, day)
		if wall-d*day >= s.start {
			d++ // today's Start has passed
		}
		for i := 0; i < 7 && !s.days[weekdayOfDay(d)]; i++ {
			d++
		}
		if !s.days[weekdayOfDay(d)] {
			return time.Time{}, false // no days: never open
		}
		at := time.Unix(d*day+s.start-int64(offset), 0)
		if spanEnd.IsZero() || at.Before(spanEnd) {
			if at.After(limit) {
				return time.Time{}, false
			}
			return at, true
		}
		if !spanEnd.After(x) {
			return time.Time{}, false // cannot happen: a span ends after it starts
		}
		x = spanEnd
	}
	return time.Time{}, false
}

// weekdayOfDay is the weekday of day d counted from 1970-01-01, a Thursday.
func weekdayOfDay(d int64) time.Weekday {
	return time.Weekday((d%7 + 7 + 4) % 7)
}

// floorDiv is a/b rounded towards minus infinity, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// parseWindowClock parses "HH:MM" (exactly two digits each) into minutes
// after midnight: 00:00 to 23:59, and 24:00 too if allow24.
func parseWindowClock(s string, allow24 bool) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	switch {
	case h == 24 && m == 0 && allow24:
		return 24 * 60, true
	case h > 23 || m > 59:
		return 0, false
	}
	return h*60 + m, true
}

// zoneCache holds the zones LoadZone has loaded, by name. Only zones that
// load are kept, so its size is bounded by the time zone database.
var zoneCache sync.Map // string -> *time.Location

// errZoneName is LoadZone's error.
var errZoneName = errors.New("not an IANA time zone name")

// LoadZone returns the location of an IANA time zone name
// ("America/New_York", "UTC"), loading each zone once per process. It fails for "", for "Local" (the
// machine's zone, not a name), for names that are not IANA zones, and for
// the files of a system zoneinfo directory that are not zones of the
// database (posixrules, localtime, the posix/ and right/ trees), so that a
// name is accepted alike on every machine and on Lambda, where the
// embedded database is the only one.
func LoadZone(name string) (*time.Location, error) {
	if loc, ok := zoneCache.Load(name); ok {
		return loc.(*time.Location), nil
	}
	if !zoneNameOK(name) {
		return nil, errZoneName
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, errZoneName
	}
	zoneCache.Store(name, loc)
	return loc, nil
}

// zoneNameOK reports whether name may be an IANA zone name: slash-separated
// parts of letters, digits and _ - +, and none of the names above.
func zoneNameOK(name string) bool {
	if name == "" || len(name) > MaxZoneNameLen || name == "Local" || name == "localtime" || name == "posixrules" ||
		strings.HasPrefix(name, "posix/") || strings.HasPrefix(name, "right/") {
		return false
	}
	for _, part := range strings.Split(name, "/") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			switch c := part[i]; {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '+':
			default:
				return false
			}
		}
	}
	return true
}

// ValidateTimezone checks a time zone field of a request (field names it in
// errors) and returns the name to store: "" stays "" (no zone), any other
// name must load with LoadZone. Names are kept as sent: a link such as
// US/Eastern is not rewritten to America/New_York.
func ValidateTimezone(field, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	if _, err := LoadZone(name); err != nil {
		return "", FieldErrorf(ECodeInvalidField, field, "must be an IANA time zone name such as America/New_York or UTC")
	}
	return name, nil
}
