package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/sqldb"
)

// pickVariant decides which actions campaign c runs for the firing's
// follower and sets fr.variant: c's do: without split; with split, the
// recorded winner's once there is one (read in the firing's transaction,
// so every process switches at the same commit), else the follower's own
// variant (campaigns.Split.Assign: stable across retries and processes).
// A recorded winner the split no longer has (the file was changed) is
// ignored.
func (fr *firing) pickVariant(c *campaigns.Campaign) ([]campaigns.Action, error) {
	fr.variant = ""
	if c.Split == nil {
		return c.Do, nil
	}
	won, err := fr.tx.WinnerOf(c.ID)
	if err != nil {
		return nil, err
	}
	v := c.Split.Variant(won)
	if v == nil {
		v = c.Split.Assign(c.ID, fr.f.OpenID)
	}
	fr.variant = v.Name
	return v.Do, nil
}

// DecideWinners judges every split campaign of the running set that has
// no winner yet (campaigns.WinnerRule.Decide on its variants' stats now)
// and records the winner of each that has one. The record is one insert
// that only the first process makes, so any number of omo processes may
// decide at once; the loser of the race changes nothing. by names this
// process in the record.
func (e *Engine) DecideWinners(ctx context.Context, by string) error {
	set := e.set.Load()
	if set == nil {
		return nil
	}
	for _, c := range set.Campaigns {
		if c.Split == nil {
			continue
		}
		if err := e.decideWinner(ctx, c, by); err != nil {
			return fmt.Errorf("campaign %s: %w", c.ID, err)
		}
	}
	return nil
}

func (e *Engine) decideWinner(ctx context.Context, c *campaigns.Campaign, by string) error {
	if _, err := e.db.Winner(ctx, c.ID); err == nil || !errs.Is(err, errs.NotFound) {
		return err // decided before, or the database failed
	}
	rows, v, err := e.judge(ctx, c)
	if err != nil || v.Winner == "" {
		return err
	}
	rates, err := json.Marshal(rows)
	if err != nil {
		return errs.Wrap(errs.Other, "engine.decideWinner", err)
	}
	w := c.Split.Winner
	rec := &sqldb.Winner{CampaignID: c.ID, Variant: v.Winner, Metric: w.Metric, Confidence: w.Confidence, MinSample: int64(w.MinSample),
		Z: v.Z, P: v.P, Reason: v.Reason, Rates: string(rates), DecidedAt: e.now(), DecidedBy: by}
	var mine bool
	if err := e.db.Write(ctx, func(tx *sqldb.Tx) (err error) { mine, err = tx.RecordWinner(rec); return err }); err != nil {
		return err
	}
	if mine {
		e.log.Info("split winner declared", "campaign", c.ID, "variant", v.Winner, "metric", w.Metric, "z", v.Z, "p", v.P, "reason", v.Reason)
	}
	return nil
}

// judge reads the stats of c's variants, in the split's order (zeros for a
// variant nothing was recorded for yet), and decides on them.
func (e *Engine) judge(ctx context.Context, c *campaigns.Campaign) ([]VariantRow, campaigns.Verdict, error) {
	stats, err := e.db.VariantStats(ctx, c.ID)
	if err != nil {
		return nil, campaigns.Verdict{}, err
	}
	w := c.Split.Winner
	rows := make([]VariantRow, len(c.Split.Variants))
	arms := make([]campaigns.Arm, len(c.Split.Variants))
	for i, sv := range c.Split.Variants {
		st := campaigns.VariantStats{Name: sv.Name}
		if s := stats[sv.Name]; s != nil {
			st = *s
		}
		arms[i] = w.Arm(st)
		rows[i] = VariantRow{Name: sv.Name, Weight: sv.Weight, Fired: st.Fired, Sent: st.Sent, Delivered: st.Delivered, Opened: st.Opened,
			CouponsIssued: st.CouponsIssued, CouponsRedeemed: st.CouponsRedeemed, Rate: arms[i].Rate(), Sample: arms[i].Trials,
			Rates: Rates{Delivered: share(st.Delivered, st.Sent), Opened: share(st.Opened, st.Sent), Redeemed: share(st.CouponsRedeemed, st.CouponsIssued)}}
	}
	return rows, w.Decide(arms), nil
}

func share(x, n int) float64 {
	if n <= 0 {
		return 0
	}
	return float64(x) / float64(n)
}

// RunWinners calls DecideWinners every every until ctx ends; a failed round
// is logged and the next carries on (nothing is half-written: the record
// is one insert).
func (e *Engine) RunWinners(ctx context.Context, by string, every time.Duration) {
	tickEvery(ctx, every, func() {
		if err := e.DecideWinners(ctx, by); err != nil && ctx.Err() == nil {
			e.log.Warn("split decision failed; the next round carries on", "err", err)
		}
	})
}

// VariantReport is what GET /admin/v1/campaigns/{id}/variants answers: a
// split campaign's variants with their counts, the test as it stands now,
// and the recorded winner.
type VariantReport struct {
	Campaign   string       `json:"campaign"`
	Metric     string       `json:"metric"`
	Confidence float64      `json:"confidence"`
	MinSample  int          `json:"min_sample"`
	Variants   []VariantRow `json:"variants"`
	Test       TestResult   `json:"test"`
	Winner     *string      `json:"winner"`     // null until declared
	DecidedAt  *time.Time   `json:"decided_at"` // null until declared
	// Decision is the test as it stood when the winner was declared (the
	// live Test goes on counting); null until then.
	Decision *Decision `json:"decision"`
}

// VariantRow is one variant's counts. Rate is the split's metric (opened /
// sent, or coupons_redeemed / coupons_issued) and Sample its denominator,
// the count min_sample applies to.
type VariantRow struct {
	Name            string  `json:"name"`
	Weight          int     `json:"weight"`
	Fired           int     `json:"fired"`
	Sent            int     `json:"sent"`
	Delivered       int     `json:"delivered"`
	Opened          int     `json:"opened"`
	CouponsIssued   int     `json:"coupons_issued"`
	CouponsRedeemed int     `json:"coupons_redeemed"`
	Rate            float64 `json:"rate"`
	Sample          int     `json:"sample"`
	Rates           Rates   `json:"rates"`
}

// Rates are a variant's rates, 0 when the denominator is.
type Rates struct {
	Delivered float64 `json:"delivered"` // delivered / sent
	Opened    float64 `json:"opened"`    // opened / sent
	Redeemed  float64 `json:"redeemed"`  // coupons_redeemed / coupons_issued
}

// TestResult is the z-test of the best variant against the one it is
// least clearly ahead of (see campaigns.WinnerRule.Decide).
type TestResult struct {
	Best        string  `json:"best"`
	Against     string  `json:"against"`
	Z           float64 `json:"z"`
	P           float64 `json:"p"`
	Significant bool    `json:"significant"`
	Reason      string  `json:"reason"`
}

// Decision is a recorded winner's test.
type Decision struct {
	Variant   string          `json:"variant"`
	Z         float64         `json:"z"`
	P         float64         `json:"p"`
	Reason    string          `json:"reason"`
	DecidedAt time.Time       `json:"decided_at"`
	Variants  json.RawMessage `json:"variants"` // the counts it was decided on
}

// Variants reports on split campaign id of the running set. NotFound when
// the running set has no such campaign, or it has no split.
func (e *Engine) Variants(ctx context.Context, id string) (*VariantReport, error) {
	const op = "engine.Variants"
	set := e.set.Load()
	var c *campaigns.Campaign
	if set != nil {
		c = set.Campaign(id)
	}
	if c == nil {
		return nil, errs.E(errs.NotFound, op, "no campaign %q in the running set", id)
	}
	if c.Split == nil {
		return nil, errs.E(errs.NotFound, op, "campaign %q has no split: it is not an A/B test, so it has no variants (its counts are at /admin/v1/campaigns/%s/stats)", id, id)
	}
	rows, v, err := e.judge(ctx, c)
	if err != nil {
		return nil, err
	}
	w := c.Split.Winner
	r := &VariantReport{Campaign: c.ID, Metric: w.Metric, Confidence: w.Confidence, MinSample: w.MinSample, Variants: rows,
		Test: TestResult{Best: v.Best, Against: v.Other, Z: v.Z, P: v.P, Significant: v.Significant, Reason: v.Reason}}
	rec, err := e.db.Winner(ctx, c.ID)
	if errs.Is(err, errs.NotFound) {
		return r, nil
	}
	if err != nil {
		return nil, err
	}
	at := rec.DecidedAt.UTC()
	r.Winner, r.DecidedAt = &rec.Variant, &at
	r.Decision = &Decision{Variant: rec.Variant, Z: rec.Z, P: rec.P, Reason: rec.Reason, DecidedAt: at, Variants: json.RawMessage(rec.Rates)}
	return r, nil
}
