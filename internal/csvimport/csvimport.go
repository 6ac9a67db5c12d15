// Package csvimport reads a CSV upload of targets into outdial.TargetCreate
// values, one per data row, for the caller to validate like JSON targets.
//
// The file is UTF-8 (a leading byte order mark is dropped), with comma
// separated fields quoted as in RFC 4180: a quoted field may hold commas,
// doubled quotes and line breaks. If the header line has a semicolon and no
// comma, the file is read as semicolon separated instead (as spreadsheets
// write CSV in locales with a decimal comma). CRLF and LF line endings both
// work. Lines that are empty, or whose cells are all empty, are skipped.
// Every cell is trimmed of surrounding whitespace.
//
// The first line is the header. Its names are trimmed and matched
// case-insensitively:
//
//   - destination: the target's address. Its type is the row's type cell
//     if there is a type column and the cell is not empty; otherwise it is
//     inferred: sip for a value starting with sip: or sips: (any case),
//     email for a value containing @, tel for anything else.
//   - type: see destination; only together with a destination column.
//   - tel, sip, email: instead of destination. Each non-empty cell is one
//     destination of that type, in column order; these columns may repeat
//     (tel,tel,email for a mobile, an office phone and an address). A row
//     with one destination gives TargetCreate.Destination, a row with more
//     gives TargetCreate.Destinations.
//   - try_count_max: an integer, the row's try_count_max (for each of its
//     destinations); empty means the default.
//   - name, detail: the target's name and detail.
//   - timezone: the target's own IANA zone for calling windows; empty
//     means none (its number's zones, or the outdial's, apply).
//   - any other column goes into the target's data, a JSON object
//     {"column": "value"} in column order, keyed by the header's own
//     spelling, encoded into the data string (data is text, as in
//     VoIPBIN); empty cells are left out, and a row with none has no data.
//
// Problems of the whole file make Parse fail with an *outdial.Error on field
// "body": it is not UTF-8, it has no header, a line is longer than
// MaxLineBytes, a header name is empty or repeated (tel, sip and email
// excepted), it has neither a destination nor a tel, sip or email column,
// or both kinds, or a type column without a destination column. More than
// maxRows data rows is ECodeBodyTooLarge. Problems of one row (a field
// count different from the header's, broken quoting, no destination, a
// try_count_max that is not an integer) reject that row only, in Row.Err,
// and the rows after it are still read.
//
// Parse checks no addresses and no limits of targets: the caller runs
// TargetCreate.Validate on each row, which normalises the addresses. It
// does not dedupe either: two rows with the same destination are two rows.
package csvimport

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/outdial/outdial/internal/outdial"
)

// MaxLineBytes is the longest physical line of a CSV file, line ending
// excluded. A target's name, detail and data fit in well under it.
const MaxLineBytes = 32 * 1024

// fileErrCode is the code of the errors about the whole file other than its
// size.
const fileErrCode = outdial.ECodeInvalidCSV

// Row is one data row of the CSV: its 1-based line number in the file (of
// the row's first line for multi-line quoted fields), the target it
// describes, or the error that rejects it.
type Row struct {
	Line   int
	Target outdial.TargetCreate
	Err    *outdial.Error
}

// Column kinds.
type kind int

const (
	colData kind = iota
	colDestination
	colType
	colTel
	colSIP
	colEmail
	colTryCountMax
	colName
	colDetail
	colTimezone
)

var kinds = map[string]kind{
	"destination":   colDestination,
	"type":          colType,
	outdial.TypeTel: colTel,
	outdial.TypeSIP: colSIP,
	"email":         colEmail,
	"try_count_max": colTryCountMax,
	"name":          colName,
	"detail":        colDetail,
	"timezone":      colTimezone,
}

// column is one column of the header.
type column struct {
	kind kind
	name string // as written in the header, trimmed
}

var bom = []byte("\xef\xbb\xbf")

// NewReader makes the checks of a whole CSV file that encoding/csv does
// not (a leading BOM dropped, UTF-8, lines of at most MaxLineBytes) and
// returns a reader of its records with the delimiter sniffed (',' or
// ';') and rows of any length; a file that fails a check is an
// invalid_csv error on "body". Every CSV body of the API is read with it.
func NewReader(data []byte) (*csv.Reader, error) {
	data = bytes.TrimPrefix(data, bom)
	if !utf8.Valid(data) {
		return nil, fileErrorf("must be UTF-8 text")
	}
	if n := longLine(data); n > 0 {
		return nil, fileErrorf("line %d is longer than %d bytes", n, MaxLineBytes)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = sniffComma(data)
	cr.FieldsPerRecord = -1
	return cr, nil
}

// Parse reads all rows of the CSV file r. maxRows is the most data rows
// accepted (outdial.MaxTargetsPerRequest if not positive). It reads r to its
// end: the caller bounds its size. The package documentation lists the
// rules.
func Parse(r io.Reader, maxRows int) ([]Row, error) {
	if maxRows <= 0 {
		maxRows = outdial.MaxTargetsPerRequest
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read csv: %w", err)
	}

	cr, err := NewReader(data)
	if err != nil {
		return nil, err
	}

	// Read the header.
	var header []string
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil, fileErrorf("is empty: send a header line, then one line per target")
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, fileErrorf("the header (line %d) is not valid CSV: %v", pe.StartLine, pe.Err)
		}
		if err != nil {
			return nil, fmt.Errorf("read csv header: %w", err)
		}
		if !Blank(rec) {
			header = rec
			break
		}
	}
	cols, err := parseHeader(header)
	if err != nil {
		return nil, err
	}

	// Read the data rows.
	var rows []Row
	for {
		offset := cr.InputOffset()
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var row Row
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			row = Row{Line: pe.StartLine, Err: outdial.Errorf(outdial.ECodeInvalidField, "row is not valid CSV: %v", pe.Err)}
			if cr.InputOffset() == offset {
				// Never the case with encoding/csv; a guard against looping.
				return nil, fileErrorf("line %d is not valid CSV: %v", pe.StartLine, pe.Err)
			}
		case err != nil:
			return nil, fmt.Errorf("read csv: %w", err)
		case Blank(rec):
			continue
		default:
			line, _ := cr.FieldPos(0)
			row = parseRow(line, cols, rec)
		}
		if len(rows) == maxRows {
			return nil, outdial.FieldErrorf(outdial.ECodeBodyTooLarge, "body", "must have at most %d rows (targets) after the header", maxRows)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// parseHeader classifies the columns of the header and checks the rules
// about them.
func parseHeader(header []string) ([]column, error) {
	cols := make([]column, len(header))
	seen := map[string]bool{}
	var hasDest, hasType, hasTyped bool
	for i, h := range header {
		name := strings.TrimSpace(h)
		if name == "" {
			return nil, fileErrorf("the header's column %d has no name", i+1)
		}
		lower := strings.ToLower(name)
		k, known := kinds[lower]
		key := name // data columns are told apart by their spelling
		if known {
			key = lower
		}
		if seen[key] && k != colTel && k != colSIP && k != colEmail {
			return nil, fileErrorf("the header has the column %.64q more than once", name)
		}
		seen[key] = true
		switch k {
		case colDestination:
			hasDest = true
		case colType:
			hasType = true
		case colTel, colSIP, colEmail:
			hasTyped = true
		}
		cols[i] = column{kind: k, name: name}
	}
	switch {
	case hasDest && hasTyped:
		return nil, fileErrorf("the header must have either a destination column or tel, sip and email columns, not both")
	case hasType && !hasDest:
		return nil, fileErrorf("the header has a type column but no destination column")
	case !hasDest && !hasTyped:
		return nil, fileErrorf("the header must have a destination column, or tel, sip or email columns (names are case-insensitive)")
	}
	return cols, nil
}

// parseRow turns the record rec, which starts on line, into a Row.
func parseRow(line int, cols []column, rec []string) Row {
	if len(rec) != len(cols) {
		return Row{Line: line, Err: outdial.Errorf(outdial.ECodeInvalidField, "row has %d fields, but the header has %d", len(rec), len(cols))}
	}
	var (
		t      outdial.TargetCreate
		dest   string
		typ    string
		typed  []outdial.DestinationCreate
		tryMax string
		data   bytes.Buffer
	)
	for i, c := range cols {
		v := strings.TrimSpace(rec[i])
		switch c.kind {
		case colDestination:
			dest = v
		case colType:
			typ = v
		case colTel, colSIP, colEmail:
			if v != "" {
				typed = append(typed, outdial.DestinationCreate{Type: typeOf(c.kind), Target: v})
			}
		case colTryCountMax:
			tryMax = v
		case colName:
			t.Name = v
		case colDetail:
			t.Detail = v
		case colTimezone:
			t.Timezone = v
		case colData:
			if v == "" {
				continue
			}
			if data.Len() == 0 {
				data.WriteByte('{')
			} else {
				data.WriteByte(',')
			}
			writeJSONString(&data, c.name)
			data.WriteByte(':')
			writeJSONString(&data, v)
		}
	}

	// Destinations.
	switch {
	case dest != "":
		if typ == "" {
			typ = inferType(dest)
		}
		t.Destination = &outdial.Address{Type: typ, Target: dest}
	case len(typed) == 1:
		t.Destination = &outdial.Address{Type: typed[0].Type, Target: typed[0].Target}
	case len(typed) > 1:
		t.Destinations = typed
	default:
		return Row{Line: line, Err: outdial.FieldErrorf(outdial.ECodeMissingField, "destination", "is required: the row has no destination")}
	}

	// try_count_max.
	if tryMax != "" {
		n, err := strconv.Atoi(tryMax)
		if err != nil {
			return Row{Line: line, Err: outdial.FieldErrorf(outdial.ECodeInvalidField, "try_count_max", "must be a whole number between %d and %d", outdial.MinTryCount, outdial.MaxTryCount)}
		}
		t.TryCountMax = &n
	}

	// data.
	if data.Len() > 0 {
		data.WriteByte('}')
		// data is text (as in VoIPBIN): the object goes in encoded as a
		// JSON string.
		text, _ := json.Marshal(data.String())
		t.Data = text
	}
	return Row{Line: line, Target: t}
}

// inferType is the type of a destination cell without a type: sip for a
// SIP URI, email for anything with an @, tel otherwise.
func inferType(v string) string {
	lower := strings.ToLower(v)
	switch {
	case strings.HasPrefix(lower, "sip:"), strings.HasPrefix(lower, "sips:"):
		return outdial.TypeSIP
	case strings.Contains(v, "@"):
		return outdial.TypeEmail
	}
	return outdial.TypeTel
}

func typeOf(k kind) string {
	switch k {
	case colSIP:
		return outdial.TypeSIP
	case colEmail:
		return outdial.TypeEmail
	}
	return outdial.TypeTel
}

// writeJSONString writes s (valid UTF-8) as a JSON string, without the
// HTML escaping of json.Marshal.
func writeJSONString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	buf.Truncate(buf.Len() - 1)
}

// Blank reports whether every cell of rec is empty or whitespace (a blank
// line, skipped).
func Blank(rec []string) bool {
	for _, v := range rec {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// sniffComma returns ';' if the first non-empty line has a semicolon and no
// comma, ',' otherwise.
func sniffComma(data []byte) rune {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if bytes.IndexByte(line, ';') >= 0 && bytes.IndexByte(line, ',') < 0 {
			return ';'
		}
		return ','
	}
	return ','
}

// longLine returns the 1-based number of the first line longer than
// MaxLineBytes (without its line ending), or 0.
func longLine(data []byte) int {
	for n := 1; len(data) > 0; n++ {
		i := bytes.IndexByte(data, '\n')
		line := data
		if i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(bytes.TrimSuffix(line, []byte("\r"))) > MaxLineBytes {
			return n
		}
	}
	return 0
}

func fileErrorf(format string, args ...any) *outdial.Error {
	return outdial.FieldErrorf(fileErrCode, "body", format, args...)
}
