package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// ExpiringBatch is how many coupons one scan takes per coupon_expiring
// campaign; the rest wait for the next scan.
const ExpiringBatch = 1000

// Why a claimed reminder sent nothing (coupon_reminders.reason).
const (
	skipUnfollowed = "unfollowed"
	skipUnknown    = "follower unknown"
	skipAudience   = "not in the audience (when)"
	skipExpired    = "coupon expired"
)

// RemindExpiring runs one reminder scan. For every active coupon_expiring
// campaign of the running set it takes up to ExpiringBatch unused coupons
// of the campaign's pool that expire within on.within from now and not yet,
// soonest first, that the campaign has not claimed; for each, in one
// transaction, it claims the (campaign, coupon) reminder and fires the
// campaign for the coupon's owner as a push would (limits, quiet hours,
// actions, a message row and an outbox item per send), with .Coupon set to
// that coupon. A reminder claimed before, by this or another omo on the same
// database, is passed over; one whose coupon was redeemed or expired in the
// meantime, or whose owner unfollowed or is outside the audience, is claimed
// as skipped with the reason. It returns how many reminders it claimed. On
// an error it stops: the coupons not reached wait for the next scan.
func (e *Engine) RemindExpiring(ctx context.Context) (int, error) {
	set := e.set.Load()
	if set == nil {
		return 0, nil
	}
	n := 0
	for _, c := range set.Campaigns {
		now := e.now()
		if c.On.Event != campaigns.OnCouponExpiring || !c.Active(now) {
			continue
		}
		cps, err := e.db.ExpiringCoupons(ctx, c.ID, c.On.Pool, now, now.Add(c.On.Within), ExpiringBatch)
		if err != nil {
			return n, err
		}
		for _, cp := range cps {
			if err := ctx.Err(); err != nil {
				return n, errs.Wrap(errs.Unavailable, "engine.RemindExpiring", err)
			}
			claimed, err := e.remind(ctx, set, c, cp.Code, cp.OpenID)
			if err != nil {
				return n, fmt.Errorf("campaign %s, coupon %s: %w", c.ID, cp.Code, err)
			}
			if claimed {
				n++
			}
		}
	}
	return n, nil
}

// RunExpiring runs RemindExpiring every interval until ctx ends. A failed
// scan is logged and the next one carries on where it stopped.
func (e *Engine) RunExpiring(ctx context.Context, every time.Duration) {
	tickEvery(ctx, every, func() {
		n, err := e.RemindExpiring(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			e.log.Warn("coupon reminder scan failed; the next scan carries on", "claimed", n, "err", err)
		case n > 0:
			e.log.Info("coupon reminders claimed", "claimed", n)
		}
	})
}

// remind claims and acts on campaign c's reminder about coupon code in one
// transaction and hands the sends to the queue after the commit. It reports
// whether this call made the claim.
func (e *Engine) remind(ctx context.Context, set *campaigns.Set, c *campaigns.Campaign, code, openid string) (bool, error) {
	now := e.now()
	var claimed bool
	var items []outbox.Item
	// The hint puts the owner's lock with the batch's other followers'
	// locks, taken first and sorted (sqldb.Hint.OpenIDs).
	err := e.db.WriteHinted(ctx, &sqldb.Hint{OpenIDs: []string{openid}}, func(tx *sqldb.Tx) error {
		claimed, items = false, nil
		ok, err := tx.ClaimReminder(c.ID, code, openid, now)
		if err != nil || !ok {
			return err
		}
		claimed = true
		why, its, err := e.fireReminder(tx, set, c, code, now)
		if err != nil {
			return err
		}
		items = its
		if why != "" {
			e.log.Debug("coupon reminder skipped", "campaign", c.ID, "coupon", code, "reason", why)
			return tx.SkipReminder(c.ID, code, why)
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	if len(items) > 0 && e.queue != nil {
		e.queue.Enqueue(ctx, items)
	}
	return claimed, nil
}

// fireReminder fires c for the owner of coupon code, inside tx, unless the
// coupon is no longer unused or its owner cannot be reached; it returns why
// nothing was sent ("" when the campaign fired) and the outbox items written.
func (e *Engine) fireReminder(tx *sqldb.Tx, set *campaigns.Set, c *campaigns.Campaign, code string, now time.Time) (string, []outbox.Item, error) {
	cp, err := tx.Coupon(code)
	if err != nil {
		return "", nil, err
	}
	if cp.State != coupons.Issued {
		return "coupon " + string(cp.State), nil, nil
	}
	if !cp.ExpiresAt.After(now) {
		return skipExpired, nil, nil
	}
	// The follower's lock before their row (engine.apply's order), so that
	// an unfollow another process commits meanwhile is seen.
	if err := tx.LockFollower(cp.OpenID); err != nil {
		return "", nil, err
	}
	f, err := tx.Follower(cp.OpenID)
	switch {
	case errs.Is(err, errs.NotFound):
		return skipUnknown, nil, nil
	case err != nil:
		return "", nil, err
	case !f.Subscribed:
		return skipUnfollowed, nil, nil
	}
	in := &campaigns.Input{Follower: f, Now: now}
	if c.When.NeedsTags() {
		if in.Tags, err = tx.Tags(f.OpenID); err != nil {
			return "", nil, err
		}
	}
	if !c.When.Matches(in) {
		return skipAudience, nil, nil
	}
	fr := &firing{e: e, tx: tx, set: set, now: now, f: f, coupon: couponData(set, c, cp)}
	if err := fr.fire(c, nil); err != nil {
		return "", nil, err
	}
	if fr.refused != campaigns.Allowed {
		return "limit " + string(fr.refused), fr.items, nil
	}
	return "", fr.items, nil
}

// couponData is .Coupon for a stored coupon, its expiry shown in c's zone.
func couponData(set *campaigns.Set, c *campaigns.Campaign, cp *coupons.Coupon) *campaigns.CouponData {
	d := &campaigns.CouponData{Code: cp.Code, Title: cp.Title, Pool: cp.Pool, ExpiresAt: cp.ExpiresAt.In(c.Location)}
	if p := set.Pools[cp.Pool]; p != nil {
		d.Discount = p.Discount
		if d.Title == "" {
			d.Title = p.Title
		}
	}
	return d
}
