package campaigns

import (
	"time"

	"gopkg.in/yaml.v3"
)

// ReferralProgram rewards people who bring friends (DESIGN.md §5). This
// package reads and checks it; the engine runs it, deciding each
// attribution with the rules of package referral.
type ReferralProgram struct {
	Pos        Pos
	ID         string
	Title      string
	Start, End time.Time
	QualifyOn  string // QualifyOnSubscribe | QualifyOnFirstRedeem
	Hold       time.Duration
	// Instant is `hold: 0s` written out: qualify_on subscribe qualifies in
	// the follow's (or accept's) own transaction. A program without hold
	// queues the qualification at once instead, as before hold: 0s was
	// allowed (the worker's run comes after user/info's unionid).
	Instant        bool
	Referrer       Reward
	Every, Max     int // referrer: one reward per Every qualified invitees, at most Max
	Invitee        Reward
	PerReferrerDay int // limits.per_referrer_per_day; 0 = no limit
	holdLine       int // where hold is written; the program's line when it is not
}

// What qualifies a held attribution (qualify_on).
const (
	QualifyOnSubscribe   = "subscribe"    // the invitee still follows when the hold ends
	QualifyOnFirstRedeem = "first_redeem" // the invitee's first redemption; unfollowing before it cancels
)

// Reward is a coupon and the message that announces it.
type Reward struct {
	Pool   string
	Notify *Send

	poolLine int // where Pool is written
}

func (d *decoder) referral(n *yaml.Node) *ReferralProgram {
	r := &ReferralProgram{Pos: Pos{d.file, n.Line}, QualifyOn: QualifyOnSubscribe, Every: 1}
	d.fields(n, "", map[string]func(*yaml.Node, string){
		"kind":   func(*yaml.Node, string) {},
		"id":     func(v *yaml.Node, f string) { d.id(v, f, &r.ID) },
		"title":  func(v *yaml.Node, f string) { d.str(v, f, &r.Title) },
		"window": func(v *yaml.Node, f string) { d.window(v, f, &r.Start, &r.End) },
		"qualify_on": func(v *yaml.Node, f string) {
			if d.str(v, f, &r.QualifyOn) && r.QualifyOn != QualifyOnSubscribe && r.QualifyOn != QualifyOnFirstRedeem {
				d.bad(v, f, "%q: want subscribe or first_redeem", r.QualifyOn)
			}
		},
		"hold": func(v *yaml.Node, f string) {
			r.holdLine = v.Line
			var ok bool
			r.Hold, ok = d.hold(v, f)
			r.Instant = ok && r.Hold == 0
		},
		"referrer_reward": func(v *yaml.Node, f string) {
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"pool": func(v *yaml.Node, f string) {
					r.Referrer.poolLine = v.Line
					d.name(v, f, &r.Referrer.Pool)
				},
				"every": func(v *yaml.Node, f string) {
					k, _ := d.integer(v, f, 1, 1000)
					r.Every = int(k)
				},
				"max": func(v *yaml.Node, f string) {
					k, _ := d.integer(v, f, 1, 100000)
					r.Max = int(k)
				},
				"notify": func(v *yaml.Node, f string) { r.Referrer.Notify = d.send(v, f, true) },
			}, "pool")
		},
		"invitee_reward": func(v *yaml.Node, f string) {
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"pool": func(v *yaml.Node, f string) {
					r.Invitee.poolLine = v.Line
					d.name(v, f, &r.Invitee.Pool)
				},
				"notify": func(v *yaml.Node, f string) { r.Invitee.Notify = d.send(v, f, true) },
			})
		},
		"limits": func(v *yaml.Node, f string) {
			d.fields(v, f, map[string]func(*yaml.Node, string){
				"per_referrer_per_day": func(v *yaml.Node, f string) {
					k, _ := d.integer(v, f, 1, 100000)
					r.PerReferrerDay = int(k)
				},
			})
		},
	}, "id", "referrer_reward")
	if r.holdLine == 0 {
		r.holdLine = r.Pos.Line
	}
	return r
}

// hold reads the hold: a duration like any other, but 0s is allowed: the
// invitee qualifies at once.
func (d *decoder) hold(n *yaml.Node, field string) (time.Duration, bool) {
	s, ok := d.scalar(n, field)
	if !ok {
		return 0, false
	}
	v, err := parseDuration(s)
	if err != nil {
		d.bad(n, field, "%q is not a duration such as 90s, 24h or 30d", s)
		return 0, false
	}
	if v < 0 {
		d.bad(n, field, "must be 0s (qualify at once) or more, got %s", s)
		return 0, false
	}
	return v, true
}

// referralWarnings are what a marketer should know of the set's referral
// programs without it refusing them.
func (s *Set) referralWarnings() {
	for _, r := range s.Referrals {
		if r.Instant && r.QualifyOn == QualifyOnSubscribe {
			s.Warnings = append(s.Warnings, Problem{File: r.Pos.File, Line: r.holdLine, Field: "hold",
				Why: "0s: an invitee qualifies the moment they follow, so an unfollow right after still counts, and a self-referral only the unionid shows (user/info answers after the follow) is not caught"})
		}
	}
}
