package sqldb

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
)

// TestTimeRoundTrip writes times in a non-UTC zone with nanoseconds and
// reads back the same instants, truncated to microseconds, on every
// column that holds a time.
func TestTimeRoundTrip(t *testing.T) {
	t.Parallel()
	cst := time.FixedZone("CST", 8*3600)
	times := map[string]time.Time{
		"nanoseconds in +08:00": time.Date(2026, 12, 1, 18, 30, 5, 123456789, cst),
		"whole second":          time.Date(2026, 12, 31, 23, 59, 59, 0, cst),
		"one microsecond":       time.Date(2027, 1, 1, 0, 0, 0, 1000, time.UTC),
		"local midnight":        time.Date(2027, 1, 1, 0, 0, 0, 0, cst),
	}
	eachDB(t, func(t *testing.T, db *DB) {
		for name, at := range times {
			t.Run(name, func(t *testing.T) {
				want := at.UTC().Truncate(time.Microsecond)
				later := at.Add(90 * time.Minute)
				openid := "o-" + name
				f := followers.Follower{OpenID: openid, Subscribed: true, SubscribedAt: &at, UnsubscribedAt: &later, FirstSeenAt: at, LastEventAt: later}
				it, err := outbox.New("id-"+name, outbox.UserInfo, outbox.UserInfoPayload{OpenID: openid}, later, at)
				if err != nil {
					t.Fatal(err)
				}
				write(t, db, func(tx *Tx) error {
					if err := tx.SaveFollower(&f); err != nil {
						return err
					}
					if _, _, err := tx.InsertEvent(&events.Event{Type: events.Click, OpenID: openid, CreatedAt: at}, nil, later); err != nil {
						return err
					}
					return tx.AddOutbox(it)
				})

				wantLater := later.UTC().Truncate(time.Microsecond)
				gotF, err := db.Follower(t.Context(), openid)
				if err != nil {
					t.Fatal(err)
				}
				wantF := followers.Follower{OpenID: openid, Subscribed: true, SubscribedAt: &want, UnsubscribedAt: &wantLater, FirstSeenAt: want, LastEventAt: wantLater}
				if diff := cmp.Diff(&wantF, gotF); diff != "" {
					t.Errorf("follower times (-want +got):\n%s", diff)
				}
				evs, err := db.EventsFor(t.Context(), openid)
				if err != nil || len(evs) != 1 {
					t.Fatalf("EventsFor = %v, %v; want one event", evs, err)
				}
				if !evs[0].CreatedAt.Equal(want) || !evs[0].ReceivedAt.Equal(wantLater) {
					t.Errorf("event created_at, received_at = %v, %v; want %v, %v", evs[0].CreatedAt, evs[0].ReceivedAt, want, wantLater)
				}
				gotIt, err := db.OutboxItem(t.Context(), it.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !gotIt.RunAt.Equal(wantLater) || !gotIt.CreatedAt.Equal(want) || !gotIt.UpdatedAt.Equal(want) {
					t.Errorf("outbox run_at, created_at, updated_at = %v, %v, %v; want %v, %v, %v",
						gotIt.RunAt, gotIt.CreatedAt, gotIt.UpdatedAt, wantLater, want, want)
				}
			})
		}
	})
}

func TestOutbox(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		// Created at sub-second offsets: SQLite compares times as text, so
		// fractions must still sort right. Pages come in id order.
		var items []outbox.Item
		for i, off := range []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond, 2 * time.Second} {
			it, err := outbox.New(string(rune('a'+i)), outbox.UserInfo, outbox.UserInfoPayload{OpenID: "o1"}, t0.Add(10*time.Second-off), t0.Add(off))
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, it)
		}
		write(t, db, func(tx *Tx) error {
			for _, it := range items {
				if err := tx.AddOutbox(it); err != nil {
					return err
				}
			}
			return nil
		})
		pending := func(before time.Time) []string {
			t.Helper()
			got, err := db.PendingOutbox(ctx, before, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			ids := []string{}
			for _, it := range got {
				ids = append(ids, it.ID)
			}
			return ids
		}
		for _, tt := range []struct {
			before time.Time
			want   []string
		}{
			{t0, []string{}},
			{t0.Add(time.Millisecond), []string{"a"}},
			{t0.Add(time.Second), []string{"a", "b"}},
			{t0.Add(2 * time.Second), []string{"a", "b", "c"}},
			{t0.Add(time.Hour), []string{"a", "b", "c", "d"}},
		} {
			if diff := cmp.Diff(tt.want, pending(tt.before)); diff != "" {
				t.Errorf("PendingOutbox(created before %v) (-want +got):\n%s", tt.before.Sub(t0), diff)
			}
		}

		// Paging: after "b" comes the rest.
		page, err := db.PendingOutbox(ctx, t0.Add(time.Hour), "b", 100)
		if err != nil || len(page) != 2 || page[0].ID != "c" || page[1].ID != "d" {
			t.Errorf("PendingOutbox(after b) = %v, %v; want c, d", page, err)
		}

		got, err := db.OutboxItem(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&items[0], got); diff != "" {
			t.Errorf("OutboxItem(a) (-want +got):\n%s", diff)
		}

		done := t0.Add(time.Minute)
		var first, second bool
		write(t, db, func(tx *Tx) error {
			if err := tx.NoteOutboxAttempt("b", "busy", done); err != nil {
				return err
			}
			var err error
			if first, err = tx.FinishOutbox("a", outbox.Done, "", done); err != nil {
				return err
			}
			second, err = tx.FinishOutbox("a", outbox.Failed, "again", done)
			return err
		})
		if !first || second {
			t.Errorf("FinishOutbox twice = %v, %v; want true, false", first, second)
		}
		a, err := db.OutboxItem(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if a.State != outbox.Done || a.Attempts != 1 || !a.UpdatedAt.Equal(done) {
			t.Errorf("item a = %+v; want done, 1 attempt, updated %v", a, done)
		}
		b, err := db.OutboxItem(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if b.State != outbox.Pending || b.Attempts != 1 || b.LastError != "busy" {
			t.Errorf("item b = %+v; want pending, 1 attempt, last error busy", b)
		}
		if diff := cmp.Diff([]string{"b", "c", "d"}, pending(t0.Add(time.Hour))); diff != "" {
			t.Errorf("PendingOutbox after finishing a (-want +got):\n%s", diff)
		}
		counts, err := db.CountOutbox(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[outbox.State]int{outbox.Pending: 3, outbox.Done: 1}, counts); diff != "" {
			t.Errorf("CountOutbox (-want +got):\n%s", diff)
		}
		if _, err := db.OutboxItem(ctx, "nope"); !errs.Is(err, errs.NotFound) {
			t.Errorf("OutboxItem(nope) = %v, want NotFound", err)
		}
	})
}
