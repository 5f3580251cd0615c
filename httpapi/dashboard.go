package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The dashboard (issue 11): a small single-page app embedded in the binary,
// served at /admin/ to an operator who logged in with the admin token. The
// browser holds a session cookie, never the token: an HMAC-SHA256 over an
// expiry and a nonce with a key derived from the admin token, so every omo
// instance behind a load balancer accepts it, and changing admin.token ends
// every session. A request authenticated by the cookie that changes
// something needs the CSRF token (X-CSRF-Token, an HMAC of the session the
// page carries in a meta tag) and a same-origin Origin or Referer.

//go:embed dashboard
var dashboardFiles embed.FS

const (
	sessionCookie = "omo_admin"
	// SessionLife is how long a dashboard login lasts.
	SessionLife = 12 * time.Hour
	// loginFailures failed logins from one address within loginWindow make
	// it wait until the oldest of them is loginWindow old.
	loginFailures = 5
	loginWindow   = time.Minute
)

// dashboard is the Server's dashboard state.
type dashboard struct {
	key   []byte // session HMAC key, derived from the admin token; nil: no logins
	pages *template.Template
	fails *loginLimiter
}

func newDashboard(adminToken string) dashboard {
	d := dashboard{fails: &loginLimiter{}, pages: template.Must(template.ParseFS(dashboardFiles, "dashboard/*.html"))}
	if adminToken != "" {
		m := hmac.New(sha256.New, []byte(adminToken))
		m.Write([]byte("omo admin dashboard session v1"))
		d.key = m.Sum(nil)
	}
	return d
}

// sign returns the base64url HMAC of msg under the session key.
func (d *dashboard) sign(msg string) string {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newSession returns a cookie value that is valid until exp.
func (d *dashboard) newSession(exp time.Time) string {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	body := "v1." + strconv.FormatInt(exp.Unix(), 10) + "." + base64.RawURLEncoding.EncodeToString(nonce)
	return body + "." + d.sign(body)
}

// validSession reports whether v is a session this key signed that has
// not expired at now.
func (d *dashboard) validSession(v string, now time.Time) bool {
	if d.key == nil {
		return false
	}
	i := strings.LastIndexByte(v, '.')
	if i < 0 || !hmac.Equal([]byte(v[i+1:]), []byte(d.sign(v[:i]))) {
		return false
	}
	parts := strings.Split(v[:i], ".")
	if len(parts) != 3 || parts[0] != "v1" {
		return false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	return err == nil && now.Unix() < exp
}

// csrf is the CSRF token that goes with session v.
func (d *dashboard) csrf(v string) string { return d.sign("csrf|" + v) }

// adminSession returns the request's valid session cookie value, if any.
func (s *Server) adminSession(r *http.Request) (string, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || !s.dash.validSession(c.Value, s.now()) {
		return "", false
	}
	return c.Value, true
}

// checkCSRF lets a cookie-authenticated request through when its method is
// safe, or when it carries the session's CSRF token (header X-CSRF-Token
// or form field csrf) and comes from this origin.
func (s *Server) checkCSRF(r *http.Request, sess string) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		tok = r.PostFormValue("csrf")
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.dash.csrf(sess))) == 1 && sameOrigin(r, false)
}

// overTLS reports whether the browser reached us over HTTPS, directly or
// through a proxy that says so.
func overTLS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sameOrigin reports whether the request's Origin (or, without one, its
// Referer) is this server. With neither it answers orNone.
func sameOrigin(r *http.Request, orNone bool) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return false
	}
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return orNone
	}
	u, err := url.Parse(src)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return false
	}
	return u.Scheme == "https" || (u.Scheme == "http" && !overTLS(r))
}

// pageOnly serves a dashboard page to a logged-in operator (or a bearer
// caller) and sends anyone else to the login form with 303.
func (s *Server) pageOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.adminSession(r); ok || s.bearerAdmin(r) {
			h(w, r)
			return
		}
		http.Redirect(w, r, "/admin/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
	})
}

// pageHeaders are the security headers of every dashboard page.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// handleDashboard serves the app's one HTML page for every page path; the
// script draws the page the path names.
func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	sess, _ := s.adminSession(r)
	csrf := ""
	if sess != "" {
		csrf = s.dash.csrf(sess)
	}
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.dash.pages.ExecuteTemplate(w, "index.html", map[string]string{"CSRF": csrf}); err != nil {
		s.log.Error("dashboard page", "err", err)
	}
}

// handleDashboardStatic serves the embedded scripts and styles.
func (s *Server) handleDashboardStatic() http.Handler {
	sub, _ := fs.Sub(dashboardFiles, "dashboard/static")
	files := http.StripPrefix("/admin/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "private, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// handleLoginForm shows the login form.
func (s *Server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	s.loginPage(w, http.StatusOK, r.URL.Query().Get("next"), "")
}

func (s *Server) loginPage(w http.ResponseWriter, code int, next, msg string) {
	pageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := s.dash.pages.ExecuteTemplate(w, "login.html", map[string]string{"Next": safeNext(next), "Error": msg}); err != nil {
		s.log.Error("login page", "err", err)
	}
}

// safeNext is next when it is a dashboard path, else the overview: a login
// never redirects off the dashboard.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/admin/") && !strings.HasPrefix(next, "/admin//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/admin/"
}

// handleLogin checks the typed admin token (in constant time) and sets the
// session cookie. An address with loginFailures failures in the last
// loginWindow is refused with 429 until the oldest is that old.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	next := r.PostFormValue("next")
	if !sameOrigin(r, true) {
		s.loginPage(w, http.StatusForbidden, next, "This form must be sent from this server's own page.")
		return
	}
	ip := clientIP(r)
	now := s.now()
	if wait, blocked := s.dash.fails.blocked(ip, now); blocked {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		s.loginPage(w, http.StatusTooManyRequests, next, "Too many wrong tokens: wait a minute and try again.")
		return
	}
	tok := r.PostFormValue("token")
	if s.dash.key == nil || subtle.ConstantTimeCompare([]byte(tok), []byte(s.admin)) != 1 {
		s.dash.fails.fail(ip, now)
		s.log.Warn("dashboard login refused", "remote", ip)
		s.loginPage(w, http.StatusUnauthorized, next, "That is not the admin token (admin.token).")
		return
	}
	s.dash.fails.reset(ip)
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s.dash.newSession(now.Add(SessionLife)), Path: "/admin",
		MaxAge: int(SessionLife.Seconds()), HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteStrictMode})
	s.log.Info("dashboard login", "remote", ip)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
}

// handleLogout clears the session cookie (the form carries the CSRF token)
// and shows the login form.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if sess, ok := s.adminSession(r); ok && !s.checkCSRF(r, sess) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "CSRF token or origin missing or wrong"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/admin", MaxAge: -1,
		HttpOnly: true, Secure: overTLS(r), SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// clientIP is the address the request came from (X-Forwarded-For is not
// trusted: behind a proxy, every login shares the proxy's limit).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// loginLimiter remembers the recent failed logins per address.
type loginLimiter struct {
	mu    sync.Mutex
	fails map[string][]time.Time
}

// blocked reports whether ip has loginFailures failures within loginWindow
// before now, and how long until the oldest of them leaves the window.
func (l *loginLimiter) blocked(ip string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.recent(ip, now)
	if len(recent) < loginFailures {
		return 0, false
	}
	return recent[0].Add(loginWindow).Sub(now), true
}

// recent drops ip's failures older than the window and returns the rest.
func (l *loginLimiter) recent(ip string, now time.Time) []time.Time {
	list := l.fails[ip]
	for len(list) > 0 && !list[0].After(now.Add(-loginWindow)) {
		list = list[1:]
	}
	if len(list) == 0 {
		delete(l.fails, ip)
		return nil
	}
	l.fails[ip] = list
	return list
}

func (l *loginLimiter) fail(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil {
		l.fails = map[string][]time.Time{}
	}
	if len(l.fails) > 10000 { // many addresses: forget the quiet ones
		for k := range l.fails {
			l.recent(k, now)
		}
	}
	l.fails[ip] = append(l.recent(ip, now), now)
}

func (l *loginLimiter) reset(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.fails, ip)
}
