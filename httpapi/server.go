// Package httpapi is omo's HTTP surface (DESIGN.md §3): the OA webhook, the
// mini-program API, the admin API and the operations endpoints, all routes
// in this file, plain net/http.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/mpsession"
	"github.com/omohq/omo/wechat"
)

// MaxBody is the largest push the webhook reads (1 MiB); more is 413.
const MaxBody = 1 << 20

// Checker is a dependency /readyz asks.
type Checker interface {
	Ping(ctx context.Context) error
}

// Server holds what the handlers need.
type Server struct {
	codec   *wechat.Codec
	engine  *engine.Engine
	log     *slog.Logger
	now     func() time.Time
	ready   map[string]Checker
	metrics *metrics
	reg     *prometheus.Registry
	admin   string
	queues  http.Handler
	mp      MiniProgram
	session struct {
		secret []byte
		ttl    time.Duration
	}
	qr        QRCodes
	sharePage string
	dash      dashboard
}

// Deps are the parts a Server is built from.
type Deps struct {
	Codec  *wechat.Codec
	Engine *engine.Engine
	Ready  map[string]Checker // name -> dependency, e.g. "database", "redis"
	Log    *slog.Logger
	Now    func() time.Time
	// AdminToken is the bearer token of /admin; "" refuses everyone.
	AdminToken string
	// Queues is the queue monitor mounted at /admin/queues (nil: none).
	Queues http.Handler
	// MiniProgram exchanges login codes (nil: POST /mp/v1/login is 503).
	MiniProgram MiniProgram
	// SessionSecret signs the /mp/v1 session tokens; shorter than
	// mpsession.MinSecretLen refuses every token and login is 503.
	SessionSecret []byte
	// SessionTTL is how long a session token lasts (0: DefaultSessionTTL).
	SessionTTL time.Duration
	// QRCodes makes referral QR and mini-program codes (nil: 503 for them).
	QRCodes QRCodes
	// SharePage is the mini-program page a shared referral opens
	// ("" = pages/index/index).
	SharePage string
	// Collectors are served on /metrics beside the webhook's own metrics
	// and the Go runtime's (the rest of omo's path: package metrics).
	Collectors []prometheus.Collector
}

// New returns a Server.
func New(d Deps) *Server {
	if d.Now == nil {
		d.Now = time.Now
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(d.Collectors...)
	s := &Server{codec: d.Codec, engine: d.Engine, log: d.Log, now: d.Now, ready: d.Ready,
		metrics: newMetrics(reg), reg: reg, admin: d.AdminToken, queues: d.Queues, mp: d.MiniProgram,
		qr: d.QRCodes, sharePage: d.SharePage, dash: newDashboard(d.AdminToken)}
	if s.sharePage == "" {
		s.sharePage = "pages/index/index"
	}
	if len(d.SessionSecret) >= mpsession.MinSecretLen {
		s.session.secret = d.SessionSecret
	}
	s.session.ttl = d.SessionTTL
	if s.session.ttl <= 0 {
		s.session.ttl = DefaultSessionTTL
	}
	return s
}

// Handler returns every route.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /wechat/oa", s.handleOAVerify)
	mux.HandleFunc("POST /wechat/oa", s.handleOAPush)
	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /admin/v1/campaigns", s.adminOnly(s.handleCampaigns))
	mux.Handle("GET /admin/v1/campaigns/{id}/stats", s.adminOnly(s.handleCampaignStats))
	mux.Handle("GET /admin/v1/campaigns/{id}/audience", s.adminOnly(s.handleCampaignAudience))
	mux.Handle("GET /admin/v1/campaigns/{id}/firings", s.adminOnly(s.handleCampaignFirings))
	mux.Handle("GET /admin/v1/campaigns/{id}/variants", s.adminOnly(s.handleCampaignVariants))
	mux.Handle("POST /admin/v1/campaigns/{id}/pause", s.adminOnly(s.handleCampaignControl(engine.VerbPause)))
	mux.Handle("POST /admin/v1/campaigns/{id}/resume", s.adminOnly(s.handleCampaignControl(engine.VerbResume)))
	mux.Handle("POST /admin/v1/campaigns/{id}/cancel", s.adminOnly(s.handleCampaignControl(engine.VerbCancel)))
	mux.Handle("POST /admin/v1/coupons/redeem", s.adminOnly(s.handleRedeem))
	if s.queues != nil {
		mux.Handle("/admin/queues/", s.adminOnly(s.queues.ServeHTTP))
		mux.Handle("/admin/queues", s.adminOnly(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/admin/queues/", http.StatusMovedPermanently)
		}))
	}
	mux.Handle("/admin/", s.adminOnly(http.NotFound))
	mux.HandleFunc("POST /mp/v1/login", s.handleMPLogin)
	mux.Handle("GET /mp/v1/coupons", s.mpOnly(s.handleMPCoupons))
	mux.Handle("POST /mp/v1/track", s.mpOnly(s.handleMPTrack))
	mux.Handle("GET /mp/v1/referral", s.mpOnly(s.handleMPReferral))
	mux.Handle("GET /mp/v1/referral/code.jpg", s.mpOnly(s.handleMPReferralImage))
	mux.Handle("POST /mp/v1/referral/accept", s.mpOnly(s.handleMPReferralAccept))
	mux.Handle("GET /admin/v1/stores", s.adminOnly(s.handleStores))
	mux.Handle("GET /admin/v1/stores/{id}/stats", s.adminOnly(s.handleStoreStats))
	mux.Handle("GET /admin/v1/referral/{id}/stats", s.adminOnly(s.handleReferralStats))
	mux.Handle("GET /admin/v1/referral/{id}/leaderboard", s.adminOnly(s.handleLeaderboard))
	mux.Handle("/mp/v1/", s.mpOnly(s.handleMPNotFound))
	// The dashboard (dashboard.go): pages behind the session cookie, and the
	// JSON they draw (dashboard_api.go).
	mux.HandleFunc("GET /admin/login", s.handleLoginForm)
	mux.HandleFunc("POST /admin/login", s.handleLogin)
	mux.HandleFunc("POST /admin/logout", s.handleLogout)
	for _, page := range []string{"/admin/{$}", "/admin/campaigns", "/admin/campaigns/{id}", "/admin/stores", "/admin/referral", "/admin/sends"} {
		mux.Handle("GET "+page, s.pageOnly(s.handleDashboard))
	}
	mux.Handle("GET /admin/static/", s.adminOnly(s.handleDashboardStatic().ServeHTTP))
	mux.Handle("GET /admin/v1/dashboard/overview", s.adminOnly(s.handleDashOverview))
	mux.Handle("GET /admin/v1/dashboard/campaigns", s.adminOnly(s.handleDashCampaigns))
	mux.Handle("GET /admin/v1/campaigns/{id}/funnel", s.adminOnly(s.handleDashFunnel))
	mux.Handle("GET /admin/v1/dashboard/stores", s.adminOnly(s.handleDashStores))
	mux.Handle("GET /admin/v1/dashboard/referral", s.adminOnly(s.handleDashReferral))
	mux.Handle("GET /admin/v1/dashboard/sends", s.adminOnly(s.handleDashSends))
	return mux
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// handleReadyz answers 200 when every dependency answers within 2 s, 503
// naming the ones that do not.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	status := map[string]string{}
	code := http.StatusOK
	for name, c := range s.ready {
		if err := c.Ping(ctx); err != nil {
			status[name] = err.Error()
			code = http.StatusServiceUnavailable
			continue
		}
		status[name] = "ok"
	}
	writeJSON(w, code, status)
}

// statusOf is the one place an error kind becomes an HTTP status.
func statusOf(err error) int {
	switch errs.KindOf(err) {
	case errs.Invalid:
		return http.StatusBadRequest
	case errs.Unauthorized:
		return http.StatusUnauthorized
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Conflict, errs.WindowClosed: // WindowClosed: the follower's state refuses it
		return http.StatusConflict
	case errs.TooLarge:
		return http.StatusRequestEntityTooLarge
	case errs.Expired, errs.Gone:
		return http.StatusGone
	case errs.Unavailable, errs.QuotaSpent: // QuotaSpent: a daily quota, nothing the caller did
		return http.StatusServiceUnavailable
	case errs.Throttled:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}
