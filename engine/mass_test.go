package engine_test

import (
	"testing"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/sqldb"
)

func massJobFinish(at time.Time, msgID int64, sent, failed int) *events.Event {
	return &events.Event{Type: events.MassSendJobFinish, ToUser: "gh_x", OpenID: "oMassAssistant", CreatedAt: at, MsgID: msgID,
		Status: "send success", TotalCount: sent + failed + 1, FilterCount: sent + failed, SentCount: sent, ErrorCount: failed}
}

// TestMassSendJobFinish: the webhook's MASSSENDJOBFINISH finishes the mass
// send with its msg_id, whether it arrives after omo recorded the send or
// before; it is WeChat's assistant reporting, so no follower is made.
func TestMassSendJobFinish(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		var ids []int64
		for chunk := range 2 {
			m := &sqldb.MassSend{CampaignID: "launch", SlotID: 1, Chunk: chunk, ClientMsgID: "c" + string(rune('0'+chunk)), Month: "2026-12", CreatedAt: e.now}
			err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
				_, err := tx.AddMassSend(m, []string{"o1", "o2", "o3"}, 0)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.ID)
		}
		sent := func(id, msgID int64) {
			t.Helper()
			if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error { _, err := tx.MarkMassSent(id, msgID, msgID+1, e.now); return err }); err != nil {
				t.Fatal(err)
			}
		}
		sent(ids[0], 500)
		e.handle(t, massJobFinish(e.now.Add(time.Minute), 500, 3, 0))                             // after the send is recorded
		e.handle(t, massJobFinish(e.now.Add(time.Minute), 600, 2, 1))                             // before
		if res := e.handle(t, massJobFinish(e.now.Add(time.Minute), 600, 2, 1)); !res.Duplicate { // WeChat's retry
			t.Errorf("a repeated MASSSENDJOBFINISH was not a duplicate")
		}
		sent(ids[1], 600)
		for i, want := range []struct{ sent, failed int }{{3, 0}, {2, 1}} {
			m, err := e.db.MassSend(t.Context(), ids[i])
			if err != nil {
				t.Fatal(err)
			}
			if m.State != sqldb.MassFinished || m.SentCount != want.sent || m.ErrorCount != want.failed || m.Status != "send success" || m.FinishedAt == nil {
				t.Errorf("chunk %d = %+v, want finished with sent %d, error %d", i, m, want.sent, want.failed)
			}
		}
		if _, err := e.db.Follower(t.Context(), "oMassAssistant"); !errs.Is(err, errs.NotFound) {
			t.Errorf("the mass-send assistant became a follower: %v", err)
		}
	})
}
