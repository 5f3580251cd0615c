package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/stores"
)

// SetCampaigns makes set (read from files) the running campaign set: its
// pools' stock and its files are written to the database first, then the
// set is swapped in atomically. Events being handled finish with the set
// they started with.
func (e *Engine) SetCampaigns(ctx context.Context, set *campaigns.Set, files []campaigns.File) error {
	now := e.now()
	blob, err := json.Marshal(files)
	if err != nil {
		return errs.Wrap(errs.Other, "engine.SetCampaigns", err)
	}
	err = e.db.Write(ctx, func(tx *sqldb.Tx) error {
		for id, p := range set.Pools {
			if err := tx.SyncPool(id, p.Stock, now); err != nil {
				return err
			}
		}
		for _, c := range set.Campaigns {
			if c.On.Event == campaigns.OnSchedule {
				if err := tx.NoteCampaignSeen(c.ID, now); err != nil {
					return err
				}
			}
		}
		return tx.RecordCampaignSet(set.Hash, blob, now)
	})
	if err != nil {
		return err
	}
	e.set.Store(set)
	return nil
}

// Campaigns returns the running set (nil before the first SetCampaigns).
func (e *Engine) Campaigns() *campaigns.Set { return e.set.Load() }

// firing is the work of one push's campaigns inside its transaction.
type firing struct {
	e       *Engine
	tx      *sqldb.Tx
	set     *campaigns.Set
	ev      *events.Event
	eventID int64
	now     time.Time
	f       *followers.Follower
	reply   string
	// issuedStore is the store coupons of the current firing are issued
	// through: the promoted store, or the store:<id> scene of the push.
	issuedStore string
	items       []outbox.Item
	// inline: the caller sends the messages itself (a schedule firing's
	// batch), so sends get no outbox item; their rows are listed in sends.
	inline bool
	sends  []*outbox.MessageRow
	issued string // the code of the last coupon issued
	// coupon is what .Coupon starts as (the expiring coupon of a reminder;
	// nil for a push), and refused the limit that stopped the last fire.
	coupon  *campaigns.CouponData
	refused campaigns.Refusal
	// variant is the split variant the current firing runs ("" without
	// split); its messages and coupons are recorded under it.
	variant string
}

// runCampaigns fires every campaign of the running set that matches ev
// and whose limits allow it, in file order, and returns the passive reply
// (the first firing campaign's) and the outbox items written.
func (e *Engine) runCampaigns(tx *sqldb.Tx, ev *events.Event, eventID int64, f *followers.Follower, change followers.Change, now time.Time) (string, []outbox.Item, error) {
	set := e.set.Load()
	if set == nil || len(set.Campaigns) == 0 {
		return "", nil, nil
	}
	in := &campaigns.Input{Event: ev, Follower: f, Change: change, Now: now}
	var matched []*campaigns.Campaign
	tagsLoaded := false
	for _, c := range set.Campaigns {
		if !c.Active(now) || !c.On.Matches(ev) {
			continue
		}
		if c.When.NeedsTags() && !tagsLoaded {
			tags, err := tx.Tags(f.OpenID)
			if err != nil {
				return "", nil, err
			}
			in.Tags, tagsLoaded = tags, true
		}
		if c.When.Matches(in) {
			matched = append(matched, c)
		}
	}
	if len(matched) == 0 {
		return "", nil, nil
	}
	if err := tx.LockFollower(f.OpenID); err != nil {
		return "", nil, err
	}
	fr := &firing{e: e, tx: tx, set: set, ev: ev, eventID: eventID, now: now, f: f}
	for _, c := range matched {
		if c.On.Event != campaigns.OnLocation {
			if err := fr.fire(c, nil); err != nil {
				return "", nil, fmt.Errorf("campaign %s: %w", c.ID, err)
			}
			continue
		}
		// A location campaign fires once per nearby store, nearest first.
		for _, hit := range e.nearby(ev, c) {
			if err := fr.fire(c, &hit); err != nil {
				return "", nil, fmt.Errorf("campaign %s: %w", c.ID, err)
			}
		}
	}
	return fr.reply, fr.items, nil
}

// fire checks c's limits and, if they allow, records the firing and runs
// its actions.
func (fr *firing) fire(c *campaigns.Campaign, near *stores.Hit) error {
	storeID := ""
	if near != nil {
		storeID = near.ID
	}
	h, err := fr.tx.CampaignHistory(c.ID, fr.f.OpenID, storeID)
	if err != nil {
		return err
	}
	fr.refused = c.Limits.Allow(h, fr.now)
	if fr.refused != campaigns.Allowed {
		fr.e.log.Debug("campaign limit", "campaign", c.ID, "limit", string(fr.refused))
		return nil
	}
	ok, err := fr.tx.TakeBudget(c.ID, c.Limits.Budget)
	if err != nil || !ok {
		if err == nil {
			fr.refused = campaigns.RefusedBudget
		}
		return err
	}
	actions, err := fr.pickVariant(c)
	if err != nil {
		return err
	}
	if err := fr.tx.AddFiring(c.ID, fr.f.OpenID, storeID, fr.variant, fr.eventID, fr.now); err != nil {
		return err
	}
	data := &campaigns.Data{
		Follower: campaigns.FollowerData{OpenID: fr.f.OpenID, UnionID: fr.f.UnionID, FirstScene: fr.f.FirstScene, Store: fr.f.HomeStore},
		Campaign: campaigns.CampaignData{ID: c.ID, Title: c.Title},
		Coupon:   fr.coupon,
	}
	fr.issuedStore = storeID
	if fr.ev != nil {
		if id, ok := strings.CutPrefix(fr.ev.Scene(), "store:"); ok && storeID == "" {
			fr.issuedStore = id
		}
	}
	if near != nil {
		data.Store = &campaigns.StoreData{ID: near.ID, Name: near.Name, Address: near.Address, City: near.City, Page: near.Page,
			DistanceKM: math.Round(near.DistanceKM*10) / 10}
	}
	noCoupon := ""
	for _, a := range actions {
		var err error
		switch a.Kind {
		case campaigns.ActReply:
			if fr.reply == "" {
				fr.reply, err = a.Reply.Render(data)
				if err != nil {
					fr.e.log.Warn("reply not rendered", "campaign", c.ID, "err", err)
					fr.reply, err = "", nil
				}
			}
		case campaigns.ActIssueCoupon:
			noCoupon, err = fr.issue(c, a.Pool, data)
		case campaigns.ActTemplate, campaigns.ActSubscribe, campaigns.ActCustom:
			err = fr.send(c, a, data, noCoupon)
		case campaigns.ActTag, campaigns.ActUntag:
			err = fr.tag(c, a)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// issue issues one coupon of pool to the follower and puts it in data. It
// returns why no coupon was issued ("" when one was): the pool is empty, or
// the follower holds as many as the pool allows.
func (fr *firing) issue(c *campaigns.Campaign, poolID string, data *campaigns.Data) (string, error) {
	pool := fr.set.Pools[poolID]
	if pool.PerFollower > 0 {
		// The count holds to COMMIT under the follower's lock, which every
		// other issue to them takes too (held already on the campaign,
		// schedule and reminder paths; a referral reward takes it here).
		if err := fr.tx.LockFollower(fr.f.OpenID); err != nil {
			return "", err
		}
		held, err := fr.tx.CountHeld(poolID, fr.f.OpenID)
		if err != nil {
			return "", err
		}
		if held >= pool.PerFollower {
			return fmt.Sprintf("follower already holds %d coupon(s) of pool %s", held, poolID), nil
		}
	}
	ok, err := fr.tx.TakeFromPool(poolID)
	if err != nil {
		return "", err
	}
	if !ok {
		return fmt.Sprintf("pool %s is out of stock", poolID), nil
	}
	code, err := coupons.NewCode()
	if err != nil {
		return "", err
	}
	var eventID *int64 // none when no push fired the campaign (a reminder, a schedule)
	if fr.eventID != 0 {
		eventID = &fr.eventID
	}
	cp := &coupons.Coupon{Code: code, Pool: poolID, Title: pool.Title, OpenID: fr.f.OpenID, Campaign: c.ID, EventID: eventID,
		State: coupons.Issued, IssuedAt: fr.now, ExpiresAt: pool.ExpiresAt(fr.now), IssuedStore: fr.issuedStore, Variant: fr.variant}
	if err := fr.tx.AddCoupon(cp); err != nil {
		return "", err
	}
	fr.issued = code
	data.Coupon = &campaigns.CouponData{Code: code, Title: pool.Title, Pool: poolID, Discount: pool.Discount,
		ExpiresAt: cp.ExpiresAt.In(c.Location)}
	return "", nil
}

// send renders a send action into a message row and its outbox item. A
// text that does not render makes a failed message with the reason; nothing
// half-filled is ever sent.
func (fr *firing) send(c *campaigns.Campaign, a campaigns.Action, data *campaigns.Data, noCoupon string) error {
	id := newID()
	kind := map[string]outbox.Kind{campaigns.ActTemplate: outbox.SendTemplate, campaigns.ActSubscribe: outbox.SendSubscribe, campaigns.ActCustom: outbox.SendCustom}[a.Kind]
	row := &outbox.MessageRow{ID: id, CampaignID: c.ID, OpenID: fr.f.OpenID, Kind: kind, State: outbox.MsgPending, CreatedAt: fr.now, Variant: fr.variant}
	msg, warnings, err := render(a.Send, a.Kind, c.ID, id, fr.f.OpenID, data)
	if err != nil {
		row.State, row.Reason = outbox.MsgFailed, "render: "+err.Error()
		if data.Coupon == nil && noCoupon != "" {
			row.Reason = "no coupon to send: " + noCoupon
		}
		msg = &outbox.Message{ToUser: fr.f.OpenID}
	}
	msg.Campaign = c.ID
	msg.RateN, msg.RatePerMS = c.Limits.Rate.N, c.Limits.Rate.Per.Milliseconds()
	row.Warnings = strings.Join(warnings, "; ")
	if row.Payload, err = json.Marshal(msg); err != nil {
		return errs.Wrap(errs.Other, "engine.send", err)
	}
	if err := fr.tx.AddMessage(row); err != nil {
		return err
	}
	if row.State == outbox.MsgFailed {
		fr.e.log.Warn("message not sent", "campaign", c.ID, "message", id, "reason", row.Reason)
		return nil
	}
	if fr.inline {
		fr.sends = append(fr.sends, row)
		return nil
	}
	runAt := c.Limits.Quiet.SendAt(fr.now.Add(a.Delay), c.Location)
	return fr.addItem(id, kind, struct{}{}, runAt)
}

func (fr *firing) tag(c *campaigns.Campaign, a campaigns.Action) error {
	on := a.Kind == campaigns.ActTag
	if err := fr.tx.SetTag(fr.f.OpenID, a.TagName, on); err != nil {
		return err
	}
	return fr.addItem(newID(), outbox.Tag, outbox.TagPayload{OpenID: fr.f.OpenID, Tag: a.TagName, On: on}, fr.now.Add(a.Delay))
}

func (fr *firing) addItem(id string, kind outbox.Kind, payload any, runAt time.Time) error {
	it, err := outbox.New(id, kind, payload, runAt, fr.now)
	if err != nil {
		return errs.Wrap(errs.Other, "engine.addItem", err)
	}
	if err := fr.tx.AddOutbox(it); err != nil {
		return err
	}
	fr.items = append(fr.items, it)
	return nil
}

// CampaignStats counts what campaign id did; NotFound if the running set
// has no such campaign and nothing was ever recorded for it.
func (e *Engine) CampaignStats(ctx context.Context, id string) (campaigns.Stats, error) {
	st, err := e.db.CampaignStats(ctx, id)
	if err != nil {
		return st, err
	}
	if set := e.set.Load(); (set == nil || set.Campaign(id) == nil) && st == (campaigns.Stats{}) {
		return st, errs.E(errs.NotFound, "engine.CampaignStats", "no campaign %q", id)
	}
	return st, nil
}
