package engine_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// expiringSet issues a 72-hour coupon on every follow and reminds of it
// 24 hours before it expires.
const expiringSet = `
kind: CouponPool
id: welcome-10
title: "¥10 off"
discount: {amount_fen: 1000, min_spend_fen: 5000}
stock: 1000
per_follower: 1
valid_for: 72h
---
kind: Campaign
id: welcome
on: {event: subscribe}
do:
  - issue_coupon: {pool: welcome-10}
---
kind: Campaign
id: expiring
on: {event: coupon_expiring, pool: welcome-10, within: 24h}
do:
  - send_template:
      template_id: TPL_EXPIRING
      page: pages/coupon/detail
      query: {code: "{{.Coupon.Code}}"}
      data:
        thing1: "{{.Coupon.Title}}"
        character_string2: "{{.Coupon.Code}}"
        time3: "{{.Coupon.ExpiresAt.Format \"2006-01-02 15:04\"}}"
`

// remind runs one reminder scan of eng and returns how many it claimed.
func remind(t *testing.T, eng *engine.Engine) int {
	t.Helper()
	n, err := eng.RemindExpiring(t.Context())
	if err != nil {
		t.Fatalf("RemindExpiring: %v", err)
	}
	return n
}

// TestCouponExpiring follows coupons through the reminder window: nothing
// before a coupon enters it, one reminder as it does (with the coupon in the
// message), none on later scans, none for a coupon redeemed or expired
// before the scan, and a skip with the reason for an owner who unfollowed.
func TestCouponExpiring(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, expiringSet)
		t0 := e.now
		e.now = t0.Add(-73 * time.Hour)
		lapsed := e.coupon(t, "o-lapsed") // expires at t0-1h, before any scan
		e.now = t0
		kept := e.coupon(t, "o-kept")
		redeemed := e.coupon(t, "o-redeemed")
		gone := e.coupon(t, "o-gone")
		if _, err := e.eng.Redeem(t.Context(), redeemed.Code, "sh-001"); err != nil {
			t.Fatal(err)
		}
		e.handle(t, unsubscribe("o-gone", t0.Add(time.Minute)))

		steps := []struct {
			at   time.Duration // after t0
			want int           // reminders claimed by the scan
		}{
			{0, 0},                          // 72h left
			{48*time.Hour - time.Second, 0}, // 24h01s left: not yet
			{48 * time.Hour, 2},             // exactly 24h left: kept fires, gone is skipped
			{48*time.Hour + time.Second, 0}, // once
			{60 * time.Hour, 0},             // still once
			{72*time.Hour + time.Second, 0}, // expired
		}
		for _, s := range steps {
			e.now = t0.Add(s.at)
			if got := remind(t, e.eng); got != s.want {
				t.Errorf("scan at t0+%s claimed %d, want %d", s.at, got, s.want)
			}
		}

		rs, err := e.db.RemindersOf(t.Context(), "expiring")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, r := range rs {
			got[r.Code] = r.State + ":" + r.Reason
		}
		want := map[string]string{kept.Code: "fired:", gone.Code: "skipped:unfollowed"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("reminders = %v, want %v (lapsed %s, redeemed %s never claimed)", got, want, lapsed.Code, redeemed.Code)
		}

		msgs := e.messages(t, "expiring", "")
		if len(msgs) != 1 || msgs[0].OpenID != "o-kept" || msgs[0].State != outbox.MsgPending {
			t.Fatalf("reminder messages = %+v, want one pending to o-kept", msgs)
		}
		if !e.enqueued(msgs[0].ID) {
			t.Errorf("reminder message %s not handed to the queue", msgs[0].ID)
		}
		p := payload(t, msgs[0])
		expiry := kept.ExpiresAt.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02 15:04")
		if p.Data["character_string2"] != kept.Code || p.Data["thing1"] != "¥10 off" || p.Data["time3"] != expiry {
			t.Errorf("reminder data = %v, want code %s, title ¥10 off, expiry %s (Asia/Shanghai)", p.Data, kept.Code, expiry)
		}
		if u, err := url.Parse(p.Page); err != nil || u.Query().Get("code") != kept.Code || u.Query().Get("omo_c") != "expiring" {
			t.Errorf("reminder page = %q, want code=%s and omo_c=expiring", p.Page, kept.Code)
		}
		if st := e.stats(t, "expiring"); st.Fired != 1 {
			t.Errorf("expiring stats = %+v, want fired 1", st)
		}
	})
}

// TestCouponExpiringLimits: a reminder is a firing like any other, so the
// campaign's limits and quiet hours apply, and a refusal is recorded.
func TestCouponExpiringLimits(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, `
kind: CouponPool
id: p
title: P
discount: {amount_fen: 100}
stock: 10
valid_for: 10h
---
kind: Campaign
id: give
on: {event: keyword, text: coupon}
do: [{issue_coupon: {pool: p}}]
---
kind: Campaign
id: expiring
on: {event: coupon_expiring, pool: p, within: 24h}
limits: {per_follower: 1, quiet_hours: "22:00-08:00"}
do:
  - send_custom: {text: "{{.Coupon.Code}} ends {{.Coupon.ExpiresAt.Format \"15:04\"}}"}
`)
		// 12:00 UTC is 20:00 in Shanghai; 15:00 UTC is 23:00, inside the quiet hours.
		e.now = e.now.Add(3 * time.Hour)
		e.handle(t, subscribe("o1", e.now, ""))
		e.handle(t, text("o1", e.now, "coupon", 1))
		e.handle(t, text("o1", e.now.Add(time.Second), "coupon", 2))
		if got := remind(t, e.eng); got != 2 {
			t.Fatalf("scan claimed %d, want 2 (both coupons are within 24h)", got)
		}
		msgs := e.messages(t, "expiring", "o1")
		if len(msgs) != 1 {
			t.Fatalf("reminder messages = %d, want 1 (per_follower: 1)", len(msgs))
		}
		rs, err := e.db.RemindersOf(t.Context(), "expiring")
		if err != nil {
			t.Fatal(err)
		}
		skipped := 0
		for _, r := range rs {
			if r.State == sqldb.ReminderSkipped && r.Reason == "limit per_follower" {
				skipped++
			}
		}
		if len(rs) != 2 || skipped != 1 {
			t.Errorf("reminders = %+v, want one fired and one skipped for per_follower", rs)
		}
		items, err := e.db.PendingOutbox(t.Context(), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), "", 100)
		if err != nil {
			t.Fatal(err)
		}
		wantRun := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC) // 08:00 in Shanghai
		for _, it := range items {
			if it.ID == msgs[0].ID && !it.RunAt.Equal(wantRun) {
				t.Errorf("reminder runs at %s, want %s (end of the quiet hours)", it.RunAt, wantRun)
			}
		}
		cps, err := e.db.CouponsOf(t.Context(), "o1")
		if err != nil || len(cps) != 2 {
			t.Fatalf("coupons of o1 = %v, %v; want 2", cps, err)
		}
		// Issued at 23:00 for 10h: they end at 09:00 Shanghai time.
		p := payload(t, msgs[0])
		if code, _, _ := strings.Cut(p.Text, " "); (code != cps[0].Code && code != cps[1].Code) || !strings.HasSuffix(p.Text, " ends 09:00") {
			t.Errorf("reminder text = %q, want one of the codes %s, %s and \" ends 09:00\"", p.Text, cps[0].Code, cps[1].Code)
		}
	})
}

// TestCouponExpiringTwoEngines: two omo instances (two Engines on two
// handles of one database) scanning at the same time remind of each
// coupon exactly once between them.
func TestCouponExpiringTwoEngines(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) { twoEngines(t, d.URL) })
	}
}

func twoEngines(t *testing.T, dbURL string) {
	var handles []*sqldb.DB
	for range 2 {
		db, err := sqldb.Open(t.Context(), dbURL, discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		handles = append(handles, db)
	}
	if err := handles[0].Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	{
		e := &env{db: handles[0], queue: &recorder{}, now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
		e.eng = engine.New(e.db, e.queue, func() time.Time { return e.now }, discard)
		e.load(t, expiringSet)
		const followers = 120
		for i := range followers {
			e.handle(t, subscribe(fmt.Sprintf("o%03d", i), e.now, ""))
		}
		at := e.now.Add(48 * time.Hour)
		queues := []*recorder{{}, {}}
		var engines []*engine.Engine
		for i, db := range handles {
			eng := engine.New(db, queues[i], func() time.Time { return at }, discard)
			files := []campaigns.File{{Name: "test.yaml", Data: []byte(expiringSet)}}
			set, err := campaigns.Load(files)
			if err != nil {
				t.Fatal(err)
			}
			if err := eng.SetCampaigns(t.Context(), set, files); err != nil {
				t.Fatal(err)
			}
			engines = append(engines, eng)
		}
		claimed := make([]int, len(engines))
		errs := make([]error, len(engines))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, eng := range engines {
			wg.Go(func() {
				<-start
				for range 2 { // a second scan finds nothing left
					n, err := eng.RemindExpiring(t.Context())
					claimed[i] += n
					if err != nil {
						errs[i] = err
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if claimed[0]+claimed[1] != followers {
			t.Errorf("claimed %d + %d, want %d in all", claimed[0], claimed[1], followers)
		}
		per := map[string]int{}
		for _, m := range e.messages(t, "expiring", "") {
			per[m.OpenID]++
		}
		for i := range followers {
			if o := fmt.Sprintf("o%03d", i); per[o] != 1 {
				t.Errorf("%s got %d reminders, want 1", o, per[o])
			}
		}
		if n := len(queues[0].ids()) + len(queues[1].ids()); n != followers {
			t.Errorf("items handed to the queues = %d, want %d", n, followers)
		}
		t.Logf("engine A claimed %d, engine B %d", claimed[0], claimed[1])
	}
}
