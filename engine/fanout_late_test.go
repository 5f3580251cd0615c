package engine_test

import (
	"testing"
	"time"

	"github.com/omohq/omo/sqldb"
)

// Regression (review of the issue 9 fan-out): the scenario below used to fail.
// README: "Nothing is ever sent later than max_lateness after its time."
// A slot whose plan was cut by a crash is taken over whenever an omo next
// ticks, and its recipients are prepared whenever their batch runs: neither
// looks at the slot's time.
func TestNothingSentPastMaxLateness(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		e.now = time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
		set := e.load(t, scheduleSet) // at 20:00+08 = 12:00 UTC, max_lateness 2h by default
		seedFollowers(t, e, 30)
		e.now = time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC)
		c := set.Campaign("promo")
		// omo claims the slot at 12:00:01 and dies before writing a chunk.
		if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
			_, _, err := tx.ClaimSlot(c.ID, time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), sqldb.SlotPlanning, "", "a", e.now)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// It is restarted the next day.
		e.now = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
		if err := e.eng.TickSchedules(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		slots, _ := e.db.Slots(t.Context(), "promo", 1)
		if slots[0].State != sqldb.SlotMissed {
			t.Errorf("slot of 12:00 taken over 21 h later: state %s, %d planned; want missed", slots[0].State, slots[0].Planned)
		}
		if slots[0].Planned > 0 {
			rows, _ := e.db.BatchRecipients(t.Context(), slots[0].ID, 0)
			p, err := e.eng.PrepareRecipient(t.Context(), slots[0].ID, rows[0].OpenID)
			if err == nil && p.Message != nil {
				t.Errorf("PrepareRecipient 21 h after the slot returns a message to send")
			}
		}
	})
}
