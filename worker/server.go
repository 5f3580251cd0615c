package worker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"omo/errs"
	"omo/outbox"
	"omo/store"
)

// Directory looks people up at WeChat. Errors carry an errs kind:
// Unavailable is retried, Gone and Invalid stop.
type Directory interface {
	UnionID(ctx context.Context, openid string) (string, error)
}

// Server runs the task handlers.
type Server struct {
	srv *asynq.Server
	mux *asynq.ServeMux
	db  *store.DB
	dir Directory
	log *slog.Logger
	now func() time.Time
}

// Options tune the server.
type Options struct {
	Concurrency int
}

// NewServer returns a Server that takes tasks from rdb and works against db
// and dir.
func NewServer(rdb redis.UniversalClient, db *store.DB, dir Directory, opts Options, log *slog.Logger) *Server {
	s := &Server{db: db, dir: dir, log: log, now: time.Now, mux: asynq.NewServeMux()}
	s.srv = asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:              opts.Concurrency,
		Queues:                   map[string]int{Queue: 1},
		TaskCheckInterval:        100 * time.Millisecond,
		DelayedTaskCheckInterval: time.Second,
		ShutdownTimeout:          10 * time.Second,
		RetryDelayFunc:           retryDelay,
		Logger:                   asynqLogger{log},
		LogLevel:                 asynq.WarnLevel,
		ErrorHandler: asynq.ErrorHandlerFunc(func(ctx context.Context, t *asynq.Task, err error) {
			log.Warn("task failed", "type", t.Type(), "item", string(t.Payload()), "err", err)
		}),
	})
	s.mux.HandleFunc(string(outbox.UserInfo), s.item(s.userInfo))
	return s
}

// Start starts the handlers in the background.
func (s *Server) Start() error { return s.srv.Start(s.mux) }

// Shutdown stops taking tasks and waits for running ones (up to the
// shutdown timeout; unfinished tasks go back to the queue).
func (s *Server) Shutdown() { s.srv.Shutdown() }

// item wraps a handler of one outbox item: it loads the item, skips it when
// it is no longer pending (a repeat delivery), and records the outcome. A
// Gone or Invalid error fails the item for good; any other error is retried
// until MaxRetry, after which the item is failed.
func (s *Server) item(h func(context.Context, *outbox.Item) error) asynq.HandlerFunc {
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
		err = h(ctx, it)
		return s.finish(ctx, it, err)
	}
}

func (s *Server) finish(ctx context.Context, it *outbox.Item, herr error) error {
	now := s.now()
	retry, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	permanent := errs.Is(herr, errs.Gone) || errs.Is(herr, errs.Invalid)
	werr := s.db.Write(ctx, func(tx *store.Tx) error {
		switch {
		case herr == nil:
			_, err := tx.FinishOutbox(it.ID, outbox.Done, "", now)
			return err
		case permanent || retry >= maxRetry:
			_, err := tx.FinishOutbox(it.ID, outbox.Failed, herr.Error(), now)
			return err
		default:
			return tx.NoteOutboxAttempt(it.ID, herr.Error(), now)
		}
	})
	switch {
	case herr == nil:
		return werr
	case permanent:
		s.log.Warn("task failed for good", "item", it.ID, "kind", it.Kind, "err", herr)
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
func (a asynqLogger) Fatal(args ...any) { a.l.Error(fmt.Sprint(args...), "component", "asynq", "fatal", true) }
