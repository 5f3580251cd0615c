package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// WeChat answering in 100 ms (a realistic round trip from a server in
// China) with ctx honoured, as net/http does.
type slowSender struct {
	Sender
	calls atomic.Int32
}

func (s *slowSender) SendSubscribe(ctx context.Context, m *outbox.Message) error {
	s.calls.Add(1)
	select {
	case <-ctx.Done():
		return ctx.Err() // the request was on the wire: WeChat may have it
	case <-time.After(100 * time.Millisecond):
		return nil
	}
}

// A batch of 150 recipients needs 15 s of sequential calls: longer than a
// run's batchBudget, so the batch requeues itself between calls (before,
// the 30 s task timeout cut a longer batch mid-call and the recipient being
// called became failed outcome_unknown on the retry). Everyone is sent once.
func TestFanoutLongBatchRequeuesWithoutLoss(t *testing.T) {
	var ss *slowSender
	e := newEnv(t, envOptions{wrap: func(s Sender) Sender { ss = &slowSender{Sender: s}; return ss }})
	e.srv.opts.Fanout = noFanout{}
	now := time.Now()
	const n = 150
	if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		for i := range n {
			if err := tx.SaveFollower(&followers.Follower{OpenID: fmt.Sprintf("o%04d", i), Subscribed: true, FirstSeenAt: now, LastEventAt: now}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a, _ := e.db.CompileAudience(t.Context(), &campaigns.Audience{}, "c1", now)
	var slot *sqldb.Slot
	if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		s, _, err := tx.ClaimSlot("c1", now.Truncate(time.Minute), sqldb.SlotPlanning, "", "a", now)
		if err != nil {
			return err
		}
		if _, _, err := tx.PlanChunk(s, a, 10000, 500, now); err != nil {
			return err
		}
		for i := range n {
			id, openid := fmt.Sprintf("m%04d", i), fmt.Sprintf("o%04d", i)
			payload, _ := json.Marshal(outbox.Message{ToUser: openid, Campaign: "c1"})
			if err := tx.AddMessage(&outbox.MessageRow{ID: id, CampaignID: "c1", OpenID: openid, Kind: outbox.SendSubscribe,
				Payload: payload, State: outbox.MsgPending, CreatedAt: now}); err != nil {
				return err
			}
			if _, err := tx.SetRecipient(&sqldb.Recipient{SlotID: s.ID, OpenID: openid, State: sqldb.RecipientSending, MessageID: id}, sqldb.RecipientPlanned, now); err != nil {
				return err
			}
		}
		if err := tx.SetSlotState(s, sqldb.SlotSending, "", now); err != nil {
			return err
		}
		it, _ := outbox.New(fmt.Sprintf("slot%d-b0", s.ID), outbox.CampaignBatch, outbox.BatchPayload{Slot: s.ID, Batch: 0, Campaign: "c1"}, now, now.Add(-time.Minute))
		slot = s
		return tx.AddOutbox(it)
	}); err != nil {
		t.Fatal(err)
	}
	e.sweep(t)
	deadline := time.Now().Add(90 * time.Second)
	var st sqldb.SlotStats
	for time.Now().Before(deadline) {
		st, _ = e.db.SlotStats(t.Context(), slot.ID)
		if st.Pending == 0 {
			break
		}
		time.Sleep(time.Second)
	}
	if st.Failed != 0 || st.Sent != n {
		t.Errorf("ledger %+v after %d WeChat calls; want all %d sent, none failed", st, ss.calls.Load(), n)
	}
}
