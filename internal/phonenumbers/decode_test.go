package phonenumbers

// Tests of decode.go and mergeFrom against the protobuf runtime they
// replace: messages in every encoding the spec allows (packed and unpacked
// repeated fields, a message field twice, a scalar twice, unknown fields,
// negative and overflowing int32s), decoded by both; proto.Merge and
// mergeFrom of the same messages.

import (
	"fmt"
	"reflect"
	"testing"

	upstream "github.com/nyaruka/phonenumbers"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// diffFields appends to out every field of ours that differs from the
// same-named field of theirs.
func diffFields(path string, ours, theirs reflect.Value, out *[]string) {
	switch ours.Kind() {
	case reflect.Pointer:
		if ours.IsNil() != theirs.IsNil() {
			*out = append(*out, fmt.Sprintf("%s: set %v upstream %v", path, !ours.IsNil(), !theirs.IsNil()))
			return
		}
		if !ours.IsNil() {
			diffFields(path, ours.Elem(), theirs.Elem(), out)
		}
	case reflect.Struct:
		for i := range ours.NumField() {
			f := ours.Type().Field(i)
			diffFields(path+"."+f.Name, ours.Field(i), theirs.FieldByName(f.Name), out)
		}
	case reflect.Slice:
		if ours.Len() != theirs.Len() {
			*out = append(*out, fmt.Sprintf("%s: len %d upstream %d", path, ours.Len(), theirs.Len()))
			return
		}
		for i := range ours.Len() {
			diffFields(fmt.Sprintf("%s[%d]", path, i), ours.Index(i), theirs.Index(i), out)
		}
	default:
		if fmt.Sprint(ours.Interface()) != fmt.Sprint(theirs.Interface()) {
			*out = append(*out, fmt.Sprintf("%s = %v upstream %v", path, ours.Interface(), theirs.Interface()))
		}
	}
}

// check decodes b with decode.go and with proto.Unmarshal; when both
// accept it, they must agree on every field.
func check(t *testing.T, b []byte) {
	var want upstream.PhoneMetadataCollection
	uerr := proto.UnmarshalOptions{AllowPartial: true}.Unmarshal(b, &want)
	got, oerr := unmarshalMetadataCollection(string(b))
	if uerr != nil || oerr != nil {
		if (uerr == nil) != (oerr == nil) {
			t.Logf("error mismatch: ours %v upstream %v", oerr, uerr)
		}
		return
	}
	var d []string
	diffFields("c", reflect.ValueOf(got).Elem(), reflect.ValueOf(&want).Elem(), &d)
	if len(d) > 0 {
		t.Errorf("silent divergence on %x: %v", b, d)
	}
}

func tagv(b []byte, n protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, n, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}
func tagb(b []byte, n protowire.Number, s []byte) []byte {
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendBytes(b, s)
}

func TestDecodeMatchesProtoUnmarshal(t *testing.T) {
	// desc: packed + unpacked possible_length, negative, duplicates
	var desc1, desc2 []byte
	desc1 = tagb(desc1, 2, []byte("a"))
	desc1 = tagv(desc1, 9, 5)
	var packed []byte
	packed = protowire.AppendVarint(packed, 7)
	packed = protowire.AppendVarint(packed, negU(-1))
	packed = protowire.AppendVarint(packed, 1<<33|3) // overflowing int32
	desc1 = tagb(desc1, 9, packed)
	desc1 = tagb(desc1, 10, packed)
	desc1 = tagv(desc1, 99, 1) // unknown varint
	desc1 = protowire.AppendTag(desc1, 98, protowire.Fixed32Type)
	desc1 = protowire.AppendFixed32(desc1, 1)
	desc1 = protowire.AppendTag(desc1, 97, protowire.Fixed64Type)
	desc1 = protowire.AppendFixed64(desc1, 1)
	desc2 = tagb(desc2, 6, []byte("ex"))
	desc2 = tagv(desc2, 9, 8)
	desc2 = tagb(desc2, 2, []byte("b"))
	var nf []byte
	nf = tagb(nf, 1, []byte("p"))
	nf = tagb(nf, 3, []byte("l1"))
	nf = tagb(nf, 3, []byte("l2"))
	nf = tagv(nf, 6, 2)
	nf = tagb(nf, 1, []byte("p2"))
	var m []byte
	m = tagb(m, 9, []byte("XX"))
	m = tagv(m, 10, negU(-5))
	m = tagb(m, 1, desc1)
	m = tagb(m, 19, nf)
	m = tagb(m, 1, desc2) // merged into general_desc
	m = tagb(m, 19, nf)
	m = tagb(m, 20, nf)
	m = tagv(m, 18, 300) // bool from big varint
	m = tagv(m, 10, 44)  // last wins
	m = tagb(m, 4, nil)  // empty toll_free set
	var c []byte
	c = tagb(c, 1, m)
	c = tagb(c, 2, []byte("junk"))
	c = tagb(c, 1, m[:0])
	check(t, c)

	check(t, []byte(numberData))
}

// FuzzDecodeMatchesProtoUnmarshal decodes any bytes both ways.
func FuzzDecodeMatchesProtoUnmarshal(f *testing.F) {
	f.Add([]byte(numberData[:200]))
	f.Add([]byte{0x0a, 0x03, 0x48, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) { check(t, b) })
}

// negU is the varint of a negative int.
func negU(v int64) uint64 { return uint64(v) }

// TestMergeFromMatchesProtoMerge merges messages with every field set,
// none, and each alone into messages with every field set and none, with
// mergeFrom and with proto.Merge, and wants the same fields; and the
// merged message keeps its values when the source changes afterwards.
func TestMergeFromMatchesProtoMerge(t *testing.T) {
	fullNumber := func() *PhoneNumber {
		return &PhoneNumber{
			CountryCode: ptr(int32(44)), NationalNumber: ptr(uint64(2079460958)), Extension: ptr("12"),
			ItalianLeadingZero: ptr(true), NumberOfLeadingZeros: ptr(int32(2)), RawInput: ptr("020 7946 0958"),
			CountryCodeSource: PhoneNumber_FROM_DEFAULT_COUNTRY.Enum(), PreferredDomesticCarrierCode: ptr("15"),
		}
	}
	otherNumber := func() *PhoneNumber {
		return &PhoneNumber{
			CountryCode: ptr(int32(1)), NationalNumber: ptr(uint64(5551234567)), Extension: ptr("9"),
			ItalianLeadingZero: ptr(false), NumberOfLeadingZeros: ptr(int32(1)), RawInput: ptr("555"),
			CountryCodeSource: PhoneNumber_FROM_NUMBER_WITH_PLUS_SIGN.Enum(), PreferredDomesticCarrierCode: ptr("1"),
		}
	}
	mergeMatches(t, "PhoneNumber", fullNumber, otherNumber, (*PhoneNumber).mergeFrom, func() *upstream.PhoneNumber { return &upstream.PhoneNumber{} })

	fullFormat := func() *NumberFormat {
		return &NumberFormat{
			Pattern: ptr(`(\d{3})(\d{4})`), Format: ptr("$1 $2"), LeadingDigitsPattern: []string{"[2-9]", "55"},
			NationalPrefixFormattingRule: ptr("0$FG"), NationalPrefixOptionalWhenFormatting: ptr(true), DomesticCarrierCodeFormattingRule: ptr("$CC $FG"),
		}
	}
	otherFormat := func() *NumberFormat {
		return &NumberFormat{
			Pattern: ptr(`(\d)`), Format: ptr("$1"), LeadingDigitsPattern: []string{"1"},
			NationalPrefixFormattingRule: ptr("$FG"), NationalPrefixOptionalWhenFormatting: ptr(false), DomesticCarrierCodeFormattingRule: ptr("$FG"),
		}
	}
	mergeMatches(t, "NumberFormat", fullFormat, otherFormat, (*NumberFormat).mergeFrom, func() *upstream.NumberFormat { return &upstream.NumberFormat{} })
	var nilNumber *PhoneNumber
	n := &PhoneNumber{CountryCode: ptr(int32(1))}
	n.mergeFrom(nilNumber)
	if n.GetCountryCode() != 1 || n.NationalNumber != nil {
		t.Errorf("merging nil changed the message: %+v", n)
	}
}

// mergeMatches merges every source of sourcesOf(full) into other() and
// into an empty T with merge, and the same messages as upstream's U with
// proto.Merge, and compares (compareMerge).
func mergeMatches[T any, U proto.Message](t *testing.T, name string, full, other func() *T, merge func(*T, *T), newUp func() U) {
	t.Helper()
	for dname, dst := range map[string]func() *T{"full": other, "empty": func() *T { return new(T) }} {
		for sname, src := range sourcesOf(full) {
			got, s := dst(), src()
			merge(got, s)
			want, wantSrc := newUp(), newUp()
			toUpstream(t, reflect.ValueOf(want).Elem(), reflect.ValueOf(dst()).Elem())
			toUpstream(t, reflect.ValueOf(wantSrc).Elem(), reflect.ValueOf(s).Elem())
			proto.Merge(want, wantSrc)
			compareMerge(t, name+" "+sname+" into "+dname, got, want, s)
		}
	}
}

// sourcesOf returns the sources of a merge: full() itself, an empty
// message, and one per field holding only that field of full().
func sourcesOf[T any](full func() *T) map[string]func() *T {
	out := map[string]func() *T{"full": full, "empty": func() *T { return new(T) }}
	typ := reflect.TypeFor[T]()
	for i := range typ.NumField() {
		out[typ.Field(i).Name] = func() *T {
			one := new(T)
			reflect.ValueOf(one).Elem().Field(i).Set(reflect.ValueOf(full()).Elem().Field(i))
			return one
		}
	}
	return out
}

// toUpstream sets every field of up (an upstream message) to a copy of
// the same-named field of ours: pointers to scalars and slices of them.
func toUpstream(t *testing.T, up, ours reflect.Value) {
	t.Helper()
	for i := range ours.NumField() {
		name := ours.Type().Field(i).Name
		src, dst := ours.Field(i), up.FieldByName(name)
		switch src.Kind() {
		case reflect.Pointer:
			if !src.IsNil() {
				p := reflect.New(dst.Type().Elem())
				p.Elem().Set(src.Elem().Convert(dst.Type().Elem()))
				dst.Set(p)
			}
		case reflect.Slice:
			if src.Len() > 0 {
				dst.Set(reflect.AppendSlice(reflect.MakeSlice(dst.Type(), 0, src.Len()), src))
			}
		default:
			t.Fatalf("field %s: kind %s", name, src.Kind())
		}
	}
}

// compareMerge wants got (mergeFrom's) to hold want's (proto.Merge's)
// fields, and to keep them when src is changed in place.
func compareMerge(t *testing.T, what string, got, want, src any) {
	t.Helper()
	var d []string
	diffFields("", reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem(), &d)
	if len(d) > 0 {
		t.Errorf("%s: %v", what, d)
	}
	before := fmt.Sprint(describe(reflect.ValueOf(got).Elem()))
	s := reflect.ValueOf(src).Elem()
	for i := range s.NumField() {
		switch f := s.Field(i); f.Kind() {
		case reflect.Pointer:
			if !f.IsNil() {
				f.Elem().Set(reflect.Zero(f.Elem().Type()))
			}
		case reflect.Slice:
			for j := range f.Len() {
				f.Index(j).Set(reflect.Zero(f.Index(j).Type()))
			}
		}
	}
	if after := fmt.Sprint(describe(reflect.ValueOf(got).Elem())); after != before {
		t.Errorf("%s: the merged message changed with its source: %s, then %s", what, before, after)
	}
}

// describe lists a message's field values (pointers followed).
func describe(v reflect.Value) []any {
	var out []any
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Pointer {
			if f.IsNil() {
				out = append(out, nil)
				continue
			}
			f = f.Elem()
		}
		out = append(out, fmt.Sprint(f.Interface()))
	}
	return out
}
