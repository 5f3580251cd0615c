package engine

import (
	"context"

	"omo/campaigns"
	"omo/events"
	"omo/store"
	"omo/stores"
)

// LoadStores builds the in-memory store index from the catalogue, if the
// catalogue changed since the last load (or was never loaded). A running
// omo calls it at start-up and every few seconds, so an import by
// `omo stores import` reaches it without a restart.
func (e *Engine) LoadStores(ctx context.Context) error {
	sig, err := e.db.StoresSignature(ctx)
	if err != nil {
		return err
	}
	if cur := e.idx.Load(); cur != nil && e.storesSig.Load() == sig {
		return nil
	}
	list, err := e.db.Stores(ctx)
	if err != nil {
		return err
	}
	e.idx.Store(stores.NewIndex(list))
	e.storesSig.Store(sig)
	e.log.Info("store index built", "stores", len(list))
	return nil
}

// nearby is the stores a location campaign promotes for ev: the nearest
// within its radius, at most its nearest count.
func (e *Engine) nearby(ev *events.Event, c *campaigns.Campaign) []stores.Hit {
	idx := e.idx.Load()
	if idx == nil {
		return nil
	}
	return idx.Nearest(ev.Lat, ev.Lng, c.On.WithinKM, c.On.Nearest)
}

// saveLocation keeps the follower's last known location.
func saveLocation(tx *store.Tx, ev *events.Event) error {
	if ev.Type != events.Location && ev.Type != events.LocationMsg {
		return nil
	}
	return tx.SaveLocation(ev.OpenID, ev.Lat, ev.Lng, ev.Precision, ev.CreatedAt)
}
