package phonenumbers_test

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode"

	upstream "github.com/nyaruka/phonenumbers"

	ours "github.com/outdial/outdial/internal/phonenumbers"
)

// This package is github.com/nyaruka/phonenumbers v1.8.1 without the
// protobuf runtime (README.md). These tests hold it to the library it
// was copied from, which stays a test-only dependency: the same metadata,
// field by field, and the same answers for every region's example
// numbers written every way, and for fuzzed input.

// TestMetadataMatchesUpstream compares the metadata decoded by decode.go
// with upstream's proto.Unmarshal of the same bytes, every field of every
// region.
func TestMetadataMatchesUpstream(t *testing.T) {
	got, err := ours.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	want, err := upstream.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Metadata) < 200 || len(got.Metadata) != len(want.Metadata) {
		t.Fatalf("%d regions, upstream %d", len(got.Metadata), len(want.Metadata))
	}
	fields := 0
	sameFields(t, "metadata", reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem(), &fields)
	if fields < 10_000 {
		t.Errorf("compared %d set fields, want the whole collection", fields)
	}
}

// sameFields reports every exported field of ours that differs from the
// field of the same name in theirs; set counts the set fields compared.
func sameFields(t *testing.T, path string, ours, theirs reflect.Value, set *int) {
	t.Helper()
	switch ours.Kind() {
	case reflect.Pointer:
		if ours.IsNil() != theirs.IsNil() {
			t.Errorf("%s: set %v, upstream %v", path, !ours.IsNil(), !theirs.IsNil())
			return
		}
		if !ours.IsNil() {
			sameFields(t, path, ours.Elem(), theirs.Elem(), set)
		}
	case reflect.Struct:
		typ := ours.Type()
		for i := range typ.NumField() {
			f := typ.Field(i)
			other := theirs.FieldByName(f.Name)
			if !other.IsValid() {
				t.Errorf("%s.%s: no such field upstream", path, f.Name)
				continue
			}
			sameFields(t, path+"."+f.Name, ours.Field(i), other, set)
		}
		// And no field upstream that is not here.
		for i := range theirs.NumField() {
			f := theirs.Type().Field(i)
			if f.IsExported() {
				if _, ok := typ.FieldByName(f.Name); !ok {
					t.Errorf("%s.%s: upstream field missing here", path, f.Name)
				}
			}
		}
	case reflect.Slice:
		if ours.Len() != theirs.Len() {
			t.Errorf("%s: %d elements, upstream %d", path, ours.Len(), theirs.Len())
			return
		}
		for i := range ours.Len() {
			sameFields(t, fmt.Sprintf("%s[%d]", path, i), ours.Index(i), theirs.Index(i), set)
		}
	default:
		*set++
		if fmt.Sprint(ours.Interface()) != fmt.Sprint(theirs.Interface()) {
			t.Errorf("%s = %v, upstream %v", path, ours.Interface(), theirs.Interface())
		}
	}
}

// answer is everything this service asks of a parsed number, as text.
func answer[N any](parse func(string, string) (N, error), describe func(N) string, s, region string) string {
	n, err := parse(s, region)
	if err != nil {
		return "error: " + err.Error()
	}
	return describe(n)
}

func describeOurs(n *ours.PhoneNumber) string {
	zones, err := ours.GetTimezonesForNumber(n)
	return fmt.Sprintf("%s | %s | %s | %s | valid %v | possible %v | type %v | region %s | zones %v %v | ext %q",
		ours.Format(n, ours.E164), ours.Format(n, ours.INTERNATIONAL), ours.Format(n, ours.NATIONAL), ours.Format(n, ours.RFC3966),
		ours.IsValidNumber(n), ours.IsPossibleNumberWithReason(n), ours.GetNumberType(n), ours.GetRegionCodeForNumber(n),
		zones, err, n.GetExtension())
}

func describeUpstream(n *upstream.PhoneNumber) string {
	zones, err := upstream.GetTimezonesForNumber(n)
	return fmt.Sprintf("%s | %s | %s | %s | valid %v | possible %v | type %v | region %s | zones %v %v | ext %q",
		upstream.Format(n, upstream.E164), upstream.Format(n, upstream.INTERNATIONAL), upstream.Format(n, upstream.NATIONAL), upstream.Format(n, upstream.RFC3966),
		upstream.IsValidNumber(n), upstream.IsPossibleNumberWithReason(n), upstream.GetNumberType(n), upstream.GetRegionCodeForNumber(n),
		zones, err, n.GetExtension())
}

// compare checks that both libraries answer s parsed in region alike.
func compare(t *testing.T, s, region string) {
	t.Helper()
	// internal/destination tells errors apart by identity.
	if _, err := ours.Parse(s, region); err != nil && !slices.Contains(parseErrors, err) {
		t.Errorf("Parse(%q, %q): %v is none of the package's errors", s, region, err)
	}
	got := answer(ours.Parse, describeOurs, s, region)
	want := answer(upstream.Parse, describeUpstream, s, region)
	if got != want {
		t.Errorf("Parse(%q, %q):\n got %s\nwant %s", s, region, got, want)
	}
}

// parseErrors are the errors Parse answers with.
var parseErrors = []error{ours.ErrInvalidCountryCode, ours.ErrNotANumber, ours.ErrTooShortNSN, ours.ErrTooShortAfterIDD, ours.ErrNumTooLong}

// numberTypes are the types whose example numbers are written out.
var numberTypes = []upstream.PhoneNumberType{
	upstream.FIXED_LINE, upstream.MOBILE, upstream.TOLL_FREE, upstream.PREMIUM_RATE, upstream.SHARED_COST,
	upstream.VOIP, upstream.PERSONAL_NUMBER, upstream.PAGER, upstream.UAN, upstream.VOICEMAIL,
}

// TestParseMatchesUpstream writes every region's example numbers of every
// type in every format (and a digit short, a digit long, with an
// extension, with letters) and parses each from its own region, from
// none, from the US and from Germany (froms), in both libraries.
func TestParseMatchesUpstream(t *testing.T) {
	regions := make([]string, 0, 256)
	for r := range upstream.GetSupportedRegions() {
		regions = append(regions, r)
	}
	slices.Sort(regions)
	if !maps.Equal(ours.GetSupportedRegions(), upstream.GetSupportedRegions()) {
		t.Fatalf("supported regions differ: %d here, %d upstream", len(ours.GetSupportedRegions()), len(regions))
	}
	inputs := 0
	for _, region := range regions {
		for _, typ := range numberTypes {
			ex := upstream.GetExampleNumberForType(region, typ)
			if ex == nil {
				continue
			}
			e164 := upstream.Format(ex, upstream.E164)
			for _, s := range []string{
				e164,
				upstream.Format(ex, upstream.INTERNATIONAL),
				upstream.Format(ex, upstream.NATIONAL),
				upstream.Format(ex, upstream.RFC3966),
				upstream.Format(ex, upstream.NATIONAL) + " ext. 123",
				e164[:len(e164)-1],
				e164 + "7",
				strings.TrimPrefix(e164, "+"),
				"00" + strings.TrimPrefix(e164, "+"),
				strings.Map(func(r rune) rune {
					if unicode.IsDigit(r) && r > '1' {
						return 'A' + (r-'2')*3 // a digit as the keypad's letter
					}
					return r
				}, upstream.Format(ex, upstream.NATIONAL)),
			} {
				for _, from := range froms(region) {
					compare(t, s, from)
					inputs++
				}
			}
		}
	}
	t.Logf("compared %d inputs", inputs)
	if inputs < 10_000 {
		t.Errorf("compared %d inputs, want every region's examples", inputs)
	}
}

// froms are the default regions an example of region is parsed from: its
// own, none, the US and Germany; with -short (make unit) the first two.
func froms(region string) []string {
	if testing.Short() {
		return []string{region, ""}
	}
	return []string{region, "", "US", "DE"}
}

// FuzzParseMatchesUpstream compares both libraries on any input.
func FuzzParseMatchesUpstream(f *testing.F) {
	for _, seed := range []struct{ s, region string }{
		{"+14155550100", ""}, {"(415) 555-0100", "US"}, {"020 7946 0958", "GB"}, {"+44 (0) 20 7946 0958", ""},
		{"0049 30 123456", "US"}, {"tel:+1-415-555-0100;ext=12", ""}, {"1-800-FLOWERS", "US"}, {"+800 1234 5678", ""},
		{"+39 06 1234 5678", ""}, {"011 44 20 7946 0958", "US"}, {"+١٢٣٤٥٦٧٨٩", ""}, {"", "ZZ"},
	} {
		f.Add(seed.s, seed.region)
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		compare(t, s, region)
	})
}
