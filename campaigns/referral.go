package campaigns

import (
	"time"

	"gopkg.in/yaml.v3"
)

// ReferralProgram rewards people who bring friends (DESIGN.md §5). This
// package reads and checks it; the engine runs it, deciding each
// attribution with the rules of package referral.
type ReferralProgram struct {
	Pos            Pos
	ID             string
	Title          string
	Start, End     time.Time
	QualifyOn      string // QualifyOnSubscribe | QualifyOnFirstRedeem
	Hold           time.Duration
	Referrer       Reward
	Every, Max     int // referrer: one reward per Every qualified invitees, at most Max
	Invitee        Reward
	PerReferrerDay int // limits.per_referrer_per_day; 0 = no limit
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
		"hold": func(v *yaml.Node, f string) { r.Hold, _ = d.duration(v, f) },
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
	return r
}
