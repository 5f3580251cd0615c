package worker

import (
	"context"
	"encoding/json"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// qualify decides a held referral after its hold.
func (s *Server) qualify(ctx context.Context, it *outbox.Item) (func(*sqldb.Tx) error, error) {
	var p outbox.QualifyReferral
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return nil, errs.Wrap(errs.Invalid, "worker.qualify", err)
	}
	if s.opts.Referrals == nil {
		return nil, errs.E(errs.Invalid, "worker.qualify", "no referral program runner configured")
	}
	return nil, s.opts.Referrals.Qualify(ctx, p.ReferralID)
}
