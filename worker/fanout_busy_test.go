package worker

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
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
	if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		return tx.SaveFollower(&followers.Follower{OpenID: "o1", Subscribed: true, FirstSeenAt: now, LastEventAt: now})
	}); err != nil {
		t.Fatal(err)
	}
	a, _ := e.db.CompileAudience(t.Context(), &campaigns.Audience{}, "c1", now)
	payload, _ := json.Marshal(outbox.Message{ToUser: "o1", Campaign: "c1"})
	var slot *sqldb.Slot
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
		_, err = tx.SetRecipient(&sqldb.Recipient{SlotID: s.ID, OpenID: "o1", State: sqldb.RecipientSending, MessageID: "m1"}, sqldb.RecipientPlanned, now)
		slot = s
		return err
	}); err != nil {
		t.Fatal(err)
	}
	it, _ := outbox.New("b0", outbox.CampaignBatch, outbox.BatchPayload{Slot: slot.ID, Batch: 0, Campaign: "c1"}, now, now)
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
