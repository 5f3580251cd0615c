package sqldb

import (
	"context"
	"database/sql"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
)

// VariantStats counts what each variant of campaign id did, by the variant
// recorded with its firings, messages and coupons: one entry per variant
// that has any row, keyed by name (a campaign without split has only "").
// The counts mean what they mean in CampaignStats.
func (db *DB) VariantStats(ctx context.Context, id string) (map[string]*campaigns.VariantStats, error) {
	const op = "sqldb.VariantStats"
	out := map[string]*campaigns.VariantStats{}
	get := func(name string) *campaigns.VariantStats {
		if out[name] == nil {
			out[name] = &campaigns.VariantStats{Name: name}
		}
		return out[name]
	}
	var fired []struct {
		Variant string `db:"variant"`
		Fired   int    `db:"fired"`
	}
	if err := db.x.SelectContext(ctx, &fired, db.rebind(`
SELECT variant, COUNT(*) AS fired FROM campaign_firings WHERE campaign_id = ? GROUP BY variant`), id); err != nil {
		return nil, errs.Wrap(errs.Other, op, err)
	}
	for _, r := range fired {
		get(r.Variant).Fired = r.Fired
	}
	var msgs []struct {
		Variant   string `db:"variant"`
		Sent      int    `db:"sent"`
		Delivered int    `db:"delivered"`
		Opened    int    `db:"opened"`
	}
	if err := db.x.SelectContext(ctx, &msgs, db.rebind(`
SELECT variant, COUNT(sent_at) AS sent, COUNT(delivered_at) AS delivered, COUNT(opened_at) AS opened
FROM messages WHERE campaign_id = ? GROUP BY variant`), id); err != nil {
		return nil, errs.Wrap(errs.Other, op, err)
	}
	for _, r := range msgs {
		v := get(r.Variant)
		v.Sent, v.Delivered, v.Opened = r.Sent, r.Delivered, r.Opened
	}
	var cps []struct {
		Variant  string `db:"variant"`
		Issued   int    `db:"issued"`
		Redeemed int    `db:"redeemed"`
	}
	if err := db.x.SelectContext(ctx, &cps, db.rebind(`
SELECT variant, COUNT(*) AS issued, SUM(CASE WHEN state = 'redeemed' THEN 1 ELSE 0 END) AS redeemed
FROM coupons WHERE campaign_id = ? GROUP BY variant`), id); err != nil {
		return nil, errs.Wrap(errs.Other, op, err)
	}
	for _, r := range cps {
		v := get(r.Variant)
		v.CouponsIssued, v.CouponsRedeemed = r.Issued, r.Redeemed
	}
	return out, nil
}

// Winner is the recorded decision of a split campaign: written once, by
// whichever omo decided first, and never changed.
type Winner struct {
	CampaignID string    `db:"campaign_id" json:"-"`
	Variant    string    `db:"variant" json:"variant"`
	Metric     string    `db:"metric" json:"metric"`
	Confidence float64   `db:"confidence" json:"confidence"`
	MinSample  int64     `db:"min_sample" json:"min_sample"`
	Z          float64   `db:"z" json:"z"`
	P          float64   `db:"p" json:"p"`
	Reason     string    `db:"reason" json:"reason"`
	Rates      string    `db:"rates" json:"-"` // JSON: the variants' counts the decision was made on
	DecidedAt  time.Time `db:"decided_at" json:"decided_at"`
	DecidedBy  string    `db:"decided_by" json:"-"`
}

const winnerCols = `campaign_id, variant, metric, confidence, min_sample, z, p, reason, rates, decided_at, decided_by`

// RecordWinner writes w as its campaign's winner unless one is recorded
// already: the first insert wins, under any number of processes. It
// reports whether this one did.
func (tx *Tx) RecordWinner(w *Winner) (bool, error) {
	res, err := tx.x.Exec(tx.db.rebind(`INSERT INTO campaign_winners (`+winnerCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (campaign_id) DO NOTHING`),
		w.CampaignID, w.Variant, w.Metric, w.Confidence, w.MinSample, w.Z, w.P, w.Reason, w.Rates, ts(w.DecidedAt), w.DecidedBy)
	if err != nil {
		return false, errs.Wrap(errs.Other, "sqldb.RecordWinner", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// WinnerOf returns the variant recorded as campaign id's winner, "" when
// none is: what a firing reads in its transaction.
func (tx *Tx) WinnerOf(id string) (string, error) {
	var v string
	err := tx.x.Get(&v, tx.db.rebind(`SELECT variant FROM campaign_winners WHERE campaign_id = ?`), id)
	if err == sql.ErrNoRows {
		return "", nil
	}
	return v, errs.Wrap(errs.Other, "sqldb.WinnerOf", err)
}

// Winner returns campaign id's recorded winner, or NotFound.
func (db *DB) Winner(ctx context.Context, id string) (*Winner, error) {
	return getOne[Winner](ctx, db.x, "sqldb.Winner", "winner of campaign "+id,
		`SELECT `+winnerCols+` FROM campaign_winners WHERE campaign_id = ?`, id)
}
