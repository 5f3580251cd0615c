package sqldb

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/omohq/omo/internal/testenv"
)

// take runs TakeMassBudget in its own transaction.
func take(t *testing.T, db *DB, openids []string, month string, limit int) (allowed, over []string) {
	t.Helper()
	write(t, db, func(tx *Tx) error {
		var err error
		allowed, over, err = tx.TakeMassBudget(openids, month, limit)
		return err
	})
	return allowed, over
}

func TestTakeMassBudget(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		steps := []struct {
			name        string
			openids     []string
			month       string
			limit       int
			allowed     []string
			over        []string
			usedOfAlice int
		}{
			{"first", []string{"alice", "bob"}, "2026-12", 4, []string{"alice", "bob"}, nil, 1},
			{"repeat counted once", []string{"alice", "alice"}, "2026-12", 4, []string{"alice"}, nil, 2},
			{"third", []string{"alice"}, "2026-12", 4, []string{"alice"}, nil, 3},
			{"fourth", []string{"carol", "alice"}, "2026-12", 4, []string{"carol", "alice"}, nil, 4},
			{"fifth refused, others go on", []string{"bob", "alice", "carol"}, "2026-12", 4, []string{"bob", "carol"}, []string{"alice"}, 4},
			{"next month allowed", []string{"alice"}, "2027-01", 4, []string{"alice"}, nil, 4},
			{"no cap counts nothing", []string{"alice", "dave"}, "2026-12", 0, []string{"alice", "dave"}, nil, 4},
		}
		for _, s := range steps {
			allowed, over := take(t, db, s.openids, s.month, s.limit)
			if !cmp.Equal(allowed, s.allowed, cmpopts.EquateEmpty()) || !cmp.Equal(over, s.over, cmpopts.EquateEmpty()) {
				t.Errorf("%s: allowed %v, over %v; want %v, %v", s.name, allowed, over, s.allowed, s.over)
			}
			used, err := db.MassBudgetUsed(t.Context(), "alice", "2026-12")
			if err != nil || used != s.usedOfAlice {
				t.Errorf("%s: alice's December count = %d, %v; want %d", s.name, used, err, s.usedOfAlice)
			}
		}
		write(t, db, func(tx *Tx) error { return tx.GiveBackMassBudget([]string{"alice", "zed"}, "2026-12") })
		if allowed, _ := take(t, db, []string{"alice"}, "2026-12", 4); !slices.Equal(allowed, []string{"alice"}) {
			t.Errorf("after giving one back, alice allowed = %v, want [alice]", allowed)
		}
		if used, _ := db.MassBudgetUsed(t.Context(), "dave", "2026-12"); used != 0 {
			t.Errorf("dave's count with no cap = %d, want 0", used)
		}
	})
}

// TestTakeMassBudgetConcurrent: many takers on several database handles
// (as several omo processes) never give a follower more than the limit.
func TestTakeMassBudgetConcurrent(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			handles := []*DB{open(t, d.URL), open(t, d.URL), open(t, d.URL)}
			var openids []string
			for i := range 600 { // more than one statement's batch
				openids = append(openids, fmt.Sprintf("o%04d", i))
			}
			const takers, limit = 12, 4
			counts := make([]map[string]int, takers)
			errs := make([]error, takers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range takers {
				list := slices.Clone(openids)
				rand.Shuffle(len(list), func(a, b int) { list[a], list[b] = list[b], list[a] })
				wg.Go(func() {
					<-start
					counts[i] = map[string]int{}
					errs[i] = handles[i%len(handles)].Write(t.Context(), func(tx *Tx) error {
						clear(counts[i])
						allowed, _, err := tx.TakeMassBudget(list, "2026-12", limit)
						for _, o := range allowed {
							counts[i][o]++
						}
						return err
					})
				})
			}
			close(start)
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, o := range openids {
				got := 0
				for i := range takers {
					got += counts[i][o]
				}
				used, err := handles[0].MassBudgetUsed(t.Context(), o, "2026-12")
				if got != limit || used != limit || err != nil {
					t.Fatalf("%s: allowed %d times, counted %d (%v); want %d", o, got, used, err, limit)
				}
			}
		})
	}
}

// A MASSSENDJOBFINISH can reach omo before the worker has recorded the
// msg_id of the send; the report must still finish the send, once.
func TestMassReportBeforeSent(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		ids := map[int]int64{}
		for chunk := range 3 {
			m := &MassSend{CampaignID: "launch", SlotID: 7, Chunk: chunk, ClientMsgID: fmt.Sprintf("omo:launch:7:%d", chunk), Month: "2026-12", CreatedAt: now}
			write(t, db, func(tx *Tx) error {
				created, err := tx.AddMassSend(m, []string{"o1", "o2"}, 1)
				if err == nil && !created {
					err = fmt.Errorf("chunk %d not created", chunk)
				}
				return err
			})
			ids[chunk] = m.ID
			write(t, db, func(tx *Tx) error {
				again := &MassSend{CampaignID: "launch", SlotID: 7, Chunk: chunk, ClientMsgID: "other", Month: "2026-12", CreatedAt: now}
				created, err := tx.AddMassSend(again, []string{"o3"}, 0)
				if err == nil && created {
					err = fmt.Errorf("chunk %d recorded twice", chunk)
				}
				return err
			})
		}
		report := func(msgID int64, sent int) MassReport {
			return MassReport{MsgID: msgID, Status: "send success", TotalCount: 2, FilterCount: 2, SentCount: sent, ErrorCount: 2 - sent, ReceivedAt: now.Add(time.Minute)}
		}
		var early, late, stranger bool
		write(t, db, func(tx *Tx) error {
			var err error
			early, err = tx.MarkMassFinished(report(1001, 2)) // before chunk 0 is marked sent
			return err
		})
		write(t, db, func(tx *Tx) error { _, err := tx.MarkMassSent(ids[0], 1001, 9001, now); return err })
		write(t, db, func(tx *Tx) error { _, err := tx.MarkMassSent(ids[1], 1002, 9002, now); return err })
		write(t, db, func(tx *Tx) error {
			var err error
			late, err = tx.MarkMassFinished(report(1002, 1))
			return err
		})
		write(t, db, func(tx *Tx) error {
			var err error
			stranger, err = tx.MarkMassFinished(report(5555, 2)) // a send from the MP console
			return err
		})
		write(t, db, func(tx *Tx) error {
			ended, err := tx.EndMassSend(ids[2], MassFailed, 45028, "no mass-send quota")
			if err == nil && !ended {
				err = fmt.Errorf("planned chunk 2 not ended")
			}
			return err
		})
		write(t, db, func(tx *Tx) error {
			ended, err := tx.EndMassSend(ids[0], MassSkipped, 0, "too late")
			if err == nil && ended {
				err = fmt.Errorf("a finished chunk was ended")
			}
			return err
		})
		write(t, db, func(tx *Tx) error { _, err := tx.MarkMassSent(ids[2], 1003, 9003, now); return err }) // too late: stays failed
		if early || !late || stranger {
			t.Errorf("MarkMassFinished matched early %v, late %v, stranger %v; want false, true, false", early, late, stranger)
		}
		sends, err := db.MassSendsOf(t.Context(), "launch")
		if err != nil || len(sends) != 3 {
			t.Fatalf("MassSendsOf = %d sends, %v; want 3", len(sends), err)
		}
		type view struct {
			State       string
			MsgID       int64
			Sent, Error int
			Finished    bool
			OpenIDs     []string
		}
		var got []view
		for _, m := range sends {
			v := view{State: m.State, Sent: m.SentCount, Error: m.ErrorCount, Finished: m.FinishedAt != nil, OpenIDs: m.OpenIDs()}
			if m.MsgID != nil {
				v.MsgID = *m.MsgID
			}
			got = append(got, v)
		}
		want := []view{
			{MassFinished, 1001, 2, 0, true, []string{"o1", "o2"}},
			{MassFinished, 1002, 1, 1, true, []string{"o1", "o2"}},
			{MassFailed, 0, 0, 0, false, []string{"o1", "o2"}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("mass sends (-want +got):\n%s", diff)
		}
		var kept []int64
		if err := db.x.Select(&kept, `SELECT msg_id FROM mass_reports`); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(kept, []int64{5555}) {
			t.Errorf("mass_reports kept = %v, want [5555] (the applied one removed)", kept)
		}
		write(t, db, func(tx *Tx) error { return tx.PruneMassReports(now.Add(time.Hour)) })
		if err := db.x.Select(&kept, `SELECT msg_id FROM mass_reports`); err != nil || len(kept) != 0 {
			t.Errorf("after prune: %v, %v", kept, err)
		}
	})
}

// TestMassReportRacingSent: a MASSSENDJOBFINISH committing in one committer
// at the same moment as the worker records the send's msg_id in another
// (or in another process). Each statement alone does not see the other's
// uncommitted row: the report would be kept and never applied, the send
// left "sent" for good. PostgreSQL only (SQLite's one writer serialises).
func TestMassReportRacingSent(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		if d.Name != "postgres" {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			db := openWith(t, d.URL, Options{Committers: 2})
			now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
			m := &MassSend{CampaignID: "launch", SlotID: 7, ClientMsgID: "omo:launch:7:0", Month: "2026-12", CreatedAt: now}
			write(t, db, func(tx *Tx) error { _, err := tx.AddMassSend(m, []string{"o1", "o2"}, 0); return err })
			race(t, db, func(tx *Tx) error {
				r := MassReport{MsgID: 1001, Status: "send success", TotalCount: 2, FilterCount: 2, SentCount: 2, ReceivedAt: now}
				_, err := tx.MarkMassFinished(r)
				return err
			}, func(tx *Tx) error { _, err := tx.MarkMassSent(m.ID, 1001, 9001, now); return err })
			sends, err := db.MassSendsOf(t.Context(), "launch")
			if err != nil || len(sends) != 1 || sends[0].State != MassFinished || sends[0].SentCount != 2 {
				t.Errorf("mass send after the race = %+v, %v; want finished, 2 sent", sends, err)
			}
		})
	}
}
