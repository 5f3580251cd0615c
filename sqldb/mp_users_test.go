package sqldb

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/followers"
)

func TestSaveMPLogin(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	steps := []struct {
		name        string
		openid, uid string
		at          time.Time
		want        MPUser
		wantCreated bool
	}{
		{"first login without unionid", "mp1", "", t0, MPUser{OpenID: "mp1", FirstSeenAt: t0, LastLoginAt: t0}, true},
		{"a later login brings the unionid", "mp1", "u1", t1, MPUser{OpenID: "mp1", UnionID: "u1", FirstSeenAt: t0, LastLoginAt: t1}, false},
		{"a login without unionid keeps it", "mp1", "", t2, MPUser{OpenID: "mp1", UnionID: "u1", FirstSeenAt: t0, LastLoginAt: t2}, false},
		{"another user", "mp2", "u2", t1, MPUser{OpenID: "mp2", UnionID: "u2", FirstSeenAt: t1, LastLoginAt: t1}, true},
	}
	eachDB(t, func(t *testing.T, db *DB) {
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				var got *MPUser
				var created bool
				write(t, db, func(tx *Tx) (err error) {
					got, created, err = tx.SaveMPLogin(st.openid, st.uid, st.at)
					return err
				})
				if diff := cmp.Diff(&st.want, got); diff != "" || created != st.wantCreated {
					t.Errorf("SaveMPLogin created=%v (want %v) (-want +got):\n%s", created, st.wantCreated, diff)
				}
				read, err := db.MPUser(t.Context(), st.openid)
				if err != nil || !cmp.Equal(got, read) {
					t.Errorf("DB.MPUser = %+v, %v; want %+v", read, err, got)
				}
			})
		}
		if _, err := db.MPUser(t.Context(), "nobody"); !errs.Is(err, errs.NotFound) {
			t.Errorf("MPUser(nobody) = %v, want NotFound", err)
		}
	})
}

// TestSaveMPLoginConcurrent: many first logins of one openid at once make
// one row and exactly one of them reports it new.
func TestSaveMPLoginConcurrent(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		now := time.Now()
		var created atomic.Int64
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				var isNew bool
				err := db.Write(t.Context(), func(tx *Tx) (err error) {
					_, isNew, err = tx.SaveMPLogin("mp-same", "u-same", now)
					return err
				})
				if err != nil {
					t.Errorf("SaveMPLogin: %v", err)
				}
				if isNew {
					created.Add(1)
				}
			})
		}
		wg.Wait()
		var rows int
		if err := db.x.Get(&rows, `SELECT COUNT(*) FROM mp_users`); err != nil || rows != 1 || created.Load() != 1 {
			t.Errorf("rows = %d (%v), reported new = %d; want 1, 1", rows, err, created.Load())
		}
	})
}

func TestFollowerByUnionID(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	eachDB(t, func(t *testing.T, db *DB) {
		write(t, db, func(tx *Tx) error {
			for _, f := range []followers.Follower{
				{OpenID: "oa-none", Subscribed: true, FirstSeenAt: t0, LastEventAt: t0},
				{OpenID: "oa-1", UnionID: "u1", Subscribed: true, FirstSeenAt: t0, LastEventAt: t0},
			} {
				if err := tx.SaveFollower(&f); err != nil {
					return err
				}
			}
			return nil
		})
		for _, tt := range []struct{ unionid, want string }{{"u1", "oa-1"}, {"u-nobody", ""}, {"", ""}} {
			var got *followers.Follower
			err := db.Write(t.Context(), func(tx *Tx) (err error) { got, err = tx.FollowerByUnionID(tt.unionid); return err })
			switch {
			case tt.want == "" && !errs.Is(err, errs.NotFound):
				t.Errorf("FollowerByUnionID(%q) = %v, %v; want NotFound", tt.unionid, got, err)
			case tt.want != "" && (err != nil || got.OpenID != tt.want):
				t.Errorf("FollowerByUnionID(%q) = %v, %v; want %s", tt.unionid, got, err, tt.want)
			}
			read, rerr := db.FollowerByUnionID(t.Context(), tt.unionid)
			if errs.KindOf(rerr) != errs.KindOf(err) || !cmp.Equal(read, got) {
				t.Errorf("DB.FollowerByUnionID(%q) = %v, %v; Tx gave %v, %v", tt.unionid, read, rerr, got, err)
			}
		}
	})
}

// TestCouponsOfMPUser: a mini-program user sees their own coupons and those
// of the OA follower with their unionid, and nobody else's.
func TestCouponsOfMPUser(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	add := func(tx *Tx, code, openid string, at time.Time) error {
		return tx.AddCoupon(&coupons.Coupon{Code: code, Pool: "p", OpenID: openid, State: coupons.Issued,
			IssuedAt: at, ExpiresAt: at.Add(time.Hour), Title: "t"})
	}
	codes := func(cs []coupons.Coupon) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.Code)
		}
		return out
	}
	eachDB(t, func(t *testing.T, db *DB) {
		write(t, db, func(tx *Tx) error {
			for _, f := range []followers.Follower{
				{OpenID: "oa-alice", UnionID: "u-alice", Subscribed: true, FirstSeenAt: t0, LastEventAt: t0},
				{OpenID: "oa-bob", UnionID: "u-bob", Subscribed: true, FirstSeenAt: t0, LastEventAt: t0},
				{OpenID: "oa-nouid", Subscribed: true, FirstSeenAt: t0, LastEventAt: t0},
			} {
				if err := tx.SaveFollower(&f); err != nil {
					return err
				}
			}
			for _, c := range []struct{ code, openid string }{
				{"A1", "oa-alice"}, {"A2", "oa-alice"}, {"A3", "mp-alice"}, {"B1", "oa-bob"}, {"N1", "oa-nouid"}, {"C1", "mp-carol"},
			} {
				if err := add(tx, c.code, c.openid, t0.Add(time.Duration(len(c.code)+int(c.code[1]))*time.Minute)); err != nil {
					return err
				}
			}
			if _, _, err := tx.SaveMPLogin("mp-alice", "u-alice", t0); err != nil {
				return err
			}
			_, _, err := tx.SaveMPLogin("mp-carol", "", t0)
			return err
		})
		tests := []struct {
			openid string
			want   []string
		}{
			{"mp-alice", []string{"A3", "A2", "A1"}},
			{"mp-carol", []string{"C1"}}, // no unionid: only their own; never oa-nouid's
			{"mp-nobody", []string{}},
		}
		for _, tt := range tests {
			got, err := db.CouponsOfMPUser(t.Context(), tt.openid)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, codes(got)); diff != "" {
				t.Errorf("coupons of %s (-want +got):\n%s", tt.openid, diff)
			}
		}
	})
}
