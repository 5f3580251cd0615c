package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scraped is the collector of what is read at scrape time: the outbox
// backlog from the database and the queues from Redis. Both are the same
// for every omo process on that database and Redis, so aggregate them
// across instances with max, not sum.
type scraped struct {
	src Sources
	log *slog.Logger
	now func() time.Time

	pending, oldest *prometheus.Desc
	depth, latency  *prometheus.Desc
}

func newScraped(src Sources, log *slog.Logger) *scraped {
	return &scraped{src: src, log: log, now: time.Now,
		pending: prometheus.NewDesc("omo_outbox_pending",
			"Outbox items committed and not done yet (sends and calls waiting for the relay or a worker, delayed ones included).", nil, nil),
		oldest: prometheus.NewDesc("omo_outbox_oldest_pending_seconds",
			"How long the pending outbox item that has been due longest is past its run time (0 when none is due).", nil, nil),
		depth: prometheus.NewDesc("omo_queue_depth",
			"Tasks in an asynq queue by state (pending, active, scheduled, retry, archived, completed, aggregating).", []string{"queue", "state"}, nil),
		latency: prometheus.NewDesc("omo_queue_latency_seconds",
			"How long the oldest pending task of a queue has waited.", []string{"queue"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (s *scraped) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.pending
	ch <- s.oldest
	ch <- s.depth
	ch <- s.latency
}

// Collect implements prometheus.Collector: it reads the sources, each
// bounded by scrapeTimeout, and leaves out (with a log line) what failed.
func (s *scraped) Collect(ch chan<- prometheus.Metric) {
	if s.src.Outbox != nil {
		s.collectOutbox(ch)
	}
	if s.src.Queues != nil {
		s.collectQueues(ch)
	}
}

func (s *scraped) collectOutbox(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	now := s.now()
	b, err := s.src.Outbox(ctx, now)
	if err != nil {
		s.log.Warn("metrics: outbox backlog not read", "err", err)
		return
	}
	age := 0.0
	if !b.OldestDue.IsZero() {
		age = max(now.Sub(b.OldestDue).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(s.pending, prometheus.GaugeValue, float64(b.Pending))
	ch <- prometheus.MustNewConstMetric(s.oldest, prometheus.GaugeValue, age)
}

func (s *scraped) collectQueues(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	qs, err := s.src.Queues(ctx)
	if err != nil {
		s.log.Warn("metrics: queue depth not read", "err", err)
		return
	}
	for _, q := range qs {
		for state, n := range q.States {
			ch <- prometheus.MustNewConstMetric(s.depth, prometheus.GaugeValue, float64(n), q.Name, state)
		}
		ch <- prometheus.MustNewConstMetric(s.latency, prometheus.GaugeValue, q.Latency.Seconds(), q.Name)
	}
}
