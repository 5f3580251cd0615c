package referral

import (
	"time"

	"github.com/omohq/omo/internal/randcode"
)

// Code is a person's referral code and its cached OA QR code (scene
// ref:<code>). OwnerKey is the Key of the person when the code was made;
// the openids and unionid known then let a later follow or login find it.
type Code struct {
	Code        string     `db:"code"`
	OwnerKey    string     `db:"owner_key"`
	MPOpenID    string     `db:"mp_openid"`
	OAOpenID    string     `db:"oa_openid"`
	UnionID     string     `db:"unionid"`
	QRTicket    string     `db:"qr_ticket"`
	QRURL       string     `db:"qr_url"`
	QRExpiresAt *time.Time `db:"qr_expires_at"` // nil until a QR code is made
	CreatedAt   time.Time  `db:"created_at"`
}

// CodeAlphabet has no look-alike characters (the coupon codes' alphabet);
// codes are short enough to say aloud and fit a mini-program scene (≤ 32
// characters).
const CodeAlphabet = randcode.Alphabet

// CodeLength gives 23^8 ≈ 7.8e10 codes: unguessable enough for a code that
// only attributes, and short to share.
const CodeLength = 8

// NewCode returns a random referral code from crypto/rand; it fails only
// when the system's randomness does.
func NewCode() (string, error) {
	return randcode.New(CodeAlphabet, CodeLength)
}
