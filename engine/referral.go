package engine

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/referral"
	"github.com/omohq/omo/sqldb"
)

// Init loads what the engine keeps across restarts: the salt under which
// identities are remembered (without Init a fixed salt is used) and the
// store index.
func (e *Engine) Init(ctx context.Context) error {
	salt, err := e.db.Secret(ctx, "seen_salt")
	if err != nil {
		return err
	}
	e.salt = salt
	return e.LoadStores(ctx)
}

// seenHashes are the remembered forms of a person's identities.
func (e *Engine) seenHashes(oa, mp, unionid string) []string {
	var hs []string
	for _, id := range []string{prefixed("oa:", oa), prefixed("mp:", mp), prefixed("u:", unionid)} {
		if id != "" {
			hs = append(hs, referral.SeenHash(e.salt, id))
		}
	}
	return hs
}

// identityKeys are the keys a person may be known by (see referral.Key).
func identityKeys(unionid, oa, mp string) []string {
	var ks []string
	for _, k := range []string{prefixed("u:", unionid), prefixed("oa:", oa), prefixed("mp:", mp)} {
		if k != "" {
			ks = append(ks, k)
		}
	}
	return ks
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

// activeProgram is the first referral program of the running set whose
// window holds now, or nil.
func (e *Engine) activeProgram(now time.Time) *campaigns.ReferralProgram {
	set := e.set.Load()
	if set == nil {
		return nil
	}
	for _, p := range set.Referrals {
		if (p.Start.IsZero() || !now.Before(p.Start)) && (p.End.IsZero() || !now.After(p.End)) {
			return p
		}
	}
	return nil
}

func (e *Engine) program(id string) *campaigns.ReferralProgram {
	if set := e.set.Load(); set != nil {
		for _, p := range set.Referrals {
			if p.ID == id {
				return p
			}
		}
	}
	return nil
}

// referralEvents handles what a push means for the referral program: a
// follow through a ref:<code> QR code may attribute the new follower; an
// unfollow within the hold cancels a held attribution. seenBefore says
// whether the follower's identity was known before this push.
func (e *Engine) referralEvents(tx *sqldb.Tx, ev *events.Event, f *followers.Follower, seenBefore bool, now time.Time) ([]outbox.Item, error) {
	switch ev.Type {
	case events.Subscribe, events.Scan:
		code, ok := strings.CutPrefix(ev.Scene(), "ref:")
		if !ok {
			return nil, nil
		}
		// A SCAN comes from someone who follows already: never new, but the
		// refusal (not_new, or self_referral for their own code) is recorded.
		seenBefore = seenBefore || ev.Type == events.Scan
		items, _, err := e.attribute(tx, "qr", code, invitee{oa: f.OpenID, unionid: f.UnionID}, seenBefore, now)
		return items, err
	case events.Unsubscribe:
		r, err := tx.HeldReferralOfOA(f.OpenID)
		if errs.Is(err, errs.NotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if p := e.program(r.ProgramID); p == nil || now.Before(r.CreatedAt.Add(p.Hold)) || p.QualifyOn == "first_redeem" {
			_, err = tx.DecideReferral(r.ID, referral.Cancelled, referral.ReasonUnfollowed, now)
		}
		return nil, err
	}
	return nil, nil
}

type invitee struct{ oa, mp, unionid string }

// attribute records an arrival through code as a held attribution and
// schedules its qualification, or records its refusal and returns the
// reason ("" = attributed).
func (e *Engine) attribute(tx *sqldb.Tx, via, code string, inv invitee, seenBefore bool, now time.Time) ([]outbox.Item, referral.Reason, error) {
	inviteeKey := referral.Key(inv.unionid, inv.oa, inv.mp)
	p := e.activeProgram(now)
	if p == nil {
		return nil, referral.ReasonNoProgram, tx.RejectReferral("", code, inviteeKey, referral.ReasonNoProgram, now)
	}
	reject := func(reason referral.Reason) ([]outbox.Item, referral.Reason, error) {
		e.log.Info("referral refused", "program", p.ID, "code", code, "reason", reason)
		return nil, reason, tx.RejectReferral(p.ID, code, inviteeKey, reason, now)
	}
	rc, err := tx.ReferralCode(code)
	if errs.Is(err, errs.NotFound) {
		return reject(referral.ReasonUnknownCode)
	}
	if err != nil {
		return nil, "", err
	}
	if err := tx.LockReferrer(rc.OwnerKey); err != nil {
		return nil, "", err
	}
	a := referral.Attempt{
		InviteeOA: inv.oa, InviteeMP: inv.mp, InviteeUnion: inv.unionid,
		ReferrerOA: rc.OAOpenID, ReferrerMP: rc.MPOpenID, ReferrerUnion: rc.UnionID,
		SeenBefore: seenBefore, PerReferrerDay: p.PerReferrerDay,
	}
	if a.AlreadyReferred, a.ReferredByInvitee, err = priorReferrals(tx, inv, rc); err != nil {
		return nil, "", err
	}
	if a.TodayByReferrer, err = tx.CountReferrals(p.ID, rc.OwnerKey, "", startOfDay(now)); err != nil {
		return nil, "", err
	}
	if why := referral.Decide(a); why != "" {
		return reject(why)
	}
	id, ok, err := tx.AddReferral(&referral.Referral{ProgramID: p.ID, Code: code, ReferrerKey: rc.OwnerKey, InviteeKey: inviteeKey,
		InviteeOA: inv.oa, InviteeMP: inv.mp, Via: via, State: referral.Held, CreatedAt: now})
	if err != nil {
		return nil, "", err
	}
	if !ok {
		return reject(referral.ReasonAttributed)
	}
	e.log.Info("referral attributed", "program", p.ID, "code", code, "via", via, "referral", id)
	if p.QualifyOn != "subscribe" {
		return nil, "", nil // first_redeem: Redeem qualifies it
	}
	it, err := outbox.New(newID(), outbox.ReferralQualify, outbox.QualifyReferral{ReferralID: id}, now.Add(p.Hold), now)
	if err != nil {
		return nil, "", errs.Wrap(errs.Other, "engine.attribute", err)
	}
	return []outbox.Item{it}, "", tx.AddOutbox(it)
}

// priorReferrals reports whether the invitee was attributed before and
// whether the referrer was attributed to the invitee (a loop). A person is
// attributed under the key known when they arrived (one who followed is
// "oa:<openid>", the same person accepting a code in the mini-program
// "u:<unionid>"), so both look under every identity of each.
func priorReferrals(tx *sqldb.Tx, inv invitee, rc *referral.Code) (already, loop bool, err error) {
	invKeys := identityKeys(inv.unionid, inv.oa, inv.mp)
	for _, k := range invKeys {
		_, err := tx.ReferralOfInvitee(k)
		if err == nil {
			already = true
			break
		}
		if !errs.Is(err, errs.NotFound) {
			return false, false, err
		}
	}
	for _, k := range append([]string{rc.OwnerKey}, identityKeys(rc.UnionID, rc.OAOpenID, rc.MPOpenID)...) {
		own, err := tx.ReferralOfInvitee(k)
		if errs.Is(err, errs.NotFound) {
			continue
		}
		if err != nil {
			return false, false, err
		}
		if slices.Contains(invKeys, own.ReferrerKey) {
			loop = true
			break
		}
	}
	return already, loop, nil
}

// startOfDay is midnight before now, Beijing time: the day of
// limits.per_referrer_per_day.
func startOfDay(now time.Time) time.Time {
	t := now.In(beijing)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, beijing)
}

// beijing is China's time (UTC+8 all year): the referral program's days,
// and the zone its reward coupons' expiry is shown in.
var beijing = time.FixedZone("CST", 8*3600)

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
		items, err = e.qualify(tx, r, e.now(), true)
		return err
	})
	if err == nil && len(items) > 0 && e.queue != nil {
		e.queue.Enqueue(ctx, items)
	}
	return err
}

// qualify decides r now. With waitUnionID, an invitee whose user/info
// lookup is still pending is not decided yet (Unavailable: the task is
// retried): their unionid may show a self-referral or an earlier
// mini-program user.
func (e *Engine) qualify(tx *sqldb.Tx, r *referral.Referral, now time.Time, waitUnionID bool) ([]outbox.Item, error) {
	p := e.program(r.ProgramID)
	if p == nil {
		return nil, errs.E(errs.Unavailable, "engine.qualify", "referral program %s is not in the running set", r.ProgramID)
	}
	if err := tx.LockReferrer(r.ReferrerKey); err != nil {
		return nil, err
	}
	var inv *followers.Follower
	oa := r.InviteeOA
	if unionid, ok := strings.CutPrefix(r.InviteeKey, "u:"); ok && oa == "" {
		// A mini-program newcomer who has followed the OA since accepting.
		if f, err := tx.FollowerByUnionID(unionid); err == nil {
			oa = f.OpenID
		} else if !errs.Is(err, errs.NotFound) {
			return nil, err
		}
	}
	if oa != "" {
		f, err := tx.Follower(oa)
		if err != nil {
			return nil, err
		}
		if !f.Subscribed {
			_, err := tx.DecideReferral(r.ID, referral.Cancelled, referral.ReasonUnfollowed, now)
			return nil, err
		}
		inv = f
		if waitUnionID && f.UnionID == "" {
			pending, err := tx.UserInfoPending(f.OpenID)
			if err != nil {
				return nil, err
			}
			if pending {
				return nil, errs.E(errs.Unavailable, "engine.qualify", "waiting for the invitee's unionid (user/info)")
			}
		}
	}
	rc, err := tx.ReferralCode(r.Code)
	if err != nil {
		return nil, err
	}
	// The unionid may have arrived since the follow (user/info): a person
	// who followed through their own mini-program code is found out now.
	if inv != nil && referral.Self(inv.OpenID, r.InviteeMP, inv.UnionID, rc.OAOpenID, rc.MPOpenID, rc.UnionID) {
		_, err := tx.DecideReferral(r.ID, referral.Cancelled, referral.ReasonSelf, now)
		return nil, err
	}
	// Likewise a mini-program user from before, who now follows the OA.
	// (An accept in the mini-program was judged by its unionid when it
	// arrived, and its own login is always seen before it.)
	if inv != nil && inv.UnionID != "" && r.Via == "qr" {
		h := referral.SeenHash(e.salt, "u:"+inv.UnionID)
		at, seen, err := tx.SeenAt(h)
		if err != nil {
			return nil, err
		}
		if seen && at.Before(r.CreatedAt) {
			_, err := tx.DecideReferral(r.ID, referral.Cancelled, referral.ReasonNotNew, now)
			return nil, err
		}
		if _, err := tx.Seen([]string{h}, now); err != nil {
			return nil, err
		}
	}
	if ok, err := tx.DecideReferral(r.ID, referral.Qualified, "", now); err != nil || !ok {
		return nil, err
	}
	qualified, err := tx.CountReferrals(p.ID, r.ReferrerKey, referral.Qualified, time.Time{})
	if err != nil {
		return nil, err
	}
	rd := &campaigns.ReferralData{Code: r.Code, Count: qualified}
	var items []outbox.Item
	if inv != nil {
		more, err := e.reward(tx, p, inv, p.Invitee, rd, now)
		if err != nil {
			return nil, err
		}
		items = append(items, more...)
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
	if p := e.program(r.ProgramID); p == nil || p.QualifyOn != "first_redeem" {
		return nil, nil
	}
	return e.qualify(tx, r, now, false)
}
