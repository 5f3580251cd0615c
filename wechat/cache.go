package wechat

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/cache"
)

// cacheOpTimeout bounds the Redis calls of the context-less Cache methods.
const cacheOpTimeout = 3 * time.Second

// RedisCache is silenceper's cache.Cache (and cache.ContextCache) over
// go-redis v9; silenceper's own Redis cache is built on go-redis v8 and its
// in-memory one races. Values are stored as strings and Get returns a string
// (silenceper type-asserts val.(string)); a miss or a Redis failure is nil,
// which silenceper treats as "fetch again". Keys get Prefix. Safe for
// concurrent use.
type RedisCache struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ cache.ContextCache = (*RedisCache)(nil)

// bounded runs op with a context that ends after cacheOpTimeout: the
// context-less Cache methods must not wait on Redis for ever.
func bounded[T any](op func(context.Context) T) T {
	ctx, cancel := context.WithTimeout(context.Background(), cacheOpTimeout)
	defer cancel()
	return op(ctx)
}

// NewRedisCache returns a cache storing its keys under prefix in rdb.
func NewRedisCache(rdb redis.UniversalClient, prefix string) *RedisCache {
	return &RedisCache{rdb: rdb, prefix: prefix}
}

// Get returns the string stored at key, or nil if there is none.
func (c *RedisCache) Get(key string) any {
	return bounded(func(ctx context.Context) any { return c.GetContext(ctx, key) })
}

// GetContext returns the string stored at key, or nil if there is none.
func (c *RedisCache) GetContext(ctx context.Context, key string) any {
	v, err := c.rdb.Get(ctx, c.prefix+key).Result()
	if err != nil {
		return nil
	}
	return v
}

// Set stores val (a string, []byte, or anything fmt prints) for timeout; a
// timeout of 0 or less keeps it until deleted.
func (c *RedisCache) Set(key string, val any, timeout time.Duration) error {
	return bounded(func(ctx context.Context) error { return c.SetContext(ctx, key, val, timeout) })
}

// SetContext is Set with a context.
func (c *RedisCache) SetContext(ctx context.Context, key string, val any, timeout time.Duration) error {
	var s string
	switch v := val.(type) {
	case string:
		s = v
	case []byte:
		s = string(v)
	default:
		s = fmt.Sprint(v)
	}
	if timeout < 0 {
		timeout = 0
	}
	return c.rdb.Set(ctx, c.prefix+key, s, timeout).Err()
}

// IsExist reports whether key holds a value; a Redis failure reports false.
func (c *RedisCache) IsExist(key string) bool {
	return bounded(func(ctx context.Context) bool { return c.IsExistContext(ctx, key) })
}

// IsExistContext is IsExist with a context.
func (c *RedisCache) IsExistContext(ctx context.Context, key string) bool {
	n, err := c.rdb.Exists(ctx, c.prefix+key).Result()
	return err == nil && n > 0
}

// Delete removes key; deleting a missing key is not an error.
func (c *RedisCache) Delete(key string) error {
	return bounded(func(ctx context.Context) error { return c.DeleteContext(ctx, key) })
}

// DeleteContext is Delete with a context.
func (c *RedisCache) DeleteContext(ctx context.Context, key string) error {
	err := c.rdb.Del(ctx, c.prefix+key).Err()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
