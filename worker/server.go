package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/sqldb"
)

// Directory looks people up at WeChat. Errors carry an errs kind, read as
// for a Sender's (see task.go): Gone and Invalid stop, Throttled is retried
// slower, anything else (Unavailable) is retried.
type Directory interface {
	UnionID(ctx context.Context, openid string) (string, error)
}

// Server runs the task handlers.
type Server struct {
	srv    *asynq.Server
	mux    *asynq.ServeMux
	db     *sqldb.DB
	dir    Directory
	sender Sender
	lim    *limiter
	opts   Options
	log    *slog.Logger
	now    func() time.Time
}

// Options tune the server.
type Options struct {
	Concurrency int
	AppID       string // the OA app id: names the shared rate and pause keys
	SendRate    int    // sends per second for the app across all workers; 0 = no limit
	Referrals   Qualifier
	Fanout      Fanout       // schedule campaigns' batches; nil = this worker takes none
	Mass        *Mass        // send_mass chunks of those batches; nil = none
	Observer    SendObserver // told every send's outcome (metrics); nil = none
	// CallLease is how long a schedule recipient may stay calling before
	// another run takes it for a call cut short by a crash (and records
	// it outcome_unknown unless safe to repeat); 0 = one minute, longer
	// than any run lives. omo demo shortens it, so that its restart after
	// a crash mid-call settles the slot within the story.
	CallLease time.Duration
}

// Qualifier decides a held referral once its hold is over. It must be
// idempotent: a referral decided before is left alone.
type Qualifier interface {
	Qualify(ctx context.Context, referralID int64) error
}

// NewServer returns a Server that takes tasks from rdb and works against
// db, dir and sender.
func NewServer(rdb redis.UniversalClient, db *sqldb.DB, dir Directory, sender Sender, opts Options, log *slog.Logger) *Server {
	s := &Server{db: db, dir: dir, sender: sender, opts: opts, log: log, now: time.Now, mux: asynq.NewServeMux(),
		lim: &limiter{rdb: rdb, prefix: "omo:" + opts.AppID + ":"}}
	s.srv = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              opts.Concurrency,
		Queues:                   map[string]int{Queue: 1},
		TaskCheckInterval:        100 * time.Millisecond,
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          10 * time.Second,
		RetryDelayFunc:           retryDelay,
		IsFailure:                isFailure,
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			if isFailure(err) {
				log.Warn("task failed", "type", t.Type(), "item", string(t.Payload()), "err", err)
			}
		}),
	})
	s.mux.HandleFunc(string(outbox.UserInfo), s.item(s.userInfo))
	for _, k := range []outbox.Kind{outbox.SendTemplate, outbox.SendSubscribe, outbox.SendCustom} {
		s.mux.HandleFunc(string(k), s.item(s.send))
	}
	s.mux.HandleFunc(string(outbox.Tag), s.item(s.tag))
	s.mux.HandleFunc(string(outbox.ReferralQualify), s.item(s.qualify))
	s.mux.HandleFunc(string(outbox.CampaignBatch), s.item(s.batch))
	return s
}

// Start starts the handlers in the background.
func (s *Server) Start() error { return s.srv.Start(s.mux) }

// Shutdown stops taking tasks and waits for running ones (up to the
// shutdown timeout; unfinished tasks go back to the queue).
func (s *Server) Shutdown() { s.srv.Shutdown() }

// handler does the work of one outbox item. On success it may return a
// write to commit together with marking the item done.
type handler func(ctx context.Context, it *outbox.Item) (commit func(*sqldb.Tx) error, err error)

// item wraps a handler of one outbox item: it loads the item, skips it when
// it is no longer pending (a repeat delivery), and records the outcome.
func (s *Server) item(h handler) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		id := string(t.Payload())
		it, err := s.db.OutboxItem(ctx, id)
		if errs.Is(err, errs.NotFound) {
			s.log.Warn("task for unknown outbox item dropped", "item", id, "type", t.Type())
			return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
		}
		if err != nil {
			return err
		}
		if it.State != outbox.Pending {
			return nil
		}
		commit, err := h(ctx, it)
		return s.finish(ctx, it, commit, err)
	}
}

// finish records a handler's outcome: done (with the handler's own write),
// failed for good (a permanent error, or the last retry used: the item's
// message, if any, is failed with the errcode), or an attempt to retry.
// A wait (pause, rate limit) records nothing.
func (s *Server) finish(ctx context.Context, it *outbox.Item, commit func(*sqldb.Tx) error, herr error) error {
	if !isFailure(herr) {
		return herr
	}
	now := s.now()
	retry, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	// A batch of a firing is never given up while its recipients wait: past
	// its retries its task is archived, the item stays pending, and the
	// relay's sweep revives it.
	exhausted := retry >= maxRetry
	final := herr != nil && (permanent(herr) || exhausted && it.Kind != outbox.CampaignBatch)
	werr := s.db.Write(context.WithoutCancel(ctx), func(tx *sqldb.Tx) error {
		switch {
		case herr == nil:
			if commit != nil {
				if err := commit(tx); err != nil {
					return err
				}
			}
			_, err := tx.FinishOutbox(it.ID, outbox.Done, "", now)
			return err
		case final:
			if err := tx.MarkFailed(it.ID, errcode(herr), herr.Error()); err != nil {
				return err
			}
			_, err := tx.FinishOutbox(it.ID, outbox.Failed, herr.Error(), now)
			return err
		default:
			return tx.NoteOutboxAttempt(it.ID, herr.Error(), now)
		}
	})
	switch {
	case herr == nil:
		return werr
	case final && werr != nil:
		// Not recorded: archiving now would leave the item pending behind a
		// task ID the relay can never enqueue again. Try again instead.
		s.log.Warn("task failed for good but the outcome was not recorded; will retry", "item", it.ID, "kind", it.Kind, "err", herr, "write_err", werr)
		return werr
	case final:
		s.log.Warn("task failed for good", "item", it.ID, "kind", it.Kind, "retry", retry, "err", herr)
		return fmt.Errorf("%w: %v", asynq.SkipRetry, herr)
	case exhausted:
		s.log.Warn("batch out of retries; the outbox sweep will revive it", "item", it.ID, "err", herr)
		return fmt.Errorf("%w: %v", asynq.SkipRetry, herr)
	default:
		s.log.Info("task will be retried", "item", it.ID, "kind", it.Kind, "retry", retry, "err", herr)
		return herr
	}
}

type asynqLogger struct{ l *slog.Logger }

func (a asynqLogger) Debug(args ...any) { a.l.Debug(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Info(args ...any)  { a.l.Info(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Warn(args ...any)  { a.l.Warn(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Error(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq") }
func (a asynqLogger) Fatal(args ...any) {
	a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true)
}
