package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/sqldb"
)

// runCampaigns dispatches `omo campaigns validate|plan PATH...` and
// `omo campaigns pause|resume|cancel ID`.
func runCampaigns(ctx context.Context, args []string, env *runEnv) error {
	const usage = "usage: omo campaigns validate [--config FILE] PATH...\n       omo campaigns plan [--config FILE] PATH...\n       omo campaigns pause|resume|cancel [--config FILE] ID"
	if len(args) == 0 {
		return usageError{usage}
	}
	switch args[0] {
	case "validate":
		return runValidate(ctx, args[1:], env)
	case "plan":
		return runPlan(ctx, args[1:], env)
	case engine.VerbPause, engine.VerbResume, engine.VerbCancel:
		return runControl(ctx, args[0], args[1:], env)
	}
	return usageError{fmt.Sprintf("omo campaigns: unknown subcommand %q\n%s", args[0], usage)}
}

// runControl is omo campaigns pause|resume|cancel ID: it writes the
// control to the database, where every omo's workers read it before each
// send, so it takes effect without a running omo being told.
func runControl(ctx context.Context, verb string, args []string, env *runEnv) error {
	fs := flag.NewFlagSet("campaigns "+verb, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	path := configFlag(fs, env)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"usage: omo campaigns " + verb + " [--config FILE] ID"}
	}
	db, err := configDB(ctx, fs, *path, env)
	if err != nil {
		return err
	}
	defer db.Close()
	id := fs.Arg(0)
	// A typo must not print "paused" while the real campaign keeps sending.
	running, err := runningSet(ctx, db)
	if err != nil {
		return err
	}
	var c *campaigns.Campaign
	if running != nil {
		c = running.Campaign(id)
	}
	switch {
	case c == nil:
		return fmt.Errorf("no campaign %q in the set the running omo applied (omo campaigns plan shows it)", id)
	case c.On.Event != campaigns.OnSchedule:
		return fmt.Errorf("campaign %q is a %s campaign: pause, resume and cancel apply to schedule campaigns", id, c.On.Event)
	}
	state, err := engine.SetControl(ctx, db, id, verb, time.Now())
	if err != nil {
		return err
	}
	if state == "" {
		state = "running"
	}
	fmt.Fprintf(env.stdout, "campaign %s: %s\n", id, state)
	return nil
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

func runValidate(ctx context.Context, args []string, env *runEnv) error {
	fs := flag.NewFlagSet("campaigns validate", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	path := configFlag(fs, env)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() == 0 {
		return usageError{"usage: omo campaigns validate [--config FILE] PATH... (files or folders)"}
	}
	set, err := readSet(fs.Args(), env.stdout)
	if err != nil {
		return err
	}
	now := time.Now()
	ps := set.StaleAt(now)
	if flagSet(fs, "config") || lookup(env.environ, "OMO_CONFIG") != "" {
		// With a database, audiences are also checked against what it holds.
		db, err := configDB(ctx, fs, *path, env)
		if err != nil {
			return err
		}
		defer db.Close()
		more, err := audienceProblems(ctx, db, set, now)
		if err != nil {
			return err
		}
		ps = append(ps, more...)
	}
	printWarnings(env.stdout, set)
	if len(ps) > 0 {
		fmt.Fprintln(env.stdout, ps.Error())
		return silentError{fmt.Errorf("%d problem(s)", len(ps))}
	}
	fmt.Fprintf(env.stdout, "ok: %d file(s), %d pool(s), %d campaign(s), %d referral program(s)\n",
		len(set.Files), len(set.Pools), len(set.Campaigns), len(set.Referrals))
	return nil
}

func printWarnings(w io.Writer, set *campaigns.Set) {
	for _, p := range set.Warnings {
		fmt.Fprintln(w, "warning: "+p.String())
	}
}

// audienceProblems evaluates every schedule campaign's audience against
// db: a tag no follower carries and no campaign sets (once the database
// knows any tags, e.g. after omo followers sync), a near: store missing
// from the catalogue, or an audience the database cannot evaluate.
func audienceProblems(ctx context.Context, db *sqldb.DB, set *campaigns.Set, now time.Time) (campaigns.Problems, error) {
	known, err := db.KnownTags(ctx)
	if err != nil {
		return nil, err
	}
	made := set.TagsMade()
	var ps campaigns.Problems
	for _, c := range set.Campaigns {
		if len(known) > 0 {
			for field, list := range map[string][]string{"tags_any": c.When.TagsAny, "tags_all": c.When.TagsAll, "tags_none": c.When.TagsNone} {
				for _, t := range list {
					if !known[t] && !made[t] {
						ps = append(ps, campaigns.Problem{File: c.Pos.File, Line: c.AudienceLine(field), Field: "when." + field,
							Why: fmt.Sprintf("no follower has tag %q and no campaign sets it (tags known: %d; run omo followers sync after adding it at WeChat)", t, len(known))})
					}
				}
			}
		}
		if c.On.Event != campaigns.OnSchedule {
			continue
		}
		a, err := db.CompileAudience(ctx, &c.When, c.ID, now)
		if err == nil {
			_, err = db.CountAudience(ctx, a)
		}
		if err != nil {
			field := "when"
			if c.When.Near != nil {
				field = "near"
			}
			ps = append(ps, campaigns.Problem{File: c.Pos.File, Line: c.AudienceLine(field), Field: "when", Why: "the audience cannot be evaluated: " + errs.Message(err)})
		}
	}
	return ps, nil
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
	printWarnings(env.stdout, next)
	return printSchedules(ctx, env.stdout, db, next, time.Now())
}

// printSchedules shows, for each schedule campaign of set, its next three
// slots and who its audience holds now (size and five examples).
func printSchedules(ctx context.Context, w io.Writer, db *sqldb.DB, set *campaigns.Set, now time.Time) error {
	for _, c := range set.Campaigns {
		if c.On.Event != campaigns.OnSchedule {
			continue
		}
		p, err := engine.PreviewOn(ctx, db, c, now, 3, 5)
		if err != nil {
			fmt.Fprintf(w, "schedule %s: the audience cannot be evaluated: %s\n", c.ID, errs.Message(err))
			continue
		}
		slots := make([]string, len(p.NextSlots))
		for i, s := range p.NextSlots {
			slots[i] = s.In(c.Location).Format("2006-01-02 15:04 MST")
		}
		if len(slots) == 0 {
			slots = []string{"none (its time has passed)"}
		}
		fmt.Fprintf(w, "schedule %s: next %s\n    audience now: %d follower(s)", c.ID, strings.Join(slots, ", "), p.Size)
		if len(p.Examples) > 0 {
			fmt.Fprintf(w, ", e.g. %s", strings.Join(p.Examples, ", "))
		}
		fmt.Fprintln(w)
		if p.Control != "" {
			fmt.Fprintf(w, "    %s (omo campaigns resume %s)\n", p.Control, c.ID)
		}
	}
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
