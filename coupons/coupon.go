package coupons

import (
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/internal/randcode"
)

// State is where a coupon is in its life.
type State string

// The states.
const (
	Issued   State = "issued"
	Redeemed State = "redeemed"
	Expired  State = "expired"
	Revoked  State = "revoked"
)

// Alphabet has no look-alike characters (no 0/O, 1/I/L, 2/Z, 5/S, 8/B, U/V);
// referral codes use it too.
const Alphabet = randcode.Alphabet

// CodeLength gives log2(23^16) ≈ 72 bits of randomness: at least 64.
const CodeLength = 16

// NewCode returns a fresh random coupon code from crypto/rand; Unavailable
// when the system's randomness fails.
func NewCode() (string, error) {
	code, err := randcode.New(Alphabet, CodeLength)
	if err != nil {
		return "", errs.Wrap(errs.Unavailable, "coupons.NewCode", err)
	}
	return code, nil
}

// Mask shows a code for logs: the first 4 characters and stars. Full codes
// are never logged.
func Mask(code string) string {
	if len(code) <= 4 {
		return "****"
	}
	return code[:4] + "************"[:min(12, len(code)-4)]
}

// Coupon is one issued coupon: who holds it, what it is (the pool's title
// when it was issued), why it was issued and where it stands.
type Coupon struct {
	Code        string     `db:"code"`
	Pool        string     `db:"pool_id"`
	Title       string     `db:"title"` // the pool's title at issue
	OpenID      string     `db:"openid"`
	Campaign    string     `db:"campaign_id"`
	EventID     *int64     `db:"event_id"` // the event that issued it; nil if none
	State       State      `db:"state"`
	IssuedAt    time.Time  `db:"issued_at"`
	ExpiresAt   time.Time  `db:"expires_at"`
	RedeemedAt  *time.Time `db:"redeemed_at"`
	StoreID     string     `db:"store_id"`     // where it was redeemed
	IssuedStore string     `db:"issued_store"` // the store it was issued through, "" if none
	Variant     string     `db:"variant"`      // the split variant of the campaign that issued it, "" if none
}

// EffectiveState is the coupon's state at now: an issued coupon past its
// expiry is expired even before anything records it.
func (c *Coupon) EffectiveState(now time.Time) State {
	if c.State == Issued && !now.Before(c.ExpiresAt) {
		return Expired
	}
	return c.State
}

// CheckRedeem says whether the coupon may be redeemed at now: Conflict if
// it already was, Expired if it expired, Gone if revoked.
func (c *Coupon) CheckRedeem(now time.Time) error {
	const op = "coupons.Redeem"
	switch c.EffectiveState(now) {
	case Issued:
		return nil
	case Redeemed:
		return errs.E(errs.Conflict, op, "coupon already redeemed")
	case Expired:
		return errs.E(errs.Expired, op, "coupon expired")
	}
	return errs.E(errs.Gone, op, "coupon revoked")
}
