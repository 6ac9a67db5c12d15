package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/outdial/outdial/internal/outdial"
)

// autoZone is the -window-tz value that picks a whole-hour zone where the
// window is open now.
const autoZone = "auto"

// minClosed is the least time the zone of the -closed-share targets must
// stay closed, however short the run's bound: the demo's targets in it must
// still wait when someone looks at the outdial after the run.
const minClosed = time.Hour

// parseWindow reads -window, "HH:MM-HH:MM" (24:00 ends the day), into a
// calling window of every day without a zone.
func parseWindow(spec string) (outdial.CallingWindow, error) {
	start, end, ok := strings.Cut(strings.TrimSpace(spec), "-")
	w := outdial.CallingWindow{Start: strings.TrimSpace(start), End: strings.TrimSpace(end), Timezone: "UTC"}
	if !ok || w.Validate("calling_window") != nil {
		return outdial.CallingWindow{}, fmt.Errorf("-window %q: want HH:MM-HH:MM with the end after the start (24:00 ends the day), e.g. 08:00-21:00", spec)
	}
	w.Timezone, w.Days = "", nil
	return w, nil
}

// wholeHourZones are the IANA zones of whole-hour UTC offsets, from UTC+14
// to UTC-12, east first. Etc/GMT-14 is UTC+14: these POSIX-style names
// have the sign inverted.
func wholeHourZones() []string {
	var zones []string
	for off := 14; off >= -12; off-- {
		switch {
		case off > 0:
			zones = append(zones, fmt.Sprintf("Etc/GMT-%d", off))
		case off < 0:
			zones = append(zones, fmt.Sprintf("Etc/GMT+%d", -off))
		default:
			zones = append(zones, "Etc/GMT")
		}
	}
	return zones
}

// windowPlan is how a run with -window lays out its outdial.
type windowPlan struct {
	Window outdial.CallingWindow // with the zone -window-tz resolved to
	Now    time.Time             // when it was planned
	Closes time.Time             // when the window next closes in its zone (it is open at Now)

	// With -closed-share: the zone given to those targets, closed at Now
	// until Opens.
	ClosedZone string
	Opens      time.Time
}

// zoneIn returns w with its zone set to zone.
func zoneIn(w outdial.CallingWindow, zone string) *outdial.CallingWindow {
	w.Timezone = zone
	return &w
}

// closesAt returns when w, open at now in loc, closes: today's End by the
// wall clock of loc.
func closesAt(w outdial.CallingWindow, now time.Time, loc *time.Location) time.Time {
	lt := now.In(loc)
	var h, m int
	fmt.Sscanf(w.End, "%d:%d", &h, &m)
	return time.Date(lt.Year(), lt.Month(), lt.Day(), h, m, 0, 0, loc) // 24:00 is the next day's 00:00
}

// openFor reports whether w is open at now in zone and stays open for at
// least d, and when it closes.
func openFor(w outdial.CallingWindow, zone string, now time.Time, d time.Duration) (time.Time, bool) {
	loc, err := outdial.LoadZone(zone)
	if err != nil || !zoneIn(w, zone).OpenIn(now, nil) {
		return time.Time{}, false
	}
	at := closesAt(w, now, loc)
	return at, at.Sub(now) >= d
}

// pickOpenZone returns the whole-hour zone where w is open at now and stays
// open for at least d, its local time nearest the window's middle; false
// if there is none.
func pickOpenZone(w outdial.CallingWindow, now time.Time, d time.Duration) (string, bool) {
	var sh, sm, eh, em int
	fmt.Sscanf(w.Start, "%d:%d", &sh, &sm)
	fmt.Sscanf(w.End, "%d:%d", &eh, &em)
	mid := time.Duration((sh*60+sm+eh*60+em)/2) * time.Minute
	best, bestDist := "", time.Duration(-1)
	for _, zone := range wholeHourZones() {
		if _, ok := openFor(w, zone, now, d); !ok {
			continue
		}
		lt := now.In(mustZone(zone))
		clock := time.Duration(lt.Hour())*time.Hour + time.Duration(lt.Minute())*time.Minute
		dist := clock - mid
		if dist < 0 {
			dist = -dist
		}
		if bestDist < 0 || dist < bestDist {
			best, bestDist = zone, dist
		}
	}
	return best, best != ""
}

// pickClosedZone returns the whole-hour zone where w is closed at now and
// opens furthest away, at least d after now, and when it opens there; false
// if there is none.
func pickClosedZone(w outdial.CallingWindow, now time.Time, d time.Duration) (string, time.Time, bool) {
	best, bestAt := "", time.Time{}
	for _, zone := range wholeHourZones() {
		zw := zoneIn(w, zone)
		if zw.OpenIn(now, nil) {
			continue
		}
		at, ok := zw.NextOpen(now, nil)
		if !ok {
			at = now.Add(outdial.WindowSearchDays * 24 * time.Hour) // never opens: closed for good
		}
		if at.Sub(now) >= d && (best == "" || at.After(bestAt)) {
			best, bestAt = zone, at
		}
	}
	return best, bestAt, best != ""
}

// mustZone loads a zone of wholeHourZones or one already validated.
func mustZone(zone string) *time.Location {
	loc, err := outdial.LoadZone(zone)
	if err != nil {
		panic(fmt.Sprintf("time zone %s: %v", zone, err))
	}
	return loc
}

// planWindow resolves -window and -window-tz at now for a run bounded by
// run: the window must be open now in its zone and stay open for the run
// (else the targets without a zone of their own could not be dialed), and
// with closed (-closed-share > 0) a whole-hour zone is picked where it is
// closed now and stays closed for the run and at least minClosed.
func planWindow(spec, tz string, closed bool, now time.Time, run time.Duration) (*windowPlan, error) {
	w, err := parseWindow(spec)
	if err != nil {
		return nil, err
	}
	if tz == autoZone {
		zone, ok := pickOpenZone(w, now, run)
		if !ok {
			return nil, fmt.Errorf("-window %s -window-tz auto: no whole-hour zone has the window open for the next %s (the run's -timeout): use a longer -window or a shorter -timeout", spec, run)
		}
		tz = zone
	}
	loc, err := outdial.LoadZone(tz)
	if err != nil {
		return nil, fmt.Errorf("-window-tz %q is not an IANA time zone name (such as UTC or America/New_York), nor auto", tz)
	}
	p := &windowPlan{Window: *zoneIn(w, tz), Now: now}
	at, ok := openFor(w, tz, now, run)
	if !ok {
		return nil, closedWindowError(w, spec, tz, loc, now, run, at)
	}
	p.Closes = at
	if closed {
		zone, opens, ok := pickClosedZone(w, now, max(run, minClosed))
		if !ok {
			return nil, fmt.Errorf("-closed-share: no whole-hour zone has the window %s closed for the next %s: use a shorter -window", spec, max(run, minClosed))
		}
		p.ClosedZone, p.Opens = zone, opens
	}
	return p, nil
}

// closedWindowError explains that w is not open in tz for the whole run and
// suggests a -window or -window-tz that is.
func closedWindowError(w outdial.CallingWindow, spec, tz string, loc *time.Location, now time.Time, run time.Duration, closes time.Time) error {
	lt := now.In(loc)
	var why string
	if closes.IsZero() {
		why = fmt.Sprintf("is closed now in %s (%s there)", tz, lt.Format("Mon 15:04"))
	} else {
		why = fmt.Sprintf("closes in %s in %s (at %s there), before the run's bound (-timeout %s)",
			closes.Sub(now).Round(time.Second), tz, closes.In(loc).Format("15:04"), run)
	}
	var hints []string
	alt := fmt.Sprintf("%02d:00-24:00", lt.Hour())
	if aw, err := parseWindow(alt); err == nil {
		if _, ok := openFor(aw, tz, now, run); ok {
			hints = append(hints, "-window "+alt)
		}
	}
	if zone, ok := pickOpenZone(w, now, run); ok {
		hints = append(hints, fmt.Sprintf("-window-tz %s (%s there)", zone, now.In(mustZone(zone)).Format("15:04")), "-window-tz auto")
	}
	msg := fmt.Sprintf("-window %s %s: the targets without a zone of their own could not be dialed", spec, why)
	if len(hints) > 0 {
		msg += "; pick a window open now, e.g. " + strings.Join(hints, ", or ")
	}
	return fmt.Errorf("%s", msg)
}
