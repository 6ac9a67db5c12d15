package apigw

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"

	"github.com/outdial/outdial/internal/outdial"
)

// Page sizes of every list route (VoIPBIN's page_size).
const (
	DefaultPageSize = 100
	MaxPageSize     = 100
)

// PageTokens seals a store cursor into an opaque page token bound to one
// customer and one list (scope), and opens it again. A token that was
// modified, minted for another customer or another list fails to open: the
// route answers 400 invalid_page_token, never someone else's rows.
type PageTokens struct {
	key []byte
}

// NewPageTokens derives the HMAC key of page tokens from secret.
func NewPageTokens(secret []byte) *PageTokens {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("outdial page token v1"))
	return &PageTokens{key: m.Sum(nil)}
}

// Seal returns the page token for cursor ("" stays "": no next page).
func (p *PageTokens) Seal(customerID, scope, cursor string) string {
	if cursor == "" {
		return ""
	}
	payload := base64.RawURLEncoding.EncodeToString([]byte(cursor))
	return payload + "." + base64.RawURLEncoding.EncodeToString(p.mac(customerID, scope, payload))
}

// Open returns the cursor sealed in token.
func (p *PageTokens) Open(customerID, scope, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	bad := outdial.FieldErrorf(outdial.ECodeInvalidPageToken, "page_token", "is not a token this list returned; start again without it")
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 4096 {
		return "", bad
	}
	// A token has exactly one spelling: Strict rejects spare bits, and the
	// re-encoding check rejects the line breaks the decoder skips.
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || base64.RawURLEncoding.EncodeToString(got) != sig || !hmac.Equal(got, p.mac(customerID, scope, payload)) {
		return "", bad
	}
	cursor, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil || len(cursor) == 0 || base64.RawURLEncoding.EncodeToString(cursor) != payload {
		return "", bad
	}
	return string(cursor), nil
}

func (p *PageTokens) mac(customerID, scope, payload string) []byte {
	m := hmac.New(sha256.New, p.key)
	m.Write([]byte(customerID + "\x00" + scope + "\x00" + payload))
	return m.Sum(nil)
}

// PageParams reads page_size and page_token from the query string and
// opens the token for customerID and scope.
func (p *PageTokens) PageParams(req Request, customerID, scope string) (outdial.Page, error) {
	page := outdial.Page{Size: DefaultPageSize}
	q := req.QueryStringParameters
	if v, ok := q["page_size"]; ok && v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPageSize {
			return page, outdial.FieldErrorf(outdial.ECodeInvalidQuery, "page_size", "must be an integer from 1 to %d", MaxPageSize)
		}
		page.Size = n
	}
	tok := q["page_token"]
	if strings.Contains(tok, "%") {
		// Some clients double-encode; accept the decoded form as well.
		if u, err := url.QueryUnescape(tok); err == nil {
			tok = u
		}
	}
	cursor, err := p.Open(customerID, scope, tok)
	if err != nil {
		return page, err
	}
	page.Cursor = cursor
	return page, nil
}

// List is VoIPBIN's pagination wrapper.
type List[T any] struct {
	Result        []T    `json:"result"`
	NextPageToken string `json:"next_page_token"`
}
