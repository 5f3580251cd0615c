package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/httpapi"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/worker"
)

const adminToken = "s3cret-admin-token"

const adminCampaigns = `
kind: CouponPool
id: welcome-10
title: "¥10 off"
discount: {amount_fen: 1000}
stock: 100
valid_for: 1h
---
kind: Campaign
id: welcome
title: Welcome
window: {start: 2026-01-01T00:00:00+08:00, end: 2027-01-01T00:00:00+08:00}
on: {event: subscribe}
do:
  - issue_coupon: {pool: welcome-10}
  - send_template: {template_id: TPL, page: pages/coupon/detail, query: {code: "{{.Coupon.Code}}"}}
---
kind: Campaign
id: menu
on: {event: menu_click, key: MENU}
do: [{reply: {text: hi}}]
---
kind: Campaign
id: over
title: Last year
window: {end: 2025-12-31T23:59:59+08:00}
on: {event: menu_click, key: OLD}
do: [{reply: {text: old}}]
`

// adminEnv is the real Handler with the admin API over httptest.
type adminEnv struct {
	apiClient
	db    *sqldb.DB
	eng   *engine.Engine
	clock *testenv.Clock
}

type adminOptions struct {
	token  string       // the configured admin token
	queues http.Handler // /admin/queues
}

func newAdminEnv(t *testing.T, dbURL string, o adminOptions) *adminEnv {
	t.Helper()
	db := openDB(t, dbURL)
	a := &adminEnv{db: db, clock: testenv.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))}
	a.eng = engine.New(db, &recorder{}, a.clock.Now, discard)
	files := []campaigns.File{{Name: "campaigns/admin.yaml", Data: []byte(adminCampaigns)}}
	set, err := campaigns.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.eng.SetCampaigns(t.Context(), set, files); err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Deps{Engine: a.eng, Log: discard, Now: a.clock.Now, AdminToken: o.token, Queues: o.queues})
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	a.base = srv.URL
	return a
}

// eachAdmin runs test on an admin server per database engine.
func eachAdmin(t *testing.T, test func(t *testing.T, a *adminEnv)) {
	t.Helper()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) { test(t, newAdminEnv(t, d.URL, adminOptions{token: adminToken})) })
	}
}

// apiClient sends requests to the httpapi server under test at base.
type apiClient struct{ base string }

// do sends a request with the Authorization header auth ("" = none) and
// returns the status and body.
func (c apiClient) do(t *testing.T, method, path, auth, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, c.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (a *adminEnv) admin(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	return a.do(t, method, path, "Bearer "+adminToken, body)
}

// coupon makes openid follow, which issues them a welcome coupon, and
// returns its code.
func (a *adminEnv) coupon(t *testing.T, openid string) string {
	t.Helper()
	ev := &events.Event{Type: events.Subscribe, ToUser: oaGh, OpenID: openid, CreatedAt: a.clock.Now()}
	if _, err := a.eng.Handle(t.Context(), ev, nil); err != nil {
		t.Fatal(err)
	}
	cps, err := a.db.CouponsOf(t.Context(), openid)
	if err != nil || len(cps) != 1 {
		t.Fatalf("coupons of %s = %v, %v; want 1", openid, cps, err)
	}
	return cps[0].Code
}

func decode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
}

func TestAdminUnauthorized(t *testing.T) {
	t.Parallel()
	routes := []struct{ method, path, body string }{
		{"GET", "/admin/v1/campaigns", ""},
		{"GET", "/admin/v1/campaigns/welcome/stats", ""},
		{"POST", "/admin/v1/coupons/redeem", `{"code":"X","store_id":"sh-001"}`},
		{"GET", "/admin/queues/", ""},
		{"GET", "/admin/v1/nothing-here", ""},
	}
	tests := []struct {
		name       string
		configured string // the server's admin token
		auth       string
	}{
		{"no header", adminToken, ""},
		{"wrong token", adminToken, "Bearer wrong"},
		{"token with a suffix", adminToken, "Bearer " + adminToken + "x"},
		{"token prefix only", adminToken, "Bearer " + adminToken[:5]},
		{"token without Bearer", adminToken, adminToken},
		{"Basic auth", adminToken, "Basic YWRtaW46" + adminToken},
		{"empty bearer", adminToken, "Bearer "},
		{"no admin token configured, none sent", "", ""},
		{"no admin token configured, empty bearer", "", "Bearer "},
		{"no admin token configured, some token", "", "Bearer " + adminToken},
	}
	envs := map[string]*adminEnv{}
	for _, tt := range tests {
		if envs[tt.configured] == nil {
			envs[tt.configured] = newAdminEnv(t, testenv.SQLiteURL(t), adminOptions{token: tt.configured, queues: http.NotFoundHandler()})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := envs[tt.configured]
			for _, r := range routes {
				code, body := a.do(t, r.method, r.path, tt.auth, r.body)
				if code != http.StatusUnauthorized || !strings.Contains(body, `"error"`) {
					t.Errorf("%s %s = %d %s, want 401 with an error", r.method, r.path, code, body)
				}
			}
		})
	}
	// The right token gets through.
	a := envs[adminToken]
	if code, body := a.admin(t, "GET", "/admin/v1/campaigns", ""); code != http.StatusOK {
		t.Errorf("with the token: %d %s, want 200", code, body)
	}
	if code, _ := a.admin(t, "GET", "/admin/v1/nothing-here", ""); code != http.StatusNotFound {
		t.Errorf("unknown admin path with the token = %d, want 404", code)
	}
}

func TestAdminCampaigns(t *testing.T) {
	t.Parallel()
	eachAdmin(t, func(t *testing.T, a *adminEnv) {
		code, body := a.admin(t, "GET", "/admin/v1/campaigns", "")
		if code != http.StatusOK {
			t.Fatalf("GET /admin/v1/campaigns = %d %s", code, body)
		}
		var got struct {
			Campaigns []struct {
				ID, Title, Event, Source string
				Active                   bool
				Start, End               *time.Time
			}
		}
		decode(t, body, &got)
		type view struct {
			ID, Title, Event, Source string
			Active                   bool
			Start, End               string
		}
		var views []view
		for _, c := range got.Campaigns {
			v := view{ID: c.ID, Title: c.Title, Event: c.Event, Source: c.Source, Active: c.Active}
			if c.Start != nil {
				v.Start = c.Start.UTC().Format(time.RFC3339)
			}
			if c.End != nil {
				v.End = c.End.UTC().Format(time.RFC3339)
			}
			views = append(views, v)
		}
		want := []view{
			{ID: "welcome", Title: "Welcome", Event: "subscribe", Source: "campaigns/admin.yaml:9", Active: true,
				Start: "2025-12-31T16:00:00Z", End: "2026-12-31T16:00:00Z"},
			{ID: "menu", Event: "menu_click", Source: "campaigns/admin.yaml:18", Active: true},
			{ID: "over", Title: "Last year", Event: "menu_click", Source: "campaigns/admin.yaml:23", End: "2025-12-31T15:59:59Z"},
		}
		if diff := cmp.Diff(want, views); diff != "" {
			t.Errorf("campaigns (-want +got):\n%s", diff)
		}
	})
}

func TestAdminStats(t *testing.T) {
	t.Parallel()
	eachAdmin(t, func(t *testing.T, a *adminEnv) {
		codes := []string{a.coupon(t, "o1"), a.coupon(t, "o2"), a.coupon(t, "o3")}
		if code, body := a.admin(t, "POST", "/admin/v1/coupons/redeem", `{"code":"`+codes[0]+`","store_id":"sh-001"}`); code != http.StatusOK {
			t.Fatalf("redeem = %d %s", code, body)
		}
		code, body := a.admin(t, "GET", "/admin/v1/campaigns/welcome/stats", "")
		if code != http.StatusOK {
			t.Fatalf("stats = %d %s", code, body)
		}
		var got map[string]int
		decode(t, body, &got)
		want := map[string]int{"fired": 3, "sent": 0, "delivered": 0, "failed": 0, "opened": 0, "coupons_issued": 3, "coupons_redeemed": 1}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
		if code, body := a.admin(t, "GET", "/admin/v1/campaigns/menu/stats", ""); code != http.StatusOK || !strings.Contains(body, `"fired":0`) {
			t.Errorf("stats of an idle campaign = %d %s, want 200 with zeros", code, body)
		}
		if code, body := a.admin(t, "GET", "/admin/v1/campaigns/no-such/stats", ""); code != http.StatusNotFound || !strings.Contains(body, `"error"`) {
			t.Errorf("stats of an unknown campaign = %d %s, want 404", code, body)
		}
	})
}

func TestAdminRedeem(t *testing.T) {
	t.Parallel()
	eachAdmin(t, func(t *testing.T, a *adminEnv) {
		code := a.coupon(t, "o1")
		lower := a.coupon(t, "o2")
		expired := a.coupon(t, "o3")
		redeem := func(body string) (int, string) {
			t.Helper()
			return a.admin(t, "POST", "/admin/v1/coupons/redeem", body)
		}

		status, body := redeem(`{"code":"` + code + `","store_id":"sh-001"}`)
		if status != http.StatusOK {
			t.Fatalf("first redeem = %d %s, want 200", status, body)
		}
		var got struct {
			RedeemedAt time.Time `json:"redeemed_at"`
		}
		decode(t, body, &got)
		var full map[string]any
		decode(t, body, &full)
		if full["code"] != code || full["pool"] != "welcome-10" || full["title"] != "¥10 off" || full["state"] != "redeemed" || full["store_id"] != "sh-001" || !got.RedeemedAt.Equal(a.clock.Now()) {
			t.Errorf("redeem answer = %s, want the coupon redeemed at sh-001 at %s", body, a.clock.Now())
		}
		for i := range 2 {
			if status, body := redeem(`{"code":"` + code + `","store_id":"bj-002"}`); status != http.StatusConflict || !strings.Contains(body, `"error"`) {
				t.Errorf("redeem again (%d) = %d %s, want 409", i+1, status, body)
			}
		}
		if status, body := redeem(`{"code":"NOSUCHCODE234567","store_id":"sh-001"}`); status != http.StatusNotFound {
			t.Errorf("unknown code = %d %s, want 404", status, body)
		}
		// Staff type codes in lower case, with spaces around.
		if status, body := redeem(`{"code":"  ` + strings.ToLower(lower) + ` ","store_id":"sh-001"}`); status != http.StatusOK {
			t.Errorf("lower-case code = %d %s, want 200", status, body)
		}

		a.clock.Add(2 * time.Hour) // the coupons were valid for 1h
		if status, body := redeem(`{"code":"` + expired + `","store_id":"sh-001"}`); status != http.StatusGone || !strings.Contains(body, "expired") {
			t.Errorf("expired coupon = %d %s, want 410", status, body)
		}
		if status, body := redeem(`{"code":"` + code + `","store_id":"sh-001"}`); status != http.StatusConflict {
			t.Errorf("redeemed coupon after its expiry = %d %s, want 409", status, body)
		}

		bad := []struct{ name, body string }{
			{"empty body", ""},
			{"not JSON", "code=X&store_id=Y"},
			{"JSON array", `["` + expired + `","sh-001"]`},
			{"empty object", `{}`},
			{"no store_id", `{"code":"` + expired + `"}`},
			{"blank store_id", `{"code":"` + expired + `","store_id":"  "}`},
			{"no code", `{"store_id":"sh-001"}`},
			{"blank code", `{"code":"   ","store_id":"sh-001"}`},
			{"code not a string", `{"code":123,"store_id":"sh-001"}`},
			{"over 64 KiB", `{"code":"` + strings.Repeat("A", 70<<10) + `","store_id":"sh-001"}`},
		}
		for _, b := range bad {
			if status, body := redeem(b.body); status != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
				t.Errorf("%s: %d %s, want 400", b.name, status, body)
			}
		}
		st, err := a.eng.CampaignStats(t.Context(), "welcome")
		if err != nil || st.CouponsRedeemed != 2 {
			t.Errorf("coupons_redeemed = %d, %v; want 2", st.CouponsRedeemed, err)
		}
	})
}

func TestAdminRedeemConcurrent(t *testing.T) {
	t.Parallel()
	eachAdmin(t, func(t *testing.T, a *adminEnv) {
		code := a.coupon(t, "o1")
		const n = 10
		var (
			wg       sync.WaitGroup
			start    = make(chan struct{})
			statuses = make(chan int, n)
		)
		for range n {
			wg.Go(func() {
				<-start
				status, _ := a.admin(t, "POST", "/admin/v1/coupons/redeem", `{"code":"`+code+`","store_id":"sh-001"}`)
				statuses <- status
			})
		}
		close(start)
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		if want := map[int]int{http.StatusOK: 1, http.StatusConflict: n - 1}; !cmp.Equal(count, want) {
			t.Errorf("statuses = %v, want %v", count, want)
		}
	})
}

// TestAdminQueues: the asynq monitor is served behind the admin token.
func TestAdminQueues(t *testing.T) {
	t.Parallel()
	rs := testenv.Redis(t)
	mon, err := worker.Monitor(rs.URL(), "", "/admin/queues")
	if err != nil {
		t.Fatal(err)
	}
	a := newAdminEnv(t, testenv.SQLiteURL(t), adminOptions{token: adminToken, queues: mon})
	tests := []struct {
		name, path, auth string
		want             int
		contains         string
	}{
		{"UI", "/admin/queues/", "Bearer " + adminToken, http.StatusOK, "<html"},
		{"UI without the slash (redirected)", "/admin/queues", "Bearer " + adminToken, http.StatusOK, "<html"},
		{"API", "/admin/queues/api/queues", "Bearer " + adminToken, http.StatusOK, `"queues"`},
		{"UI without token", "/admin/queues/", "", http.StatusUnauthorized, `"error"`},
		{"UI without the slash, without token", "/admin/queues", "", http.StatusUnauthorized, `"error"`},
		{"API without token", "/admin/queues/api/queues", "", http.StatusUnauthorized, `"error"`},
		{"API with a wrong token", "/admin/queues/api/queues", "Bearer nope", http.StatusUnauthorized, `"error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := a.do(t, "GET", tt.path, tt.auth, "")
			if code != tt.want || !strings.Contains(strings.ToLower(body), strings.ToLower(tt.contains)) {
				t.Errorf("GET %s = %d %.200s, want %d with %s", tt.path, code, body, tt.want, tt.contains)
			}
		})
	}
}
