package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// WeChat's rules for mass sends to an openid list (research/proactive.md §2).
const (
	MaxMassChunk   = 10000 // openids per message/mass/send call
	MassPerMinute  = 60    // calls a minute, per OA
	MassPerMonth   = 4     // mass sends a service account's follower receives a natural month
	maxClientMsgID = 64    // bytes
)

// MassSender makes mass sends at WeChat and returns the msg_id its
// MASSSENDJOBFINISH will quote. Errors carry an errs kind: QuotaSpent
// pauses mass sends, Gone and Invalid end the chunk, the rest retry.
type MassSender interface {
	SendMass(ctx context.Context, m outbox.MassRequest) (msgID, msgDataID int64, err error)
}

// MassLedger keeps a per-recipient ledger in step with a chunk; both
// methods run inside SendChunk's transactions, so the ledger commits with
// what they report.
type MassLedger interface {
	// Planned is called once per chunk, when it is first recorded; over
	// are the recipients left out because they have received this month's
	// mass sends (reason: monthly mass-send budget spent).
	Planned(tx *sqldb.Tx, m *sqldb.MassSend, over []string) error
	// Ended is called once, when the chunk reaches sent (or finished, if
	// WeChat's report came first), failed or skipped; m.State says which
	// and m.OpenIDs() who it was for.
	Ended(tx *sqldb.Tx, m *sqldb.MassSend) error
}

// MassOptions configure a Mass.
type MassOptions struct {
	AppID string // the OA: names the per-minute limit and pause shared through Redis
	// ServiceAccount: each follower receives at most MassPerMonth mass sends
	// a month (config wechat.official_account.service_account).
	ServiceAccount bool
	// Observer is told each mass send's outcome as kind "send:mass"
	// (metrics); nil = none.
	Observer SendObserver
}

// Mass sends chunks of a firing's recipients as mass sends: at most 60
// calls a minute across every omo process, the monthly budget counted per
// follower, each chunk once. Safe for concurrent use.
type Mass struct {
	db   *sqldb.DB
	api  MassSender
	lim  *limiter
	opts MassOptions
	log  *slog.Logger
	now  func() time.Time
}

// NewMass returns a Mass that records chunks in db, sends through api and
// shares its rate limit and pause through rdb.
func NewMass(rdb redis.UniversalClient, db *sqldb.DB, api MassSender, opts MassOptions, log *slog.Logger) *Mass {
	return &Mass{db: db, api: api, opts: opts, log: log, now: time.Now,
		lim: &limiter{rdb: rdb, prefix: "omo:" + opts.AppID + ":"}}
}

// MassChunk is one chunk of a firing's mass-send recipients: chunk number
// Chunk of slot SlotID of campaign CampaignID, with the rendered message.
type MassChunk struct {
	CampaignID    string
	SlotID        int64
	Chunk         int
	OpenIDs       []string // 1..MaxMassChunk; make chunks of two or more (WeChat refuses one)
	Text          string
	MediaID       string
	IgnoreReprint bool
}

// MassClientMsgID is a new clientmsgid for chunk chunk of slot slotID: 64
// random bits before the numbers, so that no two installs on one Official
// Account (a staging and a production, one restored from the other's
// backup, a database rebuilt within WeChat's 24 hours: their slots are
// numbered alike) take each other's sends for repeats, which WeChat would
// answer 45065 and not send. It is drawn once, when the chunk is first
// recorded (plan), and every try sends the stored one. At most 64 bytes.
func MassClientMsgID(slotID int64, chunk int) string {
	var b [8]byte
	rand.Read(b[:])
	return "omo:" + hex.EncodeToString(b[:]) + ":" + strconv.FormatInt(slotID, 10) + ":" + strconv.Itoa(chunk)
}

// MassMonth is the natural month of t in Beijing time, YYYY-MM: the month
// whose mass sends WeChat counts.
func MassMonth(t time.Time) string {
	return t.In(time.FixedZone("CST", 8*3600)).Format("2006-01")
}

// SendChunk sends chunk c once, however often it is called for the same
// (slot, chunk), by however many processes. The first call records it in
// mass_sends with the budget taken (on a service account, recipients who
// spent this month's mass sends are left out and given to ledger.Planned);
// then it calls WeChat with the chunk's clientmsgid and records the msg_id
// (MASSSENDJOBFINISH then finishes the row). A chunk already sent, failed
// or skipped is returned as it is, with no call. Fewer than two recipients
// left: skipped, budget given back. Outcomes:
//   - nil: the chunk is sent (or was already settled); the row says how.
//   - a wait (rate limit over 2 s, mass sends paused after 45028/45009):
//     asynq runs the task again after it without counting a failure.
//   - a *SendError of class Stop or Config: WeChat refused the chunk for
//     good; it is recorded failed, the budget given back; do not retry.
//   - anything else: retry; the chunk stays planned and the retry sends
//     the same call with the same clientmsgid.
//
// Call it from an asynq handler of Server (its retry delays understand the
// waits); ledger may be nil.
func (m *Mass) SendChunk(ctx context.Context, c MassChunk, ledger MassLedger) (*sqldb.MassSend, error) {
	const op = "worker.SendChunk"
	if len(c.OpenIDs) == 0 || len(c.OpenIDs) > MaxMassChunk {
		return nil, errs.E(errs.Invalid, op, "a mass chunk has 1-%d openids, got %d", MaxMassChunk, len(c.OpenIDs))
	}
	if (c.Text == "") == (c.MediaID == "") {
		return nil, errs.E(errs.Invalid, op, "a mass chunk is a text or an mpnews media id, exactly one")
	}
	row, err := m.plan(ctx, c, ledger)
	if err != nil || row.State != sqldb.MassPlanned {
		return row, err
	}
	openids := row.OpenIDs()
	if len(openids) < 2 {
		why := fmt.Sprintf("%d recipient(s) left after the monthly budget: WeChat refuses a mass send to fewer than 2 (40130)", len(openids))
		return m.end(ctx, row, sqldb.MassSkipped, 0, why, ledger)
	}
	if err := m.admit(ctx); err != nil {
		return row, err
	}
	msgID, dataID, err := m.api.SendMass(ctx, outbox.MassRequest{ToUsers: openids, Text: c.Text, MediaID: c.MediaID,
		IgnoreReprint: c.IgnoreReprint, ClientMsgID: row.ClientMsgID})
	if m.opts.Observer != nil {
		m.opts.Observer.SendOutcome(MassKind, SendOutcome(err), errcode(err))
	}
	if err != nil {
		return m.refused(ctx, row, err, ledger)
	}
	return m.record(ctx, row, func(tx *sqldb.Tx) (bool, error) {
		return tx.MarkMassSent(row.ID, msgID, dataID, m.now())
	}, ledger)
}

// errPlanRace makes plan's transaction roll back when another process
// recorded the chunk between its read and its insert.
var errPlanRace = errors.New("mass chunk recorded concurrently")

// plan returns the chunk's row, recording it (with the budget taken) first
// if it is new.
func (m *Mass) plan(ctx context.Context, c MassChunk, ledger MassLedger) (*sqldb.MassSend, error) {
	limit := 0
	if m.opts.ServiceAccount {
		limit = MassPerMonth
	}
	for {
		now := m.now()
		var row *sqldb.MassSend
		err := m.db.Write(ctx, func(tx *sqldb.Tx) error {
			var err error
			row, err = tx.MassSendOf(c.SlotID, c.Chunk)
			if !errs.Is(err, errs.NotFound) {
				return err
			}
			month := MassMonth(now)
			allowed, over, err := tx.TakeMassBudget(c.OpenIDs, month, limit)
			if err != nil {
				return err
			}
			row = &sqldb.MassSend{CampaignID: c.CampaignID, SlotID: c.SlotID, Chunk: c.Chunk,
				ClientMsgID: MassClientMsgID(c.SlotID, c.Chunk), Month: month, CreatedAt: now}
			created, err := tx.AddMassSend(row, allowed, len(over))
			switch {
			case err != nil:
				return err
			case !created:
				return errPlanRace
			case ledger != nil:
				return ledger.Planned(tx, row, over)
			}
			return nil
		})
		if !errors.Is(err, errPlanRace) {
			return row, err
		}
	}
}

// admit waits for the mass-send pause and the per-minute limit.
func (m *Mass) admit(ctx context.Context) error {
	if d, err := m.lim.paused(ctx, "mass"); err != nil {
		return err
	} else if d > 0 {
		return &waitError{wait: d, reason: "mass sends are paused (quota)"}
	}
	for {
		wait, err := m.lim.take(ctx, "mass", MassPerMinute, time.Minute, m.now())
		if err != nil || wait == 0 {
			return nil // a broken limiter must not stop sends; WeChat's 45011 still would
		}
		if wait > maxInlineWait {
			return &waitError{wait: wait, reason: "mass send rate " + strconv.Itoa(MassPerMinute) + "/min"}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// refused handles WeChat's refusal of a chunk: a spent quota pauses mass
// sends until it resets, a permanent refusal ends the chunk failed, the
// rest is left for a retry.
func (m *Mass) refused(ctx context.Context, row *sqldb.MassSend, err error, ledger MassLedger) (*sqldb.MassSend, error) {
	code := errcode(err)
	switch {
	case errs.Is(err, errs.QuotaSpent):
		now := m.now()
		until := QuotaReset(now)
		if perr := m.lim.pause(ctx, "mass", until, now); perr != nil {
			return row, perr
		}
		m.log.Warn("WeChat mass-send quota spent: mass sends are paused until it resets", "errcode", code, "until", until)
		return row, &waitError{wait: until.Sub(now), reason: "mass-send quota spent"}
	case permanent(err):
		if _, eerr := m.end(ctx, row, sqldb.MassFailed, code, err.Error(), ledger); eerr != nil {
			return row, eerr
		}
		return row, err
	}
	return row, err
}

// end records that the chunk will not be sent and gives its budget back.
func (m *Mass) end(ctx context.Context, row *sqldb.MassSend, state string, code int, reason string, ledger MassLedger) (*sqldb.MassSend, error) {
	return m.record(ctx, row, func(tx *sqldb.Tx) (bool, error) {
		ended, err := tx.EndMassSend(row.ID, state, code, reason)
		if err != nil || !ended || !m.opts.ServiceAccount {
			return ended, err
		}
		return true, tx.GiveBackMassBudget(row.OpenIDs(), row.Month)
	}, ledger)
}

// record runs change and, when it settled the chunk, tells the ledger, in
// one transaction; it returns the row as committed.
func (m *Mass) record(ctx context.Context, row *sqldb.MassSend, change func(*sqldb.Tx) (bool, error), ledger MassLedger) (*sqldb.MassSend, error) {
	var out *sqldb.MassSend
	err := m.db.Write(context.WithoutCancel(ctx), func(tx *sqldb.Tx) error {
		settled, err := change(tx)
		if err != nil {
			return err
		}
		if out, err = tx.MassSendOf(row.SlotID, row.Chunk); err != nil {
			return err
		}
		if settled && ledger != nil {
			return ledger.Ended(tx, out)
		}
		return nil
	})
	if err != nil {
		return row, err
	}
	return out, nil
}
