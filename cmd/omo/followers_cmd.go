package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/wechat"
)

// runFollowers is `omo followers sync`: read WeChat's whole follower list
// into the database, continuing an interrupted pass from its cursor.
func runFollowers(ctx context.Context, args []string, env *runEnv) error {
	const usage = "usage: omo followers sync [--config FILE]\n  read WeChat's follower list into omo (user/get, user/info/batchget); a sync that stops continues where it stopped"
	if len(args) == 0 || args[0] != "sync" {
		return usageError{usage}
	}
	fs := flag.NewFlagSet("followers sync", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	path := configFlag(fs, env)
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 0 {
		return usageError{usage}
	}
	oa, err := configOA(ctx, fs, *path, env)
	if err != nil {
		return err
	}
	defer oa.close()
	db, wx := oa.db, oa.wx
	quiet := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := engine.NewSyncer(db, followerSource{wx}, engine.SyncOptions{Log: quiet, Progress: progressPrinter(env.stderr)})
	st, err := db.FollowerSync(ctx)
	if err != nil {
		return err
	}
	if st.Running && st.NextOpenID != "" {
		fmt.Fprintf(env.stderr, "continuing pass %d after page %d (%d followers stored; it stopped: %s)\n", st.Pass, st.Pages, st.Synced, orNone(st.LastError))
	}
	res, err := s.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "follower sync pass %d complete: %d followers upserted (%d in this run, %d pages), %d unfollowed, %s\n",
		res.Pass, res.BeforeStored+int64(res.Stored), res.Stored, res.Pages, res.Unfollowed, res.Elapsed.Round(time.Millisecond))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "no error recorded"
	}
	return s
}

// progressPrinter writes one line per stored page: the page, its
// followers, how far the pass is, the rate of this run and the time left.
func progressPrinter(w io.Writer) func(engine.SyncProgress) {
	return func(p engine.SyncProgress) {
		rate := float64(p.Stored) / max(p.Elapsed.Seconds(), 1e-3)
		pct, eta := 100.0, time.Duration(0)
		if p.Total > 0 {
			pct = min(100, 100*float64(p.PassStored)/float64(p.Total))
			if left := float64(p.Total) - float64(p.PassStored); left > 0 {
				eta = time.Duration(left / rate * float64(time.Second))
			}
		}
		fmt.Fprintf(w, "page %d: %d followers, %d of %d (%.0f%%), %.0f followers/s, ETA %s\n",
			p.Page, p.OnPage, p.PassStored, p.Total, pct, rate, eta.Round(time.Second))
	}
}

// startFollowerSync runs the follower sync in the background every
// followers.sync_every (off when 0) until the returned stop is called. It
// checks every minute (or every sync_every if shorter), so a pass stopped
// by a quota continues soon after the quota's reset; the lease makes only
// one omo process at a time run it.
func startFollowerSync(ctx context.Context, a *app) (stop func()) {
	every := a.cfg.Followers.SyncEvery
	if every <= 0 {
		a.log.Info("follower sync is off (followers.sync_every is 0)")
		return func() {}
	}
	log := a.log.With("job", "follower_sync")
	s := engine.NewSyncer(a.db, followerSource{a.wx}, engine.SyncOptions{Log: log, Progress: func(p engine.SyncProgress) {
		log.Info("follower sync page stored", "pass", p.Pass, "page", p.Page, "followers", p.OnPage, "pass_stored", p.PassStored, "total", p.Total)
	}})
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	log.Info("follower sync scheduled", "every", every)
	go func() {
		defer close(done)
		t := time.NewTimer(0)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			res, ran, err := s.RunIfDue(ctx, every)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("follower sync stopped", "err", err)
			case ran:
				log.Info("follower sync run finished", "pass", res.Pass, "completed", res.Completed, "stored", res.Stored, "unfollowed", res.Unfollowed)
			}
			t.Reset(min(every, time.Minute))
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// followerSource adapts the WeChat client to the follower sync. It is the
// one place where WeChat's answers to user/get and batchget become the
// sync's stop messages and resume times.
type followerSource struct{ wx *wechat.Client }

func (s followerSource) FollowerPage(ctx context.Context, next string) (engine.FollowerPage, error) {
	p, err := s.wx.UserList(ctx, next)
	if err != nil {
		return engine.FollowerPage{}, syncError("user/get", err)
	}
	return engine.FollowerPage{Total: p.Total, OpenIDs: p.OpenIDs, Next: p.Next}, nil
}

func (s followerSource) FollowerInfo(ctx context.Context, openids []string) ([]engine.FollowerInfo, error) {
	list, err := s.wx.BatchUserInfo(ctx, openids)
	if err != nil {
		return nil, syncError("user/info/batchget", err)
	}
	out := make([]engine.FollowerInfo, len(list))
	for i, u := range list {
		out[i] = engine.FollowerInfo{OpenID: u.OpenID, UnionID: u.UnionID, Following: u.Subscribed,
			SubscribedAt: u.SubscribeTime, QRScene: u.QRScene, TagIDs: u.TagIDs}
	}
	return out, nil
}

func (s followerSource) TagNames(ctx context.Context) (map[int]string, error) {
	tags, err := s.wx.Tags(ctx)
	if err != nil {
		return nil, syncError("tags/get", err)
	}
	out := make(map[int]string, len(tags))
	for name, id := range tags {
		out[id] = name
	}
	return out, nil
}

// syncError says what a WeChat failure of api means for the sync and when
// to try again. The access token's 40001/42001 never get here unless the
// client's refresh and retry failed too.
func syncError(api string, err error) error {
	se := &engine.SourceError{Code: wechat.Code(err), Err: err, Resume: engine.ResumeSoon}
	switch kind := errs.KindOf(err); {
	case se.Code == 45009:
		se.Resume = engine.ResumeTomorrow
		se.Msg = fmt.Sprintf("WeChat 45009 on %s: the daily API quota is used up (user/get allows 500 calls a day); it resets at 00:00 Beijing time: "+
			"run omo followers sync again after that (omo serve with followers.sync_every does), or clear the quota in the MP console", api)
	case kind == errs.Throttled:
		se.Resume = engine.ResumeNextMinute
		se.Msg = fmt.Sprintf("WeChat %d on %s: called too often this minute: run omo followers sync again in a minute", se.Code, api)
	case se.Code == 48001:
		se.Resume = engine.ResumeAfterFix
		se.Msg = fmt.Sprintf("WeChat 48001 on %s: this Official Account has no permission for the follower list "+
			"(user/get and user/info/batchget need a verified account with the API enabled in the MP console): fix that, then run omo followers sync again", api)
	case errors.Is(err, wechat.ErrNotConfigured):
		se.Resume = engine.ResumeAfterFix
		se.Msg = "the Official Account is not configured: set wechat.official_account.app_id and app_secret"
	case kind == errs.Invalid:
		se.Resume = engine.ResumeAfterFix
		se.Msg = fmt.Sprintf("WeChat %d on %s: the request or omo's OA credentials are wrong: check wechat.official_account.app_id, app_secret and the OA's IP whitelist", se.Code, api)
	case se.Code == 40001 || se.Code == 40014 || se.Code == 42001:
		se.Msg = fmt.Sprintf("WeChat %d on %s: the access token was refused again after a refresh: run omo followers sync again", se.Code, api)
	case se.Code != 0:
		se.Msg = fmt.Sprintf("WeChat %d on %s: run omo followers sync again; if it repeats, see WeChat's error code list", se.Code, api)
	default:
		se.Msg = fmt.Sprintf("WeChat did not answer %s: run omo followers sync again", api)
	}
	return se
}
