package campaigns

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
)

// campaignFrom loads one campaign from its on: and when: in flow style, so
// the tests go through the decoder as a marketer's file does.
func campaignFrom(t *testing.T, on, when string) *Campaign {
	t.Helper()
	src := fmt.Sprintf("kind: Campaign\nid: c\non: %s\n", on)
	if when != "" {
		src += "when: " + when + "\n"
	}
	src += "do: [{tag: t}]\n---\nkind: CouponPool\nid: p\ntitle: P\ndiscount: {amount_fen: 100}\nstock: 1\nvalid_for: 24h\n"
	set, err := Load([]File{{"c.yaml", []byte(src)}})
	if err != nil {
		t.Fatalf("Load(%q): %v", src, err)
	}
	return set.Campaigns[0]
}

func subscribeEv(key string) *events.Event {
	return &events.Event{Type: events.Subscribe, EventKey: key}
}
func scanEv(key string) *events.Event { return &events.Event{Type: events.Scan, EventKey: key} }
func textEv(s string) *events.Event {
	return &events.Event{Type: events.Text, IsMessage: true, Content: s}
}
func clickEv(key string) *events.Event { return &events.Event{Type: events.Click, EventKey: key} }

func TestTriggerMatches(t *testing.T) {
	tests := []struct {
		name string
		on   string
		ev   *events.Event
		want bool
	}{
		// subscribe: the EventKey is qrscene_<scene>; omo strips the prefix.
		{"subscribe scene", `{event: subscribe, scene: "store:sh-001"}`, subscribeEv("qrscene_store:sh-001"), true},
		{"subscribe other scene", `{event: subscribe, scene: "store:sh-001"}`, subscribeEv("qrscene_store:sh-0011"), false},
		{"subscribe scene without QR code", `{event: subscribe, scene: "store:sh-001"}`, subscribeEv(""), false},
		{"subscribe prefix", `{event: subscribe, scene_prefix: "store:"}`, subscribeEv("qrscene_store:sh-002"), true},
		{"subscribe prefix other kind", `{event: subscribe, scene_prefix: "store:"}`, subscribeEv("qrscene_ref:abc"), false},
		{"subscribe any", `{event: subscribe}`, subscribeEv(""), true},
		{"subscribe any through QR", `{event: subscribe}`, subscribeEv("qrscene_ref:abc"), true},
		{"subscribe is not scan", `{event: subscribe, scene: "store:sh-001"}`, scanEv("store:sh-001"), false},
		// SCAN by a follower: the bare scene.
		{"scan scene", `{event: scan, scene: "store:sh-001"}`, scanEv("store:sh-001"), true},
		{"scan prefix", `{event: scan, scene_prefix: "store:"}`, scanEv("store:sh-009"), true},
		{"scan keeps a qrscene_ prefix", `{event: scan, scene: "store:sh-001"}`, scanEv("qrscene_store:sh-001"), false},
		{"scan is not subscribe", `{event: scan}`, subscribeEv("qrscene_store:sh-001"), false},
		// keyword: trimmed, case-insensitive.
		{"exact", `{event: keyword, text: coupon}`, textEv("coupon"), true},
		{"exact trimmed and any case", `{event: keyword, text: coupon}`, textEv("  COUPON \n"), true},
		{"exact trims the trigger too", `{event: keyword, text: "  Coupon "}`, textEv("coupon"), true},
		{"exact is whole", `{event: keyword, text: coupon}`, textEv("coupons"), false},
		{"exact Chinese", `{event: keyword, text: 优惠券}`, textEv(" 优惠券 "), true},
		{"contains", `{event: keyword, text: coupon, match: contains}`, textEv("Any COUPONS today?"), true},
		{"contains not", `{event: keyword, text: coupon, match: contains}`, textEv("优惠"), false},
		{"contains Chinese", `{event: keyword, text: 优惠, match: contains}`, textEv("有优惠券吗"), true},
		{"regex", `{event: keyword, text: "^(coupon|优惠券)s?$", match: regex}`, textEv("Coupons"), true},
		{"regex trimmed", `{event: keyword, text: "^(coupon|优惠券)s?$", match: regex}`, textEv(" 优惠券\n"), true},
		{"regex not", `{event: keyword, text: "^(coupon|优惠券)s?$", match: regex}`, textEv("coupon code"), false},
		{"regex unanchored", `{event: keyword, text: "\\d{6}", match: regex}`, textEv("my code is 123456!"), true},
		{"keyword ignores clicks", `{event: keyword, text: coupon}`, clickEv("coupon"), false},
		// menu_click: the key, as set in the menu.
		{"menu key", `{event: menu_click, key: MY_COUPONS}`, clickEv("MY_COUPONS"), true},
		{"menu key is exact", `{event: menu_click, key: MY_COUPONS}`, clickEv("my_coupons"), false},
		{"menu ignores views", `{event: menu_click, key: MY_COUPONS}`, &events.Event{Type: events.View, EventKey: "MY_COUPONS"}, false},
		// location: the LOCATION event or a location message.
		{"location event", `{event: location, within_km: 5}`, &events.Event{Type: events.Location, Lat: 31.2, Lng: 121.4}, true},
		{"location message", `{event: location, within_km: 5}`, &events.Event{Type: events.LocationMsg, IsMessage: true, Lat: 31.2, Lng: 121.4}, true},
		{"location ignores text", `{event: location, within_km: 5}`, textEv("location"), false},
		// schedule and coupon_expiring are not fired by pushes.
		{"schedule", `{event: schedule, cron: "0 9 * * *"}`, subscribeEv(""), false},
		{"coupon_expiring", `{event: coupon_expiring, pool: p, within: 24h}`, textEv("coupon"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := campaignFrom(t, tt.on, "")
			if got := c.On.Matches(tt.ev); got != tt.want {
				t.Errorf("on %s, event %+v: got %v, want %v", tt.on, tt.ev, got, tt.want)
			}
		})
	}
}

func TestAudienceMatches(t *testing.T) {
	// follower came first through scene; a store scene is also their home store.
	follower := func(scene string) *followers.Follower {
		return &followers.Follower{OpenID: "o1", FirstScene: scene, HomeStore: HomeStore(scene)}
	}
	tests := []struct {
		name, when string
		in         Input
		want       bool
	}{
		{"nobody excluded", `{}`, Input{}, true},
		{"tags_any one", `{tags_any: [vip, regular]}`, Input{Tags: []string{"regular"}}, true},
		{"tags_any none", `{tags_any: [vip, regular]}`, Input{Tags: []string{"staff"}}, false},
		{"tags_any no tags", `{tags_any: [vip]}`, Input{}, false},
		{"tags_all all", `{tags_all: [vip, opted-in]}`, Input{Tags: []string{"opted-in", "x", "vip"}}, true},
		{"tags_all some", `{tags_all: [vip, opted-in]}`, Input{Tags: []string{"vip"}}, false},
		{"tags_none has", `{tags_none: [staff]}`, Input{Tags: []string{"vip", "staff"}}, false},
		{"tags_none has not", `{tags_none: [staff]}`, Input{Tags: []string{"vip"}}, true},
		{"tags_none no tags", `{tags_none: [staff]}`, Input{}, true},
		{"tags are exact", `{tags_any: [VIP]}`, Input{Tags: []string{"vip"}}, false},
		{"all three", `{tags_any: [a, b], tags_all: [c], tags_none: [d]}`, Input{Tags: []string{"b", "c"}}, true},
		{"all three, excluded", `{tags_any: [a, b], tags_all: [c], tags_none: [d]}`, Input{Tags: []string{"b", "c", "d"}}, false},
		{"new follower wanted, new", `{new_follower: true}`, Input{Change: followers.Change{New: true}}, true},
		{"new follower wanted, returning", `{new_follower: true}`, Input{Change: followers.Change{Refollowed: true}}, false},
		{"returning wanted, returning", `{new_follower: false}`, Input{Change: followers.Change{Refollowed: true}}, true},
		{"returning wanted, new", `{new_follower: false}`, Input{Change: followers.Change{New: true}}, false},
		{"first_scene", `{first_scene: "store:sh-001"}`, Input{Follower: follower("store:sh-001")}, true},
		{"first_scene other", `{first_scene: "store:sh-001"}`, Input{Follower: follower("store:sh-0012")}, false},
		{"first_scene no follower", `{first_scene: "store:sh-001"}`, Input{}, false},
		{"first_scene_prefix", `{first_scene_prefix: "ref:"}`, Input{Follower: follower("ref:ABC")}, true},
		{"first_scene_prefix other", `{first_scene_prefix: "ref:"}`, Input{Follower: follower("store:sh-001")}, false},
		{"first_scene_prefix never scanned", `{first_scene_prefix: "ref:"}`, Input{Follower: follower("")}, false},
		{"home store", `{store: sh-001}`, Input{Follower: follower("store:sh-001")}, true},
		{"home store other", `{store: sh-001}`, Input{Follower: follower("store:sh-002")}, false},
		{"home store only from store scenes", `{store: sh-001}`, Input{Follower: follower("ref:sh-001")}, false},
		{"home store none", `{store: sh-001}`, Input{Follower: follower("")}, false},
		{"home store after a referral", `{store: sh-001}`, Input{Follower: &followers.Follower{OpenID: "o1", FirstScene: "ref:ABC", HomeStore: "sh-001"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := campaignFrom(t, "{event: subscribe}", tt.when)
			if got := c.When.Matches(&tt.in); got != tt.want {
				t.Errorf("when %s, input %+v: got %v, want %v", tt.when, tt.in, got, tt.want)
			}
		})
	}
}

func TestScheduleAudience(t *testing.T) {
	c := campaignFrom(t, `{event: schedule, cron: "0 9 * * 1"}`, `{tags_any: [vip], store: [sh-001, sh-002], inactive_for: 30d, near: {store: sh-001, within_km: 3}}`)
	a := c.When
	if a.TagsAny[0] != "vip" || !slices.Equal(a.Stores, []string{"sh-001", "sh-002"}) || a.InactiveFor != 30*24*time.Hour || a.Near == nil || a.Near.WithinKM != 3 {
		t.Errorf("schedule audience = %+v", a)
	}
	if !a.NeedsTags() || (&Audience{}).NeedsTags() {
		t.Error("NeedsTags: want true with tags, false without")
	}
	if !a.SQLOnly() || (&Audience{TagsAny: []string{"x"}}).SQLOnly() {
		t.Error("SQLOnly: want true with inactive_for and near, false with tags alone")
	}
}

func TestHomeStore(t *testing.T) {
	for scene, want := range map[string]string{
		"store:sh-001": "sh-001",
		"store:":       "",
		"ref:ABC":      "",
		"":             "",
		"shop:sh-001":  "",
		"store:a:b":    "a:b",
	} {
		if got := HomeStore(scene); got != want {
			t.Errorf("HomeStore(%q) = %q, want %q", scene, got, want)
		}
	}
}

// TestWindow: window times carry their zone and compare as instants. The
// end is inclusive.
func TestWindow(t *testing.T) {
	c := campaignFrom(t, "{event: subscribe}", "")
	set, err := Load([]File{{"w.yaml", []byte("kind: Campaign\nid: w\n" +
		"window: {start: 2026-12-01T00:00:00+08:00, end: 2027-01-31T23:59:59+08:00}\n" +
		"on: {event: subscribe}\ndo: [{tag: t}]\n")}})
	if err != nil {
		t.Fatal(err)
	}
	w := set.Campaigns[0]
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		now  string
		want bool
	}{
		{"2026-11-30T15:59:59Z", false}, // 23:59:59 in Shanghai, the day before the start
		{"2026-11-30T16:00:00Z", true},  // the start: 2026-12-01 00:00 in Shanghai
		{"2027-01-15T12:00:00Z", true},
		// 16:00Z on Jan 30 is 00:00 on Jan 31 in Shanghai, the end's own
		// day: inside.
		{"2027-01-30T16:00:00Z", true},
		{"2027-01-31T15:59:59Z", true}, // the end itself
		// 16:00Z one day later is 00:00 on Feb 1 in Shanghai: outside,
		// though it is still Jan 31 in UTC.
		{"2027-01-31T16:00:00Z", false},
		{"2027-01-31T23:59:59+08:00", true},
		{"2027-02-01T00:00:00+08:00", false},
		{"2027-01-31T10:59:59-05:00", true}, // the end, seen from New York
		{"2027-01-31T11:00:00-05:00", false},
	}
	for _, tt := range tests {
		if got := w.Active(utc(tt.now)); got != tt.want {
			t.Errorf("Active(%s) = %v, want %v (window %v .. %v)", tt.now, got, tt.want, w.Start, w.End)
		}
	}
	if !c.Active(time.Time{}) || !c.Active(utc("2099-01-01T00:00:00Z")) {
		t.Error("a campaign without a window is always active")
	}

	// Matches needs the window, the trigger and the audience.
	in := &Input{Event: subscribeEv(""), Now: utc("2027-01-30T16:00:00Z")}
	if !w.Matches(in) {
		t.Error("Matches inside the window = false")
	}
	in.Now = utc("2027-01-31T16:00:00Z")
	if w.Matches(in) {
		t.Error("Matches after the window = true")
	}
	in.Now, in.Event = utc("2027-01-30T16:00:00Z"), scanEv("x")
	if w.Matches(in) {
		t.Error("Matches with another event = true")
	}
}

func TestMatchesAudience(t *testing.T) {
	c := campaignFrom(t, `{event: subscribe, scene_prefix: "store:"}`, `{tags_none: [staff], new_follower: true}`)
	in := &Input{Event: subscribeEv("qrscene_store:sh-001"), Change: followers.Change{New: true}}
	if !c.Matches(in) {
		t.Error("a new follower through a store code: want a match")
	}
	in.Tags = []string{"staff"}
	if c.Matches(in) {
		t.Error("staff: want no match")
	}
}
