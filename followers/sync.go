package followers

import (
	"strings"
	"time"
)

// Synced is one follower as the follower sync read them from WeChat's
// follower list (user/get, then user/info/batchget): what WeChat says now,
// not an event.
type Synced struct {
	OpenID       string
	UnionID      string    // "" when the OA is not bound to an Open Platform account
	SubscribedAt time.Time // WeChat's subscribe_time: the last follow; zero if it gave none
	QRScene      string    // qr_scene_str (or the numeric qr_scene) of that follow; "" if none
	Tags         []string  // the follower's tag names at WeChat
}

// HomeStoreOf returns the store id of a store:<id> scene, and false for any
// other scene. It is the rule the webhook follows too: a follower's home
// store is the first store scene they come through, and never changes.
func HomeStoreOf(scene string) (string, bool) {
	id, ok := strings.CutPrefix(scene, "store:")
	if !ok || id == "" {
		return "", false
	}
	return id, true
}

// Reconcile folds what a sync read, s, into f (nil when omo has never seen
// the openid) at now, and returns the follower to store. WeChat's list is
// the truth about who follows; what omo saw itself (first scene, home store,
// its own first and last sightings, a later unfollow) is kept:
//
//   - a follower omo did not know is created following since s.SubscribedAt,
//     first seen now, with s.QRScene as first scene and its store as home store;
//   - a unionid replaces "" but WeChat's empty unionid never erases one;
//   - the first scene and the home store are set only when omo has none;
//   - the follower follows, since the later of the two follow times, unless
//     the webhook recorded an unfollow at or after the follow WeChat reports:
//     the list was read before that unfollow, so the unfollow stands;
//   - unsubscribed_at, first_seen_at and last_event_at stay as the webhook
//     set them (a sync is not an event).
func Reconcile(f *Follower, s Synced, now time.Time) Follower {
	var out Follower
	if f == nil {
		out = Follower{OpenID: s.OpenID, FirstSeenAt: now, LastEventAt: now}
		if !s.SubscribedAt.IsZero() {
			out.LastEventAt = s.SubscribedAt
		}
	} else {
		out = *f
	}
	if s.UnionID != "" {
		out.UnionID = s.UnionID
	}
	if out.FirstScene == "" {
		out.FirstScene = s.QRScene
	}
	if id, ok := HomeStoreOf(s.QRScene); ok && out.HomeStore == "" {
		out.HomeStore = id
	}
	if f != nil && !f.Subscribed && f.UnsubscribedAt != nil && !s.SubscribedAt.After(*f.UnsubscribedAt) {
		return out
	}
	out.Subscribed = true
	if at := s.SubscribedAt; !at.IsZero() && (out.SubscribedAt == nil || at.After(*out.SubscribedAt)) {
		out.SubscribedAt = &at
	}
	return out
}
