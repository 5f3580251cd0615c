package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/omohq/omo/config"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/redisx"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/worker"
)

// The fan-out goals of issue 9: a 1M-recipient firing planned and queued in
// under a minute and 200 MB resident on SQLite, and sends within ±5 % of
// worker.send_rate.
const (
	fanoutGoalRecipients = 1_000_000
	fanoutGoalTime       = 60 * time.Second
	fanoutGoalRSS        = 200 << 20
	fanoutGoalRateDev    = 5.0 // percent
)

// benchFanout is `omo bench fanout`: its flags and what it set up.
type benchFanout struct {
	env                        *runEnv
	followers, naive, sendRate int
	naiveSet                   bool // -naive was given
	conc                       int
	store, dbURL, redisURL     string
	cpuprofile                 string
	sendFor, warmup            time.Duration
	asJSON, verbose            bool

	log       *slog.Logger
	db        *sqldb.DB
	rds       *redisx.Redis
	relay     *worker.Relay
	insp      *asynq.Inspector
	eng       *engine.Engine
	slot      *sqldb.Slot // the firing, once planned
	dbDesc    string
	redisDesc string
}

func runBenchFanout(ctx context.Context, args []string, env *runEnv) error {
	def := config.Default()
	b := &benchFanout{env: env}
	fs := flag.NewFlagSet("bench fanout", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprint(env.stderr, `usage: omo bench fanout [flags]

Seeds -followers subscribed followers (half with home store sh-001, half
bj-001; not measured), then, in one run:
  plan   a schedule campaign fires (engine.TickSchedules, the real outbox
         relay and Redis): time until every recipient is in the ledger,
         every batch's outbox item committed and every batch task (500
         recipients each) in Redis; recipients per second and peak RSS;
  naive  the design omo does not use: one asynq enqueue per recipient, on
         the same Redis, for -naive recipients, and that rate extrapolated;
  send   the workers send the firing's template messages to an in-process
         WeChat simulator at -send-rate: the rate the simulator sees per
         second after -send-warmup, for -send-duration.
Exit status 1 if the ledger, the queue or the sends are not what they must
be (the goals are reported, not enforced). By default the database is a
SQLite temp file and Redis is embedded (in-process; the queue figures then
need a real redis-server: -redis redis://...).

flags:
`)
		fs.PrintDefaults()
	}
	fs.IntVar(&b.followers, "followers", 1_000_000, "followers to seed")
	fs.StringVar(&b.store, "store", "", "audience: only followers whose home store is this (sh-001 or bj-001, half of -followers each); default every follower")
	fs.StringVar(&b.dbURL, "db", "", "database (default a SQLite temp file; sqlite://PATH or postgres://...); must hold no followers")
	fs.StringVar(&b.redisURL, "redis", "", "Redis (default embedded in-process); use one of the bench's own: its default queue must be empty")
	fs.IntVar(&b.naive, "naive", 200_000, "naive design: enqueue one asynq task each for this many recipients (at most the audience; 0 = skip; default 20,000 on the embedded Redis, which slows down as it fills)")
	fs.IntVar(&b.sendRate, "send-rate", def.Worker.SendRate, "worker.send_rate for the send phase: sends per second (0 = no limit)")
	fs.DurationVar(&b.sendFor, "send-duration", 20*time.Second, "how long to measure the send phase (whole seconds; 0 = skip it)")
	fs.DurationVar(&b.warmup, "send-warmup", 2*time.Second, "send phase: sends before measuring (not in the figures)")
	fs.IntVar(&b.conc, "c", def.Worker.Concurrency, "worker.concurrency for the send phase")
	fs.StringVar(&b.cpuprofile, "cpuprofile", "", "write a CPU profile of the plan phase to this file")
	fs.BoolVar(&b.asJSON, "json", false, "print the results as JSON")
	fs.BoolVar(&b.verbose, "v", false, "show omo's logs")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return usageError{err.Error()}
	}
	if err := b.check(fs); err != nil {
		return err
	}
	cleanup, err := b.setup(ctx)
	defer cleanup()
	if err != nil {
		return err
	}
	return b.run(ctx)
}

// check refuses flags that cannot make a run.
func (b *benchFanout) check(fs *flag.FlagSet) error {
	bad := func(format string, args ...any) error {
		return usageError{"omo bench fanout: " + fmt.Sprintf(format, args...)}
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case b.followers < 1:
		return bad("-followers must be at least 1, got %d", b.followers)
	case b.store != "" && b.store != fanoutStoreSH && b.store != fanoutStoreBJ:
		return bad("-store must be %s or %s (the home stores the bench seeds), got %q", fanoutStoreSH, fanoutStoreBJ, b.store)
	case b.naive < 0, b.sendRate < 0, b.sendFor < 0, b.warmup < 0:
		return bad("-naive, -send-rate, -send-duration and -send-warmup must not be negative")
	case b.conc < 1:
		return bad("-c must be at least 1, got %d", b.conc)
	}
	b.sendFor = b.sendFor.Round(time.Second)
	b.naiveSet = flagSet(fs, "naive")
	return nil
}

// setup opens the database (migrated, and refused unless it holds no
// followers), Redis (refused unless omo's queue is empty there) and the
// engine with the real relay as its queue. The cleanup it returns stops
// the relay, deletes the bench's batch tasks from an external Redis, and
// closes Redis and the database.
func (b *benchFanout) setup(ctx context.Context) (func(), error) {
	var stops []func()
	cleanup := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	logh := slog.DiscardHandler
	if b.verbose {
		logh = slog.NewTextHandler(b.env.stderr, nil)
	}
	b.log = slog.New(logh)
	url, desc := b.dbURL, redactURL(b.dbURL)
	if url == "" {
		dir, err := os.MkdirTemp("", "omo-bench-fanout-")
		if err != nil {
			return cleanup, err
		}
		stops = append(stops, func() { os.RemoveAll(dir) })
		url, desc = "sqlite://"+filepath.Join(dir, "omo.db"), "sqlite, temp file"
	}
	b.dbDesc = desc
	db, err := openDB(ctx, url, 0, b.log)
	if err != nil {
		return cleanup, err
	}
	stops = append(stops, func() { db.Close() })
	b.db = db
	if n, err := b.countFollowers(ctx); err != nil || n > 0 {
		if err == nil {
			err = fmt.Errorf("omo bench fanout: -db %s already holds %d followers: give it an empty database", desc, n)
		}
		return cleanup, err
	}
	if b.rds, err = redisx.Open(b.redisURL, b.log); err != nil {
		return cleanup, err
	}
	stops = append(stops, func() { b.rds.Close() })
	b.insp = asynq.NewInspectorFromRedisClient(b.rds.Client)
	b.redisDesc = "embedded (in-process miniredis)"
	if b.rds.Embedded && !b.naiveSet {
		b.naive = min(b.naive, naiveEmbedded)
	}
	if !b.rds.Embedded {
		b.redisDesc = redactURL(b.redisURL)
		if n, err := b.queueSize(worker.Queue); err != nil || n > 0 {
			if err == nil {
				err = fmt.Errorf("omo bench fanout: -redis %s: queue %q holds %d tasks: give the bench a Redis (or database number) of its own", b.redisDesc, worker.Queue, n)
			}
			return cleanup, err
		}
		stops = append(stops, b.deleteBatchTasks) // after the relay stopped: it would enqueue them again
	}
	b.relay = worker.NewRelay(b.rds.Client, b.db, b.log)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); b.relay.Run(rctx) }()
	stops = append(stops, func() { cancel(); <-done; b.relay.Close() })
	b.eng = engine.New(b.db, b.relay, nil, b.log)
	return cleanup, b.eng.Init(ctx)
}

// queueSize counts the tasks of queue in Redis in every state (0 when the
// queue was never used).
func (b *benchFanout) queueSize(queue string) (int, error) {
	queues, err := b.insp.Queues()
	if err != nil {
		return 0, fmt.Errorf("redis: %w", err)
	}
	if !slices.Contains(queues, queue) {
		return 0, nil // GetQueueInfo's error for this is not asynq.ErrQueueNotFound
	}
	info, err := b.insp.GetQueueInfo(queue)
	if err != nil {
		return 0, fmt.Errorf("redis: %w", err)
	}
	return info.Size, nil
}

// deleteBatchTasks removes the firing's batch tasks that are left in an
// external Redis, so the bench leaves nothing for a later omo to send.
func (b *benchFanout) deleteBatchTasks() {
	if b.slot == nil {
		return
	}
	for i := range b.slot.Batches {
		b.insp.DeleteTask(worker.Queue, engine.BatchItemID(b.slot.ID, i)) // a task already done is gone: fine
	}
}

func (b *benchFanout) run(ctx context.Context) error {
	rep := &fanoutReport{GOMAXPROCS: runtime.GOMAXPROCS(0), Database: b.dbDesc, Redis: b.redisDesc,
		RedisEmbedded: b.rds.Embedded, Followers: b.followers, Audience: b.audienceDesc()}
	if b.rds.Embedded {
		fmt.Fprintln(b.env.stderr, "omo bench fanout: warning: embedded Redis (in-process miniredis): the queue and send figures need a real redis-server (-redis redis://...)")
	}
	var err error
	if rep.SeedSeconds, err = b.seed(ctx); err != nil {
		return err
	}
	if rep.Recipients, err = b.countAudience(ctx); err != nil {
		return err
	}
	if !b.asJSON {
		b.header(rep)
	}
	if rep.Plan, err = b.plan(ctx, rep.Recipients); err != nil {
		return err
	}
	if b.naive > 0 {
		if rep.Naive, err = b.naivePhase(ctx, rep.Recipients); err != nil {
			return err
		}
	}
	if b.sendFor > 0 {
		if rep.Send, err = b.send(ctx, rep.Recipients); err != nil {
			return err
		}
	}
	rep.Goals = b.goals(rep)
	rep.OK = rep.Plan.OK && (rep.Send == nil || rep.Send.OK)
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
		return silentError{fmt.Errorf("omo bench fanout: failed")}
	}
	return nil
}

func (b *benchFanout) audienceDesc() string {
	if b.store == "" {
		return "every subscribed follower"
	}
	return "when: {store: " + b.store + "}"
}
