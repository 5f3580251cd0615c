// Package redisx opens the Redis that omo's queue and shared WeChat token
// live in: a real server from redis.url, or, when the URL is empty, an
// embedded in-process Redis (miniredis) for a single dev node.
//
// The embedded Redis keeps nothing across a restart and does about 2k
// tasks/s; the database outbox is then the source of truth, and start-up
// re-enqueues every send that is not done. miniredis moves TTLs only when
// told, so a goroutine fast-forwards it with the wall clock every 250 ms
// (without that, asynq's leases and unique locks never expire).
package redisx

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// Redis is an open Redis connection and, when embedded, the server behind it.
type Redis struct {
	Client   redis.UniversalClient
	Embedded bool
	mini     *miniredis.Miniredis
	stop     chan struct{}
	done     chan struct{}
}

// Open connects to url, or starts an embedded Redis when url is "". A URL
// that does not parse is an error naming redis.url; a server that does not
// answer is not (the queue retries), so omo can start while Redis is down.
func Open(url string, log *slog.Logger) (*Redis, error) {
	redis.SetLogger(redisLogger{log})
	if url == "" {
		return openEmbedded(log)
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis.url: %w", err)
	}
	opt.PoolSize = 64
	return &Redis{Client: redis.NewClient(opt)}, nil
}

func openEmbedded(log *slog.Logger) (*Redis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("embedded redis: %w", err)
	}
	log.Warn("redis.url is empty: using an embedded in-process Redis; the queue is ephemeral and lost on restart (the database outbox re-enqueues unfinished sends at start-up); single node, dev only", "addr", m.Addr())
	r := &Redis{
		Client:   redis.NewClient(&redis.Options{Addr: m.Addr(), PoolSize: 64}),
		Embedded: true,
		mini:     m,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go r.fastForward()
	return r, nil
}

func (r *Redis) fastForward() {
	defer close(r.done)
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.mini.FastForward(now.Sub(last))
			r.mini.SetTime(now)
			last = now
		}
	}
}

// Addr is the embedded server's address ("" for an external Redis).
func (r *Redis) Addr() string {
	if r.mini == nil {
		return ""
	}
	return r.mini.Addr()
}

// Ping checks that Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.Client.Ping(ctx).Err() }

// Close closes the client and stops the embedded server.
func (r *Redis) Close() error {
	err := r.Client.Close()
	if r.mini != nil {
		close(r.stop)
		<-r.done
		r.mini.Close()
	}
	return err
}

// redisLogger sends go-redis's own messages (connection failures, mostly)
// through slog instead of its stderr logger. go-redis has one logger per
// process, so the last Open's wins.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}
