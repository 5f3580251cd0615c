package followers

import (
	"strings"
	"time"

	"github.com/omohq/omo/events"
)

// Follower is one person as the Official Account knows them.
type Follower struct {
	OpenID         string     `db:"openid"`
	UnionID        string     `db:"unionid"` // "" until user/info or login tells us
	Subscribed     bool       `db:"subscribed"`
	SubscribedAt   *time.Time `db:"subscribed_at"`   // last follow
	UnsubscribedAt *time.Time `db:"unsubscribed_at"` // last unfollow
	FirstSeenAt    time.Time  `db:"first_seen_at"`
	FirstScene     string     `db:"first_scene"` // first QR scene ever seen, never overwritten
	HomeStore      string     `db:"home_store"`  // first store:<id> scene seen, never overwritten
	LastEventAt    time.Time  `db:"last_event_at"`
}

// Change says what an event did to a follower, for the rules that follow.
type Change struct {
	New        bool // the follower was never seen before this event
	Followed   bool // a subscribe: the follower follows now
	Refollowed bool // a subscribe from someone who had unfollowed before
	Unfollowed bool
	SceneIsNew bool // the event set FirstScene
}

// Apply folds ev into f (nil when omo has never seen the openid) and
// returns the updated follower and what changed. It never fails: an event
// about a follower omo does not know yet creates one.
func Apply(f *Follower, ev *events.Event) (Follower, Change) {
	var c Change
	var out Follower
	if f == nil {
		c.New = true
		out = Follower{OpenID: ev.OpenID, FirstSeenAt: ev.CreatedAt}
		// Anyone who pushes anything but an unsubscribe follows right now.
		out.Subscribed = ev.Type != events.Unsubscribe
	} else {
		out = *f
	}
	at := ev.CreatedAt
	switch ev.Type {
	case events.Subscribe:
		c.Followed = true
		c.Refollowed = f != nil && f.UnsubscribedAt != nil
		out.Subscribed = true
		out.SubscribedAt = &at
	case events.Unsubscribe:
		c.Unfollowed = out.Subscribed || f == nil
		out.Subscribed = false
		out.UnsubscribedAt = &at
	}
	if s := ev.Scene(); s != "" && out.FirstScene == "" {
		out.FirstScene = s
		c.SceneIsNew = true
	}
	if id, ok := strings.CutPrefix(ev.Scene(), "store:"); ok && id != "" && out.HomeStore == "" {
		out.HomeStore = id
	}
	if at.After(out.LastEventAt) {
		out.LastEventAt = at
	}
	return out, c
}
