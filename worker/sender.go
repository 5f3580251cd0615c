package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omohq/omo/outbox"
)

// Sender delivers messages to WeChat. Its errors should be *SendError so
// the worker can tell what to do; any other error is retried.
type Sender interface {
	SendTemplate(ctx context.Context, m *outbox.Message, clientMsgID string) (msgid int64, err error)
	SendSubscribe(ctx context.Context, m *outbox.Message) error
	SendCustom(ctx context.Context, m *outbox.Message) error
	Tag(ctx context.Context, openid, tag string, on bool) error
}

// Class is what to do about a failed send (DESIGN.md §6).
type Class int

// The classes. Token refresh happens inside the Sender; an expired token
// that survives it is Retry.
const (
	Retry    Class = iota // WeChat busy or failing: retry with backoff, first retry within 30 s
	Backoff               // called too often: retry later, slower
	Quota                 // the daily quota is spent: pause this kind of send until it resets
	Fallback              // customer-service window closed: send the fallback template instead
	Stop                  // the follower is gone or refused: record it, never retry
	Config                // omo's request or configuration is wrong: record it, never retry
)

// SendError is a failed send with WeChat's errcode and its class.
type SendError struct {
	Class Class
	Code  int // WeChat errcode, 0 if none (timeout, HTTP status)
	Err   error
}

func (e *SendError) Error() string { return e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

func classOf(err error) (Class, int) {
	var se *SendError
	if errors.As(err, &se) {
		return se.Class, se.Code
	}
	return Retry, 0
}

// waitError asks asynq to run the task again after a delay without
// counting a failure: a paused kind of send or a rate limit.
type waitError struct {
	wait   time.Duration
	reason string
}

func (e *waitError) Error() string { return fmt.Sprintf("waiting %s: %s", e.wait, e.reason) }

func isFailure(err error) bool {
	var we *waitError
	return !errors.As(err, &we)
}
