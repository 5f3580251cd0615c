package main

import (
	"context"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
)

// expiringE2ESet issues a one-hour coupon on a follow through a store's QR
// code and reminds of it two hours before it expires: the coupon is inside
// the window as soon as it is issued, so the next scan of `omo serve` sends
// the reminder.
const expiringE2ESet = `kind: CouponPool
id: flash
title: "Flash ¥5"
discount: {amount_fen: 500}
stock: 10
per_follower: 1
valid_for: 1h
---
kind: Campaign
id: welcome
on: {event: subscribe, scene_prefix: "store:"}
do:
  - issue_coupon: {pool: flash}
---
kind: Campaign
id: expiring
on: {event: coupon_expiring, pool: flash, within: 2h}
do:
  - send_template:
      template_id: TPL_EXPIRING
      page: pages/coupon/detail
      query: {code: "{{.Coupon.Code}}"}
      data: {character_string1: "{{.Coupon.Code}}", thing2: "{{.Coupon.Title}}"}
`

// TestServeCouponExpiring: in the real `omo serve`, the reminder scan finds
// a coupon entering the coupon_expiring window, and the template message
// carrying its code reaches WeChat once.
func TestServeCouponExpiring(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			r := startCampaigns(t, d.URL, expiringE2ESet)
			pushOK(t, r.sim, r.follow("o-expiring"))
			cps := r.couponsOf(t, "o-expiring")
			if len(cps) != 1 {
				t.Fatalf("coupons = %d, want 1", len(cps))
			}
			code := cps[0].Code
			waitFor(t, 30*time.Second, "the reminder sent to WeChat", func() (bool, error) {
				return len(r.sim.Templates(testAppID)) > 0, nil
			})
			r.waitIdle(t, 15*time.Second)
			sent := r.sim.Templates(testAppID)
			if len(sent) != 1 || sent[0].ToUser != "o-expiring" || sent[0].TemplateID != "TPL_EXPIRING" || sent[0].Data["character_string1"] != code {
				t.Fatalf("template sends = %+v, want one TPL_EXPIRING to o-expiring with code %s", sent, code)
			}
			rs, err := r.db.RemindersOf(context.Background(), "expiring")
			if err != nil || len(rs) != 1 || rs[0].Code != code || rs[0].State != "fired" {
				t.Errorf("reminders = %+v, %v; want one fired for %s", rs, err, code)
			}
		})
	}
}
