package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
)

// InboundEvent is a stored push.
type InboundEvent struct {
	ID         int64     `db:"id"`
	DedupeKey  string    `db:"dedupe_key"`
	Type       string    `db:"type"`
	OpenID     string    `db:"openid"`
	CreatedAt  time.Time `db:"created_at"`
	ReceivedAt time.Time `db:"received_at"`
	Payload    string    `db:"payload"`
	Reply      string    `db:"reply"`
}

// InsertEvent stores ev with its raw plaintext XML unless a push with the
// same dedupe key is already stored. It returns the new row's id, or
// dup=true and the earlier push's id when the key was seen before (the
// earlier push's transaction has then committed: a unique index is the
// arbiter, so this holds across processes and restarts).
func (tx *Tx) InsertEvent(ev *events.Event, raw []byte, receivedAt time.Time) (id int64, dup bool, err error) {
	const op = "sqldb.InsertEvent"
	key := ev.DedupeKey()
	if b := tx.buf; b != nil {
		if e, ok := b.events[key]; ok {
			// Inserted (or found) up front for the batch; the first write
			// to ask stored it, any later one in the batch is its repeat.
			if e.dup || e.claimed {
				return e.id, true, nil
			}
			e.claimed = true
			return e.id, false, nil
		}
	}
	err = tx.x.Get(&id, tx.db.rebind(`
INSERT INTO inbound_events (dedupe_key, type, openid, created_at, received_at, payload)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id`), key, string(ev.Type), ev.OpenID, ts(ev.CreatedAt), ts(receivedAt), string(raw))
	if err == nil {
		return id, false, nil
	}
	if err != sql.ErrNoRows {
		return 0, false, errs.Wrap(errs.Other, op, err)
	}
	if err := tx.x.Get(&id, tx.db.rebind(`SELECT id FROM inbound_events WHERE dedupe_key = ?`), key); err != nil {
		return 0, false, errs.Wrap(errs.Other, op, err)
	}
	return id, true, nil
}

// EventReply returns the passive reply recorded for the event with id.
func (tx *Tx) EventReply(id int64) (string, error) {
	if b := tx.buf; b != nil {
		for _, e := range b.events {
			if e.id == id && e.dup {
				return e.reply, nil
			}
		}
	}
	var reply string
	err := tx.x.Get(&reply, tx.db.rebind(`SELECT reply FROM inbound_events WHERE id = ?`), id)
	if err != nil {
		return "", notFound("sqldb.EventReply", err, "event")
	}
	return reply, nil
}

// SetEventReply records the passive reply given to the event with id, so a
// retry of the same push gets the same answer.
func (tx *Tx) SetEventReply(id int64, reply string) error {
	if b := tx.buf; b != nil {
		b.replies[id] = reply
		return nil
	}
	_, err := tx.x.Exec(tx.db.rebind(`UPDATE inbound_events SET reply = ? WHERE id = ?`), reply, id)
	return errs.Wrap(errs.Other, "sqldb.SetEventReply", err)
}

// EventsFor returns the stored pushes of openid, oldest first.
func (db *DB) EventsFor(ctx context.Context, openid string) ([]InboundEvent, error) {
	var out []InboundEvent
	err := db.x.SelectContext(ctx, &out, db.rebind(`
SELECT id, dedupe_key, type, openid, created_at, received_at, payload, reply
FROM inbound_events WHERE openid = ? ORDER BY id`), openid)
	return out, errs.Wrap(errs.Other, "sqldb.EventsFor", err)
}

// CountEvents returns how many pushes are stored.
func (db *DB) CountEvents(ctx context.Context) (int, error) {
	var n int
	err := db.x.GetContext(ctx, &n, `SELECT COUNT(*) FROM inbound_events`)
	return n, errs.Wrap(errs.Other, "sqldb.CountEvents", err)
}
