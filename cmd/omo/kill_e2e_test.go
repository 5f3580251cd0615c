package main

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
)

// TestKillBetweenAckAndSend runs the omo binary, has a follower follow,
// and SIGKILLs the process as soon as the follow is acked, while the
// welcome template message (delay: 3s) waits to be sent. A new process on
// the same database sends it exactly once: from the queue when Redis kept
// it, from the outbox (the start-up sweep) when Redis lost everything.
func TestKillBetweenAckAndSend(t *testing.T) {
	t.Parallel()
	bin := buildOmo(t)
	for _, tc := range []struct {
		name      string
		wipeRedis bool
	}{
		{"redis kept", false},
		{"redis wiped", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rds := testenv.Redis(t)
			sim, simURL := newSim(t)
			dbURL := testenv.SQLiteURL(t)
			env := campaignEnv(t, simURL, dbURL, rds.URL(), welcomeSet(100, 3*time.Second))

			first := startProcess(t, bin, env)
			pointSimAt(sim, first.URL)
			if got := push(t, sim, storeFollow(sim, "o-alice")); got != welcomeReply {
				t.Errorf("reply to the follow = %q, want %q", got, welcomeReply)
			}
			first.kill(t)

			// The process died between the ack and the send: everything
			// the follow decided is in the database, nothing was sent.
			db := openStore(t, dbURL)
			ctx := context.Background()
			msgs, err := db.MessagesOf(ctx, "welcome", "o-alice")
			if err != nil || len(msgs) != 1 || msgs[0].State != outbox.MsgPending {
				t.Fatalf("messages after the kill = %s, %v; want one pending", msgsText(msgs), err)
			}
			msg := msgs[0]
			if it, err := db.OutboxItem(ctx, msg.ID); err != nil || it.State != outbox.Pending {
				t.Fatalf("outbox item of the message after the kill = %s, %v; want pending", itemText(it), err)
			}
			if n := sim.CallCount(templateSend); n != 0 {
				t.Fatalf("template/send calls before the restart = %d, want 0", n)
			}
			if tc.wipeRedis {
				flushRedis(t, rds.URL())
			}

			second := startProcess(t, bin, env)
			pointSimAt(sim, second.URL)
			// Past the delay (3 s from the follow) with a wide margin for the
			// restart.
			waitFor(t, 20*time.Second, "the welcome template sent after the restart", func() (bool, error) {
				return len(sim.Templates(testAppID)) > 0, nil
			})
			waitFor(t, 10*time.Second, "the message recorded sent", func() (bool, error) {
				m, err := db.Message(ctx, msg.ID)
				return err == nil && m.State == outbox.MsgSent, err
			})
			time.Sleep(3 * time.Second) // a second send, if there were one, would show by now
			sends := sim.Templates(testAppID)
			if len(sends) != 1 || sends[0].ClientMsgID != msg.ID || sends[0].ToUser != "o-alice" {
				t.Fatalf("template sends seen by WeChat = %+v, want one to o-alice with client_msg_id %s", sends, msg.ID)
			}
			if n := sim.CallCount(templateSend); n != 1 {
				t.Errorf("template/send calls = %d, want 1", n)
			}
			if it, err := db.OutboxItem(ctx, msg.ID); err != nil || it.State != outbox.Done {
				t.Errorf("outbox item of the message = %s, %v; want done", itemText(it), err)
			}
			cps, err := db.CouponsOf(ctx, "o-alice")
			if err != nil || len(cps) != 1 {
				t.Fatalf("coupons of o-alice = %+v, %v; want one", cps, err)
			}
			checkDeepLink(t, sends[0].MiniProgram.PagePath, cps[0].Code, msg.ID)
			want := campaigns.Stats{Fired: 1, Sent: 1, CouponsIssued: 1}
			if st, err := adminStats(second.URL, "welcome"); err != nil || st != want {
				t.Errorf("stats = %+v, %v; want %+v", st, err, want)
			}
			second.stop(t)
		})
	}
}

// buildOmo builds the omo binary into a temp dir and returns its path.
func buildOmo(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build omo: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "omo")
	start := time.Now()
	out, err := exec.Command(gobin, "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built omo in %v", time.Since(start).Round(100*time.Millisecond))
	return bin
}

// omoProc is `omo serve` running as a child process.
type omoProc struct {
	URL  string
	cmd  *exec.Cmd
	logs *logWriter
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // Wait's result; read after done is closed
}

// startProcess starts `bin serve` with exactly the environment env and
// returns once GET /readyz answers 200 (bounded at 15 s). The process dies
// with the test binary and is killed when the test ends; its output is
// printed if the test fails.
func startProcess(t *testing.T, bin string, env []string) *omoProc {
	t.Helper()
	p := spawn(t, bin, "serve", env)
	p.URL = awaitReady(t, p.logs, p.done, func() error { return p.err })
	return p
}

// spawn starts `bin sub` with exactly the environment env: the process
// dies with the test binary, is killed when the test ends, and its output
// is printed if the test fails.
func spawn(t *testing.T, bin, sub string, env []string) *omoProc {
	t.Helper()
	cmd := exec.Command(bin, sub)
	cmd.Env = env
	p := &omoProc{cmd: cmd, logs: newLogWriter(), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start omo %s: %v", sub, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of omo %s (pid %d) %s:\n%s", sub, cmd.Process.Pid, p.URL, p.logs)
		}
	})
	return p
}

// kill SIGKILLs the process and waits until it is gone.
func (p *omoProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill omo serve: %v", err)
	}
	<-p.done
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("omo serve ended with %v, want killed by SIGKILL", p.err)
	}
}

// stop sends SIGTERM and checks that the process exits with status 0
// within 15 s.
func (p *omoProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM omo serve: %v", err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("omo serve after SIGTERM: %v, want exit status 0", p.err)
		}
	case <-time.After(15 * time.Second):
		t.Error("omo serve did not exit within 15 s of SIGTERM")
	}
}

// flushRedis empties the Redis at url, as if it had been replaced.
func flushRedis(t *testing.T, url string) {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	defer c.Close()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
	assertRedisEmpty(t, url)
}
