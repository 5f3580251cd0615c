package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"omo/config"
	"omo/outbox"
	"omo/wechat/wechatsim"
)

// The demo's Official Account, as registered in its simulator.
const (
	demoOAAppID  = "wxdemooa00000001"
	demoOASecret = "demo-oa-secret"
	demoMPAppID  = "wxdemomp00000001"
	demoMPSecret = "demo-mp-secret"
	demoToken    = "omodemotoken"
	demoAESKey   = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)

// runDemo runs omo on embedded defaults against its own WeChat simulator,
// plays a few followers and prints what happens.
func runDemo(ctx context.Context, args []string, env *runEnv) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	keep := fs.String("db", "", "SQLite file to keep (default: a temporary file removed afterwards)")
	plain := fs.Bool("plaintext", false, "push in plaintext mode instead of safe (AES) mode")
	verbose := fs.Bool("v", false, "show omo's logs")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	out := env.stdout
	dir, err := os.MkdirTemp("", "omo-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbPath := filepath.Join(dir, "omo.db")
	if *keep != "" {
		dbPath = *keep
	}

	// 1. The WeChat simulator: a fake api.weixin.qq.com on a loopback port.
	sim := wechatsim.New(wechatsim.Options{})
	defer sim.Close()
	sim.AddApp(demoOAAppID, demoOASecret)
	sim.AddApp(demoMPAppID, demoMPSecret)
	simURL, stopSim, err := serveLoopback(sim)
	if err != nil {
		return err
	}
	defer stopSim()

	// 2. omo on embedded defaults: SQLite file, in-process Redis.
	cfg := config.Default()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Database.URL = "sqlite://" + dbPath
	cfg.WeChat.APIBase = simURL
	cfg.WeChat.OfficialAccount.AppID, cfg.WeChat.OfficialAccount.AppSecret = demoOAAppID, demoOASecret
	cfg.WeChat.OfficialAccount.Token, cfg.WeChat.OfficialAccount.EncodingAESKey = demoToken, demoAESKey
	if *plain {
		cfg.WeChat.OfficialAccount.EncodingAESKey = ""
	}
	cfg.WeChat.MiniProgram.AppID, cfg.WeChat.MiniProgram.AppSecret = demoMPAppID, demoMPSecret
	if err := cfg.Validate(); err != nil {
		return err
	}
	logw := io.Discard
	if *verbose {
		logw = env.stderr
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.shutdown()
	if err := a.start(ctx, true, true); err != nil {
		return err
	}
	mode := "safe (AES) mode"
	if *plain {
		mode = "plaintext mode"
	}
	fmt.Fprintf(out, "omo demo\n  WeChat simulator  %s\n  omo               %s  (webhook %s/wechat/oa, %s)\n  database          %s\n  redis             embedded, in-process (ephemeral)\n\n",
		simURL, a.URL(), a.URL(), mode, cfg.Database.URL)
	sim.SetWebhook(demoOAAppID, &wechatsim.Pusher{URL: a.URL() + "/wechat/oa", Token: demoToken, EncodingAESKey: cfg.WeChat.OfficialAccount.EncodingAESKey})

	d := &demo{ctx: ctx, out: out, sim: sim, app: a}
	return d.play()
}

// serveLoopback serves h on a free loopback port.
func serveLoopback(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

type demo struct {
	ctx context.Context
	out io.Writer
	sim *wechatsim.Sim
	app *app
}

func (d *demo) play() error {
	oa := d.sim.OriginalID(demoOAAppID)
	now := time.Now().Truncate(time.Second)
	d.sim.AddUser(demoOAAppID, wechatsim.Follower{OpenID: "o-alice", UnionID: "u-alice"})
	d.sim.AddUser(demoOAAppID, wechatsim.Follower{OpenID: "o-bob", UnionID: "u-bob"})

	alice := wechatsim.Subscribe(oa, "o-alice", now, "store:sh-001")
	steps := []struct {
		who, what string
		msg       wechatsim.Message
	}{
		{"Alice", "scans the QR code on the counter of store sh-001 and follows", alice},
		{"WeChat", "did not hear back in time and retries Alice's follow", alice},
		{"Bob", "follows from a search (no QR code)", wechatsim.Subscribe(oa, "o-bob", now, "")},
		{"Bob", `sends the keyword "coupon"`, wechatsim.Text(oa, "o-bob", now.Add(time.Second), "coupon", 7001)},
		{"Alice", "shares her location near the store", wechatsim.Location(oa, "o-alice", now.Add(2*time.Second), 31.2304, 121.4737, 30)},
		{"Alice", `taps the menu item "My coupons"`, wechatsim.Click(oa, "o-alice", now.Add(3*time.Second), "MY_COUPONS")},
	}
	for i, s := range steps {
		rep, err := d.sim.Push(d.ctx, demoOAAppID, s.msg)
		if err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
		fmt.Fprintf(d.out, "%d. %s %s\n   -> omo answered %d %s\n", i+1, s.who, s.what, rep.Status, describeReply(rep.Body))
	}
	fmt.Fprintln(d.out)
	return d.report()
}

func describeReply(body []byte) string {
	b := strings.TrimSpace(string(body))
	if b == "success" || b == "" {
		return `"success" (no passive reply)`
	}
	return b
}

// report waits for the queued work that is due and prints the state omo
// ended in.
func (d *demo) report() error {
	ctx, cancel := context.WithTimeout(d.ctx, 15*time.Second)
	defer cancel()
	held, err := d.waitOutbox(ctx, time.Now().Add(10*time.Second))
	if err != nil {
		return err
	}
	db := d.app.db
	n, _ := db.CountEvents(ctx)
	all, subscribed, _ := db.CountFollowers(ctx)
	fmt.Fprintf(d.out, "omo stored %d pushes (the retry acted once) and %d followers (%d following):\n", n, all, subscribed)
	for _, id := range []string{"o-alice", "o-bob"} {
		f, err := db.Follower(ctx, id)
		if err != nil {
			return err
		}
		scene := f.FirstScene
		if scene == "" {
			scene = "-"
		}
		fmt.Fprintf(d.out, "  %-8s following=%-5v first scene=%-13s unionid=%s\n", f.OpenID, f.Subscribed, scene, f.UnionID)
	}
	counts, _ := db.CountOutbox(ctx)
	fmt.Fprintf(d.out, "\noutbox: %d done, %d pending, %d failed\n", counts[outbox.Done], counts[outbox.Pending], counts[outbox.Failed])
	if held > 0 {
		fmt.Fprintf(d.out, "  %d pending: held for later by a campaign's delay or quiet hours\n", held)
	}
	fmt.Fprintf(d.out, "WeChat API calls seen by the simulator: %d user/info (unionid lookups), %d access-token fetches\n",
		d.sim.CallCount("/cgi-bin/user/info"), d.sim.TokenFetches(demoOAAppID))
	return nil
}

// waitOutbox waits until no pending item is due before horizon and returns
// how many are held for later (a campaign's delay or quiet hours: at night
// the welcome template waits for 08:00, which the demo must not wait for).
func (d *demo) waitOutbox(ctx context.Context, horizon time.Time) (held int, err error) {
	for {
		items, err := d.app.db.PendingOutbox(ctx, time.Now().Add(24*time.Hour), "", 1000)
		if err != nil {
			return 0, err
		}
		due := 0
		for _, it := range items {
			if it.RunAt.Before(horizon) {
				due++
			}
		}
		if due == 0 {
			return len(items), nil
		}
		select {
		case <-ctx.Done():
			return 0, errors.New("demo: queued work did not finish in 15 s")
		case <-time.After(100 * time.Millisecond):
		}
	}
}
