package testenv

import (
	"fmt"
	"net"
	"os"
	"testing"
)

// Main runs the package's tests and exits with their status, stopping the
// private PostgreSQL cluster first if the tests started one. Call it from
// TestMain in every package whose tests use Postgres or Databases:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.mainCalled = true
	shared.mu.Unlock()
	code := m.Run()
	if err := stopShared(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// SQLiteURL returns the URL of a SQLite database file, not yet created, in a
// temp dir that is removed when the test ends.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite://" + t.TempDir() + "/omo.db"
}

// DB names a database for a test that runs on every supported engine.
type DB struct {
	Name string // "sqlite" or "postgres"; use it as the t.Run name
	URL  string // database URL in the form the config's database.url takes
}

// Databases returns a fresh, empty database per supported engine, for table
// tests that must pass on both:
//
//	for _, db := range testenv.Databases(t) {
//		t.Run(db.Name, func(t *testing.T) { ... db.URL ... })
//	}
//
// SQLite is always there. PostgreSQL is left out, with a log line, when it is
// not installed and CI is not set; under CI, or when it is installed but does
// not work, the test fails instead.
func Databases(t testing.TB) []DB {
	t.Helper()
	dbs := []DB{{Name: "sqlite", URL: SQLiteURL(t)}}
	u, err := newDatabase(t)
	switch {
	case err == nil:
		dbs = append(dbs, DB{Name: "postgres", URL: u})
	case isMissing(err) && os.Getenv("CI") == "":
		t.Logf("testenv: %v; running on sqlite only (install %s)", err, pgInstall)
	case isMissing(err):
		missing(t, err, pgInstall)
	default:
		t.Fatalf("testenv: %v", err)
	}
	return dbs
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago; the
// callers retry on the rare race where another process takes it first.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
