package worker

import (
	"errors"
	"time"

	"github.com/hibiken/asynq"

	"github.com/omohq/omo/outbox"
)

// MaxRetry is how many times a task is retried before its item is failed.
const MaxRetry = 12

// NewTask returns the asynq task for it: type = kind, payload and task ID =
// the item's ID, processed at its run time.
func NewTask(it outbox.Item) *asynq.Task {
	return asynq.NewTask(string(it.Kind), []byte(it.ID),
		asynq.TaskID(it.ID),
		asynq.Queue(Queue),
		asynq.ProcessAt(it.RunAt),
		asynq.MaxRetry(MaxRetry),
		asynq.Timeout(30*time.Second),
	)
}

// retryDelay backs off from 5 s (so the first retry is within 30 s) up to
// 10 minutes; a Backoff error (WeChat says: too often) starts at a minute;
// a wait (pause, rate limit) takes exactly its time.
func retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var we *waitError
	if errors.As(err, &we) {
		return max(we.wait, time.Second)
	}
	d := 5 * time.Second
	if c, _ := classOf(err); c == Backoff {
		d = time.Minute
	}
	for i := 0; i < n && d < 10*time.Minute; i++ {
		d *= 2
	}
	if d > 10*time.Minute {
		d = 10 * time.Minute
	}
	return d
}
