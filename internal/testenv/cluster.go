package testenv

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pgStartTimeout bounds one attempt to bring the private postgres up.
const pgStartTimeout = 30 * time.Second

// cluster is a private PostgreSQL cluster in a temp dir, serving 127.0.0.1
// only, with durability off (fsync, full_page_writes) because its data lives
// no longer than the test binary.
type cluster struct {
	dir  string // temp root: data/ and the unix socket
	proc *proc  // the postmaster
	url  string // admin URL: superuser omo, trust auth, database postgres
}

// startCluster runs initdb and starts postgres on a free port. PostgreSQL
// refuses to run as root, so under root both run as the postgres user (or
// nobody). The error wraps errMissing when the binaries are absent.
func startCluster() (*cluster, error) {
	initdb, err := findBinary("initdb", "/usr/lib/postgresql/*/bin/initdb", "/usr/pgsql-*/bin/initdb")
	if err != nil {
		return nil, err
	}
	postgres := filepath.Join(filepath.Dir(initdb), "postgres") // same version as initdb
	if _, err := os.Stat(postgres); err != nil {
		return nil, fmt.Errorf("postgres next to %s: %w", initdb, errMissing)
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	base := tempBase(cred != nil)
	sweepStale(base)
	dir, err := os.MkdirTemp(base, "omo-pg-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir}
	if err := c.init(initdb, cred); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for range 5 { // a free port can be taken before postgres binds it
		if err = c.start(postgres, cred); !errors.Is(err, errAddrInUse) {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// init creates the data directory with initdb.
func (c *cluster) init(initdb string, cred *syscall.Credential) error {
	if cred != nil {
		if err := os.Chown(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, initdb, "-D", filepath.Join(c.dir, "data"),
		"-U", "omo", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = c.dir // the test's working dir may be closed to the postgres user
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w\n--- output ---\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return nil
}

// start runs the postmaster on a free port and waits until it accepts
// connections. It returns an error wrapping errAddrInUse if the port is taken.
func (c *cluster) start(postgres string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	data := filepath.Join(c.dir, "data")
	cmd := exec.Command(postgres, "-D", data, "-p", strconv.Itoa(port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB",
		"-c", "logging_collector=off", "-c", "log_min_messages=warning")
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	p, err := startProc(cmd)
	if err != nil {
		return err
	}
	c.proc = p
	c.url = (&url.URL{Scheme: "postgres", User: url.User("omo"), Host: fmt.Sprintf("127.0.0.1:%d", port),
		Path: "/postgres", RawQuery: "sslmode=disable&connect_timeout=5"}).String()
	if err := c.wait(data); err != nil {
		p.stop(syscall.SIGKILL, 0)
		if strings.Contains(p.out.String(), "already in use") {
			err = fmt.Errorf("%w: %w", errAddrInUse, err)
		}
		return p.failure("postgres did not start", err)
	}
	return nil
}

// wait polls until the server on c.url is this cluster (another test binary's
// cluster could hold a port this one failed to bind) and accepts queries.
func (c *cluster) wait(data string) error {
	deadline := time.Now().Add(pgStartTimeout)
	var err error
	for time.Now().Before(deadline) {
		if c.proc.exited() {
			return errors.New("exited before accepting connections")
		}
		if err = c.check(data); err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %v: %w", pgStartTimeout, err)
}

// check connects once and compares the server's data directory with ours.
func (c *cluster) check(data string) error {
	db, err := openPing(c.url, 2*time.Second)
	if err != nil {
		return err
	}
	defer db.Close()
	var got string
	if err := db.QueryRow("SHOW data_directory").Scan(&got); err != nil {
		return err
	}
	if filepath.Clean(got) != filepath.Clean(data) {
		return fmt.Errorf("port serves data directory %s, not %s", got, data)
	}
	return nil
}

// stop shuts the postmaster down (fast mode, then a kill) and removes the dir.
func (c *cluster) stop() error {
	c.proc.stop(syscall.SIGINT, 10*time.Second)
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove private postgres dir: %w", err)
	}
	return nil
}

// sweepStale removes the dirs of private clusters whose test binary died
// without running Main (a test timeout panics, for one): older than ten
// minutes, so no other binary is still running initdb there, and with no
// live postmaster. Errors are ignored; another user's dirs stay.
func sweepStale(base string) {
	dirs, _ := filepath.Glob(filepath.Join(base, "omo-pg-*"))
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil || time.Since(st.ModTime()) < 10*time.Minute {
			continue
		}
		if pidFile, err := os.ReadFile(filepath.Join(d, "data", "postmaster.pid")); err == nil {
			pid, _ := strconv.Atoi(strings.SplitN(string(pidFile), "\n", 2)[0])
			if pid > 0 && syscall.Kill(pid, 0) != syscall.ESRCH {
				continue // still running, or not ours to judge
			}
		}
		_ = os.RemoveAll(d)
	}
}

// runAs returns the credential to run PostgreSQL with: nil unless we are
// root, then the postgres user's, or nobody's if there is no postgres user.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		if u, err = user.Lookup("nobody"); err != nil {
			return nil, fmt.Errorf("running as root, PostgreSQL needs an unprivileged user: no postgres or nobody user: %w", err)
		}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", u.Username, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// tempBase returns where to make the cluster's dir: os.TempDir, unless another
// user must reach it and some ancestor is closed to others; then /tmp.
func tempBase(otherUser bool) string {
	base := os.TempDir()
	if !otherUser {
		return base
	}
	for d := base; ; d = filepath.Dir(d) {
		st, err := os.Stat(d)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}
