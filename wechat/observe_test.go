package wechat_test

import (
	"sync"
	"testing"

	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

// refreshLog is a TokenObserver that keeps what it is told.
type refreshLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *refreshLog) TokenRefresh(app string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ok {
		l.seen = append(l.seen, app+" ok")
	} else {
		l.seen = append(l.seen, app+" error")
	}
}

func (l *refreshLog) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// TestTokenObserver reports each refresh this process makes: the first
// fetch, one after WeChat rejects the token (40001), and a failed one; a
// call that finds the token in Redis reports nothing.
func TestTokenObserver(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1"})
	obs := &refreshLog{}
	c := e.client(t, func(cfg *wechat.Config) { cfg.Tokens = obs })
	ctx := t.Context()
	for range 2 {
		if _, err := c.UserInfo(ctx, "o1"); err != nil {
			t.Fatal(err)
		}
	}
	if got := obs.got(); len(got) != 1 || got[0] != "oa ok" {
		t.Fatalf("refreshes after two calls = %q, want [oa ok]", got)
	}
	e.sim.Inject("/cgi-bin/user/info", 40001, 1)
	if _, err := c.UserInfo(ctx, "o1"); err != nil {
		t.Fatal(err)
	}
	if got := obs.got(); len(got) != 2 || got[1] != "oa ok" {
		t.Fatalf("refreshes after a 40001 = %q, want [oa ok, oa ok]", got)
	}
	if err := e.rdb.Del(ctx, oaTokenKey).Err(); err != nil {
		t.Fatal(err)
	}
	e.sim.Inject("/cgi-bin/stable_token", 40164, 1) // the server's IP is not whitelisted
	if _, err := c.UserInfo(ctx, "o1"); err == nil {
		t.Fatal("UserInfo with stable_token refused: no error")
	}
	if got := obs.got(); len(got) != 3 || got[2] != "oa error" {
		t.Errorf("refreshes after a refused fetch = %q, want a third, oa error", got)
	}
}
