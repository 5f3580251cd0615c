package engine

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/referral"
	"github.com/omohq/omo/sqldb"
)

// Qualify decides the held referral id after its hold: the invitee still
// follows and is not the referrer → qualified, the invitee's reward and,
// each time enough invitees qualified, the referrer's. A referral decided
// before is left alone, so a repeated task does nothing.
func (e *Engine) Qualify(ctx context.Context, id int64) error {
	var items []outbox.Item
	err := e.db.Write(ctx, func(tx *sqldb.Tx) error {
		items = nil
		r, err := tx.Referral(id)
		if err != nil || r.State != referral.Held {
			return err
		}
		// The rewards' followers' locks (the invitee's, the referrer's)
		// before the referrer's lock that qualify takes: every transaction
		// takes followers' locks first, so this one and a batch handling
		// their pushes wait for each other instead of deadlocking.
		ids := []string{r.InviteeOA}
		switch rc, err := tx.ReferralCode(r.Code); {
		case err == nil:
			ids = append(ids, rc.OAOpenID)
		case !errs.Is(err, errs.NotFound):
			return err
		}
		if err := tx.LockFollowers(slices.DeleteFunc(ids, func(s string) bool { return s == "" })); err != nil {
			return err
		}
		items, err = e.qualify(tx, r, e.now(), true)
		return err
	})
	if err == nil && len(items) > 0 && e.queue != nil {
		e.queue.Enqueue(ctx, items)
	}
	return err
}

// qualify decides r now, by referral.Qualify. With waitUnionID, an
// invitee whose user/info lookup is still pending is not decided yet
// (Unavailable: the task is retried): their unionid may show a
// self-referral or an earlier mini-program user.
func (e *Engine) qualify(tx *sqldb.Tx, r *referral.Referral, now time.Time, waitUnionID bool) ([]outbox.Item, error) {
	p := e.program(r.ProgramID)
	if p == nil {
		return nil, errs.E(errs.Unavailable, "engine.qualify", "referral program %s is not in the running set", r.ProgramID)
	}
	if err := tx.LockReferrer(r.ReferrerKey); err != nil {
		return nil, err
	}
	k, err := e.facts(tx, r, waitUnionID)
	if err != nil {
		return nil, err
	}
	s, reason, wait := referral.Qualify(k.Facts)
	if wait {
		return nil, errs.E(errs.Unavailable, "engine.qualify", "waiting for the invitee's unionid (user/info)")
	}
	if s == referral.Qualified && k.unseen != "" {
		if _, err := tx.Seen([]string{k.unseen}, now); err != nil {
			return nil, err
		}
	}
	if ok, err := tx.DecideReferral(r.ID, s, reason, now); err != nil || !ok || s != referral.Qualified {
		return nil, err
	}
	return e.qualified(tx, p, r, k.inv, k.rc, now)
}

// known is what facts found: the Facts, and what acting on them needs.
type known struct {
	referral.Facts
	inv    *followers.Follower // the invitee's OA follower; nil if they never followed
	rc     *referral.Code      // nil when a fact before it decided
	unseen string              // the invitee's unionid hash, to remember once they qualify; "" if none
}

// facts gathers the Facts of r in the order referral.Qualify weighs them
// and stops at the first that decides, so no more is read than the
// decision needs.
func (e *Engine) facts(tx *sqldb.Tx, r *referral.Referral, waitUnionID bool) (known, error) {
	var k known
	inv, err := inviteeFollower(tx, r)
	if err != nil {
		return k, err
	}
	if inv != nil && !inv.Subscribed {
		k.Unfollowed = true
		return k, nil
	}
	k.inv = inv
	if inv != nil && waitUnionID && inv.UnionID == "" {
		if k.UnionIDPending, err = tx.UserInfoPending(inv.OpenID); err != nil || k.UnionIDPending {
			return k, err
		}
	}
	if k.rc, err = tx.ReferralCode(r.Code); err != nil {
		return k, err
	}
	if inv == nil {
		return k, nil // a mini-program newcomer, judged by their unionid when they accepted
	}
	// The unionid may have arrived since the follow (user/info): a person
	// who followed through their own mini-program code is found out now.
	k.SameAsReferrer = referral.Self(inv.OpenID, r.InviteeMP, inv.UnionID, k.rc.OAOpenID, k.rc.MPOpenID, k.rc.UnionID)
	// Likewise a mini-program user from before, who now follows the OA.
	// (An accept in the mini-program was judged by its unionid when it
	// arrived, and its own login is always seen before it.)
	if k.SameAsReferrer || inv.UnionID == "" || r.Via != "qr" {
		return k, nil
	}
	h := referral.SeenHash(e.salt, "u:"+inv.UnionID)
	at, seen, err := tx.SeenAt(h)
	k.SeenBeforeArrival = seen && at.Before(r.CreatedAt)
	k.unseen = h
	return k, err
}

// inviteeFollower is the OA follower behind r's invitee, nil when there is
// none: a mini-program newcomer is found by unionid once they followed.
func inviteeFollower(tx *sqldb.Tx, r *referral.Referral) (*followers.Follower, error) {
	oa := r.InviteeOA
	if unionid, ok := strings.CutPrefix(r.InviteeKey, "u:"); ok && oa == "" {
		f, err := tx.FollowerByUnionID(unionid)
		if errs.Is(err, errs.NotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		oa = f.OpenID
	}
	if oa == "" {
		return nil, nil
	}
	return tx.Follower(oa)
}

// qualified gives the rewards of r, just qualified: the invitee's (when
// they follow the OA) and every referrer reward now due.
func (e *Engine) qualified(tx *sqldb.Tx, p *campaigns.ReferralProgram, r *referral.Referral, inv *followers.Follower, rc *referral.Code, now time.Time) ([]outbox.Item, error) {
	qualified, err := tx.CountReferrals(p.ID, r.ReferrerKey, referral.Qualified, time.Time{})
	if err != nil {
		return nil, err
	}
	rd := &campaigns.ReferralData{Code: r.Code, Count: qualified}
	var items []outbox.Item
	if inv != nil {
		if items, err = e.reward(tx, p, inv, p.Invitee, rd, now); err != nil {
			return nil, err
		}
	}
	more, err := e.referrerRewards(tx, p, r.ReferrerKey, rc, qualified, rd, now)
	return append(items, more...), err
}

// referrerRewards gives the referrer every reward now due, each once.
func (e *Engine) referrerRewards(tx *sqldb.Tx, p *campaigns.ReferralProgram, key string, rc *referral.Code, qualified int, rd *campaigns.ReferralData, now time.Time) ([]outbox.Item, error) {
	given, err := tx.RewardsGiven(p.ID, key)
	if err != nil {
		return nil, err
	}
	due := referral.RewardsDue(qualified, p.Every, p.Max, given)
	if due == 0 {
		return nil, nil
	}
	ref, err := e.referrerFollower(tx, rc)
	if err != nil {
		return nil, err
	}
	var items []outbox.Item
	for n := given + 1; n <= given+due; n++ {
		if ok, err := tx.AddReward(p.ID, key, n, "", now); err != nil || !ok {
			return items, err
		}
		if ref == nil {
			e.log.Warn("referrer earned a reward but does not follow the OA: nothing to send", "program", p.ID, "code", rc.Code)
			continue
		}
		more, err := e.reward(tx, p, ref, p.Referrer, rd, now)
		if err != nil {
			return nil, err
		}
		items = append(items, more...)
	}
	return items, nil
}

// referrerFollower is the OA follower behind a code, nil when the referrer
// does not follow (a mini-program user only). A code taken in the
// mini-program before its owner followed finds them by unionid.
func (e *Engine) referrerFollower(tx *sqldb.Tx, rc *referral.Code) (*followers.Follower, error) {
	var f *followers.Follower
	var err error
	switch {
	case rc.OAOpenID != "":
		f, err = tx.Follower(rc.OAOpenID)
	case rc.UnionID != "":
		f, err = tx.FollowerByUnionID(rc.UnionID)
	default:
		return nil, nil
	}
	if errs.Is(err, errs.NotFound) {
		return nil, nil
	}
	return f, err
}

// reward issues a reward's coupon to f and writes its notify message, as a
// campaign named referral:<program> would.
func (e *Engine) reward(tx *sqldb.Tx, p *campaigns.ReferralProgram, f *followers.Follower, rw campaigns.Reward, rd *campaigns.ReferralData, now time.Time) ([]outbox.Item, error) {
	c := &campaigns.Campaign{ID: "referral:" + p.ID, Title: p.Title, Location: beijing}
	fr := &firing{e: e, tx: tx, set: e.set.Load(), now: now, f: f}
	data := &campaigns.Data{
		Follower: campaigns.FollowerData{OpenID: f.OpenID, UnionID: f.UnionID, FirstScene: f.FirstScene, Store: f.HomeStore},
		Campaign: campaigns.CampaignData{ID: c.ID, Title: c.Title},
		Referral: rd,
	}
	noCoupon := ""
	if rw.Pool != "" {
		var err error
		if noCoupon, err = fr.issue(c, rw.Pool, data); err != nil {
			return nil, err
		}
	}
	if rw.Notify != nil {
		if err := fr.send(c, campaigns.Action{Kind: campaigns.ActTemplate, Send: rw.Notify}, data, noCoupon); err != nil {
			return nil, err
		}
	}
	return fr.items, nil
}

// qualifyOnRedeem qualifies the held referral of the coupon's owner when
// its program qualifies on the first redemption.
func (e *Engine) qualifyOnRedeem(tx *sqldb.Tx, openid string, now time.Time) ([]outbox.Item, error) {
	r, err := tx.HeldReferralOfOA(openid)
	if errs.Is(err, errs.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if p := e.program(r.ProgramID); p == nil || p.QualifyOn != campaigns.QualifyOnFirstRedeem {
		return nil, nil
	}
	return e.qualify(tx, r, now, false)
}
