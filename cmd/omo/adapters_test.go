package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

// TestMiniProgramLoginErrors: the login adapter over the real WeChat client
// and the simulator gives each jscode2session outcome its kind and a
// message that names the problem.
func TestMiniProgramLoginErrors(t *testing.T) {
	t.Parallel()
	sim := wechatsim.New(wechatsim.Options{})
	sim.AddApp(testMPAppID, testMPSecret)
	srv := httptest.NewServer(sim)
	t.Cleanup(func() { srv.Close(); sim.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	client := func(appID, secret string) miniProgram {
		wx, err := wechat.NewClient(wechat.Config{APIBase: srv.URL, MPAppID: appID, MPAppSecret: secret}, rdb, nil)
		if err != nil {
			t.Fatal(err)
		}
		return miniProgram{wx}
	}
	mp := client(testMPAppID, testMPSecret)
	sim.AddLoginCode(testMPAppID, "good", "mp-alice", "u-alice")
	sim.AddLoginCode(testMPAppID, "no-union", "mp-bob", "")
	sim.AddLoginCode(testMPAppID, "busy", "mp-carol", "")

	openid, unionid, err := mp.Code2Session(t.Context(), "good")
	if err != nil || openid != "mp-alice" || unionid != "u-alice" {
		t.Fatalf("good code = %q, %q, %v; want mp-alice, u-alice", openid, unionid, err)
	}
	if openid, unionid, err := mp.Code2Session(t.Context(), "no-union"); err != nil || openid != "mp-bob" || unionid != "" {
		t.Fatalf("code without unionid = %q, %q, %v", openid, unionid, err)
	}

	tests := []struct {
		name    string
		mp      miniProgram
		code    string
		prepare func()
		kind    errs.Kind
		msg     string
	}{
		{"used code", mp, "good", nil, errs.Unauthorized, "already used (WeChat 40163)"},
		{"unknown code", mp, "never-issued", nil, errs.Unauthorized, "invalid or expired (WeChat 40029)"},
		{"blocked user", mp, "busy", func() { sim.Inject("/sns/jscode2session", 40226, 1) }, errs.Unauthorized, "high-risk"},
		{"WeChat busy", mp, "busy", func() { sim.Inject("/sns/jscode2session", -1, 1) }, errs.Unavailable, "unavailable"},
		{"WeChat down", mp, "busy", func() { sim.InjectStatus("/sns/jscode2session", http.StatusBadGateway, 1) }, errs.Unavailable, "unavailable"},
		{"wrong app secret", client(testMPAppID, "wrong"), "busy", nil, errs.Other, ""},
		{"no mini-program configured", client("", ""), "busy", nil, errs.Unavailable, "not configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.prepare != nil {
				tt.prepare()
			}
			_, _, err := tt.mp.Code2Session(t.Context(), tt.code)
			if !errs.Is(err, tt.kind) {
				t.Fatalf("err = %v (kind %v), want kind %v", err, errs.KindOf(err), tt.kind)
			}
			if msg := errs.Message(err); !strings.Contains(msg, tt.msg) || strings.Contains(msg, tt.code) {
				t.Errorf("message %q: want it to say %q and not show the code", msg, tt.msg)
			}
		})
	}
	// The injected failures did not use up carol's code.
	if openid, _, err := mp.Code2Session(t.Context(), "busy"); err != nil || openid != "mp-carol" {
		t.Errorf("after the failures = %q, %v; want mp-carol", openid, err)
	}
}
