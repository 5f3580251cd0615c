package main

import (
	"context"

	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/worker"
)

// SendMass makes sender a worker.MassSender: one message/mass/send call,
// WeChat's errors mapped to the worker's classes like every other send.
func (s *sender) SendMass(ctx context.Context, m worker.MassRequest) (msgID, msgDataID int64, err error) {
	msgID, msgDataID, err = s.wx.SendMass(ctx, wechat.MassMessage{
		ToUsers: m.ToUsers, Text: m.Text, MediaID: m.MediaID, IgnoreReprint: m.IgnoreReprint, ClientMsgID: m.ClientMsgID,
	})
	return msgID, msgDataID, sendError(err)
}

// The fan-out's mass chunks go through the same adapter as single sends.
var _ worker.MassSender = (*sender)(nil)
