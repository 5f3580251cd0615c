package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/omohq/omo/wechat/wechatsim"
)

func runSim(ctx context.Context, args []string, env *runEnv) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	addr := fs.String("addr", "127.0.0.1:9000", "where the simulator listens")
	appID := fs.String("app-id", "wxsimoa0000000001", "an Official Account app id to create")
	secret := fs.String("secret", "simsecret", "its app secret")
	mpID := fs.String("mp-app-id", "wxsimmp0000000001", "a mini-program app id to create")
	mpSecret := fs.String("mp-secret", "simsecret", "its app secret")
	webhook := fs.String("webhook", "", "omo's OA webhook to push followers' events to, e.g. http://127.0.0.1:8080/wechat/oa")
	token := fs.String("token", "omotoken", "the OA server token the webhook checks")
	aesKey := fs.String("aes-key", "", "43-character EncodingAESKey for safe mode (empty = plaintext)")
	anyFollower := fs.Bool("any-follower", false, "take an openid never seen for a follower who just subscribed (for load pushed straight to omo, e.g. bench/scale.sh); off: 40003/43004 as for a stranger")
	seed := fs.Int("followers", 0, "generated followers the OA starts with, for omo followers sync (see wechatsim.SeedFollowers)")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	log := slog.New(slog.NewTextHandler(env.stderr, nil))
	sim := wechatsim.New(wechatsim.Options{Logger: log, AnyFollower: *anyFollower})
	defer sim.Close()
	sim.AddApp(*appID, *secret)
	sim.AddApp(*mpID, *mpSecret)
	if *seed > 0 {
		sim.SeedFollowers(*appID, *seed)
	}
	if *webhook != "" {
		sim.SetWebhook(*appID, &wechatsim.Pusher{URL: *webhook, Token: *token, EncodingAESKey: *aesKey, AppID: *appID})
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", *addr, err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(env.stdout, `WeChat simulator on %s
  point omo at it:  OMO_WECHAT_API_BASE=%s
                    OMO_WECHAT_OFFICIAL_ACCOUNT_APP_ID=%s OMO_WECHAT_OFFICIAL_ACCOUNT_APP_SECRET=%s
                    OMO_WECHAT_OFFICIAL_ACCOUNT_TOKEN=%s
                    OMO_WECHAT_MINI_PROGRAM_APP_ID=%s OMO_WECHAT_MINI_PROGRAM_APP_SECRET=%s
  play a follower:  curl -d '{"app_id":"%s","openid":"o-alice","type":"subscribe","scene":"store:sh-001"}' %s/_sim/push
  see the calls:    curl %s/_sim/calls
`, base, base, *appID, *secret, *token, *mpID, *mpSecret, *appID, base, base)
	if *seed > 0 {
		fmt.Fprintf(env.stdout, "  %d followers:     omo followers sync (user/get pages of 10,000; more: curl -d '{\"app_id\":\"%s\",\"count\":N}' %s/_sim/followers/seed)\n", *seed, *appID, base)
	}
	if *webhook == "" {
		fmt.Fprintf(env.stdout, "  no --webhook given: set one with curl -d '{\"app_id\":\"%s\",\"url\":\"http://127.0.0.1:8080/wechat/oa\",\"token\":\"%s\"}' %s/_sim/webhook\n", *appID, *token, base)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
