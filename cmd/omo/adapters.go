package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/worker"
)

// directory adapts the WeChat client to the worker's Directory.
type directory struct{ wx *wechat.Client }

func (d directory) UnionID(ctx context.Context, openid string) (string, error) {
	u, err := d.wx.UserInfo(ctx, openid)
	if err != nil {
		return "", sendError(err)
	}
	return u.UnionID, nil
}

// sender adapts the WeChat client to the worker's Sender. It is the one
// place where WeChat's error classes become the worker's.
type sender struct {
	wx      *wechat.Client
	mpAppID string // the mini-program messages open; "" = none configured

	mu   sync.Mutex
	tags map[string]int // tag name -> WeChat tag id
}

func newSender(wx *wechat.Client, mpAppID string) *sender {
	return &sender{wx: wx, mpAppID: mpAppID, tags: map[string]int{}}
}

func (s *sender) link(page string) *wechat.MiniProgramLink {
	if page == "" || s.mpAppID == "" {
		return nil
	}
	return &wechat.MiniProgramLink{AppID: s.mpAppID, PagePath: page}
}

func (s *sender) SendTemplate(ctx context.Context, m *outbox.Message, clientMsgID string) (int64, error) {
	id, err := s.wx.SendTemplate(ctx, wechat.TemplateMessage{
		ToUser: m.ToUser, TemplateID: m.TemplateID, MiniProgram: s.link(m.Page), Data: m.Data, ClientMsgID: clientMsgID,
	})
	return id, sendError(err)
}

func (s *sender) SendSubscribe(ctx context.Context, m *outbox.Message) error {
	return sendError(s.wx.SendSubscribe(ctx, wechat.SubscribeMessage{
		ToUser: m.ToUser, TemplateID: m.TemplateID, Page: m.Page, MiniProgram: s.link(m.Page), Data: m.Data,
	}))
}

func (s *sender) SendCustom(ctx context.Context, m *outbox.Message) error {
	if m.Card != nil {
		return sendError(s.wx.SendCustomMiniProgram(ctx, m.ToUser, wechat.MiniProgramCard{
			Title: m.Card.Title, AppID: s.mpAppID, PagePath: m.Page, ThumbMediaID: m.Card.ThumbMediaID,
		}))
	}
	return sendError(s.wx.SendCustomText(ctx, m.ToUser, m.Text))
}

// Tag tags (on) or untags openid with the tag named name, creating the tag
// at WeChat the first time.
func (s *sender) Tag(ctx context.Context, openid, name string, on bool) error {
	id, err := s.tagID(ctx, name)
	if err != nil {
		return sendError(err)
	}
	if on {
		return sendError(s.wx.TagFollowers(ctx, id, []string{openid}))
	}
	return sendError(s.wx.UntagFollowers(ctx, id, []string{openid}))
}

func (s *sender) tagID(ctx context.Context, name string) (int, error) {
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

// sendError maps a WeChat error to the worker's classes (DESIGN.md §6).
func sendError(err error) error {
	if err == nil {
		return nil
	}
	c := worker.Retry
	switch wechat.Classify(err) {
	case wechat.ClassBackoff:
		c = worker.Backoff
	case wechat.ClassQuota:
		c = worker.Quota
	case wechat.ClassFallback:
		c = worker.Fallback
	case wechat.ClassStop:
		c = worker.Stop
	case wechat.ClassConfig:
		c = worker.Config
	}
	return &worker.SendError{Class: c, Code: wechat.Code(err), Err: err}
}

// miniProgram adapts the WeChat client to the mini-program API's login. It
// is the one place where WeChat's answers to jscode2session become errs
// kinds (and so HTTP statuses): a refused code is Unauthorized with a
// message the mini-program can act on, WeChat down is Unavailable.
type miniProgram struct{ wx *wechat.Client }

func (m miniProgram) Code2Session(ctx context.Context, code string) (openid, unionid string, err error) {
	s, err := m.wx.Code2Session(ctx, code)
	if err != nil {
		return "", "", loginError(err)
	}
	if s.OpenID == "" {
		return "", "", errs.E(errs.Unavailable, "mp.code2session", "WeChat answered no openid; try again")
	}
	return s.OpenID, s.UnionID, nil
}

// loginError gives a jscode2session failure its kind and a message that
// names the problem without the code itself.
func loginError(err error) error {
	kind, msg := errs.Other, ""
	switch code := wechat.Code(err); code {
	case 40029:
		kind, msg = errs.Unauthorized, "login code is invalid or expired (WeChat 40029): call wx.login for a new one"
	case 40163:
		kind, msg = errs.Unauthorized, "login code was already used (WeChat 40163): call wx.login for a new one"
	case 40226:
		kind, msg = errs.Unauthorized, "WeChat blocked this user's login as high-risk (WeChat 40226)"
	default:
		switch wechat.Classify(err) {
		case wechat.ClassRetry, wechat.ClassBackoff, wechat.ClassRefresh, wechat.ClassUnknown:
			kind, msg = errs.Unavailable, "WeChat is unavailable; try again"
		case wechat.ClassConfig:
			if errors.Is(err, wechat.ErrNotConfigured) {
				kind, msg = errs.Unavailable, "mini-program login is not configured"
			}
			// Otherwise omo's mini-program app id or secret is wrong
			// (40013, 40125): a 500 for the caller, logged for the operator.
		}
	}
	return &errs.Error{Kind: kind, Op: "mp.code2session", Msg: msg, Err: err}
}

// qrCodes adapts the WeChat client to the referral's QR and mini-program codes.
type qrCodes struct{ wx *wechat.Client }

func (q qrCodes) CreateQRCode(ctx context.Context, scene string, expire time.Duration) (string, string, time.Duration, error) {
	c, err := q.wx.CreateQRCode(ctx, scene, expire)
	if err != nil {
		return "", "", 0, err
	}
	return c.Ticket, c.URL, c.ExpiresIn, nil
}

func (q qrCodes) WxaCode(ctx context.Context, scene, page string) ([]byte, error) {
	return q.wx.WxaCodeUnlimit(ctx, scene, page)
}
