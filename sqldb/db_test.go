package sqldb

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var discard = slog.New(slog.DiscardHandler)

// open opens and migrates the database at url; it is closed when t ends.
// open opens url with ONE committer, as the tests that hold the committer
// to fill a batch need; TestWriteSeveralCommitters runs several.
func open(t *testing.T, url string) *DB {
	t.Helper()
	return openWith(t, url, Options{Committers: 1})
}

func openWith(t *testing.T, url string, opt Options) *DB {
	t.Helper()
	db, err := OpenWith(t.Context(), url, discard, opt)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

// eachDB runs test on a fresh, migrated SQLite file and PostgreSQL database.
func eachDB(t *testing.T, test func(t *testing.T, db *DB)) {
	t.Helper()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) { test(t, open(t, d.URL)) })
	}
}

// write runs fn through the committer and fails t if it does not commit.
func write(t *testing.T, db *DB, fn func(*Tx) error) {
	t.Helper()
	if err := db.Write(t.Context(), fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url string
		kind      errs.Kind
	}{
		{"empty", "", errs.Invalid},
		{"unknown scheme", "mysql://u:p@localhost/omo", errs.Invalid},
		{"bare path", "omo.db", errs.Invalid},
		{"sqlite without path", "sqlite://", errs.Invalid},
		{"sqlite memory", "sqlite::memory:", errs.Invalid},
		{"sqlite memory with slashes", "sqlite://:memory:", errs.Invalid},
		{"sqlite bad query", "sqlite://omo.db?_busy_timeout=%zz", errs.Invalid},
		{"sqlite dir missing", "sqlite://" + t.TempDir() + "/no/such/dir/omo.db", errs.Unavailable},
		{"postgres refused", "postgres://omo:s3cret@127.0.0.1:1/omo?sslmode=disable&connect_timeout=2", errs.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := Open(t.Context(), tt.url, discard)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%q) = nil error, want %v", tt.url, tt.kind)
			}
			if got := errs.KindOf(err); got != tt.kind {
				t.Errorf("Open(%q) kind = %v, want %v (%v)", tt.url, got, tt.kind, err)
			}
			if !strings.Contains(err.Error(), "database.url") {
				t.Errorf("Open(%q) = %q, want it to name database.url", tt.url, err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("Open(%q) = %q shows the password", tt.url, err)
			}
		})
	}
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		write(t, db, func(tx *Tx) error {
			return tx.SaveFollower(&followers.Follower{OpenID: "o1", Subscribed: true, FirstSeenAt: at, LastEventAt: at})
		})
		for i := range 2 {
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatalf("Migrate again (%d): %v", i+1, err)
			}
		}
		if _, err := db.Follower(t.Context(), "o1"); err != nil {
			t.Errorf("follower after migrating again: %v", err)
		}
	})
}

func TestMigrateConcurrentProcesses(t *testing.T) {
	t.Parallel()
	// Two omo processes starting at once on one PostgreSQL: the session lock
	// lets one migrate and the other find nothing to do.
	url := testenv.Postgres(t)
	var dbs [3]*DB
	for i := range dbs {
		db, err := Open(t.Context(), url, discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(dbs))
	for _, db := range dbs {
		wg.Go(func() { errc <- db.Migrate(t.Context()) })
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Errorf("concurrent Migrate: %v", err)
		}
	}
	if n, err := dbs[0].CountEvents(t.Context()); err != nil || n != 0 {
		t.Errorf("CountEvents = %d, %v; want 0, nil", n, err)
	}
}

func TestPingAfterClose(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		if err := db.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		db.Close()
		if err := db.Ping(t.Context()); !errs.Is(err, errs.Unavailable) {
			t.Errorf("Ping after Close = %v, want Unavailable", err)
		}
	})
}

func TestSaveFollower(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	t1, t2, t3 := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	steps := []struct {
		name string
		save followers.Follower
		want followers.Follower
	}{
		{
			"first follow through a store code",
			followers.Follower{OpenID: "o1", Subscribed: true, SubscribedAt: &t0, FirstSeenAt: t0, FirstScene: "store:sh-001", LastEventAt: t0},
			followers.Follower{OpenID: "o1", Subscribed: true, SubscribedAt: &t0, FirstSeenAt: t0, FirstScene: "store:sh-001", LastEventAt: t0},
		},
		{
			"user/info fills the unionid",
			followers.Follower{OpenID: "o1", UnionID: "u1", Subscribed: true, SubscribedAt: &t0, FirstSeenAt: t0, FirstScene: "store:sh-001", LastEventAt: t0},
			followers.Follower{OpenID: "o1", UnionID: "u1", Subscribed: true, SubscribedAt: &t0, FirstSeenAt: t0, FirstScene: "store:sh-001", LastEventAt: t0},
		},
		{
			"a stale copy without unionid and another scene",
			followers.Follower{OpenID: "o1", Subscribed: false, SubscribedAt: &t0, UnsubscribedAt: &t1, FirstSeenAt: t1, FirstScene: "ref:AB12", LastEventAt: t1},
			followers.Follower{OpenID: "o1", UnionID: "u1", Subscribed: false, SubscribedAt: &t0, UnsubscribedAt: &t1, FirstSeenAt: t0, FirstScene: "store:sh-001", LastEventAt: t1},
		},
		{
			"refollow through a referral code",
			followers.Follower{OpenID: "o1", Subscribed: true, SubscribedAt: &t2, UnsubscribedAt: &t1, FirstSeenAt: t0, FirstScene: "ref:AB12", LastEventAt: t2},
			followers.Follower{OpenID: "o1", UnionID: "u1", Subscribed: true, SubscribedAt: &t2, UnsubscribedAt: &t1, FirstSeenAt: t0, FirstScene: "store:sh-001", LastEventAt: t2},
		},
		{
			"a new unionid replaces the old",
			followers.Follower{OpenID: "o1", UnionID: "u2", Subscribed: true, SubscribedAt: &t2, UnsubscribedAt: &t1, FirstSeenAt: t0, LastEventAt: t3},
			followers.Follower{OpenID: "o1", UnionID: "u2", Subscribed: true, SubscribedAt: &t2, UnsubscribedAt: &t1, FirstSeenAt: t0, FirstScene: "store:sh-001", LastEventAt: t3},
		},
		{
			"first follow without a scene",
			followers.Follower{OpenID: "o2", Subscribed: true, SubscribedAt: &t0, FirstSeenAt: t0, LastEventAt: t0},
			followers.Follower{OpenID: "o2", Subscribed: true, SubscribedAt: &t0, FirstSeenAt: t0, LastEventAt: t0},
		},
		{
			"a later scan sets the first scene",
			followers.Follower{OpenID: "o2", Subscribed: true, SubscribedAt: &t0, FirstSeenAt: t0, FirstScene: "store:bj-002", LastEventAt: t1},
			followers.Follower{OpenID: "o2", Subscribed: true, SubscribedAt: &t0, FirstSeenAt: t0, FirstScene: "store:bj-002", LastEventAt: t1},
		},
	}
	eachDB(t, func(t *testing.T, db *DB) {
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				write(t, db, func(tx *Tx) error { return tx.SaveFollower(&st.save) })
				got, err := db.Follower(t.Context(), st.save.OpenID)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(&st.want, got); diff != "" {
					t.Errorf("follower mismatch (-want +got):\n%s", diff)
				}
				// The transaction's view agrees with the pool's.
				var inTx *followers.Follower
				write(t, db, func(tx *Tx) (err error) { inTx, err = tx.Follower(st.save.OpenID); return err })
				if diff := cmp.Diff(got, inTx); diff != "" {
					t.Errorf("Tx.Follower differs from DB.Follower (-db +tx):\n%s", diff)
				}
			})
		}
		all, subscribed, err := db.CountFollowers(t.Context())
		if err != nil || all != 2 || subscribed != 2 {
			t.Errorf("CountFollowers = %d, %d, %v; want 2, 2, nil", all, subscribed, err)
		}
	})
}

func TestFollowerNotFound(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		if _, err := db.Follower(t.Context(), "nobody"); !errs.Is(err, errs.NotFound) {
			t.Errorf("DB.Follower(nobody) = %v, want NotFound", err)
		}
		err := db.Write(t.Context(), func(tx *Tx) error {
			if _, err := tx.Follower("nobody"); !errs.Is(err, errs.NotFound) {
				t.Errorf("Tx.Follower(nobody) = %v, want NotFound", err)
			}
			return tx.SetUnionID("nobody", "u1")
		})
		if !errs.Is(err, errs.NotFound) {
			t.Errorf("SetUnionID(nobody) = %v, want NotFound", err)
		}
	})
}

func TestSetUnionID(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
		write(t, db, func(tx *Tx) error {
			if err := tx.SaveFollower(&followers.Follower{OpenID: "o1", Subscribed: true, FirstSeenAt: at, FirstScene: "store:a", LastEventAt: at}); err != nil {
				return err
			}
			return tx.SetUnionID("o1", "u1")
		})
		got, err := db.Follower(t.Context(), "o1")
		if err != nil {
			t.Fatal(err)
		}
		if got.UnionID != "u1" || got.FirstScene != "store:a" {
			t.Errorf("UnionID, FirstScene = %q, %q; want u1, store:a", got.UnionID, got.FirstScene)
		}
	})
}
