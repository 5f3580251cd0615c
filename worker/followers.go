package worker

import (
	"context"
	"encoding/json"

	"omo/errs"
	"omo/outbox"
	"omo/store"
)

// userInfo fetches a follower's unionid and stores it. A follower without a
// unionid (the OA is not bound to an Open Platform account) is done too.
func (s *Server) userInfo(ctx context.Context, it *outbox.Item) error {
	var p outbox.UserInfoPayload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return errs.Wrap(errs.Invalid, "worker.userInfo", err)
	}
	unionid, err := s.dir.UnionID(ctx, p.OpenID)
	if err != nil {
		return err
	}
	if unionid == "" {
		return nil
	}
	return s.db.Write(ctx, func(tx *store.Tx) error {
		return tx.SetUnionID(p.OpenID, unionid)
	})
}
