package phonenumbers

import (
	"reflect"
	"testing"
)

// TestLazyTerritoriesMatchTheCollection: every territory decoded on its
// own from the index equals the same territory of the whole collection
// decoded at once (which TestMetadataMatchesUpstream holds to upstream's
// proto.Unmarshal), and the index has each territory once.
func TestLazyTerritoriesMatchTheCollection(t *testing.T) {
	coll, err := unmarshalMetadataCollection(numberData)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := loadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(mc.regionRaw) + len(mc.nonGeoRaw); n != len(coll.Metadata) || n < 200 {
		t.Fatalf("index: %d regions and %d non-geographical entities, the collection %d territories", len(mc.regionRaw), len(mc.nonGeoRaw), len(coll.Metadata))
	}
	for _, want := range coll.Metadata {
		var got *PhoneMetadata
		var ok bool
		if want.GetId() == REGION_CODE_FOR_NON_GEO_ENTITY {
			got, ok = decoded(mc, mc.countryCodeToNonGeographicalMetadataMap, mc.nonGeoRaw, int(want.GetCountryCode()))
		} else {
			got, ok = decoded(mc, mc.regionToMetadataMap, mc.regionRaw, want.GetId())
		}
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("territory %s/%d decoded alone differs from the collection's (found %v)", want.GetId(), want.GetCountryCode(), ok)
		}
	}
	if _, ok := decoded(mc, mc.regionToMetadataMap, mc.regionRaw, "XX"); ok {
		t.Error("an unknown region was found")
	}
}

// TestFirstUseDecodesFewTerritories: normalising a British and an
// American number decodes a handful of territories, not all of them
// (upstream decodes about 250 at start).
func TestFirstUseDecodesFewTerritories(t *testing.T) {
	fresh, err := loadEmbedded()
	if err != nil {
		t.Fatal(err)
	}
	old := metadata()
	currentMetadata = fresh
	defer func() { currentMetadata = old }()
	for _, s := range []string{"+44 20 7183 8750", "+1 415 555 0123"} {
		n, err := Parse(s, "")
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if r := IsPossibleNumberWithReason(n); r != IS_POSSIBLE {
			t.Errorf("%q: possible = %v", s, r)
		}
	}
	fresh.mu.Lock()
	n := len(fresh.regionToMetadataMap) + len(fresh.countryCodeToNonGeographicalMetadataMap)
	fresh.mu.Unlock()
	if n == 0 || n > 4 {
		t.Errorf("two numbers decoded %d territories, want 1 to 4 of %d", n, len(fresh.regionRaw)+len(fresh.nonGeoRaw))
	}
}
