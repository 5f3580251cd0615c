package engine

import (
	"time"

	"github.com/omohq/omo/events"
	"github.com/omohq/omo/sqldb"
)

// massFinished records a MASSSENDJOBFINISH on the mass send WeChat knows
// as ev.MsgID (or keeps it until omo records that msg_id; see
// sqldb.MarkMassFinished). Its FromUserName is WeChat's mass-send
// assistant, so no follower is touched.
func massFinished(tx *sqldb.Tx, ev *events.Event, now time.Time) error {
	_, err := tx.MarkMassFinished(sqldb.MassReport{
		MsgID: ev.MsgID, Status: ev.Status,
		TotalCount: ev.TotalCount, FilterCount: ev.FilterCount, SentCount: ev.SentCount, ErrorCount: ev.ErrorCount,
		ReceivedAt: now,
	})
	return err
}
