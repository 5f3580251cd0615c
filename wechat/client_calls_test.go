package wechat_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

var update = flag.Bool("update", false, "rewrite testdata/requests/*.json from this run")

// golden compares the body of the last call to path with
// testdata/requests/name.json (indented JSON).
func golden(t *testing.T, sim *wechatsim.Sim, path, name string) {
	t.Helper()
	calls := sim.Calls(path)
	if len(calls) == 0 {
		t.Fatalf("no call to %s", path)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, bytes.TrimSpace(calls[len(calls)-1].Body), "", "  "); err != nil {
		t.Fatalf("%s body is not JSON: %v", path, err)
	}
	got.WriteByte('\n')
	file := filepath.Join("testdata", "requests", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("%s request body:\ngot:\n%s\nwant (%s):\n%s", path, got.Bytes(), file, want)
	}
}

func TestSendRequests(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1"})
	e.sim.GrantConsent(oaID, "o1", "SUB1")
	c := e.client(t)
	ctx := t.Context()
	mini := &wechat.MiniProgramLink{AppID: mpID, PagePath: "pages/coupon/detail?code=C1&omo_c=welcome&omo_m=42"}

	id, err := c.SendTemplate(ctx, wechat.TemplateMessage{ToUser: "o1", TemplateID: "TPL1", MiniProgram: mini,
		Data: map[string]string{"thing1": "¥10 off <first> order", "time2": "2026-12-31"}, ClientMsgID: "42"})
	if err != nil || id == 0 {
		t.Fatalf("SendTemplate = %d, %v", id, err)
	}
	golden(t, e.sim, "/cgi-bin/message/template/send", "template_send_mini")
	if _, err := c.SendTemplate(ctx, wechat.TemplateMessage{ToUser: "o1", TemplateID: "TPL1", URL: "https://example.com/a?b=1&c=2",
		Data: map[string]string{"thing1": "x"}}); err != nil {
		t.Fatal(err)
	}
	golden(t, e.sim, "/cgi-bin/message/template/send", "template_send_url")
	if got := e.sim.Templates(oaID); len(got) != 2 || got[0].MsgID != id || got[0].MiniProgram.PagePath != mini.PagePath || got[0].ClientMsgID != "42" {
		t.Errorf("sim templates = %+v", got)
	}

	if err := c.SendSubscribe(ctx, wechat.SubscribeMessage{ToUser: "o1", TemplateID: "SUB1", MiniProgram: mini,
		Data: map[string]string{"thing1": "Your coupon"}}); err != nil {
		t.Fatal(err)
	}
	golden(t, e.sim, "/cgi-bin/message/subscribe/bizsend", "subscribe_bizsend")

	if err := c.SendCustomText(ctx, "o1", "Nearest store: <b>Jing'an</b> & co"); err != nil {
		t.Fatal(err)
	}
	golden(t, e.sim, "/cgi-bin/message/custom/send", "custom_text")
	if err := c.SendCustomMiniProgram(ctx, "o1", wechat.MiniProgramCard{Title: "Your coupon", AppID: mpID, PagePath: mini.PagePath, ThumbMediaID: "MEDIA1"}); err != nil {
		t.Fatal(err)
	}
	golden(t, e.sim, "/cgi-bin/message/custom/send", "custom_miniprogram")

	if _, err := c.CreateQRCode(ctx, "ref:AB12", 30*time.Minute); err != nil {
		t.Fatal(err)
	}
	golden(t, e.sim, "/cgi-bin/qrcode/create", "qrcode_temporary")
	if _, err := c.CreateQRCode(ctx, "store:sh-001", 0); err != nil {
		t.Fatal(err)
	}
	golden(t, e.sim, "/cgi-bin/qrcode/create", "qrcode_permanent")
	if _, err := c.WxaCodeUnlimit(ctx, "r=AB12&c=x", "/pages/referral/index"); err != nil {
		t.Fatal(err)
	}
	golden(t, e.sim, "/wxa/getwxacodeunlimit", "wxacode_unlimit")
	if _, err := c.URLLink(ctx, "pages/coupon/detail", "code=C1&omo_c=welcome"); err != nil {
		t.Fatal(err)
	}
	golden(t, e.sim, "/wxa/generate_urllink", "urllink")
}

func TestUserInfo(t *testing.T) {
	e := newEnv(t)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1", UnionID: "u1", SubscribeTime: at,
		SubscribeScene: "ADD_SCENE_QR_CODE", QRSceneStr: "store:sh-001", TagIDs: []int{100, 101}})
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o2", UnionID: "u2"})
	e.sim.Unfollow(oaID, "o2")
	c := e.client(t)
	ctx := t.Context()

	got, err := c.UserInfo(ctx, "o1")
	if err != nil {
		t.Fatal(err)
	}
	want := wechat.UserInfo{OpenID: "o1", UnionID: "u1", Subscribed: true, SubscribeTime: at,
		Scene: "ADD_SCENE_QR_CODE", QRScene: "store:sh-001", TagIDs: []int{100, 101}}
	if fmt.Sprint(got) != fmt.Sprint(want) || !got.SubscribeTime.Equal(at) {
		t.Errorf("UserInfo(o1) = %+v, want %+v", got, want)
	}
	got, err = c.UserInfo(ctx, "o2")
	if err != nil || got.Subscribed || got.UnionID != "u2" {
		t.Errorf("UserInfo(unfollowed) = %+v, %v", got, err)
	}
	_, err = c.UserInfo(ctx, "nobody")
	if wechat.Code(err) != 40003 || errs.KindOf(err) != errs.Gone {
		t.Errorf("UserInfo(unknown) = %v, want 40003 stop", err)
	}
}

func TestTags(t *testing.T) {
	e := newEnv(t)
	var openids []string
	for i := range 120 {
		id := fmt.Sprintf("o%03d", i)
		openids = append(openids, id)
		e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: id})
	}
	c := e.client(t)
	ctx := t.Context()
	id, err := c.CreateTag(ctx, "vip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateTag(ctx, "vip"); errs.KindOf(err) != errs.Invalid {
		t.Errorf("CreateTag(existing) = %v, want a config error", err)
	}
	tags, err := c.Tags(ctx)
	if err != nil || tags["vip"] != id {
		t.Fatalf("Tags = %v, %v; want vip=%d", tags, err, id)
	}
	if err := c.TagFollowers(ctx, id, openids); err != nil {
		t.Fatal(err)
	}
	if n := e.sim.CallCount("/cgi-bin/tags/members/batchtagging"); n != 3 {
		t.Errorf("batchtagging calls = %d, want 3 (50 per call)", n)
	}
	if f, _, _ := e.sim.Follower(oaID, "o119"); !slices.Contains(f.TagIDs, id) {
		t.Errorf("o119 tags = %v, want %d among them", f.TagIDs, id)
	}
	if err := c.UntagFollowers(ctx, id, openids[:2]); err != nil {
		t.Fatal(err)
	}
	if f, _, _ := e.sim.Follower(oaID, "o001"); slices.Contains(f.TagIDs, id) {
		t.Errorf("o001 still has tag %d", id)
	}
}

func TestCode2Session(t *testing.T) {
	e := newEnv(t)
	e.sim.AddLoginCode(mpID, "code-1", "mp-o1", "u1")
	c := e.client(t)
	s, err := c.Code2Session(t.Context(), "code-1")
	if err != nil || s.OpenID != "mp-o1" || s.UnionID != "u1" || s.SessionKey == "" {
		t.Fatalf("Code2Session = %+v, %v", s, err)
	}
	_, err = c.Code2Session(t.Context(), "code-1")
	if wechat.Code(err) != 40163 || errs.KindOf(err) != errs.Invalid {
		t.Errorf("Code2Session(used code) = %v, want 40163", err)
	}
}

// newRefusingEnv is an env where WeChat refuses sends: o1 follows with its
// customer-service window closed and no subscribe consent; gone unfollowed.
func newRefusingEnv(t *testing.T) env {
	t.Helper()
	e := newEnv(t)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1"})
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "gone"})
	e.sim.Unfollow(oaID, "gone")
	e.sim.SetCSWindow(oaID, "o1", false)
	return e
}

func TestSendErrorClasses(t *testing.T) {
	e := newRefusingEnv(t)
	c := e.client(t)
	ctx := t.Context()
	tpl := func(to string) error {
		_, err := c.SendTemplate(ctx, wechat.TemplateMessage{ToUser: to, TemplateID: "T", Data: map[string]string{"thing1": "x"}})
		return err
	}
	if err := tpl("gone"); errs.KindOf(err) != errs.Gone || wechat.Code(err) != 43004 {
		t.Errorf("template to an unfollower = %v, want 43004 stop", err)
	}
	if err := c.SendCustomText(ctx, "o1", "hi"); errs.KindOf(err) != errs.WindowClosed {
		t.Errorf("custom text with the window closed = %v, want fallback", err)
	}
	if err := c.SendSubscribe(ctx, wechat.SubscribeMessage{ToUser: "o1", TemplateID: "S"}); errs.KindOf(err) != errs.Gone || wechat.Code(err) != 43101 {
		t.Errorf("bizsend without consent = %v, want 43101 stop", err)
	}
	for _, tc := range []struct {
		code int
		kind errs.Kind
	}{{45009, errs.QuotaSpent}, {45011, errs.Throttled}, {-1, errs.Unavailable}} {
		before := e.sim.CallCount("/cgi-bin/message/template/send")
		e.sim.Inject("/cgi-bin/message/template/send", tc.code, 1)
		err := tpl("o1")
		var ae *wechat.APIError
		if !errors.As(err, &ae) || ae.Code != tc.code || ae.Op != "template_send" || errs.KindOf(err) != tc.kind {
			t.Errorf("template answered %d: %v (kind %v), want %v", tc.code, err, errs.KindOf(err), tc.kind)
		}
		if n := e.sim.CallCount("/cgi-bin/message/template/send") - before; n != 1 {
			t.Errorf("errcode %d: %d calls, want 1 (only token errors are retried here)", tc.code, n)
		}
	}
}
