package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/omohq/omo/bench"
	"github.com/omohq/omo/config"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

// benchToken is the OA token of the in-process omo and baseline.
const benchToken = "omobenchtoken"

func runBench(ctx context.Context, args []string, env *runEnv) error {
	if len(args) > 0 && args[0] == "webhook" {
		return runBenchWebhook(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == "fanout" {
		return runBenchFanout(ctx, args[1:], env)
	}
	fmt.Fprintln(env.stderr, "usage: omo bench webhook|fanout [flags]\n\n  webhook  signed, unique subscribe events per second and latency, omo against a bare silenceper handler\n  fanout   a schedule campaign's firing: recipients planned and queued per second and peak RSS, the naive\n           one-task-per-recipient design beside it, then the send rate against the simulator\n\nRun omo bench webhook -h or omo bench fanout -h for their flags.")
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return usageError{"omo bench: which benchmark? (webhook, fanout)"}
	}
	return usageError{fmt.Sprintf("omo bench: unknown benchmark %q", args[0])}
}

// benchWebhook is `omo bench webhook`: its flags and the targets it set up.
type benchWebhook struct {
	env                                  *runEnv
	target, token, aesKey, appID, dbURL  string
	redisURL, cpuprofile, campaigns      string
	scene                                string
	rate                                 float64
	aes, full, baseline, asJSON, verbose bool
	conc, count                          int
	duration, warmup                     time.Duration

	omoURL, baseURL string
	omoDB           *sqldb.DB // where omo's events are counted; nil = not checked
	dbDesc, queue   string
}

func runBenchWebhook(ctx context.Context, args []string, env *runEnv) error {
	b := &benchWebhook{env: env}
	fs := flag.NewFlagSet("bench webhook", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprint(env.stderr, `usage: omo bench webhook [flags]

Sends signed subscribe events, each a new one, to omo's webhook with -c
keep-alive connections, and the same load to a bare silenceper handler that
only answers "success" (the baseline), in one run: warm-up, then -duration.
Prints events/s and latency for both and the ratio, then checks that omo
stored exactly the events it acknowledged (exit status 1 if not, or on any
error). By default omo runs in-process on embedded defaults (SQLite temp
file, embedded Redis) with its webhook only: outbox rows are committed and
left pending (-full also runs the relay, the workers and a WeChat simulator).

flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&b.target, "target", "", "webhook URL of an already running omo (e.g. http://host:8080/wechat/oa); needs -token, and -aes-key for safe mode")
	fs.StringVar(&b.token, "token", "", "the target's OA token (with -target)")
	fs.StringVar(&b.aesKey, "aes-key", "", "the target's EncodingAESKey: push in safe mode (with -target)")
	fs.StringVar(&b.appID, "appid", "", "the target's OA appid, sealed into encrypted pushes (with -target and -aes-key)")
	fs.StringVar(&b.dbURL, "db", "", "in-process omo: its database (default a SQLite temp file; sqlite://PATH or postgres://...); with -target: the target's database, to check stored == acknowledged")
	fs.StringVar(&b.redisURL, "redis", "", "in-process omo with -full: its Redis (default embedded)")
	fs.BoolVar(&b.full, "full", false, "in-process omo: also run the outbox relay, the workers and a WeChat simulator, as omo serve does")
	fs.StringVar(&b.campaigns, "campaigns", "", "in-process omo: run this campaign set (a folder, like campaigns.dir; default none); a passive reply then counts as an acknowledgement")
	fs.Float64Var(&b.rate, "rate", 0, "pace the pushes to this many a second in all (0 = as fast as the target answers), e.g. 80% of a measured peak for latency")
	fs.StringVar(&b.scene, "scene", "", "every push follows through this QR scene (e.g. store:sh-001), so subscribe campaigns with a scene can fire")
	fs.BoolVar(&b.aes, "aes", false, "safe mode: encrypt every push (in-process targets)")
	fs.BoolVar(&b.baseline, "baseline", true, "also bench the bare silenceper handler (in-process, loopback) and print the ratio")
	fs.IntVar(&b.conc, "c", 64, "concurrent connections (workers)")
	fs.DurationVar(&b.duration, "duration", 10*time.Second, "how long to measure each target")
	fs.IntVar(&b.count, "n", 0, "measure this many pushes per target instead of -duration")
	fs.DurationVar(&b.warmup, "warmup", 2*time.Second, "load sent before measuring (not in the figures)")
	fs.BoolVar(&b.asJSON, "json", false, "print the results as JSON")
	fs.StringVar(&b.cpuprofile, "cpuprofile", "", "write a CPU profile of this process while omo is loaded (in-process: server and client)")
	fs.BoolVar(&b.verbose, "v", false, "show omo's logs")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("omo bench webhook: unexpected argument %q", fs.Arg(0))}
	}
	cleanup, err := b.setup(ctx)
	defer cleanup()
	if err != nil {
		return err
	}
	return b.run(ctx)
}

// setup starts (or points at) omo and the baseline.
func (b *benchWebhook) setup(ctx context.Context) (func(), error) {
	var stops []func()
	cleanup := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	if b.target != "" {
		if b.token == "" {
			return cleanup, usageError{"omo bench webhook: -target needs -token"}
		}
		b.omoURL, b.dbDesc, b.queue = b.target, "as configured on the target", "as configured on the target"
		if b.dbURL != "" {
			db, err := sqldb.Open(ctx, b.dbURL, slog.New(slog.DiscardHandler))
			if err != nil {
				return cleanup, err
			}
			stops = append(stops, func() { db.Close() })
			b.omoDB, b.dbDesc = db, redactURL(b.dbURL)
		}
	} else {
		b.token, b.appID, b.aesKey = benchToken, demoOAAppID, ""
		if b.aes {
			b.aesKey = demoAESKey
		}
		stop, err := b.startOmo(ctx)
		if stop != nil {
			stops = append(stops, stop)
		}
		if err != nil {
			return cleanup, err
		}
	}
	if b.baseline {
		u, stop, err := serveLoopback(wechat.BaselineHandler(b.token, b.appID, b.aesKey))
		if err != nil {
			return cleanup, err
		}
		stops = append(stops, stop)
		b.baseURL = u + "/wechat/oa"
	}
	return cleanup, nil
}

// startOmo runs omo in-process the way demo does: SQLite in a temp file (or
// -db), embedded Redis (or -redis). Without -full only the HTTP API runs and
// the engine hands nothing to the queue: every outbox row is committed with
// its event and stays pending, which is what the webhook's answer waits for.
func (b *benchWebhook) startOmo(ctx context.Context) (func(), error) {
	dir, err := os.MkdirTemp("", "omo-bench-")
	if err != nil {
		return nil, err
	}
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
		os.RemoveAll(dir)
	}
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Database.URL = "sqlite://" + filepath.Join(dir, "omo.db")
	b.dbDesc = "sqlite, temp file"
	if b.dbURL != "" {
		cfg.Database.URL, b.dbDesc = b.dbURL, redactURL(b.dbURL)
	}
	cfg.Redis.URL = b.redisURL
	cfg.Campaigns.Dir = filepath.Join(dir, "no-campaigns") // missing: an empty set
	if b.campaigns != "" {
		cfg.Campaigns.Dir = b.campaigns
	}
	cfg.WeChat.OfficialAccount.AppID, cfg.WeChat.OfficialAccount.AppSecret = demoOAAppID, demoOASecret
	cfg.WeChat.OfficialAccount.Token, cfg.WeChat.OfficialAccount.EncodingAESKey = b.token, b.aesKey
	if b.full {
		// The pushes' openids are new to the simulator: AnyFollower makes
		// them followers there, so user/info and the sends succeed.
		sim := wechatsim.New(wechatsim.Options{AnyFollower: true})
		sim.AddApp(demoOAAppID, demoOASecret)
		simURL, stopSim, err := serveLoopback(sim)
		if err != nil {
			return stop, err
		}
		stops = append(stops, func() { stopSim(); sim.Close() })
		cfg.WeChat.APIBase = simURL
	}
	if err := cfg.Validate(); err != nil {
		return stop, err
	}
	logh := slog.DiscardHandler
	if b.verbose {
		logh = slog.NewTextHandler(b.env.stderr, nil)
	}
	log := slog.New(logh)
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return stop, err
	}
	stops = append(stops, a.shutdown)
	if b.full {
		b.queue = "relay + workers + WeChat simulator (as omo serve)"
		err = a.start(ctx, true, true)
	} else {
		b.queue = "webhook only: outbox rows committed, relay and workers off"
		a.engine = engine.New(a.db, nil, nil, log)
		if err = a.applyCampaigns(ctx); err == nil {
			err = a.startHTTP()
		}
	}
	if err != nil {
		return stop, err
	}
	if !a.redis.Embedded && b.full {
		b.queue += ", redis " + redactURL(b.redisURL)
	}
	b.omoURL, b.omoDB = a.URL()+"/wechat/oa", a.db
	return stop, nil
}

func (b *benchWebhook) options(url string) bench.Options {
	return bench.Options{URL: url, Token: b.token, AESKey: b.aesKey, AppID: b.appID,
		Concurrency: b.conc, Duration: b.duration, Count: b.count, Warmup: b.warmup,
		Scene: b.scene, AcceptReplies: b.campaigns != "" || b.target != "", Rate: b.rate}
}

// benchReport is the -json output.
type benchReport struct {
	Mode        string          `json:"mode"` // plaintext | safe
	Concurrency int             `json:"concurrency"`
	GOMAXPROCS  int             `json:"gomaxprocs"`
	Database    string          `json:"database"`
	Queue       string          `json:"queue"`
	Campaigns   string          `json:"campaigns"`
	Baseline    *bench.Result   `json:"baseline,omitempty"`
	Omo         *bench.Result   `json:"omo"`
	Ratio       float64         `json:"ratio,omitempty"` // omo events/s / baseline events/s
	Stored      *storedCheck    `json:"stored,omitempty"`
	Committer   *committerStats `json:"committer,omitempty"` // from omo's /metrics; nil if it could not be read
	OK          bool            `json:"ok"`                  // no errors and stored == acknowledged
}

type storedCheck struct {
	Acknowledged int64 `json:"acknowledged"`
	Stored       int64 `json:"stored"`
	OK           bool  `json:"ok"`
}

func (b *benchWebhook) run(ctx context.Context) error {
	rep := &benchReport{Mode: "plaintext", Concurrency: b.conc, GOMAXPROCS: runtime.GOMAXPROCS(0),
		Database: b.dbDesc, Queue: b.queue, Campaigns: "none"}
	if b.campaigns != "" {
		rep.Campaigns = b.campaigns
	}
	if b.aesKey != "" {
		rep.Mode = "safe"
	}
	if !b.asJSON {
		b.header(rep)
	}
	var err error
	if b.baseURL != "" {
		if rep.Baseline, err = bench.Run(ctx, b.options(b.baseURL)); err != nil {
			return err
		}
		rep.Baseline.Target = "baseline"
	}
	before, err := b.countEvents(ctx)
	if err != nil {
		return err
	}
	// The committer's figures come from omo's /metrics (best effort: a
	// -target behind a proxy may not serve it).
	murl, merr := metricsURL(b.omoURL)
	var snap committerSnapshot
	if merr == nil {
		snap, merr = scrapeCommitter(ctx, murl)
	}
	stopProfile, err := b.startProfile()
	if err != nil {
		return err
	}
	rep.Omo, err = bench.Run(ctx, b.options(b.omoURL))
	stopProfile()
	if err != nil {
		return err
	}
	if merr == nil {
		if now, err := scrapeCommitter(ctx, murl); err == nil {
			rep.Committer = now.since(snap)
		}
	}
	rep.Omo.Target = "omo"
	if rep.Baseline != nil && rep.Baseline.EventsPerSec > 0 {
		rep.Ratio = rep.Omo.EventsPerSec / rep.Baseline.EventsPerSec
	}
	if b.omoDB != nil {
		after, err := b.countEvents(ctx)
		if err != nil {
			return err
		}
		acked := rep.Omo.Acknowledged()
		rep.Stored = &storedCheck{Acknowledged: acked, Stored: after - before, OK: after-before == acked}
	}
	rep.OK = rep.Omo.Errors == 0 && (rep.Stored == nil || rep.Stored.OK)
	if b.asJSON {
		enc := json.NewEncoder(b.env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		b.table(b.env.stdout, rep)
	}
	if !rep.OK {
		return silentError{fmt.Errorf("omo bench webhook: failed")}
	}
	return nil
}

func (b *benchWebhook) countEvents(ctx context.Context) (int64, error) {
	if b.omoDB == nil {
		return 0, nil
	}
	n, err := b.omoDB.CountEvents(ctx)
	return int64(n), err
}

func (b *benchWebhook) startProfile() (func(), error) {
	if b.cpuprofile == "" {
		return func() {}, nil
	}
	f, err := os.Create(b.cpuprofile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func (b *benchWebhook) header(rep *benchReport) {
	load := fmt.Sprintf("%s warm-up, then %s", b.warmup, b.duration)
	if b.count > 0 {
		load = fmt.Sprintf("%s warm-up, then %d pushes", b.warmup, b.count)
	}
	where := "in-process"
	if b.target != "" {
		where = b.target
	}
	fmt.Fprintf(b.env.stdout, "omo bench webhook: %d connections, %s, %s pushes (signed subscribe events, each new), GOMAXPROCS=%d\n",
		b.conc, load, rep.Mode, rep.GOMAXPROCS)
	fmt.Fprintf(b.env.stdout, "  omo       %s; database %s; %s; campaigns %s\n", where, rep.Database, rep.Queue, rep.Campaigns)
	if b.baseURL != "" {
		fmt.Fprintln(b.env.stdout, "  baseline  bare silenceper OA server answering \"success\" (in-process, loopback)")
	}
	fmt.Fprintln(b.env.stdout)
}

func (b *benchWebhook) table(w io.Writer, rep *benchReport) {
	fmt.Fprintf(w, "%-9s %10s %9s %9s %9s %9s %8s %10s\n", "target", "events/s", "p50", "p90", "p99", "max", "errors", "cpu/event")
	for _, r := range []*bench.Result{rep.Baseline, rep.Omo} {
		if r == nil {
			continue
		}
		l := r.Latency
		fmt.Fprintf(w, "%-9s %10.0f %9s %9s %9s %9s %8d %8.0fµs\n", r.Target, r.EventsPerSec,
			ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max), r.Errors, float64(r.CPUPerEvent)/1e3)
	}
	if rep.Ratio > 0 {
		fmt.Fprintf(w, "\nomo/baseline: %.2f\n", rep.Ratio)
	}
	fmt.Fprintf(w, "(cpu/event: this process's CPU time per acknowledged event: %s)\n", b.cpuNote())
	if c := rep.Committer; c != nil {
		fmt.Fprintln(w, c.line())
	}
	if n := rep.Omo.Replies; n > 0 {
		fmt.Fprintf(w, "omo answered %d of the measured pushes with a passive reply (a campaign fired)\n", n)
	}
	for _, r := range []*bench.Result{rep.Baseline, rep.Omo} {
		if r != nil && r.Errors > 0 {
			fmt.Fprintf(w, "\n%s errors:\n  %s\n", r.Target, strings.Join(r.ErrorSummary(), "\n  "))
		}
	}
	s := rep.Stored
	switch {
	case s == nil:
		fmt.Fprintln(w, "\nstored: not checked (give -db with the target's database URL)")
	case s.OK:
		fmt.Fprintf(w, "\nstored: omo acknowledged %d events (warm-up included) and inbound_events grew by %d: ok\n", s.Acknowledged, s.Stored)
	case s.Stored < s.Acknowledged:
		fmt.Fprintf(w, "\nstored: FAILED: omo acknowledged %d events but inbound_events grew by %d: %d lost\n", s.Acknowledged, s.Stored, s.Acknowledged-s.Stored)
	default:
		fmt.Fprintf(w, "\nstored: MISMATCH: omo acknowledged %d events but inbound_events grew by %d (pushes that failed on the client's side after omo committed them, or other traffic)\n", s.Acknowledged, s.Stored)
	}
}

// cpuNote says whose CPU time cpu/event counts.
func (b *benchWebhook) cpuNote() string {
	switch {
	case b.target != "":
		return "the client only for omo (it runs elsewhere), client + server for the baseline"
	case b.dbURL != "" && !strings.HasPrefix(b.dbURL, "sqlite"):
		return "client + server; the database server's own CPU is not counted"
	}
	return "client + server (+ SQLite), both in this process"
}

// ms formats a latency in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
