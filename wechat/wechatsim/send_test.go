package wechatsim

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const tmplPath = "/cgi-bin/message/template/send"

func tmpl(to, clientMsgID string, data map[string]string) map[string]any {
	d := map[string]any{}
	for k, v := range data {
		d[k] = map[string]string{"value": v}
	}
	return map[string]any{
		"touser": to, "template_id": "T1", "client_msg_id": clientMsgID,
		"miniprogram": map[string]string{"appid": testMP, "pagepath": "pages/coupon/detail?code=X"},
		"data":        d,
	}
}

func TestTemplateSendFollowers(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(testApp, Follower{OpenID: "o-fan"})
	e.sim.AddFollower(testApp, Follower{OpenID: "o-gone"})
	e.sim.Unfollow(testApp, "o-gone")
	e.sim.AddFollower(testMP, Follower{OpenID: "o-other-app"})
	tests := []struct {
		to   string
		want int
	}{
		{"o-fan", 0},
		{"o-gone", 43004},
		{"o-stranger", 43004},
		{"o-other-app", 43004},
		{"", 40003},
	}
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			r := e.call(tmplPath, tmpl(tt.to, "", map[string]string{"thing1": "hi"}))
			if r.errcode() != tt.want {
				t.Errorf("errcode = %d, want %d (%s)", r.errcode(), tt.want, r.body)
			}
			if tt.want == 0 && r.json["msgid"] == nil {
				t.Errorf("no msgid in %s", r.body)
			}
		})
	}
	if got := len(e.sim.Templates(testApp)); got != 1 {
		t.Errorf("Templates = %d, want 1", got)
	}
}

func TestTemplateSendDedupeAndTruncation(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(testApp, Follower{OpenID: "o1"})
	e.sim.AddFollower(testApp, Follower{OpenID: "o2"})
	long := "一二三四五六七八九十一二三四五六七八九十超出"
	first := e.call(tmplPath, tmpl("o1", "c-1", map[string]string{"thing1": long, "time2": "2026-12-01"}))
	again := e.call(tmplPath, tmpl("o1", "c-1", map[string]string{"thing1": "changed"}))
	other := e.call(tmplPath, tmpl("o2", "c-1", nil))
	if first.errcode() != 0 || again.errcode() != 0 || other.errcode() != 0 {
		t.Fatalf("errcodes %d %d %d", first.errcode(), again.errcode(), other.errcode())
	}
	if first.json["msgid"] != again.json["msgid"] {
		t.Errorf("dedupe msgid %v, want the first %v", again.json["msgid"], first.json["msgid"])
	}
	if first.json["msgid"] == other.json["msgid"] {
		t.Error("another openid with the same client_msg_id was deduped")
	}
	e.clk.Add(10 * time.Minute)
	later := e.call(tmplPath, tmpl("o1", "c-1", nil))
	if later.json["msgid"] == first.json["msgid"] {
		t.Error("dedupe held after 10 minutes")
	}

	sends := e.sim.Templates(testApp)
	if len(sends) != 3 {
		t.Fatalf("Templates = %d, want 3", len(sends))
	}
	if got, want := sends[0].Data["thing1"], "一二三四五六七八九十一二三四五六七八九十"; got != want {
		t.Errorf("truncated value = %q, want %q", got, want)
	}
	if sends[0].MiniProgram.PagePath != "pages/coupon/detail?code=X" || sends[0].ClientMsgID != "c-1" {
		t.Errorf("send = %+v", sends[0])
	}
	var dedupes int
	for _, c := range e.sim.Calls(tmplPath) {
		if c.Dedupe {
			dedupes++
		}
	}
	if dedupes != 1 {
		t.Errorf("dedupe calls = %d, want 1", dedupes)
	}
}

func TestBizSendConsent(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(testApp, Follower{OpenID: "o1"})
	body := map[string]any{"touser": "o1", "template_id": "S1", "page": "pages/index",
		"data": map[string]any{"thing1": map[string]string{"value": "ok"}}}
	path := "/cgi-bin/message/subscribe/bizsend"
	if r := e.call(path, body); r.errcode() != 43101 {
		t.Errorf("no consent: errcode %d, want 43101", r.errcode())
	}
	e.sim.GrantConsent(testApp, "o1", "S1")
	if r := e.call(path, body); r.errcode() != 0 {
		t.Errorf("with consent: errcode %d, want 0 (%s)", r.errcode(), r.body)
	}
	if r := e.call(path, body); r.errcode() != 43101 {
		t.Errorf("consent used: errcode %d, want 43101", r.errcode())
	}
	e.sim.GrantConsent(testApp, "o1", "S1")
	body["data"] = map[string]any{"thing1": map[string]string{"value": "一二三四五六七八九十一二三四五六七八九十超"}}
	if r := e.call(path, body); r.errcode() != 47003 {
		t.Errorf("21-char thing: errcode %d, want 47003", r.errcode())
	}
	if n := len(e.sim.SubscribeSends(testApp)); n != 1 {
		t.Errorf("SubscribeSends = %d, want 1", n)
	}
}

func TestCustomSendWindow(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(testApp, Follower{OpenID: "o1"})
	text := map[string]any{"touser": "o1", "msgtype": "text", "text": map[string]string{"content": "hello"}}
	card := map[string]any{"touser": "o1", "msgtype": "miniprogrampage", "miniprogrampage": map[string]string{
		"title": "Coupon", "appid": testMP, "pagepath": "pages/coupon", "thumb_media_id": "M"}}
	path := "/cgi-bin/message/custom/send"
	for _, body := range []map[string]any{text, card} {
		if r := e.call(path, body); r.errcode() != 0 {
			t.Errorf("open window: errcode %d (%s)", r.errcode(), r.body)
		}
	}
	e.sim.SetCSWindow(testApp, "o1", false)
	if r := e.call(path, text); r.errcode() != 45015 {
		t.Errorf("closed window: errcode %d, want 45015", r.errcode())
	}
	if r := e.call(path, map[string]any{"touser": "o1", "msgtype": "bogus"}); r.errcode() != 40008 {
		t.Errorf("bad msgtype: errcode %d, want 40008", r.errcode())
	}
	cs := e.sim.Customs(testApp)
	if len(cs) != 2 || cs[0].Text != "hello" || cs[1].MiniProgramPage.PagePath != "pages/coupon" {
		t.Errorf("Customs = %+v", cs)
	}
}

func TestJobFinishPush(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var got []Message
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m struct {
			FromUserName, Event, Status string
			MsgID                       int64 `xml:"MsgID"`
		}
		xml.Unmarshal(b, &m)
		mu.Lock()
		got = append(got, Message{FromUserName: m.FromUserName, Event: m.Event, Status: m.Status, MsgID: m.MsgID})
		mu.Unlock()
		w.Write([]byte("success"))
	}))
	defer hook.Close()
	e.sim.SetWebhook(testApp, &Pusher{URL: hook.URL, Token: "tok"})
	e.sim.SetJobFinish(testApp, "success")
	e.sim.AddFollower(testApp, Follower{OpenID: "o1"})
	r := e.call(tmplPath, tmpl("o1", "", nil))
	e.sim.Close()
	sends := e.sim.Templates(testApp)
	if _, err := e.sim.PushJobFinish(context.Background(), testApp, sends[0].MsgID, "failed:user block"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("pushed %d events, want 2", len(got))
	}
	want := int64(r.json["msgid"].(float64))
	for i, status := range []string{"success", "failed:user block"} {
		if got[i].Event != EventTemplateJob || got[i].MsgID != want || got[i].Status != status || got[i].FromUserName != "o1" {
			t.Errorf("event %d = %+v", i, got[i])
		}
	}
}
