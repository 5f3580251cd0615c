package sqldb

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/internal/testenv"
)

func TestFollowerSyncLease(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		s, err := db.FollowerSync(ctx)
		if err != nil || s.Pass != 0 || s.Running || s.LeaseOwner != "" {
			t.Fatalf("fresh state = %+v, %v", s, err)
		}
		claim := func(owner string, now time.Time) bool {
			t.Helper()
			_, ok, err := db.ClaimFollowerSync(ctx, owner, now, now.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !claim("a", t0) || claim("b", t0.Add(30*time.Second)) || !claim("a", t0.Add(30*time.Second)) {
			t.Fatal("a claims, b is refused while a holds the lease, a renews")
		}
		s, err = db.BeginFollowerPass(ctx, "a", t0)
		if err != nil || s.Pass != 1 || !s.Running || !s.PassStartedAt.Equal(t0) {
			t.Fatalf("BeginFollowerPass = %+v, %v; want pass 1 running since %v", s, err, t0)
		}
		if _, err := db.BeginFollowerPass(ctx, "b", t0); !errs.Is(err, errs.Conflict) {
			t.Errorf("BeginFollowerPass without the lease = %v, want Conflict", err)
		}
		// a's lease (renewed to t0+90s) runs out; b takes over the pass.
		if claim("b", t0.Add(89*time.Second)) || !claim("b", t0.Add(91*time.Second)) {
			t.Fatal("b must get the lease only after a's ends")
		}
		if s, err = db.BeginFollowerPass(ctx, "b", t0.Add(time.Hour)); err != nil || s.Pass != 1 || !s.PassStartedAt.Equal(t0) {
			t.Errorf("BeginFollowerPass on a running pass = %+v, %v; want pass 1 continued", s, err)
		}
		err = db.Write(ctx, func(tx *Tx) error { return tx.CheckpointFollowerSync("a", 1, "o9", 10, 10, t0, t0) })
		if !errs.Is(err, errs.Conflict) {
			t.Errorf("checkpoint by a after losing the lease = %v, want Conflict", err)
		}
		if err := db.RenewFollowerSync(ctx, "a", t0, t0.Add(time.Minute)); !errs.Is(err, errs.Conflict) {
			t.Errorf("renew by a = %v, want Conflict", err)
		}
		retry := t0.Add(24 * time.Hour)
		if err := db.StopFollowerSync(ctx, "b", "WeChat 45009", &retry, t0); err != nil {
			t.Fatal(err)
		}
		s, _ = db.FollowerSync(ctx)
		if s.LeaseOwner != "" || s.LastError != "WeChat 45009" || !s.RetryAt.Equal(retry) || !s.Running {
			t.Errorf("after stop: %+v", s)
		}
		if !claim("a", t0) {
			t.Error("a cannot claim a released lease")
		}
		if err := db.ReleaseFollowerSync(ctx, "a", t0); err != nil {
			t.Fatal(err)
		}
		if s, _ = db.FollowerSync(ctx); s.LeaseOwner != "" {
			t.Errorf("lease owner after release = %q", s.LeaseOwner)
		}
	})
}

// syncPage stores list as one page of pass for owner, as the syncer does.
func syncPage(t *testing.T, db *DB, owner string, pass int64, list []followers.Synced, next string, now time.Time) {
	t.Helper()
	write(t, db, func(tx *Tx) error {
		ids := make([]string, len(list))
		for i, s := range list {
			ids[i] = s.OpenID
		}
		prev, err := tx.FollowersByOpenID(ids)
		if err != nil {
			return err
		}
		out := make([]followers.Follower, len(list))
		for i, s := range list {
			out[i] = followers.Reconcile(prev[s.OpenID], s, now)
		}
		if err := tx.SaveSyncedFollowers(out, pass); err != nil {
			return err
		}
		if err := tx.ReplaceSyncedTags(list); err != nil {
			return err
		}
		return tx.CheckpointFollowerSync(owner, pass, next, len(list), len(list), now, now.Add(time.Minute))
	})
}

func tagsOf(t *testing.T, db *DB, openid string) []string {
	t.Helper()
	var tags []string
	write(t, db, func(tx *Tx) (err error) { tags, err = tx.Tags(openid); return err })
	return tags
}

func TestFollowerSyncPass(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		old := t0.Add(-30 * 24 * time.Hour)
		// Known from the webhook: o1 (tagged by a campaign), o2 (will be
		// missing from WeChat's list), o3 (unfollowed), o4 (follows after
		// the pass begins).
		write(t, db, func(tx *Tx) error {
			for _, f := range []followers.Follower{
				{OpenID: "o1", Subscribed: true, SubscribedAt: &old, FirstSeenAt: old, FirstScene: "ref:AB", LastEventAt: old},
				{OpenID: "o2", Subscribed: true, SubscribedAt: &old, FirstSeenAt: old, LastEventAt: old},
				{OpenID: "o3", Subscribed: false, SubscribedAt: &old, UnsubscribedAt: &old, FirstSeenAt: old, LastEventAt: old},
			} {
				if err := tx.SaveFollower(&f); err != nil {
					return err
				}
			}
			return tx.SetTag("o1", "campaign-tag", true)
		})
		if _, ok, err := db.ClaimFollowerSync(ctx, "a", t0, t0.Add(time.Minute)); err != nil || !ok {
			t.Fatal(ok, err)
		}
		s, err := db.BeginFollowerPass(ctx, "a", t0)
		if err != nil {
			t.Fatal(err)
		}
		// 1,200 new followers: the statements go in pieces of 500.
		var page []followers.Synced
		page = append(page, followers.Synced{OpenID: "o1", UnionID: "u1", SubscribedAt: old, QRScene: "store:sh-001", Tags: []string{"vip", "vip"}})
		for i := range 1200 {
			page = append(page, followers.Synced{OpenID: fmt.Sprintf("n%04d", i), SubscribedAt: old.Add(time.Duration(i) * time.Second),
				QRScene: "store:bj-001", Tags: []string{"member"}})
		}
		syncPage(t, db, "a", s.Pass, page, "n1199", t0)
		f, err := db.Follower(ctx, "o1")
		if err != nil {
			t.Fatal(err)
		}
		want := followers.Follower{OpenID: "o1", UnionID: "u1", Subscribed: true, SubscribedAt: &old, FirstSeenAt: old, FirstScene: "ref:AB", HomeStore: "sh-001", LastEventAt: old}
		if diff := cmp.Diff(&want, f); diff != "" {
			t.Errorf("o1 (-want +got):\n%s", diff)
		}
		if got := tagsOf(t, db, "o1"); !slices.Equal(got, []string{"campaign-tag", "vip"}) {
			t.Errorf("o1 tags = %v, want the campaign's and the synced one", got)
		}
		n, err := db.Follower(ctx, "n1199")
		if err != nil || n.HomeStore != "bj-001" || !n.FirstSeenAt.Equal(t0) || !n.SubscribedAt.Equal(old.Add(1199*time.Second)) {
			t.Errorf("n1199 = %+v, %v", n, err)
		}
		st, _ := db.FollowerSync(ctx)
		if st.NextOpenID != "n1199" || st.Pages != 1 || st.Synced != 1201 || st.Total != 1201 {
			t.Errorf("state after a page = %+v", st)
		}

		// o4 follows through the webhook while the pass runs.
		during := t0.Add(time.Minute)
		write(t, db, func(tx *Tx) error {
			return tx.SaveFollower(&followers.Follower{OpenID: "o4", Subscribed: true, SubscribedAt: &during, FirstSeenAt: during, LastEventAt: during})
		})
		marked, err := db.CompleteFollowerPass(ctx, "a", s.Pass, t0, t0.Add(2*time.Minute))
		if err != nil || marked != 1 {
			t.Fatalf("CompleteFollowerPass = %d, %v; want 1 (o2)", marked, err)
		}
		for openid, want := range map[string]bool{"o1": true, "o2": false, "o3": false, "o4": true, "n0000": true} {
			f, err := db.Follower(ctx, openid)
			if err != nil || f.Subscribed != want {
				t.Errorf("%s subscribed = %v (%v), want %v", openid, f.Subscribed, err, want)
			}
		}
		if f, _ := db.Follower(ctx, "o2"); f.UnsubscribedAt == nil || !f.UnsubscribedAt.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("o2 unsubscribed_at = %v", f.UnsubscribedAt)
		}
		st, _ = db.FollowerSync(ctx)
		if st.Running || st.NextOpenID != "" || st.Unfollowed != 1 || st.CompletedAt == nil {
			t.Errorf("state after completion = %+v", st)
		}

		// Pass 2: WeChat dropped vip from o1 and lists nobody else.
		s, err = db.BeginFollowerPass(ctx, "a", t0.Add(time.Hour))
		if err != nil || s.Pass != 2 || s.Pages != 0 || s.Synced != 0 {
			t.Fatalf("second pass = %+v, %v", s, err)
		}
		syncPage(t, db, "a", 2, []followers.Synced{{OpenID: "o1", SubscribedAt: old}}, "o1", t0.Add(time.Hour))
		if got := tagsOf(t, db, "o1"); !slices.Equal(got, []string{"campaign-tag"}) {
			t.Errorf("o1 tags after WeChat dropped vip = %v, want the campaign's only", got)
		}
		marked, err = db.CompleteFollowerPass(ctx, "a", 2, t0.Add(time.Hour), t0.Add(time.Hour))
		if err != nil || marked != 1201 {
			t.Errorf("second completion = %d, %v; want 1201 (the n* followers and o4)", marked, err)
		}
		if _, err := db.CompleteFollowerPass(ctx, "a", 2, t0, t0); !errs.Is(err, errs.Conflict) {
			t.Errorf("completing a completed pass = %v, want Conflict", err)
		}
	})
}

// BenchmarkFollowerSyncPage stores one 10,000-follower page (all new, then
// all known) as the syncer does: one transaction through the committer.
func BenchmarkFollowerSyncPage(b *testing.B) {
	for _, d := range testenv.Databases(b) {
		b.Run(d.Name, func(b *testing.B) {
			db, err := Open(b.Context(), d.URL, discard)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			if err := db.Migrate(b.Context()); err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			if _, _, err := db.ClaimFollowerSync(b.Context(), "bench", now, now.Add(time.Hour)); err != nil {
				b.Fatal(err)
			}
			s, err := db.BeginFollowerPass(b.Context(), "bench", now)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				page := make([]followers.Synced, 10000)
				ids := make([]string, len(page))
				for j := range page {
					page[j] = followers.Synced{OpenID: fmt.Sprintf("o%d-%05d", i/2, j), UnionID: "u", SubscribedAt: now, QRScene: "store:sh-001", Tags: []string{"vip"}}
					ids[j] = page[j].OpenID
				}
				err := db.Write(b.Context(), func(tx *Tx) error {
					prev, err := tx.FollowersByOpenID(ids)
					if err != nil {
						return err
					}
					out := make([]followers.Follower, len(page))
					for j, p := range page {
						out[j] = followers.Reconcile(prev[p.OpenID], p, now)
					}
					if err := tx.SaveSyncedFollowers(out, s.Pass); err != nil {
						return err
					}
					if err := tx.ReplaceSyncedTags(page); err != nil {
						return err
					}
					return tx.CheckpointFollowerSync("bench", s.Pass, ids[len(ids)-1], len(ids), len(ids), now, now.Add(time.Hour))
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "followers/s")
		})
	}
}
