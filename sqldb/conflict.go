package sqldb

import (
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
)

// maxConflictRetries bounds how often a write that lost a deadlock runs again.
const maxConflictRetries = 3

// isConflict reports whether err is PostgreSQL aborting a statement to
// break a deadlock (40P01) or a serialization failure (40001): the write
// did nothing, and can run again once the other transaction has ended.
//
// Several omo processes each run a committer on one PostgreSQL, so two
// batches can wait on each other: batch A has taken a hot row (a campaign's
// budget, a pool's count) and waits for the dedupe key of a push that
// batch B inserted; B, holding that key, waits for the hot row. PostgreSQL
// ends one statement after deadlock_timeout (1 s by default).
func isConflict(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40P01" || pe.Code == "40001")
}

// retryConflicts runs the writes of a committed batch that lost a deadlock
// again, in a transaction of their own, up to maxConflictRetries times, and
// puts their new outcomes in results. The winner has committed or rolled
// back by then, so a retried push finds its dedupe key decided: stored (a
// duplicate now) or free. A write function may run more than once (see
// Write), and the run that lost was undone to its savepoint.
func (c *committer) retryConflicts(batch []*writeReq, results []error) {
	for range maxConflictRetries {
		var again []*writeReq
		var at []int
		for i, err := range results {
			if isConflict(err) {
				again, at = append(again, batch[i]), append(at, i)
			}
		}
		if len(again) == 0 {
			return
		}
		if o := c.db.observer.Load(); o != nil {
			(*o).Conflicts(len(again))
		}
		c.db.log.Info("writes lost a deadlock to another process's transaction; running them again", "writes", len(again))
		sub := make([]error, len(again))
		err := c.runBatch(again, sub)
		for j, i := range at {
			if err != nil {
				results[i] = err
			} else {
				results[i] = sub[j]
			}
		}
		if err != nil {
			return
		}
	}
}
