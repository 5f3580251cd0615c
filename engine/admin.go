package engine

import (
	"context"

	"omo/coupons"
	"omo/errs"
	"omo/store"
)

// Redeem redeems the coupon with code at store storeID, once: NotFound for
// an unknown code, Conflict when it was redeemed before (also when a
// concurrent redemption won), Expired past its expiry, Gone if revoked.
func (e *Engine) Redeem(ctx context.Context, code, storeID string) (*store.IssuedCoupon, error) {
	now := e.now()
	var out *store.IssuedCoupon
	err := e.db.Write(ctx, func(tx *store.Tx) error {
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
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.State == coupons.Expired {
		return out, errs.E(errs.Expired, "engine.Redeem", "coupon expired")
	}
	return out, nil
}

// CampaignStats counts what campaign id did; NotFound if the running set
// has no such campaign and nothing was ever recorded for it.
func (e *Engine) CampaignStats(ctx context.Context, id string) (store.CampaignStats, error) {
	st, err := e.db.CampaignStats(ctx, id)
	if err != nil {
		return st, err
	}
	if set := e.set.Load(); (set == nil || set.Campaign(id) == nil) && st == (store.CampaignStats{}) {
		return st, errs.E(errs.NotFound, "engine.CampaignStats", "no campaign %q", id)
	}
	return st, nil
}
