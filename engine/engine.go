// Package engine turns one push from the Official Account into its effects,
// exactly once: in one database transaction it records the push (its dedupe
// key makes WeChat's retries harmless), folds it into the follower, decides
// what to do, and writes an outbox item for every call or send that must
// follow. Only after the commit does it hand those items to the queue and
// let the webhook answer WeChat.
package engine

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/stores"
)

// Enqueuer takes committed outbox items to the queue. It must not block for
// long: items it cannot take now stay pending in the outbox and are picked
// up again by the relay's sweep.
type Enqueuer interface {
	Enqueue(ctx context.Context, items []outbox.Item)
}

// Engine handles pushes. It is safe for concurrent use.
type Engine struct {
	set       atomic.Pointer[campaigns.Set]
	salt      []byte // for remembered identities (seen_people)
	idx       atomic.Pointer[stores.Index]
	storesSig atomic.Value // string: the catalogue the index was built from
	audiences sync.Map     // slot id -> sqldb.Audience: a firing's audience, compiled once for send-time checks
	lastTick  atomic.Int64 // unix nanoseconds when the previous schedule tick began; 0 before the first
	db        *sqldb.DB
	queue     Enqueuer
	now       func() time.Time
	log       *slog.Logger
}

// New returns an Engine writing to db and handing work to queue. now is the
// clock (time.Now when nil).
func New(db *sqldb.DB, queue Enqueuer, now func() time.Time, log *slog.Logger) *Engine {
	if now == nil {
		now = time.Now
	}
	return &Engine{db: db, queue: queue, now: now, log: log}
}

// Result is what the webhook answers.
type Result struct {
	Reply     string // passive text reply; "" = answer "success"
	Duplicate bool   // the push was seen before and did nothing now
	EventID   int64
}

// Handle records ev (with its plaintext XML raw) and acts on it once. A
// repeat of a push already handled returns the first handling's reply with
// Duplicate set and changes nothing. An error means nothing was stored and
// WeChat should retry (the webhook answers 5xx).
func (e *Engine) Handle(ctx context.Context, ev *events.Event, raw []byte) (Result, error) {
	now := e.now()
	var res Result
	var items []outbox.Item
	hint := &sqldb.Hint{Event: ev, Raw: raw, ReceivedAt: now}
	if !reportOnly(ev) {
		hint.OpenIDs, hint.Seen, hint.Campaigns = []string{ev.OpenID}, e.seenHashes(ev.OpenID, "", ""), e.mayFire(ev, now)
	}
	err := e.db.WriteHinted(ctx, hint, func(tx *sqldb.Tx) error {
		res, items = Result{}, items[:0]
		id, dup, err := tx.InsertEvent(ev, raw, now)
		if err != nil {
			return err
		}
		res.EventID = id
		if dup {
			res.Duplicate = true
			res.Reply, err = tx.EventReply(id)
			return err
		}
		res.Reply, items, err = e.apply(tx, ev, id, now)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	if len(items) > 0 && e.queue != nil {
		e.queue.Enqueue(ctx, items)
	}
	return res, nil
}

// mayFire lists the campaigns of the running set that ev may fire (the
// batch's committer reads their history up front; see sqldb.Hint).
func (e *Engine) mayFire(ev *events.Event, now time.Time) []string {
	set := e.set.Load()
	if set == nil {
		return nil
	}
	var ids []string
	for _, c := range set.Campaigns {
		if c.Active(now) && c.On.Matches(ev) {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// reportOnly says whether ev is WeChat reporting on a send (a template's or
// a mass send's job finished), which reads and locks no follower: the mass
// reports' sender is WeChat's mass assistant, whose lock would serialise
// every batch holding one.
func reportOnly(ev *events.Event) bool {
	return ev.Type == events.TemplateSendJobFinish || ev.Type == events.MassSendJobFinish
}

// apply folds ev into its follower, runs the campaigns, and returns the
// passive reply and the outbox items it wrote.
func (e *Engine) apply(tx *sqldb.Tx, ev *events.Event, eventID int64, now time.Time) (string, []outbox.Item, error) {
	if ev.Type == events.TemplateSendJobFinish {
		// WeChat reporting on a send, not the follower acting.
		_, err := tx.MarkDelivery(ev.OpenID, ev.MsgID, ev.Status, now)
		return "", nil, err
	}
	if ev.Type == events.MassSendJobFinish {
		return "", nil, massFinished(tx, ev, now) // from WeChat's mass-send assistant, not a follower
	}
	// The follower's lock before its row, as the batch's committer takes
	// it (sqldb prefetch): two transactions that change this follower (two
	// processes, or two committers, handling two of their pushes at once)
	// run one after the other, each from the row the other committed, and
	// in one order on every path, so they wait instead of deadlocking.
	// runCampaigns takes it again at no cost; SQLite's one writer needs
	// none.
	if err := tx.LockFollower(ev.OpenID); err != nil {
		return "", nil, err
	}
	prev, err := tx.Follower(ev.OpenID)
	if err != nil && !errs.Is(err, errs.NotFound) {
		return "", nil, err
	}
	f, change := followers.Apply(prev, ev)
	if err := tx.SaveFollower(&f); err != nil {
		return "", nil, err
	}
	// Was this person ever seen before (the referral rules' "never a
	// follower before")? An OA openid is remembered by its followers row,
	// which is never deleted (a deletion must note the openid's hash in
	// seen_people first), so a new follower's openid is only looked up in
	// seen_people, not added to it: one random-key insert less a follow
	// (README "How a push is handled"). A unionid has no such row: a
	// returning follower's is recorded.
	seenBefore := !change.New
	if change.New {
		seen, err := tx.SeenBefore(e.seenHashes(f.OpenID, "", ""))
		if err != nil {
			return "", nil, err
		}
		seenBefore = seen
	}
	if (change.New || change.Followed) && f.UnionID != "" {
		if _, err := tx.Seen(e.seenHashes("", "", f.UnionID), now); err != nil {
			return "", nil, err
		}
	}
	var items []outbox.Item
	if change.Followed && f.UnionID == "" {
		it, err := outbox.New(newID(), outbox.UserInfo, outbox.UserInfoPayload{OpenID: f.OpenID}, now, now)
		if err != nil {
			return "", nil, errs.Wrap(errs.Other, "engine.apply", err)
		}
		if err := tx.AddOutbox(it); err != nil {
			return "", nil, err
		}
		items = append(items, it)
	}
	if err := saveLocation(tx, ev); err != nil {
		return "", nil, err
	}
	if err := storeVisit(tx, ev, change.New && change.Followed); err != nil {
		return "", nil, err
	}
	refItems, err := e.referralEvents(tx, ev, &f, seenBefore, now)
	if err != nil {
		return "", nil, err
	}
	items = append(items, refItems...)
	reply, more, err := e.runCampaigns(tx, ev, eventID, &f, change, now)
	if err != nil {
		return "", nil, err
	}
	if reply != "" {
		if err := tx.SetEventReply(eventID, reply); err != nil {
			return "", nil, err
		}
	}
	return reply, append(items, more...), nil
}

// newID returns a time-ordered unique id (UUIDv7).
func newID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}
