package wechatsim

import (
	"net/url"
	"testing"
	"time"
)

func TestUserInfo(t *testing.T) {
	e := newEnv(t)
	since := e.clk.Now().Add(-time.Hour)
	e.sim.AddFollower(testApp, Follower{OpenID: "o1", UnionID: "u1", SubscribeTime: since,
		SubscribeScene: "ADD_SCENE_QR_CODE", QRSceneStr: "store:sh-001"})
	e.sim.AddFollower(testApp, Follower{OpenID: "o2"})
	e.sim.Unfollow(testApp, "o2")
	tok := e.token(testApp, testSecret)
	info := func(openid string) res {
		q := at(tok)
		q.Set("openid", openid)
		q.Set("lang", "zh_CN")
		return e.get("/cgi-bin/user/info", q)
	}
	r := info("o1")
	want := map[string]any{"subscribe": float64(1), "openid": "o1", "unionid": "u1",
		"subscribe_time": float64(since.Unix()), "subscribe_scene": "ADD_SCENE_QR_CODE", "qr_scene_str": "store:sh-001"}
	for k, v := range want {
		if r.json[k] != v {
			t.Errorf("%s = %v, want %v", k, r.json[k], v)
		}
	}
	if _, ok := r.json["tagid_list"].([]any); !ok {
		t.Errorf("tagid_list missing or not a list: %s", r.body)
	}
	if r := info("o2"); r.json["subscribe"] != float64(0) || r.errcode() != 0 {
		t.Errorf("unfollowed: %s", r.body)
	}
	if r := info("o-none"); r.errcode() != 40003 {
		t.Errorf("unknown: errcode %d, want 40003", r.errcode())
	}
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"o1", "o2"} {
		e.sim.AddFollower(testApp, Follower{OpenID: id})
	}
	r := e.call("/cgi-bin/tags/create", map[string]any{"tag": map[string]string{"name": "staff"}})
	id, ok := r.json["tag"].(map[string]any)["id"].(float64)
	if !ok {
		t.Fatalf("create: %s", r.body)
	}
	steps := []struct {
		name, path string
		body       any
		want       int
	}{
		{"duplicate name", "/cgi-bin/tags/create", map[string]any{"tag": map[string]string{"name": "staff"}}, 45157},
		{"long name", "/cgi-bin/tags/create", map[string]any{"tag": map[string]string{"name": "一二三四五六七八九十一"}}, 45158},
		{"tag both", "/cgi-bin/tags/members/batchtagging", map[string]any{"openid_list": []string{"o1", "o2"}, "tagid": id}, 0},
		{"unknown tag", "/cgi-bin/tags/members/batchtagging", map[string]any{"openid_list": []string{"o1"}, "tagid": 9999}, 45159},
		{"unknown openid", "/cgi-bin/tags/members/batchtagging", map[string]any{"openid_list": []string{"o9"}, "tagid": id}, 40003},
		{"empty list", "/cgi-bin/tags/members/batchtagging", map[string]any{"openid_list": []string{}, "tagid": id}, 40032},
		{"untag o2", "/cgi-bin/tags/members/batchuntagging", map[string]any{"openid_list": []string{"o2"}, "tagid": id}, 0},
	}
	for _, s := range steps {
		if r := e.call(s.path, s.body); r.errcode() != s.want {
			t.Errorf("%s: errcode %d, want %d (%s)", s.name, r.errcode(), s.want, r.body)
		}
	}
	r = e.call("/cgi-bin/tags/getidlist", map[string]string{"openid": "o1"})
	if l, _ := r.json["tagid_list"].([]any); len(l) != 1 || l[0] != id {
		t.Errorf("getidlist o1: %s", r.body)
	}
	r = e.get("/cgi-bin/tags/get", at(e.token(testApp, testSecret)))
	tags, _ := r.json["tags"].([]any)
	if len(tags) != 1 || tags[0].(map[string]any)["count"] != float64(1) {
		t.Errorf("tags/get: %s", r.body)
	}
	if f, _, _ := e.sim.Follower(testApp, "o2"); len(f.TagIDs) != 0 {
		t.Errorf("o2 tags = %v, want none", f.TagIDs)
	}
}

func TestJSCode2Session(t *testing.T) {
	e := newEnv(t)
	e.sim.AddLoginCode(testMP, "code-1", "mp-o1", "u1")
	e.sim.AddLoginCode(testMP, "code-old", "mp-o2", "")
	e.clk.Add(5 * time.Minute)
	e.sim.AddLoginCode(testMP, "code-2", "mp-o3", "")
	login := func(appid, secret, code string) res {
		return e.get("/sns/jscode2session", url.Values{"appid": {appid}, "secret": {secret},
			"js_code": {code}, "grant_type": {"authorization_code"}})
	}
	r := login(testMP, testMPKey, "code-1")
	if r.errcode() != 40029 {
		t.Errorf("code older than 5 minutes: errcode %d, want 40029", r.errcode())
	}
	e.sim.AddLoginCode(testMP, "code-1", "mp-o1", "u1")
	r = login(testMP, testMPKey, "code-1")
	if r.str("openid") != "mp-o1" || r.str("unionid") != "u1" || r.str("session_key") == "" {
		t.Errorf("login: %s", r.body)
	}
	tests := []struct {
		name, appid, secret, code string
		want                      int
	}{
		{"used", testMP, testMPKey, "code-1", 40163},
		{"unknown", testMP, testMPKey, "nope", 40029},
		{"wrong secret", testMP, "bad", "code-2", 40125},
		{"unknown appid", "wxnope", "x", "code-2", 40013},
		{"other app's code", testApp, testSecret, "code-2", 40029},
		{"missing code", testMP, testMPKey, "", 41008},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := login(tt.appid, tt.secret, tt.code); r.errcode() != tt.want {
				t.Errorf("errcode %d, want %d", r.errcode(), tt.want)
			}
		})
	}
	r = login(testMP, testMPKey, "code-2")
	if r.str("openid") != "mp-o3" || r.json["unionid"] != nil {
		t.Errorf("login without unionid: %s", r.body)
	}
}

// TestAnyFollower: with Options.AnyFollower an openid never seen is a
// follower who subscribed just now, with a unionid, in user/info and the
// sends; one who unfollowed stays unfollowed.
func TestAnyFollower(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AnyFollower = true })
	e.sim.AddFollower(testApp, Follower{OpenID: "o-gone"})
	e.sim.Unfollow(testApp, "o-gone")
	tok := e.token(testApp, testSecret)
	q := at(tok)
	q.Set("openid", "o-new")
	r := e.get("/cgi-bin/user/info", q)
	if r.errcode() != 0 || r.json["subscribe"] != float64(1) || r.json["unionid"] != "u-o-new" || r.json["subscribe_time"] != float64(e.clk.Now().Unix()) {
		t.Errorf("user/info of a new openid = %s, want a follower since now with unionid u-o-new", r.body)
	}
	if r := e.call(tmplPath, tmpl("o-other", "", map[string]string{"thing1": "hi"})); r.errcode() != 0 {
		t.Errorf("template send to a new openid = %s, want sent", r.body)
	}
	if r := e.call(tmplPath, tmpl("o-gone", "", map[string]string{"thing1": "hi"})); r.errcode() != 43004 {
		t.Errorf("template send to one who unfollowed = %s, want 43004", r.body)
	}
	if n := len(e.sim.Templates(testApp)); n != 1 {
		t.Errorf("templates sent = %d, want 1", n)
	}
}
