package worker

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// preparedBatch writes what a firing of campaign c1 leaves for one
// follower o1 once prepared: a slot, its ledger row in sending with the
// subscribe message m1 written and WeChat not called yet, and the batch's
// outbox item.
func preparedBatch(t *testing.T, e *env, now time.Time) (*sqldb.Slot, outbox.Item) {
	t.Helper()
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
	it, err := outbox.New("b0", outbox.CampaignBatch, outbox.BatchPayload{Slot: slot.ID, Batch: 0, Campaign: "c1"}, now, now)
	if err != nil {
		t.Fatal(err)
	}
	return slot, it
}
