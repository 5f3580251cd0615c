package engine

import (
	"context"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/referral"
	"github.com/omohq/omo/sqldb"
)

// newcomerWindow is how soon after their first login a mini-program user
// must accept a referral to count as new: the share flow logs in and
// accepts at once; someone who used the mini-program before is not new.
const newcomerWindow = time.Hour

// ReferralCodeFor returns the referral code of the person with the given
// identities (mini-program openid and unionid, from their session),
// creating it on first use. The OA follower with the same unionid is
// linked, so their follows and rewards meet.
func (e *Engine) ReferralCodeFor(ctx context.Context, mpOpenID, unionid string) (*referral.Code, error) {
	now := e.now()
	var out *referral.Code
	err := e.db.Write(ctx, func(tx *sqldb.Tx) error {
		out = nil
		oa := ""
		if unionid != "" {
			f, err := tx.FollowerByUnionID(unionid)
			if err == nil {
				oa = f.OpenID
			} else if !errs.Is(err, errs.NotFound) {
				return err
			}
		}
		key := referral.Key(unionid, oa, mpOpenID)
		rc, err := tx.ReferralCodeOf(key)
		if err == nil {
			out = rc
			return nil
		}
		if !errs.Is(err, errs.NotFound) {
			return err
		}
		for try := 0; try < 5; try++ {
			code, err := referral.NewCode()
			if err != nil {
				return errs.Wrap(errs.Unavailable, "engine.ReferralCodeFor", err)
			}
			if _, err := tx.ReferralCode(code); errs.Is(err, errs.NotFound) {
				rc := &referral.Code{Code: code, OwnerKey: key, MPOpenID: mpOpenID, OAOpenID: oa, UnionID: unionid, CreatedAt: now}
				if err := tx.AddReferralCode(rc); err != nil {
					return err
				}
				out = rc
				return nil
			}
		}
		return errs.E(errs.Unavailable, "engine.ReferralCodeFor", "no free referral code after 5 tries")
	})
	return out, err
}

// SetReferralQR caches the OA QR code of a referral code until expires.
func (e *Engine) SetReferralQR(ctx context.Context, code, ticket, url string, expires time.Time) error {
	return e.db.Write(ctx, func(tx *sqldb.Tx) error { return tx.SetReferralQR(code, ticket, url, expires) })
}

// AcceptResult says what became of an accepted referral link.
type AcceptResult struct {
	Attributed bool            `json:"attributed"`
	Reason     referral.Reason `json:"reason,omitempty"` // why not
}

// Accept attributes a mini-program newcomer (mpOpenID, unionid) who
// arrived through a shared link with code. A refusal is not an error: it
// is recorded and its reason returned. An unknown mini-program user (no
// login) is NotFound.
func (e *Engine) Accept(ctx context.Context, mpOpenID, unionid, code string) (AcceptResult, error) {
	now := e.now()
	var res AcceptResult
	var items []outbox.Item
	err := e.db.Write(ctx, func(tx *sqldb.Tx) error {
		res, items = AcceptResult{}, nil
		u, err := tx.MPUser(mpOpenID)
		if err != nil {
			return err
		}
		if unionid == "" {
			unionid = u.UnionID
		}
		inv := invitee{mp: mpOpenID, unionid: unionid}
		seenBefore := u.FirstSeenAt.Before(now.Add(-newcomerWindow))
		if unionid != "" {
			if f, err := tx.FollowerByUnionID(unionid); err == nil {
				inv.oa = f.OpenID
				seenBefore = seenBefore || f.FirstSeenAt.Before(now.Add(-newcomerWindow)) || !f.Subscribed
			} else if !errs.Is(err, errs.NotFound) {
				return err
			}
			at, seen, err := tx.SeenAt(referral.SeenHash(e.salt, "u:"+unionid))
			if err != nil {
				return err
			}
			seenBefore = seenBefore || seen && at.Before(u.FirstSeenAt.Add(-time.Minute))
		}
		var why referral.Reason
		if items, why, err = e.attribute(tx, "mp", code, inv, seenBefore, now); err != nil {
			return err
		}
		res = AcceptResult{Attributed: why == "", Reason: why}
		_, err = tx.Seen(e.seenHashes(inv.oa, mpOpenID, unionid), now)
		return err
	})
	if err == nil && len(items) > 0 && e.queue != nil {
		e.queue.Enqueue(ctx, items)
	}
	return res, err
}

// ReferralStats counts what program id did; NotFound if it is neither
// running nor has any record.
func (e *Engine) ReferralStats(ctx context.Context, id string) (referral.Stats, error) {
	st, err := e.db.ReferralStats(ctx, id)
	if err != nil {
		return st, err
	}
	if e.program(id) == nil && st.Invites == 0 && len(st.Rejected) == 0 {
		return st, errs.E(errs.NotFound, "engine.ReferralStats", "no referral program %q", id)
	}
	return st, nil
}

// Leaderboard returns the top referrers of program id.
func (e *Engine) Leaderboard(ctx context.Context, id string, limit int) ([]referral.LeaderboardRow, error) {
	if _, err := e.ReferralStats(ctx, id); err != nil {
		return nil, err
	}
	rows, err := e.db.Leaderboard(ctx, id, limit)
	if rows == nil {
		rows = []referral.LeaderboardRow{}
	}
	return rows, err
}
