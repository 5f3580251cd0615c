package campaigns

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// check finds the problems that span documents or need the whole
// definition: pools that do not exist, texts that cannot render, template
// fields WeChat would cut.
func (s *Set) check(problems *Problems) {
	bad := func(pos Pos, line int, field, format string, args ...any) {
		if line == 0 {
			line = pos.Line
		}
		*problems = append(*problems, Problem{File: pos.File, Line: line, Field: field, Why: fmt.Sprintf(format, args...)})
	}
	for _, c := range s.Campaigns {
		s.checkTrigger(c, bad)
		if c.Split != nil {
			s.checkSplit(c, bad)
		}
		for _, l := range c.actionLists() {
			if c.On.Event == OnSchedule {
				checkScheduleActions(l, bad)
			}
			s.checkActions(c, l, bad)
		}
	}
	s.referralWarnings()
	for _, r := range s.Referrals {
		for _, rw := range []struct {
			name string
			r    Reward
		}{{"referrer_reward", r.Referrer}, {"invitee_reward", r.Invitee}} {
			if _, ok := s.Pools[rw.r.Pool]; !ok && rw.r.Pool != "" {
				bad(r.Pos, rw.r.poolLine, rw.name+".pool", "no CouponPool %q in this set", rw.r.Pool)
			}
			if rw.r.Notify != nil {
				data := sample{sampleData(rw.r.Pool != "", false, true), rw.name + " names no pool"}
				checkSend(rw.r.Notify, rw.name+".notify", r.Pos, data, true, bad)
			}
		}
	}
}

// checkActions checks one list of c's actions (its do:, or a variant's).
func (s *Set) checkActions(c *Campaign, l actionList, bad badFunc) {
	coupon, replies := c.On.Event == OnCouponExpiring, 0
	for i, a := range l.actions {
		field := fmt.Sprintf("%s[%d].%s", l.field, i, a.Kind)
		switch a.Kind {
		case ActIssueCoupon:
			if _, ok := s.Pools[a.Pool]; !ok && a.Pool != "" {
				bad(a.Pos, a.poolLine, field+".pool", "no CouponPool %q in this set", a.Pool)
			}
			coupon = true
		case ActReply:
			if replies++; replies == 2 {
				bad(a.Pos, 0, field, "a campaign gives at most one passive reply")
			}
			if c.On.Event == OnSchedule || c.On.Event == OnCouponExpiring {
				bad(a.Pos, 0, field, "a %s campaign answers no push, so it has nothing to reply to", c.On.Event)
			}
		case ActMass:
			if c.On.Event != OnSchedule {
				bad(a.Pos, 0, field, "mass sends go to a schedule campaign's recipients; a %s campaign reaches one follower", c.On.Event)
			}
			if a.Mass.Text != nil {
				checkText(a.Mass.Text, field+".text", a.Pos, sample{&Data{Campaign: CampaignData{ID: "sample", Title: "Sample"}}, "a mass send is one message for all its recipients"}, bad)
			}
		case ActTemplate:
			if c.On.Event == OnSchedule {
				s.Warnings = append(s.Warnings, Problem{File: a.Pos.File, Line: a.Pos.Line, Field: field,
					Why: "template messages are for service notices; WeChat intercepts marketing sent through them (use send_mass, or send_subscribe with the follower's consent)"})
			}
		}
		data := sampleData(coupon, c.On.Event == OnLocation, false)
		s.checkTexts(a, field, sample{data, "no issue_coupon comes before this action"}, bad)
	}
}

// checkScheduleActions checks the actions of a schedule campaign, whose
// per-recipient ledger holds one message per recipient and whose slot is
// its time: at most one message (send_template, send_subscribe,
// send_custom or send_mass), and no delay.
func checkScheduleActions(l actionList, bad badFunc) {
	sends := 0
	for i, a := range l.actions {
		field := fmt.Sprintf("%s[%d].%s", l.field, i, a.Kind)
		switch a.Kind {
		case ActTemplate, ActSubscribe, ActCustom, ActMass:
			if sends++; sends == 2 {
				bad(a.Pos, 0, field, "a schedule campaign sends one message per recipient; make a second campaign for another")
			}
		}
		if a.Delay > 0 {
			bad(a.Pos, 0, field+".delay", "does not apply to a schedule campaign: its slot is its time")
		}
	}
}

// checkTrigger checks what the trigger and the audience say together.
func (s *Set) checkTrigger(c *Campaign, bad badFunc) {
	a := &c.When
	line := func(name string) int { return a.lines[name] }
	if c.On.Event != OnSchedule {
		for _, f := range []struct {
			name string
			set  bool
		}{{"followed_after", !a.FollowedAfter.IsZero()}, {"followed_before", !a.FollowedBefore.IsZero()},
			{"active_within", a.ActiveWithin > 0}, {"inactive_for", a.InactiveFor > 0}, {"near", a.Near != nil},
			{"has_unused_coupon", a.HasUnusedCoupon != ""}, {"no_unused_coupon", a.NoUnusedCoupon != ""}, {"never_received", a.NeverReceived}} {
			if f.set {
				bad(c.Pos, line(f.name), "when."+f.name, "applies to schedule campaigns only (it is evaluated over the whole follower base)")
			}
		}
	} else if a.NewFollower != nil {
		bad(c.Pos, line("new_follower"), "when.new_follower", "a schedule campaign answers no follow: use followed_after")
	}
	for _, f := range []struct{ name, pool string }{{"has_unused_coupon", a.HasUnusedCoupon}, {"no_unused_coupon", a.NoUnusedCoupon}} {
		if _, ok := s.Pools[f.pool]; !ok && f.pool != "" {
			bad(c.Pos, line(f.name), "when."+f.name, "no CouponPool %q in this set", f.pool)
		}
	}
	if a.ActiveWithin > 0 && a.InactiveFor >= a.ActiveWithin {
		bad(c.Pos, line("inactive_for"), "when.inactive_for", "with active_within %s nobody can match: inactive_for must be shorter", a.ActiveWithin)
	}
	if fa, fb := a.FollowedAfter, a.FollowedBefore; !fa.At.IsZero() && !fb.At.IsZero() && !fb.At.After(fa.At) {
		bad(c.Pos, line("followed_before"), "when.followed_before", "is not after followed_after: nobody can match")
	}
	if c.On.Event == OnCouponExpiring {
		if _, ok := s.Pools[c.On.Pool]; !ok && c.On.Pool != "" {
			bad(c.Pos, c.On.poolLine, "on.pool", "no CouponPool %q in this set", c.On.Pool)
		}
	}
}

// Tags lists every tag the set's audiences name, with where, so a caller
// that knows the OA's tags can refuse unknown ones.
func (s *Set) Tags() map[string]Pos {
	out := map[string]Pos{}
	for _, c := range s.Campaigns {
		for _, list := range [][]string{c.When.TagsAny, c.When.TagsAll, c.When.TagsNone} {
			for _, t := range list {
				if _, ok := out[t]; !ok {
					out[t] = Pos{c.Pos.File, c.When.lines["tags_any"] + c.When.lines["tags_all"] + c.When.lines["tags_none"]}
				}
			}
		}
	}
	return out
}

// TagsMade lists the tags the set's tag and untag actions use: omo creates
// them at WeChat when it first tags someone, so they count as known.
func (s *Set) TagsMade() map[string]bool {
	out := map[string]bool{}
	for _, c := range s.Campaigns {
		for _, l := range c.actionLists() {
			for _, a := range l.actions {
				if a.Kind == ActTag || a.Kind == ActUntag {
					out[a.TagName] = true
				}
			}
		}
	}
	return out
}

type badFunc func(pos Pos, line int, field, format string, args ...any)

// sample is what texts are rendered with, and why .Coupon is missing when
// it is.
type sample struct {
	*Data
	noCoupon string
}

func (s *Set) checkTexts(a Action, field string, data sample, bad badFunc) {
	if a.Reply != nil {
		checkText(a.Reply, field+".text", a.Pos, data, bad)
	}
	if a.Send == nil {
		return
	}
	checkSend(a.Send, field, a.Pos, data, a.Kind == ActTemplate, bad)
	if a.Kind == ActSubscribe {
		checkSubscribeFields(a.Send, field, a.Pos, bad)
	}
	if a.Send.Card != nil {
		checkText(a.Send.Card.Title, field+".miniprogram.title", a.Pos, data, bad)
	}
	checkText(a.Send.Text, field+".text", a.Pos, data, bad)
	if a.Send.Fallback != nil {
		checkSend(a.Send.Fallback, field+".fallback", a.Pos, data, true, bad)
	}
}

// checkSend renders a send's texts with sample data; for template messages
// it also reports static fields WeChat would cut at 20 characters.
// checkSubscribeFields reports static thing fields of a subscribe
// notification over 20 characters: WeChat refuses those (47003) rather
// than cutting them as it does for template messages.
func checkSubscribeFields(s *Send, field string, pos Pos, bad badFunc) {
	for _, k := range s.dataKeys {
		t := s.Data[k]
		if n := utf8.RuneCountInString(t.Source); strings.HasPrefix(k, "thing") && t.Static() && n > MaxTemplateField {
			bad(pos, t.Line, field+".data."+k, "%d characters: WeChat refuses subscribe notification thing fields over %d (47003)", n, MaxTemplateField)
		}
	}
}

func checkSend(s *Send, field string, pos Pos, data sample, template bool, bad badFunc) {
	for _, k := range s.queryKeys {
		checkText(s.Query[k], field+".query."+k, pos, data, bad)
		if k == "omo_c" || k == "omo_m" {
			bad(pos, s.Query[k].Line, field+".query."+k, "is reserved: omo adds omo_c (campaign) and omo_m (message) to every deep link")
		}
	}
	for _, k := range s.dataKeys {
		t := s.Data[k]
		checkText(t, field+".data."+k, pos, data, bad)
		if template && t.Static() && utf8.RuneCountInString(t.Source) > MaxTemplateField {
			bad(pos, t.Line, field+".data."+k, "%d characters: WeChat cuts template fields at %d", utf8.RuneCountInString(t.Source), MaxTemplateField)
		}
	}
}

func checkText(t *Text, field string, pos Pos, data sample, bad badFunc) {
	if t == nil {
		return
	}
	if _, err := t.Render(data.Data); err != nil {
		why := err.Error()
		if data.Coupon == nil && strings.Contains(t.Source, ".Coupon") {
			why = "uses .Coupon but " + data.noCoupon
		} else if data.Store == nil && strings.Contains(t.Source, ".Store") {
			why = "uses .Store, which only location campaigns have"
		} else if data.Referral == nil && strings.Contains(t.Source, ".Referral") {
			why = "uses .Referral, which only referral programs have"
		}
		bad(pos, t.Line, field, "%s", why)
	}
}
