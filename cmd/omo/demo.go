package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/omohq/omo/config"
	"github.com/omohq/omo/wechat/wechatsim"
)

// The demo's Official Account, as registered in its simulator.
const (
	demoOAAppID    = "wxdemooa00000001"
	demoOASecret   = "demo-oa-secret"
	demoMPAppID    = "wxdemomp00000001"
	demoMPSecret   = "demo-mp-secret"
	demoToken      = "omodemotoken"
	demoAESKey     = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	demoAdminToken = "demo-admin-token"
)

// runDemo runs omo on embedded defaults against its own WeChat simulator,
// plays a few followers and prints what happens.
func runDemo(ctx context.Context, args []string, env *runEnv) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	keep := fs.String("db", "", "SQLite file to keep (default: a temporary file removed afterwards)")
	plain := fs.Bool("plaintext", false, "push in plaintext mode instead of safe (AES) mode")
	verbose := fs.Bool("v", false, "show omo's logs")
	stay := fs.Bool("keep", false, "keep omo running after the story (the dashboard shows its data) until Ctrl-C")
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
	cfg.Admin.Token = demoAdminToken
	cfg.Worker.SendRate = demoSendRate
	if err := cfg.Validate(); err != nil {
		return err
	}
	logw := io.Discard
	if *verbose {
		logw = env.stderr
	}
	d := &demo{ctx: ctx, out: out, sim: sim, cfg: cfg, log: slog.New(slog.NewTextHandler(logw, nil)), http: &http.Client{Timeout: 10 * time.Second}}
	// Until the last chapter sets it, the schedule campaigns' slot is a day away.
	if err := d.loadCampaigns(time.Now().Add(24 * time.Hour)); err != nil {
		return err
	}
	defer d.stopOmo()
	if err := d.openOmo(); err != nil {
		return err
	}
	if err := d.startOmo(); err != nil {
		return err
	}
	mode := "safe (AES) mode"
	if *plain {
		mode = "plaintext mode"
	}
	fmt.Fprintf(out, "omo demo\n  WeChat simulator  %s\n  omo               %s  (webhook %s/wechat/oa, %s)\n  database          %s\n  redis             embedded, in-process (ephemeral)\n\n",
		simURL, d.app.URL(), d.app.URL(), mode, cfg.Database.URL)
	fmt.Fprintf(out, "  campaigns         %s: %d campaigns, %d coupon pools, %d referral program (for the demo: no quiet hours, referral hold %s, worker.send_rate %d/s, call lease %s)\n\n",
		cfg.Campaigns.Dir, len(d.set.Campaigns), len(d.set.Pools), len(d.set.Referrals), demoHold, demoSendRate, demoCallLease)
	sim.SetJobFinish(demoOAAppID, "success")
	if err := d.play(); err != nil {
		return err
	}
	return d.dashboard(*stay)
}

// openOmo opens omo on the demo's config (the database migrated, a fresh
// embedded Redis) and swaps in the demo's campaign set; nothing runs yet.
func (d *demo) openOmo() error {
	a, err := openApp(d.ctx, d.cfg, d.log)
	if err != nil {
		return err
	}
	a.callLease = demoCallLease
	d.app = a
	return a.engine.SetCampaigns(d.ctx, d.set, d.files)
}

// startOmo runs what omo serve runs (HTTP, relay, workers, the schedule
// ticker, the reminder scan) and points the simulator's webhook at it.
func (d *demo) startOmo() error {
	a := d.app
	if err := a.start(d.ctx, true, true); err != nil {
		return err
	}
	d.sim.SetWebhook(demoOAAppID, &wechatsim.Pusher{URL: a.URL() + "/wechat/oa", Token: demoToken, EncodingAESKey: d.cfg.WeChat.OfficialAccount.EncodingAESKey})
	return nil
}

// stopOmo shuts omo down, if it runs.
func (d *demo) stopOmo() {
	if d.app != nil {
		d.app.shutdown()
		d.app = nil
	}
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
