package engine_test

import (
	"testing"
	"time"
)

// Regression (review of the issue 9 fan-out): the scenario below used to fail.
// limits.budget caps a campaign's firings; a send_mass campaign's
// recipients refused by it are still handed to the mass send.
func TestMassSendHonoursBudget(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		e.now = time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
		e.load(t, `kind: Campaign
id: m
on: {event: schedule, at: 2026-12-01T20:00:00+08:00}
limits: {budget: 1}
do:
  - send_mass: {text: "Double 11!"}
`)
		seedFollowers(t, e, 3)
		e.now = time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC)
		if err := e.eng.TickSchedules(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		slots, _ := e.db.Slots(t.Context(), "m", 1)
		mass := 0
		for _, o := range []string{"o00000", "o00001", "o00002"} {
			p, err := e.eng.PrepareRecipient(t.Context(), slots[0].ID, o)
			if err != nil {
				t.Fatal(err)
			}
			if p.Mass {
				mass++
			}
		}
		if mass != 1 {
			t.Errorf("%d recipients go into the mass send with limits.budget 1", mass)
		}
	})
}
