package engine_test

import (
	"testing"
	"time"

	"github.com/omohq/omo/sqldb"
)

// Regression (review of the issue 9 fan-out): the scenario below used to fail.
// never_received is evaluated when a slot is planned only. An hourly
// campaign whose fan-out takes longer than an hour plans the followers the
// previous slot has not reached yet a second time, and PrepareRecipient
// does not look again: the follower gets the campaign from both slots.
func TestNeverReceivedCheckedAtSendTime(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		e.now = time.Date(2026, 12, 1, 11, 30, 0, 0, time.UTC)
		e.load(t, `kind: Campaign
id: hello
on: {event: schedule, cron: "0 * * * *"}
when: {never_received: true}
do:
  - send_subscribe: {template_id: SUB, page: pages/index/index, data: {thing1: "Hi"}}
`)
		seedFollowers(t, e, 1)
		e.now = time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC)
		if err := e.eng.TickSchedules(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		e.now = time.Date(2026, 12, 1, 13, 0, 1, 0, time.UTC) // slot 1 still sending
		if err := e.eng.TickSchedules(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		slots, _ := e.db.Slots(t.Context(), "hello", 10)
		sent := 0
		for i := len(slots) - 1; i >= 0; i-- {
			p, err := e.eng.PrepareRecipient(t.Context(), slots[i].ID, "o00000")
			if err != nil {
				t.Fatal(err)
			}
			if p.Message != nil {
				sent++
				// the batch sends it and records it reached
				if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
					r := &sqldb.Recipient{SlotID: slots[i].ID, OpenID: "o00000", State: sqldb.RecipientSent}
					if _, err := tx.SetRecipient(r, sqldb.RecipientSending, e.now); err != nil {
						return err
					}
					return tx.MarkReached("hello", "o00000")
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if sent != 1 {
			t.Errorf("never_received campaign sent %d messages to one follower over %d slots; want 1", sent, len(slots))
		}
	})
}
