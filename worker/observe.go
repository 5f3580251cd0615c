package worker

import (
	"strings"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/outbox"
)

// SendObserver is told the outcome of every call a send makes to WeChat,
// for metrics; the worker declares it so that it needs no metrics library.
// SendOutcome must return at once and be safe for concurrent use.
type SendObserver interface {
	// SendOutcome reports one call: kind is the send's kind (send:template,
	// send:subscribe, send:custom, or MassKind), outcome "sent" or the
	// snake_case name of the error's errs kind (unavailable, gone,
	// throttled, quota_spent, window_closed, ...), errcode WeChat's errcode
	// (0 for none: a success, a timeout, an HTTP status).
	SendOutcome(kind, outcome string, errcode int)
}

// MassKind is the kind a mass send is reported as to a SendObserver.
const MassKind = "send:mass"

// observeSend reports the outcome err of a send of kind to the observer.
func (s *Server) observeSend(kind outbox.Kind, err error) {
	if s.opts.Observer == nil {
		return
	}
	s.opts.Observer.SendOutcome(string(kind), SendOutcome(err), errcode(err))
}

// SendOutcome is the outcome label of a send that returned err: "sent" for
// nil, else the error's errs kind name with spaces as underscores.
func SendOutcome(err error) string {
	if err == nil {
		return "sent"
	}
	return strings.ReplaceAll(errs.KindOf(err).String(), " ", "_")
}
