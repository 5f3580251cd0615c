package engine_test

import (
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

const welcomeCampaign = `
kind: CouponPool
id: welcome-10
title: "¥10 off"
discount: {amount_fen: 1000, min_spend_fen: 5000}
stock: 100
per_follower: 1
valid_for: 1h
---
kind: Campaign
id: welcome
on: {event: subscribe}
do:
  - reply: {text: "welcome"}
  - issue_coupon: {pool: welcome-10}
  - send_template:
      template_id: TPL
      page: pages/coupon/detail
      query: {code: "{{.Coupon.Code}}"}
      data: {thing1: "{{.Coupon.Title}}"}
---
kind: Campaign
id: idle
on: {event: menu_click, key: NEVER}
do: [{reply: {text: "never"}}]
`

// coupon makes openid follow (firing welcome) and returns their coupon.
func (e *env) coupon(t *testing.T, openid string) coupons.Coupon {
	t.Helper()
	e.handle(t, subscribe(openid, e.now, ""))
	cps, err := e.db.CouponsOf(t.Context(), openid)
	if err != nil || len(cps) != 1 {
		t.Fatalf("coupons of %s = %v, %v; want 1", openid, cps, err)
	}
	return cps[0]
}

func TestRedeem(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, welcomeCampaign)
		c := e.coupon(t, "o1")
		old := e.coupon(t, "o2")
		edge := e.coupon(t, "o3")

		e.now = e.now.Add(30 * time.Minute)
		got, err := e.eng.Redeem(t.Context(), c.Code, "sh-001")
		if err != nil {
			t.Fatalf("first Redeem: %v", err)
		}
		if got.State != coupons.Redeemed || got.StoreID != "sh-001" || got.RedeemedAt == nil || !got.RedeemedAt.Equal(e.now) || got.Pool != "welcome-10" || got.Title != "¥10 off" {
			t.Errorf("Redeem = %+v, want redeemed at sh-001 at %s", got, e.now)
		}
		for _, at := range []string{"sh-001", "bj-002"} {
			if _, err := e.eng.Redeem(t.Context(), c.Code, at); !errs.Is(err, errs.Conflict) {
				t.Errorf("second Redeem at %s = %v, want Conflict", at, err)
			}
		}
		cps, _ := e.db.CouponsOf(t.Context(), "o1")
		if cps[0].State != coupons.Redeemed || cps[0].StoreID != "sh-001" {
			t.Errorf("stored coupon = %s at %q, want redeemed at sh-001", cps[0].State, cps[0].StoreID)
		}

		if _, err := e.eng.Redeem(t.Context(), "NOSUCHCODE234567", "sh-001"); !errs.Is(err, errs.NotFound) {
			t.Errorf("Redeem of an unknown code = %v, want NotFound", err)
		}

		// The coupons were issued for an hour.
		e.now = edge.ExpiresAt
		if _, err := e.eng.Redeem(t.Context(), edge.Code, "sh-001"); !errs.Is(err, errs.Expired) {
			t.Errorf("Redeem at the expiry instant = %v, want Expired", err)
		}
		e.now = old.ExpiresAt.Add(time.Hour)
		for i := range 2 {
			if _, err := e.eng.Redeem(t.Context(), old.Code, "sh-001"); !errs.Is(err, errs.Expired) {
				t.Errorf("Redeem %d of an expired coupon = %v, want Expired", i+1, err)
			}
		}
		cps, _ = e.db.CouponsOf(t.Context(), "o2")
		if cps[0].State != coupons.Expired || cps[0].RedeemedAt != nil {
			t.Errorf("stored expired coupon = %s, redeemed_at %v; want expired, never redeemed", cps[0].State, cps[0].RedeemedAt)
		}
		// A redeemed coupon stays redeemed after its expiry.
		if _, err := e.eng.Redeem(t.Context(), c.Code, "sh-001"); !errs.Is(err, errs.Conflict) {
			t.Errorf("Redeem of a redeemed coupon after expiry = %v, want Conflict", err)
		}
	})
}

func TestRedeemConcurrent(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, welcomeCampaign)
		c := e.coupon(t, "o1")
		const n = 10
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			errc  = make(chan error, n)
		)
		for range n {
			wg.Go(func() {
				<-start
				_, err := e.eng.Redeem(t.Context(), c.Code, "sh-001")
				errc <- err
			})
		}
		close(start)
		wg.Wait()
		close(errc)
		ok, conflict := 0, 0
		for err := range errc {
			switch {
			case err == nil:
				ok++
			case errs.Is(err, errs.Conflict):
				conflict++
			default:
				t.Errorf("Redeem = %v, want nil or Conflict", err)
			}
		}
		if ok != 1 || conflict != n-1 {
			t.Errorf("%d redeemed, %d conflicts; want 1 and %d", ok, conflict, n-1)
		}
		if st := e.stats(t, "welcome"); st.CouponsRedeemed != 1 {
			t.Errorf("coupons_redeemed = %d, want 1", st.CouponsRedeemed)
		}
	})
}

func TestCampaignStats(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, welcomeCampaign)
		var msgs []outbox.MessageRow
		var codes []string
		for _, openid := range []string{"o1", "o2", "o3", "o4"} {
			codes = append(codes, e.coupon(t, openid).Code)
			msgs = append(msgs, e.only(t, "welcome", openid))
		}
		// o1 delivered and opened, o2 sent then reported failed, o3 failed
		// at send, o4 still pending.
		if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
			for i, m := range msgs[:2] {
				if err := tx.MarkSent(m.ID, int64(3001+i), outbox.SendTemplate, "", e.now); err != nil {
					return err
				}
			}
			if _, err := tx.MarkDelivery("o1", 3001, "success", e.now); err != nil {
				return err
			}
			if _, err := tx.MarkDelivery("o2", 3002, "failed:user block", e.now); err != nil {
				return err
			}
			if _, err := tx.MarkOpened(msgs[0].ID, "welcome", e.now); err != nil {
				return err
			}
			return tx.MarkFailed(msgs[2].ID, 43004, "not a follower")
		}); err != nil {
			t.Fatal(err)
		}
		for _, code := range codes[:2] {
			if _, err := e.eng.Redeem(t.Context(), code, "sh-001"); err != nil {
				t.Fatal(err)
			}
		}
		want := campaigns.Stats{Fired: 4, Sent: 2, Delivered: 1, Failed: 2, Opened: 1, CouponsIssued: 4, CouponsRedeemed: 2}
		if got := e.stats(t, "welcome"); got != want {
			t.Errorf("stats = %+v, want %+v", got, want)
		}
		if got := e.stats(t, "idle"); got != (campaigns.Stats{}) {
			t.Errorf("stats of a campaign that never fired = %+v, want zeros", got)
		}
		if _, err := e.eng.CampaignStats(t.Context(), "no-such-campaign"); !errs.Is(err, errs.NotFound) {
			t.Errorf("stats of an unknown campaign: %v, want NotFound", err)
		}

		// Taken out of the running set, its history is still counted.
		e.load(t, `
kind: Campaign
id: other
on: {event: menu_click, key: X}
do: [{reply: {text: "x"}}]
`)
		if got := e.stats(t, "welcome"); got != want {
			t.Errorf("stats after the campaign was removed = %+v, want %+v", got, want)
		}
		if _, err := e.eng.CampaignStats(t.Context(), "idle"); !errs.Is(err, errs.NotFound) {
			t.Errorf("stats of a removed campaign that never fired: %v, want NotFound", err)
		}
	})
}
