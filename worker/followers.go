package worker

import (
	"context"
	"encoding/json"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// userInfo fetches a follower's unionid and stores it. A follower without a
// unionid (the OA is not bound to an Open Platform account) is done too.
func (s *Server) userInfo(ctx context.Context, it *outbox.Item) (func(*sqldb.Tx) error, error) {
	var p outbox.UserInfoPayload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return nil, errs.Wrap(errs.Invalid, "worker.userInfo", err)
	}
	unionid, err := s.dir.UnionID(ctx, p.OpenID)
	if err != nil || unionid == "" {
		return nil, err
	}
	return func(tx *sqldb.Tx) error { return tx.SetUnionID(p.OpenID, unionid) }, nil
}

// tag tags or untags a follower at WeChat.
func (s *Server) tag(ctx context.Context, it *outbox.Item) (func(*sqldb.Tx) error, error) {
	var p outbox.TagPayload
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		return nil, errs.Wrap(errs.Invalid, "worker.tag", err)
	}
	return nil, s.sender.Tag(ctx, p.OpenID, p.Tag, p.On)
}
