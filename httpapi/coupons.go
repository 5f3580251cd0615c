package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/mpsession"
)

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

type mpCouponView struct {
	Code       string     `json:"code"`
	Title      string     `json:"title"`
	Pool       string     `json:"pool"`
	State      string     `json:"state"` // issued | redeemed | expired | revoked, as of now
	IssuedAt   time.Time  `json:"issued_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RedeemedAt *time.Time `json:"redeemed_at"` // null until redeemed
}

// handleMPCoupons lists the caller's coupons, newest first: their own and
// those of the OA follower with the same unionid.
func (s *Server) handleMPCoupons(w http.ResponseWriter, r *http.Request, sess mpsession.Session) {
	cps, err := s.engine.MyCoupons(r.Context(), sess.OpenID)
	if err != nil {
		s.logRefusal("mp.coupons", err)
		writeError(w, err)
		return
	}
	out := make([]mpCouponView, 0, len(cps))
	for _, c := range cps {
		out = append(out, mpCouponView{Code: c.Code, Title: c.Title, Pool: c.Pool, State: string(c.State),
			IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt, RedeemedAt: c.RedeemedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"coupons": out})
}
