package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// committerStats is what omo's group committer did during a bench run, read
// from the target's /metrics before and after (omo_committer_*): how many
// transactions, how many writes each, and how long a transaction took.
type committerStats struct {
	Batches    uint64        `json:"batches"`
	Writes     float64       `json:"writes"`
	Singles    uint64        `json:"batches_of_one"` // batches that held one write
	CommitMean time.Duration `json:"commit_mean_ns"` // begin to commit, mean
	WaitMean   time.Duration `json:"wait_mean_ns"`   // the oldest write's wait before begin, mean
}

// committerSnapshot is one scrape of the committer's histograms.
type committerSnapshot struct {
	batches, singles, commits, waits uint64
	writes, commitSum, waitSum       float64
}

// metricsURL is /metrics on the host of the webhook URL.
func metricsURL(webhook string) (string, error) {
	u, err := url.Parse(webhook)
	if err != nil {
		return "", err
	}
	u.Path, u.RawQuery = "/metrics", ""
	return u.String(), nil
}

// scrapeCommitter reads the omo_committer_* histograms at the /metrics URL.
func scrapeCommitter(ctx context.Context, metrics string) (committerSnapshot, error) {
	var s committerSnapshot
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metrics, nil)
	if err != nil {
		return s, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("GET %s: %s", metrics, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return s, fmt.Errorf("GET %s: %w", metrics, err)
	}
	hist := func(name string) *dto.Histogram {
		f := fams[name]
		if f == nil || len(f.GetMetric()) == 0 {
			return nil
		}
		return f.GetMetric()[0].GetHistogram()
	}
	size := hist("omo_committer_batch_size")
	if size == nil {
		return s, fmt.Errorf("GET %s: no omo_committer_batch_size (not an omo?)", metrics)
	}
	s.batches, s.writes = size.GetSampleCount(), size.GetSampleSum()
	for _, b := range size.GetBucket() {
		if b.GetUpperBound() == 1 {
			s.singles = b.GetCumulativeCount()
		}
	}
	if h := hist("omo_committer_commit_seconds"); h != nil {
		s.commits, s.commitSum = h.GetSampleCount(), h.GetSampleSum()
	}
	if h := hist("omo_committer_wait_seconds"); h != nil {
		s.waits, s.waitSum = h.GetSampleCount(), h.GetSampleSum()
	}
	return s, nil
}

// since is what happened between the snapshots o and s; nil when s is not
// a later snapshot of the same process (a count went down: the target
// restarted, or a load balancer sent the two scrapes to two instances).
func (s committerSnapshot) since(o committerSnapshot) *committerStats {
	if s.batches < o.batches || s.writes < o.writes || s.singles < o.singles || s.commits < o.commits || s.waits < o.waits {
		return nil
	}
	st := &committerStats{Batches: s.batches - o.batches, Writes: s.writes - o.writes, Singles: s.singles - o.singles}
	mean := func(sum float64, n uint64) time.Duration {
		if n == 0 {
			return 0
		}
		return time.Duration(sum / float64(n) * float64(time.Second))
	}
	st.CommitMean = mean(s.commitSum-o.commitSum, s.commits-o.commits)
	st.WaitMean = mean(s.waitSum-o.waitSum, s.waits-o.waits)
	return st
}

// line is the committer's summary for the bench's table.
func (st *committerStats) line() string {
	if st.Batches == 0 {
		return "committer: no transactions"
	}
	return fmt.Sprintf("committer: %d transactions, %.1f writes each, %.0f%% of them one write alone; %.2fms begin to commit, oldest write waited %.2fms (means, warm-up included)",
		st.Batches, st.Writes/float64(st.Batches), 100*float64(st.Singles)/float64(st.Batches),
		float64(st.CommitMean)/float64(time.Millisecond), float64(st.WaitMean)/float64(time.Millisecond))
}
