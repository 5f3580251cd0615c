package engine

import (
	"context"
	"strings"

	"github.com/omohq/omo/stores"
)

// StoreView is a catalogue store with its permanent OA QR code, if
// `omo qrcode --scene store:<id>` made one.
type StoreView struct {
	stores.Store
	QRTicket string `json:"qr_ticket,omitempty"`
	QRURL    string `json:"qr_url,omitempty"`
}

// Stores lists the catalogue with each store's QR code.
func (e *Engine) Stores(ctx context.Context) ([]StoreView, error) {
	list, err := e.db.Stores(ctx)
	if err != nil {
		return nil, err
	}
	codes, err := e.db.QRCodes(ctx, "store:")
	if err != nil {
		return nil, err
	}
	byStore := map[string]int{}
	for i, c := range codes {
		byStore[strings.TrimPrefix(c.Scene, "store:")] = i
	}
	out := make([]StoreView, len(list))
	for i, s := range list {
		out[i] = StoreView{Store: s}
		if j, ok := byStore[s.ID]; ok {
			out[i].QRTicket, out[i].QRURL = codes[j].Ticket, codes[j].URL
		}
	}
	return out, nil
}
