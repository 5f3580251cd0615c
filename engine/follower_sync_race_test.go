package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/internal/testenv"
)

// TestFollowerSyncDuringABatch: process 1's follower sync stores X while
// process 2's batch, which read X under X's lock, is still running. The
// sync's page write takes its followers' locks first, so it waits and
// reconciles with the push's row; the push's row never overwrites the
// sync's, nor the reverse.
func TestFollowerSyncDuringABatch(t *testing.T) {
	t.Parallel()
	realSub := t0.Add(30 * time.Minute)
	tests := []struct {
		name   string
		before []*events.Event
		check  func(*followers.Follower) string
	}{
		{"unknown follower stored by the sync", nil, func(f *followers.Follower) string {
			if f.SubscribedAt == nil || !f.SubscribedAt.Equal(realSub) {
				return "the sync's subscribed_at was overwritten by the push's row (derived from no row)"
			}
			return ""
		}},
		{"missed refollow corrected by the sync", []*events.Event{subscribe("X", t0, ""), unsubscribe("X", t0.Add(time.Minute))}, func(f *followers.Follower) string {
			if !f.Subscribed {
				return "the sync's correction (following again) was overwritten by the push's row (derived from the unfollowed row)"
			}
			return ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dbURL := testenv.Postgres(t)
			db1, db2 := openProcess(t, dbURL), openProcess(t, dbURL)
			now := func() time.Time { return t0.Add(time.Hour) }
			e1, e2 := engine.New(db1, nil, now, discard), engine.New(db2, nil, now, discard)
			for _, ev := range tt.before {
				if _, err := e1.Handle(t.Context(), ev, []byte("<xml/>")); err != nil {
					t.Fatal(err)
				}
			}
			list := newFakeList(100)
			list.infos["X"] = engine.FollowerInfo{OpenID: "X", Following: true, SubscribedAt: realSub, QRScene: "store:sh-009"}
			syncer := engine.NewSyncer(db1, list, engine.SyncOptions{Owner: "p1", Now: now, Log: discard})

			duringBatch(t, db2, func(ctx context.Context) error {
				_, err := syncer.Run(ctx)
				return err
			}, func(ctx context.Context) error {
				msg := &events.Event{Type: events.Text, OpenID: "X", CreatedAt: t0.Add(2 * time.Hour), IsMessage: true, MsgID: 4242, Content: "hi"}
				_, err := e2.Handle(ctx, msg, []byte("<xml/>"))
				return err
			})
			f, err := db1.Follower(t.Context(), "X")
			if err != nil {
				t.Fatal(err)
			}
			if why := tt.check(f); why != "" {
				t.Errorf("%s", why)
			}
		})
	}
}
