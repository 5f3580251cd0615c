package sqldb

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/stores"
)

// audienceOf decodes a schedule campaign with when (YAML) through the real
// loader and returns its audience.
func audienceOf(t *testing.T, when string) *campaigns.Audience {
	t.Helper()
	src := fmt.Sprintf("kind: Campaign\nid: c\non: {event: schedule, cron: \"0 10 * * *\"}\nwhen: %s\ndo: [{tag: t}]\n", when)
	src += "---\nkind: CouponPool\nid: p10\ntitle: P\ndiscount: {amount_fen: 1000}\nstock: 100\nvalid_for: 24h\n"
	set, err := campaigns.Load([]campaigns.File{{Name: "c.yaml", Data: []byte(src)}})
	if err != nil {
		t.Fatalf("Load(when: %s): %v", when, err)
	}
	return &set.Campaigns[0].When
}

// seedAudience writes a small follower base where each follower differs
// from the others in one thing an audience filter looks at.
func seedAudience(t *testing.T, db *DB, now time.Time) {
	t.Helper()
	day := 24 * time.Hour
	at := func(d time.Duration) *time.Time { x := now.Add(-d); return &x }
	people := []followers.Follower{
		{OpenID: "o-old-vip", Subscribed: true, SubscribedAt: at(400 * day), FirstScene: "store:sh-001", HomeStore: "sh-001", LastEventAt: *at(1 * day)},
		{OpenID: "o-new-bj", Subscribed: true, SubscribedAt: at(2 * day), FirstScene: "store:bj-001", HomeStore: "bj-001", LastEventAt: *at(2 * day)},
		{OpenID: "o-ref-idle", Subscribed: true, SubscribedAt: at(100 * day), FirstScene: "ref:ABCD", LastEventAt: *at(60 * day)},
		{OpenID: "o-search", Subscribed: true, SubscribedAt: at(30 * day), LastEventAt: *at(10 * day)},
		{OpenID: "o-gone", Subscribed: false, SubscribedAt: at(50 * day), UnsubscribedAt: at(5 * day), FirstScene: "store:sh-001", HomeStore: "sh-001", LastEventAt: *at(5 * day)},
		{OpenID: "o-STORE-case", Subscribed: true, SubscribedAt: at(10 * day), FirstScene: "STORE:sh-001", LastEventAt: *at(3 * day)},
	}
	write(t, db, func(tx *Tx) error {
		for i := range people {
			p := people[i]
			p.FirstSeenAt = *p.SubscribedAt
			if err := tx.SaveFollower(&p); err != nil {
				return err
			}
		}
		for _, tg := range [][2]string{{"o-old-vip", "vip"}, {"o-old-vip", "opted-in"}, {"o-new-bj", "opted-in"}, {"o-search", "staff"}, {"o-gone", "vip"}} {
			if err := tx.SetTag(tg[0], tg[1], true); err != nil {
				return err
			}
		}
		// People's Square (sh-001) and a point 2.2 km east of it; Beijing far away.
		if err := tx.SaveLocation("o-old-vip", 31.2304, 121.4737, 10, now); err != nil {
			return err
		}
		if err := tx.SaveLocation("o-search", 31.2304, 121.4967, 10, now); err != nil {
			return err
		}
		if err := tx.SaveLocation("o-new-bj", 39.9087, 116.3975, 10, now); err != nil {
			return err
		}
		for _, c := range []struct {
			code, openid, state string
			expires             time.Time
		}{
			{"C-VIP-UNUSED", "o-old-vip", "issued", now.Add(day)},
			{"C-BJ-EXPIRED", "o-new-bj", "issued", now.Add(-time.Hour)},
			{"C-REF-USED", "o-ref-idle", "redeemed", now.Add(day)},
		} {
			_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO coupons (code, pool_id, openid, state, issued_at, expires_at) VALUES (?, 'p10', ?, ?, ?, ?)`),
				c.code, c.openid, c.state, ts(now.Add(-day)), ts(c.expires))
			if err != nil {
				return err
			}
		}
		_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO campaign_reached (campaign_id, openid) VALUES ('c', 'o-search'), ('other', 'o-new-bj')`))
		return err
	})
	_, err := db.ImportStores(t.Context(), []stores.Store{{ID: "sh-001", Name: "People's Square", Lat: 31.2304, Lng: 121.4737}}, now, nil)
	if err != nil {
		t.Fatalf("ImportStores: %v", err)
	}
}

func TestAudienceFilters(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		when string
		want []string
	}{
		{`{}`, []string{"o-STORE-case", "o-new-bj", "o-old-vip", "o-ref-idle", "o-search"}},
		{`{tags_any: [vip, staff]}`, []string{"o-old-vip", "o-search"}},
		{`{tags_all: [vip, opted-in]}`, []string{"o-old-vip"}},
		{`{tags_none: [staff, vip]}`, []string{"o-STORE-case", "o-new-bj", "o-ref-idle"}},
		{`{store: sh-001}`, []string{"o-old-vip"}},
		{`{store: [sh-001, bj-001]}`, []string{"o-new-bj", "o-old-vip"}},
		{`{first_scene: "ref:ABCD"}`, []string{"o-ref-idle"}},
		{`{first_scene_prefix: "store:"}`, []string{"o-new-bj", "o-old-vip"}},
		{`{followed_before: 2026-09-01T00:00:00+08:00}`, []string{"o-old-vip", "o-ref-idle"}},
		{`{followed_after: 45d}`, []string{"o-STORE-case", "o-new-bj", "o-search"}},
		{`{followed_after: 45d, followed_before: 5d}`, []string{"o-STORE-case", "o-search"}},
		{`{active_within: 7d}`, []string{"o-STORE-case", "o-new-bj", "o-old-vip"}},
		{`{inactive_for: 30d}`, []string{"o-ref-idle"}},
		{`{active_within: 30d, inactive_for: 5d}`, []string{"o-search"}},
		{`{near: {store: sh-001, within_km: 3}}`, []string{"o-old-vip", "o-search"}},
		{`{near: {store: sh-001, within_km: 1}}`, []string{"o-old-vip"}},
		{`{has_unused_coupon: p10}`, []string{"o-old-vip"}},
		{`{no_unused_coupon: p10}`, []string{"o-STORE-case", "o-new-bj", "o-ref-idle", "o-search"}},
		{`{never_received: true}`, []string{"o-STORE-case", "o-new-bj", "o-old-vip", "o-ref-idle"}},
		{`{tags_any: [opted-in], active_within: 7d, first_scene_prefix: "store:", no_unused_coupon: p10}`, []string{"o-new-bj"}},
	}
	eachDB(t, func(t *testing.T, db *DB) {
		seedAudience(t, db, now)
		for _, tt := range tests {
			a, err := db.CompileAudience(t.Context(), audienceOf(t, tt.when), "c", now)
			if err != nil {
				t.Fatalf("CompileAudience(%s): %v", tt.when, err)
			}
			got, err := db.SampleAudience(t.Context(), a, 100)
			if err != nil {
				t.Fatalf("SampleAudience(%s): %v", tt.when, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("when %s: got %v, want %v", tt.when, got, tt.want)
			}
			n, err := db.CountAudience(t.Context(), a)
			if err != nil || n != int64(len(tt.want)) {
				t.Errorf("when %s: CountAudience = %d, %v; want %d", tt.when, n, err, len(tt.want))
			}
			for _, id := range []string{"o-old-vip", "o-gone"} {
				var in bool
				write(t, db, func(tx *Tx) error { in, err = tx.InAudience(a, id); return err })
				if want := slices.Contains(tt.want, id); in != want {
					t.Errorf("when %s: InAudience(%s) = %v, want %v", tt.when, id, in, want)
				}
			}
		}
	})
}

func TestAudienceUnknownStore(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		_, err := db.CompileAudience(t.Context(), audienceOf(t, `{near: {store: nowhere, within_km: 3}}`), "c", time.Now())
		if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), `when.near.store: no store "nowhere"`) {
			t.Errorf("CompileAudience(near an unknown store) = %v; want Invalid naming when.near.store", err)
		}
	})
}
