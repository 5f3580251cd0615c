package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat/wechatsim"
	"github.com/omohq/omo/worker"
)

const templateSendPath = "/cgi-bin/message/template/send"

// fanoutSet is a schedule campaign firing once at at to every follower,
// with a template message (WeChat's client_msg_id guards a repeat).
func fanoutSet(at time.Time) string {
	return fmt.Sprintf(`kind: Campaign
id: double-11
on: {event: schedule, at: %s}
do:
  - send_template: {template_id: TPL_D11, page: pages/index/index, data: {thing1: "Double 11 starts now"}}
`, at.Format(time.RFC3339))
}

// syncFrom seeds n followers in the simulator and runs omo followers sync
// with environ, so omo's database knows them.
func syncFrom(t *testing.T, sim *wechatsim.Sim, n int, environ []string) {
	t.Helper()
	if got := sim.SeedFollowers(testAppID, n); got != n {
		t.Fatalf("seeded %d followers, want %d", got, n)
	}
	if _, stderr, err := runFor(t, 2*time.Minute, []string{"followers", "sync"}, environ); err != nil {
		t.Fatalf("omo followers sync: %v\n%s", err, stderr)
	}
}

// templatesPerOpenID counts the template sends WeChat delivered per openid.
func templatesPerOpenID(sim *wechatsim.Sim) map[string]int {
	out := map[string]int{}
	for _, s := range sim.Templates(testAppID) {
		out[s.ToUser]++
	}
	return out
}

// checkOnce fails t unless each of the n seeded followers got exactly one
// template message.
func checkOnce(t *testing.T, sim *wechatsim.Sim, n int) {
	t.Helper()
	got := templatesPerOpenID(sim)
	missing, twice := 0, 0
	for i := range n {
		switch got[wechatsim.SeedOpenID(testAppID, i)] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	if missing > 0 || twice > 0 || len(got) != n {
		t.Errorf("template messages: %d followers got none, %d got more than one, %d distinct recipients; want each of %d exactly once", missing, twice, len(got), n)
	}
}

// slotOf waits for the campaign's only slot and returns it.
func slotOf(t *testing.T, db *sqldb.DB, campaign string, d time.Duration) sqldb.Slot {
	t.Helper()
	var slot sqldb.Slot
	waitFor(t, d, "the slot of "+campaign+" claimed", func() (bool, error) {
		slots, err := db.Slots(context.Background(), campaign, 10)
		if err != nil || len(slots) == 0 {
			return false, err
		}
		if len(slots) > 1 {
			return false, fmt.Errorf("%d slots recorded, want 1: %+v", len(slots), slots)
		}
		slot = slots[0]
		return true, nil
	})
	return slot
}

// waitSlotDone waits until the slot's ledger holds nothing pending.
func waitSlotDone(t *testing.T, db *sqldb.DB, id int64, d time.Duration) sqldb.SlotStats {
	t.Helper()
	var st sqldb.SlotStats
	waitFor(t, d, "every recipient of the slot settled", func() (bool, error) {
		s, err := db.SlotByID(context.Background(), id)
		if err != nil {
			return false, err
		}
		st, err = db.SlotStats(context.Background(), id)
		return err == nil && s.State == sqldb.SlotDone && st.Pending == 0, err
	})
	return st
}

// fanoutRig is a firing under way: n synced followers, omo serve running
// the campaign set, and its slot claimed.
type fanoutRig struct {
	rds    *testenv.RedisServer
	sim    *wechatsim.Sim
	db     *sqldb.DB
	omo    *omoServe   // the first serve, the simulator's webhook
	others []*omoServe // more serves on the same database and Redis
	slot   sqldb.Slot
}

// startFanout syncs n followers into dbURL, starts omo serve with the set
// set(at) for an at a few seconds ahead (and the extra environment), and
// returns once the slot is claimed.
func startFanout(t *testing.T, n int, dbURL string, set func(at time.Time) string, extra ...string) *fanoutRig {
	t.Helper()
	return startFanoutServes(t, 1, n, dbURL, set, extra...)
}

// startFanoutServes is startFanout with serves omo serve processes, all
// running before the slot comes due.
func startFanoutServes(t *testing.T, serves, n int, dbURL string, set func(at time.Time) string, extra ...string) *fanoutRig {
	t.Helper()
	r := &fanoutRig{rds: testenv.Redis(t)}
	var simURL string
	r.sim, simURL = newSim(t)
	syncFrom(t, r.sim, n, campaignEnv(t, simURL, dbURL, r.rds.URL(), ""))
	at := time.Now().Add(4 * time.Second).Truncate(time.Second)
	env := setEnv(campaignEnv(t, simURL, dbURL, r.rds.URL(), set(at)), extra...)
	r.omo = startServe(t, env)
	for range serves - 1 {
		r.others = append(r.others, startServe(t, env))
	}
	pointSimAt(r.sim, r.omo.URL)
	r.db = openStore(t, dbURL)
	var id string
	for _, line := range strings.Split(set(at), "\n") {
		if v, ok := strings.CutPrefix(line, "id: "); ok && id == "" {
			id = v
		}
	}
	r.slot = slotOf(t, r.db, id, 30*time.Second)
	return r
}

// sent counts the template messages WeChat has delivered so far.
func (r *fanoutRig) sent() int { return len(r.sim.Templates(testAppID)) }

// TestScheduleFanoutKilled SIGKILLs omo serve in the middle of a
// 20,000-recipient fan-out and starts it again on the same database and
// Redis: every recipient gets the message exactly once, and the ledger
// says so.
func TestScheduleFanoutKilled(t *testing.T) {
	t.Parallel()
	const n = 20_000
	bin := buildOmo(t)
	rds := testenv.Redis(t)
	sim, simURL := newSim(t)
	dbURL := testenv.SQLiteURL(t)
	env := campaignEnv(t, simURL, dbURL, rds.URL(), "")
	syncFrom(t, sim, n, env)
	at := time.Now().Add(4 * time.Second).Truncate(time.Second)
	env = setEnv(campaignEnv(t, simURL, dbURL, rds.URL(), fanoutSet(at)), "OMO_WORKER_CONCURRENCY=8")

	first := startProcess(t, bin, env)
	pointSimAt(sim, first.URL)
	db := openStore(t, dbURL)
	slot := slotOf(t, db, "double-11", 30*time.Second)
	waitFor(t, time.Minute, "a quarter of the fan-out sent", func() (bool, error) {
		return len(sim.Templates(testAppID)) >= n/4, nil
	})
	first.kill(t)
	before := len(sim.Templates(testAppID))
	if before >= n {
		t.Fatalf("the fan-out finished (%d sends) before the kill; the test proves nothing", before)
	}
	t.Logf("killed after %d of %d sends", before, n)

	second := startProcess(t, bin, env)
	pointSimAt(sim, second.URL)
	st := waitSlotDone(t, db, slot.ID, 3*time.Minute)
	checkOnce(t, sim, n)
	if st.Planned != n || st.Sent != n || st.Failed != 0 || len(st.Skipped) != 0 {
		t.Errorf("ledger = %+v; want %d planned and sent", st, n)
	}
	if slots, _ := db.Slots(context.Background(), "double-11", 10); len(slots) != 1 {
		t.Errorf("slots after the restart = %+v, want the one", slots)
	}
	second.stop(t)
}

// TestScheduleTwoServesFireOnce runs two omo serve on one PostgreSQL and
// one Redis: the slot is claimed once and every follower gets one message.
func TestScheduleTwoServesFireOnce(t *testing.T) {
	t.Parallel()
	const n = 3_000
	var pg string
	for _, d := range testenv.Databases(t) {
		if d.Name == "postgres" {
			pg = d.URL
		}
	}
	if pg == "" {
		t.Fatal("no PostgreSQL")
	}
	withCoupon := func(at time.Time) string {
		return fanoutSet(at) + `  - issue_coupon: {pool: d11-20}
---
kind: CouponPool
id: d11-20
title: "¥20 off"
discount: {amount_fen: 2000}
stock: 100000
valid_for: 72h
`
	}
	r := startFanoutServes(t, 2, n, pg, withCoupon)
	st := waitSlotDone(t, r.db, r.slot.ID, 2*time.Minute)
	time.Sleep(3 * time.Second) // the other serve's next ticks, had they fired again
	if slots, _ := r.db.Slots(context.Background(), "double-11", 10); len(slots) != 1 {
		t.Errorf("slots = %+v, want one across two serves", slots)
	}
	checkOnce(t, r.sim, n)
	if st.Planned != n || st.Sent != n || st.CouponsIssued != n {
		t.Errorf("ledger = %+v; want %d planned, sent and coupons issued", st, n)
	}
	r.omo.stop(t)
	r.others[0].stop(t)
}

// TestScheduleRedisOutage stops Redis for 30 s in the middle of a
// fan-out: nothing is lost and nobody gets the message twice.
func TestScheduleRedisOutage(t *testing.T) {
	t.Parallel()
	const n = 5_000
	r := startFanout(t, n, testenv.SQLiteURL(t), fanoutSet, "OMO_WORKER_SEND_RATE=500")
	waitFor(t, time.Minute, "the fan-out under way", func() (bool, error) { return r.sent() >= 500, nil })
	r.rds.Stop()
	t.Logf("Redis stopped after %d sends", r.sent())
	time.Sleep(30 * time.Second)
	r.rds.Start() // empty: the queue is gone, the outbox and the ledger are not
	st := waitSlotDone(t, r.db, r.slot.ID, 3*time.Minute)
	checkOnce(t, r.sim, n)
	if st.Planned != n || st.Sent != n {
		t.Errorf("ledger = %+v; want %d planned and sent", st, n)
	}
	r.omo.stop(t)
}

// TestSchedulePause pauses a fan-out through the admin API: no message
// leaves from a second after the pause until the resume, and then the rest
// go out, each once.
func TestSchedulePause(t *testing.T) {
	t.Parallel()
	const n = 3_000
	r := startFanout(t, n, testenv.SQLiteURL(t), fanoutSet, "OMO_WORKER_SEND_RATE=200")
	waitFor(t, time.Minute, "the fan-out under way", func() (bool, error) { return r.sent() >= 200, nil })
	adminPost(t, r.omo.URL, "/admin/v1/campaigns/double-11/pause")
	time.Sleep(time.Second)
	paused := r.sent()
	time.Sleep(3 * time.Second)
	if after := r.sent(); after != paused || after >= n {
		t.Fatalf("sends a second after the pause: %d, three seconds later: %d; want no change, short of %d", paused, after, n)
	}
	st, err := r.db.SlotStats(context.Background(), r.slot.ID)
	if err != nil || st.Pending == 0 {
		t.Fatalf("ledger while paused = %+v, %v; want recipients still pending", st, err)
	}
	adminPost(t, r.omo.URL, "/admin/v1/campaigns/double-11/resume")
	st = waitSlotDone(t, r.db, r.slot.ID, 2*time.Minute)
	checkOnce(t, r.sim, n)
	if st.Sent != n {
		t.Errorf("ledger = %+v; want %d sent", st, n)
	}
	r.omo.stop(t)
}

// adminPost POSTs to an admin path of omoURL and fails t unless it is 200.
func adminPost(t *testing.T, omoURL, path string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, omoURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %d %s, want 200", path, resp.StatusCode, body)
	}
}

// TestScheduleMassSend fires a send_mass campaign: its recipients go out in
// one mass send, WeChat's MASSSENDJOBFINISH lands in the firing's counts,
// and followers who already received four mass sends this month are
// skipped, not sent a fifth.
func TestScheduleMassSend(t *testing.T) {
	t.Parallel()
	const n = 60
	rds := testenv.Redis(t)
	sim, simURL := newSim(t)
	dbURL := testenv.SQLiteURL(t)
	syncFrom(t, sim, n, campaignEnv(t, simURL, dbURL, rds.URL(), ""))
	db := openStore(t, dbURL)
	// Ten followers have had their four mass sends this month already.
	spent := make([]string, 10)
	for i := range spent {
		spent[i] = wechatsim.SeedOpenID(testAppID, i)
	}
	err := db.Write(context.Background(), func(tx *sqldb.Tx) error {
		for range 4 {
			if _, _, err := tx.TakeMassBudget(spent, worker.MassMonth(time.Now()), worker.MassPerMonth); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(4 * time.Second).Truncate(time.Second)
	set := fmt.Sprintf(`kind: Campaign
id: d11-mass
title: Double 11
on: {event: schedule, at: %s}
do:
  - send_mass: {text: "{{.Campaign.Title}} starts at 10:00 in every store"}
`, at.Format(time.RFC3339))
	omo := startServe(t, campaignEnv(t, simURL, dbURL, rds.URL(), set))
	pointSimAt(sim, omo.URL)
	slot := slotOf(t, db, "d11-mass", 30*time.Second)
	st := waitSlotDone(t, db, slot.ID, time.Minute)
	if st.Planned != n || st.Sent != n-10 || st.Skipped["mass_budget_spent"] != 10 {
		t.Errorf("ledger = %+v; want %d planned, %d sent, 10 skipped mass_budget_spent", st, n, n-10)
	}
	sends := sim.MassSends(testAppID)
	if len(sends) != 1 || len(sends[0].ToUsers) != n-10 || sends[0].Text != "Double 11 starts at 10:00 in every store" {
		t.Fatalf("mass sends seen by WeChat = %+v; want one to %d followers with the rendered text", sends, n-10)
	}
	waitFor(t, 15*time.Second, "MASSSENDJOBFINISH counted as delivered", func() (bool, error) {
		st, err := db.SlotStats(context.Background(), slot.ID)
		return err == nil && st.Delivered == int64(n-10), err
	})
	omo.stop(t)
}
