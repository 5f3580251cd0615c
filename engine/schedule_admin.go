package engine

import (
	"context"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/sqldb"
)

// AudiencePreview is what a schedule campaign would do now: its next slots,
// how many followers its audience holds, and a few of them.
type AudiencePreview struct {
	Campaign  string      `json:"campaign"`
	NextSlots []time.Time `json:"next_slots"`
	Size      int64       `json:"size"`
	Examples  []string    `json:"examples"`
	Control   string      `json:"control"` // "", paused or cancelled
}

// PreviewAudience evaluates campaign id's audience now (in SQL, over the
// whole follower base) with its next n slots and up to examples openids.
// NotFound for a campaign not in the running set; Invalid for one that is
// not a schedule campaign or whose audience cannot be evaluated.
func (e *Engine) PreviewAudience(ctx context.Context, id string, n, examples int) (AudiencePreview, error) {
	const op = "engine.PreviewAudience"
	c, err := e.scheduleCampaign(id, op)
	if err != nil {
		return AudiencePreview{}, err
	}
	return PreviewOn(ctx, e.db, c, e.now(), n, examples)
}

// PreviewOn is PreviewAudience for a campaign c read from files (omo
// campaigns plan), against db.
func PreviewOn(ctx context.Context, db *sqldb.DB, c *campaigns.Campaign, now time.Time, n, examples int) (AudiencePreview, error) {
	p := AudiencePreview{Campaign: c.ID, NextSlots: c.Slots(now, n), Examples: []string{}}
	if p.NextSlots == nil {
		p.NextSlots = []time.Time{}
	}
	a, err := db.CompileAudience(ctx, &c.When, c.ID, now)
	if err != nil {
		return p, err
	}
	if p.Size, err = db.CountAudience(ctx, a); err != nil {
		return p, err
	}
	if p.Examples, err = db.SampleAudience(ctx, a, examples); err != nil {
		return p, err
	}
	p.Control, err = db.Control(ctx, c.ID)
	return p, err
}

// Firing is one slot of a schedule campaign with what it did.
type Firing struct {
	Slot      time.Time       `json:"slot"`
	State     string          `json:"state"`
	Reason    string          `json:"reason,omitempty"`
	FiredAt   time.Time       `json:"fired_at"`
	Stats     sqldb.SlotStats `json:"stats"`
	Instances string          `json:"claimed_by"`
}

// Firings lists campaign id's slots, newest first (at most limit), each
// with its counts: planned, sent, skipped by reason, failed, pending,
// delivered, opened, coupons issued and redeemed.
func (e *Engine) Firings(ctx context.Context, id string, limit int) ([]Firing, error) {
	slots, err := e.db.Slots(ctx, id, limit)
	if err != nil {
		return nil, err
	}
	if set := e.set.Load(); len(slots) == 0 && (set == nil || set.Campaign(id) == nil) {
		return nil, errs.E(errs.NotFound, "engine.Firings", "no campaign %q", id)
	}
	out := make([]Firing, 0, len(slots))
	for _, s := range slots {
		st, err := e.db.SlotStats(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, Firing{Slot: s.SlotAt, State: s.State, Reason: s.Reason, FiredAt: s.CreatedAt, Stats: st, Instances: s.ClaimedBy})
	}
	return out, nil
}

// Control verbs of omo campaigns pause|resume|cancel and the admin API.
const (
	VerbPause  = "pause"
	VerbResume = "resume"
	VerbCancel = "cancel"
)

// ControlCampaign pauses, resumes or cancels campaign id (see SetControl).
// Only schedule campaigns of the running set can be controlled: NotFound
// for another id, Invalid for a campaign that answers pushes.
func (e *Engine) ControlCampaign(ctx context.Context, id, verb string) (string, error) {
	if _, err := e.scheduleCampaign(id, "engine.ControlCampaign"); err != nil {
		return "", err
	}
	return SetControl(ctx, e.db, id, verb, e.now())
}

// SetControl records verb for campaign id in db and returns the new
// state: pause stops the campaign's sends before their next WeChat call
// and fires no new slot; resume lets both carry on; cancel skips every
// recipient of its firings not yet sent and fires no new slot (until
// resumed). An unknown verb is Invalid.
func SetControl(ctx context.Context, db *sqldb.DB, id, verb string, now time.Time) (string, error) {
	state, ok := map[string]string{VerbPause: sqldb.ControlPaused, VerbResume: sqldb.ControlRunning, VerbCancel: sqldb.ControlCancelled}[verb]
	if !ok {
		return "", errs.E(errs.Invalid, "engine.SetControl", "%q: want pause, resume or cancel", verb)
	}
	return state, db.Write(ctx, func(tx *sqldb.Tx) error { return tx.SetControl(id, state, now) })
}

func (e *Engine) scheduleCampaign(id, op string) (*campaigns.Campaign, error) {
	set := e.set.Load()
	var c *campaigns.Campaign
	if set != nil {
		c = set.Campaign(id)
	}
	if c == nil {
		return nil, errs.E(errs.NotFound, op, "no campaign %q in the running set", id)
	}
	if c.On.Event != campaigns.OnSchedule {
		return c, errs.E(errs.Invalid, op, "campaign %q is a %s campaign, not a schedule campaign", id, c.On.Event)
	}
	return c, nil
}
