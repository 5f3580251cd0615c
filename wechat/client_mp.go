package wechat

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/silenceper/wechat/v2/miniprogram/urllink"
)

// Session is the result of a mini-program login.
type Session struct {
	OpenID     string // the user's openid in the mini-program (not the OA's)
	UnionID    string // "" unless the mini-program is bound to an Open Platform account
	SessionKey string // secret: decrypts wx.getUserInfo data; never log or return it to the client
}

// Code2Session exchanges a wx.login code for the user's ids (GET
// /sns/jscode2session, through silenceper's context-aware call). 40029: the
// code is invalid; 40163: it was already used.
func (c *Client) Code2Session(ctx context.Context, code string) (Session, error) {
	var s Session
	err := c.noToken(ctx, c.mpAuth != nil, "code2session", func(ctx context.Context) error {
		res, err := c.mpAuth.Code2SessionContext(ctx, url.QueryEscape(code))
		if err != nil {
			return err
		}
		s = Session{OpenID: res.OpenID, UnionID: res.UnionID, SessionKey: res.SessionKey}
		return nil
	})
	return s, err
}

// wxaSceneChars are the characters getwxacodeunlimit accepts in a scene.
const wxaSceneChars = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$&'()*+,/:;=?@-._~"

// WxaCodeUnlimit returns a mini-program code image (unlimited count) that
// opens page (e.g. pages/referral/index, no leading slash, "" = home) with
// scene, at most 32 characters from 0-9a-zA-Z!#$&'()*+,/:;=?@-._~. The page
// must be published. Called here (POST /wxa/getwxacodeunlimit): silenceper
// accepts only a Content-Type of exactly image/jpeg and reports JSON errors
// sent with another type as "unknown content type", losing the errcode.
func (c *Client) WxaCodeUnlimit(ctx context.Context, scene, page string) ([]byte, error) {
	const op = "getwxacodeunlimit"
	if err := checkWxaScene(scene); err != nil {
		return nil, fail(op, err)
	}
	req := struct {
		Scene string `json:"scene"`
		Page  string `json:"page,omitempty"`
	}{scene, strings.TrimPrefix(page, "/")}
	var img []byte
	err := c.withToken(ctx, c.mpTok, op, func(ctx context.Context, token string) error {
		var err error
		img, err = c.fetchImage(ctx, op, "https://api.weixin.qq.com/wxa/getwxacodeunlimit?access_token="+url.QueryEscape(token), req)
		return err
	})
	return img, err
}

func checkWxaScene(scene string) error {
	if scene == "" || len(scene) > 32 {
		return fmt.Errorf("%w: mini-program code scene must be 1-32 characters, got %d", ErrInvalid, len(scene))
	}
	for _, r := range scene {
		if !strings.ContainsRune(wxaSceneChars, r) {
			return fmt.Errorf("%w: mini-program code scene %q: character %q not allowed", ErrInvalid, scene, r)
		}
	}
	return nil
}

// URLLink returns a URL Link (https://wxaurl.cn/...) that opens the
// mini-program at path with query from outside WeChat (POST
// /wxa/generate_urllink, through silenceper). WeChat expires such links
// after at most 30 days.
func (c *Client) URLLink(ctx context.Context, path, query string) (string, error) {
	var link string
	params := &urllink.ULParams{Path: path, Query: query}
	err := c.withToken(ctx, c.mpTok, "urllink_generate", func(context.Context, string) error {
		var err error
		link, err = c.links.Generate(params)
		return err
	})
	return link, err
}
