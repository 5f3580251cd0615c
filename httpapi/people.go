package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/mpsession"
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
