package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// redisStartTimeout bounds one attempt to bring redis-server up.
const redisStartTimeout = 10 * time.Second

// RedisServer is a redis-server process owned by one test. It keeps nothing
// on disk (no RDB, no AOF), so a Stop and Start loses every key, like a
// crashed cache. Its methods are safe for concurrent use.
type RedisServer struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	proc *proc // nil while stopped
}

// Redis starts a fresh redis-server on a free 127.0.0.1 port and returns it
// once it answers; the server is killed when the test ends. It skips the test
// when redis-server is not installed (fails under CI) and fails it when the
// server does not come up, quoting the server's output.
func Redis(t testing.TB) *RedisServer {
	t.Helper()
	bin, err := findBinary("redis-server", "/usr/bin/redis-server", "/usr/local/bin/redis-server")
	if err != nil {
		missing(t, err, "redis-server (apt-get install redis-server)")
	}
	s := &RedisServer{t: t, bin: bin, dir: t.TempDir()}
	t.Cleanup(s.Stop) // registered after TempDir, so it runs before the dir is removed
	var lastErr error
	for range 5 { // a free port can be taken before redis binds it
		port, err := freePort()
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		s.port = port
		if lastErr = s.start(); lastErr == nil {
			return s
		}
		if !errors.Is(lastErr, errAddrInUse) {
			break
		}
	}
	t.Fatalf("testenv: redis-server: %v", lastErr)
	return nil
}

// URL returns the server's address as redis://127.0.0.1:PORT/0.
func (s *RedisServer) URL() string { return "redis://" + s.Addr() + "/0" }

// Addr returns the server's host:port; it stays the same across Stop and Start.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Stop kills the server at once, as a crash would; clients see refused
// connections until Start. Stopping a stopped server does nothing.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.stop(syscall.SIGKILL, 0)
		s.proc = nil
	}
}

// Start brings a stopped server back on the same port, empty, and returns
// once it answers; on a running server it does nothing. If the port stays
// taken or the server does not come up it fails the test, so call it from the
// test's goroutine.
func (s *RedisServer) Start() {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if !errors.Is(err, errAddrInUse) || time.Now().After(deadline) {
			s.t.Fatalf("testenv: restart redis-server on %s: %v", s.Addr(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// start launches redis-server on s.port and waits until it is the process
// answering there. It returns an error wrapping errAddrInUse if the port is
// taken.
func (s *RedisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return nil
	}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--logfile", "", "--loglevel", "warning")
	cmd.Dir = s.dir
	p, err := startProc(cmd)
	if err != nil {
		return err
	}
	if err := waitRedis(p, s.Addr()); err != nil {
		p.stop(syscall.SIGKILL, 0)
		if strings.Contains(p.out.String(), "in use") {
			err = fmt.Errorf("%w: %w", errAddrInUse, err)
		}
		return p.failure("redis-server did not start", err)
	}
	s.proc = p
	return nil
}

// errAddrInUse marks a server that could not bind its port.
var errAddrInUse = errors.New("address already in use")

// waitRedis polls addr until the redis answering there is p itself (another
// test's server could hold a port p failed to bind).
func waitRedis(p *proc, addr string) error {
	deadline := time.Now().Add(redisStartTimeout)
	var err error
	for time.Now().Before(deadline) {
		if p.exited() {
			return errors.New("exited before answering")
		}
		var pid int
		if pid, err = redisPID(addr); err == nil {
			if pid == p.cmd.Process.Pid {
				return nil
			}
			err = fmt.Errorf("%s is served by pid %d, not %d", addr, pid, p.cmd.Process.Pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("no answer within %v: %w", redisStartTimeout, err)
}

// redisPID asks the server at addr for INFO server and returns its process_id.
func redisPID(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "INFO server\r\n"); err != nil {
		return 0, err
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if !strings.HasPrefix(head, "$") { // e.g. -LOADING while starting
		return 0, fmt.Errorf("INFO server: %s", strings.TrimSpace(head))
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		return 0, fmt.Errorf("INFO server: bad reply %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("INFO server: no process_id")
}
