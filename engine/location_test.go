package engine_test

import (
	"encoding/json"
	"testing"
	"time"

	"omo/events"
	"omo/outbox"
	"omo/stores"
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
