package httpapi

import (
	"net/http"
)

// handleStores lists the store catalogue with each store's QR code.
func (s *Server) handleStores(w http.ResponseWriter, r *http.Request) {
	list, err := s.engine.Stores(r.Context())
	writeResult(w, map[string]any{"stores": list}, err)
}

// handleStoreStats answers a store's counts: scans, follows, new followers,
// coupons issued through it and redeemed at it.
func (s *Server) handleStoreStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.engine.StoreStats(r.Context(), r.PathValue("id"))
	writeResult(w, st, err)
}
