package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/metrics"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/worker"
)

// newMetrics returns omo's whole-path metrics, reading the outbox backlog
// from db and the queues from rdb when /metrics is scraped. The caller
// hands it to the parts it observes (the committer, the workers, the
// WeChat client) and to the HTTP API, which serves it.
func newMetrics(db *sqldb.DB, rdb redis.UniversalClient, log *slog.Logger) *metrics.Metrics {
	queues := worker.NewQueues(rdb)
	return metrics.New(metrics.Sources{
		Outbox: func(ctx context.Context, now time.Time) (metrics.Backlog, error) {
			b, err := db.OutboxBacklog(ctx, now)
			return metrics.Backlog{Pending: b.Pending, OldestDue: b.OldestDue}, err
		},
		Queues: func(context.Context) ([]metrics.Queue, error) {
			qs, err := queues.Stats()
			out := make([]metrics.Queue, 0, len(qs))
			for _, q := range qs {
				out = append(out, metrics.Queue{Name: q.Queue, States: q.States, Latency: q.Latency})
			}
			return out, err
		},
	}, log)
}
