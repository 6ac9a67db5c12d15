package phonenumbers

import _ "embed"

//go:embed data/countrycode_to_region.xml.gz
var regionData []byte

// numberData is upstream's data/metadata.xml.gz, uncompressed (a
// PhoneMetadataCollection in the protobuf wire format): 140 KB more in the
// binary, 2 ms less at start-up.
//
//go:embed data/metadata.bin
var numberData string

//go:embed data/prefix_to_timezone.xml.gz
var timezoneData []byte
