package sqldb

import (
	"context"
	"database/sql"
	"strconv"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
)

const messageCols = `id, campaign_id, openid, kind, payload, state, errcode, reason, warnings, wechat_msgid, created_at, sent_at, delivered_at, opened_at, variant`

// AddMessage stores a message row.
func (tx *Tx) AddMessage(m *outbox.MessageRow) error {
	if b := tx.buf; b != nil {
		c := *m
		b.messages = append(b.messages, &c)
		return nil
	}
	_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO messages (`+messageCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		m.ID, m.CampaignID, m.OpenID, string(m.Kind), string(m.Payload), string(m.State), m.Errcode, m.Reason, m.Warnings,
		m.WeChatMsgID, ts(m.CreatedAt), tsp(m.SentAt), tsp(m.DeliveredAt), tsp(m.OpenedAt), m.Variant)
	return errs.Wrap(errs.Other, "sqldb.AddMessage", err)
}

// Message reads the message with id, or NotFound.
func (db *DB) Message(ctx context.Context, id string) (*outbox.MessageRow, error) {
	return getOne[outbox.MessageRow](ctx, db.x, "sqldb.Message", "message "+id,
		`SELECT `+messageCols+` FROM messages WHERE id = ?`, id)
}

// MessagesOf lists the messages of campaign (all when "") to openid (all when ""), oldest first.
func (db *DB) MessagesOf(ctx context.Context, campaign, openid string) ([]outbox.MessageRow, error) {
	var out []outbox.MessageRow
	err := db.x.SelectContext(ctx, &out, db.rebind(`SELECT `+messageCols+` FROM messages
WHERE (? = '' OR campaign_id = ?) AND (? = '' OR openid = ?) ORDER BY created_at, id`), campaign, campaign, openid, openid)
	return out, errs.Wrap(errs.Other, "sqldb.MessagesOf", err)
}

// MarkSent records that WeChat accepted message id (msgid for template
// sends, 0 otherwise), with kind the kind actually sent (a fallback changes
// it) and any warnings. A delivery report WeChat sent before this commit is
// applied now.
func (tx *Tx) MarkSent(id string, msgid int64, kind outbox.Kind, warnings string, now time.Time) error {
	const op = "sqldb.MarkSent"
	var mid *int64
	if msgid != 0 {
		mid = &msgid
		// A delivery report for msgid may be committing in another
		// transaction right now (another committer or process): one waits
		// for the other, so the report is either seen here or sees this.
		if err := tx.lock(deliveryKey(msgid)); err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
	}
	_, err := tx.x.Exec(tx.db.rebind(`
UPDATE messages SET state = 'sent', wechat_msgid = ?, kind = ?, warnings = ?, sent_at = ? WHERE id = ? AND state = 'pending'`),
		mid, string(kind), warnings, ts(now), id)
	if err != nil || msgid == 0 {
		return errs.Wrap(errs.Other, op, err)
	}
	var early struct {
		OpenID     string    `db:"openid"`
		Status     string    `db:"status"`
		ReceivedAt time.Time `db:"received_at"`
	}
	err = tx.x.Get(&early, tx.db.rebind(`SELECT openid, status, received_at FROM delivery_reports WHERE wechat_msgid = ?`), msgid)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return errs.Wrap(errs.Other, op, err)
	}
	if _, err := tx.applyDelivery(early.OpenID, msgid, early.Status, early.ReceivedAt); err != nil {
		return err
	}
	_, err = tx.x.Exec(tx.db.rebind(`DELETE FROM delivery_reports WHERE wechat_msgid = ?`), msgid)
	return errs.Wrap(errs.Other, op, err)
}

// deliveryKey is the lock MarkSent and MarkDelivery share for msgid.
func deliveryKey(msgid int64) string { return "msgid:" + strconv.FormatInt(msgid, 10) }

// MarkFailed records that message id will not be sent, with WeChat's
// errcode (0 if none) and the reason.
func (tx *Tx) MarkFailed(id string, errcode int, reason string) error {
	_, err := tx.x.Exec(tx.db.rebind(`
UPDATE messages SET state = 'failed', errcode = ?, reason = ? WHERE id = ? AND state = 'pending'`), errcode, reason, id)
	return errs.Wrap(errs.Other, "sqldb.MarkFailed", err)
}

// MarkDelivery applies a TEMPLATESENDJOBFINISH: the message WeChat knows as
// msgid to openid was delivered (status "success") or not (the status is
// the reason). A report about a send omo has not recorded yet is kept and
// applied by MarkSent; it reports false then.
func (tx *Tx) MarkDelivery(openid string, msgid int64, status string, now time.Time) (bool, error) {
	if err := tx.lock(deliveryKey(msgid)); err != nil { // see MarkSent
		return false, errs.Wrap(errs.Other, "sqldb.MarkDelivery", err)
	}
	ok, err := tx.applyDelivery(openid, msgid, status, now)
	if err != nil || ok {
		return ok, err
	}
	// Keep the report only if omo has no message with that msgid yet: a
	// repeat about a message already marked, or a send from another system,
	// is not kept.
	_, err = tx.x.Exec(tx.db.rebind(`
INSERT INTO delivery_reports (wechat_msgid, openid, status, received_at)
SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM messages WHERE wechat_msgid = ?)
ON CONFLICT (wechat_msgid) DO NOTHING`), msgid, openid, status, ts(now), msgid)
	return false, errs.Wrap(errs.Other, "sqldb.MarkDelivery", err)
}

// PruneDeliveryReports forgets kept delivery reports received before
// before: by then the send they were about is not omo's.
func (tx *Tx) PruneDeliveryReports(before time.Time) error {
	_, err := tx.x.Exec(tx.db.rebind(`DELETE FROM delivery_reports WHERE received_at < ?`), ts(before))
	return errs.Wrap(errs.Other, "sqldb.PruneDeliveryReports", err)
}

func (tx *Tx) applyDelivery(openid string, msgid int64, status string, now time.Time) (bool, error) {
	q := `UPDATE messages SET state = 'delivered', delivered_at = ? WHERE wechat_msgid = ? AND openid = ? AND state = 'sent'`
	args := []any{ts(now), msgid, openid}
	if status != "success" {
		q = `UPDATE messages SET state = 'failed', reason = ? WHERE wechat_msgid = ? AND openid = ? AND state = 'sent'`
		args = []any{"WeChat: " + status, msgid, openid}
	}
	res, err := tx.x.Exec(tx.db.rebind(q), args...)
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.MarkDelivery", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// MarkOpened records the first open of message id (of campaign) through its
// deep link. It reports false when the message is unknown or was opened before.
func (tx *Tx) MarkOpened(id, campaign string, now time.Time) (bool, error) {
	res, err := tx.x.Exec(tx.db.rebind(`
UPDATE messages SET opened_at = ? WHERE id = ? AND campaign_id = ? AND opened_at IS NULL`), ts(now), id, campaign)
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.MarkOpened", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
