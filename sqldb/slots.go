package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"time"

	"github.com/omohq/omo/errs"
)

// Slot states. A slot is claimed in planning (its recipients are being
// written to the ledger), then sending (every batch is queued), then done
// when no recipient is left planned; a slot too late to send is missed.
const (
	SlotPlanning = "planning"
	SlotSending  = "sending"
	SlotDone     = "done"
	SlotMissed   = "missed"
)

// Recipient states in the ledger.
const (
	RecipientPlanned = "planned"
	RecipientSending = "sending" // prepared: the message is written, WeChat not called yet
	RecipientCalling = "calling" // WeChat is being called; found so after a crash, the outcome is unknown
	RecipientSent    = "sent"
	RecipientFailed  = "failed"
	RecipientSkipped = "skipped"
)

// Campaign controls (omo campaigns pause|resume|cancel).
const (
	ControlRunning   = ""
	ControlPaused    = "paused"
	ControlCancelled = "cancelled"
)

// Slot is one firing of a schedule campaign.
type Slot struct {
	ID         int64     `db:"id"`
	CampaignID string    `db:"campaign_id"`
	SlotAt     time.Time `db:"slot_at"`
	State      string    `db:"state"`
	Reason     string    `db:"reason"`
	Planned    int64     `db:"planned"`
	PlanCursor string    `db:"plan_cursor"`
	Batches    int       `db:"batches"`
	ClaimedBy  string    `db:"claimed_by"`
	CreatedAt  time.Time `db:"created_at"`
	UpdatedAt  time.Time `db:"updated_at"`
}

const slotCols = `id, campaign_id, slot_at, state, reason, planned, plan_cursor, batches, claimed_by, created_at, updated_at`

// ClaimSlot inserts the slot (campaign, at) in state with reason, unless
// it exists: the unique (campaign_id, slot_at) key makes exactly one of any
// number of omo instances the claimant. It returns the slot and whether
// this call claimed it.
func (tx *Tx) ClaimSlot(campaign string, at time.Time, state, reason, by string, now time.Time) (*Slot, bool, error) {
	const op = "sqldb.ClaimSlot"
	res, err := tx.x.Exec(tx.db.rebind(`INSERT INTO campaign_slots (campaign_id, slot_at, state, reason, claimed_by, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id, slot_at) DO NOTHING`), campaign, ts(at), state, reason, by, ts(now), ts(now))
	if err != nil {
		return nil, false, errs.Wrap(errs.Other, op, err)
	}
	n, _ := res.RowsAffected()
	var s Slot
	if err := tx.x.Get(&s, tx.db.rebind(`SELECT `+slotCols+` FROM campaign_slots WHERE campaign_id = ? AND slot_at = ?`), campaign, ts(at)); err != nil {
		return nil, false, errs.Wrap(errs.Other, op, err)
	}
	return &s, n == 1, nil
}

// LastSlot returns the time of campaign's latest recorded slot; ok is
// false when it has none.
func (db *DB) LastSlot(ctx context.Context, campaign string) (at time.Time, ok bool, err error) {
	var slot Slot
	err = db.x.GetContext(ctx, &slot, db.rebind(`SELECT `+slotCols+` FROM campaign_slots WHERE campaign_id = ? ORDER BY slot_at DESC LIMIT 1`), campaign)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, errs.Wrap(errs.Other, "sqldb.LastSlot", err)
	}
	return slot.SlotAt, true, nil
}

// SlotByID reads a slot, or NotFound.
func (db *DB) SlotByID(ctx context.Context, id int64) (*Slot, error) {
	var s Slot
	err := db.x.GetContext(ctx, &s, db.rebind(`SELECT `+slotCols+` FROM campaign_slots WHERE id = ?`), id)
	if err != nil {
		return nil, notFound("sqldb.SlotByID", err, "slot")
	}
	return &s, nil
}

// Slots lists campaign's slots, newest first, at most limit.
func (db *DB) Slots(ctx context.Context, campaign string, limit int) ([]Slot, error) {
	out := []Slot{}
	err := db.x.SelectContext(ctx, &out, db.rebind(`SELECT `+slotCols+` FROM campaign_slots WHERE campaign_id = ? ORDER BY slot_at DESC LIMIT ?`), campaign, limit)
	return out, errs.Wrap(errs.Other, "sqldb.Slots", err)
}

// StalePlanning lists slots left in planning whose claimant has not
// written for longer than lease (it died): whoever takes one over resumes
// its plan from the checkpointed cursor.
func (db *DB) StalePlanning(ctx context.Context, before time.Time) ([]Slot, error) {
	out := []Slot{}
	err := db.x.SelectContext(ctx, &out, db.rebind(`SELECT `+slotCols+` FROM campaign_slots WHERE state = 'planning' AND updated_at < ? ORDER BY id`), ts(before))
	return out, errs.Wrap(errs.Other, "sqldb.StalePlanning", err)
}

// TakeOverSlot moves a planning slot's lease to by if nobody wrote it
// since seen (its updated_at); true when this caller now owns it.
func (tx *Tx) TakeOverSlot(id int64, seen time.Time, by string, now time.Time) (bool, error) {
	res, err := tx.x.Exec(tx.db.rebind(`UPDATE campaign_slots SET claimed_by = ?, updated_at = ? WHERE id = ? AND state = 'planning' AND updated_at = ?`),
		by, ts(now), id, ts(seen))
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.TakeOverSlot", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// PlanChunk writes the next chunk of at most size recipients of audience
// a (openids after the slot's cursor, in openid order) to the slot's
// ledger as planned, numbered into batches of batch recipients, and moves
// the cursor; all in the caller's transaction, so a crash resumes at the
// last committed chunk. It returns the batch numbers the chunk filled (in
// order) and whether the audience is exhausted.
func (tx *Tx) PlanChunk(slot *Slot, a Audience, size, batch int, now time.Time) (batches []int, done bool, err error) {
	const op = "sqldb.PlanChunk"
	first := int(slot.Planned) / batch // chunks are whole batches, so this one starts a new batch
	q := `INSERT INTO campaign_recipients (slot_id, openid, batch, state)
SELECT ?, openid, ? + (ROW_NUMBER() OVER (ORDER BY openid) - 1) / ?, 'planned'
FROM (SELECT f.openid FROM followers f WHERE f.openid > ? AND ` + a.where + ` ORDER BY f.openid LIMIT ?) chunk`
	args := append([]any{slot.ID, first, batch, slot.PlanCursor}, a.args...)
	res, err := tx.x.Exec(tx.db.rebind(q), append(args, size)...)
	if err != nil {
		return nil, false, errs.Wrap(errs.Other, op, err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return nil, true, tx.setSlot(slot, now)
	}
	var cursor string
	if err := tx.x.Get(&cursor, tx.db.rebind(`SELECT MAX(openid) FROM campaign_recipients WHERE slot_id = ?`), slot.ID); err != nil {
		return nil, false, errs.Wrap(errs.Other, op, err)
	}
	slot.Planned += n
	slot.PlanCursor = cursor
	nb := int((n + int64(batch) - 1) / int64(batch))
	for i := 0; i < nb; i++ {
		batches = append(batches, first+i)
	}
	slot.Batches = first + nb
	return batches, n < int64(size), tx.setSlot(slot, now)
}

func (tx *Tx) setSlot(s *Slot, now time.Time) error {
	s.UpdatedAt = now
	_, err := tx.x.Exec(tx.db.rebind(`UPDATE campaign_slots SET state = ?, reason = ?, planned = ?, plan_cursor = ?, batches = ?, updated_at = ? WHERE id = ?`),
		s.State, s.Reason, s.Planned, s.PlanCursor, s.Batches, ts(now), s.ID)
	return errs.Wrap(errs.Other, "sqldb.setSlot", err)
}

// SetSlotState moves a slot to state (with reason).
func (tx *Tx) SetSlotState(s *Slot, state, reason string, now time.Time) error {
	s.State, s.Reason = state, reason
	return tx.setSlot(s, now)
}

// Recipient is one row of a firing's ledger.
type Recipient struct {
	SlotID     int64      `db:"slot_id"`
	OpenID     string     `db:"openid"`
	Batch      int        `db:"batch"`
	State      string     `db:"state"`
	Reason     string     `db:"reason"`
	MessageID  string     `db:"message_id"`
	CouponCode string     `db:"coupon_code"`
	UpdatedAt  *time.Time `db:"updated_at"`
}

// BatchRecipients lists the recipients of one batch not yet finished
// (planned, sending or calling), in openid order.
func (db *DB) BatchRecipients(ctx context.Context, slot int64, batch int) ([]Recipient, error) {
	out := []Recipient{}
	err := db.x.SelectContext(ctx, &out, db.rebind(`SELECT slot_id, openid, batch, state, reason, message_id, coupon_code, updated_at
FROM campaign_recipients WHERE slot_id = ? AND batch = ? AND state IN ('planned', 'sending', 'calling') ORDER BY openid`), slot, batch)
	return out, errs.Wrap(errs.Other, "sqldb.BatchRecipients", err)
}

// SetRecipient moves a ledger row from state from to r's state and reason,
// and sets its message and coupon where r has them (an empty one keeps
// what the row holds); false when the row was not in from (someone else
// moved it: a repeat delivery).
func (tx *Tx) SetRecipient(r *Recipient, from string, now time.Time) (bool, error) {
	res, err := tx.x.Exec(tx.db.rebind(`UPDATE campaign_recipients SET state = ?, reason = ?,
  message_id = CASE WHEN ? = '' THEN message_id ELSE ? END, coupon_code = CASE WHEN ? = '' THEN coupon_code ELSE ? END, updated_at = ?
WHERE slot_id = ? AND openid = ? AND state = ?`), r.State, r.Reason, r.MessageID, r.MessageID, r.CouponCode, r.CouponCode, ts(now), r.SlotID, r.OpenID, from)
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.SetRecipient", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// MarkReached records that campaign reached openid (never_received).
func (tx *Tx) MarkReached(campaign, openid string) error {
	_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO campaign_reached (campaign_id, openid) VALUES (?, ?) ON CONFLICT (campaign_id, openid) DO NOTHING`), campaign, openid)
	return errs.Wrap(errs.Other, "sqldb.MarkReached", err)
}

// FinishSlotIfDone moves a sending slot to done when no recipient is left
// planned or sending.
//
// Call it after the transaction's own recipient changes. It takes the
// slot's lock first: two transactions ending the last batches at once
// (two committers or processes) would each see the other's recipients as
// not yet ended and neither finish the slot; with the lock the second
// waits for the first to commit and then sees its recipients.
func (tx *Tx) FinishSlotIfDone(id int64, now time.Time) error {
	if err := tx.lock("slot:" + strconv.FormatInt(id, 10)); err != nil {
		return errs.Wrap(errs.Other, "sqldb.FinishSlotIfDone", err)
	}
	_, err := tx.x.Exec(tx.db.rebind(`UPDATE campaign_slots SET state = 'done', updated_at = ? WHERE id = ? AND state = 'sending'
AND NOT EXISTS (SELECT 1 FROM campaign_recipients WHERE slot_id = ? AND state IN ('planned', 'sending', 'calling'))`), ts(now), id, id)
	return errs.Wrap(errs.Other, "sqldb.FinishSlotIfDone", err)
}

// SetControl sets campaign's operator control (ControlRunning, Paused or
// Cancelled).
func (tx *Tx) SetControl(campaign, state string, now time.Time) error {
	_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO campaign_controls (campaign_id, state, updated_at) VALUES (?, ?, ?)
ON CONFLICT (campaign_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`), campaign, state, ts(now))
	return errs.Wrap(errs.Other, "sqldb.SetControl", err)
}

// Control reads campaign's operator control (ControlRunning when never set).
func (db *DB) Control(ctx context.Context, campaign string) (string, error) {
	var s string
	err := db.x.GetContext(ctx, &s, db.rebind(`SELECT state FROM campaign_controls WHERE campaign_id = ?`), campaign)
	if errors.Is(err, sql.ErrNoRows) {
		return ControlRunning, nil
	}
	return s, errs.Wrap(errs.Other, "sqldb.Control", err)
}

// SlotStats counts what one firing did.
type SlotStats struct {
	Planned         int64            `json:"planned"`
	Sent            int64            `json:"sent"`
	Failed          int64            `json:"failed"`
	Skipped         map[string]int64 `json:"skipped"` // by reason
	Pending         int64            `json:"pending"` // planned or sending
	Delivered       int64            `json:"delivered"`
	Opened          int64            `json:"opened"`
	CouponsIssued   int64            `json:"coupons_issued"`
	CouponsRedeemed int64            `json:"coupons_redeemed"`
}

// SlotStats counts slot id's ledger, its messages and its coupons.
func (db *DB) SlotStats(ctx context.Context, id int64) (SlotStats, error) {
	const op = "sqldb.SlotStats"
	st := SlotStats{Skipped: map[string]int64{}}
	var rows []struct {
		State  string `db:"state"`
		Reason string `db:"reason"`
		N      int64  `db:"n"`
	}
	err := db.x.SelectContext(ctx, &rows, db.rebind(`SELECT state, CASE WHEN state = 'skipped' THEN reason ELSE '' END AS reason, COUNT(*) AS n
FROM campaign_recipients WHERE slot_id = ? GROUP BY state, CASE WHEN state = 'skipped' THEN reason ELSE '' END`), id)
	if err != nil {
		return st, errs.Wrap(errs.Other, op, err)
	}
	for _, r := range rows {
		st.Planned += r.N
		switch r.State {
		case RecipientSent:
			st.Sent += r.N
		case RecipientFailed:
			st.Failed += r.N
		case RecipientSkipped:
			st.Skipped[r.Reason] += r.N
		default:
			st.Pending += r.N
		}
	}
	var m struct {
		Delivered int64 `db:"delivered"`
		Opened    int64 `db:"opened"`
		Issued    int64 `db:"issued"`
		Redeemed  int64 `db:"redeemed"`
	}
	err = db.x.GetContext(ctx, &m, db.rebind(`SELECT
  COALESCE(SUM(CASE WHEN m.delivered_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS delivered,
  COALESCE(SUM(CASE WHEN m.opened_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS opened,
  COALESCE(SUM(CASE WHEN c.code IS NOT NULL THEN 1 ELSE 0 END), 0) AS issued,
  COALESCE(SUM(CASE WHEN c.state = 'redeemed' THEN 1 ELSE 0 END), 0) AS redeemed
FROM campaign_recipients r
LEFT JOIN messages m ON m.id = r.message_id AND r.message_id <> ''
LEFT JOIN coupons c ON c.code = r.coupon_code AND r.coupon_code <> ''
WHERE r.slot_id = ?`), id)
	if err != nil {
		return st, errs.Wrap(errs.Other, op, err)
	}
	st.Delivered, st.Opened, st.CouponsIssued, st.CouponsRedeemed = m.Delivered, m.Opened, m.Issued, m.Redeemed
	// A mass send's delivery is counted by WeChat's MASSSENDJOBFINISH.
	var mass int64
	if err := db.x.GetContext(ctx, &mass, db.rebind(`SELECT COALESCE(SUM(sent_count), 0) FROM mass_sends WHERE slot_id = ?`), id); err != nil {
		return st, errs.Wrap(errs.Other, op, err)
	}
	st.Delivered += mass
	return st, nil
}

// NoteCampaignSeen records when omo first ran campaign (kept if known).
func (tx *Tx) NoteCampaignSeen(campaign string, now time.Time) error {
	_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO campaign_seen (campaign_id, first_seen_at) VALUES (?, ?) ON CONFLICT (campaign_id) DO NOTHING`), campaign, ts(now))
	return errs.Wrap(errs.Other, "sqldb.NoteCampaignSeen", err)
}

// CampaignSeen returns when omo first ran campaign; ok false if never.
func (db *DB) CampaignSeen(ctx context.Context, campaign string) (at time.Time, ok bool, err error) {
	err = db.x.GetContext(ctx, &at, db.rebind(`SELECT first_seen_at FROM campaign_seen WHERE campaign_id = ?`), campaign)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	return at, err == nil, errs.Wrap(errs.Other, "sqldb.CampaignSeen", err)
}
