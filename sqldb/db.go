package sqldb

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3" // driver "sqlite3"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/omohq/omo/errs"
)

//go:embed migrations
var migrations embed.FS

// Dialect is the database family behind a DB.
type Dialect string

// The dialects omo runs on.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is omo's database. It is safe for concurrent use.
type DB struct {
	x       *sqlx.DB
	dialect Dialect
	log     *slog.Logger
	writes  chan *writeReq
	stop    chan struct{}
	stopped chan struct{}

	observer atomic.Pointer[Observer] // see SetObserver; nil = none
}

// Options tune a DB; the zero value is the default.
type Options struct {
	// Committers is how many group committers run (database.committers):
	// 0 = 1 on SQLite (its one writer; more is refused), 4 on PostgreSQL.
	Committers int
}

// DefaultPostgresCommitters is the number of committers on PostgreSQL when
// Options leave it 0: a committer spends most of a batch waiting for round
// trips, so a few keep the server busy; two batches that want the same row
// wait for each other there (and a deadlock runs again, see conflict.go).
const DefaultPostgresCommitters = 4

// Open is OpenWith the default Options.
func Open(ctx context.Context, rawURL string, log *slog.Logger) (*DB, error) {
	return OpenWith(ctx, rawURL, log, Options{})
}

// OpenWith connects to url (sqlite://PATH, sqlite::memory: is refused because
// every connection would see its own database; postgres://...), checks the
// connection and starts the group committer. It does not migrate: call
// Migrate. A bad URL is an Invalid error naming database.url.
func OpenWith(ctx context.Context, rawURL string, log *slog.Logger, opt Options) (*DB, error) {
	const op = "sqldb.Open"
	dialect, driver, dsn, err := parseURL(rawURL)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, op, err)
	}
	committers := opt.Committers
	switch {
	case committers < 0:
		return nil, errs.E(errs.Invalid, op, "database.committers: %d is negative", committers)
	case dialect == SQLite && committers > 1:
		return nil, errs.E(errs.Invalid, op, "database.committers: SQLite has one writer, got %d", committers)
	case committers == 0 && dialect == Postgres:
		committers = DefaultPostgresCommitters
	case committers == 0:
		committers = 1
	}
	x, err := sqlx.Open(driver, dsn)
	if err != nil {
		return nil, errs.Wrap(errs.Invalid, op, err)
	}
	if dialect == SQLite {
		// Writes are serialised by the committer; readers share WAL snapshots.
		x.SetMaxOpenConns(8)
		x.SetMaxIdleConns(8)
	} else {
		x.SetMaxOpenConns(16)
		x.SetMaxIdleConns(16)
	}
	x.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := x.PingContext(pctx); err != nil {
		x.Close()
		return nil, errs.Wrap(errs.Unavailable, op, fmt.Errorf("database.url: cannot connect: %w", err))
	}
	db := &DB{x: x, dialect: dialect, log: log, writes: make(chan *writeReq, 4096),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	var wg sync.WaitGroup
	for range committers {
		wg.Go(db.commitLoop)
	}
	go func() { wg.Wait(); close(db.stopped) }()
	return db, nil
}

func parseURL(raw string) (Dialect, string, string, error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return Postgres, "pgx", raw, nil
	case strings.HasPrefix(raw, "sqlite://"), strings.HasPrefix(raw, "sqlite:"):
		rest := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "//")
		path, query, _ := strings.Cut(rest, "?")
		if path == "" || path == ":memory:" {
			return "", "", "", fmt.Errorf("database.url %q: a SQLite URL needs a file path, e.g. sqlite://omo.db", raw)
		}
		q, err := url.ParseQuery(query)
		if err != nil {
			return "", "", "", fmt.Errorf("database.url %q: %w", raw, err)
		}
		for k, v := range map[string]string{
			"_journal_mode": "WAL", "_busy_timeout": "5000", "_synchronous": "NORMAL",
			"_foreign_keys": "on", "_txlock": "immediate",
			// go-sqlite3 prepares every statement afresh otherwise: 36 µs of
			// the ~300 µs a push costs (omo bench webhook profile).
			"_stmt_cache_size": "1024",
			// 16 MiB of page cache per connection (default 2 MiB): the
			// random-key indexes of a busy webhook (dedupe key, openid)
			// otherwise read most of their pages from the OS on every batch.
			"_cache_size": "-16384",
		} {
			if !q.Has(k) {
				q.Set(k, v)
			}
		}
		return SQLite, "sqlite3", "file:" + path + "?" + q.Encode(), nil
	}
	return "", "", "", fmt.Errorf("database.url %q: want sqlite://PATH or postgres://USER:PASS@HOST/DB", raw)
}

// Dialect returns the database family.
func (db *DB) Dialect() Dialect { return db.dialect }

// Ping checks that the database answers; Unavailable if not.
func (db *DB) Ping(ctx context.Context) error {
	return errs.Wrap(errs.Unavailable, "sqldb.Ping", db.x.PingContext(ctx))
}

// Close stops the committer (after the writes already queued) and closes
// the connections.
func (db *DB) Close() error {
	select {
	case <-db.stop:
	default:
		close(db.stop)
	}
	<-db.stopped
	return db.x.Close()
}

// Migrate applies every embedded migration not yet applied. On PostgreSQL a
// session lock makes concurrent omo processes migrate one at a time.
func (db *DB) Migrate(ctx context.Context) error {
	const op = "sqldb.Migrate"
	sub, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return errs.Wrap(errs.Other, op, err)
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return errs.Wrap(errs.Other, op, err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.x.DB, sub, opts...)
	if err != nil {
		return errs.Wrap(errs.Other, op, err)
	}
	res, err := p.Up(ctx)
	if err != nil {
		return errs.Wrap(errs.Unavailable, op, err)
	}
	for _, r := range res {
		db.log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return nil
}

// ts normalises a time for storage: UTC, microseconds.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// tsp is ts for an optional time.
func tsp(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// rebind adapts ?-placeholders to the driver.
func (db *DB) rebind(q string) string { return db.x.Rebind(q) }

// queryer is what getOne reads through: a *sqlx.DB or a *sqlx.Tx.
type queryer interface {
	sqlx.QueryerContext
	Rebind(string) string
}

// getOne reads the one row query selects (with ?-placeholders) into a new
// T. No row is a NotFound error naming what; any other failure is Other.
func getOne[T any](ctx context.Context, q queryer, op, what, query string, args ...any) (*T, error) {
	var v T
	if err := sqlx.GetContext(ctx, q, &v, q.Rebind(query), args...); err != nil {
		return nil, notFound(op, err, what)
	}
	return &v, nil
}

// notFound maps sql.ErrNoRows to a NotFound error.
func notFound(op string, err error, what string) error {
	if err == sql.ErrNoRows {
		return errs.E(errs.NotFound, op, "%s not found", what)
	}
	return errs.Wrap(errs.Other, op, err)
}

// marks returns n comma-separated placeholders, for IN (...).
func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// rowMarks returns rows parenthesised groups of cols values, for a
// multi-row VALUES: placeholders, then the literals fixed (which count as
// columns too).
func rowMarks(rows, cols int, fixed ...string) string {
	vals := make([]string, 0, cols)
	for range cols - len(fixed) {
		vals = append(vals, "?")
	}
	row := "(" + strings.Join(append(vals, fixed...), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", rows), ", ")
}
