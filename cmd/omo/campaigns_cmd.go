package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/sqldb"
)

// runCampaigns dispatches `omo campaigns validate|plan PATH...`.
func runCampaigns(ctx context.Context, args []string, env *runEnv) error {
	const usage = "usage: omo campaigns validate PATH...\n       omo campaigns plan [--config FILE] PATH..."
	if len(args) == 0 {
		return usageError{usage}
	}
	switch args[0] {
	case "validate":
		return runValidate(args[1:], env)
	case "plan":
		return runPlan(ctx, args[1:], env)
	}
	return usageError{fmt.Sprintf("omo campaigns: unknown subcommand %q\n%s", args[0], usage)}
}

// readSet reads and checks the files and folders named by paths as one
// set. Problems are printed one a line to w and returned as a silent error.
func readSet(paths []string, w io.Writer) (*campaigns.Set, error) {
	files, err := campaigns.ReadPaths(paths...)
	if err != nil {
		return nil, err
	}
	set, err := campaigns.Load(files)
	var ps campaigns.Problems
	if errors.As(err, &ps) {
		fmt.Fprintln(w, ps.Error())
		return nil, silentError{fmt.Errorf("%d problem(s)", len(ps))}
	}
	return set, err
}

func runValidate(args []string, env *runEnv) error {
	fs := flag.NewFlagSet("campaigns validate", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() == 0 {
		return usageError{"usage: omo campaigns validate PATH... (files or folders)"}
	}
	set, err := readSet(fs.Args(), env.stdout)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "ok: %d file(s), %d pool(s), %d campaign(s), %d referral program(s)\n",
		len(set.Files), len(set.Pools), len(set.Campaigns), len(set.Referrals))
	return nil
}

// runPlan prints what applying the files would change against the set the
// running omo applied last (recorded in the database of --config).
func runPlan(ctx context.Context, args []string, env *runEnv) error {
	fs := flag.NewFlagSet("campaigns plan", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	path := configFlag(fs, env)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() == 0 {
		return usageError{"usage: omo campaigns plan [--config FILE] PATH..."}
	}
	next, err := readSet(fs.Args(), env.stdout)
	if err != nil {
		return err
	}
	db, err := configDB(ctx, fs, *path, env)
	if err != nil {
		return err
	}
	defer db.Close()
	running, err := runningSet(ctx, db)
	if err != nil {
		return err
	}
	printPlan(env.stdout, running, next)
	return nil
}

// runningSet is the set omo applied last, nil if none.
func runningSet(ctx context.Context, db *sqldb.DB) (*campaigns.Set, error) {
	blob, err := db.LatestCampaignSet(ctx)
	if errs.Is(err, errs.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var files []campaigns.File
	if err := json.Unmarshal(blob, &files); err != nil {
		return nil, fmt.Errorf("the recorded running set is unreadable: %w", err)
	}
	return campaigns.Load(files)
}

func printPlan(w io.Writer, running, next *campaigns.Set) {
	if running == nil {
		fmt.Fprintln(w, "nothing is running yet: everything below would be added")
	}
	changes := campaigns.Diff(running, next)
	if len(changes) == 0 {
		fmt.Fprintln(w, "no changes: the files match the running set")
	}
	for _, c := range changes {
		fmt.Fprintf(w, "%s %s %s  (%s)\n", c.Op, c.Kind, c.ID, c.Source)
		for _, l := range c.Lines {
			fmt.Fprintf(w, "    %s\n", l)
		}
	}
	add, change, del := 0, 0, 0
	for _, c := range changes {
		switch c.Op {
		case "+":
			add++
		case "~":
			change++
		case "-":
			del++
		}
	}
	fmt.Fprintf(w, "plan: %d to add, %d to change, %d to remove\n", add, change, del)
}
