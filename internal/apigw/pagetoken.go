package apigw

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
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
// customer and one list (scope), and opens it again. The cursor is
// encrypted (AES-256-GCM), so a token reveals nothing of the rows it points
// at (target ids included); the customer and the list are its additional
// data, so a token that was modified, minted for another customer or
// another list fails to open: the route answers 400 invalid_page_token,
// never someone else's rows.
//
// Each token has a key of its own, derived from the service key and a
// random 16-byte salt carried in the token, and so a fixed nonce: no nonce
// is ever used twice under one key, however many tokens are minted.
type PageTokens struct {
	key []byte
}

const (
	pageSaltLen = 16
	// maxPageToken bounds the token a client may send (store cursors
	// are a few hundred bytes).
	maxPageToken = 4096
)

// NewPageTokens derives the key of page tokens from secret.
func NewPageTokens(secret []byte) *PageTokens {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("outdial page token v2"))
	return &PageTokens{key: m.Sum(nil)}
}

// aead returns the cipher of the token with salt.
func (p *PageTokens) aead(salt []byte) cipher.AEAD {
	m := hmac.New(sha256.New, p.key)
	m.Write(salt)
	block, err := aes.NewCipher(m.Sum(nil))
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return gcm
}

// Seal returns the page token for cursor ("" stays "": no next page).
func (p *PageTokens) Seal(customerID, scope, cursor string) string {
	if cursor == "" {
		return ""
	}
	salt := make([]byte, pageSaltLen)
	rand.Read(salt) // never fails (crypto/rand)
	gcm := p.aead(salt)
	nonce := make([]byte, gcm.NonceSize())
	sealed := gcm.Seal(salt, nonce, []byte(cursor), additional(customerID, scope))
	return base64.RawURLEncoding.EncodeToString(sealed)
}

// Open returns the cursor sealed in token.
func (p *PageTokens) Open(customerID, scope, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	bad := outdial.FieldErrorf(outdial.ECodeInvalidPageToken, "page_token", "is not a token this list returned; start again without it")
	if len(token) > maxPageToken {
		return "", bad
	}
	// A token has exactly one spelling: Strict rejects spare bits, and the
	// re-encoding check rejects the line breaks the decoder skips.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || base64.RawURLEncoding.EncodeToString(raw) != token {
		return "", bad
	}
	if len(raw) <= pageSaltLen {
		return "", bad
	}
	gcm := p.aead(raw[:pageSaltLen])
	nonce := make([]byte, gcm.NonceSize())
	cursor, err := gcm.Open(nil, nonce, raw[pageSaltLen:], additional(customerID, scope))
	if err != nil || len(cursor) == 0 {
		return "", bad
	}
	return string(cursor), nil
}

// additional is the data a token is bound to besides its cursor.
func additional(customerID, scope string) []byte {
	return []byte(customerID + "\x00" + scope)
}

// endCursor is the cursor of the token after a list's last row: a client
// that pages until a page comes back empty (rather than until the token is
// empty) asks for it once more and gets an empty page with an empty token.
const endCursor = "\x00end"

// Next returns next_page_token for a page of n rows whose store cursor is
// next: the sealed cursor, or, after the last row, the token of the empty
// end page, so that every page with rows carries a token; "" only on an
// empty page. A loop "while the token is not empty" and a loop "until a
// page is empty" both end, each row seen once.
func (p *PageTokens) Next(customerID, scope, next string, n int) string {
	if next == "" && n > 0 {
		next = endCursor
	}
	return p.Seal(customerID, scope, next)
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
	if cursor == endCursor {
		page.Cursor, page.End = "", true
	}
	return page, nil
}

// List is VoIPBIN's pagination wrapper.
type List[T any] struct {
	Result        []T    `json:"result"`
	NextPageToken string `json:"next_page_token"`
}
