package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
)

// TestBenchFanout runs omo bench fanout small, on a real redis-server and
// on the embedded Redis with a store audience, so that the benchmark keeps
// working: every phase runs and its checks hold. The figures are not
// checked (they depend on the machine).
func TestBenchFanout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		redis      bool
		recipients int64
		batches    int
		naive      int
	}{
		{"real redis, every follower", []string{"-followers", "1200"}, true, 1200, 3, 300},
		{"embedded redis, one store", []string{"-followers", "1200", "-store", "sh-001"}, false, 600, 2, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"bench", "fanout", "-json", "-naive", "300", "-send-rate", "50", "-send-warmup", "1s", "-send-duration", "2s", "-c", "4"}, tt.args...)
			if tt.redis {
				args = append(args, "-redis", testenv.Redis(t).URL())
			}
			stdout, stderr, err := runFor(t, 2*time.Minute, args, nil)
			if err != nil {
				t.Fatalf("omo %v: %v\n%s%s", args, err, stdout, stderr)
			}
			var rep fanoutReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("-json output: %v\n%s", err, stdout)
			}
			if !rep.OK || rep.Recipients != tt.recipients || rep.Plan.Ledger != tt.recipients || rep.Plan.Tasks != tt.batches {
				t.Errorf("recipients %d, ledger %d, tasks %d, ok %v; want %d, %d, %d, true",
					rep.Recipients, rep.Plan.Ledger, rep.Plan.Tasks, rep.OK, tt.recipients, tt.recipients, tt.batches)
			}
			if rep.Naive == nil || rep.Naive.Enqueued != tt.naive {
				t.Errorf("naive = %+v, want %d enqueued", rep.Naive, tt.naive)
			}
			if s := rep.Send; s == nil || s.Sends == 0 || s.Repeats != 0 || len(s.PerSecond) != 2 {
				t.Errorf("send = %+v, want sends in each of 2 seconds and no repeat", s)
			}
			if rep.RedisEmbedded == tt.redis {
				t.Errorf("redis_embedded = %v with -redis %v", rep.RedisEmbedded, tt.redis)
			}
		})
	}
}
