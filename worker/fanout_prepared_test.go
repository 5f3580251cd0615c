package worker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// otherRunFirst plays a concurrent run of the same batch that prepares
// the recipient a moment earlier and then dies (its context ended).
type otherRunFirst struct {
	*engine.Engine
	once atomic.Bool
}

func (o *otherRunFirst) PrepareRecipient(ctx context.Context, slot int64, openid string) (outbox.Prepared, error) {
	if o.once.CompareAndSwap(false, true) {
		o.Engine.PrepareRecipient(ctx, slot, openid) // the other run
	}
	return o.Engine.PrepareRecipient(ctx, slot, openid)
}

func TestAlreadyPreparedRecipientIsSent(t *testing.T) {
	e := newEnv(t, envOptions{})
	now := time.Now()
	eng := engine.New(e.db, nil, func() time.Time { return now }, discard)
	files := []campaigns.File{{Name: "c.yaml", Data: []byte(`kind: Campaign
id: c1
on: {event: schedule, at: 2030-01-01T00:00:00+08:00}
do:
  - send_subscribe: {template_id: SUB, page: pages/index/index, data: {thing1: "Hi"}}
`)}}
	set, err := campaigns.Load(files)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.SetCampaigns(t.Context(), set, files); err != nil {
		t.Fatal(err)
	}
	e.srv.opts.Fanout = &otherRunFirst{Engine: eng}
	if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		return tx.SaveFollower(&followers.Follower{OpenID: "o1", Subscribed: true, FirstSeenAt: now, LastEventAt: now})
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
		slot = s
		return tx.SetSlotState(s, sqldb.SlotSending, "", now)
	}); err != nil {
		t.Fatal(err)
	}
	it, _ := outbox.New("b0", outbox.CampaignBatch, outbox.BatchPayload{Slot: slot.ID, Batch: 0, Campaign: "c1"}, now, now)
	commit, err := e.srv.batch(t.Context(), &it)
	rows, _ := e.db.BatchRecipients(t.Context(), slot.ID, 0)
	if err == nil && commit != nil && len(rows) > 0 {
		t.Errorf("the batch reports success (its item would be marked done) while %s is still %s: nobody will ever send it", rows[0].OpenID, rows[0].State)
	}
}
