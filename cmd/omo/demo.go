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

	sim.SetJobFinish(demoOAAppID, "success")
	if err := demoCampaigns(ctx, a, out); err != nil {
		return err
	}
	d := &demo{ctx: ctx, out: out, sim: sim, app: a, http: &http.Client{Timeout: 10 * time.Second}}
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
