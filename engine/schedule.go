package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// Fan-out sizes: the audience is written to the ledger in chunks of
// PlanChunk recipients (one transaction each, so pushes interleave with a
// big plan), numbered into batches of BatchSize, one queued task each.
const (
	PlanChunk = 10_000
	BatchSize = 500
)

// planLease is how long a planning slot's claimant may stay silent before
// another omo takes the plan over (it writes after every chunk).
const planLease = 30 * time.Second

// TickSchedules fires the schedule campaigns of the running set whose
// slots are due: each slot is claimed by inserting its unique (campaign,
// slot) row, so any number of omo instances fire it once; a slot too late
// to send (past max_lateness, or missed while no omo ran under catch_up:
// skip) is recorded missed and never sent. A claimed slot's audience is
// written to the ledger and its batches queued before TickSchedules
// returns. Plans left half-done by an omo that died are taken over. by
// names this instance in the slot rows.
func (e *Engine) TickSchedules(ctx context.Context, by string) error {
	set := e.set.Load()
	if set == nil {
		return nil
	}
	now := e.now()
	// Slots since the previous tick began were seen on time, however long
	// that tick planned; before the first tick, only the last SlotGrace.
	ticking := now.Add(-campaigns.SlotGrace)
	if prev := e.lastTick.Swap(now.UnixNano()); prev != 0 && time.Unix(0, prev).Before(ticking) && now.Sub(time.Unix(0, prev)) < time.Hour {
		ticking = time.Unix(0, prev)
	}
	for _, c := range set.Campaigns {
		if c.On.Event != campaigns.OnSchedule {
			continue
		}
		if err := e.tickCampaign(ctx, c, by, now, ticking); err != nil {
			return fmt.Errorf("campaign %s: %w", c.ID, err)
		}
	}
	return e.resumePlans(ctx, set, by, now)
}

func (e *Engine) tickCampaign(ctx context.Context, c *campaigns.Campaign, by string, now, ticking time.Time) error {
	ctl, err := e.db.Control(ctx, c.ID)
	if err != nil || ctl != sqldb.ControlRunning {
		return err // a paused or cancelled campaign fires no new slot
	}
	// Slots count from the later of the last one recorded and when omo
	// first ran the campaign, looking back a week at most.
	since := now.Add(-7 * 24 * time.Hour)
	for _, get := range []func(context.Context, string) (time.Time, bool, error){e.db.LastSlot, e.db.CampaignSeen} {
		at, ok, err := get(ctx, c.ID)
		if err != nil {
			return err
		}
		if ok && at.After(since) {
			since = at
		}
	}
	slots, verdicts := c.DueSlotsTicking(since, now, ticking, 100)
	for i, at := range slots {
		state, reason := sqldb.SlotPlanning, ""
		if verdicts[i] == campaigns.SlotMissed {
			state, reason = sqldb.SlotMissed, fmt.Sprintf("seen %s after its time (max_lateness %s, catch_up %s)", now.Sub(at).Round(time.Second), c.On.MaxLateness, c.On.CatchUp)
		}
		var slot *sqldb.Slot
		var claimed bool
		err := e.db.Write(ctx, func(tx *sqldb.Tx) (err error) {
			slot, claimed, err = tx.ClaimSlot(c.ID, at, state, reason, by, now)
			return err
		})
		if err != nil {
			return err
		}
		if !claimed {
			continue
		}
		if state == sqldb.SlotMissed {
			e.log.Warn("schedule slot missed", "campaign", c.ID, "slot", at, "reason", reason)
			continue
		}
		e.log.Info("schedule slot fired", "campaign", c.ID, "slot", at, "slot_id", slot.ID)
		if err := e.plan(ctx, c, slot); err != nil {
			return err
		}
	}
	return nil
}

// resumePlans takes over the plans of slots whose claimant went silent.
func (e *Engine) resumePlans(ctx context.Context, set *campaigns.Set, by string, now time.Time) error {
	stale, err := e.db.StalePlanning(ctx, now.Add(-planLease))
	if err != nil {
		return err
	}
	for i := range stale {
		s := &stale[i]
		c := set.Campaign(s.CampaignID)
		if c == nil {
			continue
		}
		var mine bool
		if err := e.db.Write(ctx, func(tx *sqldb.Tx) (err error) { mine, err = tx.TakeOverSlot(s.ID, s.UpdatedAt, by, now); return err }); err != nil || !mine {
			if err != nil {
				return err
			}
			continue
		}
		if tooLate(c, s.SlotAt, now) {
			reason := fmt.Sprintf("its plan was taken over %s after its time (max_lateness %s)", now.Sub(s.SlotAt).Round(time.Second), c.On.MaxLateness)
			if err := e.db.Write(ctx, func(tx *sqldb.Tx) error { return tx.SetSlotState(s, sqldb.SlotMissed, reason, now) }); err != nil {
				return err
			}
			e.log.Warn("schedule slot missed", "campaign", c.ID, "slot_id", s.ID, "reason", reason)
			continue
		}
		e.log.Info("schedule plan taken over", "campaign", c.ID, "slot_id", s.ID, "planned", s.Planned)
		if err := e.plan(ctx, c, s); err != nil {
			return err
		}
	}
	return nil
}

// plan writes slot's recipients to the ledger chunk by chunk from its
// cursor, each chunk in one transaction with the outbox items of the
// batches it filled, and hands those to the queue after each commit.
func (e *Engine) plan(ctx context.Context, c *campaigns.Campaign, slot *sqldb.Slot) error {
	a, err := e.db.CompileAudience(ctx, &c.When, c.ID, e.now())
	if errs.Is(err, errs.Invalid) {
		return e.db.Write(ctx, func(tx *sqldb.Tx) error {
			return tx.SetSlotState(slot, sqldb.SlotDone, "audience: "+errs.Message(err), e.now())
		})
	}
	if err != nil {
		return err // the database failed: the plan is taken over once its lease ends
	}
	for done := false; !done; {
		var items []outbox.Item
		var next sqldb.Slot
		var last bool
		err := e.db.Write(ctx, func(tx *sqldb.Tx) error {
			// The write may run twice: each run starts from the committed
			// slot and sets nothing outside the transaction but its results.
			items = items[:0]
			s := *slot
			now := e.now()
			batches, l, err := tx.PlanChunk(&s, a, PlanChunk, batchSize(c), now)
			if err != nil {
				return err
			}
			for _, b := range batches {
				it, err := outbox.New(BatchItemID(s.ID, b), outbox.CampaignBatch, outbox.BatchPayload{Slot: s.ID, Batch: b, Campaign: c.ID, Mass: c.MassAction() != nil}, now, now)
				if err != nil {
					return errs.Wrap(errs.Other, "engine.plan", err)
				}
				if err := tx.AddOutbox(it); err != nil {
					return err
				}
				items = append(items, it)
			}
			if l {
				state := sqldb.SlotSending
				if s.Planned == 0 {
					state = sqldb.SlotDone // an empty audience finishes at once
				}
				if err := tx.SetSlotState(&s, state, "", now); err != nil {
					return err
				}
				// Every batch may have finished while the slot was still
				// planning (a takeover): then nothing else would finish it.
				if err := tx.FinishSlotIfDone(s.ID, now); err != nil {
					return err
				}
			}
			next, last = s, l
			return nil
		})
		if err != nil {
			return err
		}
		*slot, done = next, last
		if len(items) > 0 && e.queue != nil {
			e.queue.Enqueue(ctx, items)
		}
	}
	e.log.Info("schedule slot planned", "campaign", c.ID, "slot_id", slot.ID, "recipients", slot.Planned, "batches", slot.Batches)
	return nil
}

// MassChunk is how many recipients one mass send carries: WeChat's
// maximum for message/mass/send to an openid list.
const MassChunk = 10_000

// batchSize is the recipients per batch: a mass send's chunk, or BatchSize.
func batchSize(c *campaigns.Campaign) int {
	if c.MassAction() != nil {
		return MassChunk
	}
	return BatchSize
}

// slotAudience is slot's audience compiled for the send-time check, once
// per slot and process.
func (e *Engine) slotAudience(ctx context.Context, c *campaigns.Campaign, slot int64, now time.Time) (sqldb.Audience, error) {
	if a, ok := e.audiences.Load(slot); ok {
		return a.(sqldb.Audience), nil
	}
	a, err := e.db.CompileAudience(ctx, &c.When, c.ID, now)
	if err != nil {
		return a, err
	}
	e.audiences.Store(slot, a)
	return a, nil
}

// tooLate reports whether a slot at is past campaign c's max_lateness at
// now: nothing of it may be sent any more.
func tooLate(c *campaigns.Campaign, at, now time.Time) bool {
	late := c.On.MaxLateness
	if late <= 0 {
		late = campaigns.DefaultMaxLateness
	}
	return now.Sub(at) > late
}

// BatchItemID is the outbox item (and task) id of a slot's batch.
func BatchItemID(slot int64, batch int) string { return fmt.Sprintf("slot%d-b%d", slot, batch) }

// PrepareRecipient runs a schedule campaign's actions for one planned
// recipient of slot, once: in one transaction it re-checks eligibility
// now (still following, the campaign's limits), issues coupons, writes the
// message row (no outbox item: the batch sends it itself) and moves the
// ledger row to sending (or skipped, with why). A recipient no longer
// planned is returned as it is (its message, if any). Quiet hours answer
// NotBefore and change nothing.
func (e *Engine) PrepareRecipient(ctx context.Context, slotID int64, openid string) (outbox.Prepared, error) {
	slot, err := e.db.SlotByID(ctx, slotID)
	if err != nil {
		return outbox.Prepared{}, err
	}
	set := e.set.Load()
	var c *campaigns.Campaign
	if set != nil {
		c = set.Campaign(slot.CampaignID)
	}
	now := e.now()
	if c != nil && c.Limits.Quiet != nil {
		if at := c.Limits.Quiet.SendAt(now, c.Location); at.After(now) {
			return outbox.Prepared{NotBefore: at}, nil
		}
	}
	var aud sqldb.Audience
	if c != nil {
		if aud, err = e.slotAudience(ctx, c, slotID, now); err != nil {
			return outbox.Prepared{}, err
		}
	}
	var out outbox.Prepared
	// The hint puts the recipient's lock with the batch's other followers'
	// locks, taken first and sorted (sqldb.Hint.OpenIDs).
	err = e.db.WriteHinted(ctx, &sqldb.Hint{OpenIDs: []string{openid}}, func(tx *sqldb.Tx) error {
		out = outbox.Prepared{}
		r := &sqldb.Recipient{SlotID: slotID, OpenID: openid}
		skip := func(why string) error {
			out.Skipped, r.State, r.Reason = why, sqldb.RecipientSkipped, why
			_, err := tx.SetRecipient(r, sqldb.RecipientPlanned, now)
			return err
		}
		if c == nil {
			return skip("campaign_removed")
		}
		if tooLate(c, slot.SlotAt, now) {
			return skip("too_late") // never sent more than max_lateness after its slot
		}
		// The follower's lock before their row (engine.apply's order), so
		// that an unfollow another process commits meanwhile is seen.
		if err := tx.LockFollower(openid); err != nil {
			return err
		}
		f, err := tx.Follower(openid)
		if errs.Is(err, errs.NotFound) {
			return skip("unknown_follower")
		}
		if err != nil {
			return err
		}
		if !f.Subscribed {
			return skip("unfollowed")
		}
		if in, err := tx.InAudience(aud, openid); err != nil {
			return err
		} else if !in {
			return skip("not_in_audience") // a tag, a coupon or never_received changed since the plan
		}
		fr := &firing{e: e, tx: tx, set: set, ev: &events.Event{Type: events.Type(campaigns.OnSchedule), OpenID: openid}, now: now, f: f, inline: true}
		h, err := tx.CampaignHistory(c.ID, openid, "")
		if err != nil {
			return err
		}
		if why := c.Limits.Allow(h, now); why != campaigns.Allowed {
			return skip("limit_" + string(why))
		}
		if err := fr.fire(c, nil); err != nil {
			return err
		}
		if fr.refused != campaigns.Allowed {
			return skip("limit_" + string(fr.refused)) // the budget ran out
		}
		mass := c.MassAction() != nil
		if len(fr.sends) == 0 && fr.issued == "" && !mass {
			return skip("nothing_to_send") // budget spent, or the campaign only tags
		}
		r.State, r.CouponCode = sqldb.RecipientSending, fr.issued
		if len(fr.sends) > 0 {
			out.Message, r.MessageID = fr.sends[0], fr.sends[0].ID
			if fr.sends[0].State == outbox.MsgFailed {
				out.Message, r.State, r.Reason = nil, sqldb.RecipientFailed, fr.sends[0].Reason
			}
		} else if !mass {
			r.State = sqldb.RecipientSent // a coupon and no message: issuing it was the send
		}
		out.Mass = mass && r.State == sqldb.RecipientSending
		ok, err := tx.SetRecipient(r, sqldb.RecipientPlanned, now)
		if err != nil || !ok {
			return errs.E(errs.Conflict, "engine.PrepareRecipient", "recipient %s of slot %d is no longer planned", openid, slotID)
		}
		if r.State == sqldb.RecipientSent {
			return tx.MarkReached(c.ID, openid)
		}
		return nil
	})
	if errs.Is(err, errs.Conflict) {
		return outbox.Prepared{Skipped: "already_prepared"}, nil
	}
	return out, err
}

// RunSchedules calls TickSchedules every every until ctx ends. A failed
// tick is logged and the next one carries on: a slot is claimed before
// anything is planned and a plan resumes from its cursor, so nothing is
// lost or done twice.
func (e *Engine) RunSchedules(ctx context.Context, by string, every time.Duration) {
	tickEvery(ctx, every, func() {
		if err := e.TickSchedules(ctx, by); err != nil && ctx.Err() == nil {
			e.log.Warn("schedule tick failed; the next tick carries on", "err", err)
		}
	})
}

// tickEvery calls fn every every until ctx ends.
func tickEvery(ctx context.Context, every time.Duration, fn func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// MassMessage is what campaign id's mass send says (its text rendered with
// .Campaign, or its mpnews media id), the same for every chunk of a
// firing. NotFound when the running set has no such campaign, Invalid when
// it has no send_mass or its text does not render.
func (e *Engine) MassMessage(ctx context.Context, id string) (outbox.MassRequest, error) {
	const op = "engine.MassMessage"
	set := e.set.Load()
	var c *campaigns.Campaign
	if set != nil {
		c = set.Campaign(id)
	}
	if c == nil {
		return outbox.MassRequest{}, errs.E(errs.NotFound, op, "no campaign %q in the running set", id)
	}
	m := c.MassAction()
	if m == nil {
		return outbox.MassRequest{}, errs.E(errs.Invalid, op, "campaign %q has no send_mass", id)
	}
	req := outbox.MassRequest{MediaID: m.MediaID, IgnoreReprint: m.IgnoreReprint}
	if m.Text != nil {
		text, err := m.Text.Render(&campaigns.Data{Campaign: campaigns.CampaignData{ID: c.ID, Title: c.Title}})
		if err != nil {
			return req, errs.Wrap(errs.Invalid, op, err)
		}
		req.Text = text
	}
	return req, nil
}
