package wechat_test

import (
	"errors"
	"testing"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

// TestSenderSends: the Sender turns outbox messages into WeChat sends over
// the real client and the simulator; a page opens the configured
// mini-program.
func TestSenderSends(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1"})
	e.sim.GrantConsent(oaID, "o1", "S")
	s := wechat.NewSender(e.client(t), mpID)
	ctx := t.Context()

	msgid, err := s.SendTemplate(ctx, &outbox.Message{ToUser: "o1", TemplateID: "T", Page: "pages/c?x=1", Data: map[string]string{"thing1": "hi"}}, "m1")
	if err != nil || msgid == 0 {
		t.Fatalf("SendTemplate = %d, %v", msgid, err)
	}
	want := wechatsim.TemplateSend{MsgID: msgid, ToUser: "o1", TemplateID: "T", ClientMsgID: "m1",
		MiniProgram: wechatsim.MiniProgram{AppID: mpID, PagePath: "pages/c?x=1"}}
	if got := e.sim.Templates(oaID); len(got) != 1 || got[0].MsgID != want.MsgID || got[0].ToUser != want.ToUser ||
		got[0].ClientMsgID != want.ClientMsgID || got[0].MiniProgram != want.MiniProgram || got[0].Data["thing1"] != "hi" {
		t.Errorf("templates = %+v, want one like %+v", got, want)
	}
	if err := s.SendSubscribe(ctx, &outbox.Message{ToUser: "o1", TemplateID: "S", Page: "pages/c"}); err != nil {
		t.Fatalf("SendSubscribe = %v", err)
	}
	if got := e.sim.SubscribeSends(oaID); len(got) != 1 || got[0].MiniProgram.AppID != mpID || got[0].Page != "pages/c" {
		t.Errorf("subscribe sends = %+v, want one opening pages/c in %s", got, mpID)
	}
	if err := s.SendCustom(ctx, &outbox.Message{ToUser: "o1", Text: "hello"}); err != nil {
		t.Fatalf("SendCustom(text) = %v", err)
	}
	card := &outbox.Message{ToUser: "o1", Page: "pages/c", Card: &outbox.Card{Title: "10 off", ThumbMediaID: "media-1"}}
	if err := s.SendCustom(ctx, card); err != nil {
		t.Fatalf("SendCustom(card) = %v", err)
	}
	got := e.sim.Customs(oaID)
	wantCard := wechatsim.MiniProgramPage{Title: "10 off", AppID: mpID, PagePath: "pages/c", ThumbMediaID: "media-1"}
	if len(got) != 2 || got[0].Text != "hello" || got[1].MiniProgramPage != wantCard {
		t.Errorf("custom sends = %+v, want the text then card %+v", got, wantCard)
	}

	// Without a mini-program, a template opens none.
	if _, err := wechat.NewSender(e.client(t), "").SendTemplate(ctx, &outbox.Message{ToUser: "o1", TemplateID: "T", Page: "pages/c"}, "m2"); err != nil {
		t.Fatal(err)
	}
	if got := e.sim.Templates(oaID); len(got) != 2 || got[1].MiniProgram != (wechatsim.MiniProgram{}) {
		t.Errorf("template without a mini-program = %+v, want no mini-program", got[len(got)-1])
	}
}

// TestSenderErrors: what WeChat answers reaches the worker as an errs kind
// with the errcode behind it (errors.As on Errcode, as the worker does).
func TestSenderErrors(t *testing.T) {
	e := newRefusingEnv(t)
	s := wechat.NewSender(e.client(t), mpID)
	ctx := t.Context()
	tpl := func(to string) error {
		_, err := s.SendTemplate(ctx, &outbox.Message{ToUser: to, TemplateID: "T"}, "")
		return err
	}
	tests := []struct {
		name    string
		prepare func()
		send    func() error
		kind    errs.Kind
		code    int
	}{
		{"template to an unfollower", nil, func() error { return tpl("gone") }, errs.Gone, 43004},
		{"window closed", nil, func() error { return s.SendCustom(ctx, &outbox.Message{ToUser: "o1", Text: "hi"}) }, errs.WindowClosed, 45015},
		{"no consent", nil, func() error { return s.SendSubscribe(ctx, &outbox.Message{ToUser: "o1", TemplateID: "S"}) }, errs.Gone, 43101},
		{"quota", func() { e.sim.Inject(pathTemplateSend, 45009, 1) }, func() error { return tpl("o1") }, errs.QuotaSpent, 45009},
		{"too often", func() { e.sim.Inject(pathTemplateSend, 45011, 1) }, func() error { return tpl("o1") }, errs.Throttled, 45011},
		{"busy", func() { e.sim.Inject(pathTemplateSend, -1, 1) }, func() error { return tpl("o1") }, errs.Unavailable, -1},
		{"WeChat down", func() { e.sim.InjectStatus(pathTemplateSend, 502, 1) }, func() error { return tpl("o1") }, errs.Unavailable, 0},
		{"unknown openid", nil, func() error { _, err := s.UnionID(ctx, "nobody"); return err }, errs.Gone, 40003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.prepare != nil {
				tt.prepare()
			}
			err := tt.send()
			if !errs.Is(err, tt.kind) {
				t.Errorf("err = %v (kind %v), want kind %v", err, errs.KindOf(err), tt.kind)
			}
			var ec interface{ Errcode() int }
			if code := 0; errors.As(err, &ec) {
				if code = ec.Errcode(); code != tt.code {
					t.Errorf("errcode = %d, want %d", code, tt.code)
				}
			} else if tt.code != 0 {
				t.Errorf("err = %v has no errcode, want %d", err, tt.code)
			}
		})
	}
}

// TestSenderTagsAndUnionID: Tag creates the tag once and reuses its id;
// UnionID is the follower's.
func TestSenderTagsAndUnionID(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1", UnionID: "u1"})
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o2"})
	s := wechat.NewSender(e.client(t), "")
	ctx := t.Context()
	for _, openid := range []string{"o1", "o2"} {
		if err := s.Tag(ctx, openid, "vip", true); err != nil {
			t.Fatalf("Tag(%s, vip) = %v", openid, err)
		}
	}
	if err := s.Tag(ctx, "o2", "vip", false); err != nil {
		t.Fatalf("untag = %v", err)
	}
	tags := e.sim.Tags(oaID)
	if len(tags) != 1 || tags[0].Name != "vip" {
		t.Fatalf("sim tags = %+v, want vip only", tags)
	}
	if n := e.sim.CallCount("/cgi-bin/tags/create"); n != 1 {
		t.Errorf("tags/create calls = %d, want 1", n)
	}
	if n := e.sim.CallCount("/cgi-bin/tags/get"); n != 1 {
		t.Errorf("tags/get calls = %d, want 1 (the id is remembered)", n)
	}
	if f, _, _ := e.sim.Follower(oaID, "o1"); len(f.TagIDs) != 1 || f.TagIDs[0] != tags[0].ID {
		t.Errorf("o1 tags = %v, want [%d]", f.TagIDs, tags[0].ID)
	}
	if f, _, _ := e.sim.Follower(oaID, "o2"); len(f.TagIDs) != 0 {
		t.Errorf("o2 tags = %v, want none", f.TagIDs)
	}
	if u, err := s.UnionID(ctx, "o1"); err != nil || u != "u1" {
		t.Errorf("UnionID(o1) = %q, %v; want u1", u, err)
	}
	if u, err := s.UnionID(ctx, "o2"); err != nil || u != "" {
		t.Errorf("UnionID(o2) = %q, %v; want none", u, err)
	}
}

const pathTemplateSend = "/cgi-bin/message/template/send"
