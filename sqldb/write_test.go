package sqldb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
)

// block queues a write that holds the committer until release returns true
// (polled), and returns once the committer is inside it. The returned
// channel gives the blocking write's outcome.
func block(t *testing.T, db *DB, release func() bool) <-chan error {
	t.Helper()
	running := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.Write(context.Background(), func(tx *Tx) error {
			close(running)
			deadline := time.Now().Add(10 * time.Second)
			for !release() {
				if time.Now().After(deadline) {
					return errors.New("blocker: gave up waiting")
				}
				time.Sleep(time.Millisecond)
			}
			return nil
		})
	}()
	select {
	case <-running:
	case <-time.After(10 * time.Second):
		t.Fatal("the committer never ran the blocking write")
	}
	return done
}

func testEvent(openid string, at time.Time) *events.Event {
	return &events.Event{Type: events.Click, OpenID: openid, CreatedAt: at, EventKey: "MENU"}
}

// TestWriteGroupCommitIsolatesFailures makes 200 writers queue behind a
// blocked committer, so they are certain to share one transaction, and has
// some of them fail in each way a write function can: returning an error,
// hitting a constraint (which on PostgreSQL aborts the transaction until the
// savepoint is rolled back) and panicking. Every other write must commit in
// full and every failed one must leave nothing.
//
// It runs with and without hints (batch.go): hinted, the batch first runs
// with its events inserted up front and the rest buffered, and every
// failure must still leave exactly what it leaves unhinted.
func TestWriteGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	for _, hinted := range []bool{false, true} {
		t.Run(fmt.Sprintf("hinted=%v", hinted), func(t *testing.T) { testWriteGroupCommitIsolatesFailures(t, hinted) })
	}
}

func testWriteGroupCommitIsolatesFailures(t *testing.T, hinted bool) {
	const n = 200
	errBoom := errors.New("boom")
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		taken, err := outbox.New("taken", outbox.UserInfo, outbox.UserInfoPayload{OpenID: "x"}, at, at)
		if err != nil {
			t.Fatal(err)
		}
		write(t, db, func(tx *Tx) error { return tx.AddOutbox(taken) })

		blocked := block(t, db, func() bool { return len(db.writes) >= n })
		var (
			mu   sync.Mutex
			txs  = map[*Tx]int{} // transaction -> writes it ran
			wg   sync.WaitGroup
			errc = make([]error, n)
		)
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				openid := fmt.Sprintf("o%03d", i)
				ev := testEvent(openid, at)
				var h *Hint
				if hinted {
					h = &Hint{Event: ev, Raw: []byte("<xml/>"), ReceivedAt: at, OpenIDs: []string{openid}, Seen: []string{"h-" + openid}}
				}
				errc[i] = db.WriteHinted(t.Context(), h, func(tx *Tx) error {
					mu.Lock()
					txs[tx]++
					mu.Unlock()
					if _, dup, err := tx.InsertEvent(ev, []byte("<xml/>"), at); err != nil || dup {
						return fmt.Errorf("InsertEvent: dup %v, %v", dup, err)
					}
					if before, err := tx.Seen([]string{"h-" + openid}, at); err != nil || before {
						return fmt.Errorf("Seen: before %v, %v", before, err)
					}
					if err := tx.SaveFollower(&followers.Follower{OpenID: openid, Subscribed: true, FirstSeenAt: at, LastEventAt: at}); err != nil {
						return err
					}
					switch i % 10 {
					case 3:
						return errBoom
					case 5:
						return tx.AddOutbox(taken) // duplicate primary key
					case 7:
						panic("write function " + openid + " panics")
					}
					it, err := outbox.New("item-"+openid, outbox.UserInfo, outbox.UserInfoPayload{OpenID: openid}, at, at)
					if err != nil {
						return err
					}
					return tx.AddOutbox(it)
				})
			})
		}
		close(start)
		wg.Wait()
		if err := <-blocked; err != nil {
			t.Fatalf("blocking write: %v", err)
		}
		if len(txs) != 1 {
			t.Errorf("the %d queued writes ran in %d transactions, want 1 (group commit): %v", n, len(txs), txs)
		}

		ctx := t.Context()
		ok := 0
		for i, err := range errc {
			openid := fmt.Sprintf("o%03d", i)
			failed := i%10 == 3 || i%10 == 5 || i%10 == 7
			switch {
			case i%10 == 3 && !errors.Is(err, errBoom):
				t.Errorf("write %s = %v, want its own error", openid, err)
			case i%10 == 5 && err == nil:
				t.Errorf("write %s with a duplicate outbox id = nil, want an error", openid)
			case i%10 == 7 && (err == nil || !strings.Contains(err.Error(), "panic")):
				t.Errorf("panicking write %s = %v, want an error saying panic", openid, err)
			case !failed && err != nil:
				t.Errorf("write %s = %v, want nil", openid, err)
			}
			evs, err := db.EventsFor(ctx, openid)
			if err != nil {
				t.Fatal(err)
			}
			_, ferr := db.Follower(ctx, openid)
			_, oerr := db.OutboxItem(ctx, "item-"+openid)
			if failed {
				if len(evs) != 0 || !errs.Is(ferr, errs.NotFound) || !errs.Is(oerr, errs.NotFound) {
					t.Errorf("failed write %s left events %v, follower err %v, outbox err %v; want nothing", openid, evs, ferr, oerr)
				}
				continue
			}
			ok++
			if len(evs) != 1 || ferr != nil || oerr != nil {
				t.Errorf("write %s: events %v, follower err %v, outbox err %v; want all stored", openid, evs, ferr, oerr)
			}
		}
		if got, err := db.CountEvents(ctx); err != nil || got != ok {
			t.Errorf("CountEvents = %d, %v; want %d", got, err, ok)
		}
		if all, _, err := db.CountFollowers(ctx); err != nil || all != ok {
			t.Errorf("CountFollowers = %d, %v; want %d", all, err, ok)
		}
		if got, err := db.CountOutbox(ctx); err != nil || got[outbox.Pending] != ok+1 {
			t.Errorf("CountOutbox = %v, %v; want %d pending", got, err, ok+1)
		}
		var seen int
		if err := db.x.Get(&seen, `SELECT COUNT(*) FROM seen_people`); err != nil || seen != ok {
			t.Errorf("seen_people rows = %d, %v; want %d (none from a failed write)", seen, err, ok)
		}
	})
}

// TestWriteConcurrentWriters is the same without a blocker: writers racing
// each other, as under load, all commit.
func TestWriteConcurrentWriters(t *testing.T) {
	t.Parallel()
	const n = 200
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			txs   = map[*Tx]bool{}
			start = make(chan struct{})
			errc  = make(chan error, n)
		)
		for i := range n {
			wg.Go(func() {
				<-start
				errc <- db.Write(t.Context(), func(tx *Tx) error {
					mu.Lock()
					txs[tx] = true
					mu.Unlock()
					_, _, err := tx.InsertEvent(testEvent(fmt.Sprintf("c%03d", i), at), nil, at)
					return err
				})
			})
		}
		close(start)
		wg.Wait()
		close(errc)
		for err := range errc {
			if err != nil {
				t.Errorf("Write: %v", err)
			}
		}
		if got, err := db.CountEvents(t.Context()); err != nil || got != n {
			t.Errorf("CountEvents = %d, %v; want %d", got, err, n)
		}
		t.Logf("%d writes in %d transactions", n, len(txs))
	})
}

func TestWriteFailureRollsBack(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		tail func(tx *Tx) error // runs after the function has written
		want func(error) bool
	}{
		{"error", func(*Tx) error { return errBoom }, func(err error) bool { return errors.Is(err, errBoom) }},
		{"panic", func(*Tx) error { panic("oops") }, func(err error) bool {
			return errs.KindOf(err) == errs.Other && strings.Contains(err.Error(), "panic") && strings.Contains(err.Error(), "oops")
		}},
		{"canceled", func(*Tx) error { return fmt.Errorf("query: %w", context.Canceled) }, func(err error) bool { return errs.Is(err, errs.Unavailable) }},
		{"SQL error", func(tx *Tx) error { _, err := tx.Follower("nobody"); return err }, func(err error) bool { return errs.Is(err, errs.NotFound) }},
	}
	eachDB(t, func(t *testing.T, db *DB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				openid := "o-" + strings.ReplaceAll(tt.name, " ", "-")
				err := db.Write(t.Context(), func(tx *Tx) error {
					if _, _, err := tx.InsertEvent(testEvent(openid, at), nil, at); err != nil {
						return err
					}
					return tt.tail(tx)
				})
				if !tt.want(err) {
					t.Errorf("Write = %v, not the error wanted", err)
				}
				if evs, err := db.EventsFor(t.Context(), openid); err != nil || len(evs) != 0 {
					t.Errorf("EventsFor after a failed write = %v, %v; want none", evs, err)
				}
				// The committer is still there.
				write(t, db, func(tx *Tx) error { _, _, err := tx.InsertEvent(testEvent(openid+"-next", at), nil, at); return err })
			})
		}
	})
}

func TestWriteCanceledWhileQueued(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		ctx, cancel := context.WithCancel(t.Context())
		blocked := block(t, db, func() bool { return len(db.writes) >= 1 && ctx.Err() != nil })
		ran := false
		done := make(chan error, 1)
		go func() { done <- db.Write(ctx, func(*Tx) error { ran = true; return nil }) }()
		for len(db.writes) == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-blocked; err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errs.Is(err, errs.Unavailable) || ran {
			t.Errorf("Write canceled while queued = %v (ran %v), want Unavailable and not run", err, ran)
		}
		if err := db.Write(ctx, func(*Tx) error { return nil }); !errs.Is(err, errs.Unavailable) {
			t.Errorf("Write with a canceled context = %v, want Unavailable", err)
		}
	})
}

// TestWriteAfterClose: a write that comes after Close must fail at once,
// never wait for a committer that is gone.
func TestWriteAfterClose(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		write(t, db, func(*Tx) error { return nil })
		if err := db.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for i := range 50 {
			done := make(chan error, 1)
			go func() { done <- db.Write(context.Background(), func(*Tx) error { return nil }) }()
			select {
			case err := <-done:
				if !errs.Is(err, errs.Unavailable) {
					t.Fatalf("Write %d after Close = %v, want Unavailable", i, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("Write %d after Close still waiting after 5s", i)
			}
		}
		if err := db.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

// TestCloseFinishesQueuedWrites: writes queued before Close commit.
func TestCloseFinishesQueuedWrites(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		const n = 20
		// The committer is held until Close is called, so all n are queued
		// behind it when the database starts closing.
		blocked := block(t, db, func() bool {
			select {
			case <-db.stop:
				return true
			default:
				return false
			}
		})
		errc := make(chan error, n)
		for i := range n {
			go func() {
				errc <- db.Write(context.Background(), func(tx *Tx) error {
					_, _, err := tx.InsertEvent(testEvent(fmt.Sprintf("q%02d", i), at), nil, at)
					return err
				})
			}()
		}
		closed := make(chan error, 1)
		go func() {
			for len(db.writes) < n {
				time.Sleep(time.Millisecond)
			}
			closed <- db.Close()
		}()
		if err := <-blocked; err != nil {
			t.Fatal(err)
		}
		for range n {
			if err := <-errc; err != nil {
				t.Errorf("queued Write = %v, want nil", err)
			}
		}
		if err := <-closed; err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}
