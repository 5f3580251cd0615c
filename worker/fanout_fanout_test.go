package worker

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
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
			var slot *sqldb.Slot
			if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
				return tx.SaveFollower(&followers.Follower{OpenID: "o1", Subscribed: true, FirstSeenAt: now, LastEventAt: now})
			}); err != nil {
				t.Fatal(err)
			}
			a, err := e.db.CompileAudience(t.Context(), &campaigns.Audience{}, "c1", now)
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := json.Marshal(outbox.Message{ToUser: "o1", Campaign: "c1"})
			if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
				s, _, err := tx.ClaimSlot("c1", now.Truncate(time.Minute), sqldb.SlotPlanning, "", "a", now)
				if err != nil {
					return err
				}
				if _, _, err := tx.PlanChunk(s, a, 10000, 500, now); err != nil {
					return err
				}
				if err := tx.AddMessage(&outbox.MessageRow{ID: "m1", CampaignID: "c1", OpenID: "o1", Kind: outbox.SendSubscribe,
					Payload: payload, State: outbox.MsgPending, CreatedAt: now}); err != nil {
					return err
				}
				// Prepared: message written, WeChat not called yet.
				_, err = tx.SetRecipient(&sqldb.Recipient{SlotID: s.ID, OpenID: "o1", State: sqldb.RecipientSending, MessageID: "m1"}, sqldb.RecipientPlanned, now)
				slot = s
				return err
			}); err != nil {
				t.Fatal(err)
			}
			it, _ := outbox.New("b0", outbox.CampaignBatch, outbox.BatchPayload{Slot: slot.ID, Batch: 0, Campaign: "c1"}, now, now)
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
