package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/omohq/omo/campaigns"
)

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
	writeResult(w, st, err)
}

// handleCampaignAudience previews a schedule campaign: its next three
// slots, the audience size now and five example openids.
func (s *Server) handleCampaignAudience(w http.ResponseWriter, r *http.Request) {
	p, err := s.engine.PreviewAudience(r.Context(), r.PathValue("id"), 3, 5)
	writeResult(w, p, err)
}

// handleCampaignFirings lists a schedule campaign's slots with their counts.
func (s *Server) handleCampaignFirings(w http.ResponseWriter, r *http.Request) {
	f, err := s.engine.Firings(r.Context(), r.PathValue("id"), 100)
	if err == nil {
		writeJSON(w, http.StatusOK, map[string]any{"firings": f})
		return
	}
	writeResult(w, f, err)
}

// handleCampaignControl pauses, resumes or cancels a campaign.
func (s *Server) handleCampaignControl(verb string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		state, err := s.engine.ControlCampaign(r.Context(), r.PathValue("id"), verb)
		if err == nil && state == "" {
			state = "running"
		}
		writeResult(w, map[string]string{"campaign": r.PathValue("id"), "state": state}, err)
	}
}
