package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
)

type busyOnce struct {
	Sender
	calls atomic.Int32
}

type code struct{ c int }

func (c code) Error() string { return "errcode -1: system busy" }
func (c code) Errcode() int  { return c.c }

func (s *busyOnce) SendSubscribe(ctx context.Context, m *outbox.Message) error {
	if s.calls.Add(1) == 1 {
		// WeChat answered: system busy. Nothing was sent; DESIGN §6: retry.
		return &errs.Error{Kind: errs.Unavailable, Msg: "system busy", Err: code{-1}}
	}
	return nil
}

func TestBusyAnswerRetriesRecipient(t *testing.T) {
	var bs *busyOnce
	e := newEnv(t, envOptions{wrap: func(s Sender) Sender { bs = &busyOnce{Sender: s}; return bs }})
	e.srv.opts.Fanout = noFanout{}
	now := time.Now()
	slot, it := preparedBatch(t, e, now)
	_, err := e.srv.batch(t.Context(), &it)
	t.Logf("first run: %v", err)
	_, err = e.srv.batch(t.Context(), &it) // the retry
	t.Logf("retry: %v", err)
	st, _ := e.db.SlotStats(t.Context(), slot.ID)
	if st.Sent != 1 {
		rows, _ := e.db.BatchRecipients(t.Context(), slot.ID, 0)
		m := e.message(t, "m1")
		t.Errorf("after a 'system busy' answer and a retry: ledger %+v rows %+v, message %s (%s); WeChat called %d times; want sent", st, rows, m.State, m.Reason, bs.calls.Load())
	}
}
