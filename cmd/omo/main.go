// Command omo is the WeChat Official Account + Mini-Program marketing
// engine. See DESIGN.md for the subcommands; `omo help` lists them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // campaign time zones work on hosts without a zoneinfo database
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Environ())
	stop()
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var se silentError
		if !errors.As(err, &se) {
			fmt.Fprintln(os.Stderr, "omo:", err)
		}
		os.Exit(1)
	}
}

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, env *runEnv) error
}

// runEnv is the process's surroundings, passed in so tests can run omo in-process.
type runEnv struct {
	stdout, stderr io.Writer
	environ        []string
}

func commands() []command {
	return []command{
		{"serve", "webhook receiver + mini-program API + admin API + workers in one process", runServe},
		{"worker", "workers only (scale out: run many)", runWorker},
		{"demo", "everything plus the built-in WeChat simulator and scripted followers", runDemo},
		{"sim", "the WeChat simulator alone: a fake api.weixin.qq.com and a follower you can drive", runSim},
		{"campaigns", "validate PATH... | plan PATH...: check campaign files; what would change against the running set", runCampaigns},
		{"stores", "import FILE.csv: load the store catalogue (id,name,lat,lng[,city,address,page])", runStores},
		{"followers", "sync: read WeChat's follower list into omo; an interrupted sync continues where it stopped", runFollowers},
		{"qrcode", "--scene store:sh-001 --out sh-001.png: a permanent OA QR code for a store's counter or poster", runQRCode},
		{"migrate", "apply database migrations", runMigrate},
		{"bench", "the load generators used for the performance figures (omo bench webhook, omo bench fanout)", runBench},
	}
}

// run dispatches args to a subcommand.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) error {
	env := &runEnv{stdout: stdout, stderr: stderr, environ: environ}
	if len(args) == 0 {
		usage(stderr)
		return usageError{"omo: no command given"}
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], env)
		}
	}
	usage(stderr)
	return usageError{fmt.Sprintf("omo: unknown command %q", args[0])}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: omo COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun omo COMMAND -h for a command's flags.")
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// silentError has already been reported to the user: exit 1 and print nothing more.
type silentError struct{ error }
