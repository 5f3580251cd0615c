package main

import (
	"context"
	"flag"
	"fmt"
)

// runServe is `omo serve`: HTTP (webhook, mini-program and admin API) and
// workers in one process, until SIGINT or SIGTERM.
func runServe(ctx context.Context, args []string, env *runEnv) error {
	return runUntilDone(ctx, "serve", true, args, env)
}

// runWorker is `omo worker`: workers and the outbox relay only.
func runWorker(ctx context.Context, args []string, env *runEnv) error {
	return runUntilDone(ctx, "worker", false, args, env)
}

func runUntilDone(ctx context.Context, name string, serveHTTP bool, args []string, env *runEnv) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	path := configFlag(fs, env)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	cfg, err := loadConfig(fs, *path, env, true)
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.stderr)
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	if err := a.start(ctx, true, serveHTTP); err != nil {
		a.shutdown()
		return err
	}
	stopSync := func() {}
	if serveHTTP {
		stopSync = startFollowerSync(ctx, a)
	} else {
		log.Info("omo worker started", "database", string(a.db.Dialect()), "embedded_redis", a.redis.Embedded, "concurrency", cfg.Worker.Concurrency)
	}
	<-ctx.Done()
	log.Info("shutting down")
	stopSync()
	a.shutdown()
	return nil
}

func runMigrate(ctx context.Context, args []string, env *runEnv) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	path := configFlag(fs, env)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	cfg, err := loadConfig(fs, *path, env, false)
	if err != nil {
		return err
	}
	log := newLogger(cfg, env.stderr)
	db, err := openDB(ctx, cfg.Database.URL, cfg.Database.Committers, log)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(env.stdout, "database is up to date:", redactURL(cfg.Database.URL))
	return nil
}
