package wechat

import (
	"context"
	"sync"

	"github.com/omohq/omo/outbox"
)

// Sender delivers outbox messages and follower tags to the Official Account
// through a Client, and looks up followers' unionids: it is the worker's
// Sender and Directory. Its errors are the Client's: an *errs.Error whose
// kind says what to do (errcodeKind) and, when WeChat refused the call, an
// *APIError cause whose Errcode the worker records. Safe for concurrent use.
type Sender struct {
	wx      *Client
	mpAppID string // the mini-program messages open; "" = none configured

	mu   sync.Mutex
	tags map[string]int // tag name -> WeChat tag id
}

// NewSender returns a Sender over wx. Messages with a page open it in the
// mini-program mpAppID; with mpAppID "" they open no mini-program.
func NewSender(wx *Client, mpAppID string) *Sender {
	return &Sender{wx: wx, mpAppID: mpAppID, tags: map[string]int{}}
}

// link is the mini-program page a message opens, nil for none.
func (s *Sender) link(page string) *MiniProgramLink {
	if page == "" || s.mpAppID == "" {
		return nil
	}
	return &MiniProgramLink{AppID: s.mpAppID, PagePath: page}
}

// SendTemplate sends m as a template message with clientMsgID as WeChat's
// guard against a repeat, and returns WeChat's msgid.
func (s *Sender) SendTemplate(ctx context.Context, m *outbox.Message, clientMsgID string) (int64, error) {
	return s.wx.SendTemplate(ctx, TemplateMessage{
		ToUser: m.ToUser, TemplateID: m.TemplateID, MiniProgram: s.link(m.Page), Data: m.Data, ClientMsgID: clientMsgID,
	})
}

// SendSubscribe sends m as an OA subscribe notification; a refused or used
// consent (43101) is errs.Gone.
func (s *Sender) SendSubscribe(ctx context.Context, m *outbox.Message) error {
	return s.wx.SendSubscribe(ctx, SubscribeMessage{
		ToUser: m.ToUser, TemplateID: m.TemplateID, Page: m.Page, MiniProgram: s.link(m.Page), Data: m.Data,
	})
}

// SendCustom sends m as a customer-service message: its mini-program card
// if it has one, else its text. A closed window (45015, 45047) is
// errs.WindowClosed.
func (s *Sender) SendCustom(ctx context.Context, m *outbox.Message) error {
	if m.Card != nil {
		return s.wx.SendCustomMiniProgram(ctx, m.ToUser, MiniProgramCard{
			Title: m.Card.Title, AppID: s.mpAppID, PagePath: m.Page, ThumbMediaID: m.Card.ThumbMediaID,
		})
	}
	return s.wx.SendCustomText(ctx, m.ToUser, m.Text)
}

// Tag tags (on) or untags openid with the tag named name, creating the tag
// at WeChat the first time. Tag ids are remembered for the Sender's life.
func (s *Sender) Tag(ctx context.Context, openid, name string, on bool) error {
	id, err := s.tagID(ctx, name)
	if err != nil {
		return err
	}
	if on {
		return s.wx.TagFollowers(ctx, id, []string{openid})
	}
	return s.wx.UntagFollowers(ctx, id, []string{openid})
}

// tagID returns the id of the tag named name, creating the tag if WeChat
// has none of that name.
func (s *Sender) tagID(ctx context.Context, name string) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, ok := s.tags[name]; ok {
		return id, nil
	}
	all, err := s.wx.Tags(ctx)
	if err != nil {
		return 0, err
	}
	id, ok := all[name]
	if !ok {
		if id, err = s.wx.CreateTag(ctx, name); err != nil {
			return 0, err
		}
	}
	s.tags[name] = id
	return id, nil
}

// UnionID returns openid's unionid, "" when the OA is not bound to an Open
// Platform account. An openid that is not the OA's (40003) is errs.Gone.
func (s *Sender) UnionID(ctx context.Context, openid string) (string, error) {
	u, err := s.wx.UserInfo(ctx, openid)
	if err != nil {
		return "", err
	}
	return u.UnionID, nil
}

// SendMass is one message/mass/send call for the worker's mass chunks.
func (s *Sender) SendMass(ctx context.Context, m outbox.MassRequest) (msgID, msgDataID int64, err error) {
	return s.wx.SendMass(ctx, MassMessage{
		ToUsers: m.ToUsers, Text: m.Text, MediaID: m.MediaID, IgnoreReprint: m.IgnoreReprint, ClientMsgID: m.ClientMsgID,
	})
}
