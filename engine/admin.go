package engine

import (
	"context"
	"time"

	"omo/coupons"
	"omo/errs"
	"omo/outbox"
	"omo/store"
)

// Redeem redeems the coupon with code at store storeID, once: NotFound for
// an unknown code, Conflict when it was redeemed before (also when a
// concurrent redemption won), Expired past its expiry, Gone if revoked.
func (e *Engine) Redeem(ctx context.Context, code, storeID string) (*store.IssuedCoupon, error) {
	now := e.now()
	var out *store.IssuedCoupon
	var items []outbox.Item
	err := e.db.Write(ctx, func(tx *store.Tx) error {
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

// qualifyOnRedeem qualifies the held referral of the coupon's owner when
// its program qualifies on the first redemption.
func (e *Engine) qualifyOnRedeem(tx *store.Tx, openid string, now time.Time) ([]outbox.Item, error) {
	r, err := tx.HeldReferralOfOA(openid)
	if errs.Is(err, errs.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if p := e.program(r.ProgramID); p == nil || p.QualifyOn != "first_redeem" {
		return nil, nil
	}
	return e.qualify(tx, r, now, false)
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
