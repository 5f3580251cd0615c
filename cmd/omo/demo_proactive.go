package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat/wechatsim"
)

// The last chapter: omo reaching, on the brand's initiative, followers it
// never saw follow.
const (
	// demoSeeded is how many existing followers the simulator is seeded with.
	demoSeeded = 200
	// demoSendRate is worker.send_rate in the demo: WeChat sends a second,
	// few enough that the restart lands in the middle of the fan-out.
	demoSendRate = 20
	// demoCallLease is how long a recipient mid-call when omo died stays
	// calling before the restarted omo records it outcome_unknown (one
	// minute in production: another process's call may still be running).
	demoCallLease = 3 * time.Second
	// demoSlotLead is how far ahead of the chapter the scheduled slot is.
	demoSlotLead = 4 * time.Second

	demoSchedule     = "double-11"       // configs/campaigns/double-11.yaml
	demoSubscribe    = "SUB_DOUBLE11"    // its subscribe notification
	demoReminder     = "expiry-reminder" // configs/campaigns/expiry-reminder.yaml
	demoReminderTmpl = "TPL_COUPON_EXPIRING"
	demoStore        = "sh-001" // the store double-11's audience is the followers of
)

func (d *demo) existingFollowers() error {
	fmt.Fprintln(d.out, "Reaching existing followers")
	if err := d.syncFollowers(); err != nil {
		return err
	}
	audience, err := d.previewSlot()
	if err != nil {
		return err
	}
	if err := d.fanout(audience); err != nil {
		return err
	}
	return d.reminders()
}

// syncFollowers seeds the followers the Official Account had before omo
// and reads them into omo as `omo followers sync` does.
func (d *demo) syncFollowers() error {
	following := d.sim.SeedFollowers(demoOAAppID, demoSeeded)
	for i := range demoSeeded {
		d.sim.GrantConsent(demoOAAppID, wechatsim.SeedOpenID(demoOAAppID, i), demoSubscribe)
	}
	d.sim.GrantConsent(demoOAAppID, "o-alice", demoSubscribe)
	d.say("%d people who followed before omo was connected are seeded in the simulator; each of them,\n    and Alice, allowed one %s notification in the mini-program", demoSeeded, demoSubscribe)
	d.say("omo followers sync reads WeChat's follower list (user/get, then user/info/batchget in 100s)")
	res, err := engine.NewSyncer(d.app.db, followerSource{d.app.wx}, engine.SyncOptions{}).Run(d.ctx)
	if err != nil {
		return err
	}
	if res.Stored != following {
		return fmt.Errorf("demo: the sync stored %d followers, the simulator has %d", res.Stored, following)
	}
	d.then("pass %d complete: %s, %d followers stored (the %d and the %d of the story), %s",
		res.Pass, plural(res.Pages, "page"), res.Stored, demoSeeded, following-demoSeeded, plural(d.sim.CallCount("/cgi-bin/user/info/batchget"), "batchget call"))
	list, err := d.app.db.Stores(d.ctx)
	if err != nil {
		return err
	}
	type home struct {
		id string
		n  int64
	}
	var homes []home
	for _, s := range list {
		n, err := d.audienceSize(&campaigns.Audience{Stores: []string{s.ID}})
		if err != nil {
			return err
		}
		if n > 0 {
			homes = append(homes, home{s.ID, n})
		}
	}
	sort.SliceStable(homes, func(i, j int) bool { return homes[i].n > homes[j].n })
	var names []string
	for _, h := range homes {
		names = append(names, fmt.Sprintf("%s %d", h.id, h.n))
	}
	d.then("home stores, from the store: scene each first followed through: %s", strings.Join(names, ", "))
	return nil
}

func (d *demo) audienceSize(a *campaigns.Audience) (int64, error) {
	q, err := d.app.db.CompileAudience(d.ctx, a, "", time.Now())
	if err != nil {
		return 0, err
	}
	return d.app.db.CountAudience(d.ctx, q)
}

// previewSlot gives the schedule campaign its slot a few seconds ahead and
// previews it through the admin API. It returns the audience's openids.
func (d *demo) previewSlot() ([]string, error) {
	at := time.Now().Add(demoSlotLead).Truncate(time.Second)
	if err := d.loadCampaigns(at); err != nil {
		return nil, err
	}
	c := d.set.Campaign(demoSchedule)
	if c == nil {
		return nil, fmt.Errorf("demo: %s has no campaign %s", d.cfg.Campaigns.Dir, demoSchedule)
	}
	if err := d.app.engine.SetCampaigns(d.ctx, d.set, d.files); err != nil {
		return nil, err
	}
	d.zone = c.Location
	d.say("%s (%s) gives the followers of store %s a coupon\n    and a subscribe notification at cron %q (%s); for the demo, once at %s",
		demoSchedule, c.Pos.File, demoStore, d.crons[c.ID], c.Location, d.clock(at))
	var p engine.AudiencePreview
	if err := d.call("GET", "/admin/v1/campaigns/"+demoSchedule+"/audience", demoAdminToken, nil, &p); err != nil {
		return nil, err
	}
	if len(p.NextSlots) == 0 || !p.NextSlots[0].Equal(at) {
		return nil, fmt.Errorf("demo: the preview's next slots are %v, want %s", p.NextSlots, at)
	}
	ex := p.Examples
	if len(ex) > 3 {
		ex = []string{strings.Join(ex[:3], ", "), strings.Join(ex[3:], ", ")}
	}
	d.then("GET /admin/v1/campaigns/%s/audience: next slot %s, audience %d followers, e.g.\n       %s",
		demoSchedule, d.clock(p.NextSlots[0]), p.Size, strings.Join(ex, ",\n       "))
	q, err := d.app.db.CompileAudience(d.ctx, &c.When, c.ID, time.Now())
	if err != nil {
		return nil, err
	}
	return d.app.db.SampleAudience(d.ctx, q, int(p.Size)+1)
}

// fanout watches the slot fire, kills omo in the middle of its fan-out,
// starts it again and checks that every recipient got the message once.
func (d *demo) fanout(audience []string) error {
	d.say("the schedule ticker (every 2 s in each omo serve) claims the slot, once, and writes its\n    recipients to the ledger")
	var slot sqldb.Slot
	err := d.wait(20*time.Second, "the slot of "+demoSchedule+" planned", func() (bool, error) {
		slots, err := d.app.db.Slots(d.ctx, demoSchedule, 10)
		if err != nil || len(slots) == 0 {
			return false, err
		}
		slot = slots[0]
		return slot.State != sqldb.SlotPlanning, nil
	})
	if err != nil {
		return err
	}
	if slot.Planned != int64(len(audience)) {
		return fmt.Errorf("demo: slot planned %d recipients, the audience is %d", slot.Planned, len(audience))
	}
	d.then("slot %s fired %.1f s after its time: %d recipients planned, in %s",
		d.clock(slot.SlotAt), slot.CreatedAt.Sub(slot.SlotAt).Seconds(), slot.Planned, plural(slot.Batches, "batch"))

	third := int(slot.Planned) / 3
	if err := d.wait(20*time.Second, "a third of the fan-out sent", func() (bool, error) {
		return len(d.subscribeSends()) >= third, nil
	}); err != nil {
		return err
	}
	d.say("omo dies in the middle of the fan-out: the demo closes its database first, so nothing omo\n    does from then on is recorded, as after a kill; the embedded Redis and its queue go with it")
	d.crash()
	before := len(d.subscribeSends())
	d.remindedBefore = len(d.reminderSends())
	if before >= int(slot.Planned) {
		return fmt.Errorf("demo: all %d sent before the crash; the restart would prove nothing", before)
	}
	d.then("%d of %d sent before the crash", before, slot.Planned)

	d.say("omo starts again on the same SQLite file, with a fresh embedded Redis")
	if err := d.openOmo(); err != nil {
		return err
	}
	left, calling, err := d.unfinished(slot)
	if err != nil {
		return err
	}
	mid := "none of them mid-call when omo died"
	if len(calling) > 0 {
		mid = fmt.Sprintf("%d of them\n       mid-call when omo died (WeChat got the call; omo never heard back)", len(calling))
		for _, id := range calling {
			if !slices.ContainsFunc(d.subscribeSends(), func(s wechatsim.SubscribeSend) bool { return s.ToUser == id }) {
				mid = fmt.Sprintf("%d of them\n       mid-call when omo died, before WeChat got the call", len(calling))
			}
		}
	}
	d.then("the ledger, before omo runs anything: %d recipients not sent as far as omo knows, %s", left, mid)
	if err := d.startOmo(); err != nil {
		return err
	}
	d.then("the outbox sweep re-queues the unfinished batch; the workers send what the ledger says is left")
	if err := d.wait(30*time.Second, "every recipient of the slot settled", func() (bool, error) {
		s, err := d.app.db.SlotByID(d.ctx, slot.ID)
		return err == nil && s.State == sqldb.SlotDone, err
	}); err != nil {
		return err
	}
	sends := d.subscribeSends()
	d.then("%d sent after the restart: %d + %d = %d sent of %d planned", len(sends)-before, before, len(sends)-before, len(sends), slot.Planned)
	got := map[string]int{}
	for _, s := range sends {
		got[s.ToUser]++
	}
	for _, id := range audience {
		if got[id] != 1 {
			return fmt.Errorf("demo: %s got %s %d times, want once", id, demoSubscribe, got[id])
		}
	}
	if len(got) != len(audience) {
		return fmt.Errorf("demo: %d followers got %s, the audience is %d", len(got), demoSubscribe, len(audience))
	}
	d.then("nobody twice: the simulator got %s exactly once for each of the %d recipients,\n       and for no one else", demoSubscribe, len(audience))
	for _, s := range sends {
		if s.ToUser == "o-alice" {
			d.then("Alice's: %q, valid until %q, opening\n       %s", s.Data["thing1"], s.Data["time2"], maskCode(s.MiniProgram.PagePath))
		}
	}
	var fs struct {
		Firings []engine.Firing `json:"firings"`
	}
	if err := d.call("GET", "/admin/v1/campaigns/"+demoSchedule+"/firings", demoAdminToken, nil, &fs); err != nil {
		return err
	}
	if len(fs.Firings) != 1 {
		return fmt.Errorf("demo: %d firings of %s, want 1", len(fs.Firings), demoSchedule)
	}
	f := fs.Firings[0]
	st := f.Stats
	d.then("GET /admin/v1/campaigns/%s/firings: slot %s %s,\n       planned %d, sent %d, failed %d, skipped %d, pending %d, coupons issued %d",
		demoSchedule, d.clock(f.Slot), f.State, st.Planned, st.Sent, st.Failed, skipped(st), st.Pending, st.CouponsIssued)
	if st.Sent+st.Failed != st.Planned || st.Failed != int64(len(calling)) || st.CouponsIssued != st.Planned {
		return fmt.Errorf("demo: the firing's stats %+v do not add up (%d mid-call at the crash)", st, len(calling))
	}
	if len(calling) > 0 {
		d.then("failed %d: the call under way when omo died; a subscribe notification has no client_msg_id\n       that makes a repeat safe, so omo records outcome_unknown and does not call again (the\n       simulator shows that one arrived)", len(calling))
	}
	return nil
}

func skipped(st sqldb.SlotStats) int64 {
	var n int64
	for _, v := range st.Skipped {
		n += v
	}
	return n
}

// crash stops omo as a kill would, as far as its database can tell: the
// database is closed first, so no write omo makes from then on lands (a
// WeChat call under way completes unrecorded, as when the process dies
// during one); then the rest is torn down, the embedded Redis with it.
func (d *demo) crash() {
	d.app.db.Close()
	d.stopOmo() // closing the database again is harmless
}

// unfinished counts the recipients of slot not yet sent, and lists those
// whose WeChat call was under way when omo stopped (state calling).
func (d *demo) unfinished(slot sqldb.Slot) (int, []string, error) {
	n, calling := 0, []string{}
	for b := range slot.Batches {
		rows, err := d.app.db.BatchRecipients(d.ctx, slot.ID, b)
		if err != nil {
			return 0, nil, err
		}
		n += len(rows)
		for _, r := range rows {
			if r.State == sqldb.RecipientCalling {
				calling = append(calling, r.OpenID)
			}
		}
	}
	return n, calling, nil
}

// subscribeSends are the schedule campaign's notifications WeChat accepted.
func (d *demo) subscribeSends() []wechatsim.SubscribeSend {
	var out []wechatsim.SubscribeSend
	for _, s := range d.sim.SubscribeSends(demoOAAppID) {
		if s.TemplateID == demoSubscribe {
			out = append(out, s)
		}
	}
	return out
}

// reminderSends are the reminder templates WeChat accepted.
func (d *demo) reminderSends() []wechatsim.TemplateSend {
	var out []wechatsim.TemplateSend
	for _, t := range d.sim.Templates(demoOAAppID) {
		if t.TemplateID == demoReminderTmpl {
			out = append(out, t)
		}
	}
	return out
}

// reminders waits for the coupon-expiry reminders of the coupons the
// fan-out issued and shows Alice's.
func (d *demo) reminders() error {
	c := d.set.Campaign(demoReminder)
	if c == nil {
		return fmt.Errorf("demo: %s has no campaign %s", d.cfg.Campaigns.Dir, demoReminder)
	}
	pool := d.set.Pools[c.On.Pool]
	d.say("%s (%s) reminds the owner of an unused\n    %s coupon %s before it expires; for the demo these coupons are valid for %s%s,\n    so each is inside the window once issued, and the reminder scan (every %s) claims it",
		demoReminder, c.Pos.File, c.On.Pool, fmtHours(c.On.Within), fmtHours(pool.ValidFor), d.validity[c.On.Pool], expiringScanEvery)
	issued := 0
	for _, s := range d.subscribeSends() {
		cps, err := d.app.db.CouponsOf(d.ctx, s.ToUser)
		if err != nil {
			return err
		}
		if couponFrom(cps, c.On.Pool).Code != "" {
			issued++
		}
	}
	var sent []wechatsim.TemplateSend
	if err := d.wait(30*time.Second, "the coupon-expiry reminders", func() (bool, error) {
		sent = d.reminderSends()
		return len(sent) >= issued, nil
	}); err != nil {
		return err
	}
	rs, err := d.app.db.RemindersOf(d.ctx, demoReminder)
	if err != nil {
		return err
	}
	per := map[string]int{}
	for _, t := range sent {
		per[t.ToUser]++
	}
	if len(rs) != issued || len(per) != issued || len(sent) != issued {
		return fmt.Errorf("demo: %d coupons issued, %d reminders claimed, %d sent to %d followers; want one each", issued, len(rs), len(sent), len(per))
	}
	d.then("%d coupons issued by the fan-out, %d reminders claimed (one per coupon; %d sent before\n       the crash), %d sent, one per follower", issued, len(rs), d.remindedBefore, len(sent))
	for _, t := range sent {
		if t.ToUser != "o-alice" {
			continue
		}
		cps, _ := d.app.db.CouponsOf(d.ctx, "o-alice")
		cp := couponFrom(cps, c.On.Pool)
		if !strings.Contains(t.MiniProgram.PagePath, "code="+cp.Code) {
			return fmt.Errorf("demo: Alice's reminder opens %s, not her coupon", t.MiniProgram.PagePath)
		}
		d.then("Alice's: template %s, %q, expires %q, opening\n       %s",
			t.TemplateID, t.Data["thing1"], t.Data["time2"], maskCode(t.MiniProgram.PagePath))
	}
	return nil
}

// plural is "1 page", "2 pages".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	if strings.HasSuffix(what, "ch") {
		return fmt.Sprintf("%d %ses", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// clock is t as the chapter shows times: in the schedule campaign's zone.
func (d *demo) clock(t time.Time) string {
	if d.zone == nil {
		return t.Local().Format("15:04:05")
	}
	return t.In(d.zone).Format("15:04:05")
}

// fmtHours prints a duration of whole hours as 23h, not 23h0m0s.
func fmtHours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
