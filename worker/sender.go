package worker

import (
	"context"

	"github.com/omohq/omo/outbox"
)

// Sender delivers messages and tags to WeChat. Its errors should carry an
// errs kind, which decides what the worker does (see task.go): Gone and
// Invalid stop, Throttled retries slower, QuotaSpent pauses this kind of
// send until the quota resets, WindowClosed (from SendCustom) sends the
// message's fallback template, anything else is retried. An error whose
// chain holds an Errcode() int method (wechat.APIError) has that code
// recorded with a failed message.
type Sender interface {
	SendTemplate(ctx context.Context, m *outbox.Message, clientMsgID string) (msgid int64, err error)
	SendSubscribe(ctx context.Context, m *outbox.Message) error
	SendCustom(ctx context.Context, m *outbox.Message) error
	Tag(ctx context.Context, openid, tag string, on bool) error
}
