package sqldb

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
)

// TestFollowerLocksTakenSortedFirst: two processes each commit a batch of
// two writes that lock followers X and Y (LockFollower, as engine.apply,
// schedule and reminder sends do), in opposite orders. Every batch takes
// the locks its writes' hints name first and sorted, whatever its writes'
// order (prefetch in an optimistic run, lockHinted in an isolated one), so
// the second batch waits for the first instead of deadlocking with it:
// every write function runs once and no write loses a deadlock. Taken in
// the writes' order, X then Y against Y then X deadlock, PostgreSQL ends
// one after deadlock_timeout and its batch runs again.
func TestFollowerLocksTakenSortedFirst(t *testing.T) {
	t.Parallel()
	for _, isolated := range []bool{false, true} {
		name := "optimistic"
		if isolated {
			name = "isolated"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := testenv.Postgres(t)
			one, two := open(t, url), open(t, url)
			obs := &conflictLog{}
			one.SetObserver(obs)
			two.SetObserver(obs)
			var runs atomic.Int64
			first := make(chan struct{}) // closed when one's batch holds its first lock
			// lockThen locks openid, and the batch's first write waits
			// (at most 500 ms) for the other process to get going.
			lockThen := func(openid string, wait bool) func(*Tx) error {
				return func(tx *Tx) error {
					runs.Add(1)
					if err := tx.LockFollower(openid); err != nil {
						return err
					}
					if wait {
						select {
						case <-first:
						default:
							close(first)
						}
						time.Sleep(300 * time.Millisecond)
					}
					if isolated {
						return errFailOptimistic(tx)
					}
					return nil
				}
			}
			hold := func(db *DB) chan struct{} {
				release, running := make(chan struct{}), make(chan struct{})
				go db.Write(context.Background(), func(*Tx) error { close(running); <-release; return nil })
				<-running
				return release
			}
			errc := make(chan error, 4)
			queue := func(db *DB, openid string, wait bool) {
				go func() {
					errc <- db.WriteHinted(context.Background(), &Hint{OpenIDs: []string{openid}}, lockThen(openid, wait))
				}()
				time.Sleep(20 * time.Millisecond) // queued in this order
			}
			r1, r2 := hold(one), hold(two)
			queue(one, "X", true)
			queue(one, "Y", false)
			queue(two, "Y", true)
			queue(two, "X", false)
			close(r1)
			time.Sleep(50 * time.Millisecond)
			close(r2)
			for range 4 {
				if err := <-errc; err != nil {
					t.Errorf("Write: %v", err)
				}
			}
			want := int64(4)
			if isolated {
				want = 6 // each batch's optimistic run fails on purpose at its first write, then both run isolated
			}
			if n, c := runs.Load(), obs.n.Load(); n != want || c != 0 {
				t.Errorf("write functions ran %d times, %d writes lost a deadlock; want %d runs, none lost", n, c, want)
			}
		})
	}
}

// errFailOptimistic makes an optimistic run fail (so that the batch runs
// isolated) and lets an isolated one succeed.
func errFailOptimistic(tx *Tx) error {
	if tx.buf != nil {
		return errOptimisticOnly
	}
	return nil
}

var errOptimisticOnly = errorString("fails in an optimistic run only")

type errorString string

func (e errorString) Error() string { return string(e) }
