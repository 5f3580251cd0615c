package wechat_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/wechat"
)

// TestLoginErrors: the mini-program login over the real WeChat client and
// the simulator gives each jscode2session outcome its kind and a message
// that names the problem.
func TestLoginErrors(t *testing.T) {
	e := newEnv(t)
	mp := wechat.NewLogin(e.client(t))
	e.sim.AddLoginCode(mpID, "good", "mp-alice", "u-alice")
	e.sim.AddLoginCode(mpID, "no-union", "mp-bob", "")
	e.sim.AddLoginCode(mpID, "busy", "mp-carol", "")

	openid, unionid, err := mp.Code2Session(t.Context(), "good")
	if err != nil || openid != "mp-alice" || unionid != "u-alice" {
		t.Fatalf("good code = %q, %q, %v; want mp-alice, u-alice", openid, unionid, err)
	}
	if openid, unionid, err := mp.Code2Session(t.Context(), "no-union"); err != nil || openid != "mp-bob" || unionid != "" {
		t.Fatalf("code without unionid = %q, %q, %v", openid, unionid, err)
	}

	tests := []struct {
		name    string
		mp      wechat.Login
		code    string
		prepare func()
		kind    errs.Kind
		msg     string
	}{
		{"used code", mp, "good", nil, errs.Unauthorized, "already used (WeChat 40163)"},
		{"unknown code", mp, "never-issued", nil, errs.Unauthorized, "invalid or expired (WeChat 40029)"},
		{"blocked user", mp, "busy", func() { e.sim.Inject("/sns/jscode2session", 40226, 1) }, errs.Unauthorized, "high-risk"},
		{"WeChat busy", mp, "busy", func() { e.sim.Inject("/sns/jscode2session", -1, 1) }, errs.Unavailable, "unavailable"},
		{"WeChat throttles", mp, "busy", func() { e.sim.Inject("/sns/jscode2session", 45011, 1) }, errs.Unavailable, "unavailable"},
		{"WeChat down", mp, "busy", func() { e.sim.InjectStatus("/sns/jscode2session", http.StatusBadGateway, 1) }, errs.Unavailable, "unavailable"},
		{"wrong app secret", wechat.NewLogin(e.client(t, func(c *wechat.Config) { c.MPAppSecret = "wrong" })), "busy", nil, errs.Other, ""},
		{"no mini-program configured", wechat.NewLogin(e.client(t, func(c *wechat.Config) { c.MPAppID, c.MPAppSecret = "", "" })), "busy", nil, errs.Unavailable, "not configured"},
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
