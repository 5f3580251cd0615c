package httpapi

import "net/http"

// handleCampaignVariants answers a split campaign's variants: each one's
// counts and rate under the split's metric, the z-test as it stands now,
// and the winner once one is recorded. A campaign without split: is 404.
func (s *Server) handleCampaignVariants(w http.ResponseWriter, r *http.Request) {
	rep, err := s.engine.Variants(r.Context(), r.PathValue("id"))
	writeResult(w, rep, err)
}
