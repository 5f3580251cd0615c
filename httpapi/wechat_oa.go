package httpapi

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/wechat"
)

// handleOAVerify answers WeChat's URL check with the echostr.
func (s *Server) handleOAVerify(w http.ResponseWriter, r *http.Request) {
	echo, err := s.codec.VerifyURL(r.URL.Query())
	if err != nil {
		s.log.Warn("webhook URL check with a bad signature", "remote", r.RemoteAddr)
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, echo)
}

// handleOAPush takes one pushed message or event. It answers only after the
// push and everything it decided are committed: "success" (or the passive
// reply) then; 403 for a bad signature, 413 over 1 MiB, 400 for a body that
// cannot be read, all storing nothing; 503 when the database failed, so
// WeChat retries.
func (s *Server) handleOAPush(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { s.metrics.duration.Observe(time.Since(start).Seconds()) }()
	q := r.URL.Query()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.reject(w, "too_large", http.StatusRequestEntityTooLarge, "push over 1 MiB", err)
			return
		}
		s.reject(w, "malformed", http.StatusBadRequest, "cannot read body", err)
		return
	}
	plain, err := s.codec.Open(q, body)
	if err != nil {
		if errs.Is(err, errs.Unauthorized) {
			s.reject(w, "bad_signature", http.StatusForbidden, "bad signature", err)
			return
		}
		s.reject(w, "malformed", http.StatusBadRequest, errs.Message(err), err)
		return
	}
	ev, err := wechat.ParseEvent(plain)
	if err != nil {
		s.reject(w, "malformed", http.StatusBadRequest, errs.Message(err), err)
		return
	}
	res, err := s.engine.Handle(r.Context(), ev, plain)
	if err != nil {
		s.metrics.pushes.WithLabelValues("error", string(ev.Type)).Inc()
		s.log.Error("push not stored; WeChat will retry", "type", ev.Type, "openid", ev.OpenID, "err", err)
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	outcome := "handled"
	if res.Duplicate {
		outcome = "duplicate"
	}
	s.metrics.pushes.WithLabelValues(outcome, string(ev.Type)).Inc()
	if res.Reply == "" {
		io.WriteString(w, "success")
		return
	}
	out, err := s.codec.TextReply(q, ev, res.Reply, s.now())
	if err != nil {
		// The push is stored and acted on; only the reply text is lost.
		s.log.Error("passive reply could not be built", "event_id", res.EventID, "err", err)
		io.WriteString(w, "success")
		return
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Write(out)
}

func (s *Server) reject(w http.ResponseWriter, outcome string, code int, msg string, err error) {
	s.metrics.pushes.WithLabelValues(outcome, "").Inc()
	s.log.Warn("push rejected", "outcome", outcome, "status", code, "err", err)
	http.Error(w, msg, code)
}
