// Port of metadata/source/* + MetadataLoader from google/libphonenumber.
// Functions are kept in upstream source order to ease syncing.
// Last reconciled against: v9.0.32
package phonenumbers

import (
	"fmt"
	"sync"
)

// metadataContainer bundles all of the metadata-derived lookup state used by
// the library. The package keeps a single active container (currentMetadata),
// built from the embedded metadata once (metadata). Upstream swaps it in
// tests that use synthetic metadata; this copy has no such tests.
type metadataContainer struct {
	// A map from country code (as integer) to two letter region codes.
	countryCodeToRegion map[int][]string

	// Each territory's PhoneMetadata as it is in the embedded metadata,
	// by region code and, for the non-geographical entities, by country
	// calling code; decoded when it is first asked for (decoded). Upstream
	// decodes all of them (about 250) at start; a process normalising
	// numbers of a few countries decodes a few.
	regionRaw map[string]string
	nonGeoRaw map[int]string

	mu sync.Mutex
	// A mapping from a region code to the PhoneMetadata for that region:
	// the ones decoded so far.
	regionToMetadataMap map[string]*PhoneMetadata
	// A mapping from a country calling code for a non-geographical entity to
	// the PhoneMetadata for that country calling code (decoded so far).
	// Examples of the country calling codes include 800 (International Toll
	// Free Service) and 808 (International Shared Cost Service).
	countryCodeToNonGeographicalMetadataMap map[int]*PhoneMetadata
	// slab backs the decoded metadata's strings (wireReader).
	slab *[]string

	// The set of regions that share country calling code 1.
	nanpaRegions map[string]struct{}

	// The set of regions the library supports.
	supportedRegions map[string]bool

	// All the calling codes we support.
	supportedCallingCodes map[int]bool

	// The set of calling codes that map to the non-geo entity region ("001").
	countryCodesForNonGeographicalRegion map[int]bool
}

// currentMetadata is the active metadata container. It is populated from the
// embedded metadata by initMetadata, which the package's init starts in the
// background (about 0.3 ms: the region map and an index of the
// territories): the process goes on starting meanwhile, and the first use
// waits for it (metadata).
var (
	currentMetadata *metadataContainer
	metadataOnce    sync.Once
)

// metadata returns the metadata container, once it is loaded. If loading
// failed (a panic, recovered by a caller), every later use panics too,
// with this message, rather than with a nil pointer.
func metadata() *metadataContainer {
	metadataOnce.Do(initMetadata)
	if currentMetadata == nil {
		panic("phonenumbers: the embedded metadata failed to load")
	}
	return currentMetadata
}

func initMetadata() {
	mc, err := loadEmbedded()
	if err != nil {
		panic(err)
	}
	currentMetadata = mc
}

// loadEmbedded returns a new container of the embedded metadata: the
// region map, and an index of the territories, each decoded when first
// used.
func loadEmbedded() (*metadataContainer, error) {
	regionMap, err := loadIntArrayMap(regionData)
	if err != nil {
		return nil, err
	}
	regions, nonGeo, err := indexMetadataCollection(numberData)
	if err != nil {
		return nil, err
	}
	return newMetadataContainer(regions, nonGeo, regionMap.Map)
}

// newMetadataContainer builds a metadataContainer from the encoded
// territories (indexMetadataCollection) and a country-code-to-region map.
// Upstream derives the same state from the decoded collection at init.
func newMetadataContainer(regions map[string]string, nonGeo map[int]string, countryCodeToRegion map[int][]string) (*metadataContainer, error) {
	if len(regions)+len(nonGeo) == 0 {
		return nil, ErrEmptyMetadata
	}

	mc := &metadataContainer{
		countryCodeToRegion:                     countryCodeToRegion,
		regionRaw:                               regions,
		nonGeoRaw:                               nonGeo,
		regionToMetadataMap:                     make(map[string]*PhoneMetadata),
		countryCodeToNonGeographicalMetadataMap: make(map[int]*PhoneMetadata),
		slab:                                    new([]string),
		nanpaRegions:                            make(map[string]struct{}),
		supportedRegions:                        make(map[string]bool, 320),
		supportedCallingCodes:                   make(map[int]bool, 320),
		countryCodesForNonGeographicalRegion:    make(map[int]bool, 16),
	}

	for eKey, regionCodes := range countryCodeToRegion {
		// We can assume that if the county calling code maps to the
		// non-geo entity region code then that's the only region code
		// it maps to.
		if len(regionCodes) == 1 && REGION_CODE_FOR_NON_GEO_ENTITY == regionCodes[0] {
			// This is the subset of all country codes that map to the
			// non-geo entity region code.
			mc.countryCodesForNonGeographicalRegion[eKey] = true
		} else {
			// The supported regions set does not include the "001"
			// non-geo entity region code.
			for _, val := range regionCodes {
				mc.supportedRegions[val] = true
			}
		}

		mc.supportedCallingCodes[eKey] = true
	}
	// If the non-geo entity still got added to the set of supported regions it
	// must be because there are entries that list the non-geo entity alongside
	// normal regions (which is wrong). If we discover this, remove the non-geo
	// entity from the set of supported regions.
	delete(mc.supportedRegions, REGION_CODE_FOR_NON_GEO_ENTITY)

	for _, val := range countryCodeToRegion[NANPA_COUNTRY_CODE] {
		mc.nanpaRegions[val] = struct{}{}
	}

	return mc, nil
}

func readFromNanpaRegions(key string) (struct{}, bool) {
	v, ok := metadata().nanpaRegions[key]
	return v, ok
}

func readFromRegionToMetadataMap(key string) (*PhoneMetadata, bool) {
	mc := metadata()
	return decoded(mc, mc.regionToMetadataMap, mc.regionRaw, key)
}

func readFromCountryCodeToNonGeographicalMetadataMap(key int) (*PhoneMetadata, bool) {
	mc := metadata()
	return decoded(mc, mc.countryCodeToNonGeographicalMetadataMap, mc.nonGeoRaw, key)
}

// decoded returns the territory of key, from done when it was decoded
// before, else decoded from raw (and kept in done); false when raw has
// none. The embedded metadata is fixed and every territory of it is
// decoded by the tests (TestLazyTerritoriesMatchTheCollection): a
// territory that fails to decode panics, as a failed load does.
func decoded[K comparable](mc *metadataContainer, done map[K]*PhoneMetadata, raw map[K]string, key K) (*PhoneMetadata, bool) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	if m, ok := done[key]; ok {
		return m, true
	}
	b, ok := raw[key]
	if !ok {
		return nil, false
	}
	m := &PhoneMetadata{}
	if err := m.unmarshal(wireReader{s: b, slab: mc.slab}); err != nil {
		panic(fmt.Sprintf("phonenumbers: the embedded metadata of %v: %v", key, err))
	}
	done[key] = m
	return m, true
}

// MetadataCollection returns the embedded territory metadata collection,
// decoded whole (the package itself decodes territories one by one, as
// they are used).
func MetadataCollection() (*PhoneMetadataCollection, error) {
	return unmarshalMetadataCollection(numberData)
}
