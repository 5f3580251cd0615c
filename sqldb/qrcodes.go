package sqldb

import (
	"context"
	"time"

	"github.com/omohq/omo/errs"
)

// QRCode is a permanent OA QR code and the scene it carries.
type QRCode struct {
	Scene     string    `db:"scene" json:"scene"`
	Ticket    string    `db:"ticket" json:"ticket"`
	URL       string    `db:"url" json:"url"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
}

// QRCode returns the permanent code made for scene, or NotFound.
func (db *DB) QRCode(ctx context.Context, scene string) (*QRCode, error) {
	return getOne[QRCode](ctx, db.x, "sqldb.QRCode", "QR code for "+scene,
		`SELECT scene, ticket, url, created_at FROM qr_codes WHERE scene = ?`, scene)
}

// QRCodes lists the permanent codes whose scene starts with prefix, by scene.
func (db *DB) QRCodes(ctx context.Context, prefix string) ([]QRCode, error) {
	var out []QRCode
	err := db.x.SelectContext(ctx, &out, db.rebind(`SELECT scene, ticket, url, created_at FROM qr_codes WHERE scene LIKE ? ORDER BY scene`), prefix+"%")
	return out, errs.Wrap(errs.Other, "sqldb.QRCodes", err)
}

// SaveQRCode records the permanent code of a scene; a scene recorded
// before keeps its first code.
func (tx *Tx) SaveQRCode(q QRCode) error {
	_, err := tx.x.Exec(tx.db.rebind(`INSERT INTO qr_codes (scene, ticket, url, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (scene) DO NOTHING`),
		q.Scene, q.Ticket, q.URL, ts(q.CreatedAt))
	return errs.Wrap(errs.Other, "sqldb.SaveQRCode", err)
}
