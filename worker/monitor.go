package worker

import (
	"net/http"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
)

// Monitor returns the asynqmon queue monitor for the Redis at redisURL (or
// the embedded one at addr when redisURL is ""), served under rootPath. It
// has no authentication of its own: mount it behind the admin token.
func Monitor(redisURL, addr, rootPath string) (http.Handler, error) {
	var opt asynq.RedisConnOpt = asynq.RedisClientOpt{Addr: addr}
	if redisURL != "" {
		var err error
		if opt, err = asynq.ParseRedisURI(redisURL); err != nil {
			return nil, err
		}
	}
	return asynqmon.New(asynqmon.Options{RootPath: rootPath, RedisConnOpt: opt}), nil
}
