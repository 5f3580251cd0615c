package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// The Official Account and mini-program the tests register in their
// simulator (testenv's).
const (
	testAppID  = testenv.OAAppID
	testSecret = testenv.OASecret
	testToken  = testenv.OAToken
	testAESKey = testenv.OAAESKey

	testMPAppID  = testenv.MPAppID
	testMPSecret = testenv.MPSecret
)

// omoEnv is the environment of an `omo serve` that talks to the simulator at
// simURL, with dbURL and redisURL, listening on a port of its own choosing
// (":0"; the address is read from its "omo listening" log line). The config
// file is an empty temp file, so the environment is all there is; the
// campaigns dir is an empty temp dir, whatever the working directory.
func omoEnv(t *testing.T, simURL, dbURL, redisURL string) []string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "omo.yaml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	campaigns := filepath.Join(dir, "campaigns")
	if err := os.Mkdir(campaigns, 0o700); err != nil {
		t.Fatal(err)
	}
	return []string{
		"OMO_CONFIG=" + cfg,
		"OMO_CAMPAIGNS_DIR=" + campaigns,
		"OMO_HTTP_ADDR=127.0.0.1:0",
		"OMO_DATABASE_URL=" + dbURL,
		"OMO_REDIS_URL=" + redisURL,
		"OMO_WECHAT_API_BASE=" + simURL,
		"OMO_WECHAT_OFFICIAL_ACCOUNT_APP_ID=" + testAppID,
		"OMO_WECHAT_OFFICIAL_ACCOUNT_APP_SECRET=" + testSecret,
		"OMO_WECHAT_OFFICIAL_ACCOUNT_TOKEN=" + testToken,
		"OMO_WECHAT_OFFICIAL_ACCOUNT_ENCODING_AES_KEY=" + testAESKey,
		"OMO_LOG_FORMAT=json",
		"OMO_LOG_LEVEL=debug",
	}
}

// setEnv returns environ with each KEY=value of kvs set, replacing an
// earlier value of KEY.
func setEnv(environ []string, kvs ...string) []string {
	out := slices.Clone(environ)
	for _, kv := range kvs {
		k, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		out = append(out, kv)
	}
	return out
}

// omoServe is one `omo serve` running in-process through run.
type omoServe struct {
	URL    string // http://127.0.0.1:PORT
	logs   *logWriter
	cancel context.CancelFunc
	done   chan struct{} // closed once run has returned
	err    error         // run's result; read after done is closed
}

// startServe runs `omo serve` with environ until the test ends or stop is
// called, and returns once /readyz answers 200 (bounded at 15 s). Its logs
// are printed if the test fails.
func startServe(t *testing.T, environ []string) *omoServe {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &omoServe{logs: newLogWriter(), cancel: cancel, done: make(chan struct{})}
	go func() { s.err = run(ctx, []string{"serve"}, io.Discard, s.logs, environ); close(s.done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Errorf("omo serve did not stop within 30 s of the test ending")
		}
		if t.Failed() {
			t.Logf("logs of omo serve on %s:\n%s", s.URL, s.logs)
		}
	})
	s.URL = awaitReady(t, s.logs, s.done, func() error { return s.err })
	return s
}

// awaitReady waits, 15 s at most, for the omo serve that writes logs to log
// its listening address and then answer GET /readyz with 200, and returns
// its URL. done is closed if omo ends first, and err says why it did.
func awaitReady(t *testing.T, logs *logWriter, done <-chan struct{}, err func() error) string {
	t.Helper()
	deadline := time.After(15 * time.Second)
	var url string
	select {
	case addr := <-logs.addr:
		url = "http://" + addr
	case <-done:
		t.Fatalf("omo serve ended before listening: %v", err())
	case <-deadline:
		t.Fatal("omo serve did not log its listening address within 15 s")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, gerr := client.Get(url + "/readyz")
		if gerr == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		select {
		case <-done:
			t.Fatalf("omo serve ended before it was ready: %v", err())
		case <-deadline:
			t.Fatalf("GET /readyz not 200 within 15 s (last: %v)", gerr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop cancels serve's context, as SIGTERM does, and checks that run
// returns nil within 10 s.
func (s *omoServe) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	start := time.Now()
	select {
	case <-s.done:
		if s.err != nil {
			t.Fatalf("omo serve after shutdown: run = %v, want nil", s.err)
		}
		t.Logf("omo serve shut down in %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("omo serve did not shut down within 10 s of its context ending")
	}
}

// logWriter collects omo's JSON log lines and reports the address from the
// "omo listening" line on addr. It is safe for concurrent use.
type logWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	addr    chan string
	found   bool
}

func newLogWriter() *logWriter { return &logWriter{addr: make(chan string, 1)} }

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := w.partial[:i]
		w.partial = w.partial[i+1:]
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if !w.found && json.Unmarshal(line, &rec) == nil && rec.Msg == "omo listening" && rec.Addr != "" {
			w.found = true
			w.addr <- rec.Addr
		}
	}
	return len(p), nil
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitFor polls cond every 50 ms until it returns true or d passes, then
// fails the test with what.
func waitFor(t *testing.T, d time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			if lastErr != nil {
				t.Fatalf("%s: not within %v (last error: %v)", what, d, lastErr)
			}
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isUsage reports whether err is a command-line mistake (exit status 2).
func isUsage(err error) bool {
	var ue usageError
	return errors.As(err, &ue)
}
