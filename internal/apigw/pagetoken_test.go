package apigw_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
)

const (
	custA = "7c4d2f3a-1b8e-4f5c-9a6d-3e2f1a0b4c5d"
	custB = "11111111-2222-4333-8444-555555555555"
)

var pageKey = []byte("page-token-test-secret-0123456789abcdef")

func wantInvalidPageToken(t *testing.T, what string, cursor string, err error) {
	t.Helper()
	e, ok := err.(*outdial.Error)
	if !ok || e.Code != outdial.ECodeInvalidPageToken || e.Field != "page_token" {
		t.Errorf("%s = %q, %v; want invalid_page_token on page_token", what, cursor, err)
		return
	}
	if apigw.HTTPStatus(e.Code) != 400 {
		t.Errorf("%s: status %d, want 400", what, apigw.HTTPStatus(e.Code))
	}
	if cursor != "" {
		t.Errorf("%s returned cursor %q together with an error", what, cursor)
	}
}

func TestPageTokenRoundTrip(t *testing.T) {
	p := apigw.NewPageTokens(pageKey)
	for _, cursor := range []string{
		"0190a3a4-7b1c-7d2e-8f30-4a5b6c7d8e9f",
		`{"k":3,"id":"0190a3a4-7b1c-7d2e-8f30-4a5b6c7d8e9f","g":"2025-01-01T00:00:00Z"}`,
		"x",
		"\x00\xff binary \n",
		strings.Repeat("c", 2000),
	} {
		tok := p.Seal(custA, "outdials", cursor)
		if tok == "" || strings.Contains(tok, cursor) && len(cursor) > 1 {
			t.Errorf("Seal(%q) = %q, want an opaque token", cursor, tok)
		}
		if url.QueryEscape(tok) != tok {
			t.Errorf("Seal(%q) = %q needs escaping in a query string", cursor, tok)
		}
		got, err := p.Open(custA, "outdials", tok)
		if err != nil || got != cursor {
			t.Errorf("Open(Seal(%q)) = %q, %v", cursor, got, err)
		}
		// A PageTokens built from the same secret (another Lambda instance)
		// opens it too.
		if got, err := apigw.NewPageTokens(pageKey).Open(custA, "outdials", tok); err != nil || got != cursor {
			t.Errorf("Open(Seal(%q)) on another instance = %q, %v", cursor, got, err)
		}
	}
	if tok := p.Seal(custA, "outdials", ""); tok != "" {
		t.Errorf(`Seal("") = %q, want "" (no next page)`, tok)
	}
	if got, err := p.Open(custA, "outdials", ""); got != "" || err != nil {
		t.Errorf(`Open("") = %q, %v; want the first page`, got, err)
	}
}

// TestPageTokenIsEncrypted checks a token reveals nothing of its cursor:
// neither the cursor nor any part of it appears in the token or in its
// base64 decoding (the tokens used to be readable JSON with a MAC, and
// cursors of target lists carry target ids), and two tokens of one cursor
// differ.
func TestPageTokenIsEncrypted(t *testing.T) {
	p := apigw.NewPageTokens(pageKey)
	const id = "0190a3a4-7b1c-7d2e-8f30-4a5b6c7d8e9f"
	cursor := `{"k":3,"id":"` + id + `","g":"2025-01-01T00:00:00Z"}`
	tok := p.Seal(custA, "outdials", cursor)
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatalf("token %q is not base64url: %v", tok, err)
	}
	for _, part := range []string{id, id[:8], `"k"`, `"id"`, "2025-01-01"} {
		if strings.Contains(tok, part) || bytes.Contains(raw, []byte(part)) {
			t.Errorf("token %q (decoded %q) shows %q of its cursor", tok, raw, part)
		}
	}
	if again := p.Seal(custA, "outdials", cursor); again == tok {
		t.Errorf("two tokens of one cursor are equal (%q): a token would tell which rows repeat", tok)
	}
}

func TestPageTokenRejects(t *testing.T) {
	p := apigw.NewPageTokens(pageKey)
	const scope = "targets/0190a3a4-7b1c-7d2e-8f30-4a5b6c7d8e9f/"
	tok := p.Seal(custA, scope, `{"k":3,"id":"abc"}`)
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	enc := base64.RawURLEncoding.EncodeToString
	flipByte := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		return enc(b)
	}
	other, _ := base64.RawURLEncoding.DecodeString(p.Seal(custA, scope, `{"k":9,"id":"zzz"}`))

	tests := []struct {
		name, customer, scope, token string
		p                            *apigw.PageTokens
	}{
		{"salt tampered", custA, scope, flipByte(2), p},
		{"ciphertext tampered", custA, scope, flipByte(20), p},
		{"tag tampered", custA, scope, flipByte(len(raw) - 1), p},
		{"salt of another token", custA, scope, enc(append(bytes.Clone(other[:16]), raw[16:]...)), p},
		{"extended", custA, scope, enc(append(bytes.Clone(raw), 0)), p},
		{"truncated", custA, scope, enc(raw[:len(raw)-1]), p},
		{"salt only", custA, scope, enc(raw[:16]), p},
		{"old form with a signature", custA, scope, tok + ".x", p},
		{"not base64", custA, scope, "!!" + tok[2:], p},
		{"other customer", custB, scope, tok, p},
		{"other scope", custA, "outdials", tok, p},
		{"other outdial", custA, "targets/0190a3a4-7b1c-7d2e-8f30-4a5b6c7d8e90/", tok, p},
		{"other status filter", custA, scope + "idle", tok, p},
		{"other secret", custA, scope, tok, apigw.NewPageTokens([]byte("another-secret-0123456789abcdef-0123456"))},
		{"garbage", custA, scope, "garbage", p},
		{"dot", custA, scope, ".", p},
		{"too long", custA, scope, strings.Repeat("A", 5000), p},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Open(tt.customer, tt.scope, tt.token)
			wantInvalidPageToken(t, "Open", got, err)
		})
	}
}

// TestPageTokenIsCanonical checks Open accepts exactly the token
// Seal made, not a re-spelling of it.
func TestPageTokenIsCanonical(t *testing.T) {
	p := apigw.NewPageTokens(pageKey)
	tok := p.Seal(custA, "outdials", "cursor")
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, r := range alphabet {
		other := tok[:len(tok)-1] + string(r)
		if other == tok {
			continue
		}
		if got, err := p.Open(custA, "outdials", other); err == nil {
			t.Errorf("Open(%q), a token Seal did not make, = %q, nil", other, got)
		}
	}
}

// TestPageTokenRejectsLineBreaks checks a sealed token with a line break
// inserted does not open: Go's base64 decoders skip '\r' and '\n' even in
// strict mode.
func TestPageTokenRejectsLineBreaks(t *testing.T) {
	p := apigw.NewPageTokens(pageKey)
	tok := p.Seal(custA, "outdials", "cursor")
	for _, at := range []int{0, 1, 10, len(tok) - 1, len(tok)} {
		for _, brk := range []string{"\r", "\n", "\r\n"} {
			other := tok[:at] + brk + tok[at:]
			if got, err := p.Open(custA, "outdials", other); err == nil {
				t.Errorf("Open(%q), a token Seal did not make, = %q, nil", other, got)
			}
		}
	}
}

func TestPageParams(t *testing.T) {
	p := apigw.NewPageTokens(pageKey)
	tok := p.Seal(custA, "outdials", "cursor-1")
	tests := []struct {
		name       string
		query      map[string]string
		wantSize   int
		wantCursor string
		wantCode   string
		wantField  string
	}{
		{"defaults", nil, apigw.DefaultPageSize, "", "", ""},
		{"empty values", map[string]string{"page_size": "", "page_token": ""}, apigw.DefaultPageSize, "", "", ""},
		{"size 1", map[string]string{"page_size": "1"}, 1, "", "", ""},
		{"size max", map[string]string{"page_size": "100"}, 100, "", "", ""},
		{"token", map[string]string{"page_token": tok}, apigw.DefaultPageSize, "cursor-1", "", ""},
		{"token and size", map[string]string{"page_token": tok, "page_size": "7"}, 7, "cursor-1", "", ""},
		{"token percent-encoded twice", map[string]string{"page_token": fmt.Sprintf("%%%02X", tok[0]) + tok[1:]}, apigw.DefaultPageSize, "cursor-1", "", ""},
		{"size 0", map[string]string{"page_size": "0"}, 0, "", outdial.ECodeInvalidQuery, "page_size"},
		{"size over max", map[string]string{"page_size": "101"}, 0, "", outdial.ECodeInvalidQuery, "page_size"},
		{"size negative", map[string]string{"page_size": "-1"}, 0, "", outdial.ECodeInvalidQuery, "page_size"},
		{"size fraction", map[string]string{"page_size": "1.5"}, 0, "", outdial.ECodeInvalidQuery, "page_size"},
		{"size word", map[string]string{"page_size": "ten"}, 0, "", outdial.ECodeInvalidQuery, "page_size"},
		{"size huge", map[string]string{"page_size": "99999999999999999999999"}, 0, "", outdial.ECodeInvalidQuery, "page_size"},
		{"size with spaces", map[string]string{"page_size": " 5"}, 0, "", outdial.ECodeInvalidQuery, "page_size"},
		{"token of another customer", map[string]string{"page_token": p.Seal(custB, "outdials", "cursor-1")}, 0, "", outdial.ECodeInvalidPageToken, "page_token"},
		{"token of another list", map[string]string{"page_token": p.Seal(custA, "targets/x/", "cursor-1")}, 0, "", outdial.ECodeInvalidPageToken, "page_token"},
		{"token garbage", map[string]string{"page_token": "%zz"}, 0, "", outdial.ECodeInvalidPageToken, "page_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := apigw.Request{QueryStringParameters: tt.query, RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "r"}}
			page, err := p.PageParams(req, custA, "outdials")
			if tt.wantCode != "" {
				e, ok := err.(*outdial.Error)
				if !ok || e.Code != tt.wantCode || e.Field != tt.wantField {
					t.Fatalf("PageParams = %+v, %v; want %s on %s", page, err, tt.wantCode, tt.wantField)
				}
				if apigw.HTTPStatus(e.Code) != 400 {
					t.Errorf("status %d, want 400", apigw.HTTPStatus(e.Code))
				}
				return
			}
			if err != nil {
				t.Fatalf("PageParams: %v", err)
			}
			if page.Size != tt.wantSize || page.Cursor != tt.wantCursor {
				t.Errorf("PageParams = size %d cursor %q, want size %d cursor %q", page.Size, page.Cursor, tt.wantSize, tt.wantCursor)
			}
		})
	}
}

// TestPageTokenEndPage checks the token after a list's last row: a page
// with rows always carries a token; after the last row it is the token of
// an empty end page, which PageParams marks End (no read), bound like any
// other token; an empty page carries none.
func TestPageTokenEndPage(t *testing.T) {
	p := apigw.NewPageTokens(pageKey)
	if tok := p.Next(custA, "outdials", "", 0); tok != "" {
		t.Errorf("Next of an empty last page = %q, want \"\"", tok)
	}
	if tok, want := p.Next(custA, "outdials", "cursor-1", 3), "cursor-1"; tok == "" {
		t.Error("Next of a middle page is empty")
	} else if got, _ := p.Open(custA, "outdials", tok); got != want {
		t.Errorf("Next of a middle page opens to %q, want %q", got, want)
	}
	end := p.Next(custA, "outdials", "", 3)
	if end == "" {
		t.Fatal("the last page with rows has no token: a loop until an empty page would start over")
	}
	req := func(tok string) apigw.Request {
		return apigw.Request{QueryStringParameters: map[string]string{"page_token": tok}}
	}
	page, err := p.PageParams(req(end), custA, "outdials")
	if err != nil || !page.End || page.Cursor != "" {
		t.Errorf("PageParams(end token) = %+v, %v; want End and no cursor", page, err)
	}
	if page, err := p.PageParams(req(""), custA, "outdials"); err != nil || page.End {
		t.Errorf("PageParams(no token) = %+v, %v; want the first page", page, err)
	}
	if _, err := p.PageParams(req(end), custB, "outdials"); err == nil {
		t.Error("another customer opened the end token")
	}
}
