// Package metrics is omo's instrumentation of the whole path, from the
// committer to WeChat, in Prometheus form. The packages it measures declare
// the small observer interfaces it implements (sqldb.Observer,
// worker.SendObserver, wechat.TokenObserver), so none of them imports a
// metrics library, and this package imports none of them: cmd/omo wires
// both sides. What lives in the database and Redis (the outbox backlog,
// the queues) is read when /metrics is scraped, through Sources.
package metrics

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scrapeTimeout bounds the database and Redis reads of one scrape.
const scrapeTimeout = 2 * time.Second

// Backlog is the outbox's pending work at one moment.
type Backlog struct {
	Pending   int       // items committed and not done yet, due or not
	OldestDue time.Time // run time of the item due longest; zero if none is due
}

// Queue is one queue's tasks by state and the wait of its oldest pending task.
type Queue struct {
	Name    string
	States  map[string]int
	Latency time.Duration
}

// Sources are read at every scrape. A nil source is left out; one that
// fails is logged and its metrics are left out of that scrape, so /metrics
// still answers while the database or Redis is down.
type Sources struct {
	Outbox func(ctx context.Context, now time.Time) (Backlog, error)
	Queues func(ctx context.Context) ([]Queue, error)
}

// Metrics holds omo's whole-path metrics. Its methods are safe for
// concurrent use and never block.
type Metrics struct {
	batchSize      prometheus.Histogram
	batchWait      prometheus.Histogram
	batchCommit    prometheus.Histogram
	conflicts      prometheus.Counter
	sends          *prometheus.CounterVec
	tokenRefreshes *prometheus.CounterVec
	scraped        *scraped
}

// New returns the metrics, reading src at scrape time.
func New(src Sources, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Metrics{
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "omo_committer_batch_size",
			Help:    "Writes per transaction of the group committer.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}),
		batchWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "omo_committer_wait_seconds",
			Help:    "How long the oldest write of a batch waited for the committer before its transaction began.",
			Buckets: []float64{.0001, .0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1},
		}),
		batchCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "omo_committer_commit_seconds",
			Help:    "How long a batch's transaction took, begin to commit.",
			Buckets: []float64{.0001, .0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1},
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "omo_committer_conflicts_total",
			Help: "Writes that lost a deadlock to another process's transaction (PostgreSQL) and ran again.",
		}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omo_sends_total",
			Help: "Calls to WeChat that deliver a message, by send kind, outcome (sent or the error class) and WeChat errcode.",
		}, []string{"kind", "outcome", "errcode"}),
		tokenRefreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "omo_token_refreshes_total",
			Help: "Access-token refreshes this process made at WeChat, by app (oa, mp) and result (ok, error).",
		}, []string{"app", "result"}),
		scraped: newScraped(src, log),
	}
}

// Collectors returns every metric, to register with a Prometheus registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.batchSize, m.batchWait, m.batchCommit, m.conflicts, m.sends, m.tokenRefreshes, m.scraped}
}

// Batch records one transaction of the group committer (sqldb.Observer).
func (m *Metrics) Batch(size int, wait, commit time.Duration) {
	m.batchSize.Observe(float64(size))
	m.batchWait.Observe(wait.Seconds())
	m.batchCommit.Observe(commit.Seconds())
}

// Conflicts counts writes run again after losing a deadlock (sqldb.Observer).
func (m *Metrics) Conflicts(n int) { m.conflicts.Add(float64(n)) }

// SendOutcome counts one call to WeChat that delivers a message
// (worker.SendObserver).
func (m *Metrics) SendOutcome(kind, outcome string, errcode int) {
	m.sends.WithLabelValues(kind, outcome, strconv.Itoa(errcode)).Inc()
}

// TokenRefresh counts one access-token refresh (wechat.TokenObserver).
func (m *Metrics) TokenRefresh(app string, ok bool) {
	result := "ok"
	if !ok {
		result = "error"
	}
	m.tokenRefreshes.WithLabelValues(app, result).Inc()
}
