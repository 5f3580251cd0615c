package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"omo/engine"
	"omo/errs"
	"omo/mpsession"
)

// MiniProgram exchanges a wx.login code for the user's ids (WeChat's
// jscode2session). Its errors carry an errs kind: Unauthorized when WeChat
// refused the code (invalid, expired or already used, with a message
// saying which), Unavailable when WeChat cannot be reached or the
// mini-program is not configured; any other error answers 500.
type MiniProgram interface {
	Code2Session(ctx context.Context, code string) (openid, unionid string, err error)
}

// DefaultSessionTTL is how long a session token lasts when Deps leaves
// SessionTTL at 0.
const DefaultSessionTTL = 168 * time.Hour

// maxMPBody bounds the JSON bodies of /mp/v1.
const maxMPBody = 4 << 10

// mpHandler is a /mp/v1 handler that runs only for a valid session.
type mpHandler func(w http.ResponseWriter, r *http.Request, sess mpsession.Session)

// mpOnly runs h with the caller's session when the request carries
// `Authorization: Bearer <token from POST /mp/v1/login>` that is valid now;
// a missing, forged, tampered or expired token is 401 (also when no
// session secret is configured).
func (s *Server) mpOnly(h mpHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="omo mini-program"`)
			writeError(w, errs.E(errs.Unauthorized, "mp.auth", "session token required: log in with POST /mp/v1/login"))
			return
		}
		sess, err := mpsession.Parse(s.session.secret, tok, s.now())
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="omo mini-program", error="invalid_token"`)
			writeError(w, err)
			return
		}
		h(w, r, sess)
	})
}

// decodeMP reads a JSON object body of at most maxMPBody into v; a body
// that is not one is Invalid with a message naming the fields wanted.
func decodeMP(w http.ResponseWriter, r *http.Request, v any, op, fields string) error {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxMPBody)).Decode(v); err != nil {
		return errs.E(errs.Invalid, op, "body must be JSON %s", fields)
	}
	return nil
}

type loginRequest struct {
	Code string `json:"code"`
}

// handleMPLogin exchanges the wx.login code for the user's ids, records
// the login (linking the OA follower with the same unionid) and answers
// {token, expires_at, openid}. A code WeChat refuses is 401 saying why; an
// empty one 400; WeChat unreachable 503.
func (s *Server) handleMPLogin(w http.ResponseWriter, r *http.Request) {
	const op = "mp.login"
	if s.mp == nil || len(s.session.secret) == 0 {
		writeError(w, errs.E(errs.Unavailable, op, "mini-program login is not configured"))
		return
	}
	var req loginRequest
	if err := decodeMP(w, r, &req, op, "{code}"); err != nil {
		writeError(w, err)
		return
	}
	code := strings.TrimSpace(req.Code)
	if code == "" || len(code) > 256 {
		writeError(w, errs.E(errs.Invalid, op, "code is required: the code from wx.login"))
		return
	}
	openid, unionid, err := s.mp.Code2Session(r.Context(), code)
	if err != nil {
		s.logRefusal(op, err)
		writeError(w, err)
		return
	}
	p, err := s.engine.Login(r.Context(), engine.MPLogin{OpenID: openid, UnionID: unionid})
	if err != nil {
		s.logRefusal(op, err)
		writeError(w, err)
		return
	}
	exp := s.now().Add(s.session.ttl).Truncate(time.Second).UTC()
	tok := mpsession.Issue(s.session.secret, mpsession.Session{OpenID: p.MPOpenID, UnionID: p.UnionID, Expires: exp})
	s.log.Info("mini-program login", "openid", p.MPOpenID, "linked_follower", p.OAOpenID != "", "first_login", p.FirstLogin)
	writeJSON(w, http.StatusOK, map[string]any{"token": tok, "expires_at": exp, "openid": p.MPOpenID})
}

// logRefusal logs a failed mini-program request: failures of omo or
// WeChat as errors, the caller's own mistakes as info.
func (s *Server) logRefusal(op string, err error) {
	if statusOf(err) >= 500 {
		s.log.Error("mini-program request failed", "op", op, "err", err)
		return
	}
	s.log.Info("mini-program request refused", "op", op, "reason", errs.Message(err))
}

type mpCouponView struct {
	Code       string     `json:"code"`
	Title      string     `json:"title"`
	Pool       string     `json:"pool"`
	State      string     `json:"state"` // issued | redeemed | expired | revoked, as of now
	IssuedAt   time.Time  `json:"issued_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RedeemedAt *time.Time `json:"redeemed_at"` // null until redeemed
}

// handleMPCoupons lists the caller's coupons, newest first: their own and
// those of the OA follower with the same unionid.
func (s *Server) handleMPCoupons(w http.ResponseWriter, r *http.Request, sess mpsession.Session) {
	cps, err := s.engine.MyCoupons(r.Context(), sess.OpenID)
	if err != nil {
		s.logRefusal("mp.coupons", err)
		writeError(w, err)
		return
	}
	out := make([]mpCouponView, 0, len(cps))
	for _, c := range cps {
		out = append(out, mpCouponView{Code: c.Code, Title: c.Title, Pool: c.Pool, State: string(c.State),
			IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt, RedeemedAt: c.RedeemedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"coupons": out})
}

type trackRequest struct {
	Campaign string `json:"omo_c"`
	Message  string `json:"omo_m"`
	Page     string `json:"page"`
}

// handleMPTrack counts an open of a deep link (omo_c, omo_m from the page
// query) once per message: {"counted": true} the first time, false after;
// 404 for a message omo never sent in that campaign.
func (s *Server) handleMPTrack(w http.ResponseWriter, r *http.Request, sess mpsession.Session) {
	const op = "mp.track"
	var req trackRequest
	if err := decodeMP(w, r, &req, op, "{omo_c, omo_m, page}"); err != nil {
		writeError(w, err)
		return
	}
	campaign, message := strings.TrimSpace(req.Campaign), strings.TrimSpace(req.Message)
	counted, err := s.engine.Track(r.Context(), campaign, message, req.Page)
	if err != nil {
		s.logRefusal(op, err)
		writeError(w, err)
		return
	}
	if counted {
		s.log.Info("deep link opened", "campaign", campaign, "message", message, "page", req.Page, "openid", sess.OpenID)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"counted": counted})
}

// handleMPNotFound answers a /mp/v1 path that does not exist, for a
// caller with a valid session.
func (s *Server) handleMPNotFound(w http.ResponseWriter, r *http.Request, _ mpsession.Session) {
	writeError(w, errs.E(errs.NotFound, "mp", "no such mini-program API: %s %s", r.Method, r.URL.Path))
}
