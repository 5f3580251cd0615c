package httpapi_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
)

// browser is an HTTP client that keeps cookies and does not follow
// redirects, as the tests want to see them.
type browser struct {
	t      *testing.T
	base   string
	c      *http.Client
	cookie *http.Cookie // the session cookie the last login set
}

func newBrowser(t *testing.T, base string) *browser {
	return &browser{t: t, base: base, c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// send sends a request with the session cookie (when logged in) and the
// given headers; it returns the response and its body.
func (b *browser) send(method, path, body string, header map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.base+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// login posts the login form with token from this origin.
func (b *browser) login(token string, header map[string]string) *http.Response {
	b.t.Helper()
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": b.base}
	for k, v := range header {
		h[k] = v
	}
	resp, _ := b.send("POST", "/admin/login", url.Values{"token": {token}, "next": {"/admin/stores"}}.Encode(), h)
	for _, c := range resp.Cookies() {
		if c.Name == "omo_admin" && c.MaxAge > 0 {
			b.cookie = c
		}
	}
	return resp
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// csrf reads the CSRF token from a dashboard page.
func (b *browser) csrf() string {
	b.t.Helper()
	resp, body := b.send("GET", "/admin/", "", nil)
	m := csrfMeta.FindStringSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		b.t.Fatalf("GET /admin/ = %d, no CSRF token in %.300s", resp.StatusCode, body)
	}
	return m[1]
}

// dashRoutes is every dashboard page and every JSON endpoint it uses.
var (
	dashPages = []string{"/admin/", "/admin/campaigns", "/admin/campaigns/welcome", "/admin/stores", "/admin/referral", "/admin/sends"}
	dashAPI   = []struct{ method, path string }{
		{"GET", "/admin/v1/dashboard/overview"}, {"GET", "/admin/v1/dashboard/overview?days=7"},
		{"GET", "/admin/v1/dashboard/campaigns"}, {"GET", "/admin/v1/campaigns/welcome/funnel"},
		{"GET", "/admin/v1/dashboard/stores"}, {"GET", "/admin/v1/dashboard/referral"}, {"GET", "/admin/v1/dashboard/sends"},
		{"GET", "/admin/v1/campaigns"}, {"GET", "/admin/v1/campaigns/welcome/stats"}, {"GET", "/admin/v1/campaigns/welcome/firings"},
		{"GET", "/admin/v1/campaigns/welcome/variants"}, {"GET", "/admin/v1/stores"}, {"GET", "/admin/v1/stores/sh-001/stats"},
		{"GET", "/admin/v1/referral/invite-friends/stats"}, {"GET", "/admin/v1/referral/invite-friends/leaderboard"},
		{"POST", "/admin/v1/coupons/redeem"}, {"POST", "/admin/v1/campaigns/welcome/pause"},
		{"GET", "/admin/static/app.js"}, {"GET", "/admin/static/chart.umd.min.js"}, {"GET", "/admin/v1/nothing"},
	}
)

// TestDashboardUnauthenticated: without a session or the bearer token every
// page sends the browser to the login form (303) and every endpoint is 401.
func TestDashboardUnauthenticated(t *testing.T) {
	t.Parallel()
	d := newDashEnv(t, testenv.SQLiteURL(t))
	creds := []struct {
		name   string
		header map[string]string
	}{
		{"nothing", nil},
		{"wrong bearer", map[string]string{"Authorization": "Bearer wrong"}},
		{"forged cookie", map[string]string{"Cookie": "omo_admin=v1.9999999999.AAAA.BBBB"}},
		{"the token as the cookie", map[string]string{"Cookie": "omo_admin=" + adminToken}},
	}
	for _, c := range creds {
		t.Run(c.name, func(t *testing.T) {
			b := newBrowser(t, d.base)
			for _, p := range dashPages {
				resp, _ := b.send("GET", p, "", c.header)
				if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/admin/login?next=") {
					t.Errorf("GET %s = %d to %q, want 303 to /admin/login", p, resp.StatusCode, loc)
				}
			}
			for _, r := range dashAPI {
				resp, body := b.send(r.method, r.path, `{}`, c.header)
				if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
					t.Errorf("%s %s = %d %.100s, want 401 JSON", r.method, r.path, resp.StatusCode, body)
				}
			}
		})
	}
	// The bearer token still reaches every endpoint, with no CSRF token.
	b := newBrowser(t, d.base)
	bearer := map[string]string{"Authorization": "Bearer " + adminToken}
	for _, r := range dashAPI {
		if resp, body := b.send(r.method, r.path, `{}`, bearer); resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			t.Errorf("%s %s with the bearer token = %d %.100s", r.method, r.path, resp.StatusCode, body)
		}
	}
	for _, p := range dashPages {
		if resp, _ := b.send("GET", p, "", bearer); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the bearer token = %d, want 200", p, resp.StatusCode)
		}
	}
}

func TestDashboardLogin(t *testing.T) {
	t.Parallel()
	d := newDashEnv(t, testenv.SQLiteURL(t))
	b := newBrowser(t, d.base)
	if resp, body := b.send("GET", "/admin/login", "", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="token"`) {
		t.Fatalf("login form = %d %.200s", resp.StatusCode, body)
	}
	for _, bad := range []string{"", "wrong", adminToken + "x", adminToken[:5]} {
		if resp := b.login(bad, nil); resp.StatusCode != http.StatusUnauthorized || b.cookie != nil {
			t.Errorf("login with %q = %d, cookie %v; want 401 and none", bad, resp.StatusCode, b.cookie)
		}
	}
	// A login form posted from another site is refused, even with the token.
	if resp := b.login(adminToken, map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden || b.cookie != nil {
		t.Errorf("cross-origin login = %d, cookie %v; want 403 and none", resp.StatusCode, b.cookie)
	}

	resp := b.login(adminToken, nil)
	c := b.cookie
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/stores" || c == nil {
		t.Fatalf("login = %d to %q, cookie %v; want 303 to /admin/stores with a session", resp.StatusCode, resp.Header.Get("Location"), c)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/admin" || c.Secure || strings.Contains(c.Value, adminToken) {
		t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/admin, not Secure over http, without the token", c)
	}
	if resp, body := b.send("GET", "/admin/v1/dashboard/stores", "", nil); resp.StatusCode != http.StatusOK || !strings.Contains(body, `"stores"`) {
		t.Errorf("API with the cookie = %d %.100s, want 200", resp.StatusCode, body)
	}
	for _, p := range dashPages {
		if resp, _ := b.send("GET", p, "", nil); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the cookie = %d, want 200", p, resp.StatusCode)
		}
	}

	// Behind a TLS proxy the cookie is Secure.
	tls := newBrowser(t, d.base)
	tls.login(adminToken, map[string]string{"X-Forwarded-Proto": "https", "Origin": strings.Replace(d.base, "http:", "https:", 1)})
	if tls.cookie == nil || !tls.cookie.Secure {
		t.Errorf("cookie behind X-Forwarded-Proto: https = %+v, want Secure", tls.cookie)
	}

	// A session ends after SessionLife.
	d.clock.Set(dashNow.Add(12*time.Hour + time.Second))
	if resp, _ := b.send("GET", "/admin/v1/dashboard/stores", "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API with an expired session = %d, want 401", resp.StatusCode)
	}
	if resp, _ := b.send("GET", "/admin/", "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("page with an expired session = %d, want 303", resp.StatusCode)
	}
}

// TestDashboardLoginRateLimit: five wrong tokens in a minute from one
// address make it wait, even with the right token, until the minute is over.
func TestDashboardLoginRateLimit(t *testing.T) {
	t.Parallel()
	d := newDashEnv(t, testenv.SQLiteURL(t))
	b := newBrowser(t, d.base)
	for i := range 5 {
		d.clock.Set(dashNow.Add(time.Duration(i) * time.Second))
		if resp := b.login("wrong", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d = %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := b.login(adminToken, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || b.cookie != nil {
		t.Errorf("sixth try = %d (Retry-After %q), cookie %v; want 429 and none", resp.StatusCode, resp.Header.Get("Retry-After"), b.cookie)
	}
	d.clock.Set(dashNow.Add(time.Minute + time.Second)) // the first failure left the window
	if resp := b.login(adminToken, nil); resp.StatusCode != http.StatusSeeOther || b.cookie == nil {
		t.Errorf("after a minute = %d, want 303 with a session", resp.StatusCode)
	}
}

// TestDashboardCSRF: a state change authenticated by the cookie needs the
// CSRF token and a same-origin Origin or Referer.
func TestDashboardCSRF(t *testing.T) {
	t.Parallel()
	d := newDashEnv(t, testenv.SQLiteURL(t))
	b := newBrowser(t, d.base)
	b.login(adminToken, nil)
	tok := b.csrf()
	const path, body = "/admin/v1/coupons/redeem", `{"code":"NOSUCHCODE234567","store_id":"sh-001"}`
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"token and Origin", map[string]string{"X-CSRF-Token": tok, "Origin": d.base}, http.StatusNotFound},
		{"token and Referer", map[string]string{"X-CSRF-Token": tok, "Referer": d.base + "/admin/"}, http.StatusNotFound},
		{"no token", map[string]string{"Origin": d.base}, http.StatusForbidden},
		{"wrong token", map[string]string{"X-CSRF-Token": tok + "x", "Origin": d.base}, http.StatusForbidden},
		{"token from another Origin", map[string]string{"X-CSRF-Token": tok, "Origin": "https://evil.example"}, http.StatusForbidden},
		{"token from another Referer", map[string]string{"X-CSRF-Token": tok, "Referer": "https://evil.example/admin/"}, http.StatusForbidden},
		{"token with Origin null", map[string]string{"X-CSRF-Token": tok, "Origin": "null"}, http.StatusForbidden},
		{"token, no Origin or Referer", map[string]string{"X-CSRF-Token": tok}, http.StatusForbidden},
		{"token, cross-site fetch", map[string]string{"X-CSRF-Token": tok, "Origin": d.base, "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.header["Content-Type"] = "application/json"
			if resp, got := b.send("POST", path, body, tt.header); resp.StatusCode != tt.want {
				t.Errorf("POST %s = %d %s, want %d", path, resp.StatusCode, got, tt.want)
			}
		})
	}
	// Another session's token does not fit this one.
	other := newBrowser(t, d.base)
	other.login(adminToken, nil)
	if resp, _ := b.send("POST", path, body, map[string]string{"X-CSRF-Token": other.csrf(), "Origin": d.base}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another session's CSRF token = %d, want 403", resp.StatusCode)
	}

	// Logout needs the token too, then the cookie is gone.
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": d.base}
	if resp, _ := b.send("POST", "/admin/logout", "csrf=wrong", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without the token = %d, want 403", resp.StatusCode)
	}
	resp, _ := b.send("POST", "/admin/logout", "csrf="+url.QueryEscape(tok), form)
	var cleared bool
	for _, c := range resp.Cookies() {
		cleared = cleared || (c.Name == "omo_admin" && c.MaxAge < 0)
	}
	if resp.StatusCode != http.StatusSeeOther || !cleared {
		t.Errorf("logout = %d, cookie cleared %v; want 303 and cleared", resp.StatusCode, cleared)
	}
}
