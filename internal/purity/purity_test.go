package purity

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/omohq/omo/"

// domain are the packages that hold the rules.
var domain = []string{"campaigns", "referral", "coupons", "stores", "followers", "events", "outbox"}

// forbidden are the adapters and the libraries only adapters may use; a
// path ending in /... forbids its subpackages too.
var forbidden = []string{
	module + "sqldb/...", module + "engine/...", module + "worker/...", module + "httpapi/...",
	module + "wechat/...", module + "redisx/...", module + "cmd/...",
	"github.com/hibiken/asynq/...", "github.com/hibiken/asynqmon/...", "github.com/silenceper/...",
	"database/sql", "github.com/jmoiron/sqlx/...", "github.com/mattn/go-sqlite3/...", "github.com/jackc/pgx/...",
	"net/http/...", "github.com/redis/go-redis/...", "github.com/go-redis/redis/...", "github.com/alicebob/miniredis/...",
}

func isForbidden(path string) bool {
	return slices.ContainsFunc(forbidden, func(f string) bool {
		if tree, ok := strings.CutSuffix(f, "/..."); ok {
			return path == tree || strings.HasPrefix(path, tree+"/")
		}
		return path == f
	})
}

// violations lists "importer imports forbidden" for every place where pkg,
// or a package it depends on that is itself allowed, imports a forbidden
// one: the edges that cross the line, not what lies beyond them.
func violations(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, pkg).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var bad []string
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != pkg && isForbidden(fields[0]) {
			continue
		}
		for _, imp := range fields[1:] {
			if isForbidden(imp) {
				bad = append(bad, fields[0]+" imports "+imp)
			}
		}
	}
	return bad
}

// TestDomainIsPure fails for every forbidden package a domain package
// depends on, naming the package that imports it.
func TestDomainIsPure(t *testing.T) {
	for _, name := range domain {
		t.Run(name, func(t *testing.T) {
			for _, v := range violations(t, module+name) {
				t.Errorf("%s must not depend on adapters: %s", name, v)
			}
		})
	}
}

// TestViolationsFound keeps the check honest: an adapter is reported.
func TestViolationsFound(t *testing.T) {
	got := violations(t, module+"httpapi")
	if !slices.Contains(got, module+"httpapi imports net/http") {
		t.Errorf("violations of httpapi = %q, want it to import net/http", got)
	}
}
