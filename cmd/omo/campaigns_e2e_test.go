package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/config"
	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat/wechatsim"
	"github.com/omohq/omo/worker"
)

// The campaign engine's integration tests: the real `omo serve` (run in
// process through run, configured only through OMO_* variables) with its
// campaign set in a temp dir, real SQLite files and PostgreSQL, a real
// redis-server, and the WeChat simulator over HTTP.

const (
	adminToken   = "test-admin-token"
	welcomeReply = "Welcome! A coupon is on its way."
	templateSend = "/cgi-bin/message/template/send"
)

// welcomeSet is the shipped welcome campaign (configs/campaigns/welcome.yaml)
// without its window and quiet hours, so that the tests pass at any time of
// day, with the pool's stock and the template send's delay (0 = none) of
// the test's choosing.
func welcomeSet(stock int, delay time.Duration) string {
	s := fmt.Sprintf(`kind: CouponPool
id: welcome-10
title: "¥10 off your order"
discount: {amount_fen: 1000, min_spend_fen: 5000}
stock: %d
per_follower: 1
valid_for: 720h
---
kind: Campaign
id: welcome
title: Welcome through a store QR code
on: {event: subscribe, scene_prefix: "store:"}
when: {tags_none: [staff]}
limits: {per_follower: 1, cooldown: 24h, budget: 5000, rate: 100/s}
do:
  - reply: {text: %q}
  - issue_coupon: {pool: welcome-10}
  - send_template:
      template_id: TPL_COUPON_ISSUED
      page: pages/coupon/detail
      query: {code: "{{.Coupon.Code}}"}
      data: {thing1: "{{.Coupon.Title}}", time2: "{{.Coupon.ExpiresAt.Format \"2006-01-02\"}}"}
`, stock, welcomeReply)
	if delay > 0 {
		s += "    delay: " + delay.String() + "\n"
	}
	return s
}

// campaignEnv is the environment of an `omo serve` running the campaign set
// in yaml (written to a temp campaigns dir), with the test mini-program
// configured (so template sends carry a mini-program link) and the admin
// API open to adminToken.
func campaignEnv(t *testing.T, simURL, dbURL, redisURL, yaml string) []string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "welcome.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return setEnv(omoEnv(t, simURL, dbURL, redisURL),
		"OMO_CAMPAIGNS_DIR="+dir,
		"OMO_WECHAT_MINI_PROGRAM_APP_ID="+testMPAppID,
		"OMO_WECHAT_MINI_PROGRAM_APP_SECRET="+testMPSecret,
		"OMO_ADMIN_TOKEN="+adminToken)
}

// campaignRig is one `omo serve` with its simulator, Redis and database.
type campaignRig struct {
	sim *wechatsim.Sim
	omo *omoServe
	rds *testenv.RedisServer
	db  *sqldb.DB // omo's database, opened by the test to look at it
}

// startCampaigns starts `omo serve` on dbURL with the campaign set yaml, a
// fresh redis-server and a simulator pushing to it.
func startCampaigns(t *testing.T, dbURL, yaml string) *campaignRig {
	t.Helper()
	return startCampaignsWith(t, dbURL, yaml, nil)
}

// startCampaignsWith is startCampaigns with the outbox relay adjusted by
// tune before it runs (nil = as `omo serve` has it).
func startCampaignsWith(t *testing.T, dbURL, yaml string, tune func(*worker.Relay)) *campaignRig {
	t.Helper()
	r := &campaignRig{rds: testenv.Redis(t)}
	var simURL string
	r.sim, simURL = newSim(t)
	env := campaignEnv(t, simURL, dbURL, r.rds.URL(), yaml)
	if tune == nil {
		r.omo = startServe(t, env)
	} else {
		r.omo = startTuned(t, env, tune)
	}
	pointSimAt(r.sim, r.omo.URL)
	r.db = openStore(t, dbURL)
	return r
}

// startTuned does what `omo serve` does (runServe: config from environ,
// openApp, start with workers and HTTP) with the relay adjusted by tune in
// between, and shuts omo down when the test ends. Only the returned URL
// and logs are set.
func startTuned(t *testing.T, environ []string, tune func(*worker.Relay)) *omoServe {
	t.Helper()
	cfg, err := config.Load(lookup(environ, "OMO_CONFIG"), false, environ)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	s := &omoServe{logs: newLogWriter()}
	ctx := context.Background()
	a, err := openApp(ctx, cfg, newLogger(cfg, s.logs))
	if err != nil {
		t.Fatalf("openApp: %v", err)
	}
	tune(a.relay)
	if err := a.start(ctx, true, true); err != nil {
		a.shutdown()
		t.Fatalf("start: %v", err)
	}
	s.URL = a.URL()
	t.Cleanup(func() {
		a.shutdown()
		if t.Failed() {
			t.Logf("logs of omo on %s:\n%s", s.URL, s.logs)
		}
	})
	return s
}

// follow is openid subscribing through the QR code of store sh-001.
func (r *campaignRig) follow(openid string) wechatsim.Message { return storeFollow(r.sim, openid) }

// storeFollow is openid subscribing to the test OA through the QR code of
// store sh-001.
func storeFollow(sim *wechatsim.Sim, openid string) wechatsim.Message {
	return wechatsim.Subscribe(sim.OriginalID(testAppID), openid, time.Now().Truncate(time.Second), "store:sh-001")
}

// answer pushes m and returns omo's answer: the passive reply's text, or
// "success". Unlike push it reports problems as errors, so goroutines can
// call it.
func answer(sim *wechatsim.Sim, m wechatsim.Message) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := sim.Push(ctx, testAppID, m)
	if err != nil {
		return "", fmt.Errorf("push %s of %s: %w", m.Event, m.FromUserName, err)
	}
	if rep.Status != http.StatusOK {
		return "", fmt.Errorf("push %s of %s: omo answered %d %q, want 200", m.Event, m.FromUserName, rep.Status, rep.Raw)
	}
	body := strings.TrimSpace(string(rep.Body))
	if body == "success" {
		return body, nil
	}
	var x struct{ ToUserName, MsgType, Content string }
	if err := xml.Unmarshal(rep.Body, &x); err != nil || x.MsgType != "text" || x.ToUserName != m.FromUserName {
		return "", fmt.Errorf("push %s of %s: omo answered %q, want success or a text reply", m.Event, m.FromUserName, body)
	}
	return x.Content, nil
}

// pushAll pushes every message at once (each goroutine waits at a start
// barrier) and returns the answers in the order of msgs. Any push that is
// not answered 200 fails the test.
func pushAll(t *testing.T, sim *wechatsim.Sim, msgs []wechatsim.Message) []string {
	t.Helper()
	answers := make([]string, len(msgs))
	errs := make([]error, len(msgs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, m := range msgs {
		wg.Go(func() {
			<-start
			answers[i], errs[i] = answer(sim, m)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return answers
}

// adminStats reads GET /admin/v1/campaigns/{id}/stats.
func adminStats(omoURL, id string) (campaigns.Stats, error) {
	var st campaigns.Stats
	req, err := http.NewRequest(http.MethodGet, omoURL+"/admin/v1/campaigns/"+url.PathEscape(id)+"/stats", nil)
	if err != nil {
		return st, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET stats of %s: %s", id, resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// mustStats is adminStats failing the test on an error.
func (r *campaignRig) mustStats(t *testing.T, id string) campaigns.Stats {
	t.Helper()
	st, err := adminStats(r.omo.URL, id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitIdle waits (bounded by d) until the outbox holds no pending item:
// every call and send the pushes decided has been done or has failed, so
// nothing more is on its way and the counts can be compared.
func (r *campaignRig) waitIdle(t *testing.T, d time.Duration) {
	t.Helper()
	waitFor(t, d, "no pending outbox item", func() (bool, error) {
		c, err := r.db.CountOutbox(context.Background())
		return err == nil && c[outbox.Pending] == 0, err
	})
}

// messagesOf returns the welcome campaign's messages to openid ("" = all).
func (r *campaignRig) messagesOf(t *testing.T, openid string) []outbox.MessageRow {
	t.Helper()
	msgs, err := r.db.MessagesOf(context.Background(), "welcome", openid)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// settledWelcome waits (bounded by d) until openid has one welcome message
// and it is no longer pending, and returns it; what names the wait.
func (r *campaignRig) settledWelcome(t *testing.T, openid string, d time.Duration, what string) outbox.MessageRow {
	t.Helper()
	var msg outbox.MessageRow
	waitFor(t, d, what, func() (bool, error) {
		msgs, err := r.db.MessagesOf(context.Background(), "welcome", openid)
		if err != nil || len(msgs) != 1 {
			return false, err
		}
		msg = msgs[0]
		return msg.State != outbox.MsgPending, nil
	})
	return msg
}

func (r *campaignRig) couponsOf(t *testing.T, openid string) []coupons.Coupon {
	t.Helper()
	cps, err := r.db.CouponsOf(context.Background(), openid)
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

// checkDeepLink checks that page is the coupon page opening code, tracked
// as message id of the welcome campaign: exactly
// pages/coupon/detail?code=CODE&omo_c=welcome&omo_m=ID, and that it parses
// back to those values.
func checkDeepLink(t *testing.T, page, code, id string) {
	t.Helper()
	want := "pages/coupon/detail?code=" + url.QueryEscape(code) + "&omo_c=welcome&omo_m=" + url.QueryEscape(id)
	if page != want {
		t.Errorf("pagepath = %q\nwant       %q", page, want)
	}
	u, err := url.Parse(page)
	if err != nil {
		t.Fatalf("pagepath %q does not parse: %v", page, err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		t.Fatalf("pagepath %q: query does not parse: %v", page, err)
	}
	wantQ := url.Values{"code": {code}, "omo_c": {"welcome"}, "omo_m": {id}}
	if u.Path != "pages/coupon/detail" || !equalValues(q, wantQ) {
		t.Errorf("pagepath %q parses as %s ? %v, want pages/coupon/detail ? %v", page, u.Path, q, wantQ)
	}
}

func equalValues(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestWelcomeCampaign plays one follower through a store's QR code: the
// webhook answers with the campaign's passive reply; one coupon is issued
// and counted in the same transaction (the stats show it as soon as the
// push is acked); one template message is sent with client_msg_id = the
// message id and a mini-program deep link opening that coupon, tracked with
// omo_c and omo_m; WeChat's delivery report marks it delivered.
func TestWelcomeCampaign(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			r := startCampaigns(t, d.URL, welcomeSet(100, 0))
			r.sim.SetJobFinish(testAppID, "success")

			if got := push(t, r.sim, r.follow("o-alice")); got != welcomeReply {
				t.Errorf("reply to the follow = %q, want %q", got, welcomeReply)
			}
			// Committed before the answer: the firing and the coupon.
			if st := r.mustStats(t, "welcome"); st.Fired != 1 || st.CouponsIssued != 1 {
				t.Errorf("stats once the follow is acked = %+v, want fired 1, coupons_issued 1", st)
			}
			waitFor(t, 15*time.Second, "the welcome message sent and delivered", func() (bool, error) {
				st, err := adminStats(r.omo.URL, "welcome")
				return err == nil && st.Delivered == 1, err
			})
			want := campaigns.Stats{Fired: 1, Sent: 1, Delivered: 1, CouponsIssued: 1}
			if st := r.mustStats(t, "welcome"); st != want {
				t.Errorf("stats = %+v, want %+v", st, want)
			}

			cps := r.couponsOf(t, "o-alice")
			if len(cps) != 1 {
				t.Fatalf("coupons of o-alice = %+v, want one", cps)
			}
			if c := cps[0]; c.Pool != "welcome-10" || c.Campaign != "welcome" || c.Code == "" || c.Title != "¥10 off your order" {
				t.Errorf("coupon = %+v, want one of pool welcome-10 from campaign welcome", c)
			}
			msgs := r.messagesOf(t, "o-alice")
			if len(msgs) != 1 || msgs[0].State != outbox.MsgDelivered || msgs[0].Kind != outbox.SendTemplate {
				t.Fatalf("messages to o-alice = %s, want one delivered template message", msgsText(msgs))
			}
			msg := msgs[0]
			sends := r.sim.Templates(testAppID)
			if len(sends) != 1 {
				t.Fatalf("template sends seen by WeChat = %+v, want one", sends)
			}
			s := sends[0]
			if s.ToUser != "o-alice" || s.TemplateID != "TPL_COUPON_ISSUED" || s.ClientMsgID != msg.ID ||
				s.MiniProgram.AppID != testMPAppID || s.Data["thing1"] != "¥10 off your order" {
				t.Errorf("template send = %+v\nwant to o-alice, TPL_COUPON_ISSUED, client_msg_id %s, mini-program %s, thing1 %q",
					s, msg.ID, testMPAppID, "¥10 off your order")
			}
			// Shown in the campaign's time zone, Asia/Shanghai by default (UTC+8, no DST).
			if exp := cps[0].ExpiresAt.In(time.FixedZone("CST", 8*3600)).Format("2006-01-02"); s.Data["time2"] != exp {
				t.Errorf("time2 = %q, want the coupon's expiry date %s", s.Data["time2"], exp)
			}
			checkDeepLink(t, s.MiniProgram.PagePath, cps[0].Code, msg.ID)
			if msg.WeChatMsgID == nil || *msg.WeChatMsgID != s.MsgID {
				t.Errorf("message's wechat_msgid = %v, want %d", msg.WeChatMsgID, s.MsgID)
			}
			if n := r.sim.CallCount(templateSend); n != 1 {
				t.Errorf("template/send calls = %d, want 1", n)
			}
		})
	}
}

// TestDuplicateFollowsActOnce pushes the same follow three times at once,
// as WeChat's retries can arrive while omo still handles the first: one
// event, one firing, one coupon, one template send, and every answer is the
// same passive reply.
func TestDuplicateFollowsActOnce(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			r := startCampaigns(t, d.URL, welcomeSet(100, 0))
			follow := r.follow("o-alice")
			for i, got := range pushAll(t, r.sim, []wechatsim.Message{follow, follow, follow}) {
				if got != welcomeReply {
					t.Errorf("answer %d = %q, want %q", i, got, welcomeReply)
				}
			}
			r.waitIdle(t, 15*time.Second)

			ctx := context.Background()
			if n, err := r.db.CountEvents(ctx); err != nil || n != 1 {
				t.Errorf("events stored = %d, %v; want 1", n, err)
			}
			want := campaigns.Stats{Fired: 1, Sent: 1, CouponsIssued: 1}
			if st := r.mustStats(t, "welcome"); st != want {
				t.Errorf("stats = %+v, want %+v", st, want)
			}
			cps := r.couponsOf(t, "o-alice")
			msgs := r.messagesOf(t, "o-alice")
			sends := r.sim.Templates(testAppID)
			if len(cps) != 1 || len(msgs) != 1 || len(sends) != 1 {
				t.Fatalf("%d coupons, %d messages, %d template sends; want one of each\ncoupons %+v\nmessages %s\nsends %+v",
					len(cps), len(msgs), len(sends), cps, msgsText(msgs), sends)
			}
			if msgs[0].State != outbox.MsgSent || sends[0].ClientMsgID != msgs[0].ID {
				t.Errorf("message %s, send %+v: want sent, with client_msg_id = message id", msgText(msgs[0]), sends[0])
			}
			checkDeepLink(t, sends[0].MiniProgram.PagePath, cps[0].Code, msgs[0].ID)
			if n := r.sim.CallCount(templateSend); n != 1 {
				t.Errorf("template/send calls = %d, want 1", n)
			}
			if done, pending, failed := outboxCounts(t, r.db); done != 2 || pending != 0 || failed != 0 {
				t.Errorf("outbox %d done, %d pending, %d failed; want 2 (user/info, template), 0, 0", done, pending, failed)
			}
		})
	}
}

// TestPoolStockUnderConcurrentFollows has 200 people follow at once while
// the welcome pool holds 50 coupons: exactly 50 are issued, with unique
// codes, and the pool's count stops at its stock; the 50 holders get their
// coupon's template message, and the other 150 messages (their template
// needs .Coupon) are recorded failed for want of stock, never sent.
func TestPoolStockUnderConcurrentFollows(t *testing.T) {
	t.Parallel()
	const followers, stock = 200, 50
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			r := startCampaigns(t, d.URL, welcomeSet(stock, 0))
			var msgs []wechatsim.Message
			for i := range followers {
				msgs = append(msgs, r.follow(fmt.Sprintf("o-f%03d", i)))
			}
			for i, got := range pushAll(t, r.sim, msgs) {
				if got != welcomeReply {
					t.Errorf("answer to %s = %q, want %q", msgs[i].FromUserName, got, welcomeReply)
				}
			}
			r.waitIdle(t, 60*time.Second)
			ctx := context.Background()

			if st, issued, err := r.db.PoolCounts(ctx, "welcome-10"); err != nil || st != stock || issued != stock {
				t.Errorf("pool welcome-10: stock %d, issued %d, %v; want %d, %d", st, issued, err, stock, stock)
			}
			codeOf := map[string]string{} // openid -> coupon code
			codes := map[string]string{}  // code -> openid
			for _, m := range msgs {
				cps := r.couponsOf(t, m.FromUserName)
				if len(cps) > 1 {
					t.Errorf("%s holds %d coupons, want at most 1", m.FromUserName, len(cps))
				}
				for _, c := range cps {
					if other, ok := codes[c.Code]; ok {
						t.Errorf("code %s issued to both %s and %s", c.Code, other, m.FromUserName)
					}
					codes[c.Code], codeOf[m.FromUserName] = m.FromUserName, c.Code
				}
			}
			if len(codes) != stock {
				t.Errorf("%d distinct coupon codes issued, want %d", len(codes), stock)
			}

			rows := r.messagesOf(t, "")
			if len(rows) != followers {
				t.Fatalf("%d welcome messages stored, want %d", len(rows), followers)
			}
			byID := map[string]outbox.MessageRow{}
			for _, m := range rows {
				byID[m.ID] = m
				_, holder := codeOf[m.OpenID]
				switch {
				case holder && m.State != outbox.MsgSent:
					t.Errorf("message to coupon holder %s = %s (%s), want sent", m.OpenID, m.State, m.Reason)
				case !holder && (m.State != outbox.MsgFailed || !strings.Contains(m.Reason, "out of stock")):
					t.Errorf("message to %s (no coupon) = %s, reason %q; want failed, out of stock", m.OpenID, m.State, m.Reason)
				}
			}
			sends := r.sim.Templates(testAppID)
			if len(sends) != stock {
				t.Errorf("template sends seen by WeChat = %d, want %d", len(sends), stock)
			}
			seen := map[string]bool{}
			for _, s := range sends {
				m, ok := byID[s.ClientMsgID]
				if !ok || m.OpenID != s.ToUser || seen[s.ToUser] {
					t.Errorf("template send to %s with client_msg_id %q: no such message, or a second send", s.ToUser, s.ClientMsgID)
					continue
				}
				seen[s.ToUser] = true
				checkDeepLink(t, s.MiniProgram.PagePath, codeOf[s.ToUser], m.ID)
			}
			want := campaigns.Stats{Fired: followers, Sent: stock, Failed: followers - stock, CouponsIssued: stock}
			if st := r.mustStats(t, "welcome"); st != want {
				t.Errorf("stats = %+v, want %+v", st, want)
			}
		})
	}
}

// retryWindow is long enough for a wrongly retried send to show: the
// worker's first retry comes 5 s after a failure (worker.retryDelay) and
// asynq looks for due retries every second.
const retryWindow = 7 * time.Second

// TestTemplateSendErrors drives the worker's error classes (DESIGN.md §6)
// through the real WeChat client: an expired token is refreshed and the
// call made again at once, a failing WeChat is retried later, and a
// follower WeChat refuses to message is tried once and recorded failed.
func TestTemplateSendErrors(t *testing.T) {
	t.Parallel()
	t.Run("expired token then busy then success", func(t *testing.T) {
		t.Parallel()
		r := startCampaigns(t, testenv.SQLiteURL(t), welcomeSet(100, 0))
		r.sim.Inject(templateSend, 40001, 1) // the token is refreshed and the send made again at once,
		r.sim.Inject(templateSend, -1, 1)    // which fails: retried with backoff,
		push(t, r.sim, r.follow("o-alice"))  // and the third call goes through.

		msg := r.settledWelcome(t, "o-alice", 20*time.Second, "the welcome message sent after the retry")
		if msg.State != outbox.MsgSent {
			t.Fatalf("message = %s, want sent", msgText(msg))
		}
		if sends := r.sim.Templates(testAppID); len(sends) != 1 || sends[0].ClientMsgID != msg.ID {
			t.Fatalf("template sends seen by WeChat = %+v, want one with client_msg_id %s", sends, msg.ID)
		}
		calls := r.sim.Calls(templateSend)
		var got []int
		for _, c := range calls {
			got = append(got, c.Errcode)
			var body struct {
				ClientMsgID string `json:"client_msg_id"`
			}
			if err := json.Unmarshal(c.Body, &body); err != nil || body.ClientMsgID != msg.ID {
				t.Errorf("template/send call with client_msg_id %q (%v), want %s", body.ClientMsgID, err, msg.ID)
			}
		}
		if want := []int{40001, -1, 0}; !slices.Equal(got, want) {
			t.Fatalf("template/send calls answered %v, want %v", got, want)
		}
		if calls[0].Query.Get("access_token") == calls[1].Query.Get("access_token") {
			t.Errorf("the send after 40001 used the same access token; want a refreshed one")
		}
		it, err := r.db.OutboxItem(context.Background(), msg.ID)
		if err != nil || it.State != outbox.Done {
			t.Errorf("outbox item of the message = %s, %v; want done", itemText(it), err)
		}
	})

	t.Run("follower refused", func(t *testing.T) {
		t.Parallel()
		r := startCampaigns(t, testenv.SQLiteURL(t), welcomeSet(100, 0))
		r.sim.Inject(templateSend, 43004, 1)
		push(t, r.sim, r.follow("o-alice"))

		msg := r.settledWelcome(t, "o-alice", 15*time.Second, "the welcome message failed")
		if msg.State != outbox.MsgFailed || msg.Errcode != 43004 || msg.Reason == "" {
			t.Fatalf("message = %s, want failed with errcode 43004 and a reason", msgText(msg))
		}
		it, err := r.db.OutboxItem(context.Background(), msg.ID)
		if err != nil || it.State != outbox.Failed {
			t.Fatalf("outbox item of the message = %s, %v; want failed", itemText(it), err)
		}
		time.Sleep(retryWindow) // a retry, if one were scheduled, would have run by now
		if n := r.sim.CallCount(templateSend); n != 1 {
			t.Errorf("template/send calls = %d, want 1 (no retry after 43004)", n)
		}
		if sends := r.sim.Templates(testAppID); len(sends) != 0 {
			t.Errorf("template sends seen by WeChat = %+v, want none", sends)
		}
		if st := r.mustStats(t, "welcome"); st.Failed != 1 || st.Sent != 0 {
			t.Errorf("stats = %+v, want failed 1, sent 0", st)
		}
	})
}

// TestRedisOutageLosesNothing stops Redis under a running omo: follows are
// still acked (the webhook commits to the database; the enqueue fails and
// the sends wait in the outbox), and once Redis is back the relay's sweep
// re-enqueues them, so every welcome message is sent, once.
//
// The relay's periodic sweep takes only items older than its SweepAge (30 s
// in `omo serve`), leaving alone what Enqueue is still handing over; here
// omo is started as runServe does but with a relay that sweeps every 200 ms
// for items older than 1 s, which makes the test 25 s shorter.
func TestRedisOutageLosesNothing(t *testing.T) {
	t.Parallel()
	r := startCampaignsWith(t, testenv.SQLiteURL(t), welcomeSet(100, 0), func(rl *worker.Relay) {
		rl.SweepEvery, rl.SweepAge = 200*time.Millisecond, time.Second
	})
	r.rds.Stop()
	var people []string
	for i := range 5 {
		openid := fmt.Sprintf("o-r%d", i)
		people = append(people, openid)
		if got := push(t, r.sim, r.follow(openid)); got != welcomeReply {
			t.Errorf("reply to %s while Redis is down = %q, want %q", openid, got, welcomeReply)
		}
	}
	if done, pending, _ := outboxCounts(t, r.db); done != 0 || pending != 10 {
		t.Errorf("outbox while Redis is down: %d done, %d pending; want 0, 10 (user/info and template per follow)", done, pending)
	}
	// Redis stays down until the relay has given up on every item, so that
	// they can only reach the queue through the sweep.
	waitFor(t, 30*time.Second, "the relay giving up on the 10 items", func() (bool, error) {
		return len(r.omo.logs.items("enqueue failed; the item waits in the outbox")) == 10, nil
	})
	if n := r.sim.CallCount(templateSend); n != 0 {
		t.Errorf("template/send calls while Redis is down = %d, want 0", n)
	}
	back := time.Now()
	r.rds.Start()

	waitFor(t, 60*time.Second, "all 5 welcome messages sent after Redis came back", func() (bool, error) {
		msgs, err := r.db.MessagesOf(context.Background(), "welcome", "")
		if err != nil {
			return false, err
		}
		n := 0
		for _, m := range msgs {
			if m.State == outbox.MsgSent {
				n++
			}
		}
		return n == len(people), nil
	})
	t.Logf("sent %v after Redis came back", time.Since(back).Round(100*time.Millisecond))
	r.waitIdle(t, 30*time.Second)
	sends := r.sim.Templates(testAppID)
	var to []string
	for _, s := range sends {
		to = append(to, s.ToUser)
	}
	slices.Sort(to)
	if !slices.Equal(to, people) {
		t.Errorf("template sends went to %v, want one each to %v", to, people)
	}
	if n := r.sim.CallCount(templateSend); n != len(people) {
		t.Errorf("template/send calls = %d, want %d", n, len(people))
	}
	if done, pending, failed := outboxCounts(t, r.db); done != 10 || pending != 0 || failed != 0 {
		t.Errorf("outbox %d done, %d pending, %d failed; want 10, 0, 0", done, pending, failed)
	}
}

// items returns the distinct "item" attributes of omo's log records whose
// message is msg.
func (w *logWriter) items(msg string) []string {
	var out []string
	for _, line := range strings.Split(w.String(), "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Item string `json:"item"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg && !slices.Contains(out, rec.Item) {
			out = append(out, rec.Item)
		}
	}
	return out
}

// msgText describes a message row for a failure message (its payload is
// JSON bytes, unreadable with %+v).
func msgText(m outbox.MessageRow) string {
	return fmt.Sprintf("{%s %s of %s to %s: %s errcode %d reason %q}", m.ID, m.Kind, m.CampaignID, m.OpenID, m.State, m.Errcode, m.Reason)
}

func msgsText(ms []outbox.MessageRow) string {
	var out []string
	for _, m := range ms {
		out = append(out, msgText(m))
	}
	return "[" + strings.Join(out, " ") + "]"
}

// itemText describes an outbox item (nil when it could not be read).
func itemText(it *outbox.Item) string {
	if it == nil {
		return "<none>"
	}
	return fmt.Sprintf("{%s %s: %s attempts %d last error %q}", it.ID, it.Kind, it.State, it.Attempts, it.LastError)
}
