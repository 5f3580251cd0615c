package wechat_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

// The apps every env has (testenv's).
const (
	oaID, oaSecret = testenv.OAAppID, testenv.OASecret
	mpID, mpSecret = testenv.MPAppID, testenv.MPSecret
)

// env is one simulator and one fresh redis-server.
type env struct {
	sim *wechatsim.Sim
	url string
	rdb *redis.Client
}

func newEnv(t *testing.T) env {
	t.Helper()
	sim := wechatsim.New(wechatsim.Options{})
	sim.AddApp(oaID, oaSecret)
	sim.AddApp(mpID, mpSecret)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return env{sim: sim, url: srv.URL, rdb: newRedis(t, testEnvRedisURL(t))}
}

func newRedis(t *testing.T, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// client returns a Client on e's simulator and Redis; edit changes its Config.
func (e env) client(t *testing.T, edit ...func(*wechat.Config)) *wechat.Client {
	t.Helper()
	cfg := wechat.Config{APIBase: e.url, OAAppID: oaID, OAAppSecret: oaSecret, MPAppID: mpID, MPAppSecret: mpSecret, Timeout: 2 * time.Second}
	for _, f := range edit {
		f(&cfg)
	}
	c, err := wechat.NewClient(cfg, e.rdb, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokenFetchedOnceAcrossClients(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1", UnionID: "u1"})
	clients := []*wechat.Client{e.client(t), e.client(t)} // two "processes" on one Redis
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			info, err := clients[i%2].UserInfo(t.Context(), "o1")
			if err == nil && (info.OpenID != "o1" || info.UnionID != "u1" || !info.Subscribed) {
				err = fmt.Errorf("UserInfo = %+v", info)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.sim.TokenFetches(oaID); got != 1 {
		t.Errorf("token fetches = %d, want 1", got)
	}
	if got := e.sim.CallCount("/cgi-bin/stable_token"); got != 1 {
		t.Errorf("stable_token calls = %d, want 1", got)
	}
	if got := e.sim.CallCount("/cgi-bin/token"); got != 0 {
		t.Errorf("/cgi-bin/token calls = %d, want 0 (it invalidates other processes' tokens)", got)
	}
}

func TestInvalidTokenRefreshesAndRetriesOnce(t *testing.T) {
	for _, code := range []int{40001, 40014} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			e := newEnv(t)
			e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1"})
			c := e.client(t)
			ctx := t.Context()
			if _, err := c.UserInfo(ctx, "o1"); err != nil {
				t.Fatal(err)
			}
			e.sim.Inject("/cgi-bin/user/info", code, 1)
			if _, err := c.UserInfo(ctx, "o1"); err != nil {
				t.Fatalf("after one %d: %v", code, err)
			}
			if got := e.sim.CallCount("/cgi-bin/user/info"); got != 3 {
				t.Errorf("user/info calls = %d, want 3", got)
			}
			// stable_token gave back the rejected token, so it was forced
			if got := e.sim.TokenFetches(oaID); got != 2 {
				t.Errorf("token fetches = %d, want 2", got)
			}
			forced := 0
			for _, call := range e.sim.Calls("/cgi-bin/stable_token") {
				if bytes.Contains(call.Body, []byte(`"force_refresh":true`)) {
					forced++
				}
			}
			if forced != 1 {
				t.Errorf("forced refreshes = %d, want 1", forced)
			}
		})
	}
}

func TestSecondInvalidTokenIsReturned(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1"})
	c := e.client(t)
	e.sim.Inject("/cgi-bin/message/custom/send", 40001, 2)
	err := c.SendCustomText(t.Context(), "o1", "hi")
	var ae *wechat.APIError
	if !errors.As(err, &ae) || ae.Code != 40001 {
		t.Fatalf("err = %v, want an *APIError 40001", err)
	}
	if got := errs.KindOf(err); got != errs.Unavailable {
		t.Errorf("kind = %v, want unavailable (the refresh and retry already happened)", got)
	}
	if got := e.sim.CallCount("/cgi-bin/message/custom/send"); got != 2 {
		t.Errorf("custom/send calls = %d, want 2 (one retry, no loop)", got)
	}
}

func TestExpiredTokenRefreshes(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx := t.Context()
	if _, err := c.URLLink(ctx, "pages/index/index", "a=1"); err != nil {
		t.Fatal(err)
	}
	e.sim.ExpireTokens(mpID)
	link, err := c.URLLink(ctx, "pages/index/index", "a=2")
	if err != nil {
		t.Fatalf("after ExpireTokens: %v", err)
	}
	if !strings.HasPrefix(link, "https://wxaurl.cn/") {
		t.Errorf("link = %q", link)
	}
	calls := e.sim.Calls("/wxa/generate_urllink")
	var codes []int
	for _, call := range calls {
		codes = append(codes, call.Errcode)
	}
	if want := []int{0, 42001, 0}; fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("generate_urllink errcodes = %v, want %v", codes, want)
	}
	if got := e.sim.TokenFetches(mpID); got != 2 {
		t.Errorf("mini-program token fetches = %d, want 2", got)
	}
	if got := e.sim.TokenFetches(oaID); got != 0 {
		t.Errorf("OA token fetches = %d, want 0 (separate tokens)", got)
	}
}

func TestAPIBaseRedirectsImages(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx := t.Context()
	qr, err := c.CreateQRCode(ctx, "store:sh-001", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.ContainsAny(qr.Ticket, "+/=") {
		t.Fatalf("ticket %q has nothing to escape; the test proves nothing", qr.Ticket)
	}
	img, err := c.QRCodeImage(ctx, qr.Ticket)
	if err != nil {
		t.Fatalf("showqrcode: %v", err)
	}
	if !bytes.HasPrefix(img, []byte{0xff, 0xd8}) {
		t.Errorf("showqrcode answered %d bytes, not a JPEG", len(img))
	}
	code, err := c.WxaCodeUnlimit(ctx, "r=AB12", "pages/referral/index")
	if err != nil {
		t.Fatalf("getwxacodeunlimit: %v", err)
	}
	if !bytes.HasPrefix(code, []byte{0xff, 0xd8}) {
		t.Errorf("getwxacodeunlimit answered %d bytes, not a JPEG", len(code))
	}
	got := e.sim.MiniCodes(mpID)
	if len(got) != 1 || got[0].Scene != "r=AB12" || got[0].Page != "pages/referral/index" {
		t.Errorf("mini codes = %+v", got)
	}
	if n := e.sim.CallCount("/cgi-bin/showqrcode"); n != 1 {
		t.Errorf("showqrcode calls = %d, want 1", n)
	}
}

func TestQRCodes(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx := t.Context()
	tmp, err := c.CreateQRCode(ctx, "ref:AB12", 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if tmp.ExpiresIn != 7*24*time.Hour || tmp.URL == "" {
		t.Errorf("temporary QR = %+v", tmp)
	}
	perm, err := c.CreateQRCode(ctx, "store:sh-001", 0)
	if err != nil {
		t.Fatal(err)
	}
	if perm.ExpiresIn != 0 {
		t.Errorf("permanent QR expires in %v", perm.ExpiresIn)
	}
	qrs := e.sim.QRCodes(oaID)
	if len(qrs) != 2 || qrs[0].ActionName != "QR_STR_SCENE" || qrs[1].ActionName != "QR_LIMIT_STR_SCENE" || qrs[1].SceneStr != "store:sh-001" {
		t.Errorf("sim QR codes = %+v", qrs)
	}
	for _, bad := range []struct {
		scene  string
		expire time.Duration
	}{{"", 0}, {strings.Repeat("x", 65), 0}, {"ok", 31 * 24 * time.Hour}} {
		if _, err := c.CreateQRCode(ctx, bad.scene, bad.expire); errs.KindOf(err) != errs.Invalid {
			t.Errorf("CreateQRCode(%q, %v) = %v, want a config error", bad.scene, bad.expire, err)
		}
	}
	if _, err := c.WxaCodeUnlimit(ctx, "ref:<AB>", ""); errs.KindOf(err) != errs.Invalid {
		t.Errorf("WxaCodeUnlimit with '<' = %v, want a config error", err)
	}
}

func TestTimeoutIsRetry(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1"})
	c := e.client(t, func(cfg *wechat.Config) { cfg.Timeout = 150 * time.Millisecond })
	ctx := t.Context()
	if _, err := c.UserInfo(ctx, "o1"); err != nil { // token in place
		t.Fatal(err)
	}
	e.sim.InjectDelay("/cgi-bin/user/info", time.Second, 1) // through silenceper
	e.sim.InjectDelay("/cgi-bin/qrcode/create", time.Second, 1)
	start := time.Now()
	_, err := c.UserInfo(ctx, "o1")
	if got := errs.KindOf(err); got != errs.Unavailable {
		t.Errorf("user/info timeout: kind of %v = %v, want unavailable", err, got)
	}
	if d := time.Since(start); d > 900*time.Millisecond {
		t.Errorf("user/info took %v with a 150ms timeout", d)
	}
	_, err = c.CreateQRCode(ctx, "store:1", 0)
	if got := errs.KindOf(err); got != errs.Unavailable {
		t.Errorf("qrcode/create timeout: kind of %v = %v, want unavailable", err, got)
	}
	for _, err := range []error{err} {
		if strings.Contains(err.Error(), "access_token=") && !strings.Contains(err.Error(), "access_token=REDACTED") {
			t.Errorf("error leaks the token: %v", err)
		}
	}
}

func TestServerErrorIsRetryAndRedacted(t *testing.T) {
	e := newEnv(t)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1"})
	c := e.client(t)
	e.sim.InjectStatus("/cgi-bin/user/info", 502, 1)     // silenceper: text error with the URL
	e.sim.InjectStatus("/wxa/getwxacodeunlimit", 503, 1) // called here: *HTTPError
	_, err := c.UserInfo(t.Context(), "o1")
	if got := errs.KindOf(err); got != errs.Unavailable {
		t.Errorf("user/info 502: kind of %v = %v, want unavailable", err, got)
	}
	if strings.Contains(err.Error(), "access_token=") && !strings.Contains(err.Error(), "access_token=REDACTED") {
		t.Errorf("error leaks the token: %v", err)
	}
	_, err = c.WxaCodeUnlimit(t.Context(), "a=1", "")
	if got := errs.KindOf(err); got != errs.Unavailable {
		t.Errorf("getwxacodeunlimit 503: kind of %v = %v, want unavailable", err, got)
	}
}

func TestCancelledContextCallsNothing(t *testing.T) {
	e := newEnv(t)
	c := e.client(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := c.SendCustomText(ctx, "o1", "hi"); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := len(e.sim.Calls("")); n != 0 {
		t.Errorf("%d calls reached WeChat", n)
	}
}

func TestClientsOnDifferentSimulators(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	a.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "oa-a"})
	b.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "oa-b"})
	ca, cb := a.client(t), b.client(t)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Go(func() {
			_, err := ca.UserInfo(t.Context(), "oa-a")
			errs <- err
		})
		wg.Go(func() {
			_, err := cb.SendTemplate(t.Context(), wechat.TemplateMessage{ToUser: "oa-b", TemplateID: "T", Data: map[string]string{"thing1": fmt.Sprint(i)}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, m := a.sim.CallCount("/cgi-bin/user/info"), b.sim.CallCount("/cgi-bin/user/info"); n != 20 || m != 0 {
		t.Errorf("user/info calls: sim a %d (want 20), sim b %d (want 0)", n, m)
	}
	if n, m := len(a.sim.Templates(oaID)), len(b.sim.Templates(oaID)); n != 0 || m != 20 {
		t.Errorf("templates: sim a %d (want 0), sim b %d (want 20)", n, m)
	}
}

func TestNotConfigured(t *testing.T) {
	e := newEnv(t)
	c := e.client(t, func(cfg *wechat.Config) { cfg.MPAppID, cfg.MPAppSecret = "", "" })
	_, err := c.Code2Session(t.Context(), "code")
	if !errors.Is(err, wechat.ErrNotConfigured) || errs.KindOf(err) != errs.Invalid {
		t.Errorf("Code2Session without a mini-program = %v", err)
	}
	for _, cfg := range []wechat.Config{
		{APIBase: "ftp://x"}, {APIBase: "not a url"}, {OAAppID: "wx1"}, {MPAppID: "wx2"},
	} {
		if _, err := wechat.NewClient(cfg, e.rdb, nil); err == nil {
			t.Errorf("NewClient(%+v) accepted", cfg)
		}
	}
}

func testEnvRedisURL(t *testing.T) string { return testenv.Redis(t).URL() }
