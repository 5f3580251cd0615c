package sqldb

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/internal/testenv"
)

func TestInsertEventDedupe(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	sub := &events.Event{Type: events.Subscribe, OpenID: "o1", CreatedAt: at, EventKey: "qrscene_store:a"}
	text := &events.Event{Type: events.Text, IsMessage: true, OpenID: "o1", CreatedAt: at, MsgID: 1234567890123}
	eachDB(t, func(t *testing.T, db *DB) {
		insert := func(ev *events.Event, raw string) (id int64, dup bool) {
			t.Helper()
			write(t, db, func(tx *Tx) (err error) {
				id, dup, err = tx.InsertEvent(ev, []byte(raw), at.Add(time.Second))
				return err
			})
			return id, dup
		}
		first, dup := insert(sub, "<first/>")
		if dup || first == 0 {
			t.Fatalf("first InsertEvent = %d, dup %v; want a new id", first, dup)
		}
		// WeChat's retry: same key, its own raw copy.
		again, dup := insert(sub, "<retry/>")
		if !dup || again != first {
			t.Errorf("InsertEvent of a retry = %d, dup %v; want %d, dup true", again, dup, first)
		}
		// Same follower and second but another key, and a message: new rows.
		other := *sub
		other.EventKey = "qrscene_store:b"
		if id, dup := insert(&other, "<other/>"); dup || id == first {
			t.Errorf("InsertEvent with another EventKey = %d, dup %v; want a new id", id, dup)
		}
		msg, dup := insert(text, "<text/>")
		if dup {
			t.Errorf("InsertEvent(text) dup = true, want false")
		}
		// A message is deduped by MsgId alone, whatever else changed.
		resent := *text
		resent.CreatedAt = at.Add(5 * time.Second)
		if id, dup := insert(&resent, "<text again/>"); !dup || id != msg {
			t.Errorf("InsertEvent of a message retry = %d, dup %v; want %d, dup true", id, dup, msg)
		}
		// Twice inside one transaction: the second sees the first.
		write(t, db, func(tx *Tx) error {
			ev := &events.Event{Type: events.Click, OpenID: "o2", CreatedAt: at, EventKey: "K"}
			a, dupA, err := tx.InsertEvent(ev, nil, at)
			if err != nil {
				return err
			}
			b, dupB, err := tx.InsertEvent(ev, nil, at)
			if err != nil {
				return err
			}
			if dupA || !dupB || a != b {
				t.Errorf("InsertEvent twice in one transaction = (%d, %v), (%d, %v); want one id, second dup", a, dupA, b, dupB)
			}
			return nil
		})

		got, err := db.EventsFor(t.Context(), "o1")
		if err != nil {
			t.Fatal(err)
		}
		want := []InboundEvent{
			{ID: first, DedupeKey: sub.DedupeKey(), Type: "subscribe", OpenID: "o1", CreatedAt: at, ReceivedAt: at.Add(time.Second), Payload: "<first/>"},
			{DedupeKey: other.DedupeKey(), Type: "subscribe", OpenID: "o1", CreatedAt: at, ReceivedAt: at.Add(time.Second), Payload: "<other/>"},
			{ID: msg, DedupeKey: "m:1234567890123", Type: "text", OpenID: "o1", CreatedAt: at, ReceivedAt: at.Add(time.Second), Payload: "<text/>"},
		}
		if len(got) == 3 {
			want[1].ID = got[1].ID
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("EventsFor(o1) mismatch (-want +got):\n%s", diff)
		}
		if n, err := db.CountEvents(t.Context()); err != nil || n != 4 {
			t.Errorf("CountEvents = %d, %v; want 4", n, err)
		}
	})
}

func TestEventReply(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	eachDB(t, func(t *testing.T, db *DB) {
		var id int64
		write(t, db, func(tx *Tx) (err error) {
			id, _, err = tx.InsertEvent(&events.Event{Type: events.Text, IsMessage: true, OpenID: "o1", CreatedAt: at, MsgID: 7}, nil, at)
			if err != nil {
				return err
			}
			if r, err := tx.EventReply(id); err != nil || r != "" {
				t.Errorf("EventReply of a new event = %q, %v; want \"\", nil", r, err)
			}
			return tx.SetEventReply(id, "欢迎 <b>")
		})
		write(t, db, func(tx *Tx) error {
			if r, err := tx.EventReply(id); err != nil || r != "欢迎 <b>" {
				t.Errorf("EventReply = %q, %v; want the reply set", r, err)
			}
			if _, err := tx.EventReply(id + 1000); !errs.Is(err, errs.NotFound) {
				t.Errorf("EventReply(unknown) = %v, want NotFound", err)
			}
			return nil
		})
	})
}

// TestInsertEventDedupeAcrossProcesses: two omo processes (two DBs, two
// committers) receiving the same push at once store it once, and every
// copy learns the one id.
func TestInsertEventDedupeAcrossProcesses(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			procs := []*DB{open(t, d.URL), open(t, d.URL)}
			const copies = 20
			type result struct {
				id  int64
				dup bool
				err error
			}
			results := make([]result, copies)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range copies {
				wg.Go(func() {
					<-start
					ev := &events.Event{Type: events.Subscribe, OpenID: "o1", CreatedAt: at, EventKey: "qrscene_store:a"}
					r := &results[i]
					r.err = procs[i%2].Write(context.Background(), func(tx *Tx) (err error) {
						r.id, r.dup, err = tx.InsertEvent(ev, nil, at)
						return err
					})
				})
			}
			close(start)
			wg.Wait()
			fresh := 0
			for i, r := range results {
				if r.err != nil {
					t.Fatalf("copy %d: %v", i, r.err)
				}
				if !r.dup {
					fresh++
				}
				if r.id != results[0].id {
					t.Errorf("copy %d got id %d, copy 0 got %d; want one id", i, r.id, results[0].id)
				}
			}
			if fresh != 1 {
				t.Errorf("%d copies stored the push, want 1", fresh)
			}
			if n, err := procs[0].CountEvents(t.Context()); err != nil || n != 1 {
				t.Errorf("CountEvents = %d, %v; want 1", n, err)
			}
		})
	}
}
