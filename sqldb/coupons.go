package sqldb

import (
	"context"
	"time"

	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/errs"
)

// SyncPool makes the stored stock of pool id equal to stock, keeping the
// count already issued (a lowered stock below it just stops issuing).
func (tx *Tx) SyncPool(id string, stock int64, now time.Time) error {
	_, err := tx.x.Exec(tx.db.rebind(`
INSERT INTO coupon_pools (id, stock, issued, updated_at) VALUES (?, ?, 0, ?)
ON CONFLICT (id) DO UPDATE SET stock = excluded.stock, updated_at = excluded.updated_at`), id, stock, ts(now))
	return errs.Wrap(errs.Other, "sqldb.SyncPool", err)
}

// TakeFromPool takes one coupon from pool id's stock, atomically: a
// conditional increment that can never pass the stock, whatever the
// concurrency. It reports false when the pool is empty or unknown.
func (tx *Tx) TakeFromPool(id string) (bool, error) {
	if b := tx.buf; b != nil {
		return tx.takeFromPool(b, id)
	}
	res, err := tx.x.Exec(tx.db.rebind(`UPDATE coupon_pools SET issued = issued + 1 WHERE id = ? AND issued < stock`), id)
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.TakeFromPool", err)
	}
	n, err := res.RowsAffected()
	return n == 1, errs.Wrap(errs.Other, "sqldb.TakeFromPool", err)
}

// CountHeld is how many coupons of pool the follower holds in any state but revoked.
func (tx *Tx) CountHeld(pool, openid string) (int, error) {
	if b := tx.buf; b != nil {
		if n, ok := b.cachedHeld(pool, openid); ok {
			return n, nil
		}
	}
	var n int
	err := tx.x.Get(&n, tx.db.rebind(`SELECT COUNT(*) FROM coupons WHERE openid = ? AND pool_id = ? AND state <> 'revoked'`), openid, pool)
	return n, errs.Wrap(errs.Other, "sqldb.CountHeld", err)
}

const couponCols = `code, pool_id, openid, campaign_id, event_id, state, title, issued_at, expires_at, redeemed_at, store_id, issued_store, variant`

// AddCoupon stores an issued coupon. A code that exists already is a
// Conflict (the caller draws another).
func (tx *Tx) AddCoupon(c *coupons.Coupon) error {
	if b := tx.buf; b != nil {
		b.addCoupon(c) // a code taken meanwhile fails the flush (batch_campaigns.go)
		return nil
	}
	_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO coupons (`+couponCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		c.Code, c.Pool, c.OpenID, c.Campaign, c.EventID, string(c.State), c.Title, ts(c.IssuedAt), ts(c.ExpiresAt), tsp(c.RedeemedAt), c.StoreID, c.IssuedStore, c.Variant)
	return errs.Wrap(errs.Other, "sqldb.AddCoupon", err)
}

// Coupon returns the coupon with code, or NotFound.
func (tx *Tx) Coupon(code string) (*coupons.Coupon, error) {
	return getOne[coupons.Coupon](context.Background(), tx.x, "sqldb.Coupon", "coupon",
		`SELECT `+couponCols+` FROM coupons WHERE code = ?`, code)
}

// RedeemCoupon marks an issued coupon redeemed at store. It reports false
// when the coupon was not in state issued (a concurrent redemption won).
func (tx *Tx) RedeemCoupon(code, storeID string, now time.Time) (bool, error) {
	res, err := tx.x.Exec(tx.db.rebind(`
UPDATE coupons SET state = 'redeemed', redeemed_at = ?, store_id = ? WHERE code = ? AND state = 'issued'`), ts(now), storeID, code)
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.RedeemCoupon", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ExpireCoupon records that an issued coupon has expired.
func (tx *Tx) ExpireCoupon(code string) error {
	_, err := tx.x.Exec(tx.db.rebind(`UPDATE coupons SET state = 'expired' WHERE code = ? AND state = 'issued'`), code)
	return errs.Wrap(errs.Other, "sqldb.ExpireCoupon", err)
}

// CouponsOf lists openid's coupons, newest first.
func (db *DB) CouponsOf(ctx context.Context, openid string) ([]coupons.Coupon, error) {
	var out []coupons.Coupon
	err := db.x.SelectContext(ctx, &out, db.rebind(`SELECT `+couponCols+` FROM coupons WHERE openid = ? ORDER BY issued_at DESC, code`), openid)
	return out, errs.Wrap(errs.Other, "sqldb.CouponsOf", err)
}

// PoolCounts returns the stock and the number issued of pool id.
func (db *DB) PoolCounts(ctx context.Context, id string) (stock, issued int64, err error) {
	var row struct {
		Stock  int64 `db:"stock"`
		Issued int64 `db:"issued"`
	}
	err = db.x.GetContext(ctx, &row, db.rebind(`SELECT stock, issued FROM coupon_pools WHERE id = ?`), id)
	if err != nil {
		return 0, 0, notFound("sqldb.PoolCounts", err, "pool "+id)
	}
	return row.Stock, row.Issued, nil
}
