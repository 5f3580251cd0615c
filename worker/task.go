package worker

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
)

// How a task's error is handled. The Sender and Directory give WeChat's
// answers an errs kind (the errcode table is wechat/errors.go); here the
// kind decides:
//   - Gone, Invalid: permanent, the item (and its message) fails now, with
//     the errcode (errcode) and no retry;
//   - Throttled: retried, backing off from a minute (retryDelay);
//   - QuotaSpent: a send pauses its kind until the daily quota resets and
//     waits that long, not counted as a failure (Server.send);
//   - WindowClosed: a customer-service send goes out as its fallback
//     template, or is Gone without one (Server.deliver);
//   - anything else: retried, backing off from 5 s, up to MaxRetry times.
// A waitError (a pause or a rate limit) is no failure: it runs again after
// exactly its wait and records nothing.

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
// 10 minutes; a Throttled error (WeChat says: too often) starts at a
// minute; a wait (pause, rate limit) takes exactly its time.
func retryDelay(n int, err error, _ *asynq.Task) time.Duration {
	var we *waitError
	if errors.As(err, &we) {
		return max(we.wait, time.Second)
	}
	d := 5 * time.Second
	if errs.Is(err, errs.Throttled) {
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

// permanent reports whether retrying err cannot help: the target is gone or
// the request is wrong.
func permanent(err error) bool {
	k := errs.KindOf(err)
	return k == errs.Gone || k == errs.Invalid
}

// errcoder is an error that carries the errcode of the WeChat answer that
// caused it (wechat.APIError), found with errors.As: the worker records the
// code without importing wechat.
type errcoder interface{ Errcode() int }

// errcode returns the WeChat errcode in err's chain, 0 if none (a timeout,
// an HTTP status, an error of omo's own).
func errcode(err error) int {
	var ec errcoder
	if errors.As(err, &ec) {
		return ec.Errcode()
	}
	return 0
}

// waitError asks asynq to run the task again after a delay without
// counting a failure: a paused kind of send or a rate limit.
type waitError struct {
	wait   time.Duration
	reason string
}

func (e *waitError) Error() string { return fmt.Sprintf("waiting %s: %s", e.wait, e.reason) }

// isFailure reports whether err counts as a failed attempt (asynq's
// IsFailure): everything but a waitError.
func isFailure(err error) bool {
	var we *waitError
	return !errors.As(err, &we)
}
