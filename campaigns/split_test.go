package campaigns

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func split(weights ...int) *Split {
	s := &Split{Winner: WinnerRule{Metric: MetricOpened, MinSample: 500, Confidence: 0.95}}
	for i, w := range weights {
		s.Variants = append(s.Variants, Variant{Name: string(rune('a' + i)), Weight: w})
	}
	return s
}

// TestAssignStable: a follower's variant depends on (campaign, openid)
// only. The fixed answers below pin the hash itself: changing it would move
// followers of a running split to another variant (another process, or
// omo after an upgrade, would answer differently).
func TestAssignStable(t *testing.T) {
	s := split(50, 50)
	for i := range 200 {
		id := fmt.Sprintf("o%d", i)
		first := s.Assign("welcome", id).Name
		for range 3 {
			if got := s.Assign("welcome", id).Name; got != first {
				t.Fatalf("Assign(welcome, %s) = %s, then %s", id, first, got)
			}
		}
	}
	for _, tt := range []struct{ campaign, openid, want string }{
		{"welcome", "oA", "b"},
		{"welcome", "oB", "a"},
		{"welcome", "oC", "a"},
		{"welcome", "oD", "a"},
		{"other", "oA", "b"},
		{"other", "oB", "b"},
		{"other", "oC", "a"},
		{"other", "oD", "b"},
	} {
		if got := s.Assign(tt.campaign, tt.openid).Name; got != tt.want {
			t.Errorf("Assign(%s, %s) = %s, want %s", tt.campaign, tt.openid, got, tt.want)
		}
	}
}

// TestAssignWeights: over 10,000 followers each variant's share is within
// 2 points of its weight's.
func TestAssignWeights(t *testing.T) {
	for _, weights := range [][]int{{70, 30}, {50, 50}, {1, 1, 1}, {50, 30, 20}, {9, 1}} {
		t.Run(fmt.Sprint(weights), func(t *testing.T) {
			s := split(weights...)
			total := 0
			for _, w := range weights {
				total += w
			}
			const n = 10_000
			count := map[string]int{}
			for i := range n {
				count[s.Assign("spring-sale", fmt.Sprintf("oFollower%05d", i)).Name]++
			}
			for _, v := range s.Variants {
				got, want := float64(count[v.Name])/n, float64(v.Weight)/float64(total)
				if math.Abs(got-want) > 0.02 {
					t.Errorf("variant %s: %.3f of followers, want %.3f ± 0.02", v.Name, got, want)
				}
			}
		})
	}
}

func TestZTest(t *testing.T) {
	// Expected values computed independently (Python: pooled two-proportion
	// z, p = erfc(|z|/sqrt 2)).
	tests := []struct {
		x1, n1, x2, n2 int
		z, p           float64
	}{
		{120, 1000, 98, 1000, 1.5785399660794577, 0.11444161409996553},
		{150, 1000, 100, 1000, 3.3806170189140654, 0.0007232327164301955},
		{60, 500, 40, 500, 2.1081851067789192, 0.035014981019662536},
		{98, 1000, 120, 1000, -1.5785399660794577, 0.11444161409996553},
		{100, 1000, 100, 1000, 0, 1},   // equal
		{100, 1000, 50, 500, 0, 1},     // equal rates, other samples
		{0, 1000, 0, 1000, 0, 1},       // no variance
		{1000, 1000, 1000, 1000, 0, 1}, // no variance
		{5, 0, 3, 10, 0, 1},            // an empty arm
		{1_000_000, 10_000_000, 1_000_000, 10_000_000, 0, 1},
	}
	for _, tt := range tests {
		z, p := ZTest(tt.x1, tt.n1, tt.x2, tt.n2)
		if math.Abs(z-tt.z) > 1e-9 || math.Abs(p-tt.p) > 1e-9 {
			t.Errorf("ZTest(%d/%d vs %d/%d) = z %v, p %v; want z %v, p %v", tt.x1, tt.n1, tt.x2, tt.n2, z, p, tt.z, tt.p)
		}
	}
}

func TestDecide(t *testing.T) {
	rule := WinnerRule{Metric: MetricOpened, MinSample: 500, Confidence: 0.95}
	arm := func(name string, x, n int) Arm { return Arm{Name: name, Successes: x, Trials: n} }
	tests := []struct {
		name       string
		rule       WinnerRule
		arms       []Arm
		winner     string
		enough     bool
		reason     string // a part of the reason
		z, p       float64
		pThreshold float64 // p must be below this (0 = not checked)
	}{
		{name: "not enough data", rule: rule, arms: []Arm{arm("a", 10, 120), arm("b", 200, 600)},
			reason: "not enough data: a has 120 of 500 messages sent"},
		{name: "not enough in either", rule: rule, arms: []Arm{arm("a", 10, 499), arm("b", 200, 499)},
			reason: "not enough data: a has 499 of 500 messages sent, b has 499 of 500 messages sent"},
		{name: "equal rates, huge samples", rule: rule, arms: []Arm{arm("a", 1000, 1000), arm("b", 1000, 1000)}, enough: true,
			reason: "a and b open equally often (100.0%)", p: 1},
		{name: "equal rates, millions", rule: rule, arms: []Arm{arm("a", 123_456, 1_000_000), arm("b", 123_456, 1_000_000)}, enough: true,
			reason: "a and b open equally often (12.3%)", p: 1},
		{name: "equal rates, different samples", rule: rule, arms: []Arm{arm("a", 100, 1000), arm("b", 200, 2000)}, enough: true,
			reason: "open equally often", p: 1},
		{name: "clear difference", rule: rule, arms: []Arm{arm("a", 100, 1000), arm("b", 150, 1000)}, winner: "b", enough: true,
			reason: "b opens 50% more often than a (15.0% vs 10.0%); significant at 95% (p < 0.001)", z: 3.3806170189140654, p: 0.0007232327164301955},
		{name: "small difference", rule: rule, arms: []Arm{arm("a", 120, 1000), arm("b", 98, 1000)}, enough: true,
			reason: "a opens 22% more often than b (12.0% vs 9.8%); not significant at 95% (p = 0.114, needs p < 0.05)", z: 1.5785399660794577, p: 0.11444161409996553},
		{name: "passes 95 not 99", rule: WinnerRule{Metric: MetricOpened, MinSample: 500, Confidence: 0.99},
			arms: []Arm{arm("a", 60, 500), arm("b", 40, 500)}, enough: true, reason: "not significant at 99% (p = 0.035, needs p < 0.01)"},
		{name: "passes at 95", rule: rule, arms: []Arm{arm("a", 60, 500), arm("b", 40, 500)}, winner: "a", enough: true,
			reason: "significant at 95% (p = 0.035)"},
		// With three variants each comparison must reach p < 0.025: 0.035 is not enough.
		{name: "three variants, Bonferroni", rule: rule, arms: []Arm{arm("a", 40, 500), arm("b", 60, 500), arm("c", 20, 500)}, enough: true,
			reason: "b opens 50% more often than a, the closest of the others (12.0% vs 8.0%); not significant at 95% (p = 0.035, needs p < 0.025 for each of 2 comparisons)"},
		{name: "three variants, clear", rule: rule, arms: []Arm{arm("a", 40, 1000), arm("b", 150, 1000), arm("c", 20, 1000)}, winner: "b", enough: true,
			reason: "b opens", pThreshold: 0.025},
		{name: "tie at the top", rule: rule, arms: []Arm{arm("a", 150, 1000), arm("b", 150, 1000), arm("c", 20, 1000)}, enough: true,
			reason: "a and b open equally often (15.0%)", p: 1},
		{name: "redeemed", rule: WinnerRule{Metric: MetricRedeemed, MinSample: 100, Confidence: 0.95},
			arms: []Arm{arm("a", 30, 200), arm("b", 10, 200)}, winner: "a", enough: true,
			reason: "coupons of a are redeemed 3 times as often as those of b (15.0% vs 5.0%)"},
		{name: "redeemed short", rule: WinnerRule{Metric: MetricRedeemed, MinSample: 100, Confidence: 0.95},
			arms: []Arm{arm("a", 30, 99), arm("b", 10, 200)}, reason: "not enough data: a has 99 of 100 coupons issued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.rule.Decide(tt.arms)
			if v.Winner != tt.winner || v.Enough != tt.enough || v.Significant != (tt.winner != "") {
				t.Errorf("Decide = winner %q enough %v significant %v, want winner %q enough %v", v.Winner, v.Enough, v.Significant, tt.winner, tt.enough)
			}
			if !strings.Contains(v.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", v.Reason, tt.reason)
			}
			if tt.z != 0 && math.Abs(v.Z-tt.z) > 1e-9 || tt.p != 0 && math.Abs(v.P-tt.p) > 1e-9 {
				t.Errorf("z %v p %v, want z %v p %v", v.Z, v.P, tt.z, tt.p)
			}
			if tt.pThreshold != 0 && !(v.P < tt.pThreshold) {
				t.Errorf("p %v, want below %v", v.P, tt.pThreshold)
			}
			if math.IsNaN(v.Z) || math.IsInf(v.Z, 0) || math.IsNaN(v.P) {
				t.Errorf("z %v p %v: not finite", v.Z, v.P)
			}
		})
	}
}

// TestDecideNeverOnEqualRates: whatever the sample, equal rates never
// declare a winner.
func TestDecideNeverOnEqualRates(t *testing.T) {
	rule := WinnerRule{Metric: MetricOpened, MinSample: 1, Confidence: 0.51}
	for _, n := range []int{1, 2, 10, 1000, 1_000_000, 100_000_000} {
		for _, x := range []int{0, 1, n / 3, n / 2, n} {
			v := rule.Decide([]Arm{{"a", x, n}, {"b", x, n}, {"c", x * 2, n * 2}})
			if v.Winner != "" || v.Significant {
				t.Errorf("%d of %d each: winner %q (%s)", x, n, v.Winner, v.Reason)
			}
		}
	}
}

func loadOne(t *testing.T, src string) (*Set, error) {
	t.Helper()
	return Load([]File{{Name: "split.yaml", Data: []byte(src)}})
}

const splitPool = `kind: CouponPool
id: p10
title: t
discount: {amount_fen: 1000}
stock: 100
valid_for: 24h
---
`

func TestSplitLoads(t *testing.T) {
	set, err := loadOne(t, splitPool+`kind: Campaign
id: welcome
on: {event: subscribe}
split:
  variants:
    - name: a
      weight: 70
      do:
        - issue_coupon: {pool: p10}
        - send_template: {template_id: TPL_A, page: pages/coupon/detail, query: {code: "{{.Coupon.Code}}"}}
    - {name: b, weight: 30, do: [{send_subscribe: {template_id: SUB_B, page: pages/index/index}}]}
  winner: {metric: opened, min_sample: 500}
`)
	if err != nil {
		t.Fatal(err)
	}
	c := set.Campaign("welcome")
	if c.Split == nil || len(c.Split.Variants) != 2 || c.Do != nil {
		t.Fatalf("split = %+v, do = %v", c.Split, c.Do)
	}
	w := c.Split.Winner
	if w.Metric != MetricOpened || w.MinSample != 500 || w.Confidence != DefaultConfidence {
		t.Errorf("winner = %+v, want opened, 500, the default confidence", w)
	}
	if a := c.Actions("a"); len(a) != 2 || a[1].Send.TemplateID != "TPL_A" {
		t.Errorf("Actions(a) = %+v", a)
	}
	if b := c.Actions("b"); len(b) != 1 || b[0].Kind != ActSubscribe {
		t.Errorf("Actions(b) = %+v", b)
	}
	if c.Actions("z") != nil {
		t.Error("Actions of an unknown variant is not nil")
	}
}

// TestSplitProblems: each mistake in a split is reported at its line and
// field, as `omo campaigns validate` prints it.
func TestSplitProblems(t *testing.T) {
	head := "kind: Campaign\nid: c\non: {event: subscribe}\n"
	send := "{send_template: {template_id: T, page: pages/a}}"
	variant := func(name, weight string) string {
		return fmt.Sprintf("    - {name: %s, weight: %s, do: [%s]}\n", name, weight, send)
	}
	winner := "  winner: {metric: opened, min_sample: 100}\n"
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"do and split", head + "do: [" + send + "]\nsplit:\n  variants:\n" + variant("a", "1") + variant("b", "1") + winner,
			[]string{"split.yaml:5: split: give do: or split:, not both (each variant of a split has its own do:)"}},
		{"neither", head, []string{"split.yaml:1: do: is required (or split: with a do: per variant)"}},
		{"one variant", head + "split:\n  variants:\n" + variant("a", "1") + winner,
			[]string{"split.yaml:6: split.variants: has 1 variant(s): a split compares at least 2"}},
		{"weight zero", head + "split:\n  variants:\n" + variant("a", "0") + variant("b", "1") + winner,
			[]string{"split.yaml:6: split.variants[0].weight: must be between 1 and 10000, got 0"}},
		{"weight fraction", head + "split:\n  variants:\n" + variant("a", "0.5") + variant("b", "1") + winner,
			[]string{`split.yaml:6: split.variants[0].weight: want a whole number, got "0.5"`}},
		{"weight negative", head + "split:\n  variants:\n" + variant("a", "-3") + variant("b", "1") + winner,
			[]string{"split.yaml:6: split.variants[0].weight: must be between 1 and 10000, got -3"}},
		{"same name", head + "split:\n  variants:\n" + variant("a", "1") + variant("a", "1") + winner,
			[]string{`split.yaml:7: split.variants[1].name: "a" is already the name of variant 0 (line 6)`}},
		{"empty name", head + "split:\n  variants:\n" + variant(`""`, "1") + variant("b", "1") + winner,
			[]string{"split.yaml:6: split.variants[0].name: is empty"}},
		{"bad name", head + "split:\n  variants:\n" + variant(`"a b"`, "1") + variant("b", "1") + winner,
			[]string{`split.yaml:6: split.variants[0].name: "a b": use 1-64 letters, digits, '-', '_' or '.'`}},
		{"no winner", head + "split:\n  variants:\n" + variant("a", "1") + variant("b", "1"),
			[]string{"split.yaml:5: split.winner: is required"}},
		{"unknown metric", head + "split:\n  variants:\n" + variant("a", "1") + variant("b", "1") + "  winner: {metric: clicks, min_sample: 10}\n",
			[]string{`split.yaml:8: split.winner.metric: "clicks": want opened (opened/sent) or redeemed (coupons_redeemed/coupons_issued)`}},
		{"min_sample zero", head + "split:\n  variants:\n" + variant("a", "1") + variant("b", "1") + "  winner: {metric: opened, min_sample: 0}\n",
			[]string{"split.yaml:8: split.winner.min_sample: must be between 1 and 1099511627776, got 0"}},
		{"confidence 0.5", head + "split:\n  variants:\n" + variant("a", "1") + variant("b", "1") + "  winner: {metric: opened, min_sample: 10, confidence: 0.5}\n",
			[]string{"split.yaml:8: split.winner.confidence: must be above 0.5 and below 1 (0.95 is 95%), got 0.5"}},
		{"confidence 95", head + "split:\n  variants:\n" + variant("a", "1") + variant("b", "1") + "  winner: {metric: opened, min_sample: 10, confidence: 95}\n",
			[]string{"split.yaml:8: split.winner.confidence: must be above 0.5 and below 1 (0.95 is 95%), got 95"}},
		{"variant without do", head + "split:\n  variants:\n    - {name: a, weight: 1}\n" + variant("b", "1") + winner,
			[]string{"split.yaml:6: split.variants[0].do: is required"}},
		{"variant do checked", head + "split:\n  variants:\n    - {name: a, weight: 1, do: [{issue_coupon: {pool: nope}}, " + send + "]}\n" + variant("b", "1") + winner,
			[]string{`split.yaml:6: split.variants[0].do[0].issue_coupon.pool: no CouponPool "nope" in this set`}},
		{"variant text checked", head + "split:\n  variants:\n" + variant("a", "1") +
			"    - name: b\n      weight: 1\n      do:\n        - send_template: {template_id: T, page: pages/a, query: {c: \"{{.Coupon.Code}}\"}}\n" + winner,
			[]string{"split.yaml:10: split.variants[1].do[0].send_template.query.c: uses .Coupon but no issue_coupon comes before this action"}},
		{"opened without a link", head + "split:\n  variants:\n" + variant("a", "1") + "    - {name: b, weight: 1, do: [{reply: {text: hi}}]}\n" + winner,
			[]string{"split.yaml:7: split.variants[1].do: variant b sends no message with a deep link, so split.winner.metric opened (opened/sent) has nothing to count: give it a send_template, send_subscribe or send_custom miniprogram card"}},
		{"redeemed without a coupon", splitPool + head + "split:\n  variants:\n" +
			"    - {name: a, weight: 1, do: [{issue_coupon: {pool: p10}}]}\n" + variant("b", "1") + "  winner: {metric: redeemed, min_sample: 10}\n",
			[]string{"split.yaml:14: split.variants[1].do: variant b issues no coupon, so split.winner.metric redeemed (coupons_redeemed/coupons_issued) has nothing to count: give it an issue_coupon"}},
		{"mass in a split", "kind: Campaign\nid: c\non: {event: schedule, cron: \"0 10 * * *\"}\nsplit:\n  variants:\n" +
			variant("a", "1") + "    - {name: b, weight: 1, do: [{send_mass: {text: hi}}]}\n" + winner,
			[]string{"split.yaml:7: split.variants[1].do[0].send_mass: does not apply in a split: a mass send is one message for a whole chunk of recipients, and a split gives each follower their own variant (use send_subscribe, or make one campaign per message)",
				"split.yaml:7: split.variants[1].do: variant b sends no message with a deep link, so split.winner.metric opened (opened/sent) has nothing to count: give it a send_template, send_subscribe or send_custom miniprogram card"}},
		{"schedule variant with two sends", "kind: Campaign\nid: c\non: {event: schedule, cron: \"0 10 * * *\"}\nsplit:\n  variants:\n" +
			variant("a", "1") + "    - {name: b, weight: 1, do: [" + send + ", " + send + "]}\n" + winner,
			[]string{"split.yaml:7: split.variants[1].do[1].send_template: a schedule campaign sends one message per recipient; make a second campaign for another"}},
		{"two replies in a variant", head + "split:\n  variants:\n" + variant("a", "1") +
			"    - {name: b, weight: 1, do: [{reply: {text: x}}, {reply: {text: y}}, " + send + "]}\n" + winner,
			[]string{"split.yaml:7: split.variants[1].do[1].reply: a campaign gives at most one passive reply"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadOne(t, tt.yaml)
			ps, ok := err.(Problems)
			if !ok {
				t.Fatalf("Load = %v, want problems:\n%s", err, tt.yaml)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s\nin:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"), tt.yaml)
			}
		})
	}
}

// TestReferralHoldZero: hold: 0s is allowed (qualify at once) and warned
// about for qualify_on: subscribe; a negative hold is refused.
func TestReferralHoldZero(t *testing.T) {
	program := func(hold, qualifyOn string) string {
		return "kind: CouponPool\nid: p\ntitle: t\ndiscount: {amount_fen: 100}\nstock: 10\nvalid_for: 1h\n---\n" +
			"kind: ReferralProgram\nid: r\nqualify_on: " + qualifyOn + "\nhold: " + hold + "\nreferrer_reward: {pool: p}\n"
	}
	for _, tt := range []struct {
		hold, qualifyOn string
		want            time.Duration
		warn            string
	}{
		{"0s", "subscribe", 0, "split.yaml:11: hold: 0s: an invitee qualifies the moment they follow, so an unfollow right after still counts, and a self-referral only the unionid shows (user/info answers after the follow) is not caught"},
		{"0", "subscribe", 0, "split.yaml:11: hold: 0s: an invitee qualifies"},
		{"0s", "first_redeem", 0, ""},
		{"24h", "subscribe", 24 * time.Hour, ""},
	} {
		set, err := loadOne(t, program(tt.hold, tt.qualifyOn))
		if err != nil {
			t.Errorf("hold %s: %v", tt.hold, err)
			continue
		}
		if got := set.Referrals[0].Hold; got != tt.want {
			t.Errorf("hold %s = %v, want %v", tt.hold, got, tt.want)
		}
		var warns []string
		for _, w := range set.Warnings {
			warns = append(warns, w.String())
		}
		if got := strings.Join(warns, "\n"); tt.warn == "" && got != "" || !strings.HasPrefix(got, tt.warn) {
			t.Errorf("hold %s, qualify_on %s: warnings %q, want %q", tt.hold, tt.qualifyOn, got, tt.warn)
		}
	}
	_, err := loadOne(t, program("-1h", "subscribe"))
	if err == nil || err.Error() != "split.yaml:11: hold: must be 0s (qualify at once) or more, got -1h" {
		t.Errorf("hold -1h: %v", err)
	}
}
