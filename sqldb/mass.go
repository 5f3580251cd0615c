package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omohq/omo/errs"
)

// Mass send states (mass_sends.state).
const (
	MassPlanned  = "planned"  // recorded, budget taken, not yet accepted by WeChat
	MassSent     = "sent"     // WeChat took the job (msg_id known)
	MassFinished = "finished" // MASSSENDJOBFINISH arrived with the counts
	MassFailed   = "failed"   // WeChat refused the call for good (errcode, reason)
	MassSkipped  = "skipped"  // not sent: fewer than two recipients left (reason)
)

// MassSend is one message/mass/send call: a chunk of a firing's recipients.
type MassSend struct {
	ID          int64      `db:"id"`
	CampaignID  string     `db:"campaign_id"`
	SlotID      int64      `db:"slot_id"`
	Chunk       int        `db:"chunk"`
	ClientMsgID string     `db:"clientmsgid"`
	Month       string     `db:"month"`       // YYYY-MM (Asia/Shanghai) whose budget the recipients count against
	Recipients  int        `db:"recipients"`  // openids in the call
	OverBudget  int        `db:"over_budget"` // recipients left out: their month's mass sends were spent
	OpenIDsJSON string     `db:"openids"`     // the openids in the call, a JSON list (see OpenIDs)
	State       string     `db:"state"`
	Errcode     int        `db:"errcode"`
	Reason      string     `db:"reason"`
	MsgID       *int64     `db:"msg_id"`
	MsgDataID   *int64     `db:"msg_data_id"`
	Status      string     `db:"status"` // MASSSENDJOBFINISH Status, e.g. "send success"
	TotalCount  int        `db:"total_count"`
	FilterCount int        `db:"filter_count"`
	SentCount   int        `db:"sent_count"`
	ErrorCount  int        `db:"error_count"`
	CreatedAt   time.Time  `db:"created_at"`
	SentAt      *time.Time `db:"sent_at"`
	FinishedAt  *time.Time `db:"finished_at"`
}

// OpenIDs returns the openids of the call.
func (m *MassSend) OpenIDs() []string {
	var out []string
	json.Unmarshal([]byte(m.OpenIDsJSON), &out)
	return out
}

const massCols = `id, campaign_id, slot_id, chunk, clientmsgid, month, recipients, over_budget, openids, state, errcode, reason,
msg_id, msg_data_id, status, total_count, filter_count, sent_count, error_count, created_at, sent_at, finished_at`

// AddMassSend records chunk m.Chunk of slot m.SlotID in state planned
// with the openids it will go to, and sets m.ID. It reports false, storing
// nothing, when that chunk was recorded before: read it with MassSendOf.
// Call it with TakeMassBudget in one transaction, so the budget is taken
// once per chunk however often the chunk is tried.
func (tx *Tx) AddMassSend(m *MassSend, openids []string, overBudget int) (bool, error) {
	const op = "sqldb.AddMassSend"
	list, err := json.Marshal(nonNilStrings(openids))
	if err != nil {
		return false, errs.Wrap(errs.Other, op, err)
	}
	m.OpenIDsJSON, m.Recipients, m.OverBudget, m.State = string(list), len(openids), overBudget, MassPlanned
	var id int64
	err = tx.x.Get(&id, tx.db.rebind(`
INSERT INTO mass_sends (campaign_id, slot_id, chunk, clientmsgid, month, recipients, over_budget, openids, state, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (slot_id, chunk) DO NOTHING RETURNING id`),
		m.CampaignID, m.SlotID, m.Chunk, m.ClientMsgID, m.Month, m.Recipients, m.OverBudget, m.OpenIDsJSON, m.State, ts(m.CreatedAt))
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, errs.Wrap(errs.Other, op, err)
	}
	m.ID = id
	return true, nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// MassSendOf returns chunk chunk of slot slotID, or NotFound.
func (tx *Tx) MassSendOf(slotID int64, chunk int) (*MassSend, error) {
	var m MassSend
	err := tx.x.Get(&m, tx.db.rebind(`SELECT `+massCols+` FROM mass_sends WHERE slot_id = ? AND chunk = ?`), slotID, chunk)
	if err != nil {
		return nil, notFound("sqldb.MassSendOf", err, "mass send")
	}
	return &m, nil
}

// MassSend reads the mass send with id outside any write, or NotFound.
func (db *DB) MassSend(ctx context.Context, id int64) (*MassSend, error) {
	var m MassSend
	err := db.x.GetContext(ctx, &m, db.rebind(`SELECT `+massCols+` FROM mass_sends WHERE id = ?`), id)
	if err != nil {
		return nil, notFound("sqldb.MassSend", err, "mass send")
	}
	return &m, nil
}

// MassSendsOf lists campaign's mass sends by slot and chunk.
func (db *DB) MassSendsOf(ctx context.Context, campaign string) ([]MassSend, error) {
	var out []MassSend
	err := db.x.SelectContext(ctx, &out, db.rebind(`SELECT `+massCols+` FROM mass_sends WHERE campaign_id = ? ORDER BY slot_id, chunk`), campaign)
	return out, errs.Wrap(errs.Other, "sqldb.MassSendsOf", err)
}

// MarkMassSent records that WeChat took mass send id as msgID (and
// msgDataID; 0 = not quoted, as in WeChat's answer to a repeated
// clientmsgid: stored NULL). A MASSSENDJOBFINISH that arrived before this commit is
// applied now. It reports false, changing nothing, when the send is no
// longer planned (another try recorded it).
func (tx *Tx) MarkMassSent(id, msgID, msgDataID int64, now time.Time) (bool, error) {
	const op = "sqldb.MarkMassSent"
	if err := tx.lock(massKey(msgID)); err != nil { // see MarkMassFinished
		return false, errs.Wrap(errs.Other, op, err)
	}
	res, err := tx.x.Exec(tx.db.rebind(`
UPDATE mass_sends SET state = ?, msg_id = ?, msg_data_id = ?, sent_at = ? WHERE id = ? AND state = ?`),
		MassSent, msgID, sql.NullInt64{Int64: msgDataID, Valid: msgDataID != 0}, ts(now), id, MassPlanned)
	if err != nil {
		return false, errs.Wrap(errs.Other, op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	var early MassReport
	err = tx.x.Get(&early, tx.db.rebind(`
SELECT msg_id, status, total_count, filter_count, sent_count, error_count, received_at FROM mass_reports WHERE msg_id = ?`), msgID)
	if err == sql.ErrNoRows {
		return true, nil
	}
	if err != nil {
		return true, errs.Wrap(errs.Other, op, err)
	}
	if _, err := tx.applyMassReport(early); err != nil {
		return true, err
	}
	_, err = tx.x.Exec(tx.db.rebind(`DELETE FROM mass_reports WHERE msg_id = ?`), msgID)
	return true, errs.Wrap(errs.Other, op, err)
}

// EndMassSend records that mass send id, still planned, will not be sent:
// state MassFailed (with WeChat's errcode, 0 if none) or MassSkipped, and
// the reason. It reports false, changing nothing, when the send is no
// longer planned (another try got it sent).
func (tx *Tx) EndMassSend(id int64, state string, errcode int, reason string) (bool, error) {
	res, err := tx.x.Exec(tx.db.rebind(`
UPDATE mass_sends SET state = ?, errcode = ?, reason = ? WHERE id = ? AND state = ?`), state, errcode, reason, id, MassPlanned)
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.EndMassSend", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// MassReport is a MASSSENDJOBFINISH: how the mass send WeChat knows as
// MsgID went.
type MassReport struct {
	MsgID       int64     `db:"msg_id"`
	Status      string    `db:"status"`
	TotalCount  int       `db:"total_count"`
	FilterCount int       `db:"filter_count"`
	SentCount   int       `db:"sent_count"`
	ErrorCount  int       `db:"error_count"`
	ReceivedAt  time.Time `db:"received_at"`
}

// MarkMassFinished applies r to the mass send with its msg_id: state
// finished with the counts. A report about a send whose msg_id omo has not
// recorded yet is kept and applied by MarkMassSent; it reports false then.
// A repeat of a report already applied changes nothing but the counts.
func (tx *Tx) MarkMassFinished(r MassReport) (bool, error) {
	// The worker may be recording this msg_id in another transaction right
	// now (another committer or process): one waits for the other, so the
	// report is either applied here or found by MarkMassSent.
	if err := tx.lock(massKey(r.MsgID)); err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.MarkMassFinished", err)
	}
	ok, err := tx.applyMassReport(r)
	if err != nil || ok {
		return ok, err
	}
	_, err = tx.x.Exec(tx.db.rebind(`
INSERT INTO mass_reports (msg_id, status, total_count, filter_count, sent_count, error_count, received_at)
SELECT ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM mass_sends WHERE msg_id = ?)
ON CONFLICT (msg_id) DO NOTHING`), r.MsgID, r.Status, r.TotalCount, r.FilterCount, r.SentCount, r.ErrorCount, ts(r.ReceivedAt), r.MsgID)
	return false, errs.Wrap(errs.Other, "sqldb.MarkMassFinished", err)
}

func (tx *Tx) applyMassReport(r MassReport) (bool, error) {
	res, err := tx.x.Exec(tx.db.rebind(`
UPDATE mass_sends SET state = ?, status = ?, total_count = ?, filter_count = ?, sent_count = ?, error_count = ?, finished_at = ?
WHERE msg_id = ? AND state IN (?, ?)`),
		MassFinished, r.Status, r.TotalCount, r.FilterCount, r.SentCount, r.ErrorCount, ts(r.ReceivedAt), r.MsgID, MassSent, MassFinished)
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.MarkMassFinished", err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// massKey is the advisory lock of a mass send's msg_id (a namespace of its
// own: template msgids are another).
func massKey(msgID int64) string { return "massmsg:" + strconv.FormatInt(msgID, 10) }

// PruneMassReports forgets kept MASSSENDJOBFINISH reports received before
// before: by then the send they were about is not omo's.
func (tx *Tx) PruneMassReports(before time.Time) error {
	_, err := tx.x.Exec(tx.db.rebind(`DELETE FROM mass_reports WHERE received_at < ?`), ts(before))
	return errs.Wrap(errs.Other, "sqldb.PruneMassReports", err)
}

// budgetBatch bounds the rows of one budget statement (two parameters each).
const budgetBatch = 500

// TakeMassBudget counts one mass send in month (YYYY-MM) against each of
// openids whose count for that month is below limit, atomically per
// follower: a conditional upsert, so concurrent takers (other chunks, other
// omo processes) never push a follower past limit. It returns the openids
// counted (allowed) and those already at limit (over), each in the order
// given; a repeated openid is counted once. Call it in the transaction that
// records the mass chunk (AddMassSend). limit <= 0 allows everyone and
// counts nothing (a subscription account has no per-follower cap).
func (tx *Tx) TakeMassBudget(openids []string, month string, limit int) (allowed, over []string, err error) {
	const op = "sqldb.TakeMassBudget"
	uniq := uniqueStrings(openids)
	if limit <= 0 {
		return uniq, nil, nil
	}
	// Sorted, so two transactions taking overlapping lists lock their rows
	// in the same order and cannot deadlock.
	sorted := slices.Clone(uniq)
	slices.Sort(sorted)
	got := make(map[string]bool, len(sorted))
	for batch := range slices.Chunk(sorted, budgetBatch) {
		var b strings.Builder
		args := make([]any, 0, 2*len(batch)+1)
		b.WriteString(`INSERT INTO mass_budget (openid, month, count) VALUES `)
		for i, o := range batch {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, 1)")
			args = append(args, o, month)
		}
		b.WriteString(` ON CONFLICT (openid, month) DO UPDATE SET count = mass_budget.count + 1 WHERE mass_budget.count < ? RETURNING openid`)
		args = append(args, limit)
		var taken []string
		if err := tx.x.Select(&taken, tx.db.rebind(b.String()), args...); err != nil {
			return nil, nil, errs.Wrap(errs.Other, op, err)
		}
		for _, o := range taken {
			got[o] = true
		}
	}
	for _, o := range uniq {
		if got[o] {
			allowed = append(allowed, o)
		} else {
			over = append(over, o)
		}
	}
	return allowed, over, nil
}

// GiveBackMassBudget undoes one TakeMassBudget count in month for each of
// openids: for a chunk WeChat refused, which reached nobody.
func (tx *Tx) GiveBackMassBudget(openids []string, month string) error {
	for batch := range slices.Chunk(uniqueStrings(openids), budgetBatch) {
		args := make([]any, 0, len(batch)+1)
		args = append(args, month)
		for _, o := range batch {
			args = append(args, o)
		}
		q := `UPDATE mass_budget SET count = count - 1 WHERE month = ? AND count > 0 AND openid IN (` + marks(len(batch)) + `)`
		if _, err := tx.x.Exec(tx.db.rebind(q), args...); err != nil {
			return errs.Wrap(errs.Other, "sqldb.GiveBackMassBudget", err)
		}
	}
	return nil
}

// MassBudgetUsed returns how many mass sends openid has received in month.
func (db *DB) MassBudgetUsed(ctx context.Context, openid, month string) (int, error) {
	var n int
	err := db.x.GetContext(ctx, &n, db.rebind(`SELECT COALESCE(SUM(count), 0) FROM mass_budget WHERE openid = ? AND month = ?`), openid, month)
	return n, errs.Wrap(errs.Other, "sqldb.MassBudgetUsed", err)
}

// uniqueStrings returns s without repeats, first occurrence kept.
func uniqueStrings(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := make([]string, 0, len(s))
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
