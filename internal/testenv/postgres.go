package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvPostgresURL names the variable holding an admin URL of a running
// PostgreSQL server (a role allowed to CREATE DATABASE), for example
// postgres://omo:omo@127.0.0.1:5432/postgres?sslmode=disable. When it is set,
// Postgres creates its databases there instead of starting a private cluster.
const EnvPostgresURL = "OMO_TEST_POSTGRES_URL"

const pgInstall = "PostgreSQL (apt-get install postgresql)"

// shared is the PostgreSQL server the whole test binary uses: the one named
// by OMO_TEST_POSTGRES_URL or a private cluster started on first use.
var shared struct {
	mu         sync.Mutex
	mainCalled bool
	tried      bool     // the first use happened; err is its outcome
	err        error    // why there is no server, reported to every caller
	base       *url.URL // admin URL; databases differ only in the path
	admin      *sql.DB
	cluster    *cluster // nil unless this binary started one
}

// Postgres creates a new, empty database and returns its postgres:// URL; the
// database is dropped (best effort) when the test ends. The server is the
// one named by OMO_TEST_POSTGRES_URL or else a private cluster started once
// per test binary, which needs testenv.Main in TestMain. It skips the test
// when PostgreSQL is not installed (fails under CI) and fails it when the
// server cannot be started or reached.
func Postgres(t testing.TB) string {
	t.Helper()
	u, err := newDatabase(t)
	if isMissing(err) {
		missing(t, err, pgInstall)
	}
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return u
}

// newDatabase creates a database on the shared server and registers its drop.
func newDatabase(t testing.TB) (string, error) {
	admin, base, err := sharedServer()
	if err != nil {
		return "", err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "omo_t_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database %s on %s: %w", name, base.Redacted(), err)
	}
	t.Cleanup(func() { dropDatabase(t, admin, name) })
	u := *base
	u.Path = "/" + name
	return u.String(), nil
}

// dropDatabase removes name, closing any connections the test left open.
func dropDatabase(t testing.TB, admin *sql.DB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	if err != nil && strings.Contains(err.Error(), "syntax") { // before PostgreSQL 13
		_, err = admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
	}
	if err != nil {
		t.Logf("testenv: drop database %s: %v", name, err)
	}
}

// sharedServer connects to the binary's PostgreSQL server on first use and
// returns the admin pool and URL; a failure is remembered and returned again.
func sharedServer() (*sql.DB, *url.URL, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.mainCalled {
		return nil, nil, errors.New("testenv.Postgres needs the package to have " +
			"func TestMain(m *testing.M) { testenv.Main(m) }")
	}
	if !shared.tried {
		shared.tried = true
		shared.err = connectShared()
	}
	return shared.admin, shared.base, shared.err
}

// connectShared fills shared from OMO_TEST_POSTGRES_URL or a new cluster.
func connectShared() error {
	raw := os.Getenv(EnvPostgresURL)
	if raw == "" {
		c, err := startCluster()
		if err != nil {
			return err
		}
		shared.cluster, raw = c, c.url
	}
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		return fmt.Errorf("%s must be a postgres:// URL, got %q", EnvPostgresURL, raw)
	}
	admin, err := openPing(raw, 15*time.Second)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", base.Redacted(), err)
	}
	shared.base, shared.admin = base, admin
	return nil
}

// openPing opens a pool on dsn and pings it for up to wait.
func openPing(dsn string, wait time.Duration) (*sql.DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// stopShared closes the admin pool and stops the private cluster, if any.
func stopShared() error {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.admin != nil {
		shared.admin.Close()
		shared.admin = nil
	}
	if shared.cluster == nil {
		return nil
	}
	err := shared.cluster.stop()
	shared.cluster = nil
	return err
}
