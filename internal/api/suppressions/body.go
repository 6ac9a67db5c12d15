package suppressions

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/outdial/outdial/internal/csvimport"
	"github.com/outdial/outdial/internal/outdial"
	"github.com/outdial/outdial/internal/strictjson"
)

// addressesBody is the JSON body of the suppression routes. Its entries are
// decoded one by one, so that an entry that is not a string is named.
type addressesBody struct {
	Addresses []json.RawMessage `json:"addresses"`
}

// readJSON reads {"addresses":[...]} strictly (no other field). The array
// must hold 1 to outdial.MaxSuppressionsPerRequest strings.
func readJSON(body []byte) ([]entry, error) {
	var in addressesBody
	if err := strictjson.Decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Addresses) == 0 {
		return nil, noAddresses()
	}
	if len(in.Addresses) > outdial.MaxSuppressionsPerRequest {
		return nil, tooMany(strconv.Itoa(len(in.Addresses)))
	}
	entries := make([]entry, len(in.Addresses))
	for i, raw := range in.Addresses {
		field := itemField(i)
		var s string
		if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return nil, outdial.FieldErrorf(outdial.ECodeInvalidField, field, "must be a string such as \"tel:+15551234567\"")
		}
		entries[i] = entry{index: i, field: field, sent: s}
	}
	return entries, nil
}

// The CSV form of POST /v1.0/suppressions.
//
// The file is UTF-8 (a leading byte order mark is dropped), comma
// separated and quoted as in RFC 4180, or semicolon separated if its
// header has a semicolon and no comma, as package csvimport reads target
// files. Lines are at most csvimport.MaxLineBytes long. Blank lines are
// skipped and every cell is trimmed.
//
// The header names (trimmed, any case) either one address column, whose
// cells are written addresses (tel:+15551234567, sip:alice@example.com,
// email:a@example.com), or tel, sip and email columns (each may repeat),
// whose non-empty cells are addresses of that type written without the
// type (+15551234567, sip:alice@example.com, a@example.com). Other columns
// are ignored. A file without such a header is invalid_csv.
//
// A row with a field count other than the header's, broken quoting, or no
// address is rejected as a whole; the rows after it are still read.
const (
	colIgnored = iota
	colAddress
	colTel
	colSIP
	colEmail
)

var csvColumns = map[string]int{
	"address":         colAddress,
	outdial.TypeTel:   colTel,
	outdial.TypeSIP:   colSIP,
	outdial.TypeEmail: colEmail,
}

var csvTypes = map[int]string{colTel: outdial.TypeTel, colSIP: outdial.TypeSIP, colEmail: outdial.TypeEmail}

// readCSV reads the addresses of a CSV body, at most
// outdial.MaxSuppressionsPerRequest of them (rejected rows count as one).
func readCSV(body []byte) ([]entry, error) {
	cr, err := csvimport.NewReader(body)
	if err != nil {
		return nil, err
	}

	// The header.
	var header []string
	for {
		rec, err := cr.Read()
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, csvErrorf("the header (line %d) is not valid CSV: %v", pe.StartLine, pe.Err)
			}
			return nil, csvErrorf("is empty: send a header line (address, or tel, sip, email), then one line per row")
		}
		if !csvimport.Blank(rec) {
			header = rec
			break
		}
	}
	cols, err := csvHeader(header)
	if err != nil {
		return nil, err
	}

	// The rows.
	var entries []entry
	add := func(e entry) error {
		if len(entries) == outdial.MaxSuppressionsPerRequest {
			return tooMany("more")
		}
		entries = append(entries, e)
		return nil
	}
	for row := 0; ; {
		offset := cr.InputOffset()
		rec, err := cr.Read()
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				break // io.EOF: reading from memory fails no other way
			}
			if cr.InputOffset() == offset {
				// Never the case with encoding/csv; a guard against looping.
				return nil, csvErrorf("line %d is not valid CSV: %v", pe.StartLine, pe.Err)
			}
			if err := add(entry{index: row, line: pe.StartLine, err: outdial.Errorf(outdial.ECodeInvalidField, "row is not valid CSV: %v", pe.Err)}); err != nil {
				return nil, err
			}
			row++
			continue
		}
		if csvimport.Blank(rec) {
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(cols) {
			if err := add(entry{index: row, line: line, err: outdial.Errorf(outdial.ECodeInvalidField, "row has %d fields, but the header has %d", len(rec), len(cols))}); err != nil {
				return nil, err
			}
			row++
			continue
		}
		found := false
		for i, c := range cols {
			v := strings.TrimSpace(rec[i])
			if c == colIgnored || v == "" {
				continue
			}
			found = true
			e := entry{index: row, line: line, field: "address", sent: v}
			if typ := csvTypes[c]; typ != "" {
				e.field, e.typ = typ, typ
			}
			if err := add(e); err != nil {
				return nil, err
			}
		}
		if !found {
			if err := add(entry{index: row, line: line, err: outdial.FieldErrorf(outdial.ECodeMissingField, "address", "the row has no address")}); err != nil {
				return nil, err
			}
		}
		row++
	}
	if len(entries) == 0 {
		return nil, noAddresses()
	}
	return entries, nil
}

// csvHeader classifies the header's columns.
func csvHeader(header []string) ([]int, error) {
	cols := make([]int, len(header))
	var hasAddress, hasTyped bool
	for i, h := range header {
		name := strings.TrimSpace(h)
		if name == "" {
			return nil, csvErrorf("the header's column %d has no name", i+1)
		}
		c := csvColumns[strings.ToLower(name)]
		switch c {
		case colAddress:
			if hasAddress {
				return nil, csvErrorf("the header has the column address more than once")
			}
			hasAddress = true
		case colTel, colSIP, colEmail:
			hasTyped = true
		}
		cols[i] = c
	}
	switch {
	case hasAddress && hasTyped:
		return nil, csvErrorf("the header must have either an address column or tel, sip and email columns, not both")
	case !hasAddress && !hasTyped:
		return nil, csvErrorf("the header must have an address column, or tel, sip or email columns (names are case-insensitive)")
	}
	return cols, nil
}

func csvErrorf(format string, args ...any) error {
	return outdial.FieldErrorf(outdial.ECodeInvalidCSV, "body", format, args...)
}

func mediaType(ct string) string {
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "invalid"
	}
	return strings.ToLower(mt)
}

// maxEcho bounds the JSON encoding of an address echoed in Rejected, so
// that 10 000 rejected addresses answer well under Lambda's 6 MB response
// limit whatever they hold. Every valid address is shorter.
const maxEcho = 300

// echo returns s, or its longest prefix (whole characters) whose JSON
// encoding, with a trailing "…", has at most maxEcho bytes.
func echo(s string) string {
	const more = "…"
	n := 0
	cut := -1 // where s is cut if it is too long
	for i, r := range s {
		n += jsonLen(r)
		if cut < 0 && n > maxEcho-len(more) {
			cut = i
		}
		if n > maxEcho {
			return s[:cut] + more
		}
	}
	return s
}

// jsonLen is at least the length of r in a JSON string encoded by
// encoding/json (which escapes <, > and & as \u003c and so on).
func jsonLen(r rune) int {
	switch {
	case r == '"' || r == '\\':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' || r == utf8.RuneError:
		return 6
	}
	return utf8.RuneLen(r)
}
