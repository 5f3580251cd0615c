package worker

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
)

func TestQuotaReset(t *testing.T) {
	t.Parallel()
	bj := time.FixedZone("Beijing", 8*3600)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		now  time.Time
		want time.Time
	}{
		{"Beijing afternoon", time.Date(2026, 12, 1, 15, 30, 0, 0, bj), time.Date(2026, 12, 2, 0, 0, 0, 0, bj)},
		{"a second before midnight", time.Date(2026, 12, 1, 23, 59, 59, 0, bj), time.Date(2026, 12, 2, 0, 0, 0, 0, bj)},
		{"exactly midnight: the next one", time.Date(2026, 12, 2, 0, 0, 0, 0, bj), time.Date(2026, 12, 3, 0, 0, 0, 0, bj)},
		{"just after midnight", time.Date(2026, 12, 2, 0, 0, 0, 1, bj), time.Date(2026, 12, 3, 0, 0, 0, 0, bj)},
		{"UTC afternoon is already tomorrow in Beijing", time.Date(2026, 12, 1, 16, 30, 0, 0, time.UTC), time.Date(2026, 12, 3, 0, 0, 0, 0, bj)},
		{"UTC morning", time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC), time.Date(2026, 12, 2, 0, 0, 0, 0, bj)},
		{"end of month", time.Date(2026, 2, 28, 12, 0, 0, 0, bj), time.Date(2026, 3, 1, 0, 0, 0, 0, bj)},
		{"leap day", time.Date(2028, 2, 28, 12, 0, 0, 0, bj), time.Date(2028, 2, 29, 0, 0, 0, 0, bj)},
		{"end of year", time.Date(2026, 12, 31, 23, 0, 0, 0, bj), time.Date(2027, 1, 1, 0, 0, 0, 0, bj)},
		{"New York evening", time.Date(2026, 12, 1, 20, 0, 0, 0, ny), time.Date(2026, 12, 3, 0, 0, 0, 0, bj)},
		{"New York on a DST day", time.Date(2026, 3, 8, 1, 30, 0, 0, ny), time.Date(2026, 3, 9, 0, 0, 0, 0, bj)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := QuotaReset(tt.now)
			if !got.Equal(tt.want) {
				t.Errorf("QuotaReset(%s) = %s, want %s", tt.now, got, tt.want)
			}
			if !got.After(tt.now) || got.Sub(tt.now) > 24*time.Hour {
				t.Errorf("QuotaReset(%s) = %s: want within the next 24h", tt.now, got)
			}
		})
	}
}

// TestLimiterTake drives the fixed window with given times on a real Redis.
func TestLimiterTake(t *testing.T) {
	t.Parallel()
	rs := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { rdb.Close() })
	l := &limiter{rdb: rdb, prefix: "omo:app:"}
	base := time.UnixMilli(1_800_000_000_000) // a whole second
	steps := []struct {
		key  string
		n    int
		per  time.Duration
		at   time.Duration // after base
		want time.Duration // 0 = allowed, else the wait until the window ends
	}{
		{"send", 3, time.Second, 100 * time.Millisecond, 0},
		{"send", 3, time.Second, 200 * time.Millisecond, 0},
		{"send", 3, time.Second, 300 * time.Millisecond, 0},
		{"send", 3, time.Second, 400 * time.Millisecond, 600 * time.Millisecond},
		{"send", 3, time.Second, 999 * time.Millisecond, time.Millisecond},
		{"campaign:a", 1, time.Second, 999 * time.Millisecond, 0}, // its own count
		{"send", 3, time.Second, time.Second, 0},                  // the next window
		{"send", 3, time.Second, 1500 * time.Millisecond, 0},
		{"send", 3, time.Second, 1600 * time.Millisecond, 0},
		{"send", 3, time.Second, 1700 * time.Millisecond, 300 * time.Millisecond},
		{"campaign:b", 2, time.Minute, 0, 0},
		{"campaign:b", 2, time.Minute, 30 * time.Second, 0},
		{"campaign:b", 2, time.Minute, 59 * time.Second, time.Second},
		{"campaign:b", 2, time.Minute, time.Minute, 0},
		{"unlimited", 0, time.Second, 0, 0},
		{"unlimited", 0, time.Second, 0, 0},
		{"no period", 1, 0, 0, 0}, // a payload without rate_per_ms: no limit, no panic
		{"no period", 1, 0, 0, 0},
	}
	for i, st := range steps {
		got, err := l.take(t.Context(), st.key, st.n, st.per, base.Add(st.at))
		if err != nil {
			t.Fatalf("step %d: take: %v", i, err)
		}
		if got != st.want {
			t.Errorf("step %d: take(%s, %d per %s) at +%s = %s, want %s", i, st.key, st.n, st.per, st.at, got, st.want)
		}
	}
	// Windows expire by themselves, a second after they end.
	key := fmt.Sprintf("omo:app:rate:send:%d", base.Unix())
	if ttl := rdb.PTTL(t.Context(), key).Val(); ttl <= 0 || ttl > 2*time.Second {
		t.Errorf("window key %s TTL = %s, want (0, 2s]", key, ttl)
	}
	if n := rdb.Exists(t.Context(), "omo:app:rate:unlimited:"+fmt.Sprint(base.Unix())).Val(); n != 0 {
		t.Errorf("an unlimited key was counted in Redis")
	}
}

func TestLimiterPause(t *testing.T) {
	t.Parallel()
	rs := testenv.Redis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	t.Cleanup(func() { rdb.Close() })
	l := &limiter{rdb: rdb, prefix: "omo:app:"}
	now := time.Now()
	if err := l.pause(t.Context(), "send:template", now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if d, err := l.paused(t.Context(), "send:template"); err != nil || d <= 59*time.Minute || d > time.Hour {
		t.Errorf("paused(send:template) = %s, %v; want just under 1h", d, err)
	}
	if d, err := l.paused(t.Context(), "send:custom"); err != nil || d != 0 {
		t.Errorf("paused(send:custom) = %s, %v; want 0", d, err)
	}
}

// TestSendRate: with SendRate 5, twenty queued messages never start more
// than five sends in one second window, across all the worker's
// goroutines, and all of them go.
func TestSendRate(t *testing.T) {
	t.Parallel()
	const rate, n = 5, 20
	rec := &recordingSender{}
	e := newEnv(t, envOptions{sendRate: rate, concurrency: n, wrap: func(s Sender) Sender { rec.Sender = s; return rec }})
	for i := range n {
		openid := fmt.Sprintf("o%02d", i)
		e.follow(openid)
		e.addSend(t, fmt.Sprintf("m%02d", i), outbox.SendTemplate, outbox.Message{ToUser: openid, TemplateID: tplCoupon}, time.Time{})
	}
	// Start just after a window begins, so the first sends cannot straddle two.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
	if got := e.sweep(t); got != n {
		t.Fatalf("Sweep enqueued %d, want %d", got, n)
	}
	waitFor(t, "all messages sent", func() bool {
		c, err := e.db.CountOutbox(t.Context())
		return err == nil && c[outbox.Done] == n
	})
	keys, err := e.rdb.Keys(t.Context(), "omo:"+testApp+":rate:send:*").Result()
	if err != nil || len(keys) == 0 {
		t.Errorf("rate window keys = %v, %v; want some", keys, err)
	}
	perWindow := map[int64]int{}
	for _, at := range rec.times() {
		perWindow[at.Unix()]++
	}
	total := 0
	for w, c := range perWindow {
		total += c
		if c > rate {
			t.Errorf("window %d started %d sends, want at most %d", w, c, rate)
		}
	}
	if total != n || len(e.sim.Templates(testApp)) != n {
		t.Errorf("sends started %d, delivered %d; want %d each", total, len(e.sim.Templates(testApp)), n)
	}
	if len(perWindow) < n/rate {
		t.Errorf("sends spread over %d windows, want at least %d", len(perWindow), n/rate)
	}
}
