package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/omohq/omo/stores"
)

// runStores is `omo stores import FILE.csv [--coords gcj02|wgs84]`.
func runStores(ctx context.Context, args []string, env *runEnv) error {
	const usage = "usage: omo stores import [--config FILE] [--coords gcj02|wgs84] FILE.csv\n  header id,name,lat,lng then optional city,address,page; coordinates GCJ-02 as WeChat reports them"
	if len(args) == 0 || args[0] != "import" {
		return usageError{usage}
	}
	fs := flag.NewFlagSet("stores import", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	path := configFlag(fs, env)
	coords := fs.String("coords", "gcj02", "the file's coordinate system: gcj02 (WeChat's, default) or wgs84 (GPS; converted on import)")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 || (*coords != "gcj02" && *coords != "wgs84") {
		return usageError{usage}
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	list, err := stores.ParseCSV(f, *coords)
	if err != nil {
		var rows stores.RowErrors
		if errors.As(err, &rows) {
			fmt.Fprintf(env.stdout, "%s: nothing imported:\n%v\n", fs.Arg(0), err)
			return silentError{err}
		}
		return fmt.Errorf("%s: %w", fs.Arg(0), err)
	}
	db, err := configDB(ctx, fs, *path, env)
	if err != nil {
		return err
	}
	defer db.Close()
	added, err := db.ImportStores(ctx, list, time.Now(), func(done int) {
		fmt.Fprintf(env.stderr, "\r%d of %d stores", done, len(list))
	})
	if len(list) >= 1000 {
		fmt.Fprintln(env.stderr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "imported %d stores from %s (%d new, %d updated; coordinates %s)\n", len(list), fs.Arg(0), added, len(list)-added, *coords)
	return nil
}
