package worker

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
)

type countingSender struct {
	Sender
	calls atomic.Int32
}

func (s *countingSender) SendSubscribe(ctx context.Context, m *outbox.Message) error {
	s.calls.Add(1)
	time.Sleep(100 * time.Millisecond) // WeChat takes its time
	return nil
}

type noFanout struct{}

func (noFanout) PrepareRecipient(context.Context, int64, string) (outbox.Prepared, error) {
	panic("not called: the recipient is already prepared")
}
func (noFanout) MassMessage(context.Context, string) (outbox.MassRequest, error) {
	return outbox.MassRequest{}, nil
}

// Regression (review of the issue 9 fan-out): the scenario below used to fail.
// Two runs of one batch (asynq at-least-once: a lease lost while Redis
// restarts, the relay's sweep re-enqueueing) both see a recipient in
// sending; the calling mark is a compare-and-set whose result is ignored,
// so both call WeChat.
func TestBatchTwiceSendsOnce(t *testing.T) {
	for _, dbURL := range []string{"", "pg"} {
		t.Run(map[string]string{"": "sqlite", "pg": "postgres"}[dbURL], func(t *testing.T) {
			var cs *countingSender
			o := envOptions{wrap: func(s Sender) Sender { cs = &countingSender{Sender: s}; return cs }}
			if dbURL == "pg" {
				o.dbURL = testenv.Postgres(t)
			}
			e := newEnv(t, o)
			e.srv.opts.Fanout = noFanout{}
			now := time.Now()
			slot, it := preparedBatch(t, e, now)
			var wg sync.WaitGroup
			for range 2 {
				wg.Add(1)
				go func() { defer wg.Done(); e.srv.batch(t.Context(), &it) }()
			}
			wg.Wait()
			if n := cs.calls.Load(); n != 1 {
				t.Errorf("WeChat was called %d times for one recipient; want once", n)
			}
			st, _ := e.db.SlotStats(t.Context(), slot.ID)
			m := e.message(t, "m1")
			if st.Sent != 1 || m.State != outbox.MsgSent {
				t.Errorf("WeChat took it %d time(s) but the ledger says %+v and the message %s (%s)", cs.calls.Load(), st, m.State, m.Reason)
			}
		})
	}
}
