package engine

import (
	"context"
	"strings"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/stores"
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

// storeVisit records a follow or scan through a store:<id> QR code.
func storeVisit(tx *sqldb.Tx, ev *events.Event, newFollower bool) error {
	id, ok := strings.CutPrefix(ev.Scene(), "store:")
	if !ok || id == "" {
		return nil
	}
	kind := "scan"
	if ev.Type == events.Subscribe {
		kind = "follow"
	}
	return tx.AddStoreVisit(id, ev.OpenID, kind, newFollower, ev.CreatedAt)
}

// StoreStats counts what happened at store id; NotFound for a store that is
// not in the catalogue and has no record.
func (e *Engine) StoreStats(ctx context.Context, id string) (stores.Stats, error) {
	st, err := e.db.StoreStats(ctx, id)
	if err != nil {
		return st, err
	}
	known, err := e.db.StoreExists(ctx, id)
	if err != nil {
		return st, err
	}
	if !known && st == (stores.Stats{}) {
		return st, errs.E(errs.NotFound, "engine.StoreStats", "no store %q", id)
	}
	return st, nil
}

// saveLocation keeps the follower's last known location.
func saveLocation(tx *sqldb.Tx, ev *events.Event) error {
	if ev.Type != events.Location && ev.Type != events.LocationMsg {
		return nil
	}
	return tx.SaveLocation(ev.OpenID, ev.Lat, ev.Lng, ev.Precision, ev.CreatedAt)
}
