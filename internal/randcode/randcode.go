// Package randcode draws the random codes people read aloud, type at a
// till or share: coupon codes (package coupons) and referral codes
// (package referral) come from the same alphabet and the same draw, each
// at its own length. It imports only the standard library, so any domain
// package may use it.
package randcode

import (
	"crypto/rand"
	"math/big"
)

// Alphabet has no look-alike characters (no 0/O, 1/I/L, 2/Z, 5/S, 8/B,
// U/V): 23 letters and digits.
const Alphabet = "34679ACDEFGHJKMNPQRTWXY"

// New returns n characters of alphabet, each drawn uniformly from
// crypto/rand. It fails only when the system's randomness does.
func New(alphabet string, n int) (string, error) {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b), nil
}
