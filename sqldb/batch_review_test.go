package sqldb

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
)

// Review tests for the optimistic batch (batch.go): every one queues its
// writes in a known order behind a held committer, so that they share one
// optimistic batch, and checks that the outcome is what the same writes give
// one statement at a time (unhinted, or hinted but each alone).

// inOrder queues the writes behind a held committer, one after another in
// the given order, releases the committer and waits for them all. It
// returns each write's error.
func inOrder(t *testing.T, db *DB, writes ...func() error) []error {
	t.Helper()
	var release atomic.Bool
	blocked := block(t, db, release.Load)
	errc := make([]error, len(writes))
	var wg sync.WaitGroup
	for i, w := range writes {
		wg.Go(func() { errc[i] = w() })
		deadline := time.Now().Add(10 * time.Second)
		for len(db.writes) < i+1 {
			if time.Now().After(deadline) {
				t.Fatalf("write %d never queued", i)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	release.Store(true)
	wg.Wait()
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	return errc
}

// reviewPush is the engine's Handle in small: a hinted write that stores
// ev, reads its follower, folds ev in and saves it. got receives the
// follower as the write read it (nil: none).
func reviewPush(db *DB, ev *events.Event, at time.Time, got **followers.Follower) func() error {
	return func() error {
		h := &Hint{Event: ev, Raw: []byte("<xml/>"), ReceivedAt: at, OpenIDs: []string{ev.OpenID}}
		return db.WriteHinted(context.Background(), h, func(tx *Tx) error {
			*got = nil
			if _, dup, err := tx.InsertEvent(ev, []byte("<xml/>"), at); err != nil || dup {
				return err
			}
			prev, err := tx.Follower(ev.OpenID)
			if err != nil && !errs.Is(err, errs.NotFound) {
				return err
			}
			if prev != nil {
				c := *prev
				*got = &c
			}
			f, _ := followers.Apply(prev, ev)
			return tx.SaveFollower(&f)
		})
	}
}

// TestReviewFollowerAfterSetUnionID: SetUnionID is an UPDATE of followers
// that the batch's follower cache does not see. A push of the same follower
// later in the batch must read the unionid (one statement at a time it
// does); the engine then decides from f.UnionID whether to queue another
// user/info call and which identities to note as seen.
func TestReviewFollowerAfterSetUnionID(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		write(t, db, func(tx *Tx) error {
			return tx.SaveFollower(&followers.Follower{OpenID: "x", Subscribed: true, FirstSeenAt: at, LastEventAt: at})
		})
		var read *followers.Follower
		errc := inOrder(t, db,
			func() error {
				return db.Write(context.Background(), func(tx *Tx) error { return tx.SetUnionID("x", "u-x") })
			},
			reviewPush(db, testEvent("x", at.Add(time.Minute)), at, &read),
		)
		for i, err := range errc {
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		if read == nil || read.UnionID != "u-x" {
			t.Errorf("the push after SetUnionID read %+v; want unionid u-x (what one statement at a time reads)", read)
		}
	})
}

// TestReviewSyncedFollowerNotOverwritten: the follower sync's
// SaveSyncedFollowers (an upsert the cache does not see) finds x following
// again; a push of x later in the same batch reads the cached row from
// before the sync (unfollowed) and saves it back, undoing the sync.
func TestReviewSyncedFollowerNotOverwritten(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		gone := at.Add(-time.Hour)
		write(t, db, func(tx *Tx) error {
			return tx.SaveFollower(&followers.Follower{OpenID: "x", Subscribed: false, UnsubscribedAt: &gone, FirstSeenAt: gone, LastEventAt: gone})
		})
		back := at.Add(-time.Minute)
		var read *followers.Follower
		errc := inOrder(t, db,
			func() error {
				return db.Write(context.Background(), func(tx *Tx) error {
					return tx.SaveSyncedFollowers([]followers.Follower{{OpenID: "x", Subscribed: true, SubscribedAt: &back, FirstSeenAt: back, LastEventAt: back}}, 1)
				})
			},
			reviewPush(db, testEvent("x", at), at, &read),
		)
		for i, err := range errc {
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		f, err := db.Follower(t.Context(), "x")
		if err != nil {
			t.Fatal(err)
		}
		if !f.Subscribed || read == nil || !read.Subscribed {
			t.Errorf("after the sync found x following, a push of x read %+v and left %+v; want subscribed (the sync's update lost)", read, f)
		}
	})
}

// TestReviewSaveFollowerTwiceInBatch: two writes of one batch save the
// same follower without reading it. One statement at a time the second
// upsert keeps the first's unionid, first scene and first sighting; the
// buffer keeps only the last save and inserts it as is.
func TestReviewSaveFollowerTwiceInBatch(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		save := func(ev *events.Event, f followers.Follower) func() error {
			return func() error {
				h := &Hint{Event: ev, Raw: []byte("<xml/>"), ReceivedAt: at, OpenIDs: []string{f.OpenID}}
				return db.WriteHinted(context.Background(), h, func(tx *Tx) error {
					if _, _, err := tx.InsertEvent(ev, []byte("<xml/>"), at); err != nil {
						return err
					}
					return tx.SaveFollower(&f)
				})
			}
		}
		errc := inOrder(t, db,
			save(testEvent("x", at), followers.Follower{OpenID: "x", UnionID: "u-x", Subscribed: true, FirstSeenAt: at, FirstScene: "store:a", HomeStore: "a", LastEventAt: at}),
			save(testEvent("x", at.Add(time.Second)), followers.Follower{OpenID: "x", Subscribed: true, FirstSeenAt: at.Add(time.Second), FirstScene: "store:b", HomeStore: "b", LastEventAt: at.Add(time.Second)}),
		)
		for i, err := range errc {
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		f, err := db.Follower(t.Context(), "x")
		if err != nil {
			t.Fatal(err)
		}
		if f.UnionID != "u-x" || f.FirstScene != "store:a" || f.HomeStore != "a" || !f.FirstSeenAt.Equal(at) {
			t.Errorf("x = %+v; want unionid u-x, first scene store:a, home a, first seen %v (the first save's, as the upsert keeps them)", f, at)
		}
	})
}

// TestReviewSeenAfterUncachedSeen: a Seen call with a hash the batch did
// not prefetch inserts every hash of the call by statement, but left the
// prefetched ones "never seen" in the cache; a later write of the batch
// asking about one of them was told "never seen" (the flush then found the
// row and the batch ran again, so the commit was right, at the cost of a
// second run of every write). One statement at a time it is "seen before".
func TestReviewSeenAfterUncachedSeen(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		var answers []bool
		seen := func(ev *events.Event, hinted string, hashes ...string) func() error {
			return func() error {
				h := &Hint{Event: ev, Raw: []byte("<xml/>"), ReceivedAt: at, Seen: []string{hinted}}
				return db.WriteHinted(context.Background(), h, func(tx *Tx) error {
					if _, _, err := tx.InsertEvent(ev, []byte("<xml/>"), at); err != nil {
						return err
					}
					before, err := tx.Seen(hashes, at)
					if len(hashes) == 1 {
						answers = append(answers, before)
					}
					return err
				})
			}
		}
		errc := inOrder(t, db,
			seen(testEvent("x", at), "h-openid", "h-openid", "h-unionid"),
			seen(testEvent("y", at), "h-openid", "h-openid"),
		)
		for i, err := range errc {
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		if len(answers) != 1 || !answers[0] {
			t.Errorf("the second write was told seen before = %v (one per run); want [true], one run", answers)
		}
	})
}

// TestReviewLargeOutboxFlush: a write of an optimistic batch that adds many
// outbox items (a schedule's plan chunk, say) made the buffer's one
// multi-row INSERT exceed the database's bound on parameters (32766 on
// SQLite, 65535 on PostgreSQL); the flush failed and every write of the
// batch ran again. Nothing was lost, but the batch should run once.
func TestReviewLargeOutboxFlush(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		const items = 8000
		var runs atomic.Int32
		var ignored *followers.Follower
		errc := inOrder(t, db,
			reviewPush(db, testEvent("x", at), at, &ignored),
			func() error {
				return db.Write(context.Background(), func(tx *Tx) error {
					runs.Add(1)
					for i := range items {
						it, err := outbox.New(fmt.Sprintf("big-%05d", i), outbox.UserInfo, outbox.UserInfoPayload{OpenID: "x"}, at, at)
						if err != nil {
							return err
						}
						if err := tx.AddOutbox(it); err != nil {
							return err
						}
					}
					return nil
				})
			},
		)
		for i, err := range errc {
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		n, err := db.CountOutbox(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n[outbox.Pending] != items || runs.Load() != 1 {
			t.Errorf("%d items pending after %d runs of the write; want %d after one", n[outbox.Pending], runs.Load(), items)
		}
	})
}

// TestReviewCloseSeveralCommitters: PostgreSQL's four committers, hinted
// pushes (two copies each) racing Close. Every push a Write acknowledged
// (nil) is stored; none is stored twice; no Write hangs.
func TestReviewCloseSeveralCommitters(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		if d.Name != "postgres" {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			db := openWith(t, d.URL, Options{})
			check := openWith(t, d.URL, Options{Committers: 1})
			at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			const n = 1000
			errc := make([]error, 2*n)
			var wg sync.WaitGroup
			for i := range 2 * n {
				wg.Go(func() {
					ev := testEvent(fmt.Sprintf("c%03d", i%n), at)
					h := &Hint{Event: ev, Raw: []byte("<xml/>"), ReceivedAt: at, OpenIDs: []string{ev.OpenID}, Seen: []string{"h-" + ev.OpenID}}
					errc[i] = db.WriteHinted(context.Background(), h, func(tx *Tx) error {
						id, dup, err := tx.InsertEvent(ev, []byte("<xml/>"), at)
						if err != nil || dup {
							return err
						}
						if _, err := tx.Seen([]string{"h-" + ev.OpenID}, at); err != nil {
							return err
						}
						f, _ := followers.Apply(nil, ev)
						if err := tx.SaveFollower(&f); err != nil {
							return err
						}
						it, err := outbox.New(fmt.Sprintf("close-%d", id), outbox.UserInfo, outbox.UserInfoPayload{OpenID: ev.OpenID}, at, at)
						if err != nil {
							return err
						}
						return tx.AddOutbox(it)
					})
				})
			}
			for len(db.writes) < 100 {
				time.Sleep(50 * time.Microsecond)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("writes still waiting 20 s after Close")
			}
			acked := 0
			for i := range n {
				if errc[i] != nil && errc[i+n] != nil {
					continue
				}
				acked++
				evs, err := check.EventsFor(t.Context(), fmt.Sprintf("c%03d", i))
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) != 1 {
					t.Errorf("push c%03d acknowledged, stored %d times", i, len(evs))
				}
			}
			all, err := check.CountEvents(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			ob, err := check.CountOutbox(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if all != acked || ob[outbox.Pending] != acked {
				t.Errorf("%d pushes acknowledged, %d stored, %d outbox items", acked, all, ob[outbox.Pending])
			}
			t.Logf("%d of %d pushes acknowledged before Close", acked, n)
		})
	}
}

// TestReviewSkippedHintedWrite: a hinted push whose caller gave up while
// it was queued is skipped (Unavailable) and its event must not be stored
// up front; a copy of it in the same batch whose caller still waits
// stores it once; a push only the skipped write carried is not stored.
func TestReviewSkippedHintedWrite(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		ctx, cancel := context.WithCancel(context.Background())
		var runs atomic.Int32
		push := func(ctx context.Context, ev *events.Event) func() error {
			return func() error {
				h := &Hint{Event: ev, Raw: []byte("<xml/>"), ReceivedAt: at, OpenIDs: []string{ev.OpenID}}
				return db.WriteHinted(ctx, h, func(tx *Tx) error {
					runs.Add(1)
					_, _, err := tx.InsertEvent(ev, []byte("<xml/>"), at)
					return err
				})
			}
		}
		shared, alone := testEvent("shared", at), testEvent("alone", at)
		errc := inOrder(t, db,
			push(ctx, shared),
			push(ctx, alone),
			push(context.Background(), shared),
			push(context.Background(), testEvent("other", at)),
			func() error { cancel(); return db.Write(context.Background(), func(*Tx) error { return nil }) },
		)
		if !errs.Is(errc[0], errs.Unavailable) || !errs.Is(errc[1], errs.Unavailable) || errc[2] != nil || errc[3] != nil {
			t.Fatalf("writes = %v; want Unavailable, Unavailable, nil, nil", errc[:4])
		}
		for openid, want := range map[string]int{"shared": 1, "alone": 0, "other": 1} {
			evs, err := db.EventsFor(t.Context(), openid)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != want {
				t.Errorf("%s stored %d times, want %d", openid, len(evs), want)
			}
		}
		if runs.Load() != 2 {
			t.Errorf("write functions ran %d times, want 2 (one optimistic run of the two that still wait)", runs.Load())
		}
	})
}
