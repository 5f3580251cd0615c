package sqldb

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
)

// The campaign path in a batch. A push that fires a campaign costs another
// ten or so statements after the follower's (tags, the firing history, the
// coupons held, the coupon, the firing, the message, the store visit, the
// passive reply), each small and each a cgo call on SQLite or a round trip
// on PostgreSQL. In an optimistic batch:
//
//   - AddFiring, AddCoupon, AddMessage, AddStoreVisit and SetEventReply
//     are kept in the write-behind buffer and written as one multi-row
//     statement per table (the replies as one UPDATE), flushed like the
//     others: before a statement that names the table, and before COMMIT.
//     A coupon code another transaction stored meanwhile fails the flush,
//     and with it the attempt (the isolated run then draws a new code).
//   - Tags of the hinted followers are read once for the batch; a statement
//     that changes follower_tags makes later reads go to the table. (Tags
//     are read before the follower's lock on every path, so one read a few
//     statements earlier in the same transaction sees the same.)
//   - The firing history of the hinted campaigns and the coupons held are
//     read once for the batch too, and the batch's own firings and coupons
//     are added to what was read. Nobody else may fire for these followers
//     between that read and the COMMIT: on SQLite the single writer makes
//     the transaction serialisable; on PostgreSQL the committer first takes
//     the followers' advisory locks (LockFollower's, sorted, one
//     statement), which every transaction that fires campaigns takes before
//     it reads the history (engine.apply takes it before the follower's
//     row, so the order is the same on every path).

type firingRow struct {
	Campaign string    `db:"campaign_id"`
	OpenID   string    `db:"openid"`
	Store    string    `db:"store_id"`
	Variant  string    `db:"variant"`
	EventID  *int64    `db:"event_id"`
	At       time.Time `db:"fired_at"`
}

type visitRow struct {
	store, openid, kind string
	newFollower         bool
	at                  time.Time
}

// campaignBuffer is the campaign path's part of a writeBuffer.
type campaignBuffer struct {
	firings  []firingRow
	coupons  []*coupons.Coupon
	messages []*outbox.MessageRow
	visits   []visitRow
	replies  map[int64]string // event id -> reply

	// Read caches; nil = not read for this batch (or made stale): the
	// table answers.
	tags      map[string][]string       // openid -> tags, sorted
	history   map[string][]firingRow    // openid -> its firings of historyOf
	historyOf map[string]bool           // the campaigns history holds
	held      map[string]map[string]int // openid -> pool -> coupons held (not revoked)
}

func (b *campaignBuffer) campaignsDirty() bool {
	return len(b.firings) > 0 || len(b.coupons) > 0 || len(b.messages) > 0 || len(b.visits) > 0 || len(b.replies) > 0
}

// staleAfter drops the caches a statement that is not a read may change.
func (b *campaignBuffer) staleAfter(query string) {
	if strings.Contains(query, "follower_tags") {
		b.tags = nil
	}
	if strings.Contains(query, "campaign_firings") {
		b.history, b.historyOf = nil, nil
	}
	if strings.Contains(query, "coupons") {
		b.held = nil
	}
}

// prefetchCampaigns reads the caches for the batch's hinted followers.
func (tx *Tx) prefetchCampaigns(openids []string, campaignIDs []string) error {
	const op = "sqldb.prefetch"
	b := tx.buf
	if len(openids) == 0 || len(campaignIDs) == 0 {
		return nil
	}
	args := make([]any, len(openids))
	for i, id := range openids {
		args[i] = id
	}
	var tags []struct {
		OpenID string `db:"openid"`
		Tag    string `db:"tag"`
	}
	if err := tx.x.x.Select(&tags, tx.db.rebind(`SELECT openid, tag FROM follower_tags WHERE openid IN (`+marks(len(args))+`) ORDER BY openid, tag`), args...); err != nil {
		return errs.Wrap(errs.Other, op, err)
	}
	b.tags = make(map[string][]string, len(openids))
	for _, id := range openids {
		b.tags[id] = nil
	}
	for _, t := range tags {
		b.tags[t.OpenID] = append(b.tags[t.OpenID], t.Tag)
	}
	for _, id := range openids {
		if tx.db.dialect != SQLite && !tx.locked[id] {
			return nil // see prefetch: read only under the followers' locks
		}
	}
	slices.Sort(campaignIDs)
	campaignIDs = slices.Compact(campaignIDs)
	cargs := make([]any, 0, len(campaignIDs)+len(args))
	for _, id := range campaignIDs {
		cargs = append(cargs, id)
	}
	cargs = append(cargs, args...)
	var fired []firingRow
	if err := tx.x.x.Select(&fired, tx.db.rebind(`
SELECT campaign_id, openid, store_id, variant, event_id, fired_at FROM campaign_firings
WHERE campaign_id IN (`+marks(len(campaignIDs))+`) AND openid IN (`+marks(len(args))+`)`), cargs...); err != nil {
		return errs.Wrap(errs.Other, op, err)
	}
	b.history = make(map[string][]firingRow, len(openids))
	b.historyOf = make(map[string]bool, len(campaignIDs))
	for _, id := range campaignIDs {
		b.historyOf[id] = true
	}
	for _, id := range openids {
		b.history[id] = nil
	}
	for _, f := range fired {
		b.history[f.OpenID] = append(b.history[f.OpenID], f)
	}
	var held []struct {
		OpenID string `db:"openid"`
		Pool   string `db:"pool_id"`
		N      int    `db:"n"`
	}
	if err := tx.x.x.Select(&held, tx.db.rebind(`
SELECT openid, pool_id, COUNT(*) AS n FROM coupons WHERE openid IN (`+marks(len(args))+`) AND state <> 'revoked' GROUP BY openid, pool_id`), args...); err != nil {
		return errs.Wrap(errs.Other, op, err)
	}
	b.held = make(map[string]map[string]int, len(openids))
	for _, id := range openids {
		b.held[id] = map[string]int{}
	}
	for _, h := range held {
		b.held[h.OpenID][h.Pool] = h.N
	}
	return nil
}

// cachedTags answers Tags from the batch's read, if it holds openid.
func (b *campaignBuffer) cachedTags(openid string) ([]string, bool) {
	if b.tags == nil {
		return nil, false
	}
	t, ok := b.tags[openid]
	return slices.Clone(t), ok
}

// cachedHistory answers CampaignHistory from the batch's read.
func (b *campaignBuffer) cachedHistory(id, openid, storeID string) (campaigns.History, bool) {
	var h campaigns.History
	if b.history == nil || !b.historyOf[id] {
		return h, false
	}
	rows, ok := b.history[openid]
	if !ok {
		return h, false
	}
	for _, f := range rows {
		if f.Campaign != id || storeID != "" && f.Store != storeID {
			continue
		}
		h.Fired++
		if f.At.After(h.LastFired) {
			h.LastFired = f.At
		}
	}
	return h, true
}

// cachedHeld answers CountHeld from the batch's read.
func (b *campaignBuffer) cachedHeld(pool, openid string) (int, bool) {
	if b.held == nil {
		return 0, false
	}
	m, ok := b.held[openid]
	if !ok {
		return 0, false
	}
	return m[pool], true
}

func (b *campaignBuffer) addFiring(f firingRow) {
	b.firings = append(b.firings, f)
	if b.history != nil {
		if _, ok := b.history[f.OpenID]; ok {
			b.history[f.OpenID] = append(b.history[f.OpenID], f)
		}
	}
}

func (b *campaignBuffer) addCoupon(c *coupons.Coupon) {
	cp := *c
	cp.IssuedAt, cp.ExpiresAt, cp.RedeemedAt = ts(c.IssuedAt), ts(c.ExpiresAt), tsp(c.RedeemedAt)
	b.coupons = append(b.coupons, &cp)
	if b.held != nil && c.State != coupons.Revoked {
		if m, ok := b.held[c.OpenID]; ok {
			m[c.Pool]++
		}
	}
}

// flushCampaigns writes the campaign path's pending rows of the tables
// query names (all of them when query is ""), each table as one multi-row
// statement per flushRows rows.
func (tx *Tx) flushCampaigns(query string) error {
	const op = "sqldb.flush"
	b := tx.buf
	names := func(t string) bool { return query == "" || strings.Contains(query, t) }
	if len(b.firings) > 0 && names("campaign_firings") {
		for chunk := range slices.Chunk(b.firings, flushRows) {
			args := make([]any, 0, 6*len(chunk))
			for _, f := range chunk {
				args = append(args, f.Campaign, f.OpenID, f.Store, f.Variant, f.EventID, f.At)
			}
			if _, err := tx.x.x.Exec(tx.db.rebind(`INSERT INTO campaign_firings (campaign_id, openid, store_id, variant, event_id, fired_at) VALUES `+rowMarks(len(chunk), 6)), args...); err != nil {
				return errs.Wrap(errs.Other, op, err)
			}
		}
		b.firings = b.firings[:0]
	}
	if len(b.coupons) > 0 && names("coupons") {
		slices.SortFunc(b.coupons, func(x, y *coupons.Coupon) int { return strings.Compare(x.Code, y.Code) })
		for chunk := range slices.Chunk(b.coupons, flushRows) {
			args := make([]any, 0, 13*len(chunk))
			for _, c := range chunk {
				args = append(args, c.Code, c.Pool, c.OpenID, c.Campaign, c.EventID, string(c.State), c.Title, c.IssuedAt, c.ExpiresAt, c.RedeemedAt, c.StoreID, c.IssuedStore, c.Variant)
			}
			// A code another transaction stored meanwhile fails the
			// statement, the flush and the attempt: the batch runs again
			// write by write, where AddCoupon reports the Conflict.
			if _, err := tx.x.x.Exec(tx.db.rebind(`INSERT INTO coupons (`+couponCols+`) VALUES `+rowMarks(len(chunk), 13)), args...); err != nil {
				return errs.Wrap(errs.Other, op, err)
			}
		}
		b.coupons = b.coupons[:0]
	}
	if len(b.messages) > 0 && names("messages") {
		for chunk := range slices.Chunk(b.messages, flushRows) {
			args := make([]any, 0, 15*len(chunk))
			for _, m := range chunk {
				args = append(args, m.ID, m.CampaignID, m.OpenID, string(m.Kind), string(m.Payload), string(m.State), m.Errcode, m.Reason, m.Warnings,
					m.WeChatMsgID, ts(m.CreatedAt), tsp(m.SentAt), tsp(m.DeliveredAt), tsp(m.OpenedAt), m.Variant)
			}
			if _, err := tx.x.x.Exec(tx.db.rebind(`INSERT INTO messages (`+messageCols+`) VALUES `+rowMarks(len(chunk), 15)), args...); err != nil {
				return errs.Wrap(errs.Other, op, err)
			}
		}
		b.messages = b.messages[:0]
	}
	if len(b.visits) > 0 && names("store_visits") {
		for chunk := range slices.Chunk(b.visits, flushRows) {
			args := make([]any, 0, 5*len(chunk))
			for _, v := range chunk {
				args = append(args, v.store, v.openid, v.kind, v.newFollower, ts(v.at))
			}
			if _, err := tx.x.x.Exec(tx.db.rebind(`INSERT INTO store_visits (store_id, openid, kind, new_follower, at) VALUES `+rowMarks(len(chunk), 5)), args...); err != nil {
				return errs.Wrap(errs.Other, op, err)
			}
		}
		b.visits = b.visits[:0]
	}
	if len(b.replies) > 0 && names("inbound_events") {
		ids := slices.Sorted(maps.Keys(b.replies))
		for chunk := range slices.Chunk(ids, flushRows) {
			args := make([]any, 0, 3*len(chunk))
			var q strings.Builder
			q.WriteString(`UPDATE inbound_events SET reply = CASE id`)
			for _, id := range chunk {
				q.WriteString(` WHEN ? THEN ?`)
				args = append(args, id, b.replies[id])
			}
			q.WriteString(` ELSE reply END WHERE id IN (` + marks(len(chunk)) + `)`)
			for _, id := range chunk {
				args = append(args, id)
			}
			if _, err := tx.x.x.Exec(tx.db.rebind(q.String()), args...); err != nil {
				return errs.Wrap(errs.Other, op, err)
			}
		}
		clear(b.replies)
	}
	return nil
}
