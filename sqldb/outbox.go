package sqldb

import (
	"context"
	"encoding/json"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
)

const outboxCols = `id, kind, payload, run_at, state, attempts, last_error, created_at, updated_at`

// AddOutbox stores it, pending, in the current transaction.
func (tx *Tx) AddOutbox(it outbox.Item) error {
	if b := tx.buf; b != nil {
		b.outbox = append(b.outbox, it)
		return nil
	}
	_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO outbox (`+outboxCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		it.ID, string(it.Kind), string(it.Payload), ts(it.RunAt), string(outbox.Pending), 0, "", ts(it.CreatedAt), ts(it.UpdatedAt))
	return errs.Wrap(errs.Other, "sqldb.AddOutbox", err)
}

// OutboxItem returns the item with id, or NotFound.
func (tx *Tx) OutboxItem(id string) (*outbox.Item, error) {
	return getOne[outbox.Item](context.Background(), tx.x, "sqldb.OutboxItem", "outbox item "+id,
		`SELECT `+outboxCols+` FROM outbox WHERE id = ?`, id)
}

// OutboxItem reads the item with id outside any write, or NotFound.
func (db *DB) OutboxItem(ctx context.Context, id string) (*outbox.Item, error) {
	return getOne[outbox.Item](ctx, db.x, "sqldb.OutboxItem", "outbox item "+id,
		`SELECT `+outboxCols+` FROM outbox WHERE id = ?`, id)
}

// FinishOutbox moves a pending item to state (done or failed) with the
// reason. It reports false when the item was not pending any more, so a
// repeated delivery can tell that the work is already finished.
func (tx *Tx) FinishOutbox(id string, state outbox.State, reason string, now time.Time) (bool, error) {
	res, err := tx.x.Exec(tx.db.rebind(`
UPDATE outbox SET state = ?, last_error = ?, attempts = attempts + 1, updated_at = ?
WHERE id = ? AND state = 'pending'`), string(state), reason, ts(now), id)
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.FinishOutbox", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// NoteOutboxAttempt counts a failed attempt that will be retried.
func (tx *Tx) NoteOutboxAttempt(id, reason string, now time.Time) error {
	_, err := tx.x.Exec(tx.db.rebind(`
UPDATE outbox SET attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ? AND state = 'pending'`),
		reason, ts(now), id)
	return errs.Wrap(errs.Other, "sqldb.NoteOutboxAttempt", err)
}

// PendingOutbox returns up to limit pending items created before
// createdBefore whose id is greater than after ("" = from the start), in id
// order (ids are time-ordered): the relay's work list, a page at a time.
func (db *DB) PendingOutbox(ctx context.Context, createdBefore time.Time, after string, limit int) ([]outbox.Item, error) {
	var out []outbox.Item
	err := db.x.SelectContext(ctx, &out, db.rebind(`
SELECT `+outboxCols+` FROM outbox WHERE state = 'pending' AND created_at < ? AND id > ? ORDER BY id LIMIT ?`),
		ts(createdBefore), after, limit)
	return out, errs.Wrap(errs.Other, "sqldb.PendingOutbox", err)
}

// CountOutbox returns the number of items in each state.
func (db *DB) CountOutbox(ctx context.Context) (map[outbox.State]int, error) {
	var rows []struct {
		State string `db:"state"`
		N     int    `db:"n"`
	}
	if err := db.x.SelectContext(ctx, &rows, `SELECT state, COUNT(*) AS n FROM outbox GROUP BY state`); err != nil {
		return nil, errs.Wrap(errs.Other, "sqldb.CountOutbox", err)
	}
	m := map[outbox.State]int{}
	for _, r := range rows {
		m[outbox.State(r.State)] = r.N
	}
	return m, nil
}

// UserInfoPending reports whether a user/info lookup for openid is still
// pending (its unionid may yet arrive).
func (tx *Tx) UserInfoPending(openid string) (bool, error) {
	payload, err := json.Marshal(outbox.UserInfoPayload{OpenID: openid})
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.UserInfoPending", err)
	}
	var n int
	err = tx.x.Get(&n, tx.db.rebind(`SELECT COUNT(*) FROM outbox WHERE kind = ? AND state = 'pending' AND payload = ?`),
		string(outbox.UserInfo), string(payload))
	return n > 0, errs.Wrap(errs.Other, "sqldb.UserInfoPending", err)
}

// OutboxBacklog is what the outbox holds that is not done yet.
type OutboxBacklog struct {
	Pending int // items pending, due or not
	// OldestDue is the run time of the pending item that has been due
	// longest; zero when no pending item is due yet.
	OldestDue time.Time
}

// OutboxBacklog counts the pending outbox items and finds the oldest due
// one (run_at at or before now), for the metrics: an item stays pending
// from its commit until a worker finishes it, so a growing backlog or an
// old due item means the relay or the workers are behind.
func (db *DB) OutboxBacklog(ctx context.Context, now time.Time) (OutboxBacklog, error) {
	const op = "sqldb.OutboxBacklog"
	var b OutboxBacklog
	if err := db.x.GetContext(ctx, &b.Pending, `SELECT COUNT(*) FROM outbox WHERE state = 'pending'`); err != nil {
		return b, errs.Wrap(errs.Other, op, err)
	}
	if b.Pending == 0 {
		return b, nil
	}
	// Read as a column, not MIN(): SQLite's driver only turns typed columns
	// back into times. The partial index outbox_pending serves both queries.
	var oldest []time.Time
	err := db.x.SelectContext(ctx, &oldest, db.rebind(`
SELECT run_at FROM outbox WHERE state = 'pending' AND run_at <= ? ORDER BY run_at LIMIT 1`), ts(now))
	if err != nil {
		return b, errs.Wrap(errs.Other, op, err)
	}
	if len(oldest) == 1 {
		b.OldestDue = oldest[0]
	}
	return b, nil
}
