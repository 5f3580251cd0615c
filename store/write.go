package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"

	"omo/errs"
)

// maxBatch bounds how many write functions share one transaction.
const maxBatch = 256

// Tx is the transaction a write function runs in. Its methods are the only
// way to write; they must be called from the function's goroutine.
type Tx struct {
	x  *sqlx.Tx
	db *DB
}

type writeReq struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
}

// Write runs fn in a transaction and returns once it has committed (nil) or
// failed. fn's writes commit together or not at all; if fn returns an error
// they are undone and Write returns that error. Concurrent calls share
// transactions (group commit) without sharing failure: a function that
// fails is rolled back to its own savepoint. fn may run on another
// goroutine and must not block on the network.
func (db *DB) Write(ctx context.Context, fn func(*Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.writes <- req:
	case <-ctx.Done():
		return errs.Wrap(errs.Unavailable, "store.Write", ctx.Err())
	case <-db.stop:
		return errs.E(errs.Unavailable, "store.Write", "database is closing")
	}
	// Once queued, the write runs even if ctx ends, so wait for its outcome:
	// returning early would report a failure for something that commits.
	// The one exception is a write queued after Close drained the queue: the
	// committer is gone and will never run it (select above picks at random
	// when both writes and stop are ready).
	select {
	case err := <-req.done:
		return err
	case <-db.stopped:
		// The committer answers every write it ran before it stops.
		select {
		case err := <-req.done:
			return err
		default:
			return errs.E(errs.Unavailable, "store.Write", "database is closed")
		}
	}
}

func (db *DB) commitLoop() {
	defer close(db.stopped)
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case req := <-db.writes:
			batch = append(batch[:0], req)
		case <-db.stop:
			db.drain()
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case req := <-db.writes:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		db.commit(batch)
	}
}

// drain finishes the writes queued before Close.
func (db *DB) drain() {
	for {
		select {
		case req := <-db.writes:
			db.commit([]*writeReq{req})
		default:
			return
		}
	}
}

func (db *DB) commit(batch []*writeReq) {
	results := make([]error, len(batch))
	err := db.runBatch(batch, results)
	for i, req := range batch {
		if err != nil {
			req.done <- err
		} else {
			req.done <- results[i]
		}
	}
}

// runBatch runs the batch in one transaction. It returns a non-nil error
// only when the transaction as a whole failed; each function's own outcome
// goes into results.
func (db *DB) runBatch(batch []*writeReq, results []error) error {
	const op = "store.Write"
	x, err := db.x.Beginx()
	if err != nil {
		return errs.Wrap(errs.Unavailable, op, err)
	}
	tx := &Tx{x: x, db: db}
	single := len(batch) == 1
	for i, req := range batch {
		if err := req.ctx.Err(); err != nil {
			results[i] = errs.Wrap(errs.Unavailable, op, err)
			continue
		}
		if single {
			results[i] = call(req.fn, tx)
			continue
		}
		if _, err := x.Exec("SAVEPOINT w"); err != nil {
			x.Rollback()
			return errs.Wrap(errs.Unavailable, op, err)
		}
		if results[i] = call(req.fn, tx); results[i] != nil {
			if _, err := x.Exec("ROLLBACK TO SAVEPOINT w"); err != nil {
				x.Rollback()
				return errs.Wrap(errs.Unavailable, op, err)
			}
		}
		if _, err := x.Exec("RELEASE SAVEPOINT w"); err != nil {
			x.Rollback()
			return errs.Wrap(errs.Unavailable, op, err)
		}
	}
	if single && results[0] != nil {
		x.Rollback()
		return nil
	}
	if err := x.Commit(); err != nil {
		return errs.Wrap(errs.Unavailable, op, err)
	}
	return nil
}

// call runs fn, turning a panic into an error so that one bad function
// cannot take the committer (and every writer) down.
func call(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errs.Wrap(errs.Other, "store.Write", fmt.Errorf("panic in write function: %v", r))
		}
	}()
	err = fn(tx)
	if err != nil && errors.Is(err, context.Canceled) {
		return errs.Wrap(errs.Unavailable, "store.Write", err)
	}
	return err
}
