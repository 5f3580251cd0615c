package sqldb

import (
	"context"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/followers"
)

const followerCols = `openid, unionid, subscribed, subscribed_at, unsubscribed_at, first_seen_at, first_scene, last_event_at, home_store`

// Follower returns the follower with openid, or a NotFound error.
func (tx *Tx) Follower(openid string) (*followers.Follower, error) {
	if b := tx.buf; b != nil {
		if f, ok := b.followers[openid]; ok {
			if f == nil {
				return nil, errs.E(errs.NotFound, "sqldb.Follower", "follower %s not found", openid)
			}
			c := *f
			return &c, nil
		}
	}
	return getOne[followers.Follower](context.Background(), tx.x, "sqldb.Follower", "follower "+openid,
		`SELECT `+followerCols+` FROM followers WHERE openid = ?`, openid)
}

// Follower reads the follower with openid outside any write, or NotFound.
func (db *DB) Follower(ctx context.Context, openid string) (*followers.Follower, error) {
	return getOne[followers.Follower](ctx, db.x, "sqldb.Follower", "follower "+openid,
		`SELECT `+followerCols+` FROM followers WHERE openid = ?`, openid)
}

// SaveFollower inserts or updates f. The unionid is kept when f has none
// (user/info may have filled it in since f was read), and first_scene is
// never overwritten once set.
func (tx *Tx) SaveFollower(f *followers.Follower) error {
	if b := tx.buf; b != nil {
		if prev, ok := b.followers[f.OpenID]; ok {
			if _, pending := b.saved[f.OpenID]; pending {
				// The buffer keeps one row per follower, and a second save
				// must merge into the first as the upsert would: write the
				// first out.
				if err := tx.flush(); err != nil {
					return err
				}
			}
			m := merged(prev, f)
			b.followers[f.OpenID] = m
			c := *f
			b.saved[f.OpenID] = &c
			return nil
		}
	}
	_, err := tx.x.Exec(tx.db.rebind(`
INSERT INTO followers (`+followerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
`+followerUpsert),
		f.OpenID, f.UnionID, f.Subscribed, tsp(f.SubscribedAt), tsp(f.UnsubscribedAt),
		ts(f.FirstSeenAt), f.FirstScene, ts(f.LastEventAt), f.HomeStore)
	return errs.Wrap(errs.Other, "sqldb.SaveFollower", err)
}

// followerUpsert is how SaveFollower merges a saved follower into the row
// already there (merged is the same in Go).
const followerUpsert = `ON CONFLICT (openid) DO UPDATE SET
  unionid = CASE WHEN excluded.unionid <> '' THEN excluded.unionid ELSE followers.unionid END,
  subscribed = excluded.subscribed,
  subscribed_at = excluded.subscribed_at,
  unsubscribed_at = excluded.unsubscribed_at,
  first_scene = CASE WHEN followers.first_scene <> '' THEN followers.first_scene ELSE excluded.first_scene END,
  home_store = CASE WHEN followers.home_store <> '' THEN followers.home_store ELSE excluded.home_store END,
  last_event_at = excluded.last_event_at`

// SetUnionID records the unionid WeChat gave for openid. A follower omo has
// not stored is NotFound.
func (tx *Tx) SetUnionID(openid, unionid string) error {
	res, err := tx.x.Exec(tx.db.rebind(`UPDATE followers SET unionid = ? WHERE openid = ?`), unionid, openid)
	if err != nil {
		return errs.Wrap(errs.Other, "sqldb.SetUnionID", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errs.E(errs.NotFound, "sqldb.SetUnionID", "follower %s not found", openid)
	}
	return nil
}

// CountFollowers returns how many followers are stored and how many follow now.
func (db *DB) CountFollowers(ctx context.Context) (all, subscribed int, err error) {
	var row struct {
		All        int `db:"a"`
		Subscribed int `db:"s"`
	}
	err = db.x.GetContext(ctx, &row, `SELECT COUNT(*) AS a, COALESCE(SUM(CASE WHEN subscribed THEN 1 ELSE 0 END), 0) AS s FROM followers`)
	return row.All, row.Subscribed, errs.Wrap(errs.Other, "sqldb.CountFollowers", err)
}
