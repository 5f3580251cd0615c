package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/sqldb"
)

// Regression (review of the issue 9 fan-out): the scenario below used to fail.
// A plan chunk's Write may run twice (group commit: another write in the
// same batch fails). plan() assigns *slot inside the closure, so the re-run
// starts from the rolled-back cursor and skips a chunk.
func TestPlanSurvivesRerunOfItsWrite(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		e.now = time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
		e.load(t, `kind: Campaign
id: all
on: {event: schedule, at: 2026-12-01T20:00:00+08:00}
do:
  - send_subscribe: {template_id: SUB, page: pages/index/index, data: {thing1: "Hi"}}
`)
		const n = 45_500
		seedFollowers(t, e, n)
		e.now = time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC)
		// Other writers failing now and then (a repeated coupon redemption,
		// an unknown code at the till, a duplicate batch's Conflict...).
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					e.db.Write(ctx, func(tx *sqldb.Tx) error { return errs.E(errs.Conflict, "test", "coupon already redeemed") })
				}
			}()
		}
		err := e.eng.TickSchedules(t.Context(), "a")
		cancel()
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		slots, _ := e.db.Slots(t.Context(), "all", 1)
		st, err := e.db.SlotStats(t.Context(), slots[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Planned != n || slots[0].Planned != n {
			t.Errorf("ledger holds %d recipients, slot row says %d planned; the audience is %d", st.Planned, slots[0].Planned, n)
		}
	})
}
