package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/httpapi"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/mpsession"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

const (
	mpAppID  = testenv.MPAppID
	mpSecret = testenv.MPSecret
	mpTTL    = 24 * time.Hour
)

var mpSessionSecret = []byte("test-session-secret-0123456789ab")

// mpEnv is the real Handler with the mini-program API over httptest, the
// WeChat simulator over HTTP for jscode2session, and the admin campaigns
// (a follow issues a welcome-10 coupon valid 1h and a template message
// with a deep link).
type mpEnv struct {
	apiClient
	db    *sqldb.DB
	eng   *engine.Engine
	clock *testenv.Clock
	sim   *wechatsim.Sim
	wx    *wechat.Client
}

func newMPEnv(t *testing.T, dbURL string) *mpEnv {
	t.Helper()
	db := openDB(t, dbURL)
	e := &mpEnv{db: db, clock: testenv.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))}
	e.eng = engine.New(db, &recorder{}, e.clock.Now, discard)
	files := []campaigns.File{{Name: "campaigns/admin.yaml", Data: []byte(adminCampaigns)}}
	set, err := campaigns.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.eng.SetCampaigns(t.Context(), set, files); err != nil {
		t.Fatal(err)
	}
	e.sim = wechatsim.New(wechatsim.Options{})
	e.sim.AddApp(mpAppID, mpSecret)
	simSrv := httptest.NewServer(e.sim)
	t.Cleanup(func() { simSrv.Close(); e.sim.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	if e.wx, err = wechat.NewClient(wechat.Config{APIBase: simSrv.URL, MPAppID: mpAppID, MPAppSecret: mpSecret}, rdb, discard); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Deps{Engine: e.eng, Log: discard, Now: e.clock.Now, AdminToken: adminToken,
		MiniProgram: wechat.NewLogin(e.wx), SessionSecret: mpSessionSecret, SessionTTL: mpTTL})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	e.base = srv.URL
	return e
}

// eachMP runs test on a mini-program server per database engine.
func eachMP(t *testing.T, test func(t *testing.T, e *mpEnv)) {
	t.Helper()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) { test(t, newMPEnv(t, d.URL)) })
	}
}

type loginAnswer struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	OpenID    string    `json:"openid"`
}

// login logs openid (with unionid) in through a fresh wx.login code and
// returns the session token.
func (e *mpEnv) login(t *testing.T, openid, unionid string) string {
	t.Helper()
	code := "code-" + openid + "-" + e.clock.Now().Format("150405.000000000")
	e.sim.AddLoginCode(mpAppID, code, openid, unionid)
	status, body := e.do(t, "POST", "/mp/v1/login", "", `{"code":"`+code+`"}`)
	if status != http.StatusOK {
		t.Fatalf("login %s = %d %s, want 200", openid, status, body)
	}
	var a loginAnswer
	decode(t, body, &a)
	return a.Token
}

// follow makes openid follow the OA (the welcome campaign issues a coupon
// and a template message) and records the unionid user/info would give.
func (e *mpEnv) follow(t *testing.T, openid, unionid string) {
	t.Helper()
	ev := &events.Event{Type: events.Subscribe, ToUser: oaGh, OpenID: openid, CreatedAt: e.clock.Now()}
	if _, err := e.eng.Handle(t.Context(), ev, nil); err != nil {
		t.Fatal(err)
	}
	if unionid == "" {
		return
	}
	if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error { return tx.SetUnionID(openid, unionid) }); err != nil {
		t.Fatal(err)
	}
}

type mpCoupon struct {
	Code       string     `json:"code"`
	Title      string     `json:"title"`
	Pool       string     `json:"pool"`
	State      string     `json:"state"`
	IssuedAt   time.Time  `json:"issued_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RedeemedAt *time.Time `json:"redeemed_at"`
}

func (e *mpEnv) coupons(t *testing.T, token string) []mpCoupon {
	t.Helper()
	status, body := e.do(t, "GET", "/mp/v1/coupons", "Bearer "+token, "")
	if status != http.StatusOK {
		t.Fatalf("GET /mp/v1/coupons = %d %s, want 200", status, body)
	}
	var got struct{ Coupons []mpCoupon }
	decode(t, body, &got)
	if got.Coupons == nil || !strings.Contains(body, `"redeemed_at"`) && len(got.Coupons) > 0 {
		t.Fatalf("GET /mp/v1/coupons = %s, want a coupons list with every field", body)
	}
	return got.Coupons
}

func TestMPLogin(t *testing.T) {
	t.Parallel()
	eachMP(t, func(t *testing.T, e *mpEnv) {
		e.sim.AddLoginCode(mpAppID, "good-code", "mp-alice", "u-alice")
		status, body := e.do(t, "POST", "/mp/v1/login", "", `{"code":"good-code"}`)
		if status != http.StatusOK {
			t.Fatalf("login = %d %s, want 200", status, body)
		}
		var a loginAnswer
		decode(t, body, &a)
		if a.OpenID != "mp-alice" || !a.ExpiresAt.Equal(e.clock.Now().Add(mpTTL)) || a.Token == "" {
			t.Errorf("login answer = %s, want openid mp-alice expiring at %s", body, e.clock.Now().Add(mpTTL))
		}
		if strings.Contains(body, "session_key") || strings.Contains(body, "u-alice") {
			t.Errorf("login answer %s shows the session key or unionid", body)
		}
		if got := e.coupons(t, a.Token); len(got) != 0 {
			t.Errorf("coupons of a new user = %v, want none", got)
		}
		if u, err := e.db.MPUser(t.Context(), "mp-alice"); err != nil || u.UnionID != "u-alice" || !u.FirstSeenAt.Equal(e.clock.Now()) {
			t.Errorf("stored mp user = %+v, %v", u, err)
		}

		refused := []struct {
			name, body string
			prepare    func()
			status     int
			msg        string
		}{
			{"the same code again", `{"code":"good-code"}`, nil, http.StatusUnauthorized, "already used"},
			{"a code WeChat never issued", `{"code":"made-up"}`, nil, http.StatusUnauthorized, "invalid or expired"},
			{"WeChat down", `{"code":"fresh"}`, func() {
				e.sim.AddLoginCode(mpAppID, "fresh", "mp-bob", "")
				e.sim.InjectStatus("/sns/jscode2session", http.StatusBadGateway, 1)
			}, http.StatusServiceUnavailable, "unavailable"},
			{"empty body", ``, nil, http.StatusBadRequest, "JSON {code}"},
			{"not JSON", `code=abc`, nil, http.StatusBadRequest, "JSON {code}"},
			{"code not a string", `{"code":123}`, nil, http.StatusBadRequest, "JSON {code}"},
			{"no code", `{}`, nil, http.StatusBadRequest, "code is required"},
			{"blank code", `{"code":"  "}`, nil, http.StatusBadRequest, "code is required"},
			{"over 4 KiB", `{"code":"` + strings.Repeat("a", 5<<10) + `"}`, nil, http.StatusBadRequest, "JSON {code}"},
		}
		for _, r := range refused {
			t.Run(r.name, func(t *testing.T) {
				if r.prepare != nil {
					r.prepare()
				}
				status, body := e.do(t, "POST", "/mp/v1/login", "", r.body)
				var got struct{ Error string }
				decode(t, body, &got)
				if status != r.status || !strings.Contains(got.Error, r.msg) {
					t.Errorf("login = %d %s, want %d saying %q", status, body, r.status, r.msg)
				}
			})
		}
		// The code that met WeChat down still works once WeChat is back.
		if tok := e.login(t, "mp-bob", ""); tok == "" {
			t.Error("no token for bob")
		}
	})
}

func TestMPLoginNotConfigured(t *testing.T) {
	t.Parallel()
	db, err := sqldb.Open(t.Context(), testenv.SQLiteURL(t), discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for name, d := range map[string]httpapi.Deps{
		"no mini-program":   {SessionSecret: mpSessionSecret},
		"no session secret": {MiniProgram: wechat.Login{}},
		"short secret":      {MiniProgram: wechat.Login{}, SessionSecret: []byte("short")},
	} {
		t.Run(name, func(t *testing.T) {
			d.Engine, d.Log = engine.New(db, nil, nil, discard), discard
			srv := httptest.NewServer(httpapi.New(d).Handler())
			defer srv.Close()
			resp, err := http.Post(srv.URL+"/mp/v1/login", "application/json", strings.NewReader(`{"code":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "not configured") {
				t.Errorf("login = %d %s, want 503 not configured", resp.StatusCode, b)
			}
		})
	}
}

// tamper swaps the openid inside a token's payload and keeps its MAC.
func tamper(t *testing.T, token string) string {
	t.Helper()
	body, mac, _ := strings.Cut(token, ".")
	raw, err := base64URL.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	return base64URL.EncodeToString([]byte(strings.Replace(string(raw), "mp-alice", "mp-mallory", 1))) + "." + mac
}

func TestMPUnauthorized(t *testing.T) {
	t.Parallel()
	e := newMPEnv(t, testenv.SQLiteURL(t))
	good := e.login(t, "mp-alice", "u-alice")
	now := e.clock.Now()
	routes := []struct{ method, path, body string }{
		{"GET", "/mp/v1/coupons", ""},
		{"POST", "/mp/v1/track", `{"omo_c":"welcome","omo_m":"x","page":"p"}`},
		{"GET", "/mp/v1/referral", ""},
		{"GET", "/mp/v1/nothing-here", ""},
		{"GET", "/mp/v1/login", ""},
	}
	tests := []struct {
		name, auth, msg string
	}{
		{"no header", "", "session token required"},
		{"token without Bearer", good, "session token required"},
		{"Basic auth", "Basic bXA6YWxpY2U=", "session token required"},
		{"empty bearer", "Bearer ", "session token required"}, // the header arrives trimmed
		{"garbage", "Bearer not-a-token", "invalid"},
		{"the admin token", "Bearer " + adminToken, "invalid"},
		{"forged with another secret", "Bearer " + mpsession.Issue([]byte("another-secret-0123456789abcdef!"),
			mpsession.Session{OpenID: "mp-alice", Expires: now.Add(time.Hour)}), "invalid"},
		{"tampered openid", "Bearer " + tamper(t, good), "invalid"},
		{"truncated", "Bearer " + good[:len(good)-2], "invalid"},
		{"token with a suffix", "Bearer " + good + "x", "invalid"},
		{"expired", "Bearer " + mpsession.Issue(mpSessionSecret, mpsession.Session{OpenID: "mp-alice", Expires: now}), "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range routes {
				status, body := e.do(t, r.method, r.path, tt.auth, r.body)
				var got struct{ Error string }
				decode(t, body, &got)
				if status != http.StatusUnauthorized || !strings.Contains(got.Error, tt.msg) {
					t.Errorf("%s %s = %d %s, want 401 saying %q", r.method, r.path, status, body, tt.msg)
				}
			}
		})
	}
	// The good token gets through; the scheme is case-insensitive.
	for _, auth := range []string{"Bearer " + good, "bearer " + good} {
		if status, body := e.do(t, "GET", "/mp/v1/coupons", auth, ""); status != http.StatusOK {
			t.Errorf("coupons with %q = %d %s, want 200", auth[:7], status, body)
		}
	}
	if status, body := e.do(t, "GET", "/mp/v1/nothing-here", "Bearer "+good, ""); status != http.StatusNotFound || !strings.Contains(body, `"error"`) {
		t.Errorf("unknown mp path with a session = %d %s, want 404", status, body)
	}
	// The login token itself expires after the TTL.
	e.clock.Add(mpTTL)
	if status, body := e.do(t, "GET", "/mp/v1/coupons", "Bearer "+good, ""); status != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Errorf("coupons after the TTL = %d %s, want 401 expired", status, body)
	}
}

// TestMPCouponsOfOAFollower: an OA follower's coupons show in the
// mini-program of the person with the same unionid, with their state.
func TestMPCouponsOfOAFollower(t *testing.T) {
	t.Parallel()
	eachMP(t, func(t *testing.T, e *mpEnv) {
		issued := e.clock.Now()
		e.follow(t, "oa-alice", "u-alice")
		e.follow(t, "oa-bob", "u-bob")
		cps, err := e.db.CouponsOf(t.Context(), "oa-alice")
		if err != nil || len(cps) != 1 {
			t.Fatalf("alice's OA coupons = %v, %v", cps, err)
		}
		code := cps[0].Code

		alice := e.login(t, "mp-alice", "u-alice")
		want := []mpCoupon{{Code: code, Title: "¥10 off", Pool: "welcome-10", State: "issued", IssuedAt: issued, ExpiresAt: issued.Add(time.Hour)}}
		if diff := cmp.Diff(want, e.coupons(t, alice)); diff != "" {
			t.Errorf("alice's coupons in the mini-program (-want +got):\n%s", diff)
		}
		if got := e.coupons(t, e.login(t, "mp-carol", "")); len(got) != 0 {
			t.Errorf("carol (no unionid) sees %v, want nothing", got)
		}

		e.clock.Add(30 * time.Minute)
		if _, err := e.eng.Redeem(t.Context(), code, "sh-001"); err != nil {
			t.Fatal(err)
		}
		redeemed := e.clock.Now()
		want[0].State, want[0].RedeemedAt = "redeemed", &redeemed
		if diff := cmp.Diff(want, e.coupons(t, alice)); diff != "" {
			t.Errorf("after redeeming (-want +got):\n%s", diff)
		}

		// Bob logs in; his coupon expires unused and shows so before anything records it.
		bob := e.login(t, "mp-bob", "u-bob")
		e.clock.Add(time.Hour)
		got := e.coupons(t, bob)
		if len(got) != 1 || got[0].State != "expired" || got[0].RedeemedAt != nil {
			t.Errorf("bob's coupons after expiry = %+v, want one expired", got)
		}
	})
}

// deepLink returns the omo_c and omo_m of the welcome message to openid.
func (e *mpEnv) deepLink(t *testing.T, openid string) (campaign, message, page string) {
	t.Helper()
	ms, err := e.db.MessagesOf(t.Context(), "welcome", openid)
	if err != nil || len(ms) != 1 {
		t.Fatalf("welcome messages to %s = %v, %v; want 1", openid, ms, err)
	}
	var m outbox.Message
	if err := json.Unmarshal(ms[0].Payload, &m); err != nil {
		t.Fatal(err)
	}
	path, raw, _ := strings.Cut(m.Page, "?")
	q, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	return q.Get("omo_c"), q.Get("omo_m"), path
}

func TestMPTrack(t *testing.T) {
	t.Parallel()
	eachMP(t, func(t *testing.T, e *mpEnv) {
		e.follow(t, "oa-alice", "u-alice")
		e.follow(t, "oa-bob", "u-bob")
		campaign, message, page := e.deepLink(t, "oa-alice")
		if campaign != "welcome" || message == "" {
			t.Fatalf("deep link omo_c=%q omo_m=%q", campaign, message)
		}
		tok := "Bearer " + e.login(t, "mp-alice", "u-alice")
		track := func(body string) (int, string) {
			t.Helper()
			return e.do(t, "POST", "/mp/v1/track", tok, body)
		}
		open := `{"omo_c":"` + campaign + `","omo_m":"` + message + `","page":"` + page + `"}`
		if status, body := track(open); status != http.StatusOK || strings.TrimSpace(body) != `{"counted":true}` {
			t.Fatalf("first open = %d %s, want 200 counted", status, body)
		}
		for i := range 2 {
			if status, body := track(open); status != http.StatusOK || strings.TrimSpace(body) != `{"counted":false}` {
				t.Errorf("open again (%d) = %d %s, want 200 not counted", i+1, status, body)
			}
		}
		st, err := e.eng.CampaignStats(t.Context(), "welcome")
		if err != nil || st.Opened != 1 {
			t.Errorf("opened = %d, %v; want 1", st.Opened, err)
		}

		_, bobMsg, _ := e.deepLink(t, "oa-bob")
		bad := []struct {
			name, body string
			status     int
		}{
			{"unknown message", `{"omo_c":"welcome","omo_m":"0190f5d2-0000-7000-8000-000000000000","page":"p"}`, http.StatusNotFound},
			{"message of another campaign", `{"omo_c":"menu","omo_m":"` + bobMsg + `","page":"p"}`, http.StatusNotFound},
			{"no omo_m", `{"omo_c":"welcome","page":"p"}`, http.StatusBadRequest},
			{"no omo_c", `{"omo_m":"` + bobMsg + `"}`, http.StatusBadRequest},
			{"not JSON", `omo_c=welcome`, http.StatusBadRequest},
			{"empty body", ``, http.StatusBadRequest},
		}
		for _, b := range bad {
			if status, body := track(b.body); status != b.status || !strings.Contains(body, `"error"`) {
				t.Errorf("%s: %d %s, want %d", b.name, status, body, b.status)
			}
		}
		if st, _ := e.eng.CampaignStats(t.Context(), "welcome"); st.Opened != 1 {
			t.Errorf("opened after refused tracks = %d, want 1", st.Opened)
		}
		// Bob's message counts once too, and the admin stats show both.
		if status, body := track(`{"omo_c":"welcome","omo_m":"` + bobMsg + `"}`); status != http.StatusOK || !strings.Contains(body, "true") {
			t.Errorf("bob's open = %d %s", status, body)
		}
		status, body := e.do(t, "GET", "/admin/v1/campaigns/welcome/stats", "Bearer "+adminToken, "")
		if status != http.StatusOK || !strings.Contains(body, `"opened":2`) {
			t.Errorf("admin stats = %d %s, want opened 2", status, body)
		}
	})
}

var base64URL = base64.RawURLEncoding
