package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/mpsession"
)

// QRCodes makes the codes a referral is shared with: a temporary OA QR
// code (qrcode/create) and a mini-program code image (getwxacodeunlimit).
type QRCodes interface {
	CreateQRCode(ctx context.Context, scene string, expire time.Duration) (ticket, qrURL string, expiresIn time.Duration, err error)
	WxaCode(ctx context.Context, scene, page string) ([]byte, error)
}

// referralQRLife is how long a referral's OA QR code lives: WeChat's
// maximum for temporary codes. A cached one is renewed a day before it ends.
const referralQRLife = 30 * 24 * time.Hour

type referralView struct {
	Code      string    `json:"code"`
	SharePath string    `json:"share_path"` // for onShareAppMessage
	CodeImage string    `json:"code_image"` // the mini-program code, served by omo (Bearer)
	QRTicket  string    `json:"qr_ticket"`  // the OA QR code (scene ref:<code>)
	QRURL     string    `json:"qr_url"`     // what the OA QR code encodes
	QRImage   string    `json:"qr_image"`   // WeChat's image of the OA QR code
	QRExpires time.Time `json:"qr_expires_at"`
}

// handleMPReferral answers the person's referral code, creating it on first
// use, with its OA QR code (cached until a day before it expires), share
// path and mini-program code image.
func (s *Server) handleMPReferral(w http.ResponseWriter, r *http.Request, sess mpsession.Session) {
	ctx := r.Context()
	rc, err := s.engine.ReferralCodeFor(ctx, sess.OpenID, sess.UnionID)
	if err != nil {
		writeError(w, err)
		return
	}
	now := s.now()
	if rc.QRExpiresAt == nil || rc.QRExpiresAt.Before(now.Add(24*time.Hour)) {
		if s.qr == nil {
			writeError(w, errs.E(errs.Unavailable, "mp.referral", "QR codes are not configured"))
			return
		}
		ticket, qrURL, life, err := s.qr.CreateQRCode(ctx, "ref:"+rc.Code, referralQRLife)
		if err != nil {
			s.log.Warn("referral QR code not created", "code", rc.Code, "err", err)
			writeError(w, errs.Wrap(errs.Unavailable, "mp.referral", err))
			return
		}
		exp := now.Add(life).UTC().Truncate(time.Second) // as stored and answered from the cache
		if err := s.engine.SetReferralQR(ctx, rc.Code, ticket, qrURL, exp); err != nil {
			writeError(w, err)
			return
		}
		rc.QRTicket, rc.QRURL, rc.QRExpiresAt = ticket, qrURL, &exp
	}
	writeJSON(w, http.StatusOK, referralView{
		Code:      rc.Code,
		SharePath: s.sharePage + "?ref=" + url.QueryEscape(rc.Code),
		CodeImage: "/mp/v1/referral/code.jpg",
		QRTicket:  rc.QRTicket,
		QRURL:     rc.QRURL,
		QRImage:   "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=" + url.QueryEscape(rc.QRTicket),
		QRExpires: *rc.QRExpiresAt,
	})
}

// handleMPReferralImage serves the person's mini-program code: scanning it
// opens the share page with scene ref:<code>.
func (s *Server) handleMPReferralImage(w http.ResponseWriter, r *http.Request, sess mpsession.Session) {
	rc, err := s.engine.ReferralCodeFor(r.Context(), sess.OpenID, sess.UnionID)
	if err != nil {
		writeError(w, err)
		return
	}
	if s.qr == nil {
		writeError(w, errs.E(errs.Unavailable, "mp.referral", "mini-program codes are not configured"))
		return
	}
	img, err := s.qr.WxaCode(r.Context(), "ref:"+rc.Code, s.sharePage)
	if err != nil {
		s.log.Warn("mini-program code not made", "code", rc.Code, "err", err)
		writeError(w, errs.Wrap(errs.Unavailable, "mp.referral", err))
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=86400")
	w.Write(img)
}

// handleMPReferralAccept attributes the caller, a mini-program newcomer who
// arrived through a shared link, to the code's owner. A refusal is 200
// with attributed false and the reason (it is recorded too).
func (s *Server) handleMPReferralAccept(w http.ResponseWriter, r *http.Request, sess mpsession.Session) {
	var body struct {
		Code string `json:"code"`
	}
	if err := decodeMP(w, r, &body, "mp.referral.accept", "{code}"); err != nil {
		writeError(w, err)
		return
	}
	code := strings.ToUpper(strings.TrimSpace(body.Code))
	if code == "" || len(code) > 32 {
		writeError(w, errs.E(errs.Invalid, "mp.referral.accept", "code is required (at most 32 characters)"))
		return
	}
	res, err := s.engine.Accept(r.Context(), sess.OpenID, sess.UnionID, code)
	writeResult(w, res, err)
}

// handleReferralStats answers a program's counts: invites, held,
// qualified, cancelled, rejected by reason, rewards issued.
func (s *Server) handleReferralStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.engine.ReferralStats(r.Context(), r.PathValue("id"))
	writeResult(w, st, err)
}

// handleLeaderboard answers the top referrers of a program (?limit=, default 20, at most 100).
func (s *Server) handleLeaderboard(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, errs.E(errs.Invalid, "admin.leaderboard", "limit must be 1-100"))
			return
		}
		limit = n
	}
	rows, err := s.engine.Leaderboard(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"program": r.PathValue("id"), "leaders": rows})
}
