package main

import (
	"encoding/json"
	"testing"
	"time"
)

// TestBenchWebhook runs omo bench webhook small against the in-process omo
// (SQLite) so that the benchmark keeps working: every acknowledged push is
// stored and the committer's figures, read from omo's /metrics, account for
// every push. The rates are not checked (they depend on the machine).
func TestBenchWebhook(t *testing.T) {
	t.Parallel()
	args := []string{"bench", "webhook", "-json", "-n", "400", "-warmup", "200ms", "-c", "8", "-baseline=false"}
	stdout, stderr, err := runFor(t, 2*time.Minute, args, nil)
	if err != nil {
		t.Fatalf("omo %v: %v\n%s%s", args, err, stdout, stderr)
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("omo bench webhook -json: %v\n%s", err, stdout)
	}
	if !rep.OK || rep.Omo == nil || rep.Omo.OK != 400 || rep.Stored == nil || !rep.Stored.OK {
		t.Fatalf("report: ok=%v omo=%+v stored=%+v", rep.OK, rep.Omo, rep.Stored)
	}
	c := rep.Committer
	if c == nil {
		t.Fatalf("no committer figures in the report (omo's /metrics not read)\n%s", stdout)
	}
	if acked := rep.Stored.Acknowledged; c.Writes < float64(acked) || c.Batches == 0 || float64(c.Batches) > c.Writes || c.Singles > c.Batches || c.CommitMean <= 0 {
		t.Errorf("committer = %+v for %d acknowledged pushes: want at least one write per push, 1 <= batches <= writes, batches of one <= batches, a commit time", c, acked)
	}
}

// TestCommitterSince: the committer's figures are the difference of two
// scrapes, and none when the second is not a later scrape of the same
// process.
func TestCommitterSince(t *testing.T) {
	before := committerSnapshot{batches: 10, singles: 4, commits: 10, waits: 10, writes: 50, commitSum: 0.01, waitSum: 0.005}
	after := committerSnapshot{batches: 30, singles: 9, commits: 30, waits: 30, writes: 250, commitSum: 0.05, waitSum: 0.025}
	st := after.since(before)
	if st == nil || st.Batches != 20 || st.Writes != 200 || st.Singles != 5 || st.CommitMean != 2*time.Millisecond || st.WaitMean != time.Millisecond {
		t.Errorf("since = %+v, want 20 batches, 200 writes, 5 of one, commit 2ms, wait 1ms", st)
	}
	if st := before.since(after); st != nil {
		t.Errorf("since a later snapshot (a restarted target) = %+v, want none", st)
	}
}
