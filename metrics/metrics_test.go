package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// gather registers m on a pedantic registry (which checks every metric
// against its description) and returns the families by name.
func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m.Collectors()...)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		out[f.GetName()] = f
	}
	return out
}

// value returns the value of the counter or gauge of family name whose
// labels are want, and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		l := labels(m)
		match := len(l) == len(want)
		for k, v := range want {
			match = match && l[k] == v
		}
		if !match {
			continue
		}
		if c := m.GetCounter(); c != nil {
			return c.GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

// labels returns a metric's labels as a map.
func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestObservers(t *testing.T) {
	t.Parallel()
	m := New(Sources{}, nil)
	m.Batch(3, 2*time.Millisecond, time.Millisecond)
	m.Batch(1, 0, time.Millisecond)
	m.Conflicts(2)
	m.SendOutcome("send:template", "sent", 0)
	m.SendOutcome("send:template", "sent", 0)
	m.SendOutcome("send:template", "unavailable", -1)
	m.TokenRefresh("oa", true)
	m.TokenRefresh("mp", false)

	fams := gather(t, m)
	h := fams["omo_committer_batch_size"].GetMetric()[0].GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() != 4 {
		t.Errorf("omo_committer_batch_size: count %d, sum %v; want 2, 4", h.GetSampleCount(), h.GetSampleSum())
	}
	w := fams["omo_committer_wait_seconds"].GetMetric()[0].GetHistogram()
	if w.GetSampleCount() != 2 || w.GetSampleSum() != 0.002 {
		t.Errorf("omo_committer_wait_seconds: count %d, sum %v; want 2, 0.002", w.GetSampleCount(), w.GetSampleSum())
	}
	if c := fams["omo_committer_commit_seconds"].GetMetric()[0].GetHistogram().GetSampleCount(); c != 2 {
		t.Errorf("omo_committer_commit_seconds count = %d, want 2", c)
	}
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"omo_sends_total", map[string]string{"kind": "send:template", "outcome": "sent", "errcode": "0"}, 2},
		{"omo_sends_total", map[string]string{"kind": "send:template", "outcome": "unavailable", "errcode": "-1"}, 1},
		{"omo_committer_conflicts_total", map[string]string{}, 2},
		{"omo_token_refreshes_total", map[string]string{"app": "oa", "result": "ok"}, 1},
		{"omo_token_refreshes_total", map[string]string{"app": "mp", "result": "error"}, 1},
	} {
		if got, ok := value(fams, tt.name, tt.labels); !ok || got != tt.want {
			t.Errorf("%s%v = %v (found %v), want %v", tt.name, tt.labels, got, ok, tt.want)
		}
	}
	if _, ok := fams["omo_outbox_pending"]; ok {
		t.Error("omo_outbox_pending reported without an outbox source")
	}
}

func TestScraped(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	m := New(Sources{
		Outbox: func(ctx context.Context, at time.Time) (Backlog, error) {
			if !at.Equal(now) {
				t.Errorf("outbox read at %v, want %v", at, now)
			}
			return Backlog{Pending: 3, OldestDue: now.Add(-90 * time.Second)}, nil
		},
		Queues: func(ctx context.Context) ([]Queue, error) {
			return []Queue{{Name: "default", States: map[string]int{"pending": 5, "active": 2}, Latency: 1500 * time.Millisecond}}, nil
		},
	}, nil)
	m.scraped.now = func() time.Time { return now }

	fams := gather(t, m)
	gauge := func(name string) float64 {
		f := fams[name]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("%s: %v, want one gauge", name, f)
		}
		return f.GetMetric()[0].GetGauge().GetValue()
	}
	if got := gauge("omo_outbox_pending"); got != 3 {
		t.Errorf("omo_outbox_pending = %v, want 3", got)
	}
	if got := gauge("omo_outbox_oldest_pending_seconds"); got != 90 {
		t.Errorf("omo_outbox_oldest_pending_seconds = %v, want 90", got)
	}
	if got := gauge("omo_queue_latency_seconds"); got != 1.5 {
		t.Errorf("omo_queue_latency_seconds = %v, want 1.5", got)
	}
	depth := map[string]float64{}
	for _, mt := range fams["omo_queue_depth"].GetMetric() {
		l := labels(mt)
		if l["queue"] != "default" {
			t.Errorf("omo_queue_depth with queue %q, want default", l["queue"])
		}
		depth[l["state"]] = mt.GetGauge().GetValue()
	}
	if depth["pending"] != 5 || depth["active"] != 2 || len(depth) != 2 {
		t.Errorf("omo_queue_depth by state = %v, want pending 5, active 2", depth)
	}
}

// TestScrapedSourceDown leaves out what cannot be read: the scrape itself
// still succeeds, so the process's own metrics stay visible while the
// database or Redis is down.
func TestScrapedSourceDown(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	m := New(Sources{
		Outbox: func(context.Context, time.Time) (Backlog, error) { return Backlog{}, down },
		Queues: func(context.Context) ([]Queue, error) { return nil, down },
	}, nil)
	m.Batch(1, 0, 0)
	fams := gather(t, m)
	for _, name := range []string{"omo_outbox_pending", "omo_outbox_oldest_pending_seconds", "omo_queue_depth"} {
		if _, ok := fams[name]; ok {
			t.Errorf("%s reported although its source failed", name)
		}
	}
	if _, ok := fams["omo_committer_batch_size"]; !ok {
		t.Error("omo_committer_batch_size missing: a failed source must not hide the rest")
	}
}

// TestOldestNotDue reports 0 when items are pending but none is due yet.
func TestOldestNotDue(t *testing.T) {
	t.Parallel()
	m := New(Sources{Outbox: func(context.Context, time.Time) (Backlog, error) { return Backlog{Pending: 1}, nil }}, nil)
	fams := gather(t, m)
	if got := fams["omo_outbox_oldest_pending_seconds"].GetMetric()[0].GetGauge().GetValue(); got != 0 {
		t.Errorf("omo_outbox_oldest_pending_seconds = %v, want 0", got)
	}
}
