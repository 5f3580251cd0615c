package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat/wechatsim"
)

const userGet = "/cgi-bin/user/get"

// firstPageFetches counts the user/get calls that asked for the start of
// the list.
func firstPageFetches(sim *wechatsim.Sim) int {
	n := 0
	for _, c := range sim.Calls(userGet) {
		if c.Query.Get("next_openid") == "" && c.Errcode == 0 {
			n++
		}
	}
	return n
}

// seededIDs returns the openids of seeded followers 0..n-1 in user/get order.
func seededIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = wechatsim.SeedOpenID(testAppID, i)
	}
	slices.Sort(ids)
	return ids
}

// storedFollowers reads the followers omo has among ids, in one transaction.
func storedFollowers(t *testing.T, db *sqldb.DB, ids []string) map[string]*followers.Follower {
	t.Helper()
	var got map[string]*followers.Follower
	err := db.Write(t.Context(), func(tx *sqldb.Tx) (err error) {
		got, err = tx.FollowersByOpenID(ids)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// checkSynced compares what omo stored for seeded followers 0..n-1 (every
// step-th for the tags) with what the simulator holds.
func checkSynced(t *testing.T, db *sqldb.DB, sim *wechatsim.Sim, n, step int) {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = wechatsim.SeedOpenID(testAppID, i)
	}
	got := storedFollowers(t, db, ids)
	if len(got) != n {
		t.Fatalf("omo stores %d of the %d followers", len(got), n)
	}
	tagName := map[int]string{}
	for _, tg := range sim.Tags(testAppID) {
		tagName[tg.ID] = tg.Name
	}
	bad := 0
	for i, id := range ids {
		w, _, _ := sim.Follower(testAppID, id)
		f := got[id]
		home, _ := followers.HomeStoreOf(w.QRSceneStr)
		if !f.Subscribed || f.UnionID != w.UnionID || f.SubscribedAt == nil || !f.SubscribedAt.Equal(w.SubscribeTime) ||
			f.FirstScene != w.QRSceneStr || f.HomeStore != home {
			if bad++; bad <= 5 {
				t.Errorf("follower %d stored as %+v; WeChat has %+v", i, f, w)
			}
		}
		if i%step != 0 {
			continue
		}
		var want []string
		for _, tid := range w.TagIDs {
			want = append(want, tagName[tid])
		}
		slices.Sort(want)
		var tags []string
		if err := db.Write(t.Context(), func(tx *sqldb.Tx) (err error) { tags, err = tx.Tags(id); return err }); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(tags, want) {
			if bad++; bad <= 5 {
				t.Errorf("follower %d tags = %v, want %v", i, tags, want)
			}
		}
	}
	if bad > 5 {
		t.Errorf("... %d followers wrong in all", bad)
	}
}

// TestFollowersSync syncs 25,000 followers (three user/get pages) from the
// simulator over HTTP with a real redis-server, on each database: WeChat's
// daily quota stops the first run on the second page; the second run
// continues from the cursor (the first page is not fetched again) and
// stores everyone once with WeChat's fields; a second full pass after 300
// people left marks exactly them unfollowed.
func TestFollowersSync(t *testing.T) {
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			const n = 25000
			rds := testenv.Redis(t)
			sim, simURL := newSim(t)
			sim.SeedFollowers(testAppID, n)
			env := omoEnv(t, simURL, d.URL, rds.URL())
			ids := seededIDs(n)

			sim.InjectAfter(userGet, 45009, 1, 1)
			start := time.Now()
			_, stderr, err := runFor(t, 2*time.Minute, []string{"followers", "sync"}, env)
			if err == nil || !strings.Contains(err.Error(), "WeChat 45009 on user/get: the daily API quota is used up") ||
				!strings.Contains(err.Error(), "the cursor is kept") || !strings.Contains(err.Error(), "after 1 pages, 10000 followers stored") {
				t.Fatalf("first run: %v, want the 45009 stop after page 1", err)
			}
			if want := "page 1: 10000 followers, 10000 of 25000 (40%), "; !strings.Contains(stderr, want) {
				t.Errorf("stderr of the first run lacks %q:\n%s", want, stderr)
			}
			db := openStore(t, d.URL)
			st, err := db.FollowerSync(t.Context())
			if err != nil || !st.Running || st.NextOpenID != ids[9999] || st.Pages != 1 || !strings.Contains(st.LastError, "45009") {
				t.Fatalf("state after the stop = %+v, %v; want running at %s", st, err, ids[9999])
			}

			stdout, stderr, err := runFor(t, 2*time.Minute, []string{"followers", "sync"}, env)
			if err != nil {
				t.Fatalf("second run: %v\n%s", err, stderr)
			}
			t.Logf("25,000 followers synced in %v over two runs (%s)", time.Since(start).Round(time.Millisecond), strings.TrimSpace(stdout))
			for _, want := range []string{
				"continuing pass 1 after page 1 (10000 followers stored; it stopped: WeChat 45009 on user/get: ",
				"page 1: 10000 followers, 20000 of 25000 (80%), ",
				"page 2: 5000 followers, 25000 of 25000 (100%), ",
				"followers/s, ETA 0s\n",
			} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr of the second run lacks %q:\n%s", want, stderr)
				}
			}
			if want := "follower sync pass 1 complete: 25000 followers upserted (15000 in this run, 2 pages), 0 unfollowed, "; !strings.HasPrefix(stdout, want) {
				t.Errorf("summary = %q, want it to start %q", stdout, want)
			}
			if got := firstPageFetches(sim); got != 1 {
				t.Errorf("the first page was fetched %d times, want once", got)
			}
			// The pages: 1st, the 45009, then 2nd, 3rd and the empty one after the last openid.
			if calls := sim.Calls(userGet); len(calls) != 5 || calls[2].Query.Get("next_openid") != ids[9999] {
				t.Errorf("%d user/get calls, want 5 with the third continuing after %s", len(calls), ids[9999])
			}
			if got := sim.CallCount("/cgi-bin/user/info/batchget"); got != 250 {
				t.Errorf("%d batchget calls, want 250 (25,000 in hundreds)", got)
			}
			all, following, _ := db.CountFollowers(t.Context())
			if all != n || following != n {
				t.Errorf("omo has %d followers (%d following), want %d", all, following, n)
			}
			checkSynced(t, db, sim, n, 10)

			// 300 leave without omo hearing of it (the webhook was down).
			for i := range 300 {
				if i%2 == 0 {
					sim.Unfollow(testAppID, wechatsim.SeedOpenID(testAppID, i))
				} else {
					sim.RemoveFollower(testAppID, wechatsim.SeedOpenID(testAppID, i))
				}
			}
			stdout, stderr, err = runFor(t, 2*time.Minute, []string{"followers", "sync"}, env)
			if err != nil {
				t.Fatalf("second pass: %v\n%s", err, stderr)
			}
			if want := "follower sync pass 2 complete: 24700 followers upserted (24700 in this run, 3 pages), 300 unfollowed, "; !strings.HasPrefix(stdout, want) {
				t.Errorf("second pass summary = %q, want it to start %q", stdout, want)
			}
			all, following, _ = db.CountFollowers(t.Context())
			if all != n || following != n-300 {
				t.Errorf("after the second pass: %d followers, %d following; want %d, %d", all, following, n, n-300)
			}
			if f, err := db.Follower(t.Context(), wechatsim.SeedOpenID(testAppID, 1)); err != nil || f.Subscribed || f.UnsubscribedAt == nil {
				t.Errorf("a follower who left = %+v, %v; want unfollowed", f, err)
			}
		})
	}
}

// TestFollowersSyncNoPermission: an account that may not read its follower
// list (48001) stops the sync with a message saying so, exit status 1, and
// keeps the cursor; once fixed, the sync continues from it.
func TestFollowersSyncNoPermission(t *testing.T) {
	sim, simURL := newSim(t)
	sim.SeedFollowers(testAppID, 12000)
	dbURL := testenv.SQLiteURL(t)
	env := omoEnv(t, simURL, dbURL, testenv.Redis(t).URL())
	ids := seededIDs(12000)

	sim.InjectAfter(userGet, 48001, 1, 1)
	_, _, err := runFor(t, time.Minute, []string{"followers", "sync"}, env)
	if err == nil || isUsage(err) || !strings.Contains(err.Error(), "WeChat 48001 on user/get: this Official Account has no permission for the follower list") {
		t.Fatalf("run with 48001 = %v, want the no-permission stop (exit 1)", err)
	}
	db := openStore(t, dbURL)
	if st, _ := db.FollowerSync(t.Context()); st.NextOpenID != ids[9999] || !st.Running || st.RetryAt == nil {
		t.Errorf("state after 48001 = %+v, want the cursor at %s and a retry time", st, ids[9999])
	}
	sim.InjectAfter("/cgi-bin/user/info/batchget", 48001, 5, 1)
	if _, _, err := runFor(t, time.Minute, []string{"followers", "sync"}, env); err == nil || !strings.Contains(err.Error(), "48001 on user/info/batchget") {
		t.Fatalf("run with 48001 from batchget = %v", err)
	}
	if st, _ := db.FollowerSync(t.Context()); st.NextOpenID != ids[9999] {
		t.Errorf("cursor after a failed page = %q, want it unchanged", st.NextOpenID)
	}
	stdout, _, err := runFor(t, time.Minute, []string{"followers", "sync"}, env)
	if err != nil || !strings.Contains(stdout, "12000 followers upserted (2000 in this run") {
		t.Fatalf("run once fixed = %q, %v", stdout, err)
	}
	if got := firstPageFetches(sim); got != 1 {
		t.Errorf("the first page was fetched %d times, want once", got)
	}
	for _, args := range [][]string{{"followers"}, {"followers", "list"}, {"followers", "sync", "extra"}} {
		if _, _, err := runFor(t, time.Minute, args, env); !isUsage(err) {
			t.Errorf("omo %s = %v, want a usage error", strings.Join(args, " "), err)
		}
	}
}

// TestServeFollowerSyncJob: omo serve does not sync unless
// followers.sync_every is set; with it set, two omo serve on one database
// make one pass between them (the lease and the due time).
func TestServeFollowerSyncJob(t *testing.T) {
	dbURL := testenv.SQLiteURL(t)
	if pg := testenv.Databases(t); len(pg) > 1 {
		dbURL = pg[1].URL
	}
	rds := testenv.Redis(t)
	sim, simURL := newSim(t)
	sim.SeedFollowers(testAppID, 3000)
	env := omoEnv(t, simURL, dbURL, rds.URL())

	off := startServe(t, env)
	off.stop(t)
	if !strings.Contains(off.logs.String(), "follower sync is off (followers.sync_every is 0)") {
		t.Errorf("omo serve with the default config does not say the sync is off:\n%s", off.logs)
	}
	if n := sim.CallCount(userGet); n != 0 {
		t.Fatalf("omo serve with the default config called user/get %d times, want 0", n)
	}

	on := setEnv(env, "OMO_FOLLOWERS_SYNC_EVERY=24h")
	a, b := startServe(t, on), startServe(t, on)
	db := openStore(t, dbURL)
	waitFor(t, time.Minute, "3000 followers synced by omo serve", func() (bool, error) {
		st, err := db.FollowerSync(context.Background())
		return err == nil && st.CompletedAt != nil, err
	})
	a.stop(t)
	b.stop(t)
	if got := firstPageFetches(sim); got != 1 {
		t.Errorf("two omo serve fetched the first page %d times between them, want once", got)
	}
	all, following, _ := db.CountFollowers(context.Background())
	if all != 3000 || following != 3000 {
		t.Errorf("followers %d (%d following), want 3000", all, following)
	}
	if !strings.Contains(a.logs.String()+b.logs.String(), `"msg":"follower sync run finished"`) {
		t.Errorf("neither omo serve logged the run")
	}
}

// BenchmarkFollowersSync measures `omo followers sync` of 25,000 followers
// (3 pages, 250 batchget calls) from the simulator over HTTP, with a real
// redis-server, into a fresh database each time.
func BenchmarkFollowersSync(b *testing.B) {
	for _, d := range []string{"sqlite", "postgres"} {
		b.Run(d, func(b *testing.B) {
			const n = 25000
			sim := wechatsim.New(wechatsim.Options{})
			sim.AddApp(testAppID, testSecret)
			sim.SeedFollowers(testAppID, n)
			srv := httptest.NewServer(sim)
			b.Cleanup(srv.Close)
			rds := testenv.Redis(b)
			cfg := filepath.Join(b.TempDir(), "omo.yaml")
			if err := os.WriteFile(cfg, nil, 0o600); err != nil {
				b.Fatal(err)
			}
			for range b.N {
				b.StopTimer()
				url := testenv.SQLiteURL(b)
				if d == "postgres" {
					url = testenv.Postgres(b)
				}
				env := []string{"OMO_CONFIG=" + cfg, "OMO_DATABASE_URL=" + url, "OMO_REDIS_URL=" + rds.URL(),
					"OMO_WECHAT_API_BASE=" + srv.URL, "OMO_WECHAT_OFFICIAL_ACCOUNT_APP_ID=" + testAppID,
					"OMO_WECHAT_OFFICIAL_ACCOUNT_APP_SECRET=" + testSecret, "OMO_WECHAT_OFFICIAL_ACCOUNT_TOKEN=" + testToken}
				b.StartTimer()
				var out, errw strings.Builder
				if err := run(context.Background(), []string{"followers", "sync"}, &out, &errw, env); err != nil {
					b.Fatalf("%v\n%s", err, errw.String())
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "followers/s")
		})
	}
}

// TestSimFollowersFlag: `omo sim -followers N` starts with N followers that
// user/get lists.
func TestSimFollowersFlag(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out strings.Builder
	go func() {
		done <- run(ctx, []string{"sim", "-addr", addr, "-app-id", testAppID, "-secret", testSecret, "-followers", "20"}, &out, io.Discard, nil)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("omo sim: %v", err)
		}
	}()
	base := "http://" + addr
	var page struct {
		Total int `json:"total"`
		Count int `json:"count"`
	}
	waitFor(t, 10*time.Second, "omo sim answering user/get", func() (bool, error) {
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if err := getJSON(base+"/cgi-bin/token?grant_type=client_credential&appid="+testAppID+"&secret="+testSecret, &tok); err != nil {
			return false, err
		}
		if err := getJSON(base+"/cgi-bin/user/get?access_token="+tok.AccessToken, &page); err != nil {
			return false, err
		}
		return true, nil
	})
	if page.Total != 20 || page.Count != 20 {
		t.Errorf("user/get on omo sim -followers 20: total %d, count %d", page.Total, page.Count)
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
