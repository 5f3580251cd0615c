package engine

import (
	"context"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/sqldb"
)

// MPLogin is who WeChat says logged in to the mini-program (code2session).
type MPLogin struct {
	OpenID  string // the mini-program openid; required
	UnionID string // "" unless the mini-program is bound to an Open Platform account
}

// Person is one customer as omo knows them: a mini-program user and, when
// both have the same unionid, the OA follower they also are (DESIGN.md §3).
type Person struct {
	MPOpenID   string
	OAOpenID   string // "" when no OA follower has this unionid (yet)
	UnionID    string // "" when WeChat gave none
	FirstLogin bool   // this login was the mini-program user's first (set by Login only)
}

// Login records a mini-program login in one write (the user is created on
// the first, their last login moved on every later one; a unionid once
// known is kept; the identities are remembered as seen, see referral) and
// returns the person, linked to the OA follower with the
// same unionid if omo has one. An empty openid is Invalid.
func (e *Engine) Login(ctx context.Context, l MPLogin) (Person, error) {
	if l.OpenID == "" {
		return Person{}, errs.E(errs.Invalid, "engine.Login", "no openid")
	}
	now := e.now()
	var p Person
	err := e.db.Write(ctx, func(tx *sqldb.Tx) error {
		p = Person{} // a write may run again; only the committed run counts
		u, created, err := tx.SaveMPLogin(l.OpenID, l.UnionID, now)
		if err != nil {
			return err
		}
		p = Person{MPOpenID: u.OpenID, UnionID: u.UnionID, FirstLogin: created}
		if p.OAOpenID, err = oaOpenID(tx, u.UnionID); err != nil {
			return err
		}
		// Remembered for the referral rules: a mini-program user is not
		// a newcomer later, even once their data is gone.
		_, err = tx.Seen(e.seenHashes(p.OAOpenID, u.OpenID, u.UnionID), now)
		return err
	})
	if err != nil {
		return Person{}, err
	}
	return p, nil
}

// Person returns the person behind the mini-program openid as omo knows
// them now (the OA link is looked up afresh: a follower's unionid arrives
// after their follow); NotFound if that openid never logged in.
func (e *Engine) Person(ctx context.Context, mpOpenID string) (Person, error) {
	u, err := e.db.MPUser(ctx, mpOpenID)
	if err != nil {
		return Person{}, err
	}
	p := Person{MPOpenID: u.OpenID, UnionID: u.UnionID}
	f, err := e.db.FollowerByUnionID(ctx, u.UnionID)
	switch {
	case err == nil:
		p.OAOpenID = f.OpenID
	case !errs.Is(err, errs.NotFound):
		return Person{}, err
	}
	return p, nil
}

// oaOpenID returns the openid of the OA follower with unionid, "" if none.
func oaOpenID(tx *sqldb.Tx, unionid string) (string, error) {
	f, err := tx.FollowerByUnionID(unionid)
	if errs.Is(err, errs.NotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return f.OpenID, nil
}
