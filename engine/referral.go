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
		// A program no longer running cannot qualify it either.
		p := e.program(r.ProgramID)
		if p == nil || referral.UnfollowCancels(r.CreatedAt, p.Hold, p.QualifyOn == campaigns.QualifyOnFirstRedeem, now) {
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
	if p.QualifyOn != campaigns.QualifyOnSubscribe {
		return nil, "", nil // first_redeem: Redeem qualifies it
	}
	if p.Instant {
		items, err := e.qualifyNow(tx, id, now)
		return items, "", err
	}
	it, err := outbox.New(newID(), outbox.ReferralQualify, outbox.QualifyReferral{ReferralID: id}, now.Add(p.Hold), now)
	if err != nil {
		return nil, "", errs.Wrap(errs.Other, "engine.attribute", err)
	}
	return []outbox.Item{it}, "", tx.AddOutbox(it)
}

// qualifyNow qualifies the referral id just attributed under a program
// with hold: 0s, in the transaction of the follow or accept that made it:
// no task, no wait. The invitee's unionid is taken as known now (a follow's
// user/info answers after this commit), so a self-referral only it would
// show is not found; `omo campaigns validate` warns about that. The
// rewards are given once: the referral is decided from held here, once.
func (e *Engine) qualifyNow(tx *sqldb.Tx, id int64, now time.Time) ([]outbox.Item, error) {
	r, err := tx.Referral(id)
	if err != nil {
		return nil, err
	}
	return e.qualify(tx, r, now, false)
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
