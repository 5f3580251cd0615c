package wechatsim

import (
	"crypto/sha1"
	"encoding/hex"
	"slices"
	"time"
)

// Follower is a WeChat user as an app knows them.
type Follower struct {
	OpenID         string
	UnionID        string    // "" = no unionid (no open-platform binding)
	SubscribeTime  time.Time // zero = the Sim's now when added
	SubscribeScene string    // e.g. ADD_SCENE_QR_CODE; "" = ADD_SCENE_OTHERS
	QRScene        int
	QRSceneStr     string
	Language       string // "" = zh_CN
	Remark         string
	TagIDs         []int
}

// follower is a Follower plus what only the Sim tracks.
type follower struct {
	Follower
	subscribed   bool
	windowClosed bool           // customer-service window (default open)
	consents     map[string]int // template_id -> one-time consents left
}

// app is everything the Sim keeps for one appid.
type app struct {
	id, secret string
	origID     string
	followers  map[string]*follower
	sorted     []string // the known openids in order, for user/get; nil = to rebuild

	classic, stable *token
	fetches         int

	tags    map[int]*tag
	nextTag int

	templates []TemplateSend
	dedupe    map[string]dedupeEntry // openid + "\x00" + client_msg_id
	customs   []CustomSend
	subSends  []SubscribeSend

	qrcodes   []QRCode
	tickets   map[string]int // ticket -> index in qrcodes
	permanent int
	miniCodes []MiniCode
	urlLinks  []URLLink
	pages     map[string]bool // mini-program pages for check_path; empty = any

	codes map[string]*loginCode

	webhook   *Pusher
	jobStatus string // TEMPLATESENDJOBFINISH status pushed after each send; "" = none

	mass *massState // mass sends (mass.go); nil until the first
}

type tag struct {
	id    int
	name  string
	count int
}

type dedupeEntry struct {
	msgID int64
	at    time.Time
}

type loginCode struct {
	openID, unionID string
	issued          time.Time
	used            bool
}

// appLocked returns the state for appID, creating it empty if needed.
func (s *Sim) appLocked(appID string) *app {
	a, ok := s.apps[appID]
	if !ok {
		sum := sha1.Sum([]byte(appID))
		a = &app{
			id: appID, origID: "gh_" + hex.EncodeToString(sum[:])[:12],
			followers: map[string]*follower{}, tags: map[int]*tag{}, nextTag: 100,
			dedupe: map[string]dedupeEntry{}, tickets: map[string]int{},
			pages: map[string]bool{}, codes: map[string]*loginCode{},
		}
		s.apps[appID] = a
	}
	return a
}

// withApp runs f on appID's state under the lock.
func (s *Sim) withApp(appID string, f func(a *app)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s.appLocked(appID))
}

// AddApp registers an OA or mini-program with its secret (replacing the
// secret if the app exists). Token and code2session calls for an appid that
// was never added answer 40013.
func (s *Sim) AddApp(appID, secret string) {
	s.withApp(appID, func(a *app) { a.secret = secret })
}

// OriginalID returns the app's original ID (gh_ + 12 hex digits derived from
// the appid), the ToUserName of everything pushed for it.
func (s *Sim) OriginalID(appID string) string {
	var id string
	s.withApp(appID, func(a *app) { id = a.origID })
	return id
}

// AddFollower makes f a current follower of appID (re-subscribing them if
// they had unfollowed); their customer-service window starts open.
func (s *Sim) AddFollower(appID string, f Follower) {
	s.withApp(appID, func(a *app) { s.followLocked(a, f) })
}

// followerLocked is openid's follower of a, if a knows them (or, with
// Options.AnyFollower, a new one who subscribed just now).
func (s *Sim) followerLocked(a *app, openid string) (*follower, bool) {
	f, ok := a.followers[openid]
	if !ok && s.anyFollower && openid != "" {
		f, ok = s.followLocked(a, Follower{OpenID: openid, UnionID: "u-" + openid}), true
	}
	return f, ok
}

func (s *Sim) followLocked(a *app, f Follower) *follower {
	if f.SubscribeTime.IsZero() {
		f.SubscribeTime = s.now()
	}
	if f.SubscribeScene == "" {
		f.SubscribeScene = "ADD_SCENE_OTHERS"
	}
	if f.Language == "" {
		f.Language = "zh_CN"
	}
	f.TagIDs = slices.Clone(f.TagIDs)
	old, ok := a.followers[f.OpenID]
	if !ok {
		a.sorted = nil
	}
	if ok && f.UnionID == "" {
		f.UnionID = old.UnionID
	}
	nf := &follower{Follower: f, subscribed: true, consents: map[string]int{}}
	if ok {
		nf.consents = old.consents
		if len(f.TagIDs) == 0 {
			nf.TagIDs = old.TagIDs
		}
	}
	a.followers[f.OpenID] = nf
	return nf
}

// Unfollow marks openID as no longer following appID: user/info then answers
// subscribe 0 and sends answer 43004/45015. Unknown openids are ignored.
func (s *Sim) Unfollow(appID, openID string) {
	s.withApp(appID, func(a *app) {
		if f, ok := a.followers[openID]; ok {
			f.subscribed = false
		}
	})
}

// RemoveFollower forgets openID entirely: user/info then answers 40003.
func (s *Sim) RemoveFollower(appID, openID string) {
	s.withApp(appID, func(a *app) {
		delete(a.followers, openID)
		a.sorted = nil
	})
}

// Follower returns what appID knows of openID and whether they currently
// follow; ok is false for an openid the app has never seen.
func (s *Sim) Follower(appID, openID string) (f Follower, following, ok bool) {
	s.withApp(appID, func(a *app) {
		if cur, found := a.followers[openID]; found {
			f, following, ok = cur.Follower, cur.subscribed, true
			f.TagIDs = slices.Clone(cur.TagIDs)
		}
	})
	return f, following, ok
}

// SetCSWindow opens or closes openID's customer-service window: while
// closed, custom/send to them answers 45015. Pushing a message or a
// follower action (not LOCATION) through the Sim reopens it.
func (s *Sim) SetCSWindow(appID, openID string, open bool) {
	s.withApp(appID, func(a *app) {
		if f, ok := a.followers[openID]; ok {
			f.windowClosed = !open
		}
	})
}

// GrantConsent gives openID one more one-time consent for templateID: one
// subscribe/bizsend with that template succeeds per consent, then 43101. An
// unknown openid is added as a known, non-following user.
func (s *Sim) GrantConsent(appID, openID, templateID string) {
	s.withApp(appID, func(a *app) { grantLocked(a, openID, templateID) })
}

func grantLocked(a *app, openID, templateID string) {
	f, ok := a.followers[openID]
	if !ok {
		f = &follower{Follower: Follower{OpenID: openID, Language: "zh_CN"}, consents: map[string]int{}}
		a.followers[openID] = f
		a.sorted = nil
	}
	f.consents[templateID]++
}

// AddLoginCode registers a wx.login code for jscode2session on appID: it
// answers openID/unionID once, within 5 minutes of now; then 40163 (used)
// or 40029 (expired).
func (s *Sim) AddLoginCode(appID, code, openID, unionID string) {
	s.withApp(appID, func(a *app) {
		a.codes[code] = &loginCode{openID: openID, unionID: unionID, issued: s.now()}
	})
}

// AddPages declares the mini-program's published pages: getwxacodeunlimit
// with check_path true then answers 41030 for any other page. With no pages
// declared every page is accepted.
func (s *Sim) AddPages(appID string, pages ...string) {
	s.withApp(appID, func(a *app) {
		for _, p := range pages {
			a.pages[p] = true
		}
	})
}

// ExpireTokens ends every access token issued for appID: calls with them
// answer 42001 until a new token is fetched.
func (s *Sim) ExpireTokens(appID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, t := range s.tokens {
		if t.appID == appID && t.expires.After(now) {
			t.expires = now
		}
	}
}

// TokenFetches returns how many new access tokens /cgi-bin/token and
// /cgi-bin/stable_token issued for appID (returning a still-valid stable
// token does not count).
func (s *Sim) TokenFetches(appID string) int {
	var n int
	s.withApp(appID, func(a *app) { n = a.fetches })
	return n
}

// SetWebhook makes p the webhook the Sim pushes appID's events to (Push,
// ScanQRCode, job-finish events, /_sim/push). p.AppID defaults to appID.
func (s *Sim) SetWebhook(appID string, p *Pusher) {
	if p != nil && p.AppID == "" {
		cp := *p
		cp.AppID = appID
		p = &cp
	}
	s.withApp(appID, func(a *app) { a.webhook = p })
}

// SetJobFinish makes every later successful template send to appID push a
// TEMPLATESENDJOBFINISH event with status (e.g. "success") to the webhook,
// in the background (Close waits for them). "" turns it off.
func (s *Sim) SetJobFinish(appID, status string) {
	s.withApp(appID, func(a *app) { a.jobStatus = status })
}
