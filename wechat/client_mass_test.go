package wechat_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

const massPath = "/cgi-bin/message/mass/send"

// massEnv is e with a fixed simulator clock (the per-minute limit counts
// calendar minutes) and three followers.
func massEnv(t *testing.T) (env, *fixedClock) {
	t.Helper()
	clk := &fixedClock{t: time.Date(2026, 12, 1, 10, 0, 30, 0, time.UTC)}
	sim := wechatsim.New(wechatsim.Options{Now: clk.Now})
	sim.AddApp(oaID, oaSecret)
	sim.AddApp(mpID, mpSecret)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	for _, o := range []string{"o1", "o2", "o3"} {
		sim.AddFollower(oaID, wechatsim.Follower{OpenID: o})
	}
	return env{sim: sim, url: srv.URL, rdb: newRedis(t, testEnvRedisURL(t))}, clk
}

type fixedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fixedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fixedClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// eventHook is an OA webhook in safe mode that opens every push with the
// real Codec and parser and hands the events to got.
func eventHook(t *testing.T) (*wechatsim.Pusher, chan *events.Event) {
	t.Helper()
	codec, err := wechat.NewCodec(wechat.WebhookConfig{AppID: oaID, Token: hookToken, EncodingAESKey: hookKey})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *events.Event, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		plain, err := codec.Open(r.URL.Query(), body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		ev, err := wechat.ParseEvent(plain)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- ev
		io.WriteString(w, "success")
	}))
	t.Cleanup(srv.Close)
	return &wechatsim.Pusher{URL: srv.URL, Token: hookToken, EncodingAESKey: hookKey, AppID: oaID}, got
}

// TestSendMass sends a chunk of three openids; WeChat takes the job and
// pushes MASSSENDJOBFINISH, which the webhook parser reads with its counts.
func TestSendMass(t *testing.T) {
	e, _ := massEnv(t)
	hook, got := eventHook(t)
	e.sim.SetWebhook(oaID, hook)
	c := e.client(t)
	msgID, dataID, err := c.SendMass(t.Context(), wechat.MassMessage{ToUsers: []string{"o1", "o2", "o3"},
		Text: "Double 11 starts at 10:00 & your ¥20 coupon <waits>", ClientMsgID: "omo:launch:7:0"})
	if err != nil || msgID == 0 || dataID == 0 {
		t.Fatalf("SendMass = %d, %d, %v", msgID, dataID, err)
	}
	golden(t, e.sim, massPath, "mass_send_text")
	e.sim.Close()
	ev := <-got
	want := events.Event{Type: events.MassSendJobFinish, OpenID: wechatsim.MassAssistantOpenID, MsgID: msgID,
		Status: "send success", TotalCount: 3, FilterCount: 3, SentCount: 3, ErrorCount: 0}
	if ev.Type != want.Type || ev.OpenID != want.OpenID || ev.MsgID != want.MsgID || ev.Status != want.Status ||
		ev.TotalCount != 3 || ev.FilterCount != 3 || ev.SentCount != 3 || ev.ErrorCount != 0 {
		t.Errorf("pushed event = %+v\nwant %+v", ev, want)
	}
	if ev.DedupeKey() == (&events.Event{Type: ev.Type, OpenID: ev.OpenID, CreatedAt: ev.CreatedAt, MsgID: ev.MsgID + 1}).DedupeKey() {
		t.Errorf("two mass jobs finishing in one second share a dedupe key")
	}

	if _, _, err := c.SendMass(t.Context(), wechat.MassMessage{ToUsers: []string{"o1", "o2"}, MediaID: "MEDIA_1", IgnoreReprint: true}); err != nil {
		t.Fatal(err)
	}
	golden(t, e.sim, massPath, "mass_send_mpnews")
}

func TestSendMassClientMsgIDSendsOnce(t *testing.T) {
	e, _ := massEnv(t)
	c := e.client(t)
	m := wechat.MassMessage{ToUsers: []string{"o1", "o2"}, Text: "hi", ClientMsgID: "omo:launch:7:1"}
	id1, data1, err1 := c.SendMass(t.Context(), m)
	// The repeat: WeChat answers 45065 "clientmsgid exist" with the first
	// send's msg_id, which SendMass returns as sent.
	id2, data2, err2 := c.SendMass(t.Context(), m)
	if err1 != nil || err2 != nil || id1 == 0 || id1 != id2 || data1 == 0 || data2 != 0 {
		t.Fatalf("two sends with one clientmsgid = (%d, %d, %v), (%d, %d, %v); want the first's msg_id twice, its msg_data_id once (a repeat's answer has none)", id1, data1, err1, id2, data2, err2)
	}
	if n := len(e.sim.MassSends(oaID)); n != 1 {
		t.Errorf("mass sends at WeChat = %d, want 1", n)
	}
	// A 45065 that quotes no msg_id says nothing to record: an error that
	// stops (retrying answers the same).
	e.sim.Inject(massPath, 45065, 1)
	_, _, err := c.SendMass(t.Context(), wechat.MassMessage{ToUsers: []string{"o1", "o2"}, Text: "hi", ClientMsgID: "omo:launch:7:2"})
	if wechat.Code(err) != 45065 || !errs.Is(err, errs.Invalid) {
		t.Errorf("45065 without a msg_id = %v (kind %v), want errcode 45065, Invalid", err, errs.KindOf(err))
	}
}

func TestSendMassRefusedBeforeCalling(t *testing.T) {
	e, _ := massEnv(t)
	c := e.client(t)
	long := make([]byte, 65)
	for i := range long {
		long[i] = 'x'
	}
	tests := []struct {
		name string
		m    wechat.MassMessage
	}{
		{"one openid", wechat.MassMessage{ToUsers: []string{"o1"}, Text: "hi"}},
		{"none", wechat.MassMessage{Text: "hi"}},
		{"over 10,000", wechat.MassMessage{ToUsers: make([]string, 10001), Text: "hi"}},
		{"empty openid", wechat.MassMessage{ToUsers: []string{"o1", ""}, Text: "hi"}},
		{"no content", wechat.MassMessage{ToUsers: []string{"o1", "o2"}}},
		{"text and media", wechat.MassMessage{ToUsers: []string{"o1", "o2"}, Text: "hi", MediaID: "M"}},
		{"clientmsgid over 64 bytes", wechat.MassMessage{ToUsers: []string{"o1", "o2"}, Text: "hi", ClientMsgID: string(long)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := c.SendMass(t.Context(), tt.m)
			if !errs.Is(err, errs.Invalid) || !errors.Is(err, wechat.ErrInvalid) {
				t.Errorf("err = %v (kind %s), want Invalid wrapping ErrInvalid", err, errs.KindOf(err))
			}
		})
	}
	if n := e.sim.CallCount(massPath); n != 0 {
		t.Errorf("calls to %s = %d, want 0", massPath, n)
	}
}

func TestSendMassRateLimit(t *testing.T) {
	e, clk := massEnv(t)
	c := e.client(t)
	for i := range 60 {
		if _, _, err := c.SendMass(t.Context(), wechat.MassMessage{ToUsers: []string{"o1", "o2"}, Text: "hi", ClientMsgID: fmt.Sprint("c", i)}); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	_, _, err := c.SendMass(t.Context(), wechat.MassMessage{ToUsers: []string{"o1", "o2"}, Text: "hi", ClientMsgID: "c60"})
	if wechat.Code(err) != 45011 || errs.KindOf(err) != errs.Throttled {
		t.Fatalf("61st call in a minute: %v (kind %s), want 45011, throttled", err, errs.KindOf(err))
	}
	clk.Add(time.Minute)
	if _, _, err := c.SendMass(t.Context(), wechat.MassMessage{ToUsers: []string{"o1", "o2"}, Text: "hi", ClientMsgID: "c60"}); err != nil {
		t.Errorf("the next minute: %v", err)
	}
}

func TestSendMassErrors(t *testing.T) {
	tests := []struct {
		code int
		want errs.Kind
	}{
		{45028, errs.QuotaSpent},
		{40130, errs.Invalid},
		{89504, errs.Invalid},
		{89505, errs.Invalid},
		{45009, errs.QuotaSpent},
		{-1, errs.Unavailable},
	}
	e, _ := massEnv(t)
	c := e.client(t)
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			e.sim.Inject(massPath, tt.code, 1)
			_, _, err := c.SendMass(t.Context(), wechat.MassMessage{ToUsers: []string{"o1", "o2"}, Text: "hi"})
			var ae *wechat.APIError
			if !errors.As(err, &ae) || ae.Code != tt.code || ae.Op != "mass_send" || errs.KindOf(err) != tt.want {
				t.Errorf("err = %v (kind %s), want an APIError %d of mass_send, kind %s", err, errs.KindOf(err), tt.code, tt.want)
			}
		})
	}
	e.sim.Inject(massPath, 40001, 1) // a replaced token: refreshed and retried once
	if _, _, err := c.SendMass(t.Context(), wechat.MassMessage{ToUsers: []string{"o1", "o2"}, Text: "hi"}); err != nil {
		t.Errorf("after 40001: %v", err)
	}
}
