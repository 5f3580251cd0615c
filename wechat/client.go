// Package wechat is omo's WeChat adapter and the only package that imports
// github.com/silenceper/wechat/v2: the Official Account and mini-program API
// client (Client), the OA webhook, and the Client as the worker and the HTTP
// API need it (Sender, Login, ShareCodes). Its errors carry errs kinds; the
// one table from WeChat errcode to kind is in errors.go.
package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/miniprogram"
	"github.com/silenceper/wechat/v2/miniprogram/auth"
	mpconfig "github.com/silenceper/wechat/v2/miniprogram/config"
	"github.com/silenceper/wechat/v2/miniprogram/urllink"
	"github.com/silenceper/wechat/v2/officialaccount"
	oaconfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/officialaccount/message"
	"github.com/silenceper/wechat/v2/officialaccount/user"
)

// DefaultTimeout bounds one HTTP exchange with WeChat when Config.Timeout is 0.
const DefaultTimeout = 5 * time.Second

// Config is what a Client needs. An app (OA or mini-program) whose app id is
// empty is not configured: its methods return an error wrapping
// ErrNotConfigured.
type Config struct {
	APIBase     string // "" = https://api.weixin.qq.com; the simulator's URL in dev and tests
	OAAppID     string
	OAAppSecret string
	MPAppID     string
	MPAppSecret string
	Timeout     time.Duration // per HTTP exchange, body included; 0 = DefaultTimeout
	Tokens      TokenObserver // told of every access-token fetch (metrics); nil = none
}

// Client calls the Official Account and mini-program APIs. The access tokens
// live in Redis, shared by every omo process; on 40001/40014/42001 a call
// drops the token it used, gets a fresh one and is retried exactly once.
// Methods check ctx before calling; calls through silenceper cannot be
// cancelled midway but are bounded by Config.Timeout. Every error a method
// returns is an *errs.Error whose kind says what to do about it (the table
// is in errors.go); a refusal by WeChat has an *APIError as its cause, so
// Code and errors.As find the errcode. Safe for concurrent use; several
// Clients may live in one process.
//
// Redis keys: omo:wechat:{oa|mp}:APPID:access_token holds the token,
// ...:access_token:lock the refresh lock, omo:wechat:cache:* silenceper's
// own cache.
type Client struct {
	rdb    redis.UniversalClient
	log    *slog.Logger
	rt     *rewriter
	http   *http.Client
	tokens TokenObserver

	oa     *officialaccount.OfficialAccount // nil if the OA is not configured; shares token handle and cache
	oaTok  *tokenStore
	users  *user.User
	tpl    *message.Template
	subs   *message.Subscribe
	custom *message.Manager

	mp     *miniprogram.MiniProgram // nil if the mini-program is not configured
	mpTok  *tokenStore
	mpAuth *auth.Auth
	links  *urllink.URLLink
}

// NewClient checks cfg and builds the client; it makes no network call.
// silenceper's sub-APIs are built here, once: its lazy getters are not safe
// for concurrent use.
func NewClient(cfg Config, rdb redis.UniversalClient, log *slog.Logger) (*Client, error) {
	if rdb == nil {
		return nil, errors.New("wechat: redis client is required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rt, err := newRewriter(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{rdb: rdb, log: log, rt: rt, http: &http.Client{Transport: rt}, tokens: cfg.Tokens}
	installRouter()
	cache := NewRedisCache(rdb, "omo:wechat:cache:")
	if cfg.OAAppID != "" {
		if cfg.OAAppSecret == "" {
			return nil, errors.New("wechat: official_account.app_secret is required with app_id")
		}
		c.oaTok = newTokenStore(c, "oa", cfg.OAAppID, cfg.OAAppSecret, log)
		c.oa = officialaccount.NewOfficialAccount(&oaconfig.Config{AppID: cfg.OAAppID, AppSecret: cfg.OAAppSecret, Cache: cache})
		c.oa.SetAccessTokenHandle(c.oaTok)
		c.users, c.tpl, c.subs, c.custom = c.oa.GetUser(), c.oa.GetTemplate(), c.oa.GetSubscribe(), c.oa.GetCustomerMessageManager()
	}
	if cfg.MPAppID != "" {
		if cfg.MPAppSecret == "" {
			return nil, errors.New("wechat: mini_program.app_secret is required with app_id")
		}
		c.mpTok = newTokenStore(c, "mp", cfg.MPAppID, cfg.MPAppSecret, log)
		c.mp = miniprogram.NewMiniProgram(&mpconfig.Config{AppID: cfg.MPAppID, AppSecret: cfg.MPAppSecret, Cache: cache})
		c.mp.SetAccessTokenContextHandle(c.mpTok)
		c.mpAuth, c.links = c.mp.GetAuth(), c.mp.GetURLLink()
	}
	return c, nil
}

// newRewriter checks APIBase and Timeout and builds the Client's transport.
func newRewriter(cfg Config) (*rewriter, error) {
	rt := &rewriter{timeout: cfg.Timeout}
	if rt.timeout <= 0 {
		rt.timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64 // sends go out in bursts to one host
	rt.next = tr
	if cfg.APIBase != "" {
		u, err := url.Parse(cfg.APIBase)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return nil, fmt.Errorf("wechat: api_base %q: want an http(s) URL such as https://api.weixin.qq.com", cfg.APIBase)
		}
		if u.Host != "api.weixin.qq.com" { // the real one: keep showqrcode on mp.weixin.qq.com
			rt.base = u
		}
	}
	return rt, nil
}

// withToken runs call with the app's access token; if WeChat rejects the
// token it is replaced and call runs once more. call gets a ctx that routes
// silenceper's requests to this Client (see transport.go) and the token for
// requests built here; silenceper calls ignore it and ask the same store,
// which returns the same token unless another process just replaced it.
func (c *Client) withToken(ctx context.Context, tok *tokenStore, op string, call func(ctx context.Context, token string) error) error {
	if tok == nil {
		return fail(op, ErrNotConfigured)
	}
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	token, err := tok.get(ctx, "")
	if err != nil {
		return fail(op, err)
	}
	ctx = withRoute(ctx, c.rt)
	err = call(ctx, token)
	if kindOf(err) != refresh {
		return fail(op, err)
	}
	c.log.Warn("wechat rejected the access token; refreshing", "op", op, "app_id", tok.appID, "errcode", Code(err))
	if token, err = tok.renew(ctx, token); err != nil {
		return fail(op, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	return fail(op, call(ctx, token))
}

// noToken runs a call that needs no access token (the login code exchange,
// QR code images) with the same checks and error shape as withToken.
func (c *Client) noToken(ctx context.Context, configured bool, op string, call func(ctx context.Context) error) error {
	if !configured {
		return fail(op, ErrNotConfigured)
	}
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	return fail(op, call(withRoute(ctx, c.rt)))
}
