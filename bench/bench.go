// Package bench is the load generator behind `omo bench webhook`: it plays
// WeChat pushing new followers to an Official Account webhook as fast as the
// webhook answers. Every request is a signed subscribe event (in safe mode
// also encrypted, exactly as WeChat does it) that was never sent before, so
// a webhook that dedupes must store each one. N workers each hold one
// keep-alive connection and send their next push as soon as the previous
// one is answered (a closed loop); anything but 200 "success" (or, when
// asked, a passive reply) counts as an error. The result is acknowledged
// events per second, the latency distribution and the CPU time spent.
//
// The package imports only the standard library and the WeChat simulator's
// signing code, so it can point at any webhook: omo, the bare silenceper
// baseline, or something else.
package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Options says what to load and how hard.
type Options struct {
	URL         string        // the webhook, e.g. http://127.0.0.1:8080/wechat/oa (http or https)
	Token       string        // the OA server token the webhook checks signatures with
	AESKey      string        // EncodingAESKey; "" = plaintext pushes, set = safe mode (encrypt_type=aes)
	AppID       string        // the OA appid, sealed into every encrypted push (safe mode)
	ToUser      string        // the OA's original id (gh_...) in ToUserName; default gh_omobench00
	Concurrency int           // workers, one connection each; default 64
	Duration    time.Duration // how long to measure; default 10s unless Count is set
	Count       int           // stop after this many pushes instead (when > 0)
	Warmup      time.Duration // load sent before measuring, on the same connections; not in the figures
	Timeout     time.Duration // per request; default 10s
	// OpenIDPrefix is put at the front of every openid (after "o"); a random
	// run id follows it, so runs against the same database never collide.
	OpenIDPrefix string
	// Scene, when set, makes every push a follow through that QR code scene
	// (EventKey qrscene_<scene>), so campaigns on subscribe can fire.
	Scene string
	// AcceptReplies counts a 200 answer carrying a passive reply message
	// (<xml>...) as acknowledged, as WeChat does; otherwise only "success" is.
	AcceptReplies bool
	// Rate paces the pushes of all workers together to this many a second
	// (0 = as fast as the target answers), for latency below the peak.
	Rate float64
}

func (o *Options) defaults() error {
	if o.URL == "" {
		return errors.New("bench: Options.URL is empty")
	}
	if o.Token == "" {
		return errors.New("bench: Options.Token is empty")
	}
	if o.AESKey != "" && len(o.AESKey) != 43 {
		return fmt.Errorf("bench: Options.AESKey must be 43 characters, got %d", len(o.AESKey))
	}
	if o.ToUser == "" {
		o.ToUser = "gh_omobench00"
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 64
	}
	if o.Duration <= 0 && o.Count <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return nil
}

// Result is what one run measured. Only the measured phase is in the
// figures; the warm-up's counts are kept apart (Warmup) so a caller can
// check the target stored every event it acknowledged.
type Result struct {
	Target       string           `json:"target"`
	Concurrency  int              `json:"concurrency"`
	Elapsed      time.Duration    `json:"-"`
	Seconds      float64          `json:"seconds"`
	Sent         int64            `json:"sent"`         // requests answered or failed
	OK           int64            `json:"acknowledged"` // 200 "success" (or a reply, with AcceptReplies)
	Replies      int64            `json:"replies"`      // of OK, how many were passive replies
	Errors       int64            `json:"errors"`       // Sent - OK
	ErrorKinds   map[string]int64 `json:"error_kinds,omitempty"`
	EventsPerSec float64          `json:"events_per_sec"` // OK / Seconds
	Latency      Latency          `json:"latency"`
	// CPUPerEvent is this process's CPU time (user + system) in the
	// measured phase per acknowledged event: the client's cost, plus the
	// server's when the target runs in the same process. It depends less than
	// events/s on what else the machine runs. 0 when not measured.
	CPUPerEvent time.Duration `json:"-"`
	Warmup      Counts        `json:"warmup"`
}

// MarshalJSON adds cpu_us_per_event to the exported fields.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		CPUus float64 `json:"cpu_us_per_event"`
	}{plain(r), float64(r.CPUPerEvent) / 1e3})
}

// Counts are a phase's request tallies.
type Counts struct {
	Sent   int64 `json:"sent"`
	OK     int64 `json:"acknowledged"`
	Errors int64 `json:"errors"`
}

// Acknowledged is how many pushes the target answered 200 "success", warm-up
// included: the number of events it must have stored.
func (r *Result) Acknowledged() int64 { return r.OK + r.Warmup.OK }

// Latency is the distribution of request latencies (send to last byte of
// the answer), errors included. JSON gives milliseconds.
type Latency struct {
	P50, P90, P99, P999, Max, Mean time.Duration
}

// MarshalJSON writes the latencies in milliseconds.
func (l Latency) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }
	return fmt.Appendf(nil, `{"p50_ms":%s,"p90_ms":%s,"p99_ms":%s,"p999_ms":%s,"max_ms":%s,"mean_ms":%s}`,
		ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), ms(l.Mean)), nil
}

// Run loads the webhook as o says and returns what it measured. It returns
// an error only when it cannot run at all (bad options, or not one
// connection could be made); failed requests are counted in the Result.
// Cancelling ctx ends the run early with the figures so far.
func Run(ctx context.Context, o Options) (*Result, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return nil, fmt.Errorf("bench: URL: %w", err)
	}
	conns, err := openConns(&o, u)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	var id [4]byte
	rand.Read(id[:])
	runID := hex.EncodeToString(id[:])
	workers := make([]*worker, o.Concurrency)
	var lim *pacer
	if o.Rate > 0 {
		lim = &pacer{every: time.Duration(float64(time.Second) / o.Rate)}
	}
	for i := range workers {
		workers[i] = &worker{c: conns[i], p: newPusher(&o, u, runID, i), accept: o.AcceptReplies, lim: lim}
	}
	res := &Result{Target: o.URL, Concurrency: o.Concurrency}
	if o.Warmup > 0 {
		w := runPhase(ctx, workers, o.Warmup, 0)
		res.Warmup = Counts{Sent: w.sent, OK: w.ok, Errors: w.sent - w.ok}
	}
	m := runPhase(ctx, workers, o.Duration, o.Count)
	res.Elapsed = m.elapsed
	res.Seconds = m.elapsed.Seconds()
	res.Sent, res.OK, res.Errors, res.Replies = m.sent, m.ok, m.sent-m.ok, m.replies
	if len(m.kinds) > 0 {
		res.ErrorKinds = m.kinds
	}
	if res.Seconds > 0 {
		res.EventsPerSec = float64(res.OK) / res.Seconds
	}
	h := &m.hist
	if res.OK > 0 {
		res.CPUPerEvent = m.cpu / time.Duration(res.OK)
	}
	res.Latency = Latency{P50: h.Quantile(.50), P90: h.Quantile(.90), P99: h.Quantile(.99),
		P999: h.Quantile(.999), Max: h.Max(), Mean: h.Mean()}
	return res, nil
}

// openConns dials every worker's connection up front, so the measured
// phase does not pay for connecting; it fails only when none connects.
func openConns(o *Options, u *url.URL) ([]*conn, error) {
	var tc *tls.Config
	port := "80"
	switch u.Scheme {
	case "http":
	case "https":
		tc, port = &tls.Config{ServerName: u.Hostname()}, "443"
	default:
		return nil, fmt.Errorf("bench: URL %q: want http:// or https://", o.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	conns := make([]*conn, o.Concurrency)
	var firstErr error
	ok := 0
	for i := range conns {
		conns[i] = &conn{addr: addr, tls: tc, timeout: o.Timeout}
		if err := conns[i].dial(); err != nil {
			firstErr = err
			continue
		}
		ok++
	}
	if ok == 0 {
		return nil, fmt.Errorf("bench: cannot connect to %s: %w", addr, firstErr)
	}
	return conns, nil
}

type worker struct {
	c       *conn
	p       *pusher
	accept  bool   // AcceptReplies
	lim     *pacer // Rate; nil = unpaced
	hist    Histogram
	sent    int64
	ok      int64
	replies int64
	kinds   map[string]int64
}

// phase is one phase's merged outcome.
type phase struct {
	elapsed           time.Duration
	cpu               time.Duration // process CPU time
	sent, ok, replies int64
	kinds             map[string]int64
	hist              Histogram
}

// runPhase runs every worker until d has passed (d > 0) or count pushes
// have been taken (count > 0), or ctx ends, and merges their tallies.
func runPhase(ctx context.Context, workers []*worker, d time.Duration, count int) *phase {
	var stop atomic.Bool
	var left atomic.Int64
	left.Store(int64(count))
	start, cpu0 := time.Now(), processCPU()
	var deadline time.Time
	if d > 0 && count <= 0 {
		deadline = start.Add(d)
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			stop.Store(true)
		case <-done:
		}
	}()
	var wg sync.WaitGroup
	for _, w := range workers {
		w.reset()
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(&stop, &left, count > 0, deadline)
		}()
	}
	wg.Wait()
	close(done)
	p := &phase{elapsed: time.Since(start), cpu: processCPU() - cpu0}
	for _, w := range workers {
		p.sent += w.sent
		p.ok += w.ok
		p.replies += w.replies
		p.hist.Merge(&w.hist)
		for k, v := range w.kinds {
			if p.kinds == nil {
				p.kinds = map[string]int64{}
			}
			p.kinds[k] += v
		}
	}
	return p
}

func (w *worker) reset() {
	w.hist = Histogram{}
	w.sent, w.ok, w.replies, w.kinds = 0, 0, 0, nil
}

func (w *worker) loop(stop *atomic.Bool, left *atomic.Int64, counted bool, deadline time.Time) {
	for !stop.Load() {
		if counted && left.Add(-1) < 0 {
			return
		}
		if w.lim != nil {
			w.lim.wait()
		}
		start := time.Now()
		if !deadline.IsZero() && !start.Before(deadline) {
			return
		}
		req, err := w.p.next(start)
		if err != nil {
			w.fail("build: " + err.Error())
			return
		}
		status, body, err := w.c.do(req)
		w.hist.Record(time.Since(start))
		w.sent++
		switch {
		case err != nil:
			w.fail("transport: " + errorClass(err))
			if w.c.c == nil {
				time.Sleep(10 * time.Millisecond) // do not spin on a server that is gone
			}
		case status != 200:
			w.fail(fmt.Sprintf("status %d: %.60q", status, body))
		case w.accept && bytes.HasPrefix(body, []byte("<xml>")):
			w.ok++
			w.replies++
		case !isSuccess(body):
			w.fail(fmt.Sprintf("200 but body %.60q", body))
		default:
			w.ok++
		}
	}
}

func (w *worker) fail(kind string) {
	if w.kinds == nil {
		w.kinds = map[string]int64{}
	}
	w.kinds[kind]++
}

// isSuccess reports the acknowledgement WeChat expects: "success" (blank
// space around it tolerated).
func isSuccess(b []byte) bool {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return string(b) == "success"
}

// errorClass shortens a transport error to its kind, so that thousands of
// them group into a few lines.
func errorClass(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Op + ": " + oe.Err.Error()
	}
	return err.Error()
}

// ErrorSummary lists the error kinds, most frequent first, as "N× kind".
func (r *Result) ErrorSummary() []string {
	type kv struct {
		k string
		v int64
	}
	var all []kv
	for k, v := range r.ErrorKinds {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	out := make([]string, len(all))
	for i, e := range all {
		out[i] = fmt.Sprintf("%d× %s", e.v, e.k)
	}
	return out
}

// pacer hands out send times every `every` apart to all workers: a push
// waits for its slot (a worker that fell behind sends at once, so the rate
// holds over the run as long as the target keeps up).
type pacer struct {
	mu    sync.Mutex
	next  time.Time
	every time.Duration
}

func (p *pacer) wait() {
	p.mu.Lock()
	now := time.Now()
	if p.next.Before(now.Add(-p.every)) {
		p.next = now // idle: do not bank a burst
	}
	slot := p.next
	p.next = p.next.Add(p.every)
	p.mu.Unlock()
	if d := time.Until(slot); d > 0 {
		time.Sleep(d)
	}
}
