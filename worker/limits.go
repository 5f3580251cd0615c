package worker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// limiter holds the state every worker process shares through Redis: the
// per-app send rate and the pauses set when WeChat's daily quota is spent.
type limiter struct {
	rdb    redis.UniversalClient
	prefix string // omo:<appid>:
}

// pause stops sends of kind until until.
func (l *limiter) pause(ctx context.Context, kind string, until time.Time, now time.Time) error {
	return l.rdb.Set(ctx, l.prefix+"pause:"+kind, until.UTC().Format(time.RFC3339), until.Sub(now)).Err()
}

// paused returns how long sends of kind are still paused (0 if not).
func (l *limiter) paused(ctx context.Context, kind string) (time.Duration, error) {
	d, err := l.rdb.PTTL(ctx, l.prefix+"pause:"+kind).Result()
	if err != nil || d < 0 {
		return 0, err
	}
	return d, nil
}

// take takes one unit from the window of key: at most n per per across all
// processes. It returns 0 when allowed, else how long until the window
// ends. Fixed windows are enough here: WeChat's own limits are per minute
// and per day.
func (l *limiter) take(ctx context.Context, key string, n int, per time.Duration, now time.Time) (time.Duration, error) {
	if n <= 0 || per < time.Millisecond {
		return 0, nil // no limit (a zero period would divide by zero)
	}
	window := now.UnixMilli() / per.Milliseconds()
	k := l.prefix + "rate:" + key + ":" + strconv.FormatInt(window, 10)
	pipe := l.rdb.TxPipeline()
	incr := pipe.Incr(ctx, k)
	pipe.PExpire(ctx, k, per+time.Second)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, fmt.Errorf("rate limiter: %w", err)
	}
	if incr.Val() <= int64(n) {
		return 0, nil
	}
	end := time.UnixMilli((window + 1) * per.Milliseconds())
	return end.Sub(now), nil
}

// QuotaReset is when WeChat's daily API quotas reset after now: midnight,
// Beijing time.
func QuotaReset(now time.Time) time.Time {
	bj := time.FixedZone("CST", 8*3600)
	t := now.In(bj)
	return time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, bj)
}
