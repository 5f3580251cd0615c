package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/omohq/omo/config"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/httpapi"
	"github.com/omohq/omo/metrics"
	"github.com/omohq/omo/mpsession"
	"github.com/omohq/omo/redisx"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/worker"
)

// configFlag adds --config to fs, defaulting to $OMO_CONFIG or configs/omo.yaml.
func configFlag(fs *flag.FlagSet, env *runEnv) *string {
	def := "configs/omo.yaml"
	if v := lookup(env.environ, "OMO_CONFIG"); v != "" {
		def = v
	}
	return fs.String("config", def, "config file (env OMO_CONFIG)")
}

func lookup(environ []string, key string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// loadConfig reads the config and, when validate, checks it. The default
// file may be missing (environment variables alone are enough); a file
// named by --config or OMO_CONFIG may not.
func loadConfig(fs *flag.FlagSet, path string, env *runEnv, validate bool) (config.Config, error) {
	named := lookup(env.environ, "OMO_CONFIG") != "" || flagSet(fs, "config")
	c, err := config.Load(path, !named, env.environ)
	if err != nil || !validate {
		return c, err
	}
	return c, c.Validate()
}

// redactURL hides the password in a database or Redis URL.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

func newLogger(c config.Config, w interface{ Write([]byte) (int, error) }) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// app is omo wired together. Which parts run depends on the command.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	db       *sqldb.DB
	redis    *redisx.Redis
	wx       *wechat.Client
	relay    *worker.Relay
	worker   *worker.Server
	engine   *engine.Engine
	metrics  *metrics.Metrics // the whole path's, served on /metrics
	http     *http.Server
	ln       net.Listener
	cancel   context.CancelFunc
	done     chan struct{} // the relay stopped
	watching chan struct{} // the campaign watcher stopped

	reminding chan struct{} // the coupon reminder scan stopped

	callLease time.Duration // worker.Options.CallLease; 0 = the default (omo demo sets it)

	scheduling chan struct{} // the schedule ticker stopped (nil when not run)
	deciding   chan struct{} // the split decision ticker stopped (nil when not run)
}

// openDB opens the database at url and migrates it to the latest schema.
// It closes the database again if the migration fails.
func openDB(ctx context.Context, url string, committers int, log *slog.Logger) (*sqldb.DB, error) {
	db, err := sqldb.OpenWith(ctx, url, log, sqldb.Options{Committers: committers})
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// configDB opens and migrates the database of the config at path, for the
// commands that need nothing else from it (the config is not validated).
func configDB(ctx context.Context, fs *flag.FlagSet, path string, env *runEnv) (*sqldb.DB, error) {
	cfg, err := loadConfig(fs, path, env, false)
	if err != nil {
		return nil, err
	}
	return openDB(ctx, cfg.Database.URL, cfg.Database.Committers, stderrLogger(env))
}

// oaTools is what the one-shot commands that call the Official Account
// (qrcode, followers sync) need: the database, Redis for the shared token,
// and the WeChat client.
type oaTools struct {
	db  *sqldb.DB
	rds *redisx.Redis
	wx  *wechat.Client
}

// configOA loads and validates the config at path and opens what the
// Official Account commands need (see openOA).
func configOA(ctx context.Context, fs *flag.FlagSet, path string, env *runEnv) (*oaTools, error) {
	cfg, err := loadConfig(fs, path, env, true)
	if err != nil {
		return nil, err
	}
	return openOA(ctx, cfg, stderrLogger(env))
}

// openOA opens the database (migrating it), Redis and an OA-only WeChat
// client; close releases them, skipping what was never opened.
func openOA(ctx context.Context, cfg config.Config, log *slog.Logger) (t *oaTools, err error) {
	t = &oaTools{}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if t.db, err = openDB(ctx, cfg.Database.URL, cfg.Database.Committers, log); err != nil {
		return nil, err
	}
	if t.rds, err = redisx.Open(cfg.Redis.URL, log); err != nil {
		return nil, err
	}
	t.wx, err = wechat.NewClient(wechat.Config{APIBase: cfg.WeChat.APIBase, Timeout: cfg.WeChat.Timeout,
		OAAppID: cfg.WeChat.OfficialAccount.AppID, OAAppSecret: cfg.WeChat.OfficialAccount.AppSecret}, t.rds.Client, log)
	if err != nil {
		return nil, err
	}
	return t, nil
}

func (t *oaTools) close() {
	if t.rds != nil {
		t.rds.Close()
	}
	if t.db != nil {
		t.db.Close()
	}
}

// openApp opens the database (migrating it), Redis and the WeChat client.
// On failure it releases whatever it had opened.
func openApp(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	if a.db, err = openDB(ctx, cfg.Database.URL, cfg.Database.Committers, log); err != nil {
		return nil, err
	}
	if a.redis, err = redisx.Open(cfg.Redis.URL, log); err != nil {
		return nil, err
	}
	a.metrics = newMetrics(a.db, a.redis.Client, log)
	a.db.SetObserver(a.metrics)
	a.wx, err = wechat.NewClient(wechat.Config{
		APIBase: cfg.WeChat.APIBase, Timeout: cfg.WeChat.Timeout, Tokens: a.metrics,
		OAAppID: cfg.WeChat.OfficialAccount.AppID, OAAppSecret: cfg.WeChat.OfficialAccount.AppSecret,
		MPAppID: cfg.WeChat.MiniProgram.AppID, MPAppSecret: cfg.WeChat.MiniProgram.AppSecret,
	}, a.redis.Client, log)
	if err != nil {
		return nil, err
	}
	a.relay = worker.NewRelay(a.redis.Client, a.db, log)
	a.engine = engine.New(a.db, a.relay, nil, log)
	if err = a.engine.Init(ctx); err != nil {
		return nil, err
	}
	if err = a.applyCampaigns(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// start runs the relay, the workers (when workers) and the HTTP server
// (when serveHTTP) in the background.
func (a *app) start(ctx context.Context, workers, serveHTTP bool) error {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	a.done = make(chan struct{})
	go func() { defer close(a.done); a.relay.Run(rctx) }()
	a.watching = make(chan struct{})
	go func() { defer close(a.watching); a.watchCampaigns(rctx, 2*time.Second) }()
	a.reminding = make(chan struct{})
	go func() { defer close(a.reminding); a.engine.RunExpiring(rctx, expiringScanEvery) }()
	if serveHTTP {
		// Every omo serve ticks; a slot's unique row makes one of them fire it.
		a.scheduling = make(chan struct{})
		go func() { defer close(a.scheduling); a.engine.RunSchedules(rctx, instanceName(), scheduleTickEvery) }()
		// Every omo serve judges the splits; the winner's one-row insert makes one of them record it.
		a.deciding = make(chan struct{})
		go func() { defer close(a.deciding); a.engine.RunWinners(rctx, instanceName(), winnerTickEvery) }()
	}
	if workers {
		sender := wechat.NewSender(a.wx, a.cfg.WeChat.MiniProgram.AppID) // the worker's Sender and Directory
		a.worker = worker.NewServer(a.redis.Client, a.db, sender, sender,
			worker.Options{Concurrency: a.cfg.Worker.Concurrency, AppID: a.cfg.WeChat.OfficialAccount.AppID, SendRate: a.cfg.Worker.SendRate,
				Referrals: a.engine, Fanout: a.engine, Observer: a.metrics, CallLease: a.callLease,
				Mass: worker.NewMass(a.redis.Client, a.db, sender, worker.MassOptions{AppID: a.cfg.WeChat.OfficialAccount.AppID,
					ServiceAccount: a.cfg.WeChat.OfficialAccount.ServiceAccount, Observer: a.metrics}, a.log)}, a.log)
		if err := a.worker.Start(); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
	}
	if !serveHTTP {
		return nil
	}
	return a.startHTTP()
}

// startHTTP serves the HTTP API (the webhook included) on cfg.HTTP.Addr in
// the background.
func (a *app) startHTTP() error {
	codec, err := wechat.NewCodec(wechat.WebhookConfig{
		AppID: a.cfg.WeChat.OfficialAccount.AppID, Token: a.cfg.WeChat.OfficialAccount.Token,
		EncodingAESKey: a.cfg.WeChat.OfficialAccount.EncodingAESKey,
	})
	if err != nil {
		return err
	}
	queues, err := worker.Monitor(a.cfg.Redis.URL, a.redis.Addr(), "/admin/queues")
	if err != nil {
		return fmt.Errorf("redis.url: %w", err)
	}
	deps := httpapi.Deps{
		Codec: codec, Engine: a.engine, Log: a.log,
		Ready:      map[string]httpapi.Checker{"database": a.db, "redis": a.redis},
		AdminToken: a.cfg.Admin.Token, Queues: queues,
		SessionSecret: sessionSecret(a.cfg), SessionTTL: a.cfg.WeChat.MiniProgram.SessionTTL,
		Collectors: a.metrics.Collectors(),
	}
	if a.cfg.WeChat.MiniProgram.AppID != "" {
		deps.MiniProgram = wechat.NewLogin(a.wx)
		deps.QRCodes = wechat.NewShareCodes(a.wx)
		deps.SharePage = a.cfg.WeChat.MiniProgram.SharePage
	}
	api := httpapi.New(deps)
	a.ln, err = net.Listen("tcp", a.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("http.addr %s: %w", a.cfg.HTTP.Addr, err)
	}
	a.http = &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := a.http.Serve(a.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server stopped", "err", err)
		}
	}()
	a.log.Info("omo listening", "addr", a.ln.Addr().String(), "database", string(a.db.Dialect()), "embedded_redis", a.redis.Embedded)
	return nil
}

// sessionSecret is the key of the mini-program session tokens:
// wechat.mini_program.session_secret, else derived from the mini-program's
// app secret; nil (every token refused, login 503) when neither is set.
func sessionSecret(c config.Config) []byte {
	mp := c.WeChat.MiniProgram
	switch {
	case mp.SessionSecret != "":
		return []byte(mp.SessionSecret)
	case mp.AppSecret != "":
		return mpsession.DeriveSecret(mp.AppSecret)
	}
	return nil
}

// URL is the base URL the HTTP server listens on.
func (a *app) URL() string { return "http://" + a.ln.Addr().String() }

// shutdown stops, in order: HTTP, the background loops the relay and the
// campaign watcher run, then what close releases.
func (a *app) shutdown() {
	if a.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		a.http.Shutdown(ctx)
		cancel()
	}
	if a.cancel != nil {
		a.cancel()
		<-a.done
		<-a.watching
		<-a.reminding
		if a.deciding != nil {
			<-a.deciding
		}
		if a.scheduling != nil {
			<-a.scheduling
		}
	}
	a.close()
}

// close releases, in order, the outbox relay, the workers, Redis and the
// database, skipping any that was never opened: it is the one cleanup for
// openApp's error paths and the end of shutdown.
func (a *app) close() {
	if a.relay != nil {
		a.relay.Close()
	}
	if a.worker != nil {
		a.worker.Shutdown()
	}
	if a.redis != nil {
		a.redis.Close()
	}
	if a.db != nil {
		a.db.Close()
	}
}

// stderrLogger is used before the config (and its log settings) is known.
func stderrLogger(env *runEnv) *slog.Logger {
	return slog.New(slog.NewTextHandler(env.stderr, nil))
}
