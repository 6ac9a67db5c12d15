package phonenumbers

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The embedded metadata is a PhoneMetadataCollection in the protobuf wire
// format (https://protobuf.dev/programming-guides/encoding/). Upstream
// reads it with proto.Unmarshal, which links the protobuf runtime (about
// 1.5 MiB, and reflection that keeps every exported method of every type
// in the binary); the messages are small and fixed, so they are read here
// by hand. Field numbers are those of phonemetadata.proto. As
// proto.Unmarshal does, a message field seen twice is merged, a repeated
// field appends (packed or not), a scalar seen twice keeps the last value
// and unknown fields are skipped.

// Wire types.
const (
	wireVarint = 0
	wireI64    = 1
	wireLen    = 2
	wireI32    = 5
)

var errTruncated = errors.New("phonenumbers: truncated metadata")

// wireReader reads fields from one message's bytes, s. Strings are cut
// from s without a copy, and their pointers come from a shared slab: the
// metadata holds about 20 000 strings, and one allocation each was most
// of the package's start-up time.
type wireReader struct {
	s    string
	slab *[]string
}

// next returns the next field's number and wire type; ok is false at the
// end of the message.
func (r *wireReader) next() (num int, typ int, ok bool, err error) {
	if len(r.s) == 0 {
		return 0, 0, false, nil
	}
	tag, err := r.varint()
	if err != nil {
		return 0, 0, false, err
	}
	if tag>>3 == 0 {
		return 0, 0, false, fmt.Errorf("phonenumbers: field number 0 in metadata")
	}
	return int(tag >> 3), int(tag & 7), true, nil
}

// each calls field with the number and wire type of every field of the
// message in turn; field reads or skips the field's value. It stops at
// the first error.
func (r *wireReader) each(field func(num, typ int) error) error {
	for {
		num, typ, ok, err := r.next()
		if err != nil || !ok {
			return err
		}
		if err := field(num, typ); err != nil {
			return err
		}
	}
}

func (r *wireReader) varint() (uint64, error) {
	var v uint64
	for i := 0; i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		c := r.s[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			r.s = r.s[i+1:]
			return v, nil
		}
	}
	return 0, errTruncated
}

func (r *wireReader) bytes() (string, error) {
	n, err := r.varint()
	if err != nil {
		return "", err
	}
	if n > uint64(len(r.s)) {
		return "", errTruncated
	}
	b := r.s[:n]
	r.s = r.s[n:]
	return b, nil
}

// sub returns a reader of the embedded message b.
func (r *wireReader) sub(b string) wireReader { return wireReader{s: b, slab: r.slab} }

// skip skips a field of wire type typ.
func (r *wireReader) skip(typ int) error {
	var n int
	switch typ {
	case wireVarint:
		_, err := r.varint()
		return err
	case wireLen:
		_, err := r.bytes()
		return err
	case wireI64:
		n = 8
	case wireI32:
		n = 4
	default:
		return fmt.Errorf("phonenumbers: wire type %d in metadata", typ)
	}
	if len(r.s) < n {
		return errTruncated
	}
	r.s = r.s[n:]
	return nil
}

// str reads a string field.
func (r *wireReader) str(typ int) (*string, error) {
	if typ != wireLen {
		return nil, fmt.Errorf("phonenumbers: string with wire type %d", typ)
	}
	b, err := r.bytes()
	if err != nil {
		return nil, err
	}
	if len(*r.slab) == cap(*r.slab) {
		*r.slab = make([]string, 0, 1024)
	}
	*r.slab = append(*r.slab, b)
	return &(*r.slab)[len(*r.slab)-1], nil
}

// int32 reads an int32 field (a varint; negative values take ten bytes).
func (r *wireReader) int32(typ int) (*int32, error) {
	if typ != wireVarint {
		return nil, fmt.Errorf("phonenumbers: int32 with wire type %d", typ)
	}
	v, err := r.varint()
	if err != nil {
		return nil, err
	}
	return ptr(int32(v)), nil
}

// bool reads a bool field.
func (r *wireReader) bool(typ int) (*bool, error) {
	if typ != wireVarint {
		return nil, fmt.Errorf("phonenumbers: bool with wire type %d", typ)
	}
	v, err := r.varint()
	if err != nil {
		return nil, err
	}
	return ptr(v != 0), nil
}

// int32s appends a repeated int32 field, packed or not, to s.
func (r *wireReader) int32s(typ int, s []int32) ([]int32, error) {
	switch typ {
	case wireVarint:
		v, err := r.varint()
		if err != nil {
			return nil, err
		}
		return append(s, int32(v)), nil
	case wireLen:
		b, err := r.bytes()
		if err != nil {
			return nil, err
		}
		packed := r.sub(b)
		for len(packed.s) > 0 {
			v, err := packed.varint()
			if err != nil {
				return nil, err
			}
			s = append(s, int32(v))
		}
		return s, nil
	}
	return nil, fmt.Errorf("phonenumbers: repeated int32 with wire type %d", typ)
}

// message reads an embedded message field with decode, into *dst (a new
// message if *dst is nil, merged into the one there otherwise).
func message[T any](r *wireReader, typ int, dst **T, decode func(*T, wireReader) error) error {
	if typ != wireLen {
		return fmt.Errorf("phonenumbers: message with wire type %d", typ)
	}
	b, err := r.bytes()
	if err != nil {
		return err
	}
	if *dst == nil {
		*dst = new(T)
	}
	return decode(*dst, r.sub(b))
}

// unmarshalMetadataCollection reads a PhoneMetadataCollection. Its
// strings are cut from b (the embedded metadata: no copy).
func unmarshalMetadataCollection(b string) (*PhoneMetadataCollection, error) {
	c := &PhoneMetadataCollection{}
	r := wireReader{s: b, slab: new([]string)}
	err := r.each(func(num, typ int) error {
		if num != 1 {
			return r.skip(typ)
		}
		var m *PhoneMetadata
		err := message(&r, typ, &m, (*PhoneMetadata).unmarshal)
		c.Metadata = append(c.Metadata, m)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// indexMetadataCollection returns the encoded PhoneMetadata of each
// territory of a PhoneMetadataCollection (its repeated field 1) by its id
// (field 9), and those of the non-geographical entities (id "001") by
// their country code (field 10), without decoding them: the package
// decodes a territory when it is first used (readFromRegionToMetadataMap).
// As for the decoded collection, a territory listed twice is the last
// one, and a scalar field seen twice in a message keeps its last value.
func indexMetadataCollection(b string) (regions map[string]string, nonGeo map[int]string, err error) {
	regions, nonGeo = make(map[string]string, 256), make(map[int]string, 16)
	r := wireReader{s: b}
	err = r.each(func(num, typ int) error {
		if num != 1 {
			return r.skip(typ)
		}
		if typ != wireLen {
			return fmt.Errorf("phonenumbers: message with wire type %d", typ)
		}
		raw, err := r.bytes()
		if err != nil {
			return err
		}
		var (
			id   string
			code int32
		)
		m := r.sub(raw)
		if err := m.each(func(num, typ int) error {
			switch {
			case num == 9 && typ == wireLen:
				v, err := m.bytes()
				id = v
				return err
			case num == 10 && typ == wireVarint:
				v, err := m.varint()
				code = int32(v)
				return err
			}
			return m.skip(typ)
		}); err != nil {
			return err
		}
		if id == REGION_CODE_FOR_NON_GEO_ENTITY {
			nonGeo[int(code)] = raw
		} else {
			regions[id] = raw
		}
		return nil
	})
	return regions, nonGeo, err
}

// desc maps PhoneMetadata's PhoneNumberDesc field numbers to the fields.
func (m *PhoneMetadata) desc(num int) **PhoneNumberDesc {
	switch num {
	case 1:
		return &m.GeneralDesc
	case 2:
		return &m.FixedLine
	case 3:
		return &m.Mobile
	case 4:
		return &m.TollFree
	case 5:
		return &m.PremiumRate
	case 6:
		return &m.SharedCost
	case 7:
		return &m.PersonalNumber
	case 8:
		return &m.Voip
	case 21:
		return &m.Pager
	case 24:
		return &m.NoInternationalDialling
	case 25:
		return &m.Uan
	case 27:
		return &m.Emergency
	case 28:
		return &m.Voicemail
	case 29:
		return &m.ShortCode
	case 30:
		return &m.StandardRate
	case 31:
		return &m.CarrierSpecific
	case 33:
		return &m.SmsServices
	}
	return nil
}

// str maps PhoneMetadata's string field numbers to the fields.
func (m *PhoneMetadata) str(num int) **string {
	switch num {
	case 9:
		return &m.Id
	case 11:
		return &m.InternationalPrefix
	case 12:
		return &m.NationalPrefix
	case 13:
		return &m.PreferredExtnPrefix
	case 15:
		return &m.NationalPrefixForParsing
	case 16:
		return &m.NationalPrefixTransformRule
	case 17:
		return &m.PreferredInternationalPrefix
	case 23:
		return &m.LeadingDigits
	}
	return nil
}

// bool maps PhoneMetadata's bool field numbers to the fields.
func (m *PhoneMetadata) bool(num int) **bool {
	switch num {
	case 18:
		return &m.SameMobileAndFixedLinePattern
	case 22:
		return &m.MainCountryForCode
	case 26:
		return &m.LeadingZeroPossible
	case 32:
		return &m.MobileNumberPortableRegion
	}
	return nil
}

func (m *PhoneMetadata) unmarshal(r wireReader) error {
	return r.each(func(num, typ int) (err error) {
		switch {
		case m.desc(num) != nil:
			err = message(&r, typ, m.desc(num), (*PhoneNumberDesc).unmarshal)
		case m.str(num) != nil:
			*m.str(num), err = r.str(typ)
		case m.bool(num) != nil:
			*m.bool(num), err = r.bool(typ)
		case num == 10:
			m.CountryCode, err = r.int32(typ)
		case num == 19 || num == 20:
			var f *NumberFormat
			if err = message(&r, typ, &f, (*NumberFormat).unmarshal); err == nil {
				if num == 19 {
					m.NumberFormat = append(m.NumberFormat, f)
				} else {
					m.IntlNumberFormat = append(m.IntlNumberFormat, f)
				}
			}
		default:
			err = r.skip(typ)
		}
		return err
	})
}

func (d *PhoneNumberDesc) unmarshal(r wireReader) error {
	return r.each(func(num, typ int) (err error) {
		switch num {
		case 2:
			d.NationalNumberPattern, err = r.str(typ)
		case 6:
			d.ExampleNumber, err = r.str(typ)
		case 9:
			d.PossibleLength, err = r.int32s(typ, d.PossibleLength)
		case 10:
			d.PossibleLengthLocalOnly, err = r.int32s(typ, d.PossibleLengthLocalOnly)
		default:
			err = r.skip(typ)
		}
		return err
	})
}

func (f *NumberFormat) unmarshal(r wireReader) error {
	return r.each(func(num, typ int) (err error) {
		switch num {
		case 1:
			f.Pattern, err = r.str(typ)
		case 2:
			f.Format, err = r.str(typ)
		case 3:
			var s *string
			if s, err = r.str(typ); err == nil {
				f.LeadingDigitsPattern = append(f.LeadingDigitsPattern, *s)
			}
		case 4:
			f.NationalPrefixFormattingRule, err = r.str(typ)
		case 5:
			f.DomesticCarrierCodeFormattingRule, err = r.str(typ)
		case 6:
			f.NationalPrefixOptionalWhenFormatting, err = r.bool(typ)
		default:
			err = r.skip(typ)
		}
		return err
	})
}
