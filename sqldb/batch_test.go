package sqldb

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
)

// TestWriteHintedRepeatsInOneBatch puts, in one optimistic batch, three
// copies of one push (WeChat's retries landing together) and two pushes
// of one follower. The first copy to run stores the push, the others are
// its duplicates with its id; the follower's second push reads what the
// first saved, as it would one statement at a time; what is committed is
// the merge the upsert makes.
func TestWriteHintedRepeatsInOneBatch(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		// A follower stored before, with a unionid and a first scene that
		// the batch's saves (which carry neither) must not erase.
		write(t, db, func(tx *Tx) error {
			return tx.SaveFollower(&followers.Follower{OpenID: "old", UnionID: "u-old", Subscribed: false, FirstSeenAt: at.Add(-time.Hour), FirstScene: "store:sh-001", HomeStore: "sh-001", LastEventAt: at.Add(-time.Hour)})
		})
		type out struct {
			id    int64
			dup   bool
			scene string
			union string
			err   error
		}
		var (
			mu   sync.Mutex
			outs []out
			wg   sync.WaitGroup
		)
		const writers = 5
		blocked := block(t, db, func() bool { return len(db.writes) >= writers })
		push := func(ev *events.Event, scene string) {
			h := &Hint{Event: ev, Raw: []byte("<xml/>"), ReceivedAt: at, OpenIDs: []string{ev.OpenID}}
			var o out
			o.err = db.WriteHinted(t.Context(), h, func(tx *Tx) error {
				o = out{}
				id, dup, err := tx.InsertEvent(ev, []byte("<xml/>"), at)
				if err != nil {
					return err
				}
				o.id, o.dup = id, dup
				if dup {
					return nil
				}
				prev, err := tx.Follower(ev.OpenID)
				if err != nil && !errs.Is(err, errs.NotFound) {
					return err
				}
				f := followers.Follower{OpenID: ev.OpenID, Subscribed: true, FirstSeenAt: at, LastEventAt: ev.CreatedAt, FirstScene: scene}
				if prev != nil {
					o.scene, o.union = prev.FirstScene, prev.UnionID
					f.FirstSeenAt = prev.FirstSeenAt
				}
				return tx.SaveFollower(&f)
			})
			mu.Lock()
			outs = append(outs, o)
			mu.Unlock()
		}
		retried := &events.Event{Type: events.Subscribe, OpenID: "new", CreatedAt: at}
		for range 3 {
			wg.Go(func() { push(retried, "store:bj-001") })
		}
		wg.Go(func() { push(&events.Event{Type: events.Subscribe, OpenID: "old", CreatedAt: at}, "ref:abc") })
		wg.Go(func() {
			push(&events.Event{Type: events.Click, EventKey: "M", OpenID: "old", CreatedAt: at.Add(time.Second)}, "")
		})
		wg.Wait()
		if err := <-blocked; err != nil {
			t.Fatal(err)
		}
		stored, dups := 0, map[int64]int{}
		for _, o := range outs {
			if o.err != nil {
				t.Fatalf("write: %v", o.err)
			}
			if o.dup {
				dups[o.id]++
			} else {
				stored++
			}
			if o.scene != "" && (o.scene != "store:sh-001" || o.union != "u-old") {
				t.Errorf("a push of old read first scene %q, unionid %q; want store:sh-001, u-old (the stored row's, kept by the first push's save)", o.scene, o.union)
			}
		}
		evs, err := db.EventsFor(t.Context(), "new")
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || stored != 3 || len(dups) != 1 || dups[evs[0].ID] != 2 {
			t.Errorf("new's push: stored %v; %d writes stored, duplicates by id %v; want one row, 3 stored (new + old's two), 2 duplicates of its id", evs, stored, dups)
		}
		for openid, want := range map[string]followers.Follower{
			"new": {OpenID: "new", Subscribed: true, FirstScene: "store:bj-001"},
			"old": {OpenID: "old", UnionID: "u-old", Subscribed: true, FirstScene: "store:sh-001", HomeStore: "sh-001"},
		} {
			f, err := db.Follower(t.Context(), openid)
			if err != nil {
				t.Fatal(err)
			}
			if f.UnionID != want.UnionID || f.Subscribed != want.Subscribed || f.FirstScene != want.FirstScene || f.HomeStore != want.HomeStore {
				t.Errorf("follower %s = %+v, want unionid %q subscribed %v first scene %q home %q", openid, f, want.UnionID, want.Subscribed, want.FirstScene, want.HomeStore)
			}
			if openid == "old" && (!f.FirstSeenAt.Equal(at.Add(-time.Hour)) || !f.LastEventAt.Equal(at.Add(time.Second)) && !f.LastEventAt.Equal(at)) {
				t.Errorf("old: first seen %v, last event %v; want first seen kept (%v)", f.FirstSeenAt, f.LastEventAt, at.Add(-time.Hour))
			}
		}
	})
}

// TestWriteHintedSeenByAnotherProcess: a person the batch read as never
// seen is noted by another process's transaction before the batch
// commits. The flush finds the row and the batch runs again statement by
// statement, so the write that commits is told the truth: seen before.
// (PostgreSQL only: on SQLite nothing else can write meanwhile.)
func TestWriteHintedSeenByAnotherProcess(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		if db.dialect != Postgres {
			t.Skip("SQLite has one writer")
		}
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		const writers = 4
		blocked := block(t, db, func() bool { return len(db.writes) >= writers })
		var wg sync.WaitGroup
		answers := make([]bool, writers)
		errc := make([]error, writers)
		for i := range writers {
			wg.Go(func() {
				hash := fmt.Sprintf("h-%d", i)
				ev := testEvent(fmt.Sprintf("p%d", i), at)
				h := &Hint{Event: ev, Raw: []byte("<xml/>"), ReceivedAt: at, Seen: []string{hash}}
				calls := 0
				errc[i] = db.WriteHinted(t.Context(), h, func(tx *Tx) error {
					calls++
					if _, _, err := tx.InsertEvent(ev, []byte("<xml/>"), at); err != nil {
						return err
					}
					if i == 0 && calls == 1 {
						// Another omo notes this person, committing at once.
						if _, err := db.x.Exec(`INSERT INTO seen_people (hash, first_seen_at) VALUES ($1, $2)`, hash, at); err != nil {
							return err
						}
					}
					before, err := tx.Seen([]string{hash}, at)
					answers[i] = before
					return err
				})
			})
		}
		wg.Wait()
		if err := <-blocked; err != nil {
			t.Fatal(err)
		}
		for i, err := range errc {
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
			if want := i == 0; answers[i] != want {
				t.Errorf("write %d was told seen before = %v, want %v", i, answers[i], want)
			}
		}
		if n, err := db.CountEvents(t.Context()); err != nil || n != writers {
			t.Errorf("CountEvents = %d, %v; want %d", n, err, writers)
		}
	})
}

// TestWriteSeveralCommitters runs PostgreSQL's default four committers: a
// write holding one of them does not hold the others up, and 50 pushes
// each sent 4 times at once (WeChat's retries, landing on different
// committers) are stored once each, every copy told the same id.
func TestWriteSeveralCommitters(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		if d.Name != "postgres" {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			db := openWith(t, d.URL, Options{})
			at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
			var released atomic.Bool
			blocked := block(t, db, released.Load)
			// The other committers go on while one is held.
			write(t, db, func(tx *Tx) error {
				_, _, err := tx.InsertEvent(testEvent("free", at), []byte("<xml/>"), at)
				return err
			})
			released.Store(true)
			if err := <-blocked; err != nil {
				t.Fatal(err)
			}
			const pushes, copies = 50, 4
			ids := make([][]int64, pushes)
			stored := make([]int, pushes)
			var mu sync.Mutex
			var wg sync.WaitGroup
			for p := range pushes {
				ev := testEvent(fmt.Sprintf("p%02d", p), at)
				for range copies {
					wg.Go(func() {
						h := &Hint{Event: ev, Raw: []byte("<xml/>"), ReceivedAt: at, OpenIDs: []string{ev.OpenID}}
						var id int64
						var dup bool
						err := db.WriteHinted(t.Context(), h, func(tx *Tx) error {
							var err error
							id, dup, err = tx.InsertEvent(ev, []byte("<xml/>"), at)
							if err != nil || dup {
								return err
							}
							return tx.SaveFollower(&followers.Follower{OpenID: ev.OpenID, Subscribed: true, FirstSeenAt: at, LastEventAt: at})
						})
						if err != nil {
							t.Errorf("push %d: %v", p, err)
							return
						}
						mu.Lock()
						ids[p] = append(ids[p], id)
						if !dup {
							stored[p]++
						}
						mu.Unlock()
					})
				}
			}
			wg.Wait()
			for p := range pushes {
				if stored[p] != 1 || len(ids[p]) != copies || slices.Min(ids[p]) != slices.Max(ids[p]) {
					t.Errorf("push %d: stored by %d copies, ids %v; want stored once, every copy told its id", p, stored[p], ids[p])
				}
			}
			if n, err := db.CountEvents(t.Context()); err != nil || n != pushes+1 {
				t.Errorf("CountEvents = %d, %v; want %d", n, err, pushes+1)
			}
		})
	}
}

// TestWriteHintedSeesUpdateBehindCache: in one batch, a write that sets a
// follower's unionid with a statement of its own (user/info's answer) runs
// before a push of the same follower, whose row the batch read up front.
// The push must read the unionid, as it would one statement at a time.
func TestWriteHintedSeesUpdateBehindCache(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		write(t, db, func(tx *Tx) error {
			return tx.SaveFollower(&followers.Follower{OpenID: "x", Subscribed: true, FirstSeenAt: at, LastEventAt: at})
		})
		blocked := block(t, db, func() bool { return len(db.writes) >= 2 })
		first := make(chan error, 1)
		go func() {
			first <- db.Write(t.Context(), func(tx *Tx) error { return tx.SetUnionID("x", "u-x") })
		}()
		for len(db.writes) < 1 {
			time.Sleep(time.Millisecond)
		}
		ev := testEvent("x", at.Add(time.Second))
		var union string
		err := db.WriteHinted(t.Context(), &Hint{Event: ev, Raw: []byte("<xml/>"), ReceivedAt: at, OpenIDs: []string{"x"}}, func(tx *Tx) error {
			if _, _, err := tx.InsertEvent(ev, []byte("<xml/>"), at); err != nil {
				return err
			}
			f, err := tx.Follower("x")
			if err != nil {
				return err
			}
			union = f.UnionID
			return tx.SaveFollower(f)
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		if err := <-blocked; err != nil {
			t.Fatal(err)
		}
		if union != "u-x" {
			t.Errorf("the push read unionid %q, want u-x (set earlier in its transaction)", union)
		}
	})
}

// TestWriteHintedHotCountersNeverPassTheLimit: a batch takes a pool's
// stock and a campaign's budget in memory and adds them at its end. When
// another process takes the last of both meanwhile, the end's conditional
// update fails and the batch runs again write by write, where the writes
// are told the truth: nothing left. (PostgreSQL: on SQLite nothing else
// writes meanwhile.) On both, a batch of 10 takers of a stock of 6 and a
// budget of 4 gets exactly 4 (the budget) and leaves the pool at 4.
func TestWriteHintedHotCountersNeverPassTheLimit(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		write(t, db, func(tx *Tx) error { return tx.SyncPool("p", 6, at) })
		campaign, budget := "c", int64(4)
		take := func(tx *Tx) (bool, error) {
			ok, err := tx.TakeBudget(campaign, budget)
			if err != nil || !ok {
				return false, err
			}
			return tx.TakeFromPool("p")
		}
		const writers = 10
		run := func(meddle func(i, calls int) error) []bool {
			blocked := block(t, db, func() bool { return len(db.writes) >= writers })
			got := make([]bool, writers)
			var wg sync.WaitGroup
			for i := range writers {
				wg.Go(func() {
					ev := testEvent(fmt.Sprintf("t%d-%d", i, time.Now().UnixNano()), at)
					calls := 0
					err := db.WriteHinted(t.Context(), &Hint{Event: ev, Raw: []byte("<xml/>"), ReceivedAt: at}, func(tx *Tx) error {
						calls++
						if _, _, err := tx.InsertEvent(ev, []byte("<xml/>"), at); err != nil {
							return err
						}
						if err := meddle(i, calls); err != nil {
							return err
						}
						ok, err := take(tx)
						got[i] = ok
						return err
					})
					if err != nil {
						t.Errorf("write %d: %v", i, err)
					}
				})
			}
			wg.Wait()
			if err := <-blocked; err != nil {
				t.Fatal(err)
			}
			return got
		}
		count := func(got []bool) (n int) {
			for _, ok := range got {
				if ok {
					n++
				}
			}
			return n
		}
		got := run(func(int, int) error { return nil })
		if n := count(got); n != 4 {
			t.Errorf("%d of %d writes took budget and stock, want 4 (the budget)", n, writers)
		}
		var issued, fired int64
		if err := db.x.Get(&issued, `SELECT issued FROM coupon_pools WHERE id = 'p'`); err != nil || issued != 4 {
			t.Errorf("pool issued %d, %v; want 4", issued, err)
		}
		if err := db.x.Get(&fired, `SELECT fired FROM campaign_budgets WHERE campaign_id = 'c'`); err != nil || fired != 4 {
			t.Errorf("budget fired %d, %v; want 4", fired, err)
		}
		if db.dialect != Postgres {
			return
		}
		// Another campaign on the pool, with budget to spare; while its
		// batch runs, another process takes the pool's last two coupons.
		campaign, budget = "c2", 100
		got = run(func(i, calls int) error {
			if i == 0 && calls == 1 {
				_, err := db.x.Exec(`UPDATE coupon_pools SET issued = stock WHERE id = 'p'`)
				return err
			}
			return nil
		})
		if n := count(got); n != 0 {
			t.Errorf("%d writes were told they took a coupon another process had taken, want 0", n)
		}
		if err := db.x.Get(&issued, `SELECT issued FROM coupon_pools WHERE id = 'p'`); err != nil || issued != 6 {
			t.Errorf("pool issued %d, %v; want 6: never past the stock", issued, err)
		}
	})
}
