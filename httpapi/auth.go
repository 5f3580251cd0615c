package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/mpsession"
)

// bearer returns the token of an `Authorization: Bearer <token>` header;
// the scheme is case-insensitive (RFC 7235).
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return tok, ok && strings.EqualFold(scheme, "Bearer")
}

// bearerAdmin reports whether the request carries the admin bearer token
// (compared in constant time; never when no admin token is configured).
func (s *Server) bearerAdmin(r *http.Request) bool {
	tok, ok := bearer(r)
	return ok && s.admin != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.admin)) == 1
}

// adminOnly lets a request through when it carries the admin bearer token,
// or the dashboard's session cookie (then a state-changing method also needs
// the CSRF token and a same-origin Origin or Referer: 403 without); anything
// else is 401 (also when no admin token is configured).
func (s *Server) adminOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.bearerAdmin(r) {
			h(w, r)
			return
		}
		if sess, ok := s.adminSession(r); ok {
			if !s.checkCSRF(r, sess) {
				writeJSON(w, http.StatusForbidden, map[string]string{"error": "CSRF token or origin missing or wrong"})
				return
			}
			h(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="omo admin"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin token required"})
	})
}

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

// handleMPNotFound answers a /mp/v1 path that does not exist, for a
// caller with a valid session.
func (s *Server) handleMPNotFound(w http.ResponseWriter, r *http.Request, _ mpsession.Session) {
	writeError(w, errs.E(errs.NotFound, "mp", "no such mini-program API: %s %s", r.Method, r.URL.Path))
}
