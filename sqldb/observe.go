package sqldb

import "time"

// Observer is told about the group committer's work, for metrics. sqldb
// declares it so that it needs no metrics library; cmd/omo sets one with
// SetObserver. Batch is called from the committer's goroutine after every
// transaction, committed or not, and must return at once.
type Observer interface {
	// Batch reports one transaction of the committer: how many writes it
	// held, how long the oldest of them waited between Write and the start
	// of its transaction, and how long the transaction took (begin to
	// commit, redone runs included).
	Batch(size int, wait, commit time.Duration)
	// Conflicts reports n writes of a batch that lost a deadlock to another
	// process's transaction (PostgreSQL) and are run again.
	Conflicts(n int)
}

// SetObserver makes o the observer of the committer's batches (nil: none).
// It may be called at any time, also while writes run.
func (db *DB) SetObserver(o Observer) {
	if o == nil {
		db.observer.Store(nil)
		return
	}
	db.observer.Store(&o)
}

// observe reports batch, whose transaction began at began, to the observer.
// The committer takes writes in the order they were queued, so the first
// one waited longest.
func (db *DB) observe(batch []*writeReq, began time.Time) {
	o := db.observer.Load()
	if o == nil || len(batch) == 0 {
		return
	}
	(*o).Batch(len(batch), began.Sub(batch[0].queued), time.Since(began))
}
