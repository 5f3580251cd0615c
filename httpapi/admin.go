package httpapi

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"omo/campaigns"
	"omo/coupons"
	"omo/errs"
)

// bearer returns the token of an `Authorization: Bearer <token>` header;
// the scheme is case-insensitive (RFC 7235).
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	return tok, ok && strings.EqualFold(scheme, "Bearer")
}

// adminOnly lets a request through when it carries the admin bearer token;
// anything else is 401 (also when no admin token is configured).
func (s *Server) adminOnly(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok || s.admin == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.admin)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="omo admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "admin token required"})
			return
		}
		h(w, r)
	})
}

type campaignView struct {
	ID     string     `json:"id"`
	Title  string     `json:"title"`
	Event  string     `json:"event"`
	Active bool       `json:"active"`
	Start  *time.Time `json:"start,omitempty"`
	End    *time.Time `json:"end,omitempty"`
	Source string     `json:"source"` // file:line
}

// handleCampaigns lists the running campaigns.
func (s *Server) handleCampaigns(w http.ResponseWriter, r *http.Request) {
	set := s.engine.Campaigns()
	out := []campaignView{}
	if set != nil {
		now := s.now()
		for _, c := range set.Campaigns {
			out = append(out, viewOf(c, now))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"campaigns": out})
}

func viewOf(c *campaigns.Campaign, now time.Time) campaignView {
	v := campaignView{ID: c.ID, Title: c.Title, Event: c.On.Event, Active: c.Active(now),
		Source: c.Pos.File + ":" + strconv.Itoa(c.Pos.Line)}
	if !c.Start.IsZero() {
		v.Start = &c.Start
	}
	if !c.End.IsZero() {
		v.End = &c.End
	}
	return v
}

// handleCampaignStats answers the counts of one campaign.
func (s *Server) handleCampaignStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.engine.CampaignStats(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

type redeemRequest struct {
	Code    string `json:"code"`
	StoreID string `json:"store_id"`
}

// handleRedeem redeems a coupon at a store's till: 200 once, then 409; 404
// for an unknown code, 410 for an expired or revoked one.
func (s *Server) handleRedeem(w http.ResponseWriter, r *http.Request) {
	var req redeemRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, errs.E(errs.Invalid, "redeem", "body must be JSON {code, store_id}"))
		return
	}
	req.Code = strings.ToUpper(strings.TrimSpace(req.Code))
	if req.Code == "" || strings.TrimSpace(req.StoreID) == "" {
		writeError(w, errs.E(errs.Invalid, "redeem", "code and store_id are required"))
		return
	}
	c, err := s.engine.Redeem(r.Context(), req.Code, req.StoreID)
	if err != nil {
		s.log.Info("redeem refused", "code", coupons.Mask(req.Code), "store_id", req.StoreID, "reason", errs.KindOf(err).String())
		writeError(w, err)
		return
	}
	s.log.Info("coupon redeemed", "code", coupons.Mask(c.Code), "store_id", req.StoreID, "pool", c.Pool)
	writeJSON(w, http.StatusOK, map[string]any{
		"code": c.Code, "pool": c.Pool, "title": c.Title, "state": c.State, "store_id": c.StoreID, "redeemed_at": c.RedeemedAt,
	})
}
