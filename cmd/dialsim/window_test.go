package main

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/outdial/outdial/internal/outdial"
)

func TestWholeHourZones(t *testing.T) {
	// Etc/GMT-14 is UTC+14: the names' signs are inverted.
	zones := wholeHourZones()
	if len(zones) != 27 {
		t.Fatalf("%d zones, want 27 (UTC+14 .. UTC-12)", len(zones))
	}
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for i, zone := range zones {
		loc, err := outdial.LoadZone(zone)
		if err != nil {
			t.Fatalf("%s: %v", zone, err)
		}
		if _, off := now.In(loc).Zone(); off != (14-i)*3600 {
			t.Errorf("%s: offset %+d h, want %+d h", zone, off/3600, 14-i)
		}
	}
}

func TestPlanWindow(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 3, 10, h, m, 0, 0, time.UTC) } // a Tuesday
	t.Run("open in UTC, closed zone", func(t *testing.T) {
		p, err := planWindow("08:00-21:00", "UTC", true, at(12, 0), 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if p.Window.Timezone != "UTC" || !p.Closes.Equal(at(21, 0)) {
			t.Errorf("zone %s, closes %s; want UTC, 21:00", p.Window.Timezone, p.Closes)
		}
		// The latest opening: 21:00 local (just closed), UTC+9, opens at
		// 08:00 local = 23:00 UTC.
		if p.ClosedZone != "Etc/GMT-9" || !p.Opens.Equal(at(23, 0)) {
			t.Errorf("closed zone %s opening %s, want Etc/GMT-9 at 23:00 UTC", p.ClosedZone, p.Opens)
		}
		w := p.Window
		w.Timezone = p.ClosedZone
		if w.OpenIn(at(12, 0), nil) || w.OpenIn(at(22, 59), nil) || !w.OpenIn(at(23, 0), nil) {
			t.Errorf("the window in %s is not closed from 12:00 to 23:00 UTC", p.ClosedZone)
		}
	})
	t.Run("auto", func(t *testing.T) {
		for h := 0; h < 24; h++ {
			p, err := planWindow("08:00-21:00", autoZone, true, at(h, 30), 5*time.Minute)
			if err != nil {
				t.Fatalf("%02d:30 UTC: %v", h, err)
			}
			local := at(h, 30).In(mustZone(p.Window.Timezone))
			if l := local.Hour()*60 + local.Minute(); l < 14*60 || l > 15*60 {
				t.Errorf("%02d:30 UTC: %s, local %s; want the window's middle, 14:30 ± 30 min", h, p.Window.Timezone, local.Format("15:04"))
			}
			if !p.Window.OpenIn(at(h, 30), nil) || p.ClosedZone == "" || p.Opens.Sub(at(h, 30)) < time.Hour {
				t.Errorf("%02d:30 UTC: %+v", h, p)
			}
		}
	})
	t.Run("the run's bound counts", func(t *testing.T) {
		// Open for an hour more: a 5-minute run fits, a 2-hour one does
		// not, and the closed zone must stay closed for 2 hours.
		if _, err := planWindow("08:00-21:00", "UTC", false, at(20, 0), 5*time.Minute); err != nil {
			t.Errorf("5 min: %v", err)
		}
		_, err := planWindow("08:00-21:00", "UTC", false, at(20, 0), 2*time.Hour)
		if err == nil || !strings.Contains(err.Error(), "closes in 1h0m0s in UTC (at 21:00 there), before the run's bound") {
			t.Errorf("2 h: err %v", err)
		}
		p, err := planWindow("08:00-21:00", autoZone, true, at(12, 0), 10*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Opens.Sub(at(12, 0)); d < 10*time.Hour {
			t.Errorf("closed zone %s opens in %s, within the run's 10 h", p.ClosedZone, d)
		}
	})
	t.Run("closed now", func(t *testing.T) {
		_, err := planWindow("08:00-21:00", "UTC", false, at(22, 30), 5*time.Minute)
		for _, want := range []string{
			"-window 08:00-21:00 is closed now in UTC (Tue 22:30 there)",
			"-window 22:00-24:00", "-window-tz Etc/GMT+8 (14:30 there)", "-window-tz auto",
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err %v, want one with %q", err, want)
			}
		}
	})
	t.Run("no closed zone", func(t *testing.T) {
		_, err := planWindow("00:00-24:00", "UTC", true, at(12, 0), 5*time.Minute)
		if err == nil || !strings.Contains(err.Error(), "-closed-share: no whole-hour zone has the window 00:00-24:00 closed") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a named zone", func(t *testing.T) {
		// 12:00 UTC in March is 08:00 in New York (EDT from March 8, 2026).
		p, err := planWindow("08:00-21:00", "America/New_York", false, at(12, 0), 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if !p.Closes.Equal(at(21+4, 0)) {
			t.Errorf("closes %s, want 01:00 UTC the next day", p.Closes.UTC())
		}
		if _, err := planWindow("08:00-21:00", "America/New_York", false, at(11, 59), 5*time.Minute); err == nil {
			t.Error("07:59 in New York: no error")
		}
	})
}

func TestAssignRoles(t *testing.T) {
	listed := map[int]bool{3: true, 50: true}
	a := assignRoles(rand.New(rand.NewPCG(1, 2)), 100, listed, 10, 5, 20)
	b := assignRoles(rand.New(rand.NewPCG(1, 2)), 100, listed, 10, 5, 20)
	if string(a) != string(b) {
		t.Error("the same seed gave other roles")
	}
	n := map[byte]int{}
	for i, r := range a {
		n[r]++
		if listed[i] != (r == roleListed) {
			t.Errorf("number %d: role %d, listed %v", i, r, listed[i])
		}
	}
	if n[roleListed] != 2 || n[roleSuppress] != 10 || n[roleLate] != 5 || n[roleClosed] != 20 || n[roleDial] != 63 {
		t.Errorf("roles %v, want 2 listed, 10 suppressed, 5 late, 20 closed, 63 dialed", n)
	}
	// Roles for every number leave none to dial.
	if all := assignRoles(rand.New(rand.NewPCG(3, 4)), 10, nil, 3, 3, 4); strings.Count(string(all), string(rune(roleDial))) != 0 {
		t.Errorf("all 10 numbers have a role, yet %q has dialed ones", all)
	}
}
