package sqldb

import (
	"context"
	"time"

	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/followers"
)

// MPUser is a mini-program user: someone who logged in through
// POST /mp/v1/login, known by the mini-program openid (not the OA's).
type MPUser struct {
	OpenID      string    `db:"openid"`
	UnionID     string    `db:"unionid"` // "" unless the mini-program is bound to an Open Platform account
	FirstSeenAt time.Time `db:"first_seen_at"`
	LastLoginAt time.Time `db:"last_login_at"`
}

const mpUserCols = `openid, unionid, first_seen_at, last_login_at`

// SaveMPLogin records a login of the mini-program user openid at now and
// returns the user as stored, and whether this was their first login. A
// unionid already stored is kept when this login brings none; first_seen_at
// is never changed. Concurrent first logins of one openid make one row, and
// only one of them reports it as new.
func (tx *Tx) SaveMPLogin(openid, unionid string, now time.Time) (*MPUser, bool, error) {
	const op = "sqldb.SaveMPLogin"
	res, err := tx.x.Exec(tx.db.rebind(`
INSERT INTO mp_users (`+mpUserCols+`) VALUES (?, ?, ?, ?) ON CONFLICT (openid) DO NOTHING`),
		openid, unionid, ts(now), ts(now))
	if err != nil {
		return nil, false, errs.Wrap(errs.Other, op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return nil, false, errs.Wrap(errs.Other, op, err)
	}
	created := n == 1
	if !created {
		_, err = tx.x.Exec(tx.db.rebind(`
UPDATE mp_users SET last_login_at = ?, unionid = CASE WHEN ? <> '' THEN ? ELSE unionid END WHERE openid = ?`),
			ts(now), unionid, unionid, openid)
		if err != nil {
			return nil, false, errs.Wrap(errs.Other, op, err)
		}
	}
	u, err := tx.MPUser(openid)
	return u, created, err
}

// MPUser returns the mini-program user with openid, or NotFound.
func (tx *Tx) MPUser(openid string) (*MPUser, error) {
	return getOne[MPUser](context.Background(), tx.x, "sqldb.MPUser", "mini-program user "+openid,
		`SELECT `+mpUserCols+` FROM mp_users WHERE openid = ?`, openid)
}

// MPUser reads the mini-program user with openid outside any write, or NotFound.
func (db *DB) MPUser(ctx context.Context, openid string) (*MPUser, error) {
	return getOne[MPUser](ctx, db.x, "sqldb.MPUser", "mini-program user "+openid,
		`SELECT `+mpUserCols+` FROM mp_users WHERE openid = ?`, openid)
}

// FollowerByUnionID returns the OA follower with unionid (the first seen,
// should WeChat ever give two the same), or NotFound; "" is always
// NotFound. A follower's unionid arrives through user/info after the
// follow, so a lookup right after a follow may not find them yet.
func (tx *Tx) FollowerByUnionID(unionid string) (*followers.Follower, error) {
	if unionid == "" {
		return nil, errs.E(errs.NotFound, "sqldb.FollowerByUnionID", "follower without a unionid")
	}
	return getOne[followers.Follower](context.Background(), tx.x, "sqldb.FollowerByUnionID", "follower with unionid "+unionid,
		followerByUnionID, unionid)
}

// FollowerByUnionID is Tx.FollowerByUnionID outside any write.
func (db *DB) FollowerByUnionID(ctx context.Context, unionid string) (*followers.Follower, error) {
	if unionid == "" {
		return nil, errs.E(errs.NotFound, "sqldb.FollowerByUnionID", "follower without a unionid")
	}
	return getOne[followers.Follower](ctx, db.x, "sqldb.FollowerByUnionID", "follower with unionid "+unionid,
		followerByUnionID, unionid)
}

const followerByUnionID = `SELECT ` + followerCols + ` FROM followers WHERE unionid = ? ORDER BY first_seen_at, openid LIMIT 1`

// CouponsOfMPUser lists the coupons of the person behind the mini-program
// openid, newest first: those held by the mini-program openid itself and
// those of every OA follower with the same unionid. The link is made at
// read time, so coupons issued before the follower's unionid was known
// show up once it is.
func (db *DB) CouponsOfMPUser(ctx context.Context, openid string) ([]coupons.Coupon, error) {
	out := []coupons.Coupon{}
	err := db.x.SelectContext(ctx, &out, db.rebind(`
SELECT `+couponCols+` FROM coupons
WHERE openid = ? OR openid IN (
  SELECT f.openid FROM followers f JOIN mp_users m ON m.unionid = f.unionid
  WHERE m.openid = ? AND m.unionid <> '')
ORDER BY issued_at DESC, code`), openid, openid)
	return out, errs.Wrap(errs.Other, "sqldb.CouponsOfMPUser", err)
}
