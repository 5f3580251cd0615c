package engine_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/sqldb"
)

// setUnionID records what user/info would have told omo about openid.
func (e *env) setUnionID(t *testing.T, openid, unionid string) {
	t.Helper()
	if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error { return tx.SetUnionID(openid, unionid) }); err != nil {
		t.Fatal(err)
	}
}

func (e *env) login(t *testing.T, openid, unionid string) engine.Person {
	t.Helper()
	p, err := e.eng.Login(t.Context(), engine.MPLogin{OpenID: openid, UnionID: unionid})
	if err != nil {
		t.Fatalf("Login(%s, %s): %v", openid, unionid, err)
	}
	return p
}

func TestLoginLinksTheOAFollower(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.handle(t, subscribe("oa-alice", t0, ""))
		e.setUnionID(t, "oa-alice", "u-alice")

		steps := []struct {
			name            string
			openid, unionid string
			want            engine.Person
		}{
			{"alice's first login, same unionid as her follow", "mp-alice", "u-alice",
				engine.Person{MPOpenID: "mp-alice", OAOpenID: "oa-alice", UnionID: "u-alice", FirstLogin: true}},
			{"alice again, WeChat gives no unionid this time", "mp-alice", "",
				engine.Person{MPOpenID: "mp-alice", OAOpenID: "oa-alice", UnionID: "u-alice"}},
			{"bob: no follower with his unionid", "mp-bob", "u-bob",
				engine.Person{MPOpenID: "mp-bob", UnionID: "u-bob", FirstLogin: true}},
			{"carol: no unionid at all", "mp-carol", "",
				engine.Person{MPOpenID: "mp-carol", FirstLogin: true}},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				got := e.login(t, st.openid, st.unionid)
				if diff := cmp.Diff(st.want, got); diff != "" {
					t.Errorf("Login (-want +got):\n%s", diff)
				}
				later, err := e.eng.Person(t.Context(), st.openid)
				want := st.want
				want.FirstLogin = false
				if err != nil || later != want {
					t.Errorf("Person(%s) = %+v, %v; want %+v", st.openid, later, err, want)
				}
			})
		}
		// Bob follows the OA later: the link shows as soon as his unionid is known.
		e.handle(t, subscribe("oa-bob", t0.Add(time.Minute), ""))
		e.setUnionID(t, "oa-bob", "u-bob")
		if p, err := e.eng.Person(t.Context(), "mp-bob"); err != nil || p.OAOpenID != "oa-bob" {
			t.Errorf("Person(mp-bob) after his follow = %+v, %v; want oa-bob linked", p, err)
		}
		if _, err := e.eng.Person(t.Context(), "mp-nobody"); !errs.Is(err, errs.NotFound) {
			t.Errorf("Person(never logged in) = %v, want NotFound", err)
		}
		if _, err := e.eng.Login(t.Context(), engine.MPLogin{UnionID: "u-x"}); !errs.Is(err, errs.Invalid) {
			t.Errorf("Login without openid = %v, want Invalid", err)
		}
	})
}

func TestMyCoupons(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, welcomeCampaign) // valid_for: 1h
		follow := e.coupon(t, "oa-alice")
		e.setUnionID(t, "oa-alice", "u-alice")
		e.coupon(t, "oa-bob") // someone else's
		e.setUnionID(t, "oa-bob", "u-bob")
		// A coupon the mini-program user holds directly (e.g. a referral reward).
		e.now = e.now.Add(time.Minute)
		own := coupons.Coupon{Code: "MPOWN34679ACDEFG", Pool: "welcome-10", OpenID: "mp-alice",
			State: coupons.Issued, IssuedAt: e.now, ExpiresAt: e.now.Add(24 * time.Hour), Title: "own"}
		if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error { return tx.AddCoupon(&own) }); err != nil {
			t.Fatal(err)
		}
		e.login(t, "mp-alice", "u-alice")

		states := func() map[string]coupons.State {
			t.Helper()
			cps, err := e.eng.MyCoupons(t.Context(), "mp-alice")
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]coupons.State{}
			for _, c := range cps {
				out[c.Code] = c.State
			}
			return out
		}
		if diff := cmp.Diff(map[string]coupons.State{follow.Code: coupons.Issued, own.Code: coupons.Issued}, states()); diff != "" {
			t.Errorf("alice's coupons (-want +got):\n%s", diff)
		}

		e.now = e.now.Add(2 * time.Hour) // the welcome coupon's hour is over
		if diff := cmp.Diff(map[string]coupons.State{follow.Code: coupons.Expired, own.Code: coupons.Issued}, states()); diff != "" {
			t.Errorf("after the welcome coupon's expiry (-want +got):\n%s", diff)
		}
		if _, err := e.eng.Redeem(t.Context(), own.Code, "sh-001"); err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(48 * time.Hour) // redeemed stays redeemed past its expiry
		if diff := cmp.Diff(map[string]coupons.State{follow.Code: coupons.Expired, own.Code: coupons.Redeemed}, states()); diff != "" {
			t.Errorf("after redeeming (-want +got):\n%s", diff)
		}
		if cps, err := e.eng.MyCoupons(t.Context(), "mp-nobody"); err != nil || len(cps) != 0 || cps == nil {
			t.Errorf("MyCoupons(nobody) = %#v, %v; want an empty list", cps, err)
		}
	})
}

func TestTrack(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.load(t, welcomeCampaign)
		e.coupon(t, "oa-alice")
		e.coupon(t, "oa-bob")
		alice := e.only(t, "welcome", "oa-alice")
		bob := e.only(t, "welcome", "oa-bob")

		counted, err := e.eng.Track(t.Context(), "welcome", alice.ID, "pages/coupon/detail")
		if err != nil || !counted {
			t.Fatalf("first Track = %v, %v; want counted", counted, err)
		}
		for i := range 2 {
			if counted, err := e.eng.Track(t.Context(), "welcome", alice.ID, "pages/coupon/detail"); err != nil || counted {
				t.Errorf("Track again (%d) = %v, %v; want not counted, no error", i+1, counted, err)
			}
		}
		if got := e.stats(t, "welcome").Opened; got != 1 {
			t.Errorf("opened = %d, want 1", got)
		}
		if m, err := e.db.Message(t.Context(), alice.ID); err != nil || m.OpenedAt == nil || !m.OpenedAt.Equal(e.now) {
			t.Errorf("opened_at = %v, %v; want %s", m.OpenedAt, err, e.now)
		}

		bad := []struct {
			name              string
			campaign, message string
			kind              errs.Kind
		}{
			{"unknown message", "welcome", "0190f5d2-0000-7000-8000-000000000000", errs.NotFound},
			{"message of another campaign", "idle", bob.ID, errs.NotFound},
			{"no message", "welcome", "", errs.Invalid},
			{"no campaign", "", bob.ID, errs.Invalid},
		}
		for _, b := range bad {
			if counted, err := e.eng.Track(t.Context(), b.campaign, b.message, ""); !errs.Is(err, b.kind) || counted {
				t.Errorf("%s: Track = %v, %v; want %v", b.name, counted, err, b.kind)
			}
		}

		// Many opens of bob's message at once count once.
		var n atomic.Int64
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				counted, err := e.eng.Track(t.Context(), "welcome", bob.ID, "pages/coupon/detail")
				if err != nil {
					t.Errorf("Track: %v", err)
				}
				if counted {
					n.Add(1)
				}
			})
		}
		wg.Wait()
		if n.Load() != 1 || e.stats(t, "welcome").Opened != 2 {
			t.Errorf("concurrent opens counted %d times, opened = %d; want 1 and 2", n.Load(), e.stats(t, "welcome").Opened)
		}
	})
}
