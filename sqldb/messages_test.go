package sqldb

import (
	"testing"
	"time"

	"github.com/omohq/omo/outbox"
)

// A TEMPLATESENDJOBFINISH can reach omo before the worker has recorded the
// send it is about; the report must still mark the message.
func TestDeliveryReportBeforeSent(t *testing.T) {
	eachDB(t, func(t *testing.T, db *DB) {
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		for _, m := range []string{"m1", "m2", "m3"} {
			write(t, db, func(tx *Tx) error {
				return tx.AddMessage(&outbox.MessageRow{ID: m, CampaignID: "c", OpenID: "o1", Kind: outbox.SendTemplate,
					Payload: []byte("{}"), State: outbox.MsgPending, CreatedAt: now})
			})
		}
		var early, late bool
		write(t, db, func(tx *Tx) error {
			var err error
			early, err = tx.MarkDelivery("o1", 101, "success", now) // before m1 is sent
			return err
		})
		write(t, db, func(tx *Tx) error { _, err := tx.MarkDelivery("o1", 103, "failed:user block", now); return err })
		write(t, db, func(tx *Tx) error { return tx.MarkSent("m1", 101, outbox.SendTemplate, "", now) })
		write(t, db, func(tx *Tx) error { return tx.MarkSent("m2", 102, outbox.SendTemplate, "", now) })
		write(t, db, func(tx *Tx) error { return tx.MarkSent("m3", 103, outbox.SendTemplate, "", now) })
		write(t, db, func(tx *Tx) error {
			var err error
			late, err = tx.MarkDelivery("o1", 102, "success", now.Add(time.Second)) // after m2 is sent
			return err
		})
		if early || !late {
			t.Errorf("MarkDelivery matched early = %v, late = %v; want false, true", early, late)
		}
		want := map[string]outbox.MessageState{"m1": outbox.MsgDelivered, "m2": outbox.MsgDelivered, "m3": outbox.MsgFailed}
		for id, state := range want {
			m, err := db.Message(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if m.State != state {
				t.Errorf("message %s state = %s, want %s", id, m.State, state)
			}
			if state == outbox.MsgDelivered && m.DeliveredAt == nil {
				t.Errorf("message %s has no delivered_at", id)
			}
		}
		reports := func() int {
			var n int
			if err := db.x.Get(&n, `SELECT COUNT(*) FROM delivery_reports`); err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := reports(); n != 0 {
			t.Errorf("delivery_reports left = %d; want 0", n)
		}
		// A repeat about a message already marked is not kept; a report
		// about a send omo never made is kept until pruned.
		write(t, db, func(tx *Tx) error { _, err := tx.MarkDelivery("o1", 101, "success", now); return err })
		if n := reports(); n != 0 {
			t.Errorf("delivery_reports after a repeat = %d; want 0", n)
		}
		write(t, db, func(tx *Tx) error { _, err := tx.MarkDelivery("o9", 999, "success", now); return err })
		write(t, db, func(tx *Tx) error { return tx.PruneDeliveryReports(now) })
		if n := reports(); n != 1 {
			t.Errorf("delivery_reports after pruning older ones = %d; want 1", n)
		}
		write(t, db, func(tx *Tx) error { return tx.PruneDeliveryReports(now.Add(time.Second)) })
		if n := reports(); n != 0 {
			t.Errorf("delivery_reports after pruning = %d; want 0", n)
		}
	})
}
