package engine_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/stores"
)

const locationCampaign = `
kind: Campaign
id: nearby
on: {event: location, within_km: 1, nearest: 1}
limits: {cooldown: 24h}
do:
  - send_template:
      template_id: TPL_STORE
      page: pages/store/index
      query: {id: "{{.Store.ID}}"}
      data: {thing1: "{{.Store.Name}}", thing2: "{{.Store.DistanceKM}} km"}
`

func location(openid string, at time.Time, lat, lng float64) *events.Event {
	return &events.Event{Type: events.Location, ToUser: "gh_x", OpenID: openid, CreatedAt: at, Lat: lat, Lng: lng, Precision: 30}
}

// TestLocationCampaign: a follower who shares a location a few hundred
// metres from a store gets that store's promotion with .Store filled and a
// deep link to the store page; the cooldown holds per follower and store;
// a store out of the radius is not promoted; a location message works too.
func TestLocationCampaign(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		list := []stores.Store{
			{ID: "sh-001", Name: "People's Square", Lat: 31.2304, Lng: 121.4737},
			{ID: "sh-002", Name: "Lujiazui", Lat: 31.2397, Lng: 121.4998},
		}
		if _, err := e.db.ImportStores(t.Context(), list, e.now, nil); err != nil {
			t.Fatal(err)
		}
		if err := e.eng.LoadStores(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.load(t, locationCampaign)
		e.handle(t, subscribe("o1", e.now, ""))

		// ~330 m north of People's Square.
		e.now = e.now.Add(time.Minute)
		e.handle(t, location("o1", e.now, 31.2334, 121.4737))
		ms := e.messages(t, "nearby", "o1")
		if len(ms) != 1 {
			t.Fatalf("messages after the first location = %d, want 1", len(ms))
		}
		var m outbox.Message
		if err := json.Unmarshal(ms[0].Payload, &m); err != nil {
			t.Fatal(err)
		}
		if m.Page != "pages/store/index?id=sh-001&omo_c=nearby&omo_m="+ms[0].ID || m.Data["thing1"] != "People's Square" || m.Data["thing2"] != "0.3 km" {
			t.Errorf("message = %+v, want the People's Square promotion 0.3 km away", m)
		}

		// Again near the same store within the cooldown: nothing.
		e.now = e.now.Add(time.Hour)
		e.handle(t, location("o1", e.now, 31.2310, 121.4740))
		// Near the other store: its own promotion (cooldown is per store).
		e.now = e.now.Add(time.Minute)
		e.handle(t, &events.Event{Type: events.LocationMsg, IsMessage: true, ToUser: "gh_x", OpenID: "o1", CreatedAt: e.now, MsgID: 99, Lat: 31.2400, Lng: 121.5000})
		// Far from both: nothing.
		e.now = e.now.Add(time.Minute)
		e.handle(t, location("o1", e.now, 39.9, 116.4))
		ms = e.messages(t, "nearby", "o1")
		if len(ms) != 2 {
			t.Fatalf("messages = %d, want 2 (one per store)", len(ms))
		}
		if err := json.Unmarshal(ms[1].Payload, &m); err != nil {
			t.Fatal(err)
		}
		if m.Data["thing1"] != "Lujiazui" {
			t.Errorf("second promotion for %q, want Lujiazui", m.Data["thing1"])
		}
		// After the cooldown the first store may be promoted again.
		e.now = e.now.Add(25 * time.Hour)
		e.handle(t, location("o1", e.now, 31.2334, 121.4737))
		if n := len(e.messages(t, "nearby", "o1")); n != 3 {
			t.Errorf("messages after the cooldown = %d, want 3", n)
		}
	})
}

// TestStoreStats: follows and scans through a store's QR code, coupons
// issued through it and redeemed at it are counted per store.
func TestStoreStats(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		if _, err := e.db.ImportStores(t.Context(), []stores.Store{{ID: "sh-001", Name: "A", Lat: 31.23, Lng: 121.47}}, e.now, nil); err != nil {
			t.Fatal(err)
		}
		e.load(t, `
kind: CouponPool
id: p
title: t
discount: {amount_fen: 100}
stock: 10
valid_for: 24h
---
kind: Campaign
id: welcome
on: {event: subscribe, scene_prefix: "store:"}
do: [{issue_coupon: {pool: p}}]
`)
		e.handle(t, subscribe("o1", e.now, "store:sh-001"))
		e.handle(t, subscribe("o2", e.now, "store:sh-001"))
		e.now = e.now.Add(time.Minute)
		e.handle(t, &events.Event{Type: events.Scan, ToUser: "gh_x", OpenID: "o1", CreatedAt: e.now, EventKey: "store:sh-001"})
		cps, err := e.db.CouponsOf(t.Context(), "o1")
		if err != nil || len(cps) != 1 || cps[0].IssuedStore != "sh-001" {
			t.Fatalf("o1 coupons = %+v, %v; want one issued through sh-001", cps, err)
		}
		if _, err := e.eng.Redeem(t.Context(), cps[0].Code, "sh-001"); err != nil {
			t.Fatal(err)
		}
		st, err := e.eng.StoreStats(t.Context(), "sh-001")
		if err != nil {
			t.Fatal(err)
		}
		want := stores.Stats{Scans: 1, Follows: 2, NewFollowers: 2, CouponsIssued: 2, CouponsRedeemed: 1}
		if st != want {
			t.Errorf("StoreStats = %+v, want %+v", st, want)
		}
		if _, err := e.eng.StoreStats(t.Context(), "nowhere"); !errs.Is(err, errs.NotFound) {
			t.Errorf("StoreStats(unknown) = %v, want NotFound", err)
		}
	})
}
