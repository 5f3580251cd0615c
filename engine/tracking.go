package engine

import (
	"context"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/sqldb"
)

// Track counts an open of message (of campaign) through its deep link
// (omo_m and omo_c in the page query), once per message: counted is true
// for the first open and false for every later one. A message omo never
// sent, or one that belongs to another campaign, is NotFound. page is the
// mini-program page that was opened; it is not stored.
func (e *Engine) Track(ctx context.Context, campaign, message, page string) (counted bool, err error) {
	const op = "engine.Track"
	if campaign == "" || message == "" {
		return false, errs.E(errs.Invalid, op, "omo_c and omo_m are required")
	}
	now := e.now()
	err = e.db.Write(ctx, func(tx *sqldb.Tx) error {
		var err error
		counted, err = tx.MarkOpened(message, campaign, now)
		return err
	})
	if err != nil || counted {
		return counted, err
	}
	// Not counted: opened before, or no such message. Messages are never
	// deleted, so reading after the write tells which.
	m, err := e.db.Message(ctx, message)
	if errs.Is(err, errs.NotFound) || (err == nil && m.CampaignID != campaign) {
		return false, errs.E(errs.NotFound, op, "no message %q in campaign %q", message, campaign)
	}
	return false, err
}
