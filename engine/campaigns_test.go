package engine_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// load makes the campaign file src (YAML, any number of documents) the
// engine's running set.
func (e *env) load(t *testing.T, src string) *campaigns.Set {
	t.Helper()
	files := []campaigns.File{{Name: "test.yaml", Data: []byte(src)}}
	set, err := campaigns.Load(files)
	if err != nil {
		t.Fatalf("campaigns.Load:\n%v", err)
	}
	if err := e.eng.SetCampaigns(t.Context(), set, files); err != nil {
		t.Fatalf("SetCampaigns: %v", err)
	}
	return set
}

func text(openid string, at time.Time, content string, msgid int64) *events.Event {
	return &events.Event{Type: events.Text, IsMessage: true, ToUser: "gh_x", OpenID: openid, CreatedAt: at, MsgID: msgid, Content: content}
}

func click(openid string, at time.Time, key string) *events.Event {
	return &events.Event{Type: events.Click, ToUser: "gh_x", OpenID: openid, CreatedAt: at, EventKey: key}
}

func jobFinish(openid string, at time.Time, msgid int64, status string) *events.Event {
	return &events.Event{Type: events.TemplateSendJobFinish, ToUser: "gh_x", OpenID: openid, CreatedAt: at, MsgID: msgid, Status: status}
}

// messages returns the messages of campaign to openid ("" = all).
func (e *env) messages(t *testing.T, campaign, openid string) []outbox.MessageRow {
	t.Helper()
	ms, err := e.db.MessagesOf(t.Context(), campaign, openid)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// only returns the one message of campaign to openid.
func (e *env) only(t *testing.T, campaign, openid string) outbox.MessageRow {
	t.Helper()
	ms := e.messages(t, campaign, openid)
	if len(ms) != 1 {
		t.Fatalf("messages of %s to %s = %d, want 1", campaign, openid, len(ms))
	}
	return ms[0]
}

func (e *env) stats(t *testing.T, id string) campaigns.Stats {
	t.Helper()
	st, err := e.eng.CampaignStats(t.Context(), id)
	if err != nil {
		t.Fatalf("CampaignStats(%s): %v", id, err)
	}
	return st
}

func payload(t *testing.T, m outbox.MessageRow) outbox.Message {
	t.Helper()
	var p outbox.Message
	if err := json.Unmarshal(m.Payload, &p); err != nil {
		t.Fatalf("message %s payload %q: %v", m.ID, m.Payload, err)
	}
	return p
}

// enqueued reports whether the engine handed the item with id to the queue.
func (e *env) enqueued(id string) bool {
	for _, x := range e.queue.ids() {
		if x == id {
			return true
		}
	}
	return false
}

const keywordCampaigns = `
kind: Campaign
id: kw-exact
on: {event: keyword, text: coupon}
do: [{reply: {text: exact}}]
---
kind: Campaign
id: kw-contains
on: {event: keyword, text: "opening hours", match: contains}
do: [{reply: {text: contains}}]
---
kind: Campaign
id: kw-regex
on: {event: keyword, text: '^order\s*#?\d{4,}$', match: regex}
do: [{reply: {text: regex}}]
---
kind: Campaign
id: kw-chinese
on: {event: keyword, text: 优惠券, match: contains}
do: [{reply: {text: 中文}}]
`

func TestKeywordCampaigns(t *testing.T) {
	t.Parallel()
	tests := []struct {
		content string
		want    string // the passive reply; "" = no campaign fired
	}{
		{"coupon", "exact"},
		{"  COUPON \n", "exact"},
		{"Coupon", "exact"},
		{"coupons", ""},
		{"my coupon", ""},
		{"What are your Opening Hours?", "contains"},
		{"opening  hours", ""},
		{"order #12345", "regex"},
		{"ORDER 1234", "regex"},
		{" order1234 ", "regex"},
		{"order 123", ""},
		{"reorder 1234", ""},
		{"我的优惠券在哪里", "中文"},
		{"", ""},
	}
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, keywordCampaigns)
		fired := map[string]int{}
		for i, tt := range tests {
			openid := fmt.Sprintf("o-kw-%d", i)
			res := e.handle(t, text(openid, t0, tt.content, int64(1000+i)))
			if res.Reply != tt.want {
				t.Errorf("text %q: reply %q, want %q", tt.content, res.Reply, tt.want)
			}
			if tt.want != "" {
				fired[tt.want]++
			}
		}
		// Not a text message: a menu click with the keyword as its key.
		if res := e.handle(t, click("o-kw-click", t0, "coupon")); res.Reply != "" {
			t.Errorf("click with key coupon: reply %q, want none", res.Reply)
		}
		for id, reply := range map[string]string{"kw-exact": "exact", "kw-contains": "contains", "kw-regex": "regex", "kw-chinese": "中文"} {
			if got := e.stats(t, id).Fired; got != fired[reply] {
				t.Errorf("%s fired %d times, want %d", id, got, fired[reply])
			}
		}
	})
}

func TestMenuClickSendsTemplate(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, `
kind: Campaign
id: menu-coupons
on: {event: menu_click, key: MY_COUPONS}
do:
  - send_template:
      template_id: TPL_LIST
      page: pages/coupon/list
      data: {thing1: "Your coupons"}
`)
		e.handle(t, click("o-other", t0, "OTHER_KEY"))
		e.handle(t, &events.Event{Type: events.View, OpenID: "o-view", CreatedAt: t0, EventKey: "MY_COUPONS"})
		if ms := e.messages(t, "", ""); len(ms) != 0 {
			t.Fatalf("other keys and events made %d messages, want 0", len(ms))
		}

		e.handle(t, click("o-menu", t0, "MY_COUPONS"))
		m := e.only(t, "menu-coupons", "o-menu")
		if m.State != outbox.MsgPending || m.Kind != outbox.SendTemplate {
			t.Errorf("message = %s %s, want pending send:template", m.State, m.Kind)
		}
		p := payload(t, m)
		want := "pages/coupon/list?omo_c=menu-coupons&omo_m=" + m.ID
		if p.ToUser != "o-menu" || p.TemplateID != "TPL_LIST" || p.Page != want || p.Data["thing1"] != "Your coupons" {
			t.Errorf("payload = %+v, want to o-menu, TPL_LIST, page %s, thing1 Your coupons", p, want)
		}
		it, err := e.db.OutboxItem(t.Context(), m.ID)
		if err != nil {
			t.Fatalf("outbox item of the message: %v", err)
		}
		if it.Kind != outbox.SendTemplate || it.State != outbox.Pending || !it.RunAt.Equal(e.now) {
			t.Errorf("outbox item = %s %s at %s, want pending send:template at %s", it.Kind, it.State, it.RunAt, e.now)
		}
		if !e.enqueued(m.ID) {
			t.Errorf("the message's item was not handed to the queue")
		}
	})
}

func TestAudienceTagsNone(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, `
kind: Campaign
id: join-staff
on: {event: menu_click, key: STAFF_JOIN}
do:
  - tag: staff
  - reply: {text: "welcome, colleague"}
---
kind: Campaign
id: leave-staff
on: {event: menu_click, key: STAFF_LEAVE}
do:
  - untag: {name: staff}
---
kind: Campaign
id: promo
on: {event: keyword, text: hello}
when: {tags_none: [staff]}
do: [{reply: {text: "hello, customer"}}]
`)
		steps := []struct {
			ev   *events.Event
			want string
		}{
			{text("o1", t0, "hello", 1), "hello, customer"},
			{click("o1", t0.Add(time.Minute), "STAFF_JOIN"), "welcome, colleague"},
			{text("o1", t0.Add(2*time.Minute), "hello", 2), ""},
			{text("o2", t0.Add(2*time.Minute), "hello", 3), "hello, customer"}, // someone else
			{click("o1", t0.Add(3*time.Minute), "STAFF_LEAVE"), ""},
			{text("o1", t0.Add(4*time.Minute), "hello", 4), "hello, customer"},
		}
		for i, st := range steps {
			if res := e.handle(t, st.ev); res.Reply != st.want {
				t.Errorf("step %d (%s %s%s): reply %q, want %q", i, st.ev.OpenID, st.ev.Type, st.ev.Content+st.ev.EventKey, res.Reply, st.want)
			}
		}
		// The tag actions also go to WeChat.
		items, err := e.db.PendingOutbox(t.Context(), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var tags []outbox.TagPayload
		for _, it := range items {
			if it.Kind == outbox.Tag {
				var p outbox.TagPayload
				if err := json.Unmarshal(it.Payload, &p); err != nil {
					t.Fatal(err)
				}
				tags = append(tags, p)
			}
		}
		want := []outbox.TagPayload{{OpenID: "o1", Tag: "staff", On: true}, {OpenID: "o1", Tag: "staff", On: false}}
		if fmt.Sprint(tags) != fmt.Sprint(want) {
			t.Errorf("tag items = %+v, want %+v", tags, want)
		}
	})
}

func TestPerFollowerAndCooldown(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, `
kind: Campaign
id: twice
on: {event: keyword, text: hi}
limits: {per_follower: 2, cooldown: 1h}
do: [{reply: {text: hello}}]
`)
		steps := []struct {
			openid string
			at     time.Duration // the engine's clock, after t0
			want   bool
		}{
			{"o1", 0, true},
			{"o1", 30 * time.Minute, false},                // cooldown
			{"o2", 30 * time.Minute, true},                 // another follower is not held back
			{"o1", 59*time.Minute + 59*time.Second, false}, // a second short
			{"o1", time.Hour, true},                        // cooldown over
			{"o1", 3 * time.Hour, false},                   // per_follower: 2
			{"o1", 100 * time.Hour, false},
			{"o2", 2 * time.Hour, true},
			{"o2", 5 * time.Hour, false},
		}
		for i, st := range steps {
			e.now = t0.Add(st.at)
			res := e.handle(t, text(st.openid, e.now, "hi", int64(i+1)))
			if got := res.Reply != ""; got != st.want {
				t.Errorf("step %d: %s at +%s fired = %v, want %v", i, st.openid, st.at, got, st.want)
			}
		}
		if got := e.stats(t, "twice").Fired; got != 4 {
			t.Errorf("fired = %d, want 4", got)
		}
	})
}

func TestBudget(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, `
kind: Campaign
id: first-five
on: {event: subscribe}
limits: {budget: 5}
do: [{reply: {text: "you are one of the first five"}}]
`)
		const followers = 10
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			replies int
		)
		for i := range followers {
			wg.Go(func() {
				res, err := e.eng.Handle(t.Context(), subscribe(fmt.Sprintf("o-%02d", i), t0, ""), nil)
				if err != nil {
					t.Errorf("Handle: %v", err)
					return
				}
				if res.Reply != "" {
					mu.Lock()
					replies++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if replies != 5 {
			t.Errorf("replies = %d, want 5", replies)
		}
		if got := e.stats(t, "first-five").Fired; got != 5 {
			t.Errorf("fired = %d, want 5", got)
		}
		// Later followers find the budget spent too.
		if res := e.handle(t, subscribe("o-late", t0.Add(time.Hour), "")); res.Reply != "" {
			t.Errorf("a follower after the budget got %q", res.Reply)
		}
	})
}

// TestQuietHours: a send that falls in the campaign's quiet hours, in the
// campaign's time zone, is delayed to their end, never dropped.
func TestQuietHours(t *testing.T) {
	t.Parallel()
	const src = `
kind: Campaign
id: quiet-shanghai
on: {event: menu_click, key: SH}
limits: {quiet_hours: "22:00-08:00"}
do:
  - send_template: {template_id: TPL, page: pages/index/index}
    delay: 5s
---
kind: Campaign
id: quiet-berlin
timezone: Europe/Berlin
on: {event: menu_click, key: BERLIN}
limits: {quiet_hours: "12:00-14:00"}
do:
  - send_template: {template_id: TPL, page: pages/index/index}
`
	utc := func(d, h, m, s int) time.Time { return time.Date(2026, 12, d, h, m, s, 0, time.UTC) }
	tests := []struct {
		name string
		key  string
		now  time.Time
		want time.Time
	}{
		{"23:30 in Shanghai: tomorrow 08:00", "SH", utc(1, 15, 30, 0), utc(2, 0, 0, 0)},
		{"07:00 in Shanghai: today 08:00", "SH", utc(1, 23, 0, 0), utc(2, 0, 0, 0)},
		{"12:00 in Shanghai: after the delay", "SH", utc(1, 4, 0, 0), utc(1, 4, 0, 5)},
		{"08:00 in Shanghai: quiet hours just ended", "SH", utc(1, 0, 0, 0), utc(1, 0, 0, 5)},
		{"the delay reaches 22:00 in Shanghai", "SH", utc(1, 13, 59, 58), utc(2, 0, 0, 0)},
		{"12:30 in Berlin: 14:00 Berlin", "BERLIN", utc(1, 11, 30, 0), utc(1, 13, 0, 0)},
		{"12:30 in Shanghai is 05:30 in Berlin: now", "BERLIN", utc(1, 4, 30, 0), utc(1, 4, 30, 0)},
	}
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, src)
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				openid := fmt.Sprintf("o-quiet-%d", i)
				e.now = tt.now
				e.handle(t, click(openid, tt.now, tt.key))
				ms := e.messages(t, "", openid)
				if len(ms) != 1 || ms[0].State != outbox.MsgPending {
					t.Fatalf("messages = %+v, want one pending", ms)
				}
				it, err := e.db.OutboxItem(t.Context(), ms[0].ID)
				if err != nil {
					t.Fatalf("outbox item: %v", err)
				}
				if !it.RunAt.Equal(tt.want) {
					t.Errorf("run_at = %s, want %s", it.RunAt.UTC(), tt.want)
				}
			})
		}
	})
}

// TestRenderFailure: a message that cannot be rendered when the campaign
// fires is stored failed with the reason, and nothing goes to the queue.
func TestRenderFailure(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, `
kind: CouponPool
id: tiny
title: Last one
discount: {amount_fen: 500}
stock: 2
per_follower: 1
valid_for: 24h
---
kind: Campaign
id: welcome
on: {event: subscribe}
do:
  - reply: {text: "welcome"}
  - issue_coupon: {pool: tiny}
  - send_template:
      template_id: TPL
      page: pages/coupon/detail
      query: {code: "{{.Coupon.Code}}"}
      data: {thing1: "{{.Coupon.Title}}"}
---
kind: Campaign
id: scene-letter
on: {event: menu_click, key: LETTER}
do:
  - send_template:
      template_id: TPL
      page: pages/index/index
      data: {thing1: "{{index .Follower.FirstScene 6}}"}
`)
		tests := []struct {
			name, openid string
			ev           *events.Event
			campaign     string
			wantReason   string // "" = pending and queued
		}{
			{"coupon issued", "o1", subscribe("o1", t0, ""), "welcome", ""},
			{"the last coupon", "o2", subscribe("o2", t0, ""), "welcome", ""},
			{"pool empty", "o3", subscribe("o3", t0, ""), "welcome", "no coupon to send: pool tiny is out of stock"},
			{"refollow: holds one already", "o1", subscribe("o1", t0.Add(time.Hour), ""), "welcome", "no coupon to send: follower already holds 1 coupon(s) of pool tiny"},
			{"field fails at run time", "o4", click("o4", t0, "LETTER"), "scene-letter", "render: data.thing1: "},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := len(e.queue.ids())
				e.handle(t, tt.ev)
				ms := e.messages(t, tt.campaign, tt.openid)
				m := ms[len(ms)-1]
				_, err := e.db.OutboxItem(t.Context(), m.ID)
				if tt.wantReason == "" {
					if m.State != outbox.MsgPending || err != nil || !e.enqueued(m.ID) {
						t.Errorf("message = %s (%s), outbox item err %v; want pending and queued", m.State, m.Reason, err)
					}
					return
				}
				if m.State != outbox.MsgFailed || !strings.HasPrefix(m.Reason, tt.wantReason) {
					t.Errorf("message = %s, reason %q; want failed, %q", m.State, m.Reason, tt.wantReason)
				}
				if !errs.Is(err, errs.NotFound) {
					t.Errorf("outbox item of the failed message: err %v, want NotFound", err)
				}
				for _, id := range e.queue.ids()[before:] {
					if id == m.ID {
						t.Errorf("the failed message was queued")
					}
				}
			})
		}
		if st := e.stats(t, "welcome"); st.Failed != 2 || st.CouponsIssued != 2 || st.Fired != 4 {
			t.Errorf("stats = %+v, want fired 4, failed 2, coupons_issued 2", st)
		}
	})
}

// TestTemplateFieldTruncated: a rendered template field over 20
// characters is cut to 20 (characters, not bytes), with a warning.
func TestTemplateFieldTruncated(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, `
kind: CouponPool
id: weekend
title: 周末全场满两百减五十元优惠券
discount: {amount_fen: 5000, min_spend_fen: 20000}
stock: 100
valid_for: 72h
---
kind: Campaign
id: long-field
on: {event: subscribe}
do:
  - issue_coupon: {pool: weekend}
  - send_template:
      template_id: TPL
      page: pages/coupon/detail
      data:
        thing1: "{{.Coupon.Title}}，欢迎再次光临本店"
        thing2: "{{.Coupon.Pool}}"
        thing3: "{{.Follower.OpenID}} {{.Follower.OpenID}} {{.Follower.OpenID}}"
`)
		e.handle(t, subscribe("o-long", t0, ""))
		m := e.only(t, "long-field", "o-long")
		p := payload(t, m)
		want := map[string]string{
			"thing1": "周末全场满两百减五十元优惠券，欢迎再次光",
			"thing2": "weekend",
			"thing3": "o-long o-long o-long",
		}
		if fmt.Sprint(p.Data) != fmt.Sprint(want) {
			t.Errorf("data = %v, want %v", p.Data, want)
		}
		if m.Warnings != "data.thing1 cut to 20 characters" {
			t.Errorf("warnings = %q, want %q", m.Warnings, "data.thing1 cut to 20 characters")
		}
		if m.State != outbox.MsgPending {
			t.Errorf("state = %s, want pending (a cut field is sent)", m.State)
		}
	})
}

// TestDeepLinkQuery: query values are URL-encoded, in file order, and
// omo_c (campaign) and omo_m (message) come last.
func TestDeepLinkQuery(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, `
kind: CouponPool
id: tea
title: Tea & cake
discount: {percent: 15}
stock: 100
valid_for: 24h
---
kind: Campaign
id: tea-time
on: {event: subscribe}
do:
  - issue_coupon: {pool: tea}
  - send_template:
      template_id: TPL
      page: pages/shop/index
      query:
        q: "tea & cake 下午茶"
        code: "{{.Coupon.Code}}"
        next: "/pages/a?b=c#d"
`)
		e.handle(t, subscribe("o-tea", t0, ""))
		m := e.only(t, "tea-time", "o-tea")
		page := payload(t, m).Page
		path, raw, ok := strings.Cut(page, "?")
		if !ok || path != "pages/shop/index" {
			t.Fatalf("page = %q, want pages/shop/index?...", page)
		}
		var keys []string
		for _, kv := range strings.Split(raw, "&") {
			k, _, _ := strings.Cut(kv, "=")
			keys = append(keys, k)
		}
		if got, want := strings.Join(keys, ","), "q,code,next,omo_c,omo_m"; got != want {
			t.Errorf("query keys = %s, want %s (raw %q)", got, want, raw)
		}
		for _, r := range raw {
			if r <= ' ' || r > '~' || r == '#' || r == '?' {
				t.Errorf("raw query %q holds %q: want it URL-encoded", raw, r)
				break
			}
		}
		q, err := url.ParseQuery(raw)
		if err != nil {
			t.Fatalf("query %q: %v", raw, err)
		}
		cps, err := e.db.CouponsOf(t.Context(), "o-tea")
		if err != nil || len(cps) != 1 {
			t.Fatalf("coupons = %v, %v; want 1", cps, err)
		}
		want := url.Values{"q": {"tea & cake 下午茶"}, "code": {cps[0].Code}, "next": {"/pages/a?b=c#d"}, "omo_c": {"tea-time"}, "omo_m": {m.ID}}
		if fmt.Sprint(q) != fmt.Sprint(want) {
			t.Errorf("query = %v, want %v", q, want)
		}
	})
}

// TestTemplateSendJobFinish: WeChat's report on a template send marks the
// message delivered, or failed with WeChat's status.
func TestTemplateSendJobFinish(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, `
kind: Campaign
id: news
on: {event: menu_click, key: NEWS}
do:
  - send_template: {template_id: TPL, page: pages/index/index}
`)
		msgids := map[string]int64{"o-ok": 2001, "o-block": 2002, "o-sys": 2003}
		for openid, msgid := range msgids {
			e.handle(t, click(openid, t0, "NEWS"))
			m := e.only(t, "news", openid)
			if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
				return tx.MarkSent(m.ID, msgid, outbox.SendTemplate, "", t0)
			}); err != nil {
				t.Fatal(err)
			}
		}
		e.now = t0.Add(3 * time.Second)
		at := t0.Add(2 * time.Second) // every report in the same second
		e.handle(t, jobFinish("o-ok", at, 2001, "success"))
		e.handle(t, jobFinish("o-block", at, 2002, "failed:user block"))
		e.handle(t, jobFinish("o-sys", at, 2003, "failed: system failed"))
		e.handle(t, jobFinish("o-ok", at, 9999, "success"))    // a msgid omo never sent
		e.handle(t, jobFinish("o-block", at, 2001, "success")) // someone else's msgid
		if res := e.handle(t, jobFinish("o-ok", at, 2001, "success")); !res.Duplicate {
			t.Errorf("a repeated report was not taken for a duplicate")
		}
		ok := e.only(t, "news", "o-ok")
		if ok.State != outbox.MsgDelivered || ok.DeliveredAt == nil || !ok.DeliveredAt.Equal(e.now) {
			t.Errorf("o-ok message = %s, delivered_at %v; want delivered at %s", ok.State, ok.DeliveredAt, e.now)
		}
		for openid, reason := range map[string]string{"o-block": "WeChat: failed:user block", "o-sys": "WeChat: failed: system failed"} {
			m := e.only(t, "news", openid)
			if m.State != outbox.MsgFailed || m.Reason != reason || m.DeliveredAt != nil {
				t.Errorf("%s message = %s, reason %q, delivered_at %v; want failed, %q", openid, m.State, m.Reason, m.DeliveredAt, reason)
			}
		}
		if st := e.stats(t, "news"); st.Sent != 3 || st.Delivered != 1 || st.Failed != 2 {
			t.Errorf("stats = %+v, want sent 3, delivered 1, failed 2", st)
		}
		if ms := e.messages(t, "", ""); len(ms) != 3 {
			t.Errorf("messages = %d, want 3 (reports make none)", len(ms))
		}

		// A report that beats omo's own record of the send is applied when
		// the send is recorded.
		e.handle(t, click("o-early", t0, "NEWS"))
		early := e.only(t, "news", "o-early")
		e.handle(t, jobFinish("o-early", at, 2004, "success"))
		if m := e.only(t, "news", "o-early"); m.State != outbox.MsgPending {
			t.Errorf("message reported before it was recorded sent = %s, want still pending", m.State)
		}
		if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
			return tx.MarkSent(early.ID, 2004, outbox.SendTemplate, "", e.now)
		}); err != nil {
			t.Fatal(err)
		}
		if m := e.only(t, "news", "o-early"); m.State != outbox.MsgDelivered || m.SentAt == nil {
			t.Errorf("message after MarkSent = %s, sent_at %v; want delivered and sent", m.State, m.SentAt)
		}
	})
}
