package destination

import (
	"slices"

	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/phonenumbers"
)

// MaxNumberZones is the most time zones TimezonesOf gives a phone number:
// a prefix libphonenumber maps to more zones than this covers a country or
// a large part of one, and says nothing useful about where the callee is.
const MaxNumberZones = 4

// unknownZone is libphonenumber's zone for numbers it cannot place.
const unknownZone = "Etc/Unknown"

// TimezonesOf returns the IANA time zones a normalised destination is
// believed to be in, for calling windows, sorted; nil when they are not
// known. Only tel addresses (Target in E.164, as NormalizeAddress returns
// it) have zones: those libphonenumber maps the number's longest known
// prefix to, when there are at most MaxNumberZones and every one loads with
// outdial.LoadZone. Numbers whose prefix covers a whole country or more
// (+1 555 and +1 800 map to every North American zone), non-geographic
// numbers (+800, Etc/Unknown) and numbers that do not parse give nil, as do
// sip and email addresses.
//
// The zones come from the number's prefix alone, whether or not the number
// is assigned: +1 212 555 0123 is in America/New_York, +1 208 555 0123 in
// America/Boise and America/Los_Angeles.
func TimezonesOf(a outdial.Address) []string {
	if a.Type != outdial.TypeTel {
		return nil
	}
	num, err := phonenumbers.Parse(a.Target, "")
	if err != nil {
		return nil
	}
	zones, err := phonenumbers.GetTimezonesForNumber(num)
	if err != nil || len(zones) == 0 || len(zones) > MaxNumberZones {
		return nil
	}
	for _, z := range zones {
		if z == unknownZone {
			return nil
		}
		if _, err := outdial.LoadZone(z); err != nil {
			return nil
		}
	}
	// A copy: the slice is libphonenumber's own, shared by every number
	// with the same prefix.
	out := slices.Clone(zones)
	slices.Sort(out)
	return out
}
