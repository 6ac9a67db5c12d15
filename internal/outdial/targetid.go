package outdial

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"

	"github.com/google/uuid"
)

// IDKeyLen is the length of an outdial's id key.
const IDKeyLen = 32

// NewIDKey returns a random id key for a new outdial. The store keeps it
// with the outdial and shows it to nobody.
func NewIDKey() []byte {
	k := make([]byte, IDKeyLen)
	rand.Read(k) // never fails (crypto/rand)
	return k
}

// KeyedTargetID is the id of the target with dedupe key key (its first
// destination, normalised: "tel:+15551234567") in the outdial whose id key
// is idKey: HMAC-SHA-256 of the dedupe key under the id key, cut to 128
// bits and marked as a UUID of version 8 (RFC 9562's custom layout).
//
// The same destination always maps to the same id within one outdial, so a
// second import of it is refused by a condition (exactly-once imports);
// without the key the id cannot be turned back into the destination by
// trying the numbering plan, so logs, URLs and page tokens that carry
// target ids reveal no phone number. The id of one number differs from
// one outdial to the next.
func KeyedTargetID(idKey []byte, key string) string {
	m := hmac.New(sha256.New, idKey)
	m.Write([]byte(key))
	var u uuid.UUID
	copy(u[:], m.Sum(nil))
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	return u.String()
}
