package wechat

import (
	"context"
	"errors"

	"github.com/omohq/omo/errs"
)

// Login is the mini-program API's login (httpapi.MiniProgram) over a
// Client. It is the one place where WeChat's answers to jscode2session
// become the caller's kinds (and so HTTP statuses) and messages: a refused
// code is errs.Unauthorized with a message the mini-program can act on,
// WeChat down or busy is errs.Unavailable, omo's own mini-program
// credentials being wrong is errs.Other (a 500, logged for the operator).
type Login struct{ wx *Client }

// NewLogin returns the login over wx.
func NewLogin(wx *Client) Login { return Login{wx: wx} }

// Code2Session exchanges a wx.login code for the user's mini-program openid
// and unionid ("" unless bound to an Open Platform account). Errors are
// *errs.Error with op mp.code2session and a message that never shows the code.
func (l Login) Code2Session(ctx context.Context, code string) (openid, unionid string, err error) {
	s, err := l.wx.Code2Session(ctx, code)
	if err != nil {
		return "", "", loginError(err)
	}
	if s.OpenID == "" {
		return "", "", errs.E(errs.Unavailable, "mp.code2session", "WeChat answered no openid; try again")
	}
	return s.OpenID, s.UnionID, nil
}

// loginError gives a jscode2session failure the login's kind and a message
// that names the problem without the code itself. The Client's kind is
// replaced, not wrapped: its cause is kept, so a 500 stays a 500.
func loginError(err error) error {
	cause := err
	var ke *errs.Error
	if errors.As(err, &ke) && ke.Err != nil {
		cause = ke.Err
	}
	kind, msg := errs.Other, ""
	switch code := Code(err); code {
	case 40029:
		kind, msg = errs.Unauthorized, "login code is invalid or expired (WeChat 40029): call wx.login for a new one"
	case 40163:
		kind, msg = errs.Unauthorized, "login code was already used (WeChat 40163): call wx.login for a new one"
	case 40226:
		kind, msg = errs.Unauthorized, "WeChat blocked this user's login as high-risk (WeChat 40226)"
	default:
		switch errs.KindOf(err) {
		case errs.Unavailable, errs.Throttled, errs.Other:
			kind, msg = errs.Unavailable, "WeChat is unavailable; try again"
		case errs.Invalid:
			if errors.Is(err, ErrNotConfigured) {
				kind, msg = errs.Unavailable, "mini-program login is not configured"
			}
			// Otherwise omo's mini-program app id or secret is wrong
			// (40013, 40125): a 500 for the caller, logged for the operator.
		}
	}
	return &errs.Error{Kind: kind, Op: "mp.code2session", Msg: msg, Err: cause}
}
