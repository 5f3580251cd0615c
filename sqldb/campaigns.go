package sqldb

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
)

// LockFollower serialises the handling of one follower's events across
// processes until the transaction ends, so per-follower limits counted in
// the transaction hold. On SQLite the single writer already does this.
func (tx *Tx) LockFollower(openid string) error {
	return errs.Wrap(errs.Other, "sqldb.LockFollower", tx.lock(openid))
}

// LockFollowers takes LockFollower's lock of each of openids, sorted, in
// one statement. Each is one entry of PostgreSQL's shared lock table until
// the transaction ends (max_locks_per_transaction × max_connections
// entries in all): take a few hundred at a time, not ten thousand.
func (tx *Tx) LockFollowers(openids []string) error {
	ids := slices.Clone(openids)
	slices.Sort(ids)
	return errs.Wrap(errs.Other, "sqldb.LockFollowers", tx.lock(slices.Compact(ids)...))
}

// lock takes PostgreSQL advisory locks on keys until the transaction
// ends, serialising the transactions (of any committer or process) that
// take the same key; a statement after it sees what they committed. The
// keys not held yet are taken in one statement, in the order given
// (callers taking several sort them, so that two transactions wait for
// each other instead of deadlocking). On SQLite the single writer already
// does this.
func (tx *Tx) lock(keys ...string) error {
	if tx.db.dialect != Postgres {
		return nil
	}
	var args []any
	for _, k := range keys {
		if !tx.locked[k] {
			args = append(args, k)
		}
	}
	if len(args) == 0 {
		return nil
	}
	// VALUES rows are produced, and the function called, in list order.
	if _, err := tx.x.x.Exec(tx.db.rebind(`SELECT pg_advisory_xact_lock(hashtext(k)) FROM (VALUES `+rowMarks(len(args), 1)+`) AS v (k)`), args...); err != nil {
		return err
	}
	if tx.locked == nil {
		tx.locked = map[string]bool{}
	}
	for _, k := range args {
		tx.locked[k.(string)] = true
	}
	return nil
}

// CampaignHistory returns how often openid triggered campaign id (at
// store storeID when not "": location campaigns count per store) and when
// last. (The last time is read as a column, not MAX(): SQLite's driver
// only turns typed columns back into times.)
func (tx *Tx) CampaignHistory(id, openid, storeID string) (campaigns.History, error) {
	const op = "sqldb.CampaignHistory"
	var h campaigns.History
	if b := tx.buf; b != nil {
		if h, ok := b.cachedHistory(id, openid, storeID); ok {
			return h, nil
		}
	}
	err := tx.x.Get(&h.Fired, tx.db.rebind(`
SELECT COUNT(*) FROM campaign_firings WHERE campaign_id = ? AND openid = ? AND (? = '' OR store_id = ?)`), id, openid, storeID, storeID)
	if err != nil || h.Fired == 0 {
		return h, errs.Wrap(errs.Other, op, err)
	}
	err = tx.x.Get(&h.LastFired, tx.db.rebind(`
SELECT fired_at FROM campaign_firings WHERE campaign_id = ? AND openid = ? AND (? = '' OR store_id = ?)
ORDER BY fired_at DESC LIMIT 1`), id, openid, storeID, storeID)
	return h, errs.Wrap(errs.Other, op, err)
}

// TakeBudget counts one firing against campaign id's budget, atomically.
// It reports false when the budget is spent. budget 0 means no budget.
func (tx *Tx) TakeBudget(id string, budget int64) (bool, error) {
	const op = "sqldb.TakeBudget"
	if budget <= 0 {
		return true, nil
	}
	if b := tx.buf; b != nil {
		return tx.takeBudget(b, id, budget)
	}
	if _, err := tx.x.Exec(tx.db.rebind(`INSERT INTO campaign_budgets (campaign_id, fired) VALUES (?, 0) ON CONFLICT (campaign_id) DO NOTHING`), id); err != nil {
		return false, errs.Wrap(errs.Other, op, err)
	}
	res, err := tx.x.Exec(tx.db.rebind(`UPDATE campaign_budgets SET fired = fired + 1 WHERE campaign_id = ? AND fired < ?`), id, budget)
	if err != nil {
		return false, errs.Wrap(errs.Other, op, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// AddFiring records that campaign id fired for openid (about store storeID,
// "" if none) because of event eventID (0 = no push: a coupon reminder),
// running its split's variant ("" without split).
func (tx *Tx) AddFiring(id, openid, storeID, variant string, eventID int64, now time.Time) error {
	var ev *int64
	if eventID != 0 {
		ev = &eventID
	}
	if b := tx.buf; b != nil {
		b.addFiring(firingRow{Campaign: id, OpenID: openid, Store: storeID, Variant: variant, EventID: ev, At: ts(now)})
		return nil
	}
	_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO campaign_firings (campaign_id, openid, store_id, variant, event_id, fired_at) VALUES (?, ?, ?, ?, ?, ?)`),
		id, openid, storeID, variant, ev, ts(now))
	return errs.Wrap(errs.Other, "sqldb.AddFiring", err)
}

// CampaignStats counts what campaign id did. sent counts messages WeChat
// accepted (delivered ones included); failed counts messages that will not
// be sent or that WeChat reported undelivered.
func (db *DB) CampaignStats(ctx context.Context, id string) (campaigns.Stats, error) {
	var s campaigns.Stats
	err := db.x.GetContext(ctx, &s, db.rebind(`
SELECT
  (SELECT COUNT(*) FROM campaign_firings WHERE campaign_id = ?) AS fired,
  (SELECT COUNT(*) FROM messages WHERE campaign_id = ? AND sent_at IS NOT NULL) AS sent,
  (SELECT COUNT(*) FROM messages WHERE campaign_id = ? AND delivered_at IS NOT NULL) AS delivered,
  (SELECT COUNT(*) FROM messages WHERE campaign_id = ? AND state = 'failed') AS failed,
  (SELECT COUNT(*) FROM messages WHERE campaign_id = ? AND opened_at IS NOT NULL) AS opened,
  (SELECT COUNT(*) FROM coupons WHERE campaign_id = ?) AS coupons_issued,
  (SELECT COUNT(*) FROM coupons WHERE campaign_id = ? AND state = 'redeemed') AS coupons_redeemed`),
		id, id, id, id, id, id, id)
	return s, errs.Wrap(errs.Other, "sqldb.CampaignStats", err)
}

// Tags returns openid's tags.
func (tx *Tx) Tags(openid string) ([]string, error) {
	if b := tx.buf; b != nil {
		if tags, ok := b.cachedTags(openid); ok {
			return tags, nil
		}
	}
	var tags []string
	err := tx.x.Select(&tags, tx.db.rebind(`SELECT tag FROM follower_tags WHERE openid = ? ORDER BY tag`), openid)
	return tags, errs.Wrap(errs.Other, "sqldb.Tags", err)
}

// SetTag adds (on) or removes a tag of openid.
func (tx *Tx) SetTag(openid, tag string, on bool) error {
	q := `DELETE FROM follower_tags WHERE openid = ? AND tag = ?`
	if on {
		q = `INSERT INTO follower_tags (openid, tag) VALUES (?, ?) ON CONFLICT (openid, tag) DO NOTHING`
	}
	_, err := tx.x.Exec(tx.db.rebind(q), openid, tag)
	return errs.Wrap(errs.Other, "sqldb.SetTag", err)
}

// RecordCampaignSet remembers the files of an applied campaign set, so
// `omo campaigns plan` can compare against what is running.
func (tx *Tx) RecordCampaignSet(hash string, files []byte, now time.Time) error {
	_, err := tx.x.Exec(tx.db.rebind(`
INSERT INTO campaign_sets (hash, files, applied_at) VALUES (?, ?, ?)
ON CONFLICT (hash) DO UPDATE SET applied_at = excluded.applied_at`), hash, string(files), ts(now))
	return errs.Wrap(errs.Other, "sqldb.RecordCampaignSet", err)
}

// LatestCampaignSet returns the files of the campaign set applied last, or
// NotFound if none ever was.
func (db *DB) LatestCampaignSet(ctx context.Context) ([]byte, error) {
	var files string
	err := db.x.GetContext(ctx, &files, `SELECT files FROM campaign_sets ORDER BY applied_at DESC LIMIT 1`)
	if err != nil {
		return nil, notFound("sqldb.LatestCampaignSet", err, "applied campaign set")
	}
	return []byte(files), nil
}

// SaveLocation records the follower's last known location.
func (tx *Tx) SaveLocation(openid string, lat, lng, precision float64, at time.Time) error {
	_, err := tx.x.Exec(tx.db.rebind(`
INSERT INTO follower_locations (openid, lat, lng, precision, at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (openid) DO UPDATE SET lat = excluded.lat, lng = excluded.lng, precision = excluded.precision, at = excluded.at`),
		openid, lat, lng, precision, ts(at))
	return errs.Wrap(errs.Other, "sqldb.SaveLocation", err)
}

// StoresSignature changes whenever the store catalogue does: its size and
// its latest update.
func (db *DB) StoresSignature(ctx context.Context) (string, error) {
	var n int
	if err := db.x.GetContext(ctx, &n, `SELECT COUNT(*) FROM stores`); err != nil || n == 0 {
		return "0", errs.Wrap(errs.Other, "sqldb.StoresSignature", err)
	}
	var last time.Time
	err := db.x.GetContext(ctx, &last, `SELECT updated_at FROM stores ORDER BY updated_at DESC LIMIT 1`)
	return fmt.Sprintf("%d@%s", n, last.UTC().Format(time.RFC3339Nano)), errs.Wrap(errs.Other, "sqldb.StoresSignature", err)
}
