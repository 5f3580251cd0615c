package httpapi

import (
	"net/http"
)

// handleStores lists the store catalogue with each store's QR code.
func (s *Server) handleStores(w http.ResponseWriter, r *http.Request) {
	list, err := s.engine.Stores(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"stores": list})
}

// handleStoreStats answers a store's counts: scans, follows, new followers,
// coupons issued through it and redeemed at it.
func (s *Server) handleStoreStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.engine.StoreStats(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
