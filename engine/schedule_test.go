package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

const scheduleSet = `kind: Campaign
id: promo
on: {event: schedule, at: 2026-12-01T20:00:00+08:00}
when: {store: sh-001}
do:
  - send_subscribe: {template_id: SUB, page: pages/index/index, data: {thing1: "Double 11"}}
`

// seedFollowers writes n followers of store sh-001 (every third of bj-001).
func seedFollowers(t *testing.T, e *env, n int) {
	t.Helper()
	err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		for i := range n {
			home := "sh-001"
			if i%3 == 2 {
				home = "bj-001"
			}
			at := e.now.Add(-time.Duration(i) * time.Hour)
			f := followers.Follower{OpenID: fmt.Sprintf("o%05d", i), Subscribed: true, SubscribedAt: &at, FirstSeenAt: at,
				FirstScene: "store:" + home, HomeStore: home, LastEventAt: at}
			if err := tx.SaveFollower(&f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestScheduleFiresSlotOnce(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.now = time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
		e.load(t, scheduleSet)
		seedFollowers(t, e, 1800) // 1,200 of sh-001
		slotAt := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
		e.now = slotAt.Add(-time.Second)
		if err := e.eng.TickSchedules(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		if slots, _ := e.db.Slots(t.Context(), "promo", 10); len(slots) != 0 {
			t.Fatalf("before its time: slots = %+v, want none", slots)
		}
		e.now = slotAt.Add(2 * time.Second)
		// A second engine on the same database is a second omo instance.
		other := engine.New(e.db, e.queue, func() time.Time { return e.now }, discard)
		if err := other.SetCampaigns(t.Context(), e.eng.Campaigns(), nil); err != nil {
			t.Fatal(err)
		}
		for _, eng := range []*engine.Engine{e.eng, other, e.eng} {
			if err := eng.TickSchedules(t.Context(), "x"); err != nil {
				t.Fatal(err)
			}
		}
		slots, err := e.db.Slots(t.Context(), "promo", 10)
		if err != nil || len(slots) != 1 {
			t.Fatalf("slots = %+v, %v; want exactly one", slots, err)
		}
		s := slots[0]
		if s.State != sqldb.SlotSending || s.Planned != 1200 || s.Batches != 3 || !s.SlotAt.Equal(slotAt) {
			t.Errorf("slot = %+v; want sending, 1200 planned in 3 batches at %v", s, slotAt)
		}
		want := []string{engine.BatchItemID(s.ID, 0), engine.BatchItemID(s.ID, 1), engine.BatchItemID(s.ID, 2)}
		if got := e.queue.ids(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("queued %v, want %v", got, want)
		}
		total := 0
		for b := range 3 {
			rows, err := e.db.BatchRecipients(t.Context(), s.ID, b)
			if err != nil {
				t.Fatal(err)
			}
			if b < 2 && len(rows) != engine.BatchSize {
				t.Errorf("batch %d has %d recipients, want %d", b, len(rows), engine.BatchSize)
			}
			for _, r := range rows {
				if r.State != sqldb.RecipientPlanned {
					t.Errorf("recipient %s is %s, want planned", r.OpenID, r.State)
				}
			}
			total += len(rows)
		}
		if total != 1200 {
			t.Errorf("ledger holds %d recipients, want 1200", total)
		}
	})
}

func TestScheduleMissedSlot(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.now = time.Date(2026, 12, 1, 11, 30, 0, 0, time.UTC) // omo first runs it at 11:30
		e.load(t, `kind: Campaign
id: hourly
on: {event: schedule, cron: "0 * * * *", catch_up: once, max_lateness: 30m}
do:
  - send_subscribe: {template_id: SUB, page: pages/index/index}
`)
		seedFollowers(t, e, 3)
		e.now = time.Date(2026, 12, 1, 12, 40, 0, 0, time.UTC) // 12:00 is 40 min late
		if err := e.eng.TickSchedules(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		slots, err := e.db.Slots(t.Context(), "hourly", 10)
		if err != nil || len(slots) != 1 || slots[0].State != sqldb.SlotMissed || slots[0].Planned != 0 {
			t.Fatalf("slots = %+v, %v; want 12:00 recorded missed with nobody planned", slots, err)
		}
		if len(e.queue.ids()) != 0 {
			t.Errorf("a missed slot queued %v", e.queue.ids())
		}
		e.now = time.Date(2026, 12, 1, 13, 0, 20, 0, time.UTC)
		if err := e.eng.TickSchedules(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		slots, _ = e.db.Slots(t.Context(), "hourly", 10)
		if len(slots) != 2 || slots[0].State != sqldb.SlotSending || slots[0].Planned != 3 {
			t.Errorf("slots = %+v; want 13:00 fired on time for 3", slots)
		}
	})
}

func TestPrepareRecipient(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.now = time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
		e.load(t, scheduleSet)
		seedFollowers(t, e, 3)
		e.now = time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC)
		if err := e.eng.TickSchedules(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		slots, _ := e.db.Slots(t.Context(), "promo", 1)
		e.handle(t, unsubscribe("o00001", e.now))
		p, err := e.eng.PrepareRecipient(t.Context(), slots[0].ID, "o00000")
		if err != nil || p.Message == nil || p.Message.Kind != outbox.SendSubscribe || p.Message.OpenID != "o00000" {
			t.Fatalf("PrepareRecipient(o00000) = %+v, %v; want a subscribe message", p, err)
		}
		again, err := e.eng.PrepareRecipient(t.Context(), slots[0].ID, "o00000")
		if err != nil || again.Message != nil {
			t.Errorf("PrepareRecipient again = %+v, %v; want nothing new", again, err)
		}
		gone, err := e.eng.PrepareRecipient(t.Context(), slots[0].ID, "o00001")
		if err != nil || gone.Skipped != "unfollowed" {
			t.Errorf("PrepareRecipient(unfollowed) = %+v, %v; want skipped unfollowed", gone, err)
		}
		st, err := e.db.SlotStats(t.Context(), slots[0].ID)
		if err != nil || st.Planned != 2 || st.Skipped["unfollowed"] != 1 || st.Pending != 1 {
			t.Errorf("SlotStats = %+v, %v; want 2 planned, 1 skipped unfollowed, 1 pending", st, err)
		}
	})
}
