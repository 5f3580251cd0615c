package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/omohq/omo/sqldb"
)

// openProcess opens url as one omo process's database: one committer,
// migrated, closed when the test ends.
func openProcess(t *testing.T, url string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.OpenWith(t.Context(), url, discard, sqldb.Options{Committers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// duringBatch runs other (another process's work) while db's committer runs
// a batch whose prefetch read what push needs before other began: db's
// committer is held, a write that starts other (and gives it 300 ms) is
// queued, then push; released, the two run in one batch. It waits for all
// of them and fails the test on any error.
func duringBatch(t *testing.T, db *sqldb.DB, other, push func(context.Context) error) {
	t.Helper()
	ctx := context.Background()
	release, running := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- db.Write(ctx, func(*sqldb.Tx) error { close(running); <-release; return nil })
	}()
	<-running
	otherErr, midErr, pushErr := make(chan error, 1), make(chan error, 1), make(chan error, 1)
	go func() {
		midErr <- db.Write(ctx, func(*sqldb.Tx) error {
			go func() { otherErr <- other(ctx) }()
			time.Sleep(300 * time.Millisecond)
			return nil
		})
	}()
	time.Sleep(100 * time.Millisecond)
	go func() { pushErr <- push(ctx) }()
	time.Sleep(100 * time.Millisecond)
	close(release)
	for _, c := range []chan error{held, midErr, pushErr, otherErr} {
		if err := <-c; err != nil {
			t.Fatal(err)
		}
	}
}
