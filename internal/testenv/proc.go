package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a server process started by this package: its combined output is
// kept for failure messages, and it dies with the test binary (Pdeathsig) so
// a crashed or timed-out test run leaves no stale servers behind.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // Wait's result; read only after done is closed
}

// startProc starts cmd with its stdout and stderr captured.
func startProc(cmd *exec.Cmd) (*proc, error) {
	p := &proc{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to grace for the process to exit, then kills it.
func (p *proc) stop(sig os.Signal, grace time.Duration) {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return
	case <-time.After(grace):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// failure describes why the process is not serving, with its output.
func (p *proc) failure(what string, err error) error {
	status := "still running"
	if p.exited() {
		status = fmt.Sprintf("exited: %v", p.err)
	}
	return fmt.Errorf("%s: %w (%s %s)\n--- output of %s ---\n%s",
		what, err, filepath.Base(p.cmd.Path), status, shellJoin(p.cmd.Args), p.out.String())
}

// shellJoin renders args as a command line, quoting where needed.
func shellJoin(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = a
		if a == "" || strings.ContainsAny(a, " \t'\"") {
			quoted[i] = strconv.Quote(a)
		}
	}
	return strings.Join(quoted, " ")
}

// syncBuffer is a bytes.Buffer safe for the process's writes and our reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// errMissing marks a service binary that is not installed.
var errMissing = errors.New("not installed")

// findBinary returns the path of name from PATH or, failing that, from the
// first existing file among the glob patterns (newest version first).
func findBinary(name string, patterns ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, pat := range patterns {
		matches, _ := filepath.Glob(pat)
		sort.Slice(matches, func(i, j int) bool { return versionLess(matches[j], matches[i]) })
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
				return m, nil
			}
		}
	}
	if len(patterns) > 0 {
		return "", fmt.Errorf("%s: %w (looked on PATH and in %s)", name, errMissing, strings.Join(patterns, ", "))
	}
	return "", fmt.Errorf("%s: %w (looked on PATH)", name, errMissing)
}

// versionLess orders paths like /usr/lib/postgresql/9.6/bin before
// .../15/bin: at the first segment where they differ, numbers compare as
// numbers.
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] == bs[i] {
			continue
		}
		na, errA := strconv.Atoi(strings.SplitN(as[i], ".", 2)[0])
		nb, errB := strconv.Atoi(strings.SplitN(bs[i], ".", 2)[0])
		if errA == nil && errB == nil && na != nb {
			return na < nb
		}
		return as[i] < bs[i]
	}
	return len(as) < len(bs)
}

// missing stops the test because a service binary is absent: a failure under
// CI, which must never pass by skipping, a skip elsewhere.
func missing(t testing.TB, err error, install string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("testenv: %v; CI is set, so this is a failure, not a skip (install %s)", err, install)
	}
	t.Skipf("testenv: %v; install %s to run this test", err, install)
}

// isMissing reports whether err is about an absent binary.
func isMissing(err error) bool { return errors.Is(err, errMissing) || errors.Is(err, fs.ErrNotExist) }
