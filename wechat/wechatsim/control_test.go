package wechatsim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestControlAPI(t *testing.T) {
	e := newEnv(t)
	rc := &recorder{}
	hook := httptest.NewServer(rc)
	defer hook.Close()

	steps := []struct {
		path string
		body any
		want int
	}{
		{"/_sim/apps", map[string]any{"app_id": "wxcurl", "secret": "s"}, 200},
		{"/_sim/followers", map[string]any{"app_id": "wxcurl", "openid": "o1", "unionid": "u1"}, 200},
		{"/_sim/webhook", map[string]any{"app_id": "wxcurl", "url": hook.URL, "token": "t"}, 200},
		{"/_sim/push", map[string]any{"app_id": "wxcurl", "openid": "o2", "type": "subscribe", "scene": "store:sh-001"}, 200},
		{"/_sim/push", map[string]any{"app_id": "wxcurl", "openid": "o2", "type": "bogus"}, 400},
		{"/_sim/inject", map[string]any{"path": "/cgi-bin/tags/get", "errcode": 45011, "times": 1}, 200},
		{"/_sim/codes", map[string]any{"app_id": "wxcurl", "code": "c1", "openid": "mp-o1"}, 200},
		{"/_sim/consents", map[string]any{"app_id": "wxcurl", "openid": "o1", "template_id": "S1", "count": 2}, 200},
		{"/_sim/followers", map[string]any{"openid": "o1"}, 400},
		{"/_sim/apps", "{bad", 400},
	}
	for _, s := range steps {
		if r := e.post(s.path, nil, s.body); r.status != s.want {
			t.Errorf("POST %s %v: status %d, want %d (%s)", s.path, s.body, r.status, s.want, r.body)
		}
	}
	if got := rc.last(); got.Event != "subscribe" || got.EventKey != "qrscene_store:sh-001" {
		t.Errorf("pushed %+v", got)
	}
	if _, following, _ := e.sim.Follower("wxcurl", "o2"); !following {
		t.Error("pushed subscribe did not make a follower")
	}

	tok := e.token("wxcurl", "s")
	if r := e.get("/cgi-bin/tags/get", at(tok)); r.errcode() != 45011 {
		t.Errorf("injected: errcode %d, want 45011", r.errcode())
	}
	r := e.get("/_sim/calls", url.Values{"path": {"/cgi-bin/tags/get"}})
	var calls []map[string]any
	if err := json.Unmarshal(r.body, &calls); err != nil || len(calls) != 1 || calls[0]["errcode"] != float64(45011) || calls[0]["app_id"] != "wxcurl" {
		t.Errorf("calls: %s", r.body)
	}

	if r := e.post("/_sim/expire", nil, map[string]any{"app_id": "wxcurl"}); r.status != http.StatusOK {
		t.Fatalf("expire: %d", r.status)
	}
	if r := e.get("/cgi-bin/tags/get", at(tok)); r.errcode() != 42001 {
		t.Errorf("after expire: errcode %d, want 42001", r.errcode())
	}
	r = e.get("/_sim/state", url.Values{"app_id": {"wxcurl"}})
	if r.json["token_fetches"] != float64(1) || r.json["original_id"] == "" {
		t.Errorf("state: %s", r.body)
	}
}
