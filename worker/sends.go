package worker

import (
	"context"
	"encoding/json"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// maxInlineWait is the longest a handler sleeps for a rate-limit window
// itself; longer waits go back to the queue.
const maxInlineWait = 2 * time.Second

// send delivers one message (send:template, send:subscribe, send:custom).
// A message that is no longer pending is left alone. The message id is the
// template send's client_msg_id, WeChat's own guard against a repeat.
func (s *Server) send(ctx context.Context, it *outbox.Item) (func(*sqldb.Tx) error, error) {
	row, err := s.db.Message(ctx, it.ID)
	if err != nil {
		return nil, err
	}
	if row.State != outbox.MsgPending {
		return nil, nil
	}
	var m outbox.Message
	if err := json.Unmarshal(row.Payload, &m); err != nil {
		return nil, errs.Wrap(errs.Invalid, "worker.send", err)
	}
	if err := s.admit(ctx, it.Kind, &m); err != nil {
		return nil, err
	}
	msgid, sentKind, err := s.deliver(ctx, it.Kind, &m, row.ID)
	if err != nil {
		if errs.Is(err, errs.QuotaSpent) {
			return nil, s.pauseKind(ctx, sentKind)
		}
		return nil, err
	}
	now := s.now()
	return func(tx *sqldb.Tx) error { return tx.MarkSent(row.ID, msgid, sentKind, row.Warnings, now) }, nil
}

// pauseKind pauses sends of kind until WeChat's daily quota resets and
// returns the wait that puts the task back until then.
func (s *Server) pauseKind(ctx context.Context, kind outbox.Kind) error {
	until := QuotaReset(s.now())
	if err := s.lim.pause(ctx, string(kind), until, s.now()); err != nil {
		return err
	}
	s.log.Warn("WeChat daily quota spent: sends of this kind are paused until it resets", "kind", kind, "until", until)
	return &waitError{wait: until.Sub(s.now()), reason: "daily quota spent"}
}

// admit waits for the pauses and rate limits that apply to m.
func (s *Server) admit(ctx context.Context, kind outbox.Kind, m *outbox.Message) error {
	if d, err := s.lim.paused(ctx, string(kind)); err != nil {
		return err
	} else if d > 0 {
		return &waitError{wait: d, reason: string(kind) + " sends are paused (daily quota)"}
	}
	limits := []struct {
		key string
		n   int
		per time.Duration
	}{
		{"send", s.opts.SendRate, time.Second},
		{"campaign:" + m.Campaign, m.RateN, time.Duration(m.RatePerMS) * time.Millisecond},
	}
	for _, l := range limits {
		for {
			wait, err := s.lim.take(ctx, l.key, l.n, l.per, s.now())
			if err != nil || wait == 0 {
				break // a broken limiter must not stop sends
			}
			if wait > maxInlineWait {
				return &waitError{wait: wait, reason: "rate limit " + l.key}
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	return nil
}

// deliver calls WeChat and returns the template msgid (0 for other kinds)
// and the kind actually sent: a customer-service message refused because
// the follower's window is closed goes out as its fallback template.
func (s *Server) deliver(ctx context.Context, kind outbox.Kind, m *outbox.Message, id string) (int64, outbox.Kind, error) {
	switch kind {
	case outbox.SendTemplate:
		msgid, err := s.sender.SendTemplate(ctx, m, id)
		s.observeSend(kind, err)
		return msgid, kind, err
	case outbox.SendSubscribe:
		err := s.sender.SendSubscribe(ctx, m)
		s.observeSend(kind, err)
		return 0, kind, err
	case outbox.SendCustom:
		err := s.sender.SendCustom(ctx, m)
		s.observeSend(kind, err)
		if errs.Is(err, errs.WindowClosed) {
			if m.Fallback == nil {
				return 0, kind, &errs.Error{Kind: errs.Gone, Msg: "customer-service window closed and no fallback", Err: err}
			}
			s.log.Info("customer-service window closed; sending the fallback template", "message", id, "errcode", errcode(err))
			msgid, err := s.sender.SendTemplate(ctx, m.Fallback, id)
			s.observeSend(outbox.SendTemplate, err)
			return msgid, outbox.SendTemplate, err
		}
		return 0, kind, err
	}
	return 0, kind, errs.E(errs.Invalid, "worker.deliver", "unknown send kind %s", kind)
}
