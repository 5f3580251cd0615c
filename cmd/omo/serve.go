package main

import (
	"context"
	"flag"
	"fmt"

	"omo/store"
)

func runServe(ctx context.Context, args []string, env *runEnv) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
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
	if err := a.start(ctx, true, true); err != nil {
		a.shutdown()
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	a.shutdown()
	return nil
}

func runWorker(ctx context.Context, args []string, env *runEnv) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
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
	if err := a.start(ctx, true, false); err != nil {
		a.shutdown()
		return err
	}
	<-ctx.Done()
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
	db, err := store.Open(ctx, cfg.Database.URL, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, "database is up to date:", redactURL(cfg.Database.URL))
	return nil
}
