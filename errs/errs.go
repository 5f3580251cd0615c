// Package errs is omo's one error type. An error carries a Kind from an
// append-only list; the kind decides the HTTP status (httpapi) and whether a
// task is retried or stopped (worker), each in exactly one place.
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller should do about it.
type Kind int

// The kinds. Append only: the numbers are not stored, but the order is read.
const (
	Other        Kind = iota // unclassified: a bug or an unexpected failure
	Invalid                  // the input is wrong; resending it will not help
	NotFound                 // the thing named does not exist
	Conflict                 // the request clashes with the current state (already done)
	Unauthorized             // missing or wrong credentials
	Unavailable              // a dependency is down or busy: retry later
	Gone                     // the target is permanently unreachable: stop
	TooLarge                 // the input is over a size limit
	Expired                  // the thing existed but is no longer valid
	Throttled                // called too often: retry later, slower (WeChat 45011, 43117, HTTP 429)
	QuotaSpent               // a daily quota is spent: pause this kind of send until it resets (WeChat 45009)
	WindowClosed             // the customer-service window is closed: send the fallback template (WeChat 45015, 45047)
)

var kindNames = [...]string{"other", "invalid", "not found", "conflict", "unauthorized", "unavailable", "gone", "too large", "expired",
	"throttled", "quota spent", "window closed"}

// String returns the kind's name.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is an error with a kind and the operation that failed.
type Error struct {
	Kind Kind
	Op   string // what was being done, e.g. "webhook.parse"
	Msg  string // a human message, safe to show to the caller
	Err  error  // the cause, may be nil
}

// Error implements error as "op: msg: cause".
func (e *Error) Error() string {
	s := e.Op
	add := func(p string) {
		if p == "" {
			return
		}
		if s != "" {
			s += ": "
		}
		s += p
	}
	add(e.Msg)
	if e.Err != nil {
		add(e.Err.Error())
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// E builds an *Error of kind k for op with a formatted message.
func E(k Kind, op, format string, args ...any) *Error {
	return &Error{Kind: k, Op: op, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns err as an *Error of kind k for op; nil stays nil.
func Wrap(k Kind, op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Op: op, Err: err}
}

// KindOf returns the kind of the outermost *Error in err's chain, Other if none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		if e.Kind == Other && e.Err != nil {
			return KindOf(e.Err)
		}
		return e.Kind
	}
	return Other
}

// Is reports whether err has kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// Message returns the message of the outermost *Error that has one, for
// showing to a caller without leaking internals; "" if none.
func Message(err error) string {
	var e *Error
	for errors.As(err, &e) {
		if e.Msg != "" {
			return e.Msg
		}
		err = e.Err
	}
	return ""
}
