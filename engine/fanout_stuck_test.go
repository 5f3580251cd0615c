package engine_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/sqldb"
)

// Regression (review of the issue 9 fan-out): the scenario below used to fail.
// An audience that is a whole number of plan chunks ends with an empty
// PlanChunk that flips the slot to sending in a transaction with no batch.
// If every batch finished while the slot was still planning (its claimant
// died after its last full chunk and the takeover came planLease later),
// FinishSlotIfDone was a no-op each time and nobody ever calls it again.
func TestSlotFinishesAfterTakeover(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		// omo A claims the slot, commits its one full chunk (10,000) and dies.
		slot := plannedSlot(t, e, 10_000)
		// Its 20 batches (in the outbox) run meanwhile and finish: every
		// recipient sent, FinishSlotIfDone after each batch.
		for b := 0; b < 20; b++ {
			rows, _ := e.db.BatchRecipients(t.Context(), slot.ID, b)
			if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
				for _, r := range rows {
					r.State = sqldb.RecipientSent
					if _, err := tx.SetRecipient(&r, sqldb.RecipientPlanned, e.now); err != nil {
						return err
					}
				}
				return tx.FinishSlotIfDone(slot.ID, e.now)
			}); err != nil {
				t.Fatal(err)
			}
		}
		// omo B takes the plan over after the lease and finds nothing more.
		e.now = e.now.Add(31 * time.Second)
		if err := e.eng.TickSchedules(t.Context(), "b"); err != nil {
			t.Fatal(err)
		}
		st, _ := e.db.SlotStats(t.Context(), slot.ID)
		got, _ := e.db.SlotByID(t.Context(), slot.ID)
		if got.State != sqldb.SlotDone {
			t.Errorf("slot state %q with %d sent, %d pending and no batch left to finish it; want done", got.State, st.Sent, st.Pending)
		}
	})
}

// TestSlotFinishesWhenLastBatchesRace: the last two batches of a slot end
// at the same moment in two transactions (two committers, or two omo
// processes: a cancel skipping the rest of both, say). Each marks its own
// recipients and asks FinishSlotIfDone; each statement alone sees the
// other's recipients as they were before the other commits, so neither
// finished the slot and it stayed "sending" for good. The slot's lock makes
// the second wait for the first and see its recipients.
func TestSlotFinishesWhenLastBatchesRace(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		slot := plannedSlot(t, e, 1_000)
		if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error { return tx.SetSlotState(slot, sqldb.SlotSending, "", e.now) }); err != nil {
			t.Fatal(err)
		}
		finish := func(batch int, hold func()) error {
			rows, err := e.db.BatchRecipients(t.Context(), slot.ID, batch)
			if err != nil || len(rows) == 0 {
				return fmt.Errorf("batch %d: %d recipients, %v", batch, len(rows), err)
			}
			return e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
				for _, r := range rows {
					r.State = sqldb.RecipientSkipped
					if _, err := tx.SetRecipient(&r, sqldb.RecipientPlanned, e.now); err != nil {
						return err
					}
				}
				if err := tx.FinishSlotIfDone(slot.ID, e.now); err != nil {
					return err
				}
				hold()
				return nil
			})
		}
		var release atomic.Bool
		first, second := make(chan error, 1), make(chan error, 1)
		go func() {
			first <- finish(0, func() {
				for !release.Load() {
					time.Sleep(time.Millisecond)
				}
			})
		}()
		time.Sleep(100 * time.Millisecond)
		go func() { second <- finish(1, func() {}) }()
		time.Sleep(200 * time.Millisecond) // the second is under way in another committer (PostgreSQL)
		release.Store(true)
		for _, c := range []chan error{first, second} {
			if err := <-c; err != nil {
				t.Fatal(err)
			}
		}
		got, _ := e.db.SlotByID(t.Context(), slot.ID)
		if got.State != sqldb.SlotDone {
			t.Errorf("slot state %q after both batches ended; want done", got.State)
		}
	})
}

// plannedSlot loads a schedule campaign for all of n seeded followers, and
// claims its slot and plans one chunk of up to 10,000 recipients (batches
// of 500) as omo "a" would: the slot is left planning.
func plannedSlot(t *testing.T, e *env, n int) *sqldb.Slot {
	t.Helper()
	e.now = time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
	set := e.load(t, `kind: Campaign
id: all
on: {event: schedule, at: 2026-12-01T20:00:00+08:00}
do:
  - send_subscribe: {template_id: SUB, page: pages/index/index, data: {thing1: "Hi"}}
`)
	seedFollowers(t, e, n)
	e.now = time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC)
	c := set.Campaign("all")
	a, err := e.db.CompileAudience(t.Context(), &c.When, c.ID, e.now)
	if err != nil {
		t.Fatal(err)
	}
	var slot *sqldb.Slot
	if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		s, _, err := tx.ClaimSlot(c.ID, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), sqldb.SlotPlanning, "", "a", e.now)
		if err != nil {
			return err
		}
		if _, _, err := tx.PlanChunk(s, a, 10_000, 500, e.now); err != nil {
			return err
		}
		slot = s
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return slot
}
