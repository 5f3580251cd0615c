package httpapi

import (
	"net/http"
	"strings"

	"github.com/omohq/omo/mpsession"
)

type trackRequest struct {
	Campaign string `json:"omo_c"`
	Message  string `json:"omo_m"`
	Page     string `json:"page"`
}

// handleMPTrack counts an open of a deep link (omo_c, omo_m from the page
// query) once per message: {"counted": true} the first time, false after;
// 404 for a message omo never sent in that campaign.
func (s *Server) handleMPTrack(w http.ResponseWriter, r *http.Request, sess mpsession.Session) {
	const op = "mp.track"
	var req trackRequest
	if err := decodeMP(w, r, &req, op, "{omo_c, omo_m, page}"); err != nil {
		writeError(w, err)
		return
	}
	campaign, message := strings.TrimSpace(req.Campaign), strings.TrimSpace(req.Message)
	counted, err := s.engine.Track(r.Context(), campaign, message, req.Page)
	if err != nil {
		s.logRefusal(op, err)
		writeError(w, err)
		return
	}
	if counted {
		s.log.Info("deep link opened", "campaign", campaign, "message", message, "page", req.Page, "openid", sess.OpenID)
	}
	writeJSON(w, http.StatusOK, map[string]bool{"counted": counted})
}
