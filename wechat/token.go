package wechat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/silenceper/wechat/v2/credential"
)

const (
	// tokenMargin is taken off expires_in before caching a token, so omo
	// moves to a new one while the old is still good.
	tokenMargin = 5 * time.Minute
	// lockPoll is how often a process waiting for another's refresh re-reads.
	lockPoll = 25 * time.Millisecond
	// recentTokens is how many of its tokens a store keeps routed.
	recentTokens = 4
)

// compareAndDelete deletes KEYS[1] only if it still holds ARGV[1]: a process
// drops the token (or lock) it saw, never one another process just wrote.
var compareAndDelete = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0`)

// tokenStore is one app's access token, shared by every omo process through
// Redis. A miss is refilled by exactly one process at a time (a SET NX PX
// lock); the others poll until it is there. It fetches with
// /cgi-bin/stable_token, which leaves the previous token valid for 5 minutes,
// so a refresh never breaks another process's call in flight.
//
// It is silenceper's access-token handle for its app, so silenceper calls get
// the shared token too. Safe for concurrent use.
type tokenStore struct {
	c       *Client
	kind    string // "oa" or "mp": separate keys even if app ids were reused
	appID   string
	secret  string
	key     string
	lockKey string
	lockTTL time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	recent []string // tokens registered in tokenRoutes, oldest first
}

var _ credential.AccessTokenContextHandle = (*tokenStore)(nil)

func newTokenStore(c *Client, kind, appID, secret string, log *slog.Logger) *tokenStore {
	key := "omo:wechat:" + kind + ":" + appID + ":access_token"
	return &tokenStore{
		c: c, kind: kind, appID: appID, secret: secret,
		key: key, lockKey: key + ":lock",
		// long enough for one fetch (two with force_refresh) and the writes
		lockTTL: 2*c.rt.timeout + 2*time.Second,
		log:     log.With("app_id", appID, "app", kind),
	}
}

// GetAccessToken implements credential.AccessTokenHandle for silenceper.
func (s *tokenStore) GetAccessToken() (string, error) {
	return s.GetAccessTokenContext(context.Background())
}

// GetAccessTokenContext implements credential.AccessTokenContextHandle.
func (s *tokenStore) GetAccessTokenContext(ctx context.Context) (string, error) {
	return s.get(ctx, "")
}

// get returns the shared token, fetching it if Redis has none. rejected is a
// token WeChat just refused ("" if none): it is never returned, and a fetch
// that yields it again is repeated with force_refresh.
func (s *tokenStore) get(ctx context.Context, rejected string) (string, error) {
	deadline := time.Now().Add(s.lockTTL + s.c.rt.timeout)
	for {
		tok, err := s.c.rdb.Get(ctx, s.key).Result()
		switch {
		case err == nil && tok != "" && tok != rejected:
			s.route(tok)
			return tok, nil
		case err != nil && !errors.Is(err, redis.Nil):
			return "", fmt.Errorf("read access token: %w", err)
		}
		tok, locked, err := s.refreshLocked(ctx, rejected)
		if err != nil || locked {
			return tok, err
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("access token: another process holds the refresh lock: %w", context.DeadlineExceeded)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(lockPoll):
		}
	}
}

// renew drops rejected from Redis (if it is still the cached token) and
// returns a token other than rejected.
func (s *tokenStore) renew(ctx context.Context, rejected string) (string, error) {
	if err := compareAndDelete.Run(ctx, s.c.rdb, []string{s.key}, rejected).Err(); err != nil {
		return "", fmt.Errorf("drop access token: %w", err)
	}
	return s.get(ctx, rejected)
}

// refreshLocked fetches and caches a token if it wins the refresh lock;
// locked is false when another process holds it.
func (s *tokenStore) refreshLocked(ctx context.Context, rejected string) (tok string, locked bool, err error) {
	owner := randomHex()
	ok, err := s.c.rdb.SetNX(ctx, s.lockKey, owner, s.lockTTL).Result()
	if err != nil {
		return "", false, fmt.Errorf("lock access token: %w", err)
	}
	if !ok {
		return "", false, nil
	}
	defer func() {
		// a fresh context: the lock must go even if ctx was cancelled
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = compareAndDelete.Run(rctx, s.c.rdb, []string{s.lockKey}, owner).Err()
	}()
	// someone may have refilled it between our read and our lock
	if cur, err := s.c.rdb.Get(ctx, s.key).Result(); err == nil && cur != "" && cur != rejected {
		s.route(cur)
		return cur, true, nil
	}
	tok, ttl, err := s.fetch(ctx, false)
	if err == nil && tok == rejected {
		// WeChat still hands out the token it refused: make it issue a new one
		tok, ttl, err = s.fetch(ctx, true)
	}
	if s.c.tokens != nil {
		s.c.tokens.TokenRefresh(s.kind, err == nil)
	}
	if err != nil {
		return "", true, err
	}
	if err := s.c.rdb.Set(ctx, s.key, tok, ttl).Err(); err != nil {
		return "", true, fmt.Errorf("store access token: %w", err)
	}
	s.route(tok)
	return tok, true, nil
}

// fetch asks WeChat for a token (POST /cgi-bin/stable_token, called here:
// silenceper's StableAccessToken locks per process only and its errors are
// text) and returns it with how long to cache it.
func (s *tokenStore) fetch(ctx context.Context, force bool) (string, time.Duration, error) {
	req := map[string]any{
		"grant_type": "client_credential", "appid": s.appID, "secret": s.secret, "force_refresh": force,
	}
	var res struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	const op = "stable_token"
	if err := s.c.callJSON(ctx, op, "https://api.weixin.qq.com/cgi-bin/stable_token", req, &res); err != nil {
		return "", 0, fail(op, err)
	}
	if res.AccessToken == "" || res.ExpiresIn <= 0 {
		return "", 0, fmt.Errorf("wechat %s: answer without access_token or expires_in", op)
	}
	s.log.Info("wechat access token fetched", "force_refresh", force, "expires_in", res.ExpiresIn)
	return res.AccessToken, cacheTTL(time.Duration(res.ExpiresIn) * time.Second), nil
}

// cacheTTL is how long a token valid for expiresIn stays in Redis: the
// margin off, or half its life for short-lived (test) tokens.
func cacheTTL(expiresIn time.Duration) time.Duration {
	if expiresIn > 2*tokenMargin {
		return expiresIn - tokenMargin
	}
	return max(expiresIn/2, time.Second)
}

// route registers tok to this Client's rewriter for silenceper's calls (see
// transport.go) and unregisters the oldest of this store's tokens.
func (s *tokenStore) route(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.recent {
		if t == tok {
			return
		}
	}
	tokenRoutes.Store(tok, s.c.rt)
	s.recent = append(s.recent, tok)
	if len(s.recent) > recentTokens {
		tokenRoutes.CompareAndDelete(s.recent[0], s.c.rt)
		s.recent = s.recent[1:]
	}
}

// randomHex returns a lock owner id.
func randomHex() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TokenObserver is told of access-token refreshes, for metrics; wechat
// declares it so that it needs no metrics library. TokenRefresh must return
// at once and be safe for concurrent use.
type TokenObserver interface {
	// TokenRefresh reports one refresh this process made (the Redis lock
	// won, WeChat asked): app is "oa" or "mp", ok whether a token came back.
	// Another process's refresh, which this one reads from Redis, is not
	// reported here.
	TokenRefresh(app string, ok bool)
}
