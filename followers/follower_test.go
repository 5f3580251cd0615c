package followers

import (
	"testing"
	"time"

	"github.com/omohq/omo/events"
)

func TestApply(t *testing.T) {
	t0 := time.Unix(1700000000, 0).UTC()
	t1 := t0.Add(time.Hour)
	sub := &events.Event{Type: events.Subscribe, OpenID: "o1", CreatedAt: t0, EventKey: "qrscene_store:sh-001"}

	f, c := Apply(nil, sub)
	if !c.New || !c.Followed || c.Refollowed || !c.SceneIsNew {
		t.Fatalf("first follow change = %+v", c)
	}
	if !f.Subscribed || f.FirstScene != "store:sh-001" || !f.FirstSeenAt.Equal(t0) || f.SubscribedAt == nil {
		t.Fatalf("first follow follower = %+v", f)
	}

	f, c = Apply(&f, &events.Event{Type: events.Unsubscribe, OpenID: "o1", CreatedAt: t1})
	if !c.Unfollowed || f.Subscribed || f.UnsubscribedAt == nil || !f.UnsubscribedAt.Equal(t1) {
		t.Fatalf("unfollow: %+v %+v", f, c)
	}

	f, c = Apply(&f, &events.Event{Type: events.Subscribe, OpenID: "o1", CreatedAt: t1.Add(time.Hour), EventKey: "qrscene_ref:X"})
	if c.New || !c.Refollowed || c.SceneIsNew || f.FirstScene != "store:sh-001" {
		t.Fatalf("refollow keeps first scene: %+v %+v", f, c)
	}

	// A text from someone omo never saw: a follower, no scene.
	g, c := Apply(nil, &events.Event{Type: events.Text, OpenID: "o2", CreatedAt: t0, IsMessage: true})
	if !c.New || !g.Subscribed || g.FirstScene != "" {
		t.Fatalf("text from stranger: %+v %+v", g, c)
	}
}

func TestHomeStoreFirstWins(t *testing.T) {
	t0 := time.Unix(1700000000, 0).UTC()
	f, _ := Apply(nil, &events.Event{Type: events.Subscribe, OpenID: "o1", CreatedAt: t0, EventKey: "qrscene_ref:ABC"})
	if f.HomeStore != "" {
		t.Fatalf("home store after a referral follow = %q, want none", f.HomeStore)
	}
	f, _ = Apply(&f, &events.Event{Type: events.Scan, OpenID: "o1", CreatedAt: t0.Add(time.Hour), EventKey: "store:sh-001"})
	f, _ = Apply(&f, &events.Event{Type: events.Scan, OpenID: "o1", CreatedAt: t0.Add(2 * time.Hour), EventKey: "store:bj-002"})
	if f.HomeStore != "sh-001" || f.FirstScene != "ref:ABC" {
		t.Fatalf("home store = %q, first scene = %q; want sh-001 (first store wins), ref:ABC", f.HomeStore, f.FirstScene)
	}
}
