package sqldb

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
)

// Batched writes. A webhook push costs five or six small statements (the
// event under its dedupe key, the follower read and upserted, the person
// noted as seen, an outbox row), and one after another they are most of
// the committer's time: a statement's fixed cost (cgo, binding, a round
// trip on PostgreSQL) is larger than its work. So when a batch runs
// optimistically (no savepoints), the committer
//
//   - first inserts the events of every hinted write in ONE multi-row
//     statement (sorted by dedupe key, so two committers take the keys in
//     the same order) and reads the followers and seen-hashes the hints name
//     in one statement each;
//   - then runs the write functions, whose InsertEvent, Follower and Seen
//     answer from what was read, and whose SaveFollower, Seen and AddOutbox
//     are kept in a write-behind buffer;
//   - flushes the buffer as one multi-row statement per table, before any
//     other statement that names one of those tables and before COMMIT;
//   - forgets the followers it read when a statement that is not a SELECT
//     names followers (SetUnionID, the follower sync's upsert and unfollow
//     marking change rows the cache holds), and flushes a follower's
//     pending save before a second save of it (the buffer holds one row
//     per follower, and the upsert merges the second into the first).
//
// Every statement inside the transaction sees what it would have seen
// without the buffer (no table has triggers or foreign keys, so naming the
// table is the only way to depend on it), and the answers the functions got
// are the ones single statements would have given. Another process cannot
// change a follower between the read and the flush: the read is made under
// the hinted followers' locks (PostgreSQL advisory locks, sorted, one
// statement), which every transaction that reads a follower to change it
// takes first (engine.apply, schedule and reminder sends, the follower
// sync's page writes, 1,000 followers a transaction), so a second one waits
// and reads what the first committed. Where the rest cannot be known in advance the flush
// checks it: a seen-hash another process inserted after the read, or an
// event row no function claimed, fails the attempt, and the batch runs
// again statement by statement with a savepoint per write (the path every
// failure takes), which is also the only path a batch of one takes.

// Hint names what a write will touch, so that a batch's committer can do
// it for the whole batch in a few statements. Every field is optional.
type Hint struct {
	// Event is the push the write will store with InsertEvent(Event, Raw,
	// ReceivedAt); the committer inserts it up front.
	Event      *events.Event
	Raw        []byte
	ReceivedAt time.Time
	// OpenIDs are followers the write reads; Seen, seen_people hashes.
	OpenIDs []string
	Seen    []string
	// Campaigns are the campaigns the write may fire for OpenIDs: the
	// committer then takes those followers' locks (PostgreSQL) and reads
	// their tags, their firings of these campaigns and the coupons they
	// hold once for the batch (batch_campaigns.go).
	Campaigns []string
}

// WriteHinted is Write with a Hint. The function must behave exactly as it
// would under Write: the hint only lets the committer prepare.
func (db *DB) WriteHinted(ctx context.Context, h *Hint, fn func(*Tx) error) error {
	return db.write(ctx, h, fn)
}

// buffered are the tables the write-behind buffer holds rows for.
// A statement naming one of them writes the whole buffer out first; one
// naming a table of the campaign path only that table's rows
// (flushCampaigns).
var buffered = []string{"followers", "seen_people", "outbox", "campaign_budgets", "coupon_pools"}

// batchEvent is an event the committer inserted (or found) up front.
type batchEvent struct {
	id      int64
	dup     bool   // stored before this batch
	reply   string // the stored reply of a dup
	claimed bool   // a write's InsertEvent has answered for it
	owner   int    // the request whose hint inserted it
}

// writeBuffer is a batch's prefetched rows and write-behind buffer.
type writeBuffer struct {
	events    map[string]*batchEvent
	followers map[string]*followers.Follower // openid -> row as the tx sees it; nil = no row
	seen      map[string]bool                // hash -> in the table (as the tx sees it)
	// pending writes
	saved   map[string]*followers.Follower
	newSeen []seenRow
	outbox  []outbox.Item
	// Hot counters: a campaign's budget and a pool's stock are one row
	// each that every push of a campaign increments. Taken one statement
	// at a time, the row stays locked from a batch's first push to its
	// COMMIT, and on PostgreSQL every other committer and process waits
	// for it. So a batch reads the count (no lock), decides in memory,
	// and adds what it took in one conditional UPDATE at the end of the
	// batch, which fails the attempt (and sends the batch write by write)
	// if another transaction took the rest meanwhile: never past the limit.
	budgets map[string]*counter // campaign id
	pools   map[string]*counter // pool id
	campaignBuffer
	err error // a failed flush: the attempt must not commit
}

// counter is a hot counter as the batch sees it.
type counter struct {
	base  int64 // the stored count when read (or last flushed)
	taken int64 // taken by this batch since
	limit int64 // budget, or the pool's stock
	row   bool  // the row exists
}

// take takes one unit if the count has not reached the limit. Counts only
// grow: spent now is spent for the rest of the batch.
func (c *counter) take() bool {
	if c.base+c.taken >= c.limit {
		return false
	}
	c.taken++
	return true
}

func (b *writeBuffer) dirty() bool {
	if len(b.saved) > 0 || len(b.newSeen) > 0 || len(b.outbox) > 0 {
		return true
	}
	for _, c := range b.budgets {
		if c.taken > 0 {
			return true
		}
	}
	for _, c := range b.pools {
		if c.taken > 0 {
			return true
		}
	}
	return false
}

type seenRow struct {
	hash string
	at   time.Time
}

// conn is the transaction as the Tx methods use it: every statement that
// names a buffered table flushes the buffer first.
type conn struct {
	x  *sqlx.Tx
	tx *Tx
}

func (c *conn) before(query string) error {
	b := c.tx.buf
	if b == nil {
		return nil
	}
	if b.dirty() {
		for _, t := range buffered {
			if strings.Contains(query, t) {
				if err := c.tx.flush(); err != nil {
					return err
				}
				break
			}
		}
	}
	if b.campaignsDirty() {
		// Only the tables the statement names: a firing's history or
		// coupons held read on PostgreSQL must not write out the hot
		// counters (which would hold their rows locked to COMMIT).
		if err := c.tx.flushCampaigns(query); err != nil {
			if b.err == nil {
				b.err = err
			}
			return err
		}
	}
	// A statement that may change followers (SetUnionID, the follower
	// sync's upsert and unfollow marking...) makes the prefetched rows
	// stale: later reads and saves in the batch go to the table (the buffer
	// has just been flushed, so the table is the whole truth).
	if strings.Contains(query, "followers") && !isRead(query) {
		clear(b.followers)
	}
	if strings.Contains(query, "seen_people") && !isRead(query) {
		clear(b.seen) // the same for people noted by a statement
	}
	if strings.Contains(query, "campaign_budgets") && !isRead(query) {
		clear(b.budgets)
	}
	if strings.Contains(query, "coupon_pools") && !isRead(query) {
		clear(b.pools) // SyncPool may have changed the stock
	}
	if !isRead(query) {
		b.staleAfter(query)
	}
	return nil
}

// isRead reports whether query is a plain SELECT (which changes nothing).
func isRead(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	return len(q) >= 6 && strings.EqualFold(q[:6], "SELECT")
}

func (c *conn) Exec(query string, args ...any) (sql.Result, error) {
	if err := c.before(query); err != nil {
		return nil, err
	}
	return c.x.Exec(query, args...)
}

func (c *conn) Get(dest any, query string, args ...any) error {
	if err := c.before(query); err != nil {
		return err
	}
	return c.x.Get(dest, query, args...)
}

func (c *conn) Select(dest any, query string, args ...any) error {
	if err := c.before(query); err != nil {
		return err
	}
	return c.x.Select(dest, query, args...)
}

func (c *conn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := c.before(query); err != nil {
		return nil, err
	}
	return c.x.QueryContext(ctx, query, args...)
}

func (c *conn) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	if err := c.before(query); err != nil {
		return nil, err
	}
	return c.x.QueryxContext(ctx, query, args...)
}

// QueryRowxContext cannot return the flush's error; the buffer keeps it and
// the attempt fails (see writeBuffer.err).
func (c *conn) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	_ = c.before(query)
	return c.x.QueryRowxContext(ctx, query, args...)
}

func (c *conn) Rebind(q string) string { return c.x.Rebind(q) }

// prefetch prepares the batch's hinted writes in tx (see the top of this
// file): the events inserted, the followers and seen-hashes read.
func (tx *Tx) prefetch(batch []*writeReq, runs []runState) error {
	const op = "sqldb.prefetch"
	b := &writeBuffer{events: map[string]*batchEvent{}, followers: map[string]*followers.Follower{}, seen: map[string]bool{}, saved: map[string]*followers.Follower{},
		budgets: map[string]*counter{}, pools: map[string]*counter{}}
	b.replies = map[int64]string{}
	tx.buf = b
	type evRow struct {
		key string
		h   *Hint
	}
	var evs []evRow
	var openids, hashes, campaignIDs []string
	for i, req := range batch {
		h := req.hint
		if h == nil || runs[i] != willRun {
			continue
		}
		if h.Event != nil {
			key := h.Event.DedupeKey()
			if _, ok := b.events[key]; !ok {
				b.events[key] = &batchEvent{owner: i}
				evs = append(evs, evRow{key, h})
			}
		}
		openids = append(openids, h.OpenIDs...)
		hashes = append(hashes, h.Seen...)
		campaignIDs = append(campaignIDs, h.Campaigns...)
	}
	slices.Sort(openids)
	openids = slices.Compact(openids)
	// The followers' locks first (LockFollower's, in sorted order), before
	// the events' keys and before anything is read, so that what is read
	// below for them, their rows and, for the campaign path, their firing
	// history and coupons held, stays true to COMMIT: every write that
	// reads a follower to change it takes the lock before it reads
	// (engine.apply, the campaign path, schedule and reminder sends), and
	// the isolated run takes the batch's locks the same way first
	// (lockHinted), so every transaction takes followers' locks first and
	// sorted, then the rest. Without it a follower another process creates
	// or changes between this read and the flush would be overwritten by a
	// row derived from the stale read.
	if err := tx.lock(openids...); err != nil {
		return errs.Wrap(errs.Other, op, err)
	}
	if len(evs) > 0 {
		slices.SortFunc(evs, func(a, b evRow) int { return strings.Compare(a.key, b.key) })
		args := make([]any, 0, 6*len(evs))
		for _, e := range evs {
			args = append(args, e.key, string(e.h.Event.Type), e.h.Event.OpenID, ts(e.h.Event.CreatedAt), ts(e.h.ReceivedAt), string(e.h.Raw))
		}
		var got []struct {
			ID  int64  `db:"id"`
			Key string `db:"dedupe_key"`
		}
		err := tx.x.x.Select(&got, tx.db.rebind(`
INSERT INTO inbound_events (dedupe_key, type, openid, created_at, received_at, payload)
VALUES `+rowMarks(len(evs), 6)+`
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id, dedupe_key`), args...)
		if err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		for _, g := range got {
			b.events[g.Key].id = g.ID
		}
		if len(got) < len(evs) {
			var dups []any
			for _, e := range evs {
				if b.events[e.key].id == 0 {
					dups = append(dups, e.key)
				}
			}
			var old []struct {
				ID    int64  `db:"id"`
				Key   string `db:"dedupe_key"`
				Reply string `db:"reply"`
			}
			if err := tx.x.x.Select(&old, tx.db.rebind(`SELECT id, dedupe_key, reply FROM inbound_events WHERE dedupe_key IN (`+marks(len(dups))+`)`), dups...); err != nil {
				return errs.Wrap(errs.Other, op, err)
			}
			for _, o := range old {
				e := b.events[o.Key]
				e.id, e.dup, e.reply = o.ID, true, o.Reply
			}
			for _, e := range evs {
				if b.events[e.key].id == 0 {
					return errs.E(errs.Other, op, "event %s neither inserted nor found", e.key)
				}
			}
		}
	}
	if len(openids) > 0 {
		args := make([]any, len(openids))
		for i, id := range openids {
			args[i] = id
			b.followers[id] = nil
		}
		var rows []followers.Follower
		if err := tx.x.x.Select(&rows, tx.db.rebind(`SELECT `+followerCols+` FROM followers WHERE openid IN (`+marks(len(args))+`)`), args...); err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		for i := range rows {
			b.followers[rows[i].OpenID] = &rows[i]
		}
		if err := tx.prefetchCampaigns(openids, campaignIDs); err != nil {
			return err
		}
	}
	if len(hashes) > 0 {
		slices.Sort(hashes)
		hashes = slices.Compact(hashes)
		args := make([]any, len(hashes))
		for i, h := range hashes {
			args[i] = h
			b.seen[h] = false
		}
		var have []string
		if err := tx.x.x.Select(&have, tx.db.rebind(`SELECT hash FROM seen_people WHERE hash IN (`+marks(len(args))+`)`), args...); err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		for _, h := range have {
			b.seen[h] = true
		}
	}
	return nil
}

// unclaimed reports whether an event inserted up front was not claimed by
// its write (which then did not store it as the hint said): the attempt
// must not commit.
func (b *writeBuffer) unclaimed() bool {
	for _, e := range b.events {
		if !e.dup && !e.claimed {
			return true
		}
	}
	return false
}

// flushRows bounds the rows of one flush statement: at 9 columns, 9,000
// parameters, under SQLite's 32,766 and PostgreSQL's 65,535 (a batch's
// outbox items are not bounded by maxBatch: one write may add thousands).
const flushRows = 1000

// flush writes the buffer: one multi-row statement per table (per
// flushRows rows), rows sorted by key. A failure is kept in the buffer so
// that the attempt fails.
func (tx *Tx) flush() error {
	b := tx.buf
	err := tx.flushBuffer(b)
	if err != nil && b.err == nil {
		b.err = err
	}
	return err
}

// lockHinted takes the locks of the followers the batch's writes that run
// name in their hints, sorted, in one statement: the isolated run's
// equivalent of prefetch's, before any write runs and outside the
// savepoints, so that it holds them to COMMIT and takes followers' locks
// in the order every transaction does.
func (tx *Tx) lockHinted(batch []*writeReq, runs []runState) error {
	var openids []string
	for i, req := range batch {
		if req.hint != nil && runs[i] == willRun {
			openids = append(openids, req.hint.OpenIDs...)
		}
	}
	slices.Sort(openids)
	return tx.lock(slices.Compact(openids)...)
}

func (tx *Tx) flushBuffer(b *writeBuffer) error {
	const op = "sqldb.flush"
	if b.err != nil {
		return b.err
	}
	if len(b.saved) > 0 {
		ids := make([]string, 0, len(b.saved))
		for id := range b.saved {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for chunk := range slices.Chunk(ids, flushRows) {
			args := make([]any, 0, 9*len(chunk))
			for _, id := range chunk {
				f := b.saved[id]
				args = append(args, f.OpenID, f.UnionID, f.Subscribed, tsp(f.SubscribedAt), tsp(f.UnsubscribedAt),
					ts(f.FirstSeenAt), f.FirstScene, ts(f.LastEventAt), f.HomeStore)
			}
			if _, err := tx.x.x.Exec(tx.db.rebind(`
INSERT INTO followers (`+followerCols+`) VALUES `+rowMarks(len(chunk), 9)+`
`+followerUpsert), args...); err != nil {
				return errs.Wrap(errs.Other, op, err)
			}
		}
		clear(b.saved)
	}
	if len(b.newSeen) > 0 {
		hs := b.newSeen
		slices.SortFunc(hs, func(a, b seenRow) int { return strings.Compare(a.hash, b.hash) })
		var got []string
		for chunk := range slices.Chunk(hs, flushRows) {
			args := make([]any, 0, 2*len(chunk))
			for _, h := range chunk {
				args = append(args, h.hash, ts(h.at))
			}
			var some []string
			if err := tx.x.x.Select(&some, tx.db.rebind(`INSERT INTO seen_people (hash, first_seen_at) VALUES `+rowMarks(len(chunk), 2)+` ON CONFLICT (hash) DO NOTHING RETURNING hash`), args...); err != nil {
				return errs.Wrap(errs.Other, op, err)
			}
			got = append(got, some...)
		}
		if len(got) != len(hs) {
			// Another process noted one of these people after the batch
			// read them: a write was told "never seen" wrongly.
			return errs.E(errs.Conflict, op, "%d of %d people were noted by another transaction meanwhile", len(hs)-len(got), len(hs))
		}
		b.newSeen = b.newSeen[:0]
	}
	if err := tx.flushCampaigns(""); err != nil {
		return err
	}
	if len(b.outbox) > 0 {
		for chunk := range slices.Chunk(b.outbox, flushRows) {
			args := make([]any, 0, 9*len(chunk))
			for _, it := range chunk {
				args = append(args, it.ID, string(it.Kind), string(it.Payload), ts(it.RunAt), string(outbox.Pending), 0, "", ts(it.CreatedAt), ts(it.UpdatedAt))
			}
			if _, err := tx.x.x.Exec(tx.db.rebind(`INSERT INTO outbox (`+outboxCols+`) VALUES `+rowMarks(len(chunk), 9)), args...); err != nil {
				return errs.Wrap(errs.Other, op, err)
			}
		}
		b.outbox = b.outbox[:0]
	}
	// The hot rows last, so that they are locked for as short as can be.
	for _, id := range slices.Sorted(maps.Keys(b.budgets)) {
		c := b.budgets[id]
		if c.taken == 0 {
			continue
		}
		if !c.row {
			if _, err := tx.x.x.Exec(tx.db.rebind(`INSERT INTO campaign_budgets (campaign_id, fired) VALUES (?, 0) ON CONFLICT (campaign_id) DO NOTHING`), id); err != nil {
				return errs.Wrap(errs.Other, op, err)
			}
			c.row = true
		}
		res, err := tx.x.x.Exec(tx.db.rebind(`UPDATE campaign_budgets SET fired = fired + ? WHERE campaign_id = ? AND fired + ? <= ?`), c.taken, id, c.taken, c.limit)
		if err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.E(errs.Conflict, op, "campaign %s: another transaction spent the budget meanwhile", id)
		}
		c.base, c.taken = c.base+c.taken, 0
	}
	for _, id := range slices.Sorted(maps.Keys(b.pools)) {
		c := b.pools[id]
		if c.taken == 0 {
			continue
		}
		res, err := tx.x.x.Exec(tx.db.rebind(`UPDATE coupon_pools SET issued = issued + ? WHERE id = ? AND issued + ? <= stock`), c.taken, id, c.taken)
		if err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.E(errs.Conflict, op, "pool %s: another transaction took the stock meanwhile", id)
		}
		c.base, c.taken = c.base+c.taken, 0
	}
	return nil
}

// takeBudget is TakeBudget in an optimistic batch.
func (tx *Tx) takeBudget(b *writeBuffer, id string, budget int64) (bool, error) {
	c, ok := b.budgets[id]
	if !ok {
		var fired []int64
		if err := tx.x.x.Select(&fired, tx.db.rebind(`SELECT fired FROM campaign_budgets WHERE campaign_id = ?`), id); err != nil {
			return false, errs.Wrap(errs.Other, "sqldb.TakeBudget", err)
		}
		c = &counter{limit: budget}
		if len(fired) == 1 {
			c.base, c.row = fired[0], true
		}
		b.budgets[id] = c
	}
	c.limit = min(c.limit, budget) // the set may change within a batch: the lower holds
	return c.take(), nil
}

// takeFromPool is TakeFromPool in an optimistic batch.
func (tx *Tx) takeFromPool(b *writeBuffer, id string) (bool, error) {
	c, ok := b.pools[id]
	if !ok {
		var rows []struct {
			Issued int64 `db:"issued"`
			Stock  int64 `db:"stock"`
		}
		if err := tx.x.x.Select(&rows, tx.db.rebind(`SELECT issued, stock FROM coupon_pools WHERE id = ?`), id); err != nil {
			return false, errs.Wrap(errs.Other, "sqldb.TakeFromPool", err)
		}
		if len(rows) == 0 {
			return false, nil // unknown pool
		}
		c = &counter{base: rows[0].Issued, limit: rows[0].Stock, row: true}
		b.pools[id] = c
	}
	return c.take(), nil
}

// merged is the row SaveFollower's upsert leaves when prev (nil: none) is
// in the table and f is saved: followerUpsert in Go.
func merged(prev, f *followers.Follower) *followers.Follower {
	m := *f
	m.SubscribedAt, m.UnsubscribedAt = tsp(f.SubscribedAt), tsp(f.UnsubscribedAt)
	m.FirstSeenAt, m.LastEventAt = ts(f.FirstSeenAt), ts(f.LastEventAt)
	if prev == nil {
		return &m
	}
	if m.UnionID == "" {
		m.UnionID = prev.UnionID
	}
	if prev.FirstScene != "" {
		m.FirstScene = prev.FirstScene
	}
	if prev.HomeStore != "" {
		m.HomeStore = prev.HomeStore
	}
	m.FirstSeenAt = prev.FirstSeenAt
	return &m
}
