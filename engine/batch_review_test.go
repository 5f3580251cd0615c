package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/sqldb"
)

// TestReviewRefollowAfterUnionIDInOneBatch: the worker's user/info answer
// (SetUnionID) and the follower's re-follow land in one group-commit batch,
// in that order. One statement at a time the re-follow reads the unionid
// and asks WeChat nothing more; with the batch's follower cache read before
// the batch, it read no unionid and queued a second user/info call (WeChat
// asked twice).
func TestReviewRefollowAfterUnionIDInOneBatch(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			db, err := sqldb.OpenWith(t.Context(), d.URL, discard, sqldb.Options{Committers: 1})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			e := &env{db: db, queue: &recorder{}, now: t0}
			e.eng = engine.New(db, e.queue, func() time.Time { return e.now }, discard)
			e.handle(t, subscribe("o1", t0, ""))
			e.handle(t, unsubscribe("o1", t0.Add(time.Minute)))
			if n := len(e.userInfoItems(t, "o1")); n != 1 {
				t.Fatalf("user_info items after the first follow = %d, want 1", n)
			}
			// Hold the committer, queue SetUnionID and then the re-follow
			// behind it, release.
			release, running := make(chan struct{}), make(chan struct{})
			held := make(chan error, 1)
			go func() {
				held <- db.Write(context.Background(), func(*sqldb.Tx) error { close(running); <-release; return nil })
			}()
			<-running
			setErr, pushErr := make(chan error, 1), make(chan error, 1)
			go func() {
				setErr <- db.Write(context.Background(), func(tx *sqldb.Tx) error { return tx.SetUnionID("o1", "u1") })
			}()
			time.Sleep(100 * time.Millisecond)
			go func() {
				_, err := e.eng.Handle(context.Background(), subscribe("o1", t0.Add(2*time.Minute), ""), []byte("<xml/>"))
				pushErr <- err
			}()
			time.Sleep(100 * time.Millisecond)
			close(release)
			for _, c := range []chan error{held, setErr, pushErr} {
				if err := <-c; err != nil {
					t.Fatal(err)
				}
			}
			if n := len(e.userInfoItems(t, "o1")); n != 1 {
				t.Errorf("user_info items = %d, want 1: the re-follow came after the unionid was stored", n)
			}
		})
	}
}
