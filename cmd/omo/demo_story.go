package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/config"
	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/stores"
	"github.com/omohq/omo/wechat/wechatsim"
)

// demoHold is the referral hold in the demo, instead of the example's day.
const demoHold = 3 * time.Second

// demoStoresCSV is the example store catalogue the demo imports.
const demoStoresCSV = "configs/stores.csv"

// loadCampaigns reads the example campaigns of campaigns.dir and makes
// the demo's copy of them, so the story can be watched: no quiet hours, a
// short referral hold, every schedule campaign firing once at at instead
// of its cron, and the coupons of a pool a coupon_expiring campaign
// watches valid for an hour less than its window, so that each coupon is
// in the window as soon as it is issued. The set keeps the files' hash, so
// the campaign watcher sees no change to apply.
func (d *demo) loadCampaigns(at time.Time) error {
	dir := d.cfg.Campaigns.Dir
	set, files, err := loadCampaignDir(dir)
	if err != nil {
		return fmt.Errorf("the demo runs the example campaigns of %s (run it from the repository root): %w", dir, err)
	}
	if len(set.Campaigns) == 0 {
		return fmt.Errorf("the demo runs the example campaigns of %s, and there are none: run it from the repository root", dir)
	}
	slot, err := atTrigger(at)
	if err != nil {
		return err
	}
	d.crons, d.validity = map[string]string{}, map[string]string{}
	for _, c := range set.Campaigns {
		c.Limits.Quiet = nil
		switch c.On.Event {
		case campaigns.OnSchedule:
			d.crons[c.ID] = c.On.Cron
			on := slot
			on.CatchUp, on.MaxLateness = c.On.CatchUp, c.On.MaxLateness
			c.On = on
		case campaigns.OnCouponExpiring:
			if p := set.Pools[c.On.Pool]; p != nil && c.On.Within > time.Hour {
				d.validity[p.ID] = ", not until " + p.ValidUntil.Format(time.RFC3339)
				if p.ValidFor > 0 {
					d.validity[p.ID] = ", not " + fmtHours(p.ValidFor)
				}
				p.ValidFor, p.ValidUntil = c.On.Within-time.Hour, time.Time{}
			}
		}
	}
	for _, p := range set.Referrals {
		p.Hold = demoHold
	}
	d.set, d.files = set, files
	return nil
}

// atTrigger is a schedule trigger firing once at at, as `on: {event:
// schedule, at: ...}` reads.
func atTrigger(at time.Time) (campaigns.Trigger, error) {
	src := fmt.Sprintf("kind: Campaign\nid: demo-slot\non: {event: schedule, at: %s}\ndo: [{tag: demo}]\n", at.Format(time.RFC3339))
	set, err := campaigns.Load([]campaigns.File{{Name: "demo-slot.yaml", Data: []byte(src)}})
	if err != nil {
		return campaigns.Trigger{}, err
	}
	return set.Campaigns[0].On, nil
}

type demo struct {
	ctx   context.Context
	out   io.Writer
	sim   *wechatsim.Sim
	cfg   config.Config
	log   *slog.Logger
	set   *campaigns.Set // the demo's copy of the example campaigns
	files []campaigns.File
	crons map[string]string // each schedule campaign's cron, as its file says
	// validity says, per pool the demo shortened, what its file says instead.
	validity map[string]string
	zone     *time.Location // the last chapter's times are shown in it
	// remindedBefore is how many coupon reminders were sent before the crash.
	remindedBefore int
	app            *app // nil while omo is down
	http           *http.Client
	oa             string // the OA's original id
	step           int
	t0             time.Time
}

// say prints a numbered step.
func (d *demo) say(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.out, "%2d. %s\n", d.step, fmt.Sprintf(format, args...))
}

// then prints what came of the last step.
func (d *demo) then(format string, args ...any) {
	fmt.Fprintf(d.out, "    -> %s\n", fmt.Sprintf(format, args...))
}

func (d *demo) at(sec int) time.Time { return d.t0.Add(time.Duration(sec) * time.Second) }

func (d *demo) play() error {
	d.oa = d.sim.OriginalID(demoOAAppID)
	d.t0 = time.Now().Truncate(time.Second)
	for _, p := range []string{"alice", "bob", "dave", "erin", "frank"} {
		d.sim.AddUser(demoOAAppID, wechatsim.Follower{OpenID: "o-" + p, UnionID: "u-" + p})
	}
	acts := []func() error{d.storeQR, d.keywords, d.nearby, d.inviteFriends, d.till, d.report, d.existingFollowers}
	for i, act := range acts {
		if err := act(); err != nil {
			return err
		}
		if i < len(acts)-1 {
			fmt.Fprintln(d.out)
		}
	}
	return nil
}

// push plays a follower's action and prints omo's answer.
func (d *demo) push(m wechatsim.Message) (string, error) {
	rep, err := d.sim.Push(d.ctx, demoOAAppID, m)
	if err != nil {
		return "", err
	}
	d.then("omo answered %d %s", rep.Status, describeReply(rep.Body))
	return string(rep.Body), nil
}

func describeReply(body []byte) string {
	b := strings.TrimSpace(string(body))
	if b == "success" || b == "" {
		return `"success" (no passive reply)`
	}
	if i, j := strings.Index(b, "<Content><![CDATA["), strings.Index(b, "]]></Content>"); i >= 0 && j > i {
		return fmt.Sprintf("with the passive reply %q", b[i+len("<Content><![CDATA["):j])
	}
	return b
}

func (d *demo) storeQR() error {
	fmt.Fprintln(d.out, "A store's QR code")
	follow := wechatsim.Subscribe(d.oa, "o-alice", d.at(0), "store:sh-001")
	d.say("Alice scans the QR code on the counter of store sh-001 and follows")
	first, err := d.push(follow)
	if err != nil {
		return err
	}
	d.say("WeChat did not hear back in time and retries Alice's follow")
	again, err := d.push(follow)
	if err != nil {
		return err
	}
	if first == again {
		d.then("the same answer, and nothing acted twice")
	}
	cps, err := d.app.db.CouponsOf(d.ctx, "o-alice")
	if err != nil || len(cps) != 1 {
		return fmt.Errorf("demo: Alice has %d coupons (%v), want 1", len(cps), err)
	}
	d.then("coupon %s issued from pool %s (%s), valid until %s", coupons.Mask(cps[0].Code), cps[0].Pool, cps[0].Title, cps[0].ExpiresAt.Local().Format("2006-01-02"))
	d.say("the welcome template waits for its 5 s delay, then goes out")
	tpl, err := d.waitTemplate("o-alice", "TPL_COUPON_ISSUED")
	if err != nil {
		return err
	}
	d.then("WeChat got template %s for %s, opening the mini-program at\n       %s", tpl.TemplateID, tpl.ToUser, maskCode(tpl.MiniProgram.PagePath))
	d.then("WeChat reported it delivered (TEMPLATESENDJOBFINISH)")
	d.say("Alice taps the message: the mini-program logs her in and reports the open")
	d.sim.AddLoginCode(demoMPAppID, "code-alice", "m-alice", "u-alice")
	tok, err := d.login("code-alice")
	if err != nil {
		return err
	}
	var tr struct {
		Counted bool `json:"counted"`
	}
	omoC, omoM := queryOf(tpl.MiniProgram.PagePath, "omo_c"), queryOf(tpl.MiniProgram.PagePath, "omo_m")
	if err := d.call("POST", "/mp/v1/track", tok, map[string]string{"omo_c": omoC, "omo_m": omoM, "page": "pages/coupon/detail"}, &tr); err != nil {
		return err
	}
	d.then("open counted for campaign %s: %v", omoC, tr.Counted)
	return nil
}

func (d *demo) keywords() error {
	fmt.Fprintln(d.out, "Keywords and menus")
	d.say("Bob follows from a search (no QR code)")
	if _, err := d.push(wechatsim.Subscribe(d.oa, "o-bob", d.at(1), "")); err != nil {
		return err
	}
	d.say(`Bob sends the keyword "coupon"`)
	if _, err := d.push(wechatsim.Text(d.oa, "o-bob", d.at(2), " Coupon? ", 7001)); err != nil {
		return err
	}
	d.say(`Bob taps the menu item "My coupons"`)
	if _, err := d.push(wechatsim.Click(d.oa, "o-bob", d.at(3), "MY_COUPONS")); err != nil {
		return err
	}
	tpl, err := d.waitTemplate("o-bob", "TPL_COUPON_LIST")
	if err != nil {
		return err
	}
	d.then("WeChat got template %s opening %s", tpl.TemplateID, tpl.MiniProgram.PagePath)
	return nil
}

// nearby loads the example store catalogue and plays a follower sharing
// their location near a store.
func (d *demo) nearby() error {
	fmt.Fprintln(d.out, "The nearest store")
	f, err := os.Open(demoStoresCSV)
	if err != nil {
		return fmt.Errorf("the demo loads %s (run it from the repository root): %w", demoStoresCSV, err)
	}
	defer f.Close()
	list, err := stores.ParseCSV(f, "gcj02")
	if err != nil {
		return err
	}
	if _, err := d.app.db.ImportStores(d.ctx, list, time.Now(), nil); err != nil {
		return err
	}
	if err := d.app.engine.LoadStores(d.ctx); err != nil {
		return err
	}
	d.say("%d stores imported from %s (what `omo stores import` does)", len(list), demoStoresCSV)
	d.say("Bob shares his location, a few hundred metres north of People's Square")
	if _, err := d.push(wechatsim.Location(d.oa, "o-bob", d.at(4), 31.2334, 121.4737, 30)); err != nil {
		return err
	}
	tpl, err := d.waitTemplate("o-bob", "TPL_NEARBY_STORE")
	if err != nil {
		return err
	}
	d.then("WeChat got template %s (%s, %s) opening\n       %s", tpl.TemplateID, tpl.Data["thing1"], tpl.Data["thing2"], tpl.MiniProgram.PagePath)
	d.say("Bob shares his location again an hour later")
	if _, err := d.push(wechatsim.Location(d.oa, "o-bob", d.at(3604), 31.2320, 121.4740, 30)); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(d.ctx, 15*time.Second)
	defer cancel()
	if _, err := d.waitOutbox(ctx, time.Now().Add(10*time.Second)); err != nil {
		return err
	}
	if n := len(d.templates("o-bob", "TPL_NEARBY_STORE")); n != 1 {
		return fmt.Errorf("demo: Bob got %d store promotions, want 1 (cooldown)", n)
	}
	d.then("no second promotion of the same store within a day (cooldown per follower and store)")
	return nil
}

func (d *demo) inviteFriends() error {
	fmt.Fprintln(d.out, "Invite friends")
	tok, err := d.login("code-alice-2")
	if err != nil {
		return err
	}
	var ref struct {
		Code      string `json:"code"`
		SharePath string `json:"share_path"`
		QRTicket  string `json:"qr_ticket"`
	}
	d.say("Alice opens \"Invite friends\" in the mini-program")
	if err := d.call("GET", "/mp/v1/referral", tok, nil, &ref); err != nil {
		return err
	}
	d.then("her code %s, an OA QR code (scene ref:%s) and the share path %s", ref.Code, ref.Code, ref.SharePath)
	for i, friend := range []string{"dave", "erin", "frank"} {
		d.say("%s scans Alice's QR code and follows", strings.ToUpper(friend[:1])+friend[1:])
		if _, err := d.push(wechatsim.Subscribe(d.oa, "o-"+friend, d.at(10+i), "ref:"+ref.Code)); err != nil {
			return err
		}
	}
	d.say("after the hold (%s), still following: the friends qualify", demoHold)
	if err := d.wait(15*time.Second, "the referral rewards", func() (bool, error) {
		return len(d.templates("o-alice", "TPL_REFERRAL_REWARD")) == 1 && len(d.templates("o-frank", "TPL_COUPON_ISSUED")) == 1, nil
	}); err != nil {
		return err
	}
	for _, friend := range []string{"o-dave", "o-erin", "o-frank"} {
		cps, _ := d.app.db.CouponsOf(d.ctx, friend)
		c := couponFrom(cps, "welcome-10")
		d.then("%s got coupon %s (%s) and a message", friend, coupons.Mask(c.Code), c.Title)
	}
	cps, _ := d.app.db.CouponsOf(d.ctx, "o-alice")
	d.then("Alice, on her 3rd friend, got %s and the message %q", couponFrom(cps, "invite-20").Title, d.templates("o-alice", "TPL_REFERRAL_REWARD")[0].Data["thing1"])
	return nil
}

func (d *demo) till() error {
	fmt.Fprintln(d.out, "At the till")
	cps, err := d.app.db.CouponsOf(d.ctx, "o-alice")
	if err != nil {
		return err
	}
	code := ""
	for _, c := range cps {
		if c.Pool == "welcome-10" {
			code = c.Code
		}
	}
	for _, what := range []string{"Staff at sh-001 scan Alice's welcome coupon", "Someone tries the same coupon again"} {
		d.say("%s", what)
		status, err := d.admin("POST", "/admin/v1/coupons/redeem", map[string]string{"code": code, "store_id": "sh-001"}, nil)
		if err != nil {
			return err
		}
		d.then("omo answered %d %s", status, http.StatusText(status))
	}
	return nil
}

// report prints the campaign and referral stats and what omo stored.
func (d *demo) report() error {
	ctx, cancel := context.WithTimeout(d.ctx, 15*time.Second)
	defer cancel()
	if _, err := d.waitOutbox(ctx, time.Now().Add(10*time.Second)); err != nil {
		return err
	}
	var st map[string]int
	if _, err := d.admin("GET", "/admin/v1/campaigns/welcome/stats", nil, &st); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "GET /admin/v1/campaigns/welcome/stats: fired %d, sent %d, delivered %d, opened %d, coupons_issued %d, coupons_redeemed %d, failed %d\n",
		st["fired"], st["sent"], st["delivered"], st["opened"], st["coupons_issued"], st["coupons_redeemed"], st["failed"])
	var rs struct {
		Invites       int `json:"invites"`
		Qualified     int `json:"qualified"`
		RewardsIssued int `json:"rewards_issued"`
	}
	if _, err := d.admin("GET", "/admin/v1/referral/invite-friends/stats", nil, &rs); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "GET /admin/v1/referral/invite-friends/stats: invites %d, qualified %d, referrer rewards %d\n", rs.Invites, rs.Qualified, rs.RewardsIssued)
	var ss map[string]int
	if _, err := d.admin("GET", "/admin/v1/stores/sh-001/stats", nil, &ss); err != nil {
		return err
	}
	fmt.Fprintf(d.out, "GET /admin/v1/stores/sh-001/stats: follows %d (new %d), scans %d, coupons_issued %d, coupons_redeemed %d\n",
		ss["follows"], ss["new_followers"], ss["scans"], ss["coupons_issued"], ss["coupons_redeemed"])
	db := d.app.db
	n, _ := db.CountEvents(ctx)
	all, subscribed, _ := db.CountFollowers(ctx)
	fmt.Fprintf(d.out, "\nomo stored %d pushes (the retry acted once) and %d followers (%d following):\n", n, all, subscribed)
	for _, id := range []string{"o-alice", "o-bob", "o-dave"} {
		f, err := db.Follower(ctx, id)
		if err != nil {
			return err
		}
		scene := f.FirstScene
		if scene == "" {
			scene = "-"
		}
		fmt.Fprintf(d.out, "  %-8s following=%-5v first scene=%-13s unionid=%s\n", f.OpenID, f.Subscribed, scene, f.UnionID)
	}
	counts, _ := db.CountOutbox(ctx)
	fmt.Fprintf(d.out, "outbox: %d done, %d pending, %d failed\n", counts[outbox.Done], counts[outbox.Pending], counts[outbox.Failed])
	fmt.Fprintf(d.out, "WeChat API calls seen by the simulator: %d template sends, %d user/info (unionid lookups), %d QR codes, %d access-token fetches\n",
		len(d.sim.Templates(demoOAAppID)), d.sim.CallCount("/cgi-bin/user/info"), len(d.sim.QRCodes(demoOAAppID)), d.sim.TokenFetches(demoOAAppID))
	return nil
}

// waitOutbox waits until no pending item is due before horizon and returns
// how many are held for later.
func (d *demo) waitOutbox(ctx context.Context, horizon time.Time) (held int, err error) {
	for {
		items, err := d.app.db.PendingOutbox(ctx, time.Now().Add(24*time.Hour), "", 1000)
		if err != nil {
			return 0, err
		}
		due := 0
		for _, it := range items {
			if it.RunAt.Before(horizon) {
				due++
			}
		}
		if due == 0 {
			return len(items), nil
		}
		select {
		case <-ctx.Done():
			return 0, errors.New("demo: queued work did not finish in 15 s")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (d *demo) templates(openid, templateID string) []wechatsim.TemplateSend {
	var out []wechatsim.TemplateSend
	for _, t := range d.sim.Templates(demoOAAppID) {
		if t.ToUser == openid && t.TemplateID == templateID {
			out = append(out, t)
		}
	}
	return out
}

func (d *demo) waitTemplate(openid, templateID string) (wechatsim.TemplateSend, error) {
	var got []wechatsim.TemplateSend
	err := d.wait(15*time.Second, "template "+templateID+" to "+openid, func() (bool, error) {
		got = d.templates(openid, templateID)
		return len(got) > 0, nil
	})
	if err != nil {
		return wechatsim.TemplateSend{}, err
	}
	return got[0], nil
}

func (d *demo) wait(limit time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: waited %s for %s", limit, what)
		}
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// login logs Alice into the mini-program with a fresh wx.login code.
func (d *demo) login(code string) (string, error) {
	d.sim.AddLoginCode(demoMPAppID, code, "m-alice", "u-alice")
	var res struct {
		Token string `json:"token"`
	}
	if err := d.call("POST", "/mp/v1/login", "", map[string]string{"code": code}, &res); err != nil {
		return "", err
	}
	return res.Token, nil
}

func (d *demo) admin(method, path string, body, out any) (int, error) {
	return d.do(method, path, demoAdminToken, body, out)
}

func (d *demo) call(method, path, token string, body, out any) error {
	status, err := d.do(method, path, token, body, out)
	if err == nil && status != http.StatusOK {
		err = fmt.Errorf("demo: %s %s answered %d", method, path, status)
	}
	return err
}

func (d *demo) do(method, path, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(d.ctx, method, d.app.URL()+path, rd)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("demo: %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// maskCode masks the coupon code in a page path's code= parameter, as the
// demo prints every coupon code.
func maskCode(pagePath string) string {
	if c := queryOf(pagePath, "code"); c != "" {
		return strings.Replace(pagePath, "code="+c, "code="+coupons.Mask(c), 1)
	}
	return pagePath
}

func queryOf(pagePath, key string) string {
	_, q, _ := strings.Cut(pagePath, "?")
	for _, kv := range strings.Split(q, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// couponFrom is the first of cps issued from pool (zero if none).
func couponFrom(cps []coupons.Coupon, pool string) coupons.Coupon {
	for _, c := range cps {
		if c.Pool == pool {
			return c
		}
	}
	return coupons.Coupon{}
}
