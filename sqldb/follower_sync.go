package sqldb

import (
	"context"
	"slices"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/followers"
)

// FollowerSync is the state of the follower sync: the one follower_sync row.
type FollowerSync struct {
	Pass          int64      `db:"pass"`            // the pass under way, or the last one; 0 = never
	Running       bool       `db:"running"`         // the pass has begun and not completed
	NextOpenID    string     `db:"next_openid"`     // where the pass continues; "" = from the start
	PassStartedAt *time.Time `db:"pass_started_at"` // when the pass began
	Pages         int64      `db:"pages"`           // pages the pass has stored
	Synced        int64      `db:"synced"`          // followers the pass has stored
	Total         int64      `db:"total"`           // WeChat's follower count at the last page
	CompletedAt   *time.Time `db:"completed_at"`    // when a pass last completed
	Unfollowed    int64      `db:"unfollowed"`      // followers that completion marked unfollowed
	LastError     string     `db:"last_error"`      // why the pass last stopped; "" after a good page
	RetryAt       *time.Time `db:"retry_at"`        // the recurring job waits until then (a quota)
	LeaseOwner    string     `db:"lease_owner"`     // the process running the sync; "" = none
	LeaseUntil    *time.Time `db:"lease_until"`     // its lease ends then unless renewed
}

const followerSyncCols = `pass, running, next_openid, pass_started_at, pages, synced, total, completed_at, unfollowed, last_error, retry_at, lease_owner, lease_until`

// rowsPerInsert bounds one multi-row statement: 10 columns × 500 rows stays
// far below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const rowsPerInsert = 500

// FollowerSync reads the sync's state.
func (db *DB) FollowerSync(ctx context.Context) (FollowerSync, error) {
	var s FollowerSync
	err := db.x.GetContext(ctx, &s, `SELECT `+followerSyncCols+` FROM follower_sync WHERE id = 1`)
	return s, errs.Wrap(errs.Other, "sqldb.FollowerSync", err)
}

// ClaimFollowerSync gives owner the sync's lease until until, if nobody
// holds it, owner already does, or the holder's lease ended before now (a
// process that died). It returns the state after the claim and whether
// owner holds the lease; two processes claiming at once never both get it.
func (db *DB) ClaimFollowerSync(ctx context.Context, owner string, now, until time.Time) (FollowerSync, bool, error) {
	const op = "sqldb.ClaimFollowerSync"
	var s FollowerSync
	var got bool
	err := db.Write(ctx, func(tx *Tx) error {
		res, err := tx.x.Exec(tx.db.rebind(`
UPDATE follower_sync SET lease_owner = ?, lease_until = ?, updated_at = ?
WHERE id = 1 AND (lease_owner = '' OR lease_owner = ? OR lease_until IS NULL OR lease_until < ?)`),
			owner, ts(until), ts(now), owner, ts(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		got = n == 1
		return tx.x.Get(&s, `SELECT `+followerSyncCols+` FROM follower_sync WHERE id = 1`)
	})
	return s, got, errs.Wrap(errs.Other, op, err)
}

// leaseHeld fails with Conflict unless res changed the row, i.e. owner still
// held the lease (another process may have taken an expired one).
func leaseHeld(op string, res interface{ RowsAffected() (int64, error) }) error {
	n, err := res.RowsAffected()
	if err != nil {
		return errs.Wrap(errs.Other, op, err)
	}
	if n == 0 {
		return errs.E(errs.Conflict, op, "the follower sync lease was lost to another omo process")
	}
	return nil
}

// RenewFollowerSync extends owner's lease to until; Conflict if owner no
// longer holds it.
func (db *DB) RenewFollowerSync(ctx context.Context, owner string, now, until time.Time) error {
	const op = "sqldb.RenewFollowerSync"
	return db.Write(ctx, func(tx *Tx) error {
		res, err := tx.x.Exec(tx.db.rebind(`UPDATE follower_sync SET lease_until = ?, updated_at = ? WHERE id = 1 AND lease_owner = ?`),
			ts(until), ts(now), owner)
		if err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		return leaseHeld(op, res)
	})
}

// HoldsFollowerSync fails with Conflict unless owner still holds the lease
// of running pass pass; it keeps the sync's row locked to the end of the
// transaction, so that the lease cannot be taken over before it commits.
func (tx *Tx) HoldsFollowerSync(owner string, pass int64) error {
	const op = "sqldb.HoldsFollowerSync"
	res, err := tx.x.Exec(tx.db.rebind(`UPDATE follower_sync SET updated_at = updated_at WHERE id = 1 AND lease_owner = ? AND pass = ? AND running`), owner, pass)
	if err != nil {
		return errs.Wrap(errs.Other, op, err)
	}
	return leaseHeld(op, res)
}

// BeginFollowerPass starts the next pass at now, from the start of WeChat's
// list, unless one is running (which is then left to continue). owner must
// hold the lease (Conflict otherwise). It returns the state.
func (db *DB) BeginFollowerPass(ctx context.Context, owner string, now time.Time) (FollowerSync, error) {
	const op = "sqldb.BeginFollowerPass"
	var s FollowerSync
	err := db.Write(ctx, func(tx *Tx) error {
		res, err := tx.x.Exec(tx.db.rebind(`
UPDATE follower_sync SET
  pass = CASE WHEN running THEN pass ELSE pass + 1 END,
  next_openid = CASE WHEN running THEN next_openid ELSE '' END,
  pass_started_at = CASE WHEN running THEN pass_started_at ELSE ? END,
  pages = CASE WHEN running THEN pages ELSE 0 END,
  synced = CASE WHEN running THEN synced ELSE 0 END,
  running = TRUE, updated_at = ?
WHERE id = 1 AND lease_owner = ?`), ts(now), ts(now), owner)
		if err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		if err := leaseHeld(op, res); err != nil {
			return err
		}
		return errs.Wrap(errs.Other, op, tx.x.Get(&s, `SELECT `+followerSyncCols+` FROM follower_sync WHERE id = 1`))
	})
	return s, err
}

// CheckpointFollowerSync records that the page before next is stored: the
// pass continues from next, has stored n more followers, and WeChat counts
// total. It renews owner's lease to leaseUntil and clears the last error
// and retry time. Called in the transaction that stores the page, so the
// cursor never runs ahead of the followers. Conflict (and the page is not
// stored) if owner lost the lease or the pass is not running.
func (tx *Tx) CheckpointFollowerSync(owner string, pass int64, next string, n, total int, now, leaseUntil time.Time) error {
	const op = "sqldb.CheckpointFollowerSync"
	res, err := tx.x.Exec(tx.db.rebind(`
UPDATE follower_sync SET next_openid = ?, pages = pages + 1, synced = synced + ?, total = ?,
  last_error = '', retry_at = NULL, lease_until = ?, updated_at = ?
WHERE id = 1 AND lease_owner = ? AND pass = ? AND running`),
		next, n, total, ts(leaseUntil), ts(now), owner, pass)
	if err != nil {
		return errs.Wrap(errs.Other, op, err)
	}
	return leaseHeld(op, res)
}

// StopFollowerSync records why owner's run stopped (msg) and when the
// recurring job may try again (retryAt, nil = at once), and gives up the
// lease. The cursor stays: the next run continues the pass from it.
func (db *DB) StopFollowerSync(ctx context.Context, owner, msg string, retryAt *time.Time, now time.Time) error {
	return db.Write(ctx, func(tx *Tx) error {
		_, err := tx.x.Exec(tx.db.rebind(`
UPDATE follower_sync SET last_error = ?, retry_at = ?, lease_owner = '', lease_until = NULL, updated_at = ?
WHERE id = 1 AND lease_owner = ?`), msg, tsp(retryAt), ts(now), owner)
		return errs.Wrap(errs.Other, "sqldb.StopFollowerSync", err)
	})
}

// ReleaseFollowerSync gives up owner's lease, if owner holds it.
func (db *DB) ReleaseFollowerSync(ctx context.Context, owner string, now time.Time) error {
	return db.Write(ctx, func(tx *Tx) error {
		_, err := tx.x.Exec(tx.db.rebind(`UPDATE follower_sync SET lease_owner = '', lease_until = NULL, updated_at = ? WHERE id = 1 AND lease_owner = ?`),
			ts(now), owner)
		return errs.Wrap(errs.Other, "sqldb.ReleaseFollowerSync", err)
	})
}

// CompleteFollowerPass ends pass: every follower omo thinks follows but the
// pass did not find in WeChat's list is marked unfollowed at now, except
// those with an event (a follow, a message, anything but an unfollow) or a
// follow time at or after activeSince: the webhook saw them after the pass
// began, so the list may have been read before they came. It returns how
// many it marked. Conflict if owner lost the lease or the pass is not the
// running one.
func (db *DB) CompleteFollowerPass(ctx context.Context, owner string, pass int64, activeSince, now time.Time) (int, error) {
	const op = "sqldb.CompleteFollowerPass"
	var marked int
	err := db.Write(ctx, func(tx *Tx) error {
		res, err := tx.x.Exec(tx.db.rebind(`
UPDATE follower_sync SET running = FALSE, next_openid = '', completed_at = ?, last_error = '', retry_at = NULL, updated_at = ?
WHERE id = 1 AND lease_owner = ? AND pass = ? AND running`), ts(now), ts(now), owner, pass)
		if err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		if err := leaseHeld(op, res); err != nil {
			return err
		}
		res, err = tx.x.Exec(tx.db.rebind(`
UPDATE followers SET subscribed = FALSE, unsubscribed_at = ?
WHERE subscribed AND sync_pass < ? AND last_event_at < ? AND (subscribed_at IS NULL OR subscribed_at < ?)`),
			ts(now), pass, ts(activeSince), ts(activeSince))
		if err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		marked = int(n)
		_, err = tx.x.Exec(tx.db.rebind(`UPDATE follower_sync SET unfollowed = ? WHERE id = 1`), marked)
		return errs.Wrap(errs.Other, op, err)
	})
	return marked, err
}

// FollowersByOpenID returns the stored followers among openids, by openid
// (an openid omo does not know is absent). On PostgreSQL the rows are
// locked until the transaction ends, so that another omo process's webhook
// cannot change them between this read and the write that follows it; on
// SQLite the transaction is the only writer anyway.
func (tx *Tx) FollowersByOpenID(openids []string) (map[string]*followers.Follower, error) {
	out := make(map[string]*followers.Follower, len(openids))
	lock := ""
	if tx.db.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	for chunk := range slices.Chunk(openids, rowsPerInsert) {
		var rows []followers.Follower
		q := `SELECT ` + followerCols + ` FROM followers WHERE openid IN (` + marks(len(chunk)) + `) ORDER BY openid` + lock
		if err := tx.x.Select(&rows, tx.db.rebind(q), syncArgs(chunk)...); err != nil {
			return nil, errs.Wrap(errs.Other, "sqldb.FollowersByOpenID", err)
		}
		for i := range rows {
			out[rows[i].OpenID] = &rows[i]
		}
	}
	return out, nil
}

// SaveSyncedFollowers inserts or updates list, 500 rows a statement, and
// marks each as found by pass. On a row that appeared since it was read
// (another process's webhook), a unionid, first scene and home store
// already stored win as in SaveFollower; the webhook's first sighting,
// last event and unfollow time are never changed here.
func (tx *Tx) SaveSyncedFollowers(list []followers.Follower, pass int64) error {
	for chunk := range slices.Chunk(list, rowsPerInsert) {
		args := make([]any, 0, len(chunk)*10)
		for _, f := range chunk {
			args = append(args, f.OpenID, f.UnionID, f.Subscribed, tsp(f.SubscribedAt), tsp(f.UnsubscribedAt),
				ts(f.FirstSeenAt), f.FirstScene, ts(f.LastEventAt), f.HomeStore, pass)
		}
		_, err := tx.x.Exec(tx.db.rebind(`
INSERT INTO followers (`+followerCols+`, sync_pass) VALUES `+rowMarks(len(chunk), 10)+`
ON CONFLICT (openid) DO UPDATE SET
  unionid = CASE WHEN excluded.unionid <> '' THEN excluded.unionid ELSE followers.unionid END,
  subscribed = excluded.subscribed,
  subscribed_at = excluded.subscribed_at,
  first_scene = CASE WHEN followers.first_scene <> '' THEN followers.first_scene ELSE excluded.first_scene END,
  home_store = CASE WHEN followers.home_store <> '' THEN followers.home_store ELSE excluded.home_store END,
  sync_pass = excluded.sync_pass`), args...)
		if err != nil {
			return errs.Wrap(errs.Other, "sqldb.SaveSyncedFollowers", err)
		}
	}
	return nil
}

// ReplaceSyncedTags makes each follower's synced tags exactly s.Tags: the
// tags an earlier sync read are dropped, a tag a campaign set stays (and
// counts as synced once WeChat reports it, so WeChat can take it away later).
func (tx *Tx) ReplaceSyncedTags(list []followers.Synced) error {
	const op = "sqldb.ReplaceSyncedTags"
	ids := make([]string, len(list))
	var pairs []string
	for i, s := range list {
		ids[i] = s.OpenID
		seen := map[string]bool{}
		for _, tag := range s.Tags {
			if !seen[tag] { // one statement may not upsert a row twice (PostgreSQL)
				seen[tag] = true
				pairs = append(pairs, s.OpenID, tag)
			}
		}
	}
	for chunk := range slices.Chunk(ids, rowsPerInsert) {
		_, err := tx.x.Exec(tx.db.rebind(`DELETE FROM follower_tags WHERE synced AND openid IN (`+marks(len(chunk))+`)`), syncArgs(chunk)...)
		if err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
	}
	for chunk := range slices.Chunk(pairs, 2*rowsPerInsert) {
		_, err := tx.x.Exec(tx.db.rebind(`
INSERT INTO follower_tags (openid, tag, synced) VALUES `+rowMarks(len(chunk)/2, 3, "TRUE")+`
ON CONFLICT (openid, tag) DO UPDATE SET synced = TRUE`), syncArgs(chunk)...)
		if err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
	}
	return nil
}

// syncArgs converts s for Exec's arguments.
func syncArgs[T any](s []T) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
