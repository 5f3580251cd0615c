package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/sqldb"
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
			open := func() *sqldb.DB {
				db, err := sqldb.OpenWith(t.Context(), dbURL, discard, sqldb.Options{Committers: 1})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				if err := db.Migrate(t.Context()); err != nil {
					t.Fatal(err)
				}
				return db
			}
			db1, db2 := open(), open()
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

			release, running := make(chan struct{}), make(chan struct{})
			held := make(chan error, 1)
			go func() {
				held <- db2.Write(context.Background(), func(*sqldb.Tx) error { close(running); <-release; return nil })
			}()
			<-running
			p1Err, midErr, locErr := make(chan error, 1), make(chan error, 1), make(chan error, 1)
			go func() {
				midErr <- db2.Write(context.Background(), func(*sqldb.Tx) error {
					go func() {
						_, err := syncer.Run(context.Background())
						p1Err <- err
					}()
					time.Sleep(500 * time.Millisecond)
					return nil
				})
			}()
			time.Sleep(100 * time.Millisecond)
			go func() {
				loc := &events.Event{Type: events.Text, OpenID: "X", CreatedAt: t0.Add(2 * time.Hour), IsMessage: true, MsgID: 4242, Content: "hi"}
				_, err := e2.Handle(context.Background(), loc, []byte("<xml/>"))
				locErr <- err
			}()
			time.Sleep(100 * time.Millisecond)
			close(release)
			for _, c := range []chan error{held, midErr, locErr, p1Err} {
				if err := <-c; err != nil {
					t.Fatal(err)
				}
			}
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
