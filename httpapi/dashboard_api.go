package httpapi

import (
	"net/http"
	"strconv"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/errs"
)

// The JSON the dashboard draws: every figure on its pages comes from one of
// these (GET, admin bearer token or the dashboard's session cookie).

// days reads ?days= (default engine.DefaultDashboardDays).
func days(r *http.Request, op string) (int, error) {
	v := r.URL.Query().Get("days")
	if v == "" {
		return engine.DefaultDashboardDays, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > engine.MaxDashboardDays {
		return 0, errs.E(errs.Invalid, op, "days must be a number 1-%d", engine.MaxDashboardDays)
	}
	return n, nil
}

// handleDashOverview answers the followers now, follows, unfollows and net
// growth per Asia/Shanghai day by source, and yesterday compared.
func (s *Server) handleDashOverview(w http.ResponseWriter, r *http.Request) {
	n, err := days(r, "admin.dashboard.overview")
	if err != nil {
		writeError(w, err)
		return
	}
	o, err := s.engine.DashboardOverview(r.Context(), n)
	writeResult(w, o, err)
}

// handleDashCampaigns answers every running campaign's funnel with rates.
func (s *Server) handleDashCampaigns(w http.ResponseWriter, r *http.Request) {
	list, err := s.engine.DashboardCampaigns(r.Context())
	writeResult(w, map[string]any{"campaigns": list}, err)
}

// handleDashFunnel answers one campaign's funnel and its firings per day.
func (s *Server) handleDashFunnel(w http.ResponseWriter, r *http.Request) {
	n, err := days(r, "admin.campaign.funnel")
	if err != nil {
		writeError(w, err)
		return
	}
	f, err := s.engine.DashboardFunnel(r.Context(), r.PathValue("id"), n)
	writeResult(w, f, err)
}

// handleDashStores answers every store's follows, scans and coupons, ranked.
func (s *Server) handleDashStores(w http.ResponseWriter, r *http.Request) {
	list, err := s.engine.DashboardStores(r.Context())
	writeResult(w, map[string]any{"stores": list}, err)
}

// handleDashReferral answers each referral program's counts and leaderboard.
func (s *Server) handleDashReferral(w http.ResponseWriter, r *http.Request) {
	list, err := s.engine.DashboardReferral(r.Context())
	writeResult(w, map[string]any{"programs": list}, err)
}

// handleDashSends answers the messages by kind, outcome and errcode and the
// outbox backlog.
func (s *Server) handleDashSends(w http.ResponseWriter, r *http.Request) {
	st, err := s.engine.DashboardSends(r.Context())
	writeResult(w, st, err)
}
