package wechatsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxRequestBytes bounds a request body; WeChat's own limits are far lower.
const maxRequestBytes = 10 << 20

// jsonContentType is the Content-Type WeChat puts on its JSON answers.
const jsonContentType = "application/json; encoding=utf-8"

// Options configure a Sim.
type Options struct {
	Logger *slog.Logger     // nil = discard
	Now    func() time.Time // nil = time.Now; token expiry, codes and dedupe windows follow it
	// PermanentQRLimit caps permanent QR codes per app (0 = 100000, WeChat's cap).
	PermanentQRLimit int
	// AnyFollower takes an openid an app never saw, in user/info and in the
	// sends to one follower (template, custom), for a follower who
	// subscribed just now, with a unionid ("u-" + openid): for load that
	// pushes follows straight to omo (omo bench webhook -full), so that
	// omo's calls succeed as they would for real followers. Off: 40003,
	// 43004 and 45015 as WeChat answers for a stranger.
	AnyFollower bool
}

// Sim is a fake api.weixin.qq.com (and mp.weixin.qq.com) that keeps state per
// appid, records every call, and can be told to fail. It is an http.Handler;
// all methods are safe for concurrent use.
type Sim struct {
	log         *slog.Logger
	now         func() time.Time
	permLimit   int
	anyFollower bool // Options.AnyFollower
	routes      map[string]route
	ctl         http.Handler

	mu     sync.Mutex
	apps   map[string]*app
	tokens map[string]*token
	calls  []Call
	faults map[string][]*fault
	msgID  int64
	seq    int64

	pending sync.WaitGroup // asynchronous pushes (job-finish events)
}

// Call is one recorded API request.
type Call struct {
	Path    string
	AppID   string // from the access token, or the appid the request names; "" if neither
	Query   url.Values
	Body    []byte
	Status  int  // HTTP status answered
	Errcode int  // errcode answered; 0 for success and image answers
	Dedupe  bool // a template send answered from the client_msg_id dedupe window
	At      time.Time
}

// New returns an empty Sim: no apps, no followers.
func New(opts Options) *Sim {
	s := &Sim{
		log:         opts.Logger,
		now:         opts.Now,
		permLimit:   opts.PermanentQRLimit,
		anyFollower: opts.AnyFollower,
		apps:        map[string]*app{},
		tokens:      map[string]*token{},
		faults:      map[string][]*fault{},
		msgID:       200000000,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.permLimit <= 0 {
		s.permLimit = 100000
	}
	s.routes = s.apiRoutes()
	s.ctl = s.controlMux()
	return s
}

// Close waits for the asynchronous pushes the Sim started (job-finish
// events) to finish. The Sim stays usable.
func (s *Sim) Close() { s.pending.Wait() }

// apiReq is one API request as the handlers see it.
type apiReq struct {
	path  string
	query url.Values
	body  []byte
	appID string // set by token check, or by the handler for appid/secret calls
	now   time.Time
}

// reply is a handler's answer.
type reply struct {
	status  int
	ctype   string
	body    []byte
	errcode int
	dedupe  bool
	after   func() // run after the lock is released and the answer written
}

type route struct {
	method string // http.MethodPost = POST only (else 43002); "" = any method
	auth   bool   // needs ?access_token=
	h      func(*Sim, *apiReq) reply
}

// ServeHTTP answers WeChat API paths as WeChat does and /_sim/ control paths
// as documented in the package doc.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sim/") {
		s.ctl.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes))
	req := &apiReq{path: r.URL.Path, query: r.URL.Query(), body: body}
	f := s.takeFault(req.path)
	if f != nil && f.delay > 0 {
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			s.record(req, reply{status: 499, errcode: -1})
			return
		}
	}
	rep := s.serve(r.Method, req, f)
	s.log.Debug("wechatsim call", "path", req.path, "app_id", req.appID, "status", rep.status, "errcode", rep.errcode)
	w.Header().Set("Content-Type", rep.ctype)
	w.WriteHeader(rep.status)
	w.Write(rep.body)
	if rep.after != nil {
		rep.after()
	}
}

// serve picks the answer under the lock and records the call.
func (s *Sim) serve(method string, req *apiReq, f *fault) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	req.now = s.now()
	rt, ok := s.routes[req.path]
	var rep reply
	switch {
	case !ok:
		// WeChat's answer for an unknown path is not documented; 404 with
		// 40066 "invalid url" tells a client it is a bug, not a retry.
		rep = errReply(40066)
		rep.status = http.StatusNotFound
	case f != nil && f.status != 0:
		req.appID = s.peekApp(req)
		rep = reply{status: f.status, ctype: "text/html; charset=utf-8",
			body: []byte(fmt.Sprintf("<html><body><h1>%d %s</h1></body></html>", f.status, http.StatusText(f.status)))}
	case f != nil && f.errcode != 0:
		req.appID = s.peekApp(req)
		rep = errReply(f.errcode)
	case rt.method == http.MethodPost && method != http.MethodPost:
		rep = errReply(43002)
	default:
		rep = s.dispatch(rt, req)
	}
	s.recordLocked(req, rep)
	return rep
}

func (s *Sim) dispatch(rt route, req *apiReq) reply {
	if rt.auth {
		appID, code := s.checkToken(req.query.Get("access_token"), req.now)
		req.appID = appID
		if code != 0 {
			return errReply(code)
		}
	}
	return rt.h(s, req)
}

// peekApp names the app a request is for without validating anything.
func (s *Sim) peekApp(req *apiReq) string {
	if t, ok := s.tokens[req.query.Get("access_token")]; ok {
		return t.appID
	}
	return req.query.Get("appid")
}

func (s *Sim) record(req *apiReq, rep reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req.now = s.now()
	s.recordLocked(req, rep)
}

func (s *Sim) recordLocked(req *apiReq, rep reply) {
	s.calls = append(s.calls, Call{
		Path: req.path, AppID: req.appID, Query: req.query, Body: req.body,
		Status: rep.status, Errcode: rep.errcode, Dedupe: rep.dedupe, At: req.now,
	})
}

// Calls returns every recorded call to path, oldest first; path "" returns
// all calls. The slice is a copy.
func (s *Sim) Calls(path string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if path == "" || c.Path == path {
			out = append(out, c)
		}
	}
	return out
}

// CallCount returns how many calls to path were recorded ("" = all).
func (s *Sim) CallCount(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if path == "" {
		return len(s.calls)
	}
	n := 0
	for _, c := range s.calls {
		if c.Path == path {
			n++
		}
	}
	return n
}

// fault is one injected misbehaviour; remaining < 0 means until cleared.
type fault struct {
	errcode   int
	status    int
	delay     time.Duration
	remaining int
	skip      int // calls to let through normally before this one acts
}

// Inject makes the next times calls to path answer errcode (HTTP 200 with
// WeChat's errmsg), before any token check. Injections for a path queue up
// in the order they were made; times < 0 means every call until
// ClearInjections.
func (s *Sim) Inject(path string, errcode int, times int) {
	s.addFault(path, &fault{errcode: errcode, remaining: times})
}

// InjectAfter is Inject for later calls: the next after calls to path
// answer normally, then times calls answer errcode. It queues with the
// other injections, so InjectAfter(path, 45009, 1, 1) on a fresh path fails
// the second call (e.g. the second page of a follower sync).
func (s *Sim) InjectAfter(path string, errcode, after, times int) {
	s.addFault(path, &fault{errcode: errcode, remaining: times, skip: max(after, 0)})
}

// InjectStatus makes the next times calls to path answer HTTP status (a 5xx
// HTML page, as WeChat's front end sends) instead of JSON.
func (s *Sim) InjectStatus(path string, status int, times int) {
	s.addFault(path, &fault{status: status, remaining: times})
}

// InjectDelay makes the next times calls to path wait d before answering
// normally; a client that gives up first sees a timeout.
func (s *Sim) InjectDelay(path string, d time.Duration, times int) {
	s.addFault(path, &fault{delay: d, remaining: times})
}

// ClearInjections drops every pending injection for path ("" = all paths).
func (s *Sim) ClearInjections(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if path == "" {
		s.faults = map[string][]*fault{}
		return
	}
	delete(s.faults, path)
}

func (s *Sim) addFault(path string, f *fault) {
	if f.remaining == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], f)
}

// takeFault consumes one use of the first injection queued for path.
func (s *Sim) takeFault(path string) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.faults[path]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	if f.skip > 0 {
		f.skip--
		return nil
	}
	if f.remaining > 0 {
		f.remaining--
		if f.remaining == 0 {
			s.faults[path] = q[1:]
		}
	}
	return f
}

// jsonReply answers v as WeChat does: HTTP 200, JSON, no HTML escaping.
func jsonReply(v any) reply {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return errReply(-1)
	}
	return reply{status: http.StatusOK, ctype: jsonContentType, body: bytes.TrimSpace(b.Bytes())}
}

// okReply is {"errcode":0,"errmsg":"ok"}.
func okReply() reply { return jsonReply(apiError{Errcode: 0, Errmsg: "ok"}) }

// async runs f in the background, tracked by Close.
func (s *Sim) async(f func(ctx context.Context)) {
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		f(ctx)
	}()
}
