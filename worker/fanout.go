package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// Fanout prepares the recipients of a schedule campaign's firing (the
// engine). PrepareRecipient must act once per recipient: one no longer
// planned is returned as it is.
type Fanout interface {
	PrepareRecipient(ctx context.Context, slotID int64, openid string) (outbox.Prepared, error)
	// MassMessage is what a campaign's send_mass says, for every chunk.
	MassMessage(ctx context.Context, campaign string) (outbox.MassRequest, error)
}

// controlWait is how soon a batch of a paused campaign looks again.
const controlWait = time.Second

// batch sends one batch of a firing: for every recipient the ledger still
// holds planned, sending or calling, in order, it looks at the campaign's
// control (paused: stop before the next WeChat call and come back;
// cancelled: skip the rest), prepares the recipient (eligibility re-checked
// now), waits for the shared rate limits, marks it calling and calls
// WeChat, then records the outcome in the ledger. A retry of the batch
// (crash, Redis outage, WeChat failing, another run of the same task)
// sends exactly the rows not yet sent: the ledger, not a watermark, is the
// progress record. A batch works for batchBudget at most, then puts itself
// back in the queue, so no run nears the task timeout.
func (s *Server) batch(ctx context.Context, it *outbox.Item) (func(*sqldb.Tx) error, error) {
	var p outbox.BatchPayload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return nil, errs.Wrap(errs.Invalid, "worker.batch", err)
	}
	if s.opts.Fanout == nil {
		return nil, errs.E(errs.Unavailable, "worker.batch", "this worker has no campaign engine")
	}
	rows, err := s.db.BatchRecipients(ctx, p.Slot, p.Batch)
	if err != nil {
		return nil, err
	}
	if p.Mass {
		return s.massBatch(ctx, p, rows)
	}
	start := s.now()
	for i := range rows {
		if s.now().Sub(start) > batchBudget {
			return nil, &waitError{reason: "batch continues in a new run"}
		}
		if cancelled, err := s.control(ctx, p.Campaign); err != nil {
			return nil, err
		} else if cancelled {
			return s.cancelRest(p, rows[i:])
		}
		if err := s.sendRecipient(ctx, p, &rows[i]); err != nil {
			return nil, err
		}
	}
	return s.finishBatch(ctx, p)
}

// batchBudget is how long one run of a batch works before it requeues
// itself; with callTimeout it stays well under the task timeout (30 s).
const batchBudget = 10 * time.Second

// callTimeout bounds one WeChat call of a batch. The call runs on a
// context the batch's own cancellation does not end: a call WeChat
// accepted must be recorded.
const callTimeout = 15 * time.Second

// callLease is how long a recipient may stay calling before another run
// takes it for a call cut short by a crash: longer than any run lives
// (Options.CallLease overrides it).
const callLease = time.Minute

// callLease is Options.CallLease, or the default.
func (s *Server) callLease() time.Duration {
	if s.opts.CallLease > 0 {
		return s.opts.CallLease
	}
	return callLease
}

// control reads the campaign's control: a paused campaign is a wait (the
// batch comes back), a cancelled one is reported.
func (s *Server) control(ctx context.Context, campaign string) (cancelled bool, err error) {
	switch ctl, err := s.db.Control(ctx, campaign); {
	case err != nil:
		return false, err
	case ctl == sqldb.ControlPaused:
		return false, &waitError{wait: controlWait, reason: "campaign " + campaign + " is paused"}
	default:
		return ctl == sqldb.ControlCancelled, nil
	}
}

// finishBatch ends a batch run: done (and the slot done when it was the
// last) when no recipient of the batch is left; else another run holds
// some (a duplicate delivery) and this one comes back later.
func (s *Server) finishBatch(ctx context.Context, p outbox.BatchPayload) (func(*sqldb.Tx) error, error) {
	left, err := s.db.BatchRecipients(ctx, p.Slot, p.Batch)
	if err != nil {
		return nil, err
	}
	if len(left) > 0 {
		return nil, &waitError{wait: time.Second, reason: fmt.Sprintf("%d recipient(s) of the batch still in progress", len(left))}
	}
	now := s.now()
	return func(tx *sqldb.Tx) error { return tx.FinishSlotIfDone(p.Slot, now) }, nil
}

// cancelRest skips the recipients of a cancelled campaign's batch.
func (s *Server) cancelRest(p outbox.BatchPayload, rows []sqldb.Recipient) (func(*sqldb.Tx) error, error) {
	return s.skipRest(p, rows, "cancelled")
}

// skipRest skips the rows of a batch that will not be sent, with reason.
func (s *Server) skipRest(p outbox.BatchPayload, rows []sqldb.Recipient, reason string) (func(*sqldb.Tx) error, error) {
	now := s.now()
	for _, r := range rows {
		if r.State == sqldb.RecipientCalling && r.UpdatedAt != nil && now.Sub(*r.UpdatedAt) < s.callLease() {
			return nil, &waitError{wait: time.Second, reason: "a call of the cancelled batch is still under way"}
		}
	}
	return func(tx *sqldb.Tx) error {
		for i := range rows {
			r := rows[i]
			from := r.State
			r.State, r.Reason = sqldb.RecipientSkipped, reason
			if from == sqldb.RecipientCalling {
				// A call cut short by a crash: WeChat may have it.
				r.State, r.Reason = sqldb.RecipientFailed, "outcome_unknown"
			}
			if _, err := tx.SetRecipient(&r, from, now); err != nil {
				return err
			}
			if r.MessageID != "" {
				if err := tx.MarkFailed(r.MessageID, 0, "not sent: "+reason); err != nil {
					return err
				}
			}
		}
		return tx.FinishSlotIfDone(p.Slot, now)
	}, nil
}

// sendRecipient prepares (if still planned) and sends one recipient.
func (s *Server) sendRecipient(ctx context.Context, p outbox.BatchPayload, r *sqldb.Recipient) error {
	if r.State == sqldb.RecipientPlanned {
		prep, err := s.opts.Fanout.PrepareRecipient(ctx, p.Slot, r.OpenID)
		switch {
		case err != nil:
			return err
		case !prep.NotBefore.IsZero():
			return &waitError{wait: prep.NotBefore.Sub(s.now()), reason: "quiet hours of campaign " + p.Campaign}
		case prep.Skipped == "already_prepared":
			return &waitError{wait: time.Second, reason: "recipient prepared by another run"} // re-read it next run
		case prep.Message == nil:
			return nil // skipped, failed to render, or done without a message
		}
		r.State, r.MessageID = sqldb.RecipientSending, prep.Message.ID
	}
	row, err := s.db.Message(ctx, r.MessageID)
	if err != nil {
		return err
	}
	if row.State != outbox.MsgPending {
		// Sent (or failed) before a crash let the ledger know: reconcile.
		return s.recordRecipient(ctx, p, r, row.State == outbox.MsgFailed, row.Reason, nil)
	}
	if r.State == sqldb.RecipientCalling {
		if r.UpdatedAt != nil && s.now().Sub(*r.UpdatedAt) < s.callLease() {
			return &waitError{wait: time.Second, reason: "recipient being called by another run"}
		}
		if !s.safeToRepeat(row.Kind, r) {
			// omo died during the call: WeChat may have the message. Never twice.
			return s.recordRecipient(ctx, p, r, true, "outcome_unknown", func(tx *sqldb.Tx) error {
				return tx.MarkFailed(row.ID, 0, "omo stopped during the WeChat call; not sent again so that it is never sent twice")
			})
		}
	}
	var m outbox.Message
	if err := json.Unmarshal(row.Payload, &m); err != nil {
		return errs.Wrap(errs.Invalid, "worker.batch", err)
	}
	if err := s.admit(ctx, row.Kind, &m); err != nil {
		return err
	}
	if cancelled, err := s.control(ctx, p.Campaign); err != nil || cancelled {
		return err // paused during the wait (a cancel is seen by the batch next)
	}
	if err := s.markCalling(ctx, r); err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callTimeout)
	defer cancel()
	msgid, sentKind, err := s.deliver(callCtx, row.Kind, &m, row.ID)
	if err != nil {
		return s.callFailed(ctx, p, r, row, sentKind, err)
	}
	now := s.now()
	return s.recordRecipient(ctx, p, r, false, "", func(tx *sqldb.Tx) error {
		return tx.MarkSent(row.ID, msgid, sentKind, row.Warnings, now)
	})
}

// markCalling moves r to calling right before the WeChat call: from then
// on WeChat may get the message even if omo dies before it hears back. A
// row another run moved first is left to it.
func (s *Server) markCalling(ctx context.Context, r *sqldb.Recipient) error {
	var ok bool
	err := s.db.Write(ctx, func(tx *sqldb.Tx) (err error) {
		c := *r
		c.State = sqldb.RecipientCalling
		ok, err = tx.SetRecipient(&c, r.State, s.now())
		return err
	})
	if err != nil {
		return err
	}
	if !ok {
		return &waitError{wait: time.Second, reason: "recipient taken by another run"}
	}
	r.State = sqldb.RecipientCalling
	return nil
}

// callFailed handles a failed WeChat call. An answer from WeChat (an
// errcode) means it did not take the message: the recipient goes back to
// sending, then a spent quota pauses that kind of send, a permanent
// refusal fails the recipient, anything else retries. Without an answer
// (timeout, network) the outcome is unknown and the recipient stays
// calling: the retry after callLease resends only what is safe to repeat.
func (s *Server) callFailed(ctx context.Context, p outbox.BatchPayload, r *sqldb.Recipient, row *outbox.MessageRow, sentKind outbox.Kind, err error) error {
	code := errcode(err)
	if permanent(err) {
		return s.recordRecipient(ctx, p, r, true, fmt.Sprintf("errcode %d: %v", code, err), func(tx *sqldb.Tx) error {
			return tx.MarkFailed(row.ID, code, err.Error())
		})
	}
	if code != 0 || errs.Is(err, errs.QuotaSpent) || errs.Is(err, errs.Throttled) {
		if werr := s.db.Write(context.WithoutCancel(ctx), func(tx *sqldb.Tx) error {
			c := *r
			c.State = sqldb.RecipientSending
			_, err := tx.SetRecipient(&c, sqldb.RecipientCalling, s.now())
			return err
		}); werr != nil {
			return werr
		}
	}
	if errs.Is(err, errs.QuotaSpent) {
		return s.pauseKind(ctx, sentKind)
	}
	return err
}

// recordRecipient moves a sending recipient to sent or failed, together
// with the message's own write.
func (s *Server) recordRecipient(ctx context.Context, p outbox.BatchPayload, r *sqldb.Recipient, failed bool, reason string, also func(*sqldb.Tx) error) error {
	now := s.now()
	return s.db.Write(context.WithoutCancel(ctx), func(tx *sqldb.Tx) error {
		if also != nil {
			if err := also(tx); err != nil {
				return err
			}
		}
		rec := *r
		rec.State, rec.Reason = sqldb.RecipientSent, ""
		if failed {
			rec.State, rec.Reason = sqldb.RecipientFailed, reason
		}
		if _, err := tx.SetRecipient(&rec, r.State, now); err != nil {
			return err
		}
		if failed {
			return nil
		}
		return tx.MarkReached(p.Campaign, r.OpenID)
	})
}

// templateRepeatWindow is how long WeChat's client_msg_id guard holds
// (10 minutes), less a margin.
const templateRepeatWindow = 9 * time.Minute

// safeToRepeat reports whether a call cut short by a crash may be made
// again: only a template send within WeChat's client_msg_id window, which
// WeChat itself refuses to deliver twice.
func (s *Server) safeToRepeat(kind outbox.Kind, r *sqldb.Recipient) bool {
	return kind == outbox.SendTemplate && r.UpdatedAt != nil && s.now().Sub(*r.UpdatedAt) < templateRepeatWindow
}

// massBatch sends one batch of a send_mass firing as one mass send: each
// planned recipient is prepared (eligibility re-checked, coupons issued),
// then the chunk goes to WeChat once (Mass.SendChunk: the monthly budget,
// 60 calls a minute, a stable clientmsgid), and the ledger follows the
// chunk's outcome.
func (s *Server) massBatch(ctx context.Context, p outbox.BatchPayload, rows []sqldb.Recipient) (func(*sqldb.Tx) error, error) {
	if s.opts.Mass == nil {
		return nil, errs.E(errs.Unavailable, "worker.massBatch", "this worker has no mass sender")
	}
	if cancelled, err := s.control(ctx, p.Campaign); err != nil {
		return nil, err
	} else if cancelled {
		return s.cancelRest(p, rows)
	}
	var openids []string
	for i := range rows {
		r := &rows[i]
		if r.State == sqldb.RecipientPlanned {
			prep, err := s.opts.Fanout.PrepareRecipient(ctx, p.Slot, r.OpenID)
			if err != nil {
				return nil, err
			}
			if !prep.NotBefore.IsZero() {
				return nil, &waitError{wait: prep.NotBefore.Sub(s.now()), reason: "quiet hours of campaign " + p.Campaign}
			}
			if prep.Skipped == "already_prepared" {
				return nil, &waitError{wait: time.Second, reason: "recipient prepared by another run"}
			}
			if !prep.Mass {
				continue // skipped or failed: the ledger says why
			}
		}
		openids = append(openids, r.OpenID)
	}
	now := s.now()
	finish := func(tx *sqldb.Tx) error { return tx.FinishSlotIfDone(p.Slot, now) }
	if len(openids) == 0 {
		return finish, nil
	}
	msg, err := s.opts.Fanout.MassMessage(ctx, p.Campaign)
	if errs.Is(err, errs.NotFound) || errs.Is(err, errs.Invalid) {
		// The campaign was removed or lost its send_mass since the plan.
		s.log.Warn("mass batch of a changed campaign skipped", "campaign", p.Campaign, "slot", p.Slot, "batch", p.Batch, "err", err)
		return s.skipRest(p, rows, "campaign_changed")
	}
	if err != nil {
		return nil, err
	}
	if cancelled, err := s.control(ctx, p.Campaign); err != nil {
		return nil, err // paused while the recipients were prepared
	} else if cancelled {
		return s.cancelRest(p, rows)
	}
	_, err = s.opts.Mass.SendChunk(ctx, MassChunk{CampaignID: p.Campaign, SlotID: p.Slot, Chunk: p.Batch, OpenIDs: openids,
		Text: msg.Text, MediaID: msg.MediaID, IgnoreReprint: msg.IgnoreReprint}, massLedger{p: p, now: s.now})
	if err != nil {
		return nil, err
	}
	return finish, nil
}

// massLedger keeps a batch's ledger rows in step with its mass chunk.
type massLedger struct {
	p   outbox.BatchPayload
	now func() time.Time
}

// Planned skips the recipients whose monthly mass sends are spent.
func (l massLedger) Planned(tx *sqldb.Tx, _ *sqldb.MassSend, over []string) error {
	for _, id := range over {
		r := sqldb.Recipient{SlotID: l.p.Slot, OpenID: id, State: sqldb.RecipientSkipped, Reason: "mass_budget_spent"}
		if _, err := tx.SetRecipient(&r, sqldb.RecipientSending, l.now()); err != nil {
			return err
		}
	}
	return nil
}

// Ended records the chunk's outcome for each of its recipients.
func (l massLedger) Ended(tx *sqldb.Tx, m *sqldb.MassSend) error {
	state, reason := sqldb.RecipientSent, ""
	switch m.State {
	case sqldb.MassFailed:
		state, reason = sqldb.RecipientFailed, fmt.Sprintf("mass send refused: errcode %d: %s", m.Errcode, m.Reason)
	case sqldb.MassSkipped:
		state, reason = sqldb.RecipientSkipped, "mass_send_needs_two"
	}
	for _, id := range m.OpenIDs() {
		r := sqldb.Recipient{SlotID: l.p.Slot, OpenID: id, State: state, Reason: reason}
		if _, err := tx.SetRecipient(&r, sqldb.RecipientSending, l.now()); err != nil {
			return err
		}
		if state == sqldb.RecipientSent {
			if err := tx.MarkReached(l.p.Campaign, id); err != nil {
				return err
			}
		}
	}
	return nil
}
