package destination

import (
	"reflect"
	"testing"

	"github.com/outdial/outdial/internal/outdial"
)

func TestTimezonesOf(t *testing.T) {
	tests := []struct {
		name string
		a    outdial.Address
		want []string
	}{
		{"New York", outdial.Address{Type: "tel", Target: "+12125550123"}, []string{"America/New_York"}},
		{"London", outdial.Address{Type: "tel", Target: "+442071234567"}, []string{"Europe/London"}},
		{"Sydney", outdial.Address{Type: "tel", Target: "+61212345678"}, []string{"Australia/Sydney"}},
		// Area codes across a zone boundary.
		{"Idaho: Mountain and Pacific", outdial.Address{Type: "tel", Target: "+12085550123"}, []string{"America/Boise", "America/Los_Angeles"}},
		{"Alaska: Alaska and Hawaii-Aleutian", outdial.Address{Type: "tel", Target: "+19075550123"}, []string{"America/Adak", "America/Anchorage"}},
		{"South Dakota: Mountain and Central", outdial.Address{Type: "tel", Target: "+16055550123"}, []string{"America/Denver", "America/North_Dakota/Center"}},
		{"South and Western Australia", outdial.Address{Type: "tel", Target: "+61881234567"}, []string{"Australia/Adelaide", "Australia/Perth"}},
		// A longer prefix is more precise than its area code.
		{"Idaho exchange in Mountain time", outdial.Address{Type: "tel", Target: "+12083450123"}, []string{"America/Denver"}},
		// Three zones are still few enough.
		{"Russian and Kazakh toll-free", outdial.Address{Type: "tel", Target: "+78001234567"}, []string{"Asia/Almaty", "Asia/Aqtobe", "Europe/Moscow"}},

		// Country-wide prefixes: too many zones.
		{"fictional 555 area code", outdial.Address{Type: "tel", Target: "+15551234567"}, nil},
		{"toll-free 800", outdial.Address{Type: "tel", Target: "+18005551234"}, nil},
		{"Australian prefix of 8 zones", outdial.Address{Type: "tel", Target: "+61812345678"}, nil},
		// Non-geographic: Etc/Unknown.
		{"international freephone", outdial.Address{Type: "tel", Target: "+80012345678"}, nil},
		{"international networks", outdial.Address{Type: "tel", Target: "+883510012345"}, nil},
		// Not normalised, not numbers.
		{"national number", outdial.Address{Type: "tel", Target: "2125550123"}, nil},
		{"unknown country code", outdial.Address{Type: "tel", Target: "+99912345678"}, nil},
		{"empty", outdial.Address{Type: "tel", Target: ""}, nil},
		{"letters", outdial.Address{Type: "tel", Target: "+1-800-FLOWERS"}, nil},
		// Not phone numbers.
		{"sip", outdial.Address{Type: "sip", Target: "sip:alice@example.com"}, nil},
		{"sip with digits", outdial.Address{Type: "sip", Target: "sip:+12125550123@example.com"}, nil},
		{"email", outdial.Address{Type: "email", Target: "alice@example.com"}, nil},
		{"no type", outdial.Address{Target: "+12125550123"}, nil},
	}
	for _, tt := range tests {
		got := TimezonesOf(tt.a)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: TimezonesOf(%+v) = %q, want %q", tt.name, tt.a, got, tt.want)
		}
		for _, z := range got {
			if _, err := outdial.LoadZone(z); err != nil {
				t.Errorf("%s: TimezonesOf(%+v) gave %q, which does not load: %v", tt.name, tt.a, z, err)
			}
		}
	}
}

func TestTimezonesOfNormalised(t *testing.T) {
	// The zones of a number as sent are those of its normalised form.
	a, err := NormalizeAddress("destination", outdial.Address{Type: "TEL", Target: "(208) 555-0123"}, "US")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := TimezonesOf(a), []string{"America/Boise", "America/Los_Angeles"}; !reflect.DeepEqual(got, want) {
		t.Errorf("TimezonesOf(%+v) = %q, want %q", a, got, want)
	}
}

func TestTimezonesOfReturnsACopy(t *testing.T) {
	a := outdial.Address{Type: "tel", Target: "+12085550123"}
	got := TimezonesOf(a)
	got[0] = "Mars/Base"
	if again := TimezonesOf(a); again[0] != "America/Boise" {
		t.Errorf("changing a result changed the next one: %q", again)
	}
}
