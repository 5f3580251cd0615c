package engine

import (
	"context"
	"sort"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/referral"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/stores"
)

// Funnel is a campaign's way from firing to redemption: campaigns.Stats
// (as GET /admin/v1/campaigns/{id}/stats counts them) with its rates.
type Funnel struct {
	Fired           int        `json:"fired"`
	Sent            int        `json:"sent"`
	Delivered       int        `json:"delivered"`
	Opened          int        `json:"opened"`
	CouponsIssued   int        `json:"coupons_issued"`
	CouponsRedeemed int        `json:"coupons_redeemed"`
	Failed          int        `json:"failed"`
	Rates           FunnelRate `json:"rates"`
}

// FunnelRate are a funnel's rates, fractions 0-1 (nil when the base is 0):
// sent of fired, delivered of sent, opened of sent (a customer-service
// message has no delivery report), coupons issued of fired, redeemed of
// issued.
type FunnelRate struct {
	Sent      *float64 `json:"sent"`
	Delivered *float64 `json:"delivered"`
	Opened    *float64 `json:"opened"`
	Issued    *float64 `json:"coupons_issued"`
	Redeemed  *float64 `json:"coupons_redeemed"`
}

// CampaignFunnel is one campaign on the dashboard.
type CampaignFunnel struct {
	ID     string      `json:"id"`
	Title  string      `json:"title"`
	Event  string      `json:"event"`
	Active bool        `json:"active"`
	Funnel Funnel      `json:"funnel"`
	Days   []FiringDay `json:"days,omitempty"` // oldest first, today last (GET .../funnel only)
}

// FiringDay is what a campaign did on one Asia/Shanghai day.
type FiringDay struct {
	Date  string `json:"date"`
	Fired int    `json:"fired"`
	Sent  int    `json:"sent"`
}

// funnel counts campaign c's funnel.
func (e *Engine) funnel(ctx context.Context, c *campaigns.Campaign) (Funnel, error) {
	st, err := e.db.CampaignStats(ctx, c.ID)
	if err != nil {
		return Funnel{}, err
	}
	f := Funnel{Fired: st.Fired, Sent: st.Sent, Delivered: st.Delivered, Opened: st.Opened,
		CouponsIssued: st.CouponsIssued, CouponsRedeemed: st.CouponsRedeemed, Failed: st.Failed}
	f.Rates = FunnelRate{Sent: ratio(f.Sent, f.Fired), Delivered: ratio(f.Delivered, f.Sent), Opened: ratio(f.Opened, f.Sent),
		Issued: ratio(f.CouponsIssued, f.Fired), Redeemed: ratio(f.CouponsRedeemed, f.CouponsIssued)}
	return f, nil
}

// DashboardCampaigns returns every running campaign's funnel, in file order.
func (e *Engine) DashboardCampaigns(ctx context.Context) ([]CampaignFunnel, error) {
	out := []CampaignFunnel{}
	set := e.set.Load()
	if set == nil {
		return out, nil
	}
	now := e.now()
	for _, c := range set.Campaigns {
		f, err := e.funnel(ctx, c)
		if err != nil {
			return nil, err
		}
		out = append(out, CampaignFunnel{ID: c.ID, Title: c.Title, Event: c.On.Event, Active: c.Active(now), Funnel: f})
	}
	return out, nil
}

// DashboardFunnel returns campaign id's funnel and what it did on each of
// the last days days (today included); NotFound for a campaign not in the
// running set, Invalid for days outside 1..MaxDashboardDays.
func (e *Engine) DashboardFunnel(ctx context.Context, id string, days int) (CampaignFunnel, error) {
	const op = "engine.DashboardFunnel"
	if err := checkDays(op, days); err != nil {
		return CampaignFunnel{}, err
	}
	set := e.set.Load()
	var c *campaigns.Campaign
	if set != nil {
		c = set.Campaign(id)
	}
	if c == nil {
		return CampaignFunnel{}, errs.E(errs.NotFound, op, "no campaign %q", id)
	}
	f, err := e.funnel(ctx, c)
	if err != nil {
		return CampaignFunnel{}, err
	}
	now := e.now()
	out := CampaignFunnel{ID: c.ID, Title: c.Title, Event: c.On.Event, Active: c.Active(now), Funnel: f}
	bounds := dayBounds(now, days)
	counts, err := e.db.FiringsByDay(ctx, id, bounds)
	if err != nil {
		return out, err
	}
	for i, d := range counts {
		out.Days = append(out.Days, FiringDay{Date: dayName(bounds[i]), Fired: d.Fired, Sent: d.Sent})
	}
	return out, nil
}

// StoreRow is one store on the dashboard: the catalogue's name and its
// counts (stores.Stats), ranked.
type StoreRow struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	City string `json:"city"`
	Rank int    `json:"rank"` // 1 = most follows, then most redeemed, then id
	stores.Stats
}

// DashboardStores returns every catalogue store (and any store id that
// only appears in visits or coupons) with its counts, best ranked first.
func (e *Engine) DashboardStores(ctx context.Context) ([]StoreRow, error) {
	list, err := e.db.Stores(ctx)
	if err != nil {
		return nil, err
	}
	all, err := e.db.StoreStatsAll(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]StoreRow, 0, len(list))
	for _, s := range list {
		out = append(out, StoreRow{ID: s.ID, Name: s.Name, City: s.City, Stats: all[s.ID]})
		delete(all, s.ID)
	}
	for id, st := range all {
		out = append(out, StoreRow{ID: id, Stats: st})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Follows != b.Follows {
			return a.Follows > b.Follows
		}
		if a.CouponsRedeemed != b.CouponsRedeemed {
			return a.CouponsRedeemed > b.CouponsRedeemed
		}
		return a.ID < b.ID
	})
	for i := range out {
		out[i].Rank = i + 1
	}
	return out, nil
}

// ProgramView is one referral program on the dashboard.
type ProgramView struct {
	ID          string                    `json:"id"`
	Title       string                    `json:"title"`
	Active      bool                      `json:"active"`
	Stats       referral.Stats            `json:"stats"`
	Leaderboard []referral.LeaderboardRow `json:"leaderboard"` // top 10
}

// DashboardReferral returns each running referral program's counts and its
// top 10 referrers, in file order.
func (e *Engine) DashboardReferral(ctx context.Context) ([]ProgramView, error) {
	out := []ProgramView{}
	set := e.set.Load()
	if set == nil {
		return out, nil
	}
	now := e.now()
	for _, p := range set.Referrals {
		st, err := e.db.ReferralStats(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		top, err := e.db.Leaderboard(ctx, p.ID, 10)
		if err != nil {
			return nil, err
		}
		if top == nil {
			top = []referral.LeaderboardRow{}
		}
		active := (p.Start.IsZero() || !now.Before(p.Start)) && (p.End.IsZero() || now.Before(p.End))
		out = append(out, ProgramView{ID: p.ID, Title: p.Title, Active: active, Stats: st, Leaderboard: top})
	}
	return out, nil
}

// Sends is the dashboard's view of what omo sent and what waits.
type Sends struct {
	Counts []sqldb.SendCount `json:"counts"` // by kind, outcome, errcode
	Outbox OutboxView        `json:"outbox"`
}

// OutboxView is the outbox's backlog.
type OutboxView struct {
	Pending          int            `json:"pending"`         // items not done, due or not
	PendingByKind    map[string]int `json:"pending_by_kind"` // send:template, wechat:user_info...
	OldestDueAt      *time.Time     `json:"oldest_due_at"`   // nil: nothing is due
	OldestAgeSeconds float64        `json:"oldest_age_seconds"`
}

// DashboardSends counts the messages by kind, outcome and errcode and
// reports the outbox backlog: how many items wait and how long the one due
// longest has waited.
func (e *Engine) DashboardSends(ctx context.Context) (Sends, error) {
	var s Sends
	var err error
	if s.Counts, err = e.db.SendCounts(ctx); err != nil {
		return s, err
	}
	now := e.now()
	b, err := e.db.OutboxBacklog(ctx, now)
	if err != nil {
		return s, err
	}
	s.Outbox.Pending = b.Pending
	if s.Outbox.PendingByKind, err = e.db.OutboxPendingByKind(ctx); err != nil {
		return s, err
	}
	if !b.OldestDue.IsZero() {
		at := b.OldestDue.UTC()
		s.Outbox.OldestDueAt = &at
		s.Outbox.OldestAgeSeconds = max(0, now.Sub(at).Seconds())
	}
	return s, nil
}
