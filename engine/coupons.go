package engine

import (
	"context"

	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// Redeem redeems the coupon with code at store storeID, once: NotFound for
// an unknown code, Conflict when it was redeemed before (also when a
// concurrent redemption won), Expired past its expiry, Gone if revoked.
func (e *Engine) Redeem(ctx context.Context, code, storeID string) (*coupons.Coupon, error) {
	now := e.now()
	var out *coupons.Coupon
	var items []outbox.Item
	err := e.db.Write(ctx, func(tx *sqldb.Tx) error {
		out, items = nil, nil
		c, err := tx.Coupon(code)
		if err != nil {
			return err
		}
		if err := c.CheckRedeem(now); err != nil {
			if errs.Is(err, errs.Expired) {
				// Record what the clock already says; the refusal stands.
				if xerr := tx.ExpireCoupon(code); xerr != nil {
					return xerr
				}
				c.State = coupons.Expired
				out = c
				return nil
			}
			return err
		}
		ok, err := tx.RedeemCoupon(code, storeID, now)
		if err != nil {
			return err
		}
		if !ok {
			return errs.E(errs.Conflict, "engine.Redeem", "coupon already redeemed")
		}
		c.State, c.StoreID, c.RedeemedAt = coupons.Redeemed, storeID, &now
		out = c
		items, err = e.qualifyOnRedeem(tx, c.OpenID, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(items) > 0 && e.queue != nil {
		e.queue.Enqueue(ctx, items)
	}
	if out.State == coupons.Expired {
		return out, errs.E(errs.Expired, "engine.Redeem", "coupon expired")
	}
	return out, nil
}

// MyCoupons lists the coupons of the person behind the mini-program openid,
// newest first: their own and those of the OA follower with the same
// unionid. Each State is the effective state now: an issued coupon past its
// expiry shows as expired before anything records it. No coupons is an
// empty list, not an error.
func (e *Engine) MyCoupons(ctx context.Context, mpOpenID string) ([]coupons.Coupon, error) {
	cps, err := e.db.CouponsOfMPUser(ctx, mpOpenID)
	if err != nil {
		return nil, err
	}
	now := e.now()
	for i := range cps {
		cps[i].State = cps[i].EffectiveState(now)
	}
	return cps, nil
}
