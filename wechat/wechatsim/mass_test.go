package wechatsim

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"
)

const massPath = "/cgi-bin/message/mass/send"

func massText(clientMsgID string, to ...string) map[string]any {
	return map[string]any{"touser": to, "msgtype": "text", "text": map[string]string{"content": "Double 11 starts at 10:00"},
		"send_ignore_reprint": 0, "clientmsgid": clientMsgID}
}

func TestMassSendChecks(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(testApp, Follower{OpenID: "o1"})
	e.sim.AddFollower(testApp, Follower{OpenID: "o2"})
	many := make([]string, 10001)
	for i := range many {
		many[i] = fmt.Sprintf("o%d", i)
	}
	tests := []struct {
		name string
		body any
		want int
	}{
		{"one openid", massText("", "o1"), 40130},
		{"no openid", massText(""), 40130},
		{"over 10,000", massText("", many...), 40032},
		{"empty text", map[string]any{"touser": []string{"o1", "o2"}, "msgtype": "text", "text": map[string]string{"content": ""}}, 44004},
		{"mpnews without media_id", map[string]any{"touser": []string{"o1", "o2"}, "msgtype": "mpnews"}, 40007},
		{"unknown msgtype", map[string]any{"touser": []string{"o1", "o2"}, "msgtype": "fax"}, 40008},
		{"text", massText("", "o1", "o2"), 0},
		{"mpnews", map[string]any{"touser": []string{"o1", "o2"}, "msgtype": "mpnews", "mpnews": map[string]string{"media_id": "M1"}, "send_ignore_reprint": 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.call(massPath, tt.body)
			if r.errcode() != tt.want {
				t.Errorf("errcode = %d, want %d (%s)", r.errcode(), tt.want, r.body)
			}
			if tt.want == 0 && (r.json["msg_id"] == nil || r.json["msg_data_id"] == nil) {
				t.Errorf("no msg_id or msg_data_id in %s", r.body)
			}
		})
	}
	sends := e.sim.MassSends(testApp)
	if len(sends) != 2 || sends[0].Text != "Double 11 starts at 10:00" || sends[1].MediaID != "M1" || !sends[1].IgnoreReprint {
		t.Errorf("MassSends = %+v", sends)
	}
}

// TestMassSendRecipients: only followers are sent to, each at most four
// times a natural month in Beijing time, and the counts say so.
func TestMassSendRecipients(t *testing.T) {
	e := newEnv(t)
	e.clk.Add(-10 * time.Hour) // 2026-12-01 00:00 UTC = 08:00 in Beijing
	for _, o := range []string{"o-fan", "o-gone", "o-busy"} {
		e.sim.AddFollower(testApp, Follower{OpenID: o})
	}
	e.sim.Unfollow(testApp, "o-gone")
	for i := range 4 {
		e.call(massPath, massText(fmt.Sprint("busy-", i), "o-busy", "o-busy", "o-fan"))
	}
	r := e.call(massPath, massText("fifth", "o-fan", "o-gone", "o-stranger", "o-busy"))
	if r.errcode() != 0 {
		t.Fatalf("fifth send: %s", r.body)
	}
	last := e.sim.MassSends(testApp)[4]
	got := fmt.Sprintf("%v %d %d %d %d %s", last.Delivered, last.TotalCount, last.FilterCount, last.SentCount, last.ErrorCount, last.Status)
	if want := "[] 4 2 0 2 send fail"; got != want {
		t.Errorf("fifth send delivered, total, filter, sent, error, status = %s, want %s", got, want)
	}
	// 2026-12-31 16:00 UTC is January in Beijing: a new month.
	e.clk.Add(30*24*time.Hour + 16*time.Hour)
	e.call(massPath, massText("january", "o-fan", "o-busy"))
	jan := e.sim.MassSends(testApp)[5]
	if !slices.Equal(jan.Delivered, []string{"o-fan", "o-busy"}) || jan.Status != "send success" {
		t.Errorf("January send = %+v, want both delivered", jan)
	}
	e.sim.SetMassMonthlyCap(testApp, 0)
	for range 5 {
		e.call(massPath, massText("", "o-fan", "o-busy"))
	}
	if s := e.sim.MassSends(testApp); s[len(s)-1].SentCount != 2 {
		t.Errorf("with no cap, send = %+v", s[len(s)-1])
	}
}

func TestMassSendClientMsgID(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(testApp, Follower{OpenID: "o1"})
	e.sim.AddFollower(testApp, Follower{OpenID: "o2"})
	first := e.call(massPath, massText("c-1", "o1", "o2"))
	again := e.call(massPath, massText("c-1", "o1", "o2"))
	// WeChat's answer to a repeat: 45065 "clientmsgid exist" with the first
	// send's msg_id, and nothing sent.
	if first.errcode() != 0 || again.errcode() != 45065 || first.json["msg_id"] == nil || first.json["msg_id"] != again.json["msg_id"] || again.json["msg_data_id"] != nil {
		t.Errorf("repeat answered %s, first %s: want 45065 with the first's msg_id", again.body, first.body)
	}
	if n := len(e.sim.MassSends(testApp)); n != 1 {
		t.Errorf("sends after a repeat = %d, want 1", n)
	}
	if calls := e.sim.Calls(massPath); !calls[1].Dedupe {
		t.Errorf("repeat not marked Dedupe: %+v", calls[1])
	}
	e.clk.Add(24 * time.Hour)
	later := e.call(massPath, massText("c-1", "o1", "o2"))
	if later.json["msg_id"] == first.json["msg_id"] || len(e.sim.MassSends(testApp)) != 2 {
		t.Errorf("a repeat 24 h later was not sent: %s", later.body)
	}
}

func TestMassSendRateLimit(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(testApp, Follower{OpenID: "o1"})
	e.sim.AddFollower(testApp, Follower{OpenID: "o2"})
	tok := e.token(testApp, testSecret)
	for i := range 60 {
		if r := e.post(massPath, at(tok), massText(fmt.Sprint(i), "o1", "o2")); r.errcode() != 0 {
			t.Fatalf("call %d: %s", i+1, r.body)
		}
	}
	if r := e.post(massPath, at(tok), massText("61", "o1", "o2")); r.errcode() != 45011 {
		t.Errorf("61st call in a minute = %s, want 45011", r.body)
	}
	e.clk.Add(time.Minute)
	if r := e.post(massPath, at(tok), massText("next", "o1", "o2")); r.errcode() != 0 {
		t.Errorf("first call of the next minute = %s", r.body)
	}
	if n := len(e.sim.MassSends(testApp)); n != 61 {
		t.Errorf("sends = %d, want 61", n)
	}
}

// TestMassSendJobFinish: after a send the Sim pushes MASSSENDJOBFINISH
// with the counts, and the control API shows the send.
func TestMassSendJobFinish(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m struct {
			FromUserName, Event, Status                    string
			MsgID                                          int64 `xml:"MsgID"`
			TotalCount, FilterCount, SentCount, ErrorCount int
		}
		xml.Unmarshal(b, &m)
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %s %d %s %d %d %d %d", m.FromUserName, m.Event, m.MsgID, m.Status, m.TotalCount, m.FilterCount, m.SentCount, m.ErrorCount))
		mu.Unlock()
		w.Write([]byte("success"))
	}))
	defer hook.Close()
	e.sim.SetWebhook(testApp, &Pusher{URL: hook.URL, Token: "tok"})
	for _, o := range []string{"o1", "o2", "o3"} {
		e.sim.AddFollower(testApp, Follower{OpenID: o})
	}
	r := e.call(massPath, massText("c", "o1", "o2", "o3", "o-stranger"))
	e.sim.Close()
	msgID := int64(r.json["msg_id"].(float64))
	mu.Lock()
	want := []string{fmt.Sprintf("%s %s %d send success 4 3 3 0", MassAssistantOpenID, EventMassJob, msgID)}
	if !slices.Equal(got, want) {
		t.Errorf("pushed %q, want %q", got, want)
	}
	mu.Unlock()
	v := e.get("/_sim/mass", url.Values{"app_id": {testApp}})
	var view []MassSend
	if err := json.Unmarshal(v.body, &view); err != nil || len(view) != 1 || view[0].MsgID != msgID || len(view[0].Delivered) != 3 {
		t.Errorf("GET /_sim/mass = %s (%v)", v.body, err)
	}
}
