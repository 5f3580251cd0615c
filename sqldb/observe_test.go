package sqldb

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/outbox"
)

// batchLog is an Observer that keeps what it is told.
type batchLog struct {
	mu      sync.Mutex
	sizes   []int
	waits   []time.Duration
	commits []time.Duration
}

func (l *batchLog) Conflicts(int) {}

func (l *batchLog) Batch(size int, wait, commit time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sizes = append(l.sizes, size)
	l.waits = append(l.waits, wait)
	l.commits = append(l.commits, commit)
}

// TestObserverSeesBatches queues writes behind a blocked committer: the
// observer is told of the blocking batch (size 1) and of one batch holding
// every queued write, whose oldest write waited at least as long as the
// committer was held.
func TestObserverSeesBatches(t *testing.T) {
	t.Parallel()
	const n = 20
	const hold = 50 * time.Millisecond
	db := open(t, "sqlite://"+t.TempDir()+"/omo.db")
	obs := &batchLog{}
	db.SetObserver(obs)

	var released atomic.Bool
	start := time.Now()
	blocked := block(t, db, released.Load)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := db.Write(t.Context(), func(*Tx) error { return nil }); err != nil {
				t.Errorf("Write: %v", err)
			}
		})
	}
	for len(db.writes) < n { // every writer is in the queue
		time.Sleep(time.Millisecond)
	}
	time.Sleep(hold - time.Since(start))
	released.Store(true)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	obs.mu.Lock()
	defer obs.mu.Unlock()
	total := 0
	for _, s := range obs.sizes {
		total += s
	}
	if total != n+1 {
		t.Fatalf("batch sizes %v add up to %d, want %d (the blocker and every write)", obs.sizes, total, n+1)
	}
	if obs.sizes[0] != 1 || obs.sizes[1] != n {
		t.Errorf("batch sizes = %v, want [1 %d]", obs.sizes, n)
	}
	if len(obs.waits) > 1 && obs.waits[1] < hold/2 {
		t.Errorf("wait of the queued batch = %v, want about %v or more", obs.waits[1], hold)
	}
	if obs.commits[0] < hold/2 {
		t.Errorf("commit time of the blocking batch = %v, want about %v or more", obs.commits[0], hold)
	}

	db.SetObserver(nil)
	write(t, db, func(*Tx) error { return nil })
	if len(obs.sizes) != 2 {
		t.Errorf("observer told of %d batches after SetObserver(nil), want still 2", len(obs.sizes))
	}
}

// TestOutboxBacklog counts pending items and finds the oldest one due,
// leaving out items done and items not due yet.
func TestOutboxBacklog(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	eachDB(t, func(t *testing.T, db *DB) {
		if b, err := db.OutboxBacklog(t.Context(), now); err != nil || b != (OutboxBacklog{}) {
			t.Fatalf("empty outbox: backlog %+v, %v; want zero", b, err)
		}
		items := []struct {
			id    string
			runAt time.Time
			done  bool
		}{
			{"a-done-oldest", now.Add(-time.Hour), true},
			{"b-due-10m", now.Add(-10 * time.Minute), false},
			{"c-due-1m", now.Add(-time.Minute), false},
			{"d-later", now.Add(time.Hour), false},
		}
		write(t, db, func(tx *Tx) error {
			for _, x := range items {
				it, err := outbox.New(x.id, outbox.UserInfo, outbox.UserInfoPayload{OpenID: "o-" + x.id}, x.runAt, now.Add(-2*time.Hour))
				if err != nil {
					return err
				}
				if err := tx.AddOutbox(it); err != nil {
					return err
				}
				if x.done {
					if _, err := tx.FinishOutbox(x.id, outbox.Done, "", now); err != nil {
						return err
					}
				}
			}
			return nil
		})
		b, err := db.OutboxBacklog(t.Context(), now)
		if err != nil {
			t.Fatal(err)
		}
		if want := (OutboxBacklog{Pending: 3, OldestDue: now.Add(-10 * time.Minute)}); b.Pending != want.Pending || !b.OldestDue.Equal(want.OldestDue) {
			t.Errorf("backlog = %+v, want %+v", b, want)
		}
		b, err = db.OutboxBacklog(t.Context(), now.Add(-3*time.Hour))
		if err != nil || b.Pending != 3 || !b.OldestDue.IsZero() {
			t.Errorf("backlog before anything is due = %+v, %v; want 3 pending, no oldest due", b, err)
		}
	})
}
