package wechatsim

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// recorder is a plaintext-mode webhook that keeps what it receives.
type recorder struct {
	mu   sync.Mutex
	msgs []parsed
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var p parsed
	xml.Unmarshal(b, &p)
	rc.mu.Lock()
	rc.msgs = append(rc.msgs, p)
	rc.mu.Unlock()
	io.WriteString(w, "success")
}

func (rc *recorder) last() parsed {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.msgs[len(rc.msgs)-1]
}

func newDriverEnv(t *testing.T) (*env, *recorder) {
	e := newEnv(t)
	rc := &recorder{}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	e.sim.SetWebhook(testApp, &Pusher{URL: hook.URL, Token: "tok"})
	return e, rc
}

func TestScanQRCodeFollowThenScan(t *testing.T) {
	e, rc := newDriverEnv(t)
	ctx := context.Background()
	ticket := e.call("/cgi-bin/qrcode/create", qrBody("QR_LIMIT_STR_SCENE", 0, map[string]any{"scene_str": "ref:abc"})).str("ticket")
	e.sim.AddUser(testApp, Follower{OpenID: "o1", UnionID: "u1"})

	if _, err := e.sim.ScanQRCode(ctx, testApp, "o1", ticket); err != nil {
		t.Fatal(err)
	}
	got := rc.last()
	if got.Event != "subscribe" || got.EventKey != "qrscene_ref:abc" || got.Ticket != ticket || got.ToUserName != e.sim.OriginalID(testApp) {
		t.Errorf("first scan pushed %+v", got)
	}
	f, following, _ := e.sim.Follower(testApp, "o1")
	if !following || f.UnionID != "u1" || f.SubscribeScene != "ADD_SCENE_QR_CODE" || f.QRSceneStr != "ref:abc" {
		t.Errorf("follower after subscribe: %+v following=%v", f, following)
	}

	if _, err := e.sim.ScanQRCode(ctx, testApp, "o1", ticket); err != nil {
		t.Fatal(err)
	}
	if got := rc.last(); got.Event != "SCAN" || got.EventKey != "ref:abc" {
		t.Errorf("second scan pushed %+v", got)
	}
	if _, err := e.sim.ScanQRCode(ctx, testApp, "o1", "nope"); !errors.Is(err, ErrUnknownTicket) {
		t.Errorf("unknown ticket: err %v", err)
	}
}

func TestPushChangesState(t *testing.T) {
	e, _ := newDriverEnv(t)
	ctx := context.Background()
	now := e.clk.Now()
	push := func(m Message) {
		t.Helper()
		if _, err := e.sim.Push(ctx, testApp, m); err != nil {
			t.Fatal(err)
		}
	}
	push(Subscribe("", "o1", now, ""))
	if r := e.call(tmplPath, tmpl("o1", "", nil)); r.errcode() != 0 {
		t.Errorf("after subscribe: errcode %d", r.errcode())
	}

	custom := map[string]any{"touser": "o1", "msgtype": "text", "text": map[string]string{"content": "x"}}
	e.sim.SetCSWindow(testApp, "o1", false)
	push(Location("", "o1", now, 31, 121, 10))
	if r := e.call("/cgi-bin/message/custom/send", custom); r.errcode() != 45015 {
		t.Errorf("LOCATION reopened the window: errcode %d", r.errcode())
	}
	push(Text("", "o1", now, "hi", 1))
	if r := e.call("/cgi-bin/message/custom/send", custom); r.errcode() != 0 {
		t.Errorf("text did not reopen the window: errcode %d", r.errcode())
	}

	push(SubscribeMsgPopupEvent("", "o1", now, []PopupItem{
		{TemplateId: "S1", SubscribeStatusString: "accept", PopupScene: 2},
		{TemplateId: "S2", SubscribeStatusString: "reject", PopupScene: 2}}))
	biz := func(tid string) int {
		return e.call("/cgi-bin/message/subscribe/bizsend", map[string]any{"touser": "o1", "template_id": tid}).errcode()
	}
	if got := biz("S1"); got != 0 {
		t.Errorf("accepted template: errcode %d", got)
	}
	if got := biz("S2"); got != 43101 {
		t.Errorf("rejected template: errcode %d, want 43101", got)
	}

	push(Unsubscribe("", "o1", now))
	if r := e.call(tmplPath, tmpl("o1", "", nil)); r.errcode() != 43004 {
		t.Errorf("after unsubscribe: errcode %d, want 43004", r.errcode())
	}
}

func TestPushWithoutWebhook(t *testing.T) {
	e := newEnv(t)
	_, err := e.sim.Push(context.Background(), testApp, Subscribe("", "o1", e.clk.Now(), "store:1"))
	if !errors.Is(err, ErrNoWebhook) {
		t.Errorf("err = %v, want ErrNoWebhook", err)
	}
	if _, following, _ := e.sim.Follower(testApp, "o1"); !following {
		t.Error("state did not change without a webhook")
	}
}
