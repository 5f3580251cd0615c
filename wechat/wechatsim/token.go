package wechatsim

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"
)

const (
	tokenTTL = 7200 * time.Second
	// overlap is how long a replaced stable token keeps working, and how
	// early before expiry stable_token hands out a fresh one.
	overlap = 5 * time.Minute
)

// token is one issued access token.
type token struct {
	value     string
	appID     string
	expires   time.Time
	invalidAt time.Time // zero = not replaced
}

// apiRoutes is every WeChat path the Sim answers.
func (s *Sim) apiRoutes() map[string]route {
	post := http.MethodPost
	return map[string]route{
		"/cgi-bin/token":                       {h: (*Sim).handleToken},
		"/cgi-bin/stable_token":                {method: post, h: (*Sim).handleStableToken},
		"/cgi-bin/message/template/send":       {method: post, auth: true, h: (*Sim).handleTemplateSend},
		"/cgi-bin/message/subscribe/bizsend":   {method: post, auth: true, h: (*Sim).handleBizSend},
		"/cgi-bin/message/custom/send":         {method: post, auth: true, h: (*Sim).handleCustomSend},
		"/cgi-bin/message/mass/send":           {method: post, auth: true, h: (*Sim).handleMassSend},
		"/cgi-bin/qrcode/create":               {method: post, auth: true, h: (*Sim).handleQRCreate},
		"/cgi-bin/showqrcode":                  {h: (*Sim).handleShowQRCode},
		"/cgi-bin/user/info":                   {auth: true, h: (*Sim).handleUserInfo},
		"/cgi-bin/user/get":                    {auth: true, h: (*Sim).handleUserGet},
		"/cgi-bin/user/info/batchget":          {method: post, auth: true, h: (*Sim).handleUserBatchGet},
		"/cgi-bin/tags/create":                 {method: post, auth: true, h: (*Sim).handleTagCreate},
		"/cgi-bin/tags/get":                    {auth: true, h: (*Sim).handleTagGet},
		"/cgi-bin/tags/members/batchtagging":   {method: post, auth: true, h: (*Sim).handleBatchTag},
		"/cgi-bin/tags/members/batchuntagging": {method: post, auth: true, h: (*Sim).handleBatchUntag},
		"/cgi-bin/tags/getidlist":              {method: post, auth: true, h: (*Sim).handleTagIDList},
		"/sns/jscode2session":                  {h: (*Sim).handleJSCode2Session},
		"/wxa/getwxacodeunlimit":               {method: post, auth: true, h: (*Sim).handleWxaCodeUnlimit},
		"/wxa/generate_urllink":                {method: post, auth: true, h: (*Sim).handleURLLink},
	}
}

// checkToken maps an access token to its appid, or answers 41001 (missing),
// 40001 (unknown or replaced) or 42001 (expired).
func (s *Sim) checkToken(value string, now time.Time) (appID string, code int) {
	if value == "" {
		return "", 41001
	}
	t, ok := s.tokens[value]
	if !ok {
		return "", 40001
	}
	if !t.invalidAt.IsZero() && !now.Before(t.invalidAt) {
		return t.appID, 40001
	}
	if !now.Before(t.expires) {
		return t.appID, 42001
	}
	return t.appID, 0
}

// credentials checks appid and secret: 41002/41004 when missing, 40013 for
// an unknown appid, 40125 for a wrong secret.
func (s *Sim) credentials(appID, secret string) (*app, int) {
	if appID == "" {
		return nil, 41002
	}
	a, ok := s.apps[appID]
	if !ok || a.secret == "" {
		return nil, 40013
	}
	if secret == "" {
		return nil, 41004
	}
	if secret != a.secret {
		return nil, 40125
	}
	return a, 0
}

// issue mints a new token for a and counts the fetch.
func (s *Sim) issue(a *app, now time.Time) *token {
	b := make([]byte, 96)
	rand.Read(b)
	t := &token{value: base64.RawURLEncoding.EncodeToString(b), appID: a.id, expires: now.Add(tokenTTL)}
	s.tokens[t.value] = t
	a.fetches++
	return t
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// handleToken is GET /cgi-bin/token: every call issues a new token and
// invalidates the previous one at once (the classic multi-server 40001).
func (s *Sim) handleToken(req *apiReq) reply {
	q := req.query
	req.appID = q.Get("appid")
	if q.Get("grant_type") != "client_credential" {
		return errReply(40002)
	}
	a, code := s.credentials(q.Get("appid"), q.Get("secret"))
	if code != 0 {
		return errReply(code)
	}
	if a.classic != nil {
		a.classic.invalidAt = req.now
	}
	a.classic = s.issue(a, req.now)
	return jsonReply(tokenAnswer{AccessToken: a.classic.value, ExpiresIn: int(tokenTTL / time.Second)})
}

// handleStableToken is POST /cgi-bin/stable_token, isolated from
// /cgi-bin/token. Normal mode returns the current token with its remaining
// lifetime, or a new one when under 5 minutes remain (the old one lives out
// its time). force_refresh issues a new token; the old one keeps working
// for 5 more minutes.
func (s *Sim) handleStableToken(req *apiReq) reply {
	var in struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if code := decode(req.body, &in); code != 0 {
		return errReply(code)
	}
	req.appID = in.AppID
	if in.GrantType != "client_credential" {
		return errReply(40002)
	}
	a, code := s.credentials(in.AppID, in.Secret)
	if code != 0 {
		return errReply(code)
	}
	cur := a.stable
	usable := cur != nil && cur.invalidAt.IsZero() && cur.expires.Sub(req.now) > overlap
	if usable && !in.ForceRefresh {
		return jsonReply(tokenAnswer{AccessToken: cur.value, ExpiresIn: int(cur.expires.Sub(req.now) / time.Second)})
	}
	if cur != nil && in.ForceRefresh {
		end := req.now.Add(overlap)
		if end.Before(cur.expires) {
			cur.invalidAt = end
		}
	}
	a.stable = s.issue(a, req.now)
	return jsonReply(tokenAnswer{AccessToken: a.stable.value, ExpiresIn: int(tokenTTL / time.Second)})
}
