package main

import (
	"context"
	"encoding/xml"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat/wechatsim"
)

// newSim starts the WeChat simulator over HTTP with the test OA and
// mini-program registered, and alice (o-alice, unionid u-alice) known to it
// but not yet following.
func newSim(t *testing.T) (*wechatsim.Sim, string) {
	t.Helper()
	sim := wechatsim.New(wechatsim.Options{})
	sim.AddApp(testAppID, testSecret)
	sim.AddApp(testMPAppID, testMPSecret)
	sim.AddUser(testAppID, wechatsim.Follower{OpenID: "o-alice", UnionID: "u-alice"})
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return sim, srv.URL
}

// pointSimAt makes the simulator push the test OA's events to omo in safe
// (AES) mode.
func pointSimAt(sim *wechatsim.Sim, omoURL string) {
	sim.SetWebhook(testAppID, &wechatsim.Pusher{URL: omoURL + "/wechat/oa", Token: testToken, EncodingAESKey: testAESKey})
}

// openStore opens omo's database to look at what omo stored.
func openStore(t *testing.T, url string) *sqldb.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("sqldb.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// push pushes m as the test OA's follower and returns omo's answer: the
// passive reply's text, or "success". Anything but HTTP 200 fails the test.
func push(t *testing.T, sim *wechatsim.Sim, m wechatsim.Message) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := sim.Push(ctx, testAppID, m)
	if err != nil {
		t.Fatalf("push %s: %v", m.Event, err)
	}
	if rep.Status != http.StatusOK {
		t.Fatalf("push %s: omo answered %d %q, want 200", m.Event, rep.Status, rep.Raw)
	}
	body := strings.TrimSpace(string(rep.Body))
	if body == "success" {
		return body
	}
	var x struct {
		ToUserName, MsgType, Content string
	}
	if err := xml.Unmarshal(rep.Body, &x); err != nil || x.MsgType != "text" || x.ToUserName != m.FromUserName {
		t.Fatalf("push %s: omo answered %q, want success or a text reply to %s", m.Event, body, m.FromUserName)
	}
	return x.Content
}

// pushOK pushes m and checks omo answered "success" (no passive reply).
func pushOK(t *testing.T, sim *wechatsim.Sim, m wechatsim.Message) {
	t.Helper()
	if got := push(t, sim, m); got != "success" {
		t.Fatalf("push %s: omo answered %q, want success", m.Event, got)
	}
}

// outboxCounts reads the outbox and returns done, pending, failed.
func outboxCounts(t *testing.T, db *sqldb.DB) (done, pending, failed int) {
	t.Helper()
	c, err := db.CountOutbox(context.Background())
	if err != nil {
		t.Fatalf("CountOutbox: %v", err)
	}
	return c[outbox.Done], c[outbox.Pending], c[outbox.Failed]
}

// hasUnionID reports whether omo has stored unionid for openid.
func hasUnionID(db *sqldb.DB, openid, unionid string) func() (bool, error) {
	return func() (bool, error) {
		f, err := db.Follower(context.Background(), openid)
		if err != nil {
			return false, err
		}
		return f.UnionID == unionid, nil
	}
}

// welcomeCampaign is the campaign set of the end-to-end test: a follow
// through a store's QR code gets a passive reply, a coupon, and at once a
// template message that opens the coupon in the mini-program. No window,
// no quiet hours: the test must not depend on the time of day.
const welcomeCampaign = `kind: CouponPool
id: e2e-welcome-10
title: "10 off"
discount: {amount_fen: 1000, min_spend_fen: 5000}
stock: 100
per_follower: 1
valid_for: 720h
---
kind: Campaign
id: e2e-welcome
on: {event: subscribe, scene_prefix: "store:"}
limits: {per_follower: 1}
do:
  - reply: {text: "Welcome to store {{.Follower.Store}}!"}
  - issue_coupon: {pool: e2e-welcome-10}
  - send_template:
      template_id: TPL_E2E_COUPON
      page: pages/coupon/detail
      query: {code: "{{.Coupon.Code}}"}
      data: {thing1: "{{.Coupon.Title}}"}
`

// e2eState is what omo and WeChat hold about alice at one moment.
type e2eState struct {
	events, coupons, messages, templates, userInfo int
	outboxDone, outboxPending, outboxFailed        int
	stats                                          campaigns.Stats
}

func readState(t *testing.T, db *sqldb.DB, sim *wechatsim.Sim) e2eState {
	t.Helper()
	ctx := context.Background()
	var s e2eState
	var err error
	if s.events, err = db.CountEvents(ctx); err != nil {
		t.Fatal(err)
	}
	cps, err := db.CouponsOf(ctx, "o-alice")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := db.MessagesOf(ctx, "", "o-alice")
	if err != nil {
		t.Fatal(err)
	}
	if s.stats, err = db.CampaignStats(ctx, "e2e-welcome"); err != nil {
		t.Fatal(err)
	}
	s.coupons, s.messages = len(cps), len(msgs)
	s.templates, s.userInfo = len(sim.Templates(testAppID)), sim.CallCount("/cgi-bin/user/info")
	s.outboxDone, s.outboxPending, s.outboxFailed = outboxCounts(t, db)
	return s
}

// TestServeEndToEnd runs the real `omo serve`, configured only through
// OMO_* variables, against the WeChat simulator, a real redis-server and
// each database, and plays a follower from a store's QR code to a delivered
// message: the follow is answered with the campaign's passive reply and
// stored once; the unionid is fetched through the outbox and the queue; a
// coupon is issued and a template message opening it in the mini-program
// is sent and marked delivered when WeChat reports it; WeChat's retries act
// on nothing; and the process shuts down cleanly.
func TestServeEndToEnd(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			rds := testenv.Redis(t)
			sim, simURL := newSim(t)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "welcome.yaml"), []byte(welcomeCampaign), 0o600); err != nil {
				t.Fatal(err)
			}
			env := setEnv(omoEnv(t, simURL, d.URL, rds.URL()),
				"OMO_CAMPAIGNS_DIR="+dir,
				"OMO_WECHAT_MINI_PROGRAM_APP_ID="+testMPAppID,
				"OMO_WECHAT_MINI_PROGRAM_APP_SECRET="+testMPSecret)
			omo := startServe(t, env)
			pointSimAt(sim, omo.URL)
			db := openStore(t, d.URL)
			ctx := context.Background()

			// Alice scans the QR code on the counter of store sh-001 and follows.
			// The lookup is held up a little so that WeChat's retry arrives
			// while omo still has the follow's work in hand.
			sim.InjectDelay("/cgi-bin/user/info", 500*time.Millisecond, 1)
			follow := wechatsim.Subscribe(sim.OriginalID(testAppID), "o-alice", time.Now().Truncate(time.Second), "store:sh-001")
			const welcome = "Welcome to store sh-001!"
			if got := push(t, sim, follow); got != welcome {
				t.Errorf("reply to the follow = %q, want %q", got, welcome)
			}
			// WeChat did not hear back in time and pushes the same follow
			// again: the same reply, and nothing else.
			if got := push(t, sim, follow); got != welcome {
				t.Errorf("reply to the retried follow = %q, want %q", got, welcome)
			}

			waitFor(t, 10*time.Second, "unionid u-alice stored for o-alice", hasUnionID(db, "o-alice", "u-alice"))
			var msg outbox.MessageRow
			waitFor(t, 10*time.Second, "template message sent", func() (bool, error) {
				msgs, err := db.MessagesOf(ctx, "e2e-welcome", "o-alice")
				if err != nil || len(msgs) == 0 {
					return false, err
				}
				msg = msgs[0]
				return msg.State == outbox.MsgSent, nil
			})
			f, err := db.Follower(ctx, "o-alice")
			if err != nil {
				t.Fatal(err)
			}
			if f.FirstScene != "store:sh-001" || !f.Subscribed || f.SubscribedAt == nil {
				t.Errorf("follower = first_scene %q, subscribed %v at %v; want store:sh-001, true, set", f.FirstScene, f.Subscribed, f.SubscribedAt)
			}
			cps, err := db.CouponsOf(ctx, "o-alice")
			if err != nil || len(cps) != 1 {
				t.Fatalf("coupons of o-alice = %+v, %v; want one", cps, err)
			}
			sends := sim.Templates(testAppID)
			if len(sends) != 1 {
				t.Fatalf("template sends seen by WeChat = %+v, want one", sends)
			}
			wantPage := "pages/coupon/detail?code=" + cps[0].Code + "&omo_c=e2e-welcome&omo_m=" + msg.ID
			if s := sends[0]; s.ToUser != "o-alice" || s.TemplateID != "TPL_E2E_COUPON" || s.ClientMsgID != msg.ID ||
				s.MiniProgram.AppID != testMPAppID || s.MiniProgram.PagePath != wantPage || s.Data["thing1"] != "10 off" {
				t.Errorf("template send = %+v\nwant to o-alice, TPL_E2E_COUPON, client_msg_id %s, mini-program %s %s, thing1 \"10 off\"",
					s, msg.ID, testMPAppID, wantPage)
			}
			if msg.WeChatMsgID == nil || *msg.WeChatMsgID != sends[0].MsgID {
				t.Errorf("message's wechat_msgid = %v, want %d", msg.WeChatMsgID, sends[0].MsgID)
			}

			// WeChat reports the message delivered.
			jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			// Built once: WeChat's retry of a push repeats its CreateTime.
			finish := wechatsim.TemplateSendJobFinish("", "o-alice", time.Now(), sends[0].MsgID, "success")
			rep, err := sim.Push(jctx, testAppID, finish)
			if err != nil || rep.Status != http.StatusOK {
				t.Fatalf("push TEMPLATESENDJOBFINISH: %v %+v", err, rep)
			}
			got, err := db.Message(ctx, msg.ID)
			if err != nil || got.State != outbox.MsgDelivered || got.DeliveredAt == nil {
				t.Fatalf("message after TEMPLATESENDJOBFINISH = %+v, %v; want delivered", got, err)
			}

			want := e2eState{
				events: 2, coupons: 1, messages: 1, templates: 1, userInfo: 1, outboxDone: 2,
				stats: campaigns.Stats{Fired: 1, Sent: 1, Delivered: 1, CouponsIssued: 1},
			}
			if got := readState(t, db, sim); got != want {
				t.Errorf("state after the journey:\n got %+v\nwant %+v", got, want)
			}
			all, following, err := db.CountFollowers(ctx)
			if err != nil || all != 1 || following != 1 {
				t.Errorf("CountFollowers = %d, %d, %v; want 1, 1", all, following, err)
			}

			// Retries long after the fact change nothing either.
			if got := push(t, sim, follow); got != welcome {
				t.Errorf("reply to a late retry = %q, want %q", got, welcome)
			}
			if _, err := sim.Push(jctx, testAppID, finish); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond) // wrongly queued work would run by now
			if got := readState(t, db, sim); got != want {
				t.Errorf("state after late retries:\n got %+v\nwant %+v", got, want)
			}

			omo.stop(t)
		})
	}
}

// TestRestartReenqueuesPending checks DESIGN.md §2: the database outbox is
// the source of truth, and start-up re-enqueues every send that is not
// done. WeChat fails user/info while omo runs, so the lookup stays pending;
// omo stops and the queue is lost (Redis comes back empty, as the embedded
// one does); the next omo finds the item at start-up and finishes it.
func TestRestartReenqueuesPending(t *testing.T) {
	const userInfo = "/cgi-bin/user/info"
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			rds := testenv.Redis(t)
			sim, simURL := newSim(t)
			env := omoEnv(t, simURL, d.URL, rds.URL())
			sim.Inject(userInfo, -1, -1) // WeChat is failing until cleared

			first := startServe(t, env)
			pointSimAt(sim, first.URL)
			db := openStore(t, d.URL)
			pushOK(t, sim, wechatsim.Subscribe(sim.OriginalID(testAppID), "o-alice", time.Now().Truncate(time.Second), "store:sh-001"))
			waitFor(t, 10*time.Second, "a failed user/info attempt recorded", func() (bool, error) {
				items, err := db.PendingOutbox(context.Background(), time.Now().Add(time.Hour), "", 10)
				return err == nil && len(items) == 1 && items[0].Attempts >= 1, err
			})
			first.stop(t)

			rds.Stop() // the queue is lost: Redis restarts empty
			rds.Start()
			assertRedisEmpty(t, rds.URL())
			sim.ClearInjections(userInfo)
			calls := sim.CallCount(userInfo)

			second := startServe(t, env)
			pointSimAt(sim, second.URL)
			// The periodic sweep only takes items older than 30 s, so finishing
			// well within that shows the start-up sweep did it.
			waitFor(t, 10*time.Second, "unionid stored after the restart", hasUnionID(db, "o-alice", "u-alice"))
			if done, pending, failed := outboxCounts(t, db); done != 1 || pending != 0 || failed != 0 {
				t.Errorf("outbox %d done, %d pending, %d failed; want 1, 0, 0", done, pending, failed)
			}
			if n := sim.CallCount(userInfo) - calls; n != 1 {
				t.Errorf("user/info calls after the restart = %d, want 1", n)
			}
			second.stop(t)
		})
	}
}

// assertRedisEmpty checks that the Redis at url holds no key: no queued task
// survived.
func assertRedisEmpty(t *testing.T, url string) {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	n, err := c.DBSize(context.Background()).Result()
	if err != nil || n != 0 {
		t.Fatalf("redis after restart: DBSIZE = %d, %v; want 0", n, err)
	}
}
