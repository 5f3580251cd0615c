package followers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHomeStoreOf(t *testing.T) {
	tests := []struct {
		scene, want string
		ok          bool
	}{
		{"store:sh-001", "sh-001", true},
		{"store:", "", false},
		{"ref:ABC", "", false},
		{"3229", "", false},
		{"", "", false},
		{"Store:sh-001", "", false},
	}
	for _, tt := range tests {
		got, ok := HomeStoreOf(tt.scene)
		if got != tt.want || ok != tt.ok {
			t.Errorf("HomeStoreOf(%q) = %q, %v; want %q, %v", tt.scene, got, ok, tt.want, tt.ok)
		}
	}
}

func TestReconcile(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	t1 := now.Add(-48 * time.Hour) // WeChat's subscribe_time in most rows
	t0 := t1.Add(-24 * time.Hour)
	t2 := t1.Add(24 * time.Hour)
	p := func(t time.Time) *time.Time { return &t }
	synced := Synced{OpenID: "o1", UnionID: "u1", SubscribedAt: t1, QRScene: "store:sh-001"}
	tests := []struct {
		name string
		prev *Follower
		s    Synced
		want Follower
	}{
		{"unknown follower is created from the list", nil, synced,
			Follower{OpenID: "o1", UnionID: "u1", Subscribed: true, SubscribedAt: p(t1), FirstSeenAt: now,
				FirstScene: "store:sh-001", HomeStore: "sh-001", LastEventAt: t1}},
		{"unknown follower without subscribe time or scene", nil, Synced{OpenID: "o1"},
			Follower{OpenID: "o1", Subscribed: true, FirstSeenAt: now, LastEventAt: now}},
		{"a referral scene is a first scene, not a home store", nil, Synced{OpenID: "o1", SubscribedAt: t1, QRScene: "ref:AB12"},
			Follower{OpenID: "o1", Subscribed: true, SubscribedAt: p(t1), FirstSeenAt: now, FirstScene: "ref:AB12", LastEventAt: t1}},
		{"webhook's first scene, home store and sightings are kept",
			&Follower{OpenID: "o1", Subscribed: true, SubscribedAt: p(t1), FirstSeenAt: t0, FirstScene: "ref:X", HomeStore: "bj-001", LastEventAt: t2},
			synced,
			Follower{OpenID: "o1", UnionID: "u1", Subscribed: true, SubscribedAt: p(t1), FirstSeenAt: t0, FirstScene: "ref:X", HomeStore: "bj-001", LastEventAt: t2}},
		{"a home store is filled in when the webhook saw none",
			&Follower{OpenID: "o1", Subscribed: true, FirstSeenAt: t0, FirstScene: "ref:X", LastEventAt: t0},
			synced,
			Follower{OpenID: "o1", UnionID: "u1", Subscribed: true, SubscribedAt: p(t1), FirstSeenAt: t0, FirstScene: "ref:X", HomeStore: "sh-001", LastEventAt: t0}},
		{"an empty unionid from WeChat keeps omo's",
			&Follower{OpenID: "o1", UnionID: "u-login", Subscribed: true, SubscribedAt: p(t1), FirstSeenAt: t0, LastEventAt: t0},
			Synced{OpenID: "o1", SubscribedAt: t1},
			Follower{OpenID: "o1", UnionID: "u-login", Subscribed: true, SubscribedAt: p(t1), FirstSeenAt: t0, LastEventAt: t0}},
		{"a later follow seen by the webhook keeps its time",
			&Follower{OpenID: "o1", Subscribed: true, SubscribedAt: p(t2), UnsubscribedAt: p(t1), FirstSeenAt: t0, LastEventAt: t2},
			synced,
			Follower{OpenID: "o1", UnionID: "u1", Subscribed: true, SubscribedAt: p(t2), UnsubscribedAt: p(t1), FirstSeenAt: t0,
				FirstScene: "store:sh-001", HomeStore: "sh-001", LastEventAt: t2}},
		{"an unfollow after WeChat's follow time stands",
			&Follower{OpenID: "o1", Subscribed: false, SubscribedAt: p(t1), UnsubscribedAt: p(t2), FirstSeenAt: t0, LastEventAt: t2},
			synced,
			Follower{OpenID: "o1", UnionID: "u1", Subscribed: false, SubscribedAt: p(t1), UnsubscribedAt: p(t2), FirstSeenAt: t0,
				FirstScene: "store:sh-001", HomeStore: "sh-001", LastEventAt: t2}},
		{"an unfollow at the very second of the follow stands",
			&Follower{OpenID: "o1", Subscribed: false, UnsubscribedAt: p(t1), FirstSeenAt: t0, LastEventAt: t1},
			Synced{OpenID: "o1", SubscribedAt: t1},
			Follower{OpenID: "o1", Subscribed: false, UnsubscribedAt: p(t1), FirstSeenAt: t0, LastEventAt: t1}},
		{"a follow WeChat reports after omo's unfollow: following again (the webhook missed it)",
			&Follower{OpenID: "o1", Subscribed: false, SubscribedAt: p(t0), UnsubscribedAt: p(t0), FirstSeenAt: t0, LastEventAt: t0},
			synced,
			Follower{OpenID: "o1", UnionID: "u1", Subscribed: true, SubscribedAt: p(t1), UnsubscribedAt: p(t0), FirstSeenAt: t0,
				FirstScene: "store:sh-001", HomeStore: "sh-001", LastEventAt: t0}},
		{"omo thought they were gone without an unfollow time: following",
			&Follower{OpenID: "o1", Subscribed: false, FirstSeenAt: t0, LastEventAt: t0},
			Synced{OpenID: "o1", SubscribedAt: t1},
			Follower{OpenID: "o1", Subscribed: true, SubscribedAt: p(t1), FirstSeenAt: t0, LastEventAt: t0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Reconcile(tt.prev, tt.s, now)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Reconcile (-want +got):\n%s", diff)
			}
		})
	}
}
