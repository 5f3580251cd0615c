package engine_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// splitSet is a welcome campaign split in two: a issues a coupon and sends
// TPL_A, b sends TPL_B; the winner by opens past 100 sent each.
const splitSet = `kind: CouponPool
id: ab-10
title: "¥10 off"
discount: {amount_fen: 1000}
stock: 100000
valid_for: 720h
---
kind: Campaign
id: welcome-ab
on: {event: subscribe}
split:
  variants:
    - name: a
      weight: 50
      do:
        - issue_coupon: {pool: ab-10}
        - send_template: {template_id: TPL_A, page: pages/coupon/detail, query: {code: "{{.Coupon.Code}}"}}
    - name: b
      weight: 50
      do:
        - send_template: {template_id: TPL_B, page: pages/index/index}
  winner: {metric: opened, min_sample: 100, confidence: 0.95}
---
kind: Campaign
id: plain
on: {event: subscribe}
do: [{tag: welcomed}]
`

var wantTemplate = map[string]string{"a": "TPL_A", "b": "TPL_B"}

// follow makes followers o<from>..o<to-1> follow, one push each.
func (e *env) follow(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		e.handle(t, subscribe(fmt.Sprintf("o%04d", i), e.now, ""))
	}
}

// sent marks the messages sent as the worker does when WeChat accepts them.
func (e *env) sent(t *testing.T, ms []outbox.MessageRow) {
	t.Helper()
	err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		for i, m := range ms {
			if err := tx.MarkSent(m.ID, int64(1_000_000+i), outbox.SendTemplate, "", e.now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// open opens a message's deep link, through the tracking the mini-program calls.
func (e *env) open(t *testing.T, m outbox.MessageRow) {
	t.Helper()
	if counted, err := e.eng.Track(t.Context(), m.CampaignID, m.ID, "pages/index/index"); err != nil || !counted {
		t.Fatalf("Track(%s) = %v, %v; want counted", m.ID, counted, err)
	}
}

// byVariant splits messages by their recorded variant, checking each
// against the follower's assignment and its variant's template.
func byVariant(t *testing.T, set *campaigns.Set, ms []outbox.MessageRow) map[string][]outbox.MessageRow {
	t.Helper()
	sp := set.Campaign("welcome-ab").Split
	out := map[string][]outbox.MessageRow{}
	for _, m := range ms {
		if want := sp.Assign("welcome-ab", m.OpenID).Name; m.Variant != want {
			t.Errorf("message to %s recorded as variant %q, the follower's variant is %q", m.OpenID, m.Variant, want)
		}
		if tpl := payloadTemplate(t, m); tpl != wantTemplate[m.Variant] {
			t.Errorf("message to %s of variant %s sends %s, want %s", m.OpenID, m.Variant, tpl, wantTemplate[m.Variant])
		}
		out[m.Variant] = append(out[m.Variant], m)
	}
	return out
}

func payloadTemplate(t *testing.T, m outbox.MessageRow) string {
	t.Helper()
	return payload(t, m).TemplateID
}

// TestSplitAssignsEachFollowerTheirVariant: every push fires the
// follower's variant, recorded with the firing, its message and its
// coupon; a retried push (same dedupe key) fires nothing again, and a later
// firing of the same follower keeps the variant.
func TestSplitAssignsEachFollowerTheirVariant(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		set := e.load(t, splitSet)
		e.follow(t, 0, 60)
		for i := range 60 { // WeChat retries every push
			if res := e.handle(t, subscribe(fmt.Sprintf("o%04d", i), e.now, "")); !res.Duplicate {
				t.Fatalf("retry of o%04d not a duplicate", i)
			}
		}
		ms := e.messages(t, "welcome-ab", "")
		groups := byVariant(t, set, ms)
		if len(ms) != 60 || len(groups["a"]) == 0 || len(groups["b"]) == 0 {
			t.Fatalf("%d messages, %d of a, %d of b; want 60 of both variants", len(ms), len(groups["a"]), len(groups["b"]))
		}
		for _, m := range groups["b"] {
			if cps := e.couponsOf(t, m.OpenID); len(cps) != 0 {
				t.Errorf("%s of variant b holds %d coupons, want none", m.OpenID, len(cps))
			}
		}
		for _, m := range groups["a"] {
			cps := e.couponsOf(t, m.OpenID)
			if len(cps) != 1 || cps[0].Variant != "a" || cps[0].Campaign != "welcome-ab" {
				t.Errorf("%s of variant a holds %+v, want one coupon of variant a", m.OpenID, cps)
			}
		}
		// The same followers again (unfollow, follow: a new push): same variants.
		e.now = e.now.Add(time.Minute)
		for i := range 10 {
			e.handle(t, unsubscribe(fmt.Sprintf("o%04d", i), e.now))
		}
		e.now = e.now.Add(time.Minute)
		e.follow(t, 0, 10)
		byVariant(t, set, e.messages(t, "welcome-ab", ""))
		st := e.variantStats(t, "welcome-ab")
		if got := st["a"].Fired + st["b"].Fired; got != 70 || st[""] != nil {
			t.Errorf("firings by variant = %+v; want 70 in a and b, none without", st)
		}
		if st["a"].Fired != len(groups["a"])+countPrefix(groups["a"], 10) || st["a"].CouponsIssued != st["a"].Fired {
			t.Errorf("variant a: %+v; want %d firings, a coupon each", st["a"], len(groups["a"])+countPrefix(groups["a"], 10))
		}
		// A campaign without split records no variant.
		if plain := e.variantStats(t, "plain"); len(plain) != 1 || plain[""] == nil || plain[""].Fired != 70 {
			t.Errorf("plain campaign stats = %+v, want 70 firings under no variant", plain)
		}
	})
}

// countPrefix counts the messages to o0000..o<n-1>.
func countPrefix(ms []outbox.MessageRow, n int) int {
	c := 0
	for _, m := range ms {
		var i int
		if _, err := fmt.Sscanf(m.OpenID, "o%04d", &i); err == nil && i < n {
			c++
		}
	}
	return c
}

func (e *env) variantStats(t *testing.T, id string) map[string]*campaigns.VariantStats {
	t.Helper()
	st, err := e.db.VariantStats(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *env) report(t *testing.T, id string) *engine.VariantReport {
	t.Helper()
	r, err := e.eng.Variants(t.Context(), id)
	if err != nil {
		t.Fatalf("Variants(%s): %v", id, err)
	}
	return r
}

// TestSplitWinnerTakesOver plays a split to its end: no winner before
// every variant has min_sample sent, then b (opened far more often) is
// declared once, by one of two omo instances, and every new follower gets
// b's do: only, also those whose own variant is a.
func TestSplitWinnerTakesOver(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		set := e.load(t, splitSet)
		e.follow(t, 0, 300)
		groups := byVariant(t, set, e.messages(t, "welcome-ab", ""))
		a, b := groups["a"], groups["b"]
		if len(a) < 120 || len(b) < 120 {
			t.Fatalf("variants have %d and %d followers; the test needs 120 of each", len(a), len(b))
		}
		// 90 sent of each: below min_sample, whatever the opens say.
		e.sent(t, a[:90])
		e.sent(t, b[:90])
		for i := range 90 {
			if i%2 == 0 {
				e.open(t, b[i])
			}
			if i%10 == 0 {
				e.open(t, a[i])
			}
		}
		if err := e.eng.DecideWinners(t.Context(), "first"); err != nil {
			t.Fatal(err)
		}
		r := e.report(t, "welcome-ab")
		if r.Winner != nil || r.Test.Significant || !strings.Contains(r.Test.Reason, "not enough data: a has 90 of 100 messages sent, b has 90 of 100 messages sent") {
			t.Fatalf("below min_sample: winner %v, test %+v; want none, not enough data", r.Winner, r.Test)
		}
		// The rest sent: a opens 10%, b 50%.
		e.sent(t, a[90:])
		e.sent(t, b[90:])
		for i := 90; i < len(b); i++ {
			if i%2 == 0 {
				e.open(t, b[i])
			}
		}
		for i := 90; i < len(a); i++ {
			if i%10 == 0 {
				e.open(t, a[i])
			}
		}
		e.now = e.now.Add(time.Hour)
		decidedAt := e.now
		// Two omo instances decide at the same time: one records it.
		other := engine.New(e.db, e.queue, func() time.Time { return e.now }, discard)
		if err := other.SetCampaigns(t.Context(), set, nil); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 2)
		for _, eng := range []*engine.Engine{e.eng, other} {
			go func() { done <- eng.DecideWinners(t.Context(), "x") }()
		}
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		r = e.report(t, "welcome-ab")
		if r.Winner == nil || *r.Winner != "b" || r.DecidedAt == nil || !r.DecidedAt.Equal(decidedAt) || r.Decision == nil {
			t.Fatalf("winner %v decided %v (%+v), want b at %v", r.Winner, r.DecidedAt, r.Test, decidedAt)
		}
		if !r.Test.Significant || r.Test.P >= 0.05 || r.Test.Z <= 0 || !strings.Contains(r.Test.Reason, "b opens") {
			t.Errorf("test = %+v; want b significantly ahead", r.Test)
		}
		wantRate := float64(countOpened(t, e, b)) / float64(len(b))
		if r.Variants[1].Name != "b" || r.Variants[1].Sample != len(b) || r.Variants[1].Rate != wantRate {
			t.Errorf("variant b = %+v; want sample %d, rate %v", r.Variants[1], len(b), wantRate)
		}
		// New followers all get b's do:, whatever their own variant.
		e.now = e.now.Add(time.Minute)
		sp := set.Campaign("welcome-ab").Split
		ownA := 0
		for i := 300; i < 360; i++ {
			if sp.Assign("welcome-ab", fmt.Sprintf("o%04d", i)).Name == "a" {
				ownA++
			}
		}
		if ownA == 0 {
			t.Fatal("no new follower's own variant is a: the test would show nothing")
		}
		e.follow(t, 300, 360)
		for i := 300; i < 360; i++ {
			id := fmt.Sprintf("o%04d", i)
			m := e.only(t, "welcome-ab", id)
			if m.Variant != "b" || payloadTemplate(t, m) != "TPL_B" {
				t.Errorf("after the decision %s got variant %q template %s, want b TPL_B", id, m.Variant, payloadTemplate(t, m))
			}
			if cps := e.couponsOf(t, id); len(cps) != 0 {
				t.Errorf("after the decision %s got %d coupons (a's do:), want none", id, len(cps))
			}
		}
		// The record is written once: a later round changes nothing.
		e.now = e.now.Add(time.Hour)
		if err := e.eng.DecideWinners(t.Context(), "later"); err != nil {
			t.Fatal(err)
		}
		w, err := e.db.Winner(t.Context(), "welcome-ab")
		if err != nil || w.Variant != "b" || !w.DecidedAt.Equal(decidedAt) || w.DecidedBy != "x" {
			t.Errorf("winner record = %+v, %v; want b decided at %v by x", w, err, decidedAt)
		}
	})
}

func countOpened(t *testing.T, e *env, ms []outbox.MessageRow) int {
	t.Helper()
	n := 0
	for _, m := range ms {
		got, err := e.db.Message(t.Context(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.OpenedAt != nil {
			n++
		}
	}
	return n
}

// TestSplitNoWinnerOnEqualRates: far past min_sample, variants opened
// exactly as often never end the split.
func TestSplitNoWinnerOnEqualRates(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		set := e.load(t, splitSet)
		e.follow(t, 0, 300)
		groups := byVariant(t, set, e.messages(t, "welcome-ab", ""))
		for _, v := range []string{"a", "b"} {
			ms := groups[v][:120] // 120 sent each, 30 of them opened
			e.sent(t, ms)
			for _, m := range ms[:30] {
				e.open(t, m)
			}
		}
		if err := e.eng.DecideWinners(t.Context(), "x"); err != nil {
			t.Fatal(err)
		}
		r := e.report(t, "welcome-ab")
		if r.Winner != nil || r.Test.Significant || r.Test.Z != 0 || r.Test.P != 1 || r.Test.Reason != "a and b open equally often (25.0%); not significant at 95% (p = 1, needs p < 0.05)" {
			t.Errorf("equal rates: winner %v, test %+v; want none, z 0, p 1", r.Winner, r.Test)
		}
		if _, err := e.db.Winner(t.Context(), "welcome-ab"); !errs.Is(err, errs.NotFound) {
			t.Errorf("winner recorded on equal rates: %v", err)
		}
		for i, v := range r.Variants {
			if v.Sent != 120 || v.Opened != 30 || v.Sample != 120 || v.Rate != 0.25 || v.Rates.Opened != 0.25 || v.Name != []string{"a", "b"}[i] {
				t.Errorf("variant %d = %+v; want 120 sent, 30 opened", i, v)
			}
		}
		if _, err := e.eng.Variants(t.Context(), "plain"); !errs.Is(err, errs.NotFound) || !strings.Contains(errs.Message(err), "has no split") {
			t.Errorf("Variants(plain) = %v; want NotFound, no split", err)
		}
	})
}

const scheduleSplitSet = `kind: Campaign
id: promo-ab
on: {event: schedule, at: 2026-12-01T20:00:00+08:00}
when: {store: sh-001}
split:
  variants:
    - {name: a, weight: 70, do: [{send_subscribe: {template_id: SUB_A, page: pages/index/index}}]}
    - {name: b, weight: 30, do: [{send_template: {template_id: TPL_B, page: pages/index/index}}]}
  winner: {metric: opened, min_sample: 1000}
`

// TestScheduleSplit: a schedule firing's recipients are prepared with
// their own variants, of different kinds of send, in the same batches.
func TestScheduleSplit(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.now = time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)
		set := e.load(t, scheduleSplitSet)
		seedFollowers(t, e, 600) // 400 of sh-001
		e.now = time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC)
		if err := e.eng.TickSchedules(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		slots, err := e.db.Slots(t.Context(), "promo-ab", 1)
		if err != nil || len(slots) != 1 {
			t.Fatalf("slots = %+v, %v", slots, err)
		}
		sp := set.Campaign("promo-ab").Split
		kinds := map[string]outbox.Kind{"a": outbox.SendSubscribe, "b": outbox.SendTemplate}
		count := map[string]int{}
		for batch := 0; batch < slots[0].Batches; batch++ {
			rows, err := e.db.BatchRecipients(t.Context(), slots[0].ID, batch)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				p, err := e.eng.PrepareRecipient(t.Context(), slots[0].ID, r.OpenID)
				if err != nil || p.Message == nil {
					t.Fatalf("PrepareRecipient(%s) = %+v, %v", r.OpenID, p, err)
				}
				want := sp.Assign("promo-ab", r.OpenID).Name
				if p.Message.Variant != want || p.Message.Kind != kinds[want] {
					t.Errorf("%s: message of variant %q kind %s, want %s %s", r.OpenID, p.Message.Variant, p.Message.Kind, want, kinds[want])
				}
				count[p.Message.Variant]++
			}
		}
		if count["a"]+count["b"] != 400 || count["a"] < 240 || count["b"] < 80 {
			t.Errorf("prepared by variant %v; want 400, about 70/30", count)
		}
		st := e.variantStats(t, "promo-ab")
		if st["a"].Fired != count["a"] || st["b"].Fired != count["b"] {
			t.Errorf("firings a %d b %d, want %v", st["a"].Fired, st["b"].Fired, count)
		}
	})
}

func (e *env) couponsOf(t *testing.T, openid string) []coupons.Coupon {
	t.Helper()
	cps, err := e.db.CouponsOf(t.Context(), openid)
	if err != nil {
		t.Fatal(err)
	}
	return cps
}

const expiringSplitSet = `
kind: CouponPool
id: welcome-10
title: "¥10 off"
discount: {amount_fen: 1000}
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
id: expiring-ab
on: {event: coupon_expiring, pool: welcome-10, within: 24h}
split:
  variants:
    - {name: a, weight: 1, do: [{send_template: {template_id: TPL_A, page: pages/coupon/detail, query: {code: "{{.Coupon.Code}}"}}}]}
    - {name: b, weight: 1, do: [{send_subscribe: {template_id: SUB_B, page: pages/coupon/detail, query: {code: "{{.Coupon.Code}}"}}}]}
  winner: {metric: opened, min_sample: 100}
`

// TestExpiringSplit: coupon reminders run the coupon owner's variant.
func TestExpiringSplit(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		set := e.load(t, expiringSplitSet)
		t0 := e.now
		for i := range 40 {
			e.coupon(t, fmt.Sprintf("o%04d", i))
		}
		e.now = t0.Add(48 * time.Hour)
		if n := remind(t, e.eng); n != 40 {
			t.Fatalf("reminders claimed = %d, want 40", n)
		}
		sp := set.Campaign("expiring-ab").Split
		kinds := map[string]outbox.Kind{"a": outbox.SendTemplate, "b": outbox.SendSubscribe}
		ms := e.messages(t, "expiring-ab", "")
		seen := map[string]int{}
		for _, m := range ms {
			want := sp.Assign("expiring-ab", m.OpenID).Name
			if m.Variant != want || m.Kind != kinds[want] {
				t.Errorf("reminder to %s: variant %q kind %s, want %s %s", m.OpenID, m.Variant, m.Kind, want, kinds[want])
			}
			seen[m.Variant]++
		}
		if len(ms) != 40 || seen["a"] == 0 || seen["b"] == 0 {
			t.Errorf("reminders by variant %v, want 40 of both", seen)
		}
	})
}
