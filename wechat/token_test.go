package wechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

const oaTokenKey = "omo:wechat:oa:" + oaID + ":access_token"

// stableToken asks the simulator for a token as another process would.
func stableToken(t *testing.T, base string, force bool) string {
	t.Helper()
	tok, err := fetchStable(base, force)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func fetchStable(base string, force bool) (string, error) {
	body, _ := json.Marshal(map[string]any{"grant_type": "client_credential", "appid": oaID, "secret": oaSecret, "force_refresh": force})
	resp, err := http.Post(base+"/cgi-bin/stable_token", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.AccessToken == "" {
		return "", fmt.Errorf("stable_token: %v %+v", err, out)
	}
	return out.AccessToken, nil
}

func TestWaitsForAnotherProcessRefresh(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1"})
	c := e.client(t, func(cfg *wechat.Config) { cfg.Timeout = 200 * time.Millisecond })
	ctx := t.Context()
	// another process holds the lock and is fetching
	if err := e.rdb.Set(ctx, oaTokenKey+":lock", "other", 2*time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	tok := stableToken(t, e.url, false)
	go func() {
		time.Sleep(150 * time.Millisecond)
		e.rdb.Set(context.Background(), oaTokenKey, tok, time.Hour)
		e.rdb.Del(context.Background(), oaTokenKey+":lock")
	}()
	if _, err := c.UserInfo(ctx, "o1"); err != nil {
		t.Fatal(err)
	}
	if got := e.sim.TokenFetches(oaID); got != 1 {
		t.Errorf("token fetches = %d, want 1 (the other process's)", got)
	}
}

func TestDeadLockHolderExpires(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1"})
	c := e.client(t, func(cfg *wechat.Config) { cfg.Timeout = 200 * time.Millisecond })
	ctx := t.Context()
	// a process took the lock and died
	if err := e.rdb.Set(ctx, oaTokenKey+":lock", "dead", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UserInfo(ctx, "o1"); err != nil {
		t.Fatal(err)
	}
	if got := e.rdb.Get(ctx, oaTokenKey).Val(); got == "" {
		t.Error("no token in Redis after the refresh")
	}
}

// TestRejectedTokenAlreadyReplaced: while a call with token T1 is in
// flight, another process replaces T1 with T2 in Redis. When the call then
// fails with 40001 the Client must keep T2 (compare-and-delete) and retry
// with it, fetching nothing.
func TestRejectedTokenAlreadyReplaced(t *testing.T) {
	sim := wechatsim.New(wechatsim.Options{})
	sim.AddApp(oaID, oaSecret)
	sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1"})
	var srvURL string
	var first atomic.Bool
	e := env{sim: sim}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cgi-bin/user/info" && first.CompareAndSwap(false, true) {
			t2, err := fetchStable(srvURL, true) // the other process's refresh
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			e.rdb.Set(r.Context(), oaTokenKey, t2, time.Hour)
			w.Write([]byte(`{"errcode":40001,"errmsg":"invalid credential"}`))
			return
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	srvURL = srv.URL
	e.url = srv.URL
	e.rdb = newRedis(t, testEnvRedisURL(t))
	c := e.client(t, func(cfg *wechat.Config) { cfg.MPAppID = "" })
	ctx := t.Context()
	t1 := stableToken(t, srv.URL, false)
	e.rdb.Set(ctx, oaTokenKey, t1, time.Hour)
	if _, err := c.UserInfo(ctx, "o1"); err != nil {
		t.Fatal(err)
	}
	if got := sim.TokenFetches(oaID); got != 2 { // t1 and the other process's t2
		t.Errorf("token fetches = %d, want 2", got)
	}
	calls := sim.Calls("/cgi-bin/user/info")
	t2 := e.rdb.Get(ctx, oaTokenKey).Val()
	if t2 == t1 || len(calls) != 1 || calls[0].Query.Get("access_token") != t2 {
		t.Errorf("retry did not use the replacing token (t1 kept: %v, calls %d)", t2 == t1, len(calls))
	}
}
