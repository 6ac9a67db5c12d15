package apigw_test

import (
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/outdial/outdial/internal/apigw"
	"github.com/outdial/outdial/internal/outdial"
)

// FuzzPageToken checks that Open never panics and never accepts a token
// that Seal did not make for that customer and list: neither an arbitrary
// string, nor a sealed token with bytes changed, nor a sealed token
// presented by another customer or for another list.
func FuzzPageToken(f *testing.F) {
	p := apigw.NewPageTokens(pageKey)
	// Seeds: real tokens (so mutations start from valid ones) and junk.
	// Sealing is randomised and every fuzz worker runs this again, so the
	// seeds are recognised by what they hold, not by their spelling.
	type sealed struct{ seed, scope, cursor string }
	seeds := []sealed{{"a", "outdials", "cursor"}, {"b", "targets/x/idle", `{"k":1}`}}
	for i, s := range seeds {
		tok := p.Seal(uuid.NewSHA1(uuid.NameSpaceOID, []byte(s.seed)).String(), s.scope, s.cursor)
		f.Add(s.seed, s.scope, s.cursor, tok, uint16(40*i), byte(1+2*i))
	}
	isSeed := func(seed, scope, cursor string) bool {
		return slices.Contains(seeds, sealed{seed, scope, cursor})
	}
	f.Add("c", "", "", "", uint16(0), byte(0))
	f.Add("d", "s\x00", "\x00", "..", uint16(1), byte(0x80))
	f.Add("e", "outdials", "z", "eg.AAAA", uint16(3), byte(2))

	f.Fuzz(func(t *testing.T, custSeed, scope, cursor, token string, pos uint16, xor byte) {
		// Customers are UUIDs: the authorizer accepts nothing else.
		cust := uuid.NewSHA1(uuid.NameSpaceOID, []byte(custSeed)).String()
		other := uuid.NewSHA1(uuid.NameSpaceOID, []byte(custSeed+"/other")).String()
		if len(cursor) > 2048 {
			cursor = cursor[:2048] // store cursors are a few hundred bytes
		}

		// An arbitrary token never opens (forging one means forging
		// AES-GCM's tag), only the seeds sealed above.
		got, err := p.Open(cust, scope, token)
		if err == nil && token != "" && !isSeed(custSeed, scope, got) {
			t.Fatalf("Open(%s, %q, %q) accepted a token Seal did not make (cursor %q)", cust, scope, token, got)
		}
		if err != nil && outdial.ErrorCode(err) != outdial.ECodeInvalidPageToken {
			t.Fatalf("Open(%q) = %v, want invalid_page_token", token, err)
		}

		sealed := p.Seal(cust, scope, cursor)
		if cursor == "" {
			if sealed != "" {
				t.Fatalf("Seal(empty cursor) = %q, want empty", sealed)
			}
			return
		}
		// Round trip.
		if got, err := p.Open(cust, scope, sealed); err != nil || got != cursor {
			t.Fatalf("Open(Seal(%q)) = %q, %v", cursor, got, err)
		}
		// Bound to the customer and the list.
		if got, err := p.Open(other, scope, sealed); err == nil {
			t.Fatalf("another customer opened the token of %q: %q", cursor, got)
		}
		if got, err := p.Open(cust, scope+"/", sealed); err == nil {
			t.Fatalf("another list opened the token of %q: %q", cursor, got)
		}
		// A changed byte makes it unopenable.
		if xor != 0 {
			b := []byte(sealed)
			b[int(pos)%len(b)] ^= xor
			mutated := string(b)
			if got, err := p.Open(cust, scope, mutated); err == nil && mutated != sealed {
				t.Fatalf("Open accepted %q, a modified %q (cursor %q)", mutated, sealed, got)
			}
		}
	})
}
