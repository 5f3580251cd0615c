package sqldb

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/omohq/omo/errs"
)

// maxBatch bounds how many write functions share one transaction.
const maxBatch = 256

// Tx is the transaction a write function runs in. Its methods are the only
// way to write; they must be called from the function's goroutine.
type Tx struct {
	x   *conn
	db  *DB
	buf *writeBuffer // an optimistic batch's prefetched rows and write-behind buffer; nil = every call is a statement
	// locked are the advisory locks the transaction holds (PostgreSQL),
	// so that taking one again costs no round trip.
	locked map[string]bool
}

type writeReq struct {
	ctx    context.Context
	fn     func(*Tx) error
	hint   *Hint // what fn will touch (nil: nothing known); see batch.go
	done   chan error
	queued time.Time // when Write was called, for the Observer's wait
}

// Write runs fn in a transaction and returns once it has committed (nil) or
// failed. fn's writes commit together or not at all; if fn returns an error
// they are undone and Write returns that error. Concurrent calls share
// transactions (group commit) without sharing failure: a function that
// fails is undone alone. fn may run on another goroutine and must not block
// on the network. fn may be called more than once (when another function in
// its batch fails, the batch is rolled back and run again): only the call
// whose transaction commits counts, so fn must act only through tx and set
// what it reports afresh on every call.
func (db *DB) Write(ctx context.Context, fn func(*Tx) error) error {
	return db.write(ctx, nil, fn)
}

func (db *DB) write(ctx context.Context, h *Hint, fn func(*Tx) error) error {
	req := &writeReq{ctx: ctx, fn: fn, hint: h, done: make(chan error, 1), queued: time.Now()}
	select {
	case db.writes <- req:
	case <-ctx.Done():
		return errs.Wrap(errs.Unavailable, "sqldb.Write", ctx.Err())
	case <-db.stop:
		return errs.E(errs.Unavailable, "sqldb.Write", "database is closing")
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
			return errs.E(errs.Unavailable, "sqldb.Write", "database is closed")
		}
	}
}

// commitLoop is the goroutine that runs every write: it takes whatever is
// waiting (up to maxBatch) and commits it as one transaction.
func (db *DB) commitLoop() {
	c := &committer{db: db}
	if db.dialect == SQLite {
		c.wal = newWALKeeper(db)
		go c.wal.run()
	}
	defer c.close()
	batch := make([]*writeReq, 0, maxBatch)
	for {
		select {
		case req := <-db.writes:
			batch = append(batch[:0], req)
		case <-db.stop:
			c.drain()
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
		c.commit(batch)
	}
}

// committer is the state of the goroutine that runs every write.
type committer struct {
	db *DB
	// On SQLite the committer is the only writer. It writes through a
	// connection of its own with automatic checkpoints off, and wal moves
	// the WAL's pages into the database file from another goroutine, so
	// that a commit never waits for a checkpoint's copying and fsyncs.
	conn *sqlx.Conn
	wal  *walKeeper
}

// drain finishes the writes queued before Close.
func (c *committer) drain() {
	for {
		select {
		case req := <-c.db.writes:
			c.commit([]*writeReq{req})
		default:
			return
		}
	}
}

// close stops the WAL keeper and releases the writer's connection.
func (c *committer) close() {
	if c.wal != nil {
		c.wal.close()
	}
	if c.conn != nil {
		c.conn.Close()
	}
}

func (c *committer) commit(batch []*writeReq) {
	results := make([]error, len(batch))
	began := time.Now()
	err := c.runBatch(batch, results)
	if err == nil {
		c.retryConflicts(batch, results)
	}
	c.db.observe(batch, began)
	for i, req := range batch {
		if err != nil {
			req.done <- err
		} else {
			req.done <- results[i]
		}
	}
	if c.wal != nil {
		c.wal.committed()
		switch {
		case c.wal.frames.Load() >= walHardFrames:
			c.checkpoint("RESTART")
		case c.wal.restartWanted():
			c.checkpoint("PASSIVE")
		}
	}
}

// begin starts a write transaction: on the writer's own connection on
// SQLite (opened on first use, and again after a failure), from the pool on
// PostgreSQL.
func (c *committer) begin() (*sqlx.Tx, error) {
	if c.wal == nil {
		return c.db.x.Beginx()
	}
	ctx := context.Background()
	if c.conn == nil {
		conn, err := c.db.x.Connx(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := conn.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 0"); err != nil {
			conn.Close()
			return nil, err
		}
		c.conn = conn
	}
	x, err := c.conn.BeginTxx(ctx, nil)
	if err != nil {
		c.conn.Close()
		c.conn = nil
	}
	return x, err
}

// checkpoint backfills the WAL on the writer's connection, between two
// transactions, so that the next one can start the WAL over from its
// beginning. In PASSIVE mode it never waits: if the keeper is
// checkpointing at the same moment, or a reader still uses an old
// snapshot, it tries again after the next batch.
//
// mode is PASSIVE, or RESTART once the WAL has grown past walHardFrames
// (checkpoints falling behind the writes, on a slow disk): RESTART waits
// for the keeper's checkpoint and for readers (up to the busy timeout) and
// copies everything, so the next transaction starts the WAL over. The
// writes wait for it meanwhile: backpressure, instead of a WAL that grows
// as long as the disk stays behind.
func (c *committer) checkpoint(mode string) {
	if c.conn == nil {
		return
	}
	var busy, frames, copied int
	err := c.conn.QueryRowxContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
	if err != nil {
		c.db.log.Warn("WAL checkpoint failed", "mode", mode, "err", err)
		return
	}
	if busy != 0 || copied < frames {
		c.wal.restart.Store(true)
		return
	}
	c.wal.frames.Store(0) // the next transaction starts the WAL over
}

// runBatch runs the batch in one transaction. It returns a non-nil error
// only when the transaction as a whole failed; each function's own outcome
// goes into results.
//
// Functions seldom fail, so a batch first runs without savepoints: a
// savepoint per function costs two more statements (round trips on
// PostgreSQL) and, on SQLite, a copy of every page the function touches.
// If a function fails, that transaction is rolled back and the batch runs
// again with a savepoint per function, so that only the failed ones are
// undone.
func (c *committer) runBatch(batch []*writeReq, results []error) error {
	runs := make([]runState, len(batch))
	tx := &Tx{db: c.db}
	// A write that may fire campaigns runs buffered even alone: its hot
	// counters (a campaign's budget, a pool's stock) are then taken at the
	// end of the transaction, not locked from its first firing to COMMIT,
	// which on PostgreSQL is what every other committer's transaction
	// waits for.
	if len(batch) > 1 || batch[0].hint != nil && len(batch[0].hint.Campaigns) > 0 {
		failed, err := c.attempt(tx, batch, runs, results, false)
		if err != nil || !failed {
			return err
		}
	}
	_, err := c.attempt(tx, batch, runs, results, true)
	return err
}

// runState says whether a queued write runs. It is decided once, when a
// batch first reaches the write, from whether its caller still waits; a
// write that ran in a rolled-back attempt runs again in the next.
type runState uint8

const (
	undecided runState = iota
	willRun
	skipped
)

// attempt runs the batch in a new transaction and commits it. With isolate
// each function runs in its own savepoint, and one that fails is rolled
// back to it; without, the first failure rolls the whole transaction back
// and attempt returns failed. A batch of one needs no savepoint either way.
func (c *committer) attempt(tx *Tx, batch []*writeReq, runs []runState, results []error, isolate bool) (failed bool, err error) {
	const op = "sqldb.Write"
	x, err := c.begin()
	if err != nil {
		return false, errs.Wrap(errs.Unavailable, op, err)
	}
	tx.x, tx.buf, tx.locked = &conn{x: x, tx: tx}, nil, nil
	for i, req := range batch {
		if runs[i] == undecided {
			runs[i] = willRun
			if err := req.ctx.Err(); err != nil {
				results[i], runs[i] = errs.Wrap(errs.Unavailable, op, err), skipped
			}
		}
	}
	single := len(batch) == 1
	if !isolate {
		// Optimistic: no savepoints, hinted rows prepared for the whole
		// batch and writes buffered (batch.go). Any failure, a flush's
		// included, sends the batch to the isolated run.
		if err := tx.prefetch(batch, runs); err != nil {
			c.db.log.Debug("batch prefetch failed; running the batch write by write", "err", err)
			x.Rollback()
			return true, nil
		}
		for i, req := range batch {
			if runs[i] == skipped {
				continue
			}
			if results[i] = call(req.fn, tx); results[i] != nil || tx.buf.err != nil {
				x.Rollback()
				return true, nil
			}
		}
		if err := tx.flush(); err != nil || tx.buf.unclaimed() {
			c.db.log.Debug("batch flush failed; running the batch write by write", "err", err)
			x.Rollback()
			return true, nil
		}
		tx.buf = nil
		if err := x.Commit(); err != nil {
			return false, errs.Wrap(errs.Unavailable, op, err)
		}
		return false, nil
	}
	if err := tx.lockHinted(batch, runs); err != nil {
		x.Rollback()
		return false, errs.Wrap(errs.Unavailable, op, err)
	}
	for i, req := range batch {
		if runs[i] == skipped {
			continue
		}
		if single {
			results[i] = call(req.fn, tx)
			continue
		}
		if _, err := x.Exec("SAVEPOINT w"); err != nil {
			x.Rollback()
			return false, errs.Wrap(errs.Unavailable, op, err)
		}
		if results[i] = call(req.fn, tx); results[i] != nil {
			if _, err := x.Exec("ROLLBACK TO SAVEPOINT w"); err != nil {
				x.Rollback()
				return false, errs.Wrap(errs.Unavailable, op, err)
			}
			tx.locked = nil // a lock taken after the savepoint went with it
		}
		if _, err := x.Exec("RELEASE SAVEPOINT w"); err != nil {
			x.Rollback()
			return false, errs.Wrap(errs.Unavailable, op, err)
		}
	}
	if single && results[0] != nil {
		x.Rollback()
		return false, nil
	}
	if err := x.Commit(); err != nil {
		return false, errs.Wrap(errs.Unavailable, op, err)
	}
	return false, nil
}

// call runs fn, turning a panic into an error so that one bad function
// cannot take the committer (and every writer) down.
func call(fn func(*Tx) error, tx *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errs.Wrap(errs.Other, "sqldb.Write", fmt.Errorf("panic in write function: %v", r))
		}
	}()
	err = fn(tx)
	if err != nil && errors.Is(err, context.Canceled) {
		return errs.Wrap(errs.Unavailable, "sqldb.Write", err)
	}
	return err
}

// The WAL keeper. SQLite appends every commit to the WAL, and a checkpoint
// copies the WAL's pages back into the database file and fsyncs both. By
// default the committing connection checkpoints after every 1000
// pages, inside its COMMIT, so every few batches the single writer and all
// the webhook requests behind it wait for that copy and its fsyncs. Instead
// the writer's connection never checkpoints by itself: the keeper runs a
// PASSIVE checkpoint (which never blocks the writer or readers) from another
// connection at most every walCheckpointEvery while writes come in, and when
// the WAL has grown past walRestartFrames it asks the committer to
// checkpoint once between two transactions, which lets the next transaction
// start the WAL over from its beginning, so the file stays bounded.
const (
	walCheckpointEvery = 50 * time.Millisecond
	walRestartFrames   = 4096 // 16 MiB of 4 KiB pages
	walHardFrames      = 3 * walRestartFrames
)

type walKeeper struct {
	db      *DB
	kick    chan struct{} // something was committed
	restart atomic.Bool   // the WAL is long: the committer should checkpoint
	frames  atomic.Int64  // the WAL's length in frames at the keeper's last checkpoint
	stop    chan struct{}
	done    chan struct{}
}

func newWALKeeper(db *DB) *walKeeper {
	return &walKeeper{db: db, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// committed tells the keeper that the WAL grew; it never blocks.
func (w *walKeeper) committed() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// restartWanted reports (once) that the committer should checkpoint.
func (w *walKeeper) restartWanted() bool { return w.restart.Swap(false) }

func (w *walKeeper) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
		}
		// One row: busy, frames in the WAL, frames copied to the database.
		var busy, frames, copied int
		err := w.db.x.QueryRowx("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied)
		if err != nil {
			w.db.log.Warn("WAL checkpoint failed", "err", err)
		} else {
			w.frames.Store(int64(frames))
			if frames >= walRestartFrames {
				w.restart.Store(true)
			}
		}
		select {
		case <-w.stop:
			return
		case <-time.After(walCheckpointEvery):
		}
	}
}

func (w *walKeeper) close() {
	close(w.stop)
	<-w.done
}
