package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
)

// laterSet adds to the welcome set a campaign whose template goes out an
// hour after the follow, so that one send stays pending (in the outbox and
// scheduled in the queue) while the test looks.
const laterSet = `---
kind: Campaign
id: later
on: {event: subscribe, scene_prefix: "store:"}
do:
  - send_template:
      template_id: TPL_LATER
      page: pages/index/index
      data: {thing1: "See you soon"}
    delay: 1h
`

// TestMetricsCoverThePath plays one follow through an in-process omo serve
// whose first template send WeChat fails (-1) and whose second campaign's
// send waits an hour, then scrapes /metrics: the committer's batches, the
// sends by kind, outcome and errcode, the token refresh, the outbox backlog
// and the queue depth are all there with the values the follow implies.
func TestMetricsCoverThePath(t *testing.T) {
	t.Parallel()
	r := startCampaigns(t, testenv.SQLiteURL(t), welcomeSet(100, 0)+laterSet)
	r.sim.Inject(templateSend, -1, 1) // the welcome send is retried (5 s) and then goes out
	if got := push(t, r.sim, r.follow("o-alice")); got != welcomeReply {
		t.Fatalf("reply to the follow = %q, want %q", got, welcomeReply)
	}
	msg := r.settledWelcome(t, "o-alice", 20*time.Second, "the welcome message sent after WeChat's -1")
	if msg.State != outbox.MsgSent {
		t.Fatalf("welcome message = %s, want sent", msgText(msg))
	}
	waitFor(t, 10*time.Second, "only the delayed send pending", func() (bool, error) {
		c, err := r.db.CountOutbox(context.Background())
		return err == nil && c[outbox.Pending] == 1, err
	})

	var m scrape
	waitFor(t, 10*time.Second, "the delayed task scheduled in the queue", func() (bool, error) {
		var err error
		m, err = scrapeMetrics(r.omo.URL)
		v, _ := m.value("omo_queue_depth", "queue", "default", "state", "scheduled")
		return err == nil && v == 1, err
	})

	if n := m.must(t, "omo_committer_batch_size_count"); n < 4 {
		// at least: the follow, user/info done, the failed attempt, the send
		t.Errorf("omo_committer_batch_size_count = %v, want at least 4", n)
	}
	if sum, n := m.must(t, "omo_committer_batch_size_sum"), m.must(t, "omo_committer_batch_size_count"); sum < n {
		t.Errorf("omo_committer_batch_size_sum = %v below its count %v: every batch holds a write", sum, n)
	}
	if n, want := m.must(t, "omo_committer_wait_seconds_count"), m.must(t, "omo_committer_batch_size_count"); n != want {
		t.Errorf("omo_committer_wait_seconds_count = %v, want one per batch (%v)", n, want)
	}
	if s := m.must(t, "omo_committer_commit_seconds_sum"); s <= 0 || s > 10 {
		t.Errorf("omo_committer_commit_seconds_sum = %v, want a positive time well under 10 s", s)
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"kind", "send:template", "outcome", "sent", "errcode", "0"}, 1},
		{[]string{"kind", "send:template", "outcome", "unavailable", "errcode", "-1"}, 1},
	} {
		if got, ok := m.value("omo_sends_total", c.labels...); !ok || got != c.want {
			t.Errorf("omo_sends_total%v = %v (present %v), want %v", c.labels, got, ok, c.want)
		}
	}
	if got, ok := m.value("omo_token_refreshes_total", "app", "oa", "result", "ok"); !ok || got != 1 {
		t.Errorf(`omo_token_refreshes_total{app="oa",result="ok"} = %v (present %v), want 1`, got, ok)
	}
	if got := m.must(t, "omo_outbox_pending"); got != 1 {
		t.Errorf("omo_outbox_pending = %v, want 1 (the send an hour away)", got)
	}
	if got := m.must(t, "omo_outbox_oldest_pending_seconds"); got != 0 {
		t.Errorf("omo_outbox_oldest_pending_seconds = %v, want 0 (nothing pending is due)", got)
	}
	for _, state := range []string{"pending", "active", "retry", "archived"} {
		if got, ok := m.value("omo_queue_depth", "queue", "default", "state", state); !ok || got != 0 {
			t.Errorf(`omo_queue_depth{queue="default",state=%q} = %v (present %v), want 0`, state, got, ok)
		}
	}
	if _, ok := m.value("omo_queue_latency_seconds", "queue", "default"); !ok {
		t.Error(`omo_queue_latency_seconds{queue="default"} missing`)
	}
	if got, ok := m.value("omo_webhook_pushes_total", "outcome", "handled", "type", "subscribe"); !ok || got != 1 {
		t.Logf("webhook series: %v", m.names("omo_webhook_pushes_total"))
		t.Errorf(`omo_webhook_pushes_total{outcome="handled",type="subscribe"} = %v (present %v), want 1`, got, ok)
	}
}

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrape is what GET /metrics answered.
type scrape []sample

// scrapeMetrics reads omoURL/metrics.
func scrapeMetrics(omoURL string) (scrape, error) {
	resp, err := http.Get(omoURL + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET /metrics: %s: %s", resp.Status, b)
	}
	var out scrape
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// parseSample parses `name{k="v",...} value` (no timestamps, no escapes
// beyond \" and \\, which omo's label values never need).
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.LastIndexByte(line, ' ')
	if i < 0 {
		return s, fmt.Errorf("metrics line %q: no value", line)
	}
	v, err := strconv.ParseFloat(line[i+1:], 64)
	if err != nil {
		return s, fmt.Errorf("metrics line %q: %w", line, err)
	}
	s.value = v
	series := line[:i]
	name, rest, hasLabels := strings.Cut(series, "{")
	s.name = name
	if !hasLabels {
		return s, nil
	}
	rest = strings.TrimSuffix(rest, "}")
	for rest != "" {
		k, after, ok := strings.Cut(rest, `="`)
		if !ok {
			return s, fmt.Errorf("metrics line %q: bad labels", line)
		}
		var b strings.Builder
		j := 0
		for ; j < len(after) && after[j] != '"'; j++ {
			if after[j] == '\\' && j+1 < len(after) {
				j++
			}
			b.WriteByte(after[j])
		}
		s.labels[k] = b.String()
		rest = strings.TrimPrefix(after[min(j+1, len(after)):], ",")
	}
	return s, nil
}

// value returns the sample of name whose labels are exactly kv (pairs).
func (m scrape) value(name string, kv ...string) (float64, bool) {
	for _, s := range m {
		if s.name != name || len(s.labels) != len(kv)/2 {
			continue
		}
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			match = match && s.labels[kv[i]] == kv[i+1]
		}
		if match {
			return s.value, true
		}
	}
	return 0, false
}

// must returns the unlabelled sample name, failing the test if missing.
func (m scrape) must(t *testing.T, name string) float64 {
	t.Helper()
	v, ok := m.value(name)
	if !ok {
		t.Fatalf("%s missing from /metrics", name)
	}
	return v
}

// names lists the label sets of name, for failure messages.
func (m scrape) names(name string) []map[string]string {
	var out []map[string]string
	for _, s := range m {
		if s.name == name {
			out = append(out, s.labels)
		}
	}
	return out
}
