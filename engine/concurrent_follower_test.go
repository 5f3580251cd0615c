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

// TestFollowerChangedByAnotherProcessDuringABatch: two omo processes on one
// PostgreSQL handle two pushes of one follower at once. Process 2's
// optimistic batch reads the follower up front (sqldb prefetch); process 1
// changes the follower while that batch runs; process 2 then saves the
// row it derived from its read. Each process must act from the row the
// other committed (the follower's lock, taken before the read on every
// path, makes the second wait), never overwrite it with a row derived from
// a stale read: a follow that lost its subscribed_at, or an unfollow that
// came back subscribed.
func TestFollowerChangedByAnotherProcessDuringABatch(t *testing.T) {
	t.Parallel()
	// PostgreSQL only: on SQLite one writer at a time reads and writes,
	// and process 1 would wait for process 2's whole transaction.
	tests := []struct {
		name   string
		before []*events.Event // handled by process 1 first
		p1     *events.Event   // process 1, while process 2's batch runs
		check  func(*followers.Follower) string
	}{
		{"a new follower's follow", nil, subscribe("X", t0, "store:sh-001"), func(f *followers.Follower) string {
			if !f.Subscribed || f.SubscribedAt == nil || f.FirstScene != "store:sh-001" {
				return "the follow was overwritten by the location push's row (derived from no row)"
			}
			return ""
		}},
		{"an unfollow", []*events.Event{subscribe("X", t0, "")}, unsubscribe("X", t0.Add(time.Minute)), func(f *followers.Follower) string {
			if f.Subscribed || f.UnsubscribedAt == nil {
				return "the unfollow was overwritten by the location push's row (derived from the follower still following)"
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
			duringBatch(t, db2, func(ctx context.Context) error {
				_, err := e1.Handle(ctx, tt.p1, []byte("<xml/>"))
				return err
			}, func(ctx context.Context) error {
				loc := &events.Event{Type: events.Location, OpenID: "X", CreatedAt: t0.Add(2 * time.Minute), Lat: 31.2, Lng: 121.4}
				_, err := e2.Handle(ctx, loc, []byte("<xml/>"))
				return err
			})
			f, err := db1.Follower(t.Context(), "X")
			if err != nil {
				t.Fatal(err)
			}
			if why := tt.check(f); why != "" {
				t.Errorf("follower X = %+v: %s", f, why)
			}
		})
	}
}
