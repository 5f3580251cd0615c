package sqldb

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
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

// TestDeliveryReportRacingSent: on PostgreSQL the report and the send's
// record can commit at the same moment in two committers (or processes).
// The report's transaction is held open after it found no sent message;
// the send's record, meanwhile, must wait for it and then apply it, not
// miss a report that was not committed yet when it looked.
func TestDeliveryReportRacingSent(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		if d.Name != "postgres" {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			db := openWith(t, d.URL, Options{Committers: 2})
			now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			write(t, db, func(tx *Tx) error {
				return tx.AddMessage(&outbox.MessageRow{ID: "m1", CampaignID: "c", OpenID: "o1", Kind: outbox.SendTemplate,
					Payload: []byte("{}"), State: outbox.MsgPending, CreatedAt: now})
			})
			race(t, db, func(tx *Tx) error {
				_, err := tx.MarkDelivery("o1", 101, "success", now)
				return err
			}, func(tx *Tx) error { return tx.MarkSent("m1", 101, outbox.SendTemplate, "", now) })
			msgs, err := db.MessagesOf(t.Context(), "c", "o1")
			if err != nil || len(msgs) != 1 || msgs[0].State != outbox.MsgDelivered {
				t.Errorf("message after the race = %+v, %v; want delivered", msgs, err)
			}
		})
	}
}

// race runs first in a write that stays open until second, in another
// write, has been under way for a while (in another committer: open db
// with two or more), then lets first commit and waits for both. Without a
// lock between them each sees the database as it was before the other.
func race(t *testing.T, db *DB, first, second func(*Tx) error) {
	t.Helper()
	ran := make(chan struct{})
	var release atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- db.Write(t.Context(), func(tx *Tx) error {
			if err := first(tx); err != nil {
				return err
			}
			close(ran)
			for !release.Load() {
				time.Sleep(time.Millisecond)
			}
			return nil
		})
	}()
	<-ran
	other := make(chan error, 1)
	go func() { other <- db.Write(t.Context(), second) }()
	time.Sleep(200 * time.Millisecond) // second is under way in the other committer
	release.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}
}
