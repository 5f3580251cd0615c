package campaigns

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Change is one difference between two sets.
type Change struct {
	Op     string // "+" added, "-" removed, "~" changed
	Kind   string // CouponPool, Campaign, ReferralProgram
	ID     string
	Source string   // file:line in the new set (the old one for removals)
	Lines  []string // what it is (added) or what changed (changed)
}

// Diff lists what applying next would change, pools first, then campaigns,
// then referral programs, each in id order. old may be nil (nothing runs).
func Diff(old, next *Set) []Change {
	if old == nil {
		old = &Set{Pools: map[string]*CouponPool{}}
	}
	var out []Change
	out = append(out, diff(KindCouponPool, poolDescs(old), poolDescs(next))...)
	out = append(out, diff(KindCampaign, campaignDescs(old), campaignDescs(next))...)
	out = append(out, diff(KindReferralProgram, referralDescs(old), referralDescs(next))...)
	return out
}

type desc struct {
	source string
	lines  []string
}

func diff(kind string, old, next map[string]desc) []Change {
	ids := map[string]bool{}
	for id := range old {
		ids[id] = true
	}
	for id := range next {
		ids[id] = true
	}
	sorted := make([]string, 0, len(ids))
	for id := range ids {
		sorted = append(sorted, id)
	}
	sort.Strings(sorted)
	var out []Change
	for _, id := range sorted {
		o, inOld := old[id]
		n, inNext := next[id]
		switch {
		case !inOld:
			out = append(out, Change{Op: "+", Kind: kind, ID: id, Source: n.source, Lines: n.lines})
		case !inNext:
			out = append(out, Change{Op: "-", Kind: kind, ID: id, Source: o.source})
		default:
			if lines := changedLines(o.lines, n.lines); len(lines) > 0 {
				out = append(out, Change{Op: "~", Kind: kind, ID: id, Source: n.source, Lines: lines})
			}
		}
	}
	return out
}

// changedLines compares "field: value" lines by field.
func changedLines(old, next []string) []string {
	split := func(lines []string) (map[string]string, []string) {
		m := map[string]string{}
		var order []string
		for _, l := range lines {
			k, v, _ := strings.Cut(l, ": ")
			if _, ok := m[k]; !ok {
				order = append(order, k)
			}
			m[k] = v
		}
		return m, order
	}
	o, oorder := split(old)
	n, norder := split(next)
	var out []string
	for _, k := range norder {
		if ov, ok := o[k]; !ok {
			out = append(out, fmt.Sprintf("%s: (none) -> %s", k, n[k]))
		} else if ov != n[k] {
			out = append(out, fmt.Sprintf("%s: %s -> %s", k, ov, n[k]))
		}
	}
	for _, k := range oorder {
		if _, ok := n[k]; !ok {
			out = append(out, fmt.Sprintf("%s: %s -> (none)", k, o[k]))
		}
	}
	return out
}

func src(p Pos) string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

func poolDescs(s *Set) map[string]desc {
	m := map[string]desc{}
	for id, p := range s.Pools {
		lines := []string{"title: " + p.Title, "discount: " + discountText(p), fmt.Sprintf("stock: %d", p.Stock)}
		if p.PerFollower > 0 {
			lines = append(lines, fmt.Sprintf("per_follower: %d", p.PerFollower))
		}
		if p.ValidFor > 0 {
			lines = append(lines, "valid_for: "+p.ValidFor.String())
		} else {
			lines = append(lines, "valid_until: "+p.ValidUntil.Format(time.RFC3339))
		}
		m[id] = desc{src(p.Pos), lines}
	}
	return m
}

func discountText(p *CouponPool) string {
	if p.Percent > 0 {
		return fmt.Sprintf("%d%% off", p.Percent)
	}
	s := fmt.Sprintf("¥%.2f off", float64(p.AmountFen)/100)
	if p.MinSpendFen > 0 {
		s += fmt.Sprintf(" from ¥%.2f", float64(p.MinSpendFen)/100)
	}
	return s
}

func campaignDescs(s *Set) map[string]desc {
	m := map[string]desc{}
	for _, c := range s.Campaigns {
		lines := []string{"title: " + c.Title, "trigger: " + c.On.Describe(), "window: " + windowText(c.Start, c.End, c.Location)}
		if a := c.When.Describe(); a != "" {
			lines = append(lines, "audience: "+a)
		}
		if l := c.Limits.Describe(); l != "" {
			lines = append(lines, "limits: "+l)
		}
		for i, a := range c.Do {
			lines = append(lines, fmt.Sprintf("do[%d]: %s", i, a.Describe()))
		}
		lines = append(lines, c.Split.describe()...)
		m[c.ID] = desc{src(c.Pos), lines}
	}
	return m
}

func referralDescs(s *Set) map[string]desc {
	m := map[string]desc{}
	for _, r := range s.Referrals {
		lines := []string{
			"qualify_on: " + r.QualifyOn, "hold: " + r.Hold.String(),
			fmt.Sprintf("referrer_reward: pool %s every %d, at most %d", r.Referrer.Pool, r.Every, r.Max),
			"invitee_reward: pool " + r.Invitee.Pool,
			"window: " + windowText(r.Start, r.End, time.UTC),
		}
		m[r.ID] = desc{src(r.Pos), lines}
	}
	return m
}

func windowText(start, end time.Time, loc *time.Location) string {
	f := func(t time.Time, none string) string {
		if t.IsZero() {
			return none
		}
		return t.In(loc).Format("2006-01-02 15:04 MST")
	}
	return f(start, "always") + " to " + f(end, "no end")
}

// Describe says in words what the trigger matches.
func (t *Trigger) Describe() string {
	switch t.Event {
	case OnSubscribe, OnScan:
		verb := "a follow"
		if t.Event == OnScan {
			verb = "a QR scan by a follower"
		}
		switch {
		case t.Scene != "":
			return fmt.Sprintf("%s through QR scene %q", verb, t.Scene)
		case t.ScenePrefix != "":
			return fmt.Sprintf("%s through a QR scene starting %q", verb, t.ScenePrefix)
		}
		return verb + " (any way)"
	case OnKeyword:
		return fmt.Sprintf("a text message that %s %q (trimmed, any case)", map[string]string{"exact": "is", "contains": "contains", "regex": "matches"}[t.Match], t.Text)
	case OnMenuClick:
		return fmt.Sprintf("a tap on the menu item with key %q", t.Key)
	case OnLocation:
		return fmt.Sprintf("a shared location within %g km of a store (nearest %d)", t.WithinKM, t.Nearest)
	case OnSchedule:
		if t.Cron != "" {
			return fmt.Sprintf("the schedule %q", t.Cron)
		}
		return "once at " + t.At.Format(time.RFC3339)
	case OnCouponExpiring:
		return "a coupon expiring within " + t.Within.String()
	}
	return t.Event
}

// Describe says in words who the audience is ("" = everyone).
func (a *Audience) Describe() string {
	var parts []string
	add := func(name string, v []string) {
		if len(v) > 0 {
			parts = append(parts, name+" "+strings.Join(v, ","))
		}
	}
	add("tags_any", a.TagsAny)
	add("tags_all", a.TagsAll)
	add("tags_none", a.TagsNone)
	if a.NewFollower != nil {
		parts = append(parts, fmt.Sprintf("new_follower %v", *a.NewFollower))
	}
	if a.FirstScene != "" {
		parts = append(parts, "first_scene "+a.FirstScene)
	}
	if a.FirstScenePrefix != "" {
		parts = append(parts, "first_scene_prefix "+a.FirstScenePrefix)
	}
	add("store", a.Stores)
	for _, m := range []struct {
		name string
		m    Moment
	}{{"followed_after", a.FollowedAfter}, {"followed_before", a.FollowedBefore}} {
		switch {
		case m.m.Ago > 0:
			parts = append(parts, m.name+" "+m.m.Ago.String()+" ago")
		case !m.m.At.IsZero():
			parts = append(parts, m.name+" "+m.m.At.Format(time.RFC3339))
		}
	}
	if a.ActiveWithin > 0 {
		parts = append(parts, "active_within "+a.ActiveWithin.String())
	}
	if a.InactiveFor > 0 {
		parts = append(parts, "inactive_for "+a.InactiveFor.String())
	}
	if a.Near != nil {
		parts = append(parts, fmt.Sprintf("near %s within %g km", a.Near.Store, a.Near.WithinKM))
	}
	if a.HasUnusedCoupon != "" {
		parts = append(parts, "has_unused_coupon "+a.HasUnusedCoupon)
	}
	if a.NoUnusedCoupon != "" {
		parts = append(parts, "no_unused_coupon "+a.NoUnusedCoupon)
	}
	if a.NeverReceived {
		parts = append(parts, "never_received")
	}
	return strings.Join(parts, "; ")
}

// Describe lists the limits ("" = none).
func (l *Limits) Describe() string {
	var parts []string
	if l.PerFollower > 0 {
		parts = append(parts, fmt.Sprintf("per_follower %d", l.PerFollower))
	}
	if l.Cooldown > 0 {
		parts = append(parts, "cooldown "+l.Cooldown.String())
	}
	if l.Budget > 0 {
		parts = append(parts, fmt.Sprintf("budget %d", l.Budget))
	}
	if l.Rate.N > 0 {
		parts = append(parts, fmt.Sprintf("rate %d per %s", l.Rate.N, l.Rate.Per))
	}
	if l.Quiet != nil {
		parts = append(parts, fmt.Sprintf("quiet_hours %s-%s", hhmm(l.Quiet.From), hhmm(l.Quiet.To)))
	}
	return strings.Join(parts, "; ")
}

func hhmm(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// Describe says what the action does.
func (a *Action) Describe() string {
	s := a.Kind
	switch a.Kind {
	case ActReply:
		s += " " + fmt.Sprintf("%q", a.Reply.Source)
	case ActIssueCoupon:
		s += " from pool " + a.Pool
	case ActTemplate, ActSubscribe:
		s += fmt.Sprintf(" %s opening %s", a.Send.TemplateID, a.Send.Page)
	case ActCustom:
		if a.Send.Card != nil {
			s += " mini-program card opening " + a.Send.Page
		} else {
			s += fmt.Sprintf(" text %q", a.Send.Text.Source)
		}
		if a.Send.Fallback != nil {
			s += fmt.Sprintf(", else template %s", a.Send.Fallback.TemplateID)
		}
	case ActTag, ActUntag:
		s += " " + a.TagName
	case ActMass:
		if a.Mass.Text != nil {
			s += fmt.Sprintf(" text %q", a.Mass.Text.Source)
		} else {
			s += " mpnews " + a.Mass.MediaID
		}
	}
	if a.Delay > 0 {
		s += " after " + a.Delay.String()
	}
	return s
}
