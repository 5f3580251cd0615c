package httpapi_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/httpapi"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/referral"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/stores"
)

const dashCampaigns = `
kind: CouponPool
id: welcome-10
title: "¥10 off"
discount: {amount_fen: 1000}
stock: 100
valid_for: 720h
---
kind: Campaign
id: welcome
title: Welcome
on: {event: subscribe}
do:
  - issue_coupon: {pool: welcome-10}
  - send_template: {template_id: TPL, page: pages/coupon/detail, query: {code: "{{.Coupon.Code}}"}}
---
kind: Campaign
id: menu
on: {event: menu_click, key: MENU}
do: [{reply: {text: hi}}]
---
kind: CouponPool
id: invite-20
title: "¥20 for your friends"
discount: {amount_fen: 2000}
stock: 100
valid_for: 720h
---
kind: ReferralProgram
id: invite-friends
title: Invite friends
qualify_on: subscribe
hold: 24h
referrer_reward: {pool: invite-20, every: 3, max: 10}
invitee_reward: {pool: welcome-10}
---
kind: Campaign
id: spring-ab
title: Spring menu test
on: {event: menu_click, key: AB_SPRING}
split:
  variants:
    - name: a
      weight: 50
      do: [{send_template: {template_id: TPL_SPRING, page: pages/index/index, data: {thing1: Spring is here}}}]
    - name: b
      weight: 50
      do: [{send_template: {template_id: TPL_SPRING, page: pages/index/index, data: {thing1: Our spring menu}}}]
  winner: {metric: opened, min_sample: 100}
---
kind: Campaign
id: autumn-ab
title: Autumn menu test
on: {event: menu_click, key: AB_AUTUMN}
split:
  variants:
    - name: calm
      weight: 50
      do: [{send_template: {template_id: TPL_AUTUMN, page: pages/index/index, data: {thing1: The autumn menu}}}]
    - name: bold
      weight: 50
      do: [{send_template: {template_id: TPL_AUTUMN, page: pages/index/index, data: {thing1: Chestnuts are back}}}]
  winner: {metric: opened, min_sample: 4, confidence: 0.95}
`

// dashNow is when the dashboard tests look: 20:00 on 1 December in Shanghai.
var dashNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// setClock is a clock a test sets to any time, also backwards.
type setClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *setClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *setClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// dashEnv is the real Handler over httptest with the dashboard's known data.
type dashEnv struct {
	apiClient
	srv   *httptest.Server
	db    *sqldb.DB
	eng   *engine.Engine
	clock *setClock
}

// newDashEnv serves the real Handler, wrapped by wrap when given.
func newDashEnv(t *testing.T, dbURL string, wrap ...func(http.Handler) http.Handler) *dashEnv {
	t.Helper()
	d := &dashEnv{db: openDB(t, dbURL), clock: &setClock{t: dashNow}}
	d.eng = engine.New(d.db, &recorder{}, d.clock.Now, discard)
	if err := d.eng.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	files := []campaigns.File{{Name: "campaigns/dash.yaml", Data: []byte(dashCampaigns)}}
	set, err := campaigns.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.eng.SetCampaigns(t.Context(), set, files); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Deps{Engine: d.eng, Log: discard, Now: d.clock.Now, AdminToken: adminToken})
	h := api.Handler()
	for _, w := range wrap {
		h = w(h)
	}
	d.srv = httptest.NewServer(h)
	t.Cleanup(d.srv.Close)
	d.base = d.srv.URL
	return d
}

// at is a time in Shanghai (UTC+8).
func at(month time.Month, day, hour, min, sec int) time.Time {
	return time.Date(2026, month, day, hour, min, sec, 0, time.FixedZone("CST", 8*3600))
}

// push hands the engine one push at when, with the clock at when (so the
// firings, coupons and visits it writes carry that time too).
func (d *dashEnv) push(t *testing.T, when time.Time, typ events.Type, openid, key string) engine.Result {
	t.Helper()
	d.clock.Set(when)
	ev := &events.Event{Type: typ, ToUser: oaGh, OpenID: openid, CreatedAt: when, EventKey: key}
	res, err := d.eng.Handle(t.Context(), ev, nil)
	if err != nil {
		t.Fatalf("%s %s %s at %s: %v", typ, openid, key, when, err)
	}
	return res
}

// seed writes the dashboard's known data (the expected figures are in the
// tests): follows on five Shanghai days by every source, unfollows, store
// scans, referrals, redemptions and sends in every state.
func (d *dashEnv) seed(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	sub, unsub := events.Subscribe, events.Unsubscribe
	if _, err := d.db.ImportStores(ctx, []stores.Store{
		{ID: "sh-001", Name: "People's Square", Lat: 31.2304, Lng: 121.4737, City: "Shanghai"},
		{ID: "bj-001", Name: "Sanlitun", Lat: 39.9345, Lng: 116.4551, City: "Beijing"},
		{ID: "gz-001", Name: "Tianhe", Lat: 23.1291, Lng: 113.2644, City: "Guangzhou"},
	}, dashNow, nil); err != nil {
		t.Fatal(err)
	}
	// 31 October, the month before yesterday: 4 follows, 2 unfollows.
	for _, o := range []string{"m1", "m2", "m3", "m4"} {
		d.push(t, at(10, 31, 10, 0, 0), sub, o, "")
	}
	d.push(t, at(10, 31, 11, 0, 0), unsub, "m1", "")
	d.push(t, at(10, 31, 11, 0, 0), unsub, "m2", "")
	// 23 November, the week before: a store follow and a search.
	d.push(t, at(11, 23, 12, 0, 0), sub, "w1", "qrscene_store:sh-001")
	d.push(t, at(11, 23, 12, 0, 0), sub, "w2", "")
	// 29 November, the day before: alice, who will refer friends.
	d.push(t, at(11, 29, 13, 0, 0), sub, "alice", "")
	if err := d.db.Write(ctx, func(tx *sqldb.Tx) error {
		return tx.AddReferralCode(&referral.Code{Code: "ALICE234", OwnerKey: referral.Key("", "alice", ""), OAOpenID: "alice", CreatedAt: at(11, 29, 13, 0, 0)})
	}); err != nil {
		t.Fatal(err)
	}
	// 30 November, yesterday: 3 follows (2 store, 1 other scene), 1 unfollow.
	d.push(t, at(11, 30, 9, 0, 0), sub, "y2", "qrscene_store:bj-001")
	d.push(t, at(11, 30, 10, 0, 0), sub, "y3", "qrscene_123")
	d.push(t, at(11, 30, 11, 0, 0), unsub, "w2", "")
	d.push(t, at(11, 30, 23, 59, 59), sub, "y1", "qrscene_store:sh-001") // the day's last second
	// 1 December, today: 6 follows (1 store, 4 referral, 1 search), 1 unfollow.
	d.push(t, at(12, 1, 0, 0, 0), sub, "t1", "qrscene_store:sh-001") // the day's first second
	d.push(t, at(12, 1, 9, 0, 0), sub, "r1", "qrscene_ref:ALICE234")
	d.push(t, at(12, 1, 9, 1, 0), sub, "r2", "qrscene_ref:ALICE234")
	d.push(t, at(12, 1, 9, 2, 0), sub, "r3", "qrscene_ref:ALICE234")
	d.push(t, at(12, 1, 9, 3, 0), sub, "n1", "qrscene_ref:NOPE2345") // unknown_code
	d.push(t, at(12, 1, 10, 0, 0), sub, "t2", "")
	if res := d.push(t, at(12, 1, 10, 0, 0), sub, "t2", ""); !res.Duplicate { // WeChat's retry
		t.Fatal("the retried push was not a duplicate")
	}
	d.push(t, at(12, 1, 11, 0, 0), unsub, "r3", "")                   // cancels r3's referral
	d.push(t, at(12, 1, 12, 0, 0), events.Scan, "y2", "ref:ALICE234") // not_new
	d.push(t, at(12, 1, 13, 0, 0), events.Scan, "y1", "store:sh-001")
	d.push(t, at(12, 1, 13, 30, 0), events.Scan, "y1", "store:xx-999") // a store the catalogue lacks
	d.clock.Set(dashNow)
	d.redeem(t, "y1", "bj-001")
	d.redeem(t, "t1", "sh-001")
	d.sends(t)
	d.splits(t)
}

// followersNow are the seeded followers who follow at dashNow.
var followersNow = []string{"m3", "m4", "w1", "alice", "y2", "y3", "y1", "t1", "r1", "r2", "n1", "t2"}

// splits plays the two A/B splits through the engine: each follower now
// taps both menu keys (spring-ab and autumn-ab fire their variant for
// them), WeChat accepts every message, the first three of each variant
// are delivered, and deep links are opened through Track: spring-ab's a
// every other message and b every third, far below its min_sample of 100
// (no winner); autumn-ab's bold every message but its second and calm
// only its first, past its min_sample of 4, so DecideWinners declares bold.
func (d *dashEnv) splits(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	for i, o := range followersNow {
		d.push(t, at(12, 1, 14, i, 0), events.Click, o, "AB_SPRING")
		d.push(t, at(12, 1, 15, i, 0), events.Click, o, "AB_AUTUMN")
	}
	d.clock.Set(dashNow)
	opens := map[string]func(n int) bool{
		"spring-ab.a": func(n int) bool { return n%2 == 0 }, "spring-ab.b": func(n int) bool { return n%3 == 0 },
		"autumn-ab.bold": func(n int) bool { return n != 1 }, "autumn-ab.calm": func(n int) bool { return n == 0 },
	}
	for _, id := range []string{"spring-ab", "autumn-ab"} {
		msgs, err := d.db.MessagesOf(ctx, id, "")
		if err != nil || len(msgs) != len(followersNow) {
			t.Fatalf("%s messages = %d, %v; want %d", id, len(msgs), err, len(followersNow))
		}
		seen := map[string]int{}
		var open []outbox.MessageRow
		err = d.db.Write(ctx, func(tx *sqldb.Tx) error {
			for i, m := range msgs {
				n := seen[m.Variant]
				seen[m.Variant]++
				msgid := int64(2000 + i) // WeChat's msgid: 2000 up for spring-ab, 3000 up for autumn-ab
				if id == "autumn-ab" {
					msgid += 1000
				}
				if err := tx.MarkSent(m.ID, msgid, outbox.SendTemplate, "", dashNow); err != nil {
					return err
				}
				if n < 3 {
					if _, err := tx.MarkDelivery(m.OpenID, msgid, "success", dashNow); err != nil {
						return err
					}
				}
				if opens[id+"."+m.Variant](n) {
					open = append(open, m)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(seen) != 2 {
			t.Fatalf("%s fired variants %v; the known data needs both", id, seen)
		}
		for _, m := range open {
			if counted, err := d.eng.Track(ctx, id, m.ID, "pages/index/index"); err != nil || !counted {
				t.Fatalf("Track(%s, %s) = %v, %v; want counted", id, m.ID, counted, err)
			}
		}
	}
	if err := d.eng.DecideWinners(ctx, "dash-test"); err != nil {
		t.Fatal(err)
	}
}

func (d *dashEnv) redeem(t *testing.T, openid, store string) {
	t.Helper()
	cps, err := d.db.CouponsOf(t.Context(), openid)
	if err != nil || len(cps) != 1 {
		t.Fatalf("coupons of %s = %v, %v", openid, cps, err)
	}
	if _, err := d.eng.Redeem(t.Context(), cps[0].Code, store); err != nil {
		t.Fatal(err)
	}
}

// sends takes the welcome campaign's 16 messages through WeChat's answers:
// 10 accepted (5 of them delivered, 2 opened), 2 refused with 43004, 4 left
// pending.
func (d *dashEnv) sends(t *testing.T) {
	t.Helper()
	msgs, err := d.db.MessagesOf(t.Context(), "welcome", "")
	if err != nil || len(msgs) != 16 {
		t.Fatalf("welcome messages = %d, %v; want 16", len(msgs), err)
	}
	err = d.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		for i, m := range msgs {
			var err error
			switch {
			case i < 10:
				err = tx.MarkSent(m.ID, int64(1000+i), outbox.SendTemplate, "", dashNow)
				if err == nil && i < 5 {
					_, err = tx.MarkDelivery(m.OpenID, int64(1000+i), "success", dashNow)
				}
				if err == nil && i < 2 {
					_, err = tx.MarkOpened(m.ID, "welcome", dashNow)
				}
			case i < 12:
				err = tx.MarkFailed(m.ID, 43004, "not following")
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (d *dashEnv) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	code, body := d.do(t, "GET", path, "Bearer "+adminToken, "")
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d %s", path, code, body)
	}
	decode(t, body, v)
}

// eachDash runs test against the seeded dashboard on every database engine.
func eachDash(t *testing.T, test func(t *testing.T, d *dashEnv)) {
	t.Helper()
	for _, db := range testenv.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			d := newDashEnv(t, db.URL)
			d.seed(t)
			test(t, d)
		})
	}
}

func pct(v float64) *float64 { return &v }

func TestDashboardOverview(t *testing.T) {
	t.Parallel()
	eachDash(t, func(t *testing.T, d *dashEnv) {
		var got engine.Overview
		d.getJSON(t, "/admin/v1/dashboard/overview?days=3", &got)
		day := func(date string, f, u, store, ref, search, other int) engine.OverviewDay {
			return engine.OverviewDay{Date: date, Follows: f, Unfollows: u, Net: f - u,
				BySource: engine.SourceCounts{Store: store, Referral: ref, Search: search, Other: other}}
		}
		want := engine.Overview{FollowersNow: 12, Timezone: "Asia/Shanghai", Days: []engine.OverviewDay{
			day("2026-11-29", 1, 0, 0, 0, 1, 0),
			day("2026-11-30", 3, 1, 2, 0, 0, 1),
			day("2026-12-01", 6, 1, 1, 4, 1, 0),
		}}
		c := &want.Compare
		c.Today = engine.DayTotals{Date: "2026-12-01", Follows: 6, Unfollows: 1, Net: 5}
		c.Yesterday = engine.DayTotals{Date: "2026-11-30", Follows: 3, Unfollows: 1, Net: 2}
		c.DayBefore = engine.DayTotals{Date: "2026-11-29", Follows: 1, Unfollows: 0, Net: 1}
		c.WeekBefore = engine.DayTotals{Date: "2026-11-23", Follows: 2, Unfollows: 0, Net: 2}
		c.MonthBefore = engine.DayTotals{Date: "2026-10-31", Follows: 4, Unfollows: 2, Net: 2}
		c.Change.DayBefore = engine.Changes{Follows: pct(200), Unfollows: nil, Net: pct(100)}
		c.Change.WeekBefore = engine.Changes{Follows: pct(50), Unfollows: nil, Net: pct(0)}
		c.Change.MonthBefore = engine.Changes{Follows: pct(-25), Unfollows: pct(-50), Net: pct(0)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("overview (-want +got):\n%s", diff)
		}

		var def engine.Overview
		d.getJSON(t, "/admin/v1/dashboard/overview", &def)
		if len(def.Days) != 30 || def.Days[29].Date != "2026-12-01" || def.Days[0].Date != "2026-11-02" {
			t.Errorf("default overview: %d days from %s to %s, want 30 from 2026-11-02 to 2026-12-01", len(def.Days), def.Days[0].Date, def.Days[len(def.Days)-1].Date)
		}
		total := 0
		for _, x := range def.Days {
			total += x.Follows
		}
		if total != 12 { // 23 Nov, 29 Nov, 30 Nov, 1 Dec; 31 Oct is outside
			t.Errorf("follows over the default 30 days = %d, want 12", total)
		}
		var year engine.Overview // 366 days: as many day bounds as parameters
		d.getJSON(t, "/admin/v1/dashboard/overview?days=366", &year)
		total = 0
		for _, x := range year.Days {
			total += x.Follows
		}
		if len(year.Days) != 366 || total != 16 || !cmp.Equal(year.Compare, want.Compare) {
			t.Errorf("a year: %d days, %d follows, compare diff %s; want 366, 16 and the same comparison", len(year.Days), total, cmp.Diff(want.Compare, year.Compare))
		}
		for _, bad := range []string{"0", "367", "x", "-1"} {
			if code, body := d.do(t, "GET", "/admin/v1/dashboard/overview?days="+bad, "Bearer "+adminToken, ""); code != http.StatusBadRequest {
				t.Errorf("days=%s: %d %s, want 400", bad, code, body)
			}
		}
	})
}

func TestDashboardCampaigns(t *testing.T) {
	t.Parallel()
	eachDash(t, func(t *testing.T, d *dashEnv) {
		welcome := engine.Funnel{Fired: 16, Sent: 10, Delivered: 5, Opened: 2, CouponsIssued: 16, CouponsRedeemed: 2, Failed: 2,
			Rates: engine.FunnelRate{Sent: pct(0.625), Delivered: pct(0.5), Opened: pct(0.2), Issued: pct(1), Redeemed: pct(0.125)}}
		var list struct{ Campaigns []engine.CampaignFunnel }
		d.getJSON(t, "/admin/v1/dashboard/campaigns", &list)
		want := []engine.CampaignFunnel{
			{ID: "welcome", Title: "Welcome", Event: "subscribe", Active: true, Funnel: welcome},
			{ID: "menu", Event: "menu_click", Active: true},
			{ID: "spring-ab", Title: "Spring menu test", Event: "menu_click", Active: true, Funnel: engine.Funnel{Fired: 12, Sent: 12, Delivered: 6, Opened: 5,
				Rates: engine.FunnelRate{Sent: pct(1), Delivered: pct(0.5), Opened: pct(0.4167), Issued: pct(0)}}},
			{ID: "autumn-ab", Title: "Autumn menu test", Event: "menu_click", Active: true, Funnel: engine.Funnel{Fired: 12, Sent: 12, Delivered: 6, Opened: 7,
				Rates: engine.FunnelRate{Sent: pct(1), Delivered: pct(0.5), Opened: pct(0.5833), Issued: pct(0)}}},
		}
		if diff := cmp.Diff(want, list.Campaigns); diff != "" {
			t.Errorf("campaigns (-want +got):\n%s", diff)
		}
		var one engine.CampaignFunnel
		d.getJSON(t, "/admin/v1/campaigns/welcome/funnel?days=4", &one)
		wantOne := engine.CampaignFunnel{ID: "welcome", Title: "Welcome", Event: "subscribe", Active: true, Funnel: welcome,
			Days: []engine.FiringDay{{Date: "2026-11-28"}, {Date: "2026-11-29", Fired: 1}, {Date: "2026-11-30", Fired: 3}, {Date: "2026-12-01", Fired: 6, Sent: 10}}}
		if diff := cmp.Diff(wantOne, one); diff != "" {
			t.Errorf("welcome funnel (-want +got):\n%s", diff)
		}
		// The stats endpoint counts the same.
		var st map[string]int
		d.getJSON(t, "/admin/v1/campaigns/welcome/stats", &st)
		if st["fired"] != welcome.Fired || st["sent"] != welcome.Sent || st["coupons_redeemed"] != welcome.CouponsRedeemed {
			t.Errorf("stats %v disagree with the funnel %+v", st, welcome)
		}
		if code, _ := d.do(t, "GET", "/admin/v1/campaigns/no-such/funnel", "Bearer "+adminToken, ""); code != http.StatusNotFound {
			t.Errorf("funnel of an unknown campaign = %d, want 404", code)
		}
	})
}

func TestDashboardStores(t *testing.T) {
	t.Parallel()
	eachDash(t, func(t *testing.T, d *dashEnv) {
		var got struct{ Stores []engine.StoreRow }
		d.getJSON(t, "/admin/v1/dashboard/stores", &got)
		want := []engine.StoreRow{
			{ID: "sh-001", Name: "People's Square", City: "Shanghai", Rank: 1,
				Stats: stores.Stats{Follows: 3, NewFollowers: 3, Scans: 1, CouponsIssued: 3, CouponsRedeemed: 1}},
			{ID: "bj-001", Name: "Sanlitun", City: "Beijing", Rank: 2,
				Stats: stores.Stats{Follows: 1, NewFollowers: 1, CouponsIssued: 1, CouponsRedeemed: 1}},
			{ID: "gz-001", Name: "Tianhe", City: "Guangzhou", Rank: 3},
			{ID: "xx-999", Rank: 4, Stats: stores.Stats{Scans: 1}},
		}
		if diff := cmp.Diff(want, got.Stores); diff != "" {
			t.Errorf("stores (-want +got):\n%s", diff)
		}
		for _, s := range want { // the per-store endpoint counts the same
			var st stores.Stats
			d.getJSON(t, "/admin/v1/stores/"+s.ID+"/stats", &st)
			if st != s.Stats {
				t.Errorf("%s stats = %+v, dashboard %+v", s.ID, st, s.Stats)
			}
		}
	})
}

func TestDashboardReferral(t *testing.T) {
	t.Parallel()
	eachDash(t, func(t *testing.T, d *dashEnv) {
		var got struct{ Programs []engine.ProgramView }
		d.getJSON(t, "/admin/v1/dashboard/referral", &got)
		want := []engine.ProgramView{{ID: "invite-friends", Title: "Invite friends", Active: true,
			Stats: referral.Stats{Invites: 3, Held: 2, Cancelled: 1,
				Rejected: map[referral.Reason]int{referral.ReasonNotNew: 1, referral.ReasonUnknownCode: 1}},
			Leaderboard: []referral.LeaderboardRow{{ReferrerKey: referral.Key("", "alice", ""), Code: "ALICE234", Held: 2}},
		}}
		if diff := cmp.Diff(want, got.Programs); diff != "" {
			t.Errorf("referral (-want +got):\n%s", diff)
		}
	})
}

func TestDashboardSends(t *testing.T) {
	t.Parallel()
	eachDash(t, func(t *testing.T, d *dashEnv) {
		var got engine.Sends
		d.getJSON(t, "/admin/v1/dashboard/sends", &got)
		tpl := string(outbox.SendTemplate)
		wantCounts := []sqldb.SendCount{
			{Kind: tpl, Outcome: "delivered", N: 5 + 12}, // welcome's and the splits' (3 of each variant)
			{Kind: tpl, Outcome: "failed", Errcode: 43004, N: 2},
			{Kind: tpl, Outcome: "pending", N: 4},
			{Kind: tpl, Outcome: "sent", N: 5 + 12},
		}
		if diff := cmp.Diff(wantCounts, got.Counts); diff != "" {
			t.Errorf("send counts (-want +got):\n%s", diff)
		}
		o := got.Outbox
		sum := 0
		for _, n := range o.PendingByKind {
			sum += n
		}
		// The recorder queue runs nothing: every item is still pending.
		if o.PendingByKind[tpl] != 16+24 || o.PendingByKind[string(outbox.ReferralQualify)] != 3 || sum != o.Pending {
			t.Errorf("outbox pending %d by kind %v, want 40 %s (16 welcome, 24 splits), 3 %s, summing to the total", o.Pending, o.PendingByKind, tpl, outbox.ReferralQualify)
		}
		oldest := at(10, 31, 10, 0, 0) // m1's follow: its user/info call
		if o.OldestDueAt == nil || !o.OldestDueAt.Equal(oldest) || o.OldestAgeSeconds != dashNow.Sub(oldest).Seconds() {
			t.Errorf("oldest due %v, %v s; want %s, %v s", o.OldestDueAt, o.OldestAgeSeconds, oldest.UTC(), dashNow.Sub(oldest).Seconds())
		}
	})
}

// TestDashboardVariants: the known data's splits answer /variants as the
// engine decided them: spring-ab short of its sample with no winner,
// autumn-ab's bold declared by DecideWinners; a campaign without a split
// is 404.
func TestDashboardVariants(t *testing.T) {
	t.Parallel()
	eachDash(t, func(t *testing.T, d *dashEnv) {
		row := func(name string, fired, delivered, opened int) engine.VariantRow {
			return engine.VariantRow{Name: name, Weight: 50, Fired: fired, Sent: fired, Delivered: delivered, Opened: opened,
				Rate: float64(opened) / float64(fired), Sample: fired,
				Rates: engine.Rates{Delivered: float64(delivered) / float64(fired), Opened: float64(opened) / float64(fired)}}
		}
		var spring engine.VariantReport
		d.getJSON(t, "/admin/v1/campaigns/spring-ab/variants", &spring)
		want := engine.VariantReport{Campaign: "spring-ab", Metric: "opened", Confidence: 0.95, MinSample: 100,
			Variants: []engine.VariantRow{row("a", 4, 3, 2), row("b", 8, 3, 3)},
			Test:     engine.TestResult{Best: "a", Against: "b", Reason: "not enough data: a has 4 of 100 messages sent, b has 8 of 100 messages sent"}}
		near := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
		approx := cmp.Comparer(near)
		ignoreZP := cmpopts.IgnoreFields(engine.TestResult{}, "Z", "P")
		if diff := cmp.Diff(want, spring, approx, ignoreZP); diff != "" {
			t.Errorf("spring-ab (-want +got):\n%s", diff)
		}
		if z, p := campaigns.ZTest(2, 4, 3, 8); !near(spring.Test.Z, z) || !near(spring.Test.P, p) {
			t.Errorf("spring-ab z, p = %v, %v; want %v, %v", spring.Test.Z, spring.Test.P, z, p)
		}

		var autumn engine.VariantReport
		d.getJSON(t, "/admin/v1/campaigns/autumn-ab/variants", &autumn)
		reason := "bold opens 4.3 times as often as calm (85.7% vs 20.0%); significant at 95% (p = 0.023)"
		bold, at := "bold", dashNow
		z, p := campaigns.ZTest(6, 7, 1, 5)
		want = engine.VariantReport{Campaign: "autumn-ab", Metric: "opened", Confidence: 0.95, MinSample: 4,
			Variants: []engine.VariantRow{row("calm", 5, 3, 1), row("bold", 7, 3, 6)},
			Test:     engine.TestResult{Best: "bold", Against: "calm", Z: z, P: p, Significant: true, Reason: reason},
			Winner:   &bold, DecidedAt: &at}
		dec := autumn.Decision
		autumn.Decision = nil
		if diff := cmp.Diff(want, autumn, approx); diff != "" {
			t.Errorf("autumn-ab (-want +got):\n%s", diff)
		}
		if dec == nil || dec.Variant != "bold" || dec.Reason != reason || !dec.DecidedAt.Equal(dashNow) || !near(dec.Z, z) {
			t.Errorf("autumn-ab decision %+v, want bold at %s: %s", dec, dashNow, reason)
		}
		if code, body := d.do(t, "GET", "/admin/v1/campaigns/menu/variants", "Bearer "+adminToken, ""); code != http.StatusNotFound {
			t.Errorf("variants of menu (no split) = %d %s, want 404", code, body)
		}
	})
}
