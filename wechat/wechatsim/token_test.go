package wechatsim

import (
	"net/url"
	"testing"
	"time"
)

func TestTokenErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		query url.Values
		want  int
	}{
		{"unknown appid", url.Values{"grant_type": {"client_credential"}, "appid": {"wxnope"}, "secret": {"x"}}, 40013},
		{"wrong secret", url.Values{"grant_type": {"client_credential"}, "appid": {testApp}, "secret": {"x"}}, 40125},
		{"bad grant_type", url.Values{"grant_type": {"password"}, "appid": {testApp}, "secret": {testSecret}}, 40002},
		{"no appid", url.Values{"grant_type": {"client_credential"}}, 41002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.get("/cgi-bin/token", tt.query)
			if r.errcode() != tt.want {
				t.Errorf("errcode = %d, want %d (%s)", r.errcode(), tt.want, r.body)
			}
		})
	}
	if n := e.sim.TokenFetches(testApp); n != 0 {
		t.Errorf("TokenFetches = %d after failures, want 0", n)
	}
}

func TestClassicTokenInvalidatesPrevious(t *testing.T) {
	e := newEnv(t)
	r := e.get("/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {testApp}, "secret": {testSecret}})
	if got := r.json["expires_in"]; got != float64(7200) {
		t.Errorf("expires_in = %v, want 7200", got)
	}
	old := r.str("access_token")
	fresh := e.token(testApp, testSecret)
	if old == fresh {
		t.Fatal("second fetch returned the same token")
	}
	tags := "/cgi-bin/tags/get"
	if r := e.get(tags, at(old)); r.errcode() != 40001 {
		t.Errorf("old token: errcode %d, want 40001", r.errcode())
	}
	if r := e.get(tags, at(fresh)); r.errcode() != 0 {
		t.Errorf("new token: errcode %d, want 0 (%s)", r.errcode(), r.body)
	}
	if n := e.sim.TokenFetches(testApp); n != 2 {
		t.Errorf("TokenFetches = %d, want 2", n)
	}
}

func TestTokenCheck(t *testing.T) {
	e := newEnv(t)
	tok := e.token(testApp, testSecret)
	tests := []struct {
		name  string
		query url.Values
		want  int
	}{
		{"missing", nil, 41001},
		{"unknown", at("nope"), 40001},
		{"valid", at(tok), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := e.get("/cgi-bin/tags/get", tt.query); r.errcode() != tt.want {
				t.Errorf("errcode = %d, want %d", r.errcode(), tt.want)
			}
		})
	}
	e.clk.Add(7200 * time.Second)
	if r := e.get("/cgi-bin/tags/get", at(tok)); r.errcode() != 42001 {
		t.Errorf("after 7200s: errcode %d, want 42001", r.errcode())
	}
}

func TestExpireTokens(t *testing.T) {
	e := newEnv(t)
	tok := e.token(testApp, testSecret)
	mp := e.token(testMP, testMPKey)
	e.sim.ExpireTokens(testApp)
	if r := e.get("/cgi-bin/tags/get", at(tok)); r.errcode() != 42001 {
		t.Errorf("expired app: errcode %d, want 42001", r.errcode())
	}
	if r := e.get("/cgi-bin/tags/get", at(mp)); r.errcode() != 0 {
		t.Errorf("other app: errcode %d, want 0", r.errcode())
	}
	if r := e.get("/cgi-bin/tags/get", at(e.token(testApp, testSecret))); r.errcode() != 0 {
		t.Errorf("refetched: errcode %d, want 0", r.errcode())
	}
}

func TestStableToken(t *testing.T) {
	e := newEnv(t)
	stable := func(force bool) res {
		return e.post("/cgi-bin/stable_token", nil, map[string]any{
			"grant_type": "client_credential", "appid": testApp, "secret": testSecret, "force_refresh": force})
	}
	check := func(tok string, want int) {
		t.Helper()
		if r := e.get("/cgi-bin/tags/get", at(tok)); r.errcode() != want {
			t.Errorf("errcode %d, want %d", r.errcode(), want)
		}
	}
	first := stable(false).str("access_token")
	classic := e.token(testApp, testSecret)
	e.clk.Add(time.Minute)
	r := stable(false)
	if r.str("access_token") != first {
		t.Errorf("normal mode gave a new token")
	}
	if got := r.json["expires_in"]; got != float64(7140) {
		t.Errorf("expires_in = %v, want remaining 7140", got)
	}
	check(classic, 0) // stable and classic tokens are isolated

	forced := stable(true).str("access_token")
	if forced == first {
		t.Fatal("force_refresh returned the old token")
	}
	e.clk.Add(4*time.Minute + 59*time.Second)
	check(first, 0)
	check(forced, 0)
	e.clk.Add(time.Second)
	check(first, 40001)
	check(forced, 0)

	// Near expiry normal mode swaps in a new token; the old lives out its time.
	e.clk.Add(7200*time.Second - 5*time.Minute - time.Second)
	next := stable(false).str("access_token")
	if next == forced {
		t.Error("normal mode kept a token with under 5 minutes left")
	}
	check(forced, 0)
	if n := e.sim.TokenFetches(testApp); n != 4 {
		t.Errorf("TokenFetches = %d, want 4", n)
	}
	if r := e.post("/cgi-bin/stable_token", nil, map[string]any{"grant_type": "client_credential", "appid": testApp, "secret": "bad"}); r.errcode() != 40125 {
		t.Errorf("bad secret: errcode %d, want 40125", r.errcode())
	}
	if r := e.get("/cgi-bin/stable_token", nil); r.errcode() != 43002 {
		t.Errorf("GET stable_token: errcode %d, want 43002", r.errcode())
	}
}
