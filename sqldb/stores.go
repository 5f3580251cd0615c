package sqldb

import (
	"context"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/stores"
)

// storeRow is a catalogue row.
type storeRow struct {
	ID      string  `db:"id"`
	Name    string  `db:"name"`
	Lat     float64 `db:"lat"`
	Lng     float64 `db:"lng"`
	City    string  `db:"city"`
	Address string  `db:"address"`
	Page    string  `db:"page"`
}

// ImportStores inserts or updates every store in one transaction: a
// catalogue is imported whole or not at all. progress, when not nil, is
// called after every 1000 stores. It returns how many were new.
func (db *DB) ImportStores(ctx context.Context, list []stores.Store, now time.Time, progress func(done int)) (added int, err error) {
	err = db.Write(ctx, func(tx *Tx) error {
		added = 0
		for i, s := range list {
			var n int
			if err := tx.x.Get(&n, tx.db.rebind(`SELECT COUNT(*) FROM stores WHERE id = ?`), s.ID); err != nil {
				return err
			}
			if n == 0 {
				added++
			}
			_, err := tx.x.Exec(tx.db.rebind(`
INSERT INTO stores (id, name, lat, lng, city, address, page, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, lat = excluded.lat, lng = excluded.lng,
  city = excluded.city, address = excluded.address, page = excluded.page, updated_at = excluded.updated_at`),
				s.ID, s.Name, s.Lat, s.Lng, s.City, s.Address, s.Page, ts(now))
			if err != nil {
				return err
			}
			if progress != nil && (i+1)%1000 == 0 {
				progress(i + 1)
			}
		}
		return nil
	})
	return added, errs.Wrap(errs.Other, "sqldb.ImportStores", err)
}

// Stores returns the whole catalogue, by id.
func (db *DB) Stores(ctx context.Context) ([]stores.Store, error) {
	var rows []storeRow
	if err := db.x.SelectContext(ctx, &rows, `SELECT id, name, lat, lng, city, address, page FROM stores ORDER BY id`); err != nil {
		return nil, errs.Wrap(errs.Other, "sqldb.Stores", err)
	}
	out := make([]stores.Store, len(rows))
	for i, r := range rows {
		out[i] = stores.Store{ID: r.ID, Name: r.Name, Lat: r.Lat, Lng: r.Lng, City: r.City, Address: r.Address, Page: r.Page}
	}
	return out, nil
}

// AddStoreVisit records a follow or scan (kind) through store's QR code.
func (tx *Tx) AddStoreVisit(storeID, openid, kind string, newFollower bool, at time.Time) error {
	if b := tx.buf; b != nil {
		b.visits = append(b.visits, visitRow{storeID, openid, kind, newFollower, at})
		return nil
	}
	_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO store_visits (store_id, openid, kind, new_follower, at) VALUES (?, ?, ?, ?, ?)`),
		storeID, openid, kind, newFollower, ts(at))
	return errs.Wrap(errs.Other, "sqldb.AddStoreVisit", err)
}

// StoreStats counts what happened at store id: scans of its QR code by
// followers, follows through it (and how many were new followers), coupons
// issued through it and coupons redeemed at it.
func (db *DB) StoreStats(ctx context.Context, id string) (stores.Stats, error) {
	var st stores.Stats
	err := db.x.GetContext(ctx, &st, db.rebind(`
SELECT
  (SELECT COUNT(*) FROM store_visits WHERE store_id = ? AND kind = 'scan') AS scans,
  (SELECT COUNT(*) FROM store_visits WHERE store_id = ? AND kind = 'follow') AS follows,
  (SELECT COUNT(*) FROM store_visits WHERE store_id = ? AND kind = 'follow' AND new_follower) AS new_followers,
  (SELECT COUNT(*) FROM coupons WHERE issued_store = ?) AS coupons_issued,
  (SELECT COUNT(*) FROM coupons WHERE store_id = ? AND state = 'redeemed') AS coupons_redeemed`), id, id, id, id, id)
	return st, errs.Wrap(errs.Other, "sqldb.StoreStats", err)
}

// StoreExists reports whether the catalogue has store id.
func (db *DB) StoreExists(ctx context.Context, id string) (bool, error) {
	var n int
	err := db.x.GetContext(ctx, &n, db.rebind(`SELECT COUNT(*) FROM stores WHERE id = ?`), id)
	return n > 0, errs.Wrap(errs.Other, "sqldb.StoreExists", err)
}
