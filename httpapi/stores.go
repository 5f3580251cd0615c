package httpapi

import "net/http"

// handleStores lists the store catalogue with each store's QR code.
func (s *Server) handleStores(w http.ResponseWriter, r *http.Request) {
	list, err := s.engine.Stores(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stores": list})
}
