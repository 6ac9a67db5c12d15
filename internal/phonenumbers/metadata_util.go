package phonenumbers

// ptr returns a pointer to a copy of v (proto.String, proto.Int32 and so
// on in the upstream code).
func ptr[T any](v T) *T { return &v }

// copyPtr returns a pointer to a copy of *p, or nil.
func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	return ptr(*p)
}

// mergeFrom merges other into nf as proto.Merge does: fields set in other
// replace nf's, repeated fields are appended. A nil other merges nothing.
func (nf *NumberFormat) mergeFrom(other *NumberFormat) {
	if other == nil {
		return
	}
	if other.Pattern != nil {
		nf.Pattern = copyPtr(other.Pattern)
	}
	if other.Format != nil {
		nf.Format = copyPtr(other.Format)
	}
	nf.LeadingDigitsPattern = append(nf.LeadingDigitsPattern, other.LeadingDigitsPattern...)
	if other.NationalPrefixFormattingRule != nil {
		nf.NationalPrefixFormattingRule = copyPtr(other.NationalPrefixFormattingRule)
	}
	if other.DomesticCarrierCodeFormattingRule != nil {
		nf.DomesticCarrierCodeFormattingRule = copyPtr(other.DomesticCarrierCodeFormattingRule)
	}
	if other.NationalPrefixOptionalWhenFormatting != nil {
		nf.NationalPrefixOptionalWhenFormatting = copyPtr(other.NationalPrefixOptionalWhenFormatting)
	}
}

// mergeFrom merges other into pn as proto.Merge does: fields set in other
// replace pn's. A nil other merges nothing.
func (pn *PhoneNumber) mergeFrom(other *PhoneNumber) {
	if other == nil {
		return
	}
	if other.CountryCode != nil {
		pn.CountryCode = copyPtr(other.CountryCode)
	}
	if other.NationalNumber != nil {
		pn.NationalNumber = copyPtr(other.NationalNumber)
	}
	if other.Extension != nil {
		pn.Extension = copyPtr(other.Extension)
	}
	if other.ItalianLeadingZero != nil {
		pn.ItalianLeadingZero = copyPtr(other.ItalianLeadingZero)
	}
	if other.NumberOfLeadingZeros != nil {
		pn.NumberOfLeadingZeros = copyPtr(other.NumberOfLeadingZeros)
	}
	if other.RawInput != nil {
		pn.RawInput = copyPtr(other.RawInput)
	}
	if other.CountryCodeSource != nil {
		pn.CountryCodeSource = copyPtr(other.CountryCodeSource)
	}
	if other.PreferredDomesticCarrierCode != nil {
		pn.PreferredDomesticCarrierCode = copyPtr(other.PreferredDomesticCarrierCode)
	}
}

func (pd *PhoneNumberDesc) hasPossibleLength(length int32) bool {
	for _, l := range pd.PossibleLength {
		if l == length {
			return true
		}
	}

	return false
}

func (pd *PhoneNumberDesc) hasPossibleLengthLocalOnly(length int32) bool {
	for _, l := range pd.PossibleLengthLocalOnly {
		if l == length {
			return true
		}
	}
	return false
}
