package testenv

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestMain(m *testing.M) { Main(m) }

func redisClient(t *testing.T, s *RedisServer) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(s.URL())
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", s.URL(), err)
	}
	opt.MaxRetries = -1 // see the outage, not a retried success
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRedisStopStart(t *testing.T) {
	start := time.Now()
	s := Redis(t)
	t.Logf("redis up in %v at %s", time.Since(start), s.URL())
	ctx := context.Background()
	c := redisClient(t, s)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET k = %q, %v; want v", got, err)
	}

	addr := s.Addr()
	s.Stop()
	s.Stop() // idempotent
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING on a stopped server succeeded")
	}

	start = time.Now()
	s.Start()
	t.Logf("redis restarted in %v", time.Since(start))
	s.Start() // no-op on a running server
	if got := s.Addr(); got != addr {
		t.Errorf("Addr after restart = %s, want %s", got, addr)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Errorf("GET k after restart: err = %v, want redis.Nil (nothing persisted)", err)
	}
}

func TestRedisStartWaitsForPort(t *testing.T) {
	s := Redis(t)
	s.Stop()
	l, err := net.Listen("tcp", s.Addr()) // someone takes the port meanwhile
	if err != nil {
		t.Fatalf("listen on %s: %v", s.Addr(), err)
	}
	time.AfterFunc(300*time.Millisecond, func() { l.Close() })
	s.Start()
	if err := redisClient(t, s).Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING after restart: %v", err)
	}
}

func TestRedisServersAreSeparate(t *testing.T) {
	a, b := Redis(t), Redis(t)
	if a.Addr() == b.Addr() {
		t.Fatalf("two servers share %s", a.Addr())
	}
	ctx := context.Background()
	if err := redisClient(t, a).Set(ctx, "only-a", "1", 0).Err(); err != nil {
		t.Fatalf("SET on a: %v", err)
	}
	if n, err := redisClient(t, b).Exists(ctx, "only-a").Result(); err != nil || n != 0 {
		t.Errorf("EXISTS only-a on b = %d, %v; want 0", n, err)
	}
}

func TestPostgresDatabasesAreDistinct(t *testing.T) {
	start := time.Now()
	a := Postgres(t)
	t.Logf("first database in %v (server: %s)", time.Since(start), serverKind())
	start = time.Now()
	b := Postgres(t)
	t.Logf("second database in %v", time.Since(start))
	if a == b {
		t.Fatalf("both databases are %s", a)
	}
	dbA, dbB := openDB(t, a), openDB(t, b)
	if _, err := dbA.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatalf("create table in a: %v", err)
	}
	var n int
	if err := dbA.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 1 {
		t.Fatalf("count in a = %d, %v; want 1", n, err)
	}
	if err := dbB.QueryRow("SELECT count(*) FROM t").Scan(&n); err == nil {
		t.Errorf("table t is visible in b")
	}
	var nameA, nameB string
	_ = dbA.QueryRow("SELECT current_database()").Scan(&nameA)
	_ = dbB.QueryRow("SELECT current_database()").Scan(&nameB)
	if !strings.HasPrefix(nameA, "omo_t_") || !strings.HasPrefix(nameB, "omo_t_") || nameA == nameB {
		t.Errorf("current_database() = %q and %q, want two distinct omo_t_ names", nameA, nameB)
	}
}

func TestPostgresDropsDatabaseAtCleanup(t *testing.T) {
	var name string
	t.Run("user", func(t *testing.T) {
		db := openDB(t, Postgres(t)) // left open on purpose: the drop must force it
		if err := db.QueryRow("SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	if name == "" {
		return // the subtest was skipped or failed
	}
	admin, _, err := sharedServer()
	if err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := admin.QueryRow("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

// TestPrivateCluster starts a cluster of its own even when the shared server
// comes from OMO_TEST_POSTGRES_URL, so CI (root, no cluster on PATH) covers it.
func TestPrivateCluster(t *testing.T) {
	start := time.Now()
	c, err := startCluster()
	if isMissing(err) {
		missing(t, err, pgInstall)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("private cluster up in %v at %s", time.Since(start), c.url)
	db := openDB(t, c.url)
	var super bool
	if err := db.QueryRow("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil || !super {
		t.Errorf("admin role superuser = %v, %v; want true", super, err)
	}
	for _, setting := range []string{"fsync", "listen_addresses"} {
		var got string
		if err := db.QueryRow("SHOW " + setting).Scan(&got); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s = %s", setting, got)
	}
	db.Close()
	start = time.Now()
	if err := c.stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("private cluster stopped in %v", time.Since(start))
	if !c.proc.exited() {
		t.Error("postmaster still running after stop")
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("cluster dir %s still there (stat err %v)", c.dir, err)
	}
}

func TestDatabases(t *testing.T) {
	dbs := Databases(t)
	if dbs[0].Name != "sqlite" || !strings.HasPrefix(dbs[0].URL, "sqlite://") || !strings.HasSuffix(dbs[0].URL, "/omo.db") {
		t.Errorf("first DB = %+v, want sqlite://.../omo.db", dbs[0])
	}
	if len(dbs) == 1 {
		t.Log("postgres not available; sqlite only")
		return
	}
	if dbs[1].Name != "postgres" || !strings.HasPrefix(dbs[1].URL, "postgres") {
		t.Errorf("second DB = %+v, want a postgres URL", dbs[1])
	}
	if err := openDB(t, dbs[1].URL).Ping(); err != nil {
		t.Errorf("ping %s: %v", dbs[1].URL, err)
	}
}

func openDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func serverKind() string {
	if os.Getenv(EnvPostgresURL) != "" {
		return EnvPostgresURL
	}
	return "private cluster"
}

func TestFindBinary(t *testing.T) {
	dir := t.TempDir()
	for _, v := range []string{"9.6", "15", "13"} {
		bin := dir + "/" + v + "/bin"
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin+"/omo-fake-initdb", []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	got, err := findBinary("omo-fake-initdb", dir+"/*/bin/omo-fake-initdb")
	if want := dir + "/15/bin/omo-fake-initdb"; err != nil || got != want {
		t.Errorf("findBinary = %q, %v; want %q (newest version)", got, err, want)
	}
	if _, err := findBinary("omo-no-such-binary", dir+"/*/bin/omo-no-such-binary"); !isMissing(err) {
		t.Errorf("findBinary(missing) error = %v, want one isMissing accepts", err)
	}
}
