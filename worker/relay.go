package worker

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// Queue is the asynq queue every omo task goes to.
const Queue = "default"

// Relay moves committed outbox items onto the queue.
type Relay struct {
	client *asynq.Client
	insp   *asynq.Inspector
	db     *sqldb.DB
	log    *slog.Logger
	now    func() time.Time
	ch     chan []outbox.Item
	down   bool // the last enqueue or sweep failed: Redis is unreachable
	// SweepEvery is how often pending items are looked for; SweepAge is how
	// old a pending item must be before the sweep re-enqueues it (younger
	// ones are on their way through Enqueue).
	SweepEvery, SweepAge time.Duration
}

// NewRelay returns a relay that enqueues through rdb and reads db.
func NewRelay(rdb redis.UniversalClient, db *sqldb.DB, log *slog.Logger) *Relay {
	return &Relay{
		client:     asynq.NewClientFromRedisClient(rdb),
		insp:       asynq.NewInspectorFromRedisClient(rdb),
		db:         db,
		log:        log,
		now:        time.Now,
		ch:         make(chan []outbox.Item, 4096),
		SweepEvery: 5 * time.Second,
		SweepAge:   30 * time.Second,
	}
}

// Enqueue hands committed items to the relay without blocking. Items it
// cannot take now stay pending and the sweep finds them.
func (r *Relay) Enqueue(ctx context.Context, items []outbox.Item) {
	select {
	case r.ch <- items:
	default:
		r.log.Warn("relay busy; items wait for the sweep", "items", len(items))
	}
}

// Run enqueues handed items and sweeps until ctx ends. It first sweeps every
// pending item, so work left over from before a restart (or lost with an
// embedded Redis) runs again. While the queue is down, handed items are
// left for the sweep, and the next sweep takes every pending item, not only
// the old ones, so sends resume as soon as Redis is back.
func (r *Relay) Run(ctx context.Context) {
	if n, err := r.Sweep(ctx, r.now()); err != nil {
		r.log.Warn("start-up sweep failed; will retry", "err", err)
		r.down = true
	} else if n > 0 {
		r.log.Info("re-enqueued pending outbox items at start-up", "items", n)
	}
	t := time.NewTicker(r.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case items := <-r.ch:
			r.handOff(ctx, items)
		case <-t.C:
			r.tick(ctx)
		}
	}
}

// handOff enqueues items handed over after a commit. After one failure the
// rest are not tried (each would wait for Redis's connection timeout).
func (r *Relay) handOff(ctx context.Context, items []outbox.Item) {
	for _, it := range items {
		if r.down {
			r.log.Warn("enqueue failed; the item waits in the outbox", "item", it.ID, "kind", it.Kind, "err", "queue unavailable: left for the sweep")
			continue
		}
		if err := r.enqueue(ctx, it); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
			r.down = true
			r.log.Warn("enqueue failed; the item waits in the outbox", "item", it.ID, "kind", it.Kind, "err", err)
		}
	}
}

// tick sweeps (everything pending when the queue was down, else what is
// older than SweepAge) and forgets stale delivery reports.
func (r *Relay) tick(ctx context.Context) {
	before := r.now().Add(-r.SweepAge)
	if r.down {
		before = r.now()
	}
	if _, err := r.Sweep(ctx, before); err != nil {
		r.log.Warn("outbox sweep failed", "err", err)
		r.down = true
		return
	}
	r.down = false
	if err := r.db.Write(ctx, func(tx *sqldb.Tx) error {
		return tx.PruneDeliveryReports(r.now().Add(-time.Hour))
	}); err != nil {
		r.log.Warn("pruning delivery reports failed", "err", err)
	}
}

// Sweep enqueues pending items created before before, a page at a time,
// and returns how many were newly enqueued. Items whose task still exists
// are skipped by asynq's task-ID check.
func (r *Relay) Sweep(ctx context.Context, before time.Time) (int, error) {
	const page = 1000
	n := 0
	after := ""
	for {
		items, err := r.db.PendingOutbox(ctx, before, after, page)
		if err != nil {
			return n, err
		}
		for _, it := range items {
			err := r.enqueue(ctx, it)
			if errors.Is(err, asynq.ErrTaskIDConflict) {
				err = r.revive(ctx, it)
			}
			if err == nil {
				n++
			} else if !errors.Is(err, asynq.ErrTaskIDConflict) {
				return n, err
			}
		}
		if len(items) < page {
			return n, nil
		}
		after = items[len(items)-1].ID
	}
}

// revive handles a pending item whose task ID is taken: a live task (queued,
// scheduled, retrying, running) is left alone (ErrTaskIDConflict); an
// archived or completed one no longer works for the item, so it is deleted
// and the item enqueued again.
func (r *Relay) revive(ctx context.Context, it outbox.Item) error {
	info, err := r.insp.GetTaskInfo(Queue, it.ID)
	if err != nil {
		return asynq.ErrTaskIDConflict // gone meanwhile, or Redis trouble: next sweep
	}
	if info.State != asynq.TaskStateArchived && info.State != asynq.TaskStateCompleted {
		return asynq.ErrTaskIDConflict
	}
	if err := r.insp.DeleteTask(Queue, it.ID); err != nil {
		return err
	}
	r.log.Warn("outbox item still pending behind a dead task: enqueued again", "item", it.ID, "kind", it.Kind, "task_state", info.State.String())
	return r.enqueue(ctx, it)
}

func (r *Relay) enqueue(ctx context.Context, it outbox.Item) error {
	_, err := r.client.EnqueueContext(ctx, NewTask(it))
	return err
}

// Close releases the relay's queue client.
func (r *Relay) Close() error {
	r.insp.Close()
	return r.client.Close()
}
