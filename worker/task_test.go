package worker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
)

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	busy := errs.Wrap(errs.Unavailable, "", apiErr(-1))
	often := errs.Wrap(errs.Throttled, "", apiErr(45011))
	tests := []struct {
		name string
		n    int // retries so far
		err  error
		want time.Duration
	}{
		{"Retry, first", 0, busy, 5 * time.Second},
		{"Retry, second", 1, busy, 10 * time.Second},
		{"Retry, third", 2, busy, 20 * time.Second},
		{"Retry, 4th", 3, busy, 40 * time.Second},
		{"Retry, 5th", 4, busy, 80 * time.Second},
		{"Retry, 6th", 5, busy, 160 * time.Second},
		{"Retry, 7th", 6, busy, 320 * time.Second},
		{"Retry, 8th: capped", 7, busy, 10 * time.Minute},
		{"Retry, last", MaxRetry - 1, busy, 10 * time.Minute},
		{"Retry, far past the cap", 1000, busy, 10 * time.Minute},
		{"plain error is Retry", 0, errors.New("connection reset"), 5 * time.Second},
		{"wrapped Unavailable", 1, fmt.Errorf("send: %w", busy), 10 * time.Second},
		{"errs error is Retry", 0, errs.E(errs.Unavailable, "x", "db"), 5 * time.Second},
		{"other kinds are Retry", 0, errs.Wrap(errs.QuotaSpent, "", apiErr(45009)), 5 * time.Second},
		{"Backoff, first", 0, often, time.Minute},
		{"Backoff, second", 1, often, 2 * time.Minute},
		{"Backoff, third", 2, often, 4 * time.Minute},
		{"Backoff, 4th", 3, often, 8 * time.Minute},
		{"Backoff, 5th: capped", 4, often, 10 * time.Minute},
		{"Backoff, far past the cap", 1000, often, 10 * time.Minute},
		{"Backoff, wrapped", 1, fmt.Errorf("send: %w", often), 2 * time.Minute},
		{"wait: exactly its time", 0, &waitError{wait: 7*time.Hour + 3*time.Second, reason: "daily quota spent"}, 7*time.Hour + 3*time.Second},
		{"wait: regardless of retries", 9, &waitError{wait: 1500 * time.Millisecond, reason: "rate limit send"}, 1500 * time.Millisecond},
		{"wait: at least a second", 0, &waitError{wait: 20 * time.Millisecond, reason: "rate limit send"}, time.Second},
		{"wait: zero becomes a second", 0, &waitError{}, time.Second},
		{"wait: wrapped", 0, fmt.Errorf("x: %w", &waitError{wait: time.Hour}), time.Hour},
	}
	task := asynq.NewTask(string(outbox.SendTemplate), []byte("id"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryDelay(tt.n, tt.err, task); got != tt.want {
				t.Errorf("retryDelay(%d, %v) = %s, want %s", tt.n, tt.err, got, tt.want)
			}
		})
	}
	if d := retryDelay(0, busy, task); d > 30*time.Second {
		t.Errorf("first retry after %s, want within 30s (DESIGN.md §6)", d)
	}
}

func TestIsFailure(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{nil, true}, // asynq never asks about nil; finish treats it as an outcome to record
		{errors.New("boom"), true},
		{errs.Wrap(errs.QuotaSpent, "", apiErr(45009)), true},
		{&waitError{wait: time.Second, reason: "rate limit"}, false},
		{fmt.Errorf("wrapped: %w", &waitError{wait: time.Second}), false},
	}
	for _, tt := range tests {
		if got := isFailure(tt.err); got != tt.want {
			t.Errorf("isFailure(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// apiErr stands for wechat.APIError: an error with WeChat's errcode.
type apiErr int

func (e apiErr) Error() string { return fmt.Sprintf("wechat op: errcode=%d", int(e)) }
func (e apiErr) Errcode() int  { return int(e) }

// TestPermanentAndErrcode: which errors fail an item for good, and the
// errcode recorded with it.
func TestPermanentAndErrcode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		permanent bool
		code      int
	}{
		{"Gone from WeChat", errs.Wrap(errs.Gone, "", apiErr(43004)), true, 43004},
		{"Invalid from WeChat", errs.Wrap(errs.Invalid, "", apiErr(40037)), true, 40037},
		{"wrapped Gone", fmt.Errorf("fallback: %w", errs.Wrap(errs.Gone, "", errors.New("x"))), true, 0},
		{"Gone around WindowClosed", &errs.Error{Kind: errs.Gone, Msg: "no fallback", Err: errs.Wrap(errs.WindowClosed, "", apiErr(45015))}, true, 45015},
		{"Unavailable from WeChat", errs.Wrap(errs.Unavailable, "", apiErr(-1)), false, -1},
		{"Throttled", errs.Wrap(errs.Throttled, "", errors.New("x")), false, 0},
		{"QuotaSpent", errs.Wrap(errs.QuotaSpent, "", errors.New("x")), false, 0},
		{"WindowClosed", errs.Wrap(errs.WindowClosed, "", errors.New("x")), false, 0},
		{"Other", errs.Wrap(errs.Other, "", apiErr(99999)), false, 99999},
		{"errs Gone", errs.E(errs.Gone, "x", "gone"), true, 0},
		{"errs Invalid", errs.E(errs.Invalid, "x", "bad payload"), true, 0},
		{"errs Unavailable", errs.E(errs.Unavailable, "x", "db down"), false, 0},
		{"plain", errors.New("x"), false, 0},
		{"plain around a code", fmt.Errorf("send: %w", apiErr(-1)), false, -1},
		{"nil", nil, false, 0},
	}
	for _, tt := range tests {
		if got := permanent(tt.err); got != tt.permanent {
			t.Errorf("permanent(%s) = %v, want %v", tt.name, got, tt.permanent)
		}
		if got := errcode(tt.err); got != tt.code {
			t.Errorf("errcode(%s) = %d, want %d", tt.name, got, tt.code)
		}
	}
}

func TestWaitErrorMessage(t *testing.T) {
	t.Parallel()
	err := &waitError{wait: 90 * time.Second, reason: "send:template sends are paused (daily quota)"}
	if got, want := err.Error(), "waiting 1m30s: send:template sends are paused (daily quota)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestNewTask(t *testing.T) {
	t.Parallel()
	runAt := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	task := NewTask(outbox.Item{ID: "0193-abc", Kind: outbox.SendCustom, RunAt: runAt, Payload: []byte(`{"ignored":1}`)})
	if task.Type() != string(outbox.SendCustom) || string(task.Payload()) != "0193-abc" {
		t.Errorf("NewTask = type %q payload %q, want the item's kind and its id", task.Type(), task.Payload())
	}
}
