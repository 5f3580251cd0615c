package sqldb

import (
	"context"
	"time"

	"github.com/omohq/omo/errs"
)

// Reminder states (coupon_reminders.state).
const (
	ReminderFired   = "fired"   // the campaign fired for the coupon's owner
	ReminderSkipped = "skipped" // claimed, but nothing was sent; the reason says why
)

// ExpiringCoupon is an unused coupon found by the reminder scan.
type ExpiringCoupon struct {
	Code      string    `db:"code"`
	OpenID    string    `db:"openid"`
	Title     string    `db:"title"`
	ExpiresAt time.Time `db:"expires_at"`
}

// ExpiringCoupons returns up to limit coupons of pool that are unused
// (state issued), expire after from and at or before to, and have no
// reminder claim of campaign yet, soonest expiry first. The scan walks the
// coupons (pool_id, state, expires_at) index over the window only.
func (db *DB) ExpiringCoupons(ctx context.Context, campaign, pool string, from, to time.Time, limit int) ([]ExpiringCoupon, error) {
	var out []ExpiringCoupon
	err := db.x.SelectContext(ctx, &out, db.rebind(`
SELECT c.code, c.openid, c.title, c.expires_at FROM coupons c
WHERE c.pool_id = ? AND c.state = 'issued' AND c.expires_at > ? AND c.expires_at <= ?
  AND NOT EXISTS (SELECT 1 FROM coupon_reminders r WHERE r.campaign_id = ? AND r.code = c.code)
ORDER BY c.expires_at, c.code LIMIT ?`), pool, ts(from), ts(to), campaign, limit)
	return out, errs.Wrap(errs.Other, "sqldb.ExpiringCoupons", err)
}

// ClaimReminder inserts the claim of campaign's reminder about coupon code
// (owned by openid) in state fired. It reports false, changing nothing,
// when the reminder was claimed before, by this or another omo: on
// PostgreSQL a concurrent claim waits for the first one's transaction and
// then sees it. Claim before acting, in the transaction that acts.
func (tx *Tx) ClaimReminder(campaign, code, openid string, now time.Time) (bool, error) {
	res, err := tx.x.Exec(tx.db.rebind(`
INSERT INTO coupon_reminders (campaign_id, code, openid, state, reason, claimed_at) VALUES (?, ?, ?, ?, '', ?)
ON CONFLICT (campaign_id, code) DO NOTHING`), campaign, code, openid, ReminderFired, ts(now))
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.ClaimReminder", err)
	}
	n, err := res.RowsAffected()
	return n == 1, errs.Wrap(errs.Other, "sqldb.ClaimReminder", err)
}

// SkipReminder records why a claimed reminder sent nothing.
func (tx *Tx) SkipReminder(campaign, code, reason string) error {
	_, err := tx.x.Exec(tx.db.rebind(`UPDATE coupon_reminders SET state = ?, reason = ? WHERE campaign_id = ? AND code = ?`),
		ReminderSkipped, reason, campaign, code)
	return errs.Wrap(errs.Other, "sqldb.SkipReminder", err)
}

// Reminder is one claimed coupon reminder.
type Reminder struct {
	CampaignID string    `db:"campaign_id"`
	Code       string    `db:"code"`
	OpenID     string    `db:"openid"`
	State      string    `db:"state"`
	Reason     string    `db:"reason"`
	ClaimedAt  time.Time `db:"claimed_at"`
}

// RemindersOf lists campaign's claimed reminders, oldest claim first.
func (db *DB) RemindersOf(ctx context.Context, campaign string) ([]Reminder, error) {
	var out []Reminder
	err := db.x.SelectContext(ctx, &out, db.rebind(`
SELECT campaign_id, code, openid, state, reason, claimed_at FROM coupon_reminders WHERE campaign_id = ? ORDER BY claimed_at, code`), campaign)
	return out, errs.Wrap(errs.Other, "sqldb.RemindersOf", err)
}
