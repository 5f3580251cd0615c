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
		coupon, replies := false, 0
		for i, a := range c.Do {
			field := fmt.Sprintf("do[%d].%s", i, a.Kind)
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
			}
			data := sampleData(coupon, c.On.Event == OnLocation, false)
			s.checkTexts(a, field, sample{data, "no issue_coupon comes before this action"}, bad)
		}
	}
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
