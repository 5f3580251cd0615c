package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/sqldb"
)

// The follower sync reads WeChat's whole follower list into the followers
// table: user/get pages of up to 10,000 openids, user/info/batchget in
// hundreds, one transaction per page that stores the page's followers and
// moves the cursor. A pass that stops (WeChat's quota, a crash, a signal)
// continues from its cursor on the next run; a pass that reaches the end
// marks the followers it did not find as unfollowed. A lease in the
// database lets one process at a time run it.

// FollowerSource is WeChat's list of the Official Account's followers;
// cmd/omo adapts the WeChat client to it. A failure it cannot get past is
// best a *SourceError, which says when to try again.
type FollowerSource interface {
	// FollowerPage returns the page of followers after next ("" = from
	// the start of the list).
	FollowerPage(ctx context.Context, next string) (FollowerPage, error)
	// FollowerInfo returns what WeChat knows of up to 100 followers.
	FollowerInfo(ctx context.Context, openids []string) ([]FollowerInfo, error)
	// TagNames returns the account's follower tags, id → name.
	TagNames(ctx context.Context) (map[int]string, error)
}

// FollowerPage is one page of WeChat's follower list.
type FollowerPage struct {
	Total   int      // followers the account has now
	OpenIDs []string // none: the list is done
	Next    string   // the cursor for the page after; "" = the list is done
}

// FollowerInfo is one follower as user/info/batchget describes them.
type FollowerInfo struct {
	OpenID       string
	UnionID      string
	Following    bool // false: they unfollowed since the list was read
	SubscribedAt time.Time
	QRScene      string
	TagIDs       []int
}

// MaxFollowerInfo is how many openids one FollowerInfo call takes.
const MaxFollowerInfo = 100

// Resume says when a sync WeChat stopped may be tried again.
type Resume int

// The resume policies of a SourceError.
const (
	ResumeSoon       Resume = iota // WeChat busy or unreachable: in a minute
	ResumeNextMinute               // the per-minute limit (45011): next minute
	ResumeTomorrow                 // the daily quota (45009): after 00:00 Beijing time, when it resets
	ResumeAfterFix                 // no permission (48001), bad credentials: hourly, until someone fixes it
)

// ResumeAt is when the recurring sync job may try again after a stop of
// kind r at now.
func ResumeAt(r Resume, now time.Time) time.Time {
	switch r {
	case ResumeNextMinute:
		return now.Truncate(time.Minute).Add(time.Minute)
	case ResumeTomorrow:
		// A few minutes' margin: the reset is WeChat's clock, not ours.
		return startOfDay(now).AddDate(0, 0, 1).Add(5 * time.Minute)
	case ResumeAfterFix:
		return now.Add(time.Hour)
	}
	return now.Add(time.Minute)
}

// SourceError is a FollowerSource failure with what to tell the operator.
type SourceError struct {
	Code   int    // WeChat's errcode, 0 if none
	Msg    string // what happened and what to do, naming the code
	Resume Resume
	Err    error // the cause
}

// Error implements error as the message, then the cause.
func (e *SourceError) Error() string {
	if e.Err == nil {
		return e.Msg
	}
	return e.Msg + " (" + e.Err.Error() + ")"
}

// Unwrap returns the cause.
func (e *SourceError) Unwrap() error { return e.Err }

// SyncStopped is the error of a run that stopped before its pass
// completed. The cursor stays where the last stored page left it, and the
// next run continues from there.
type SyncStopped struct {
	Pass    int64      // the pass that stopped
	Pages   int64      // pages the pass has stored, earlier runs included
	Stored  int64      // followers the pass has stored
	RetryAt *time.Time // when the recurring job tries again; nil = at once
	Err     error      // why
}

// Error implements error.
func (e *SyncStopped) Error() string {
	return fmt.Sprintf("follower sync stopped in pass %d after %d pages, %d followers stored; the cursor is kept and the next run continues from it: %v",
		e.Pass, e.Pages, e.Stored, e.Err)
}

// Unwrap returns why.
func (e *SyncStopped) Unwrap() error { return e.Err }

// SyncOptions configure a Syncer.
type SyncOptions struct {
	Owner    string           // this process in the lease; "" = host, pid and a random suffix
	Now      func() time.Time // nil = time.Now
	Log      *slog.Logger     // nil = discard
	Progress func(SyncProgress)
	Parallel int           // batchget calls in flight at once; 0 = 4
	LeaseTTL time.Duration // 0 = 2 minutes; renewed while the run lasts
}

// SyncProgress is reported after each stored page.
type SyncProgress struct {
	Pass       int64
	Page       int           // pages stored in this run
	OnPage     int           // followers on the page just stored
	Stored     int           // followers stored in this run
	PassStored int64         // followers the pass has stored, earlier runs included
	Total      int           // WeChat's follower count
	Elapsed    time.Duration // since the run began
}

// SyncResult is what one run did.
type SyncResult struct {
	Pass         int64
	Resumed      bool   // the run continued a pass an earlier run began
	From         string // the cursor it began at
	BeforePages  int64  // pages of the pass stored before this run
	BeforeStored int64  // followers of the pass stored before this run
	Pages        int    // pages stored in this run
	Stored       int    // followers stored in this run
	Completed    bool   // the pass reached the end of the list
	Unfollowed   int    // followers the completed pass marked unfollowed
	Elapsed      time.Duration
}

// unfollowGrace widens "active since the pass began": WeChat's event times
// and omo's clock may differ, and a webhook push may arrive late.
const unfollowGrace = 10 * time.Minute

// Syncer runs the follower sync. It is safe for concurrent use; runs in
// one process or many take turns through the lease.
type Syncer struct {
	db   *sqldb.DB
	src  FollowerSource
	opts SyncOptions
}

// NewSyncer returns a Syncer storing into db what src lists.
func NewSyncer(db *sqldb.DB, src FollowerSource, opts SyncOptions) *Syncer {
	if opts.Owner == "" {
		opts.Owner = defaultOwner()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 4
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 2 * time.Minute
	}
	return &Syncer{db: db, src: src, opts: opts}
}

func defaultOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Run continues the pass under way, or starts a new one, and pages until
// the pass completes. If WeChat or the database stops it, or ctx ends, the
// error is a *SyncStopped and the pass continues from its cursor on the
// next run. If another process holds the lease it is a Conflict error and
// nothing is done.
func (s *Syncer) Run(ctx context.Context) (SyncResult, error) {
	res, _, err := s.run(ctx, nil)
	return res, err
}

// RunIfDue is Run for the recurring job: it runs only when a pass is under
// way and its retry time (set by a quota stop) has passed, or when none is
// and the last one completed every ago or never. ran says whether it did.
// Another process holding the lease is not an error: ran is false.
func (s *Syncer) RunIfDue(ctx context.Context, every time.Duration) (res SyncResult, ran bool, err error) {
	res, ran, err = s.run(ctx, func(st sqldb.FollowerSync, now time.Time) bool {
		if st.Running {
			return st.RetryAt == nil || !now.Before(*st.RetryAt)
		}
		return st.CompletedAt == nil || !now.Before(st.CompletedAt.Add(every))
	})
	if errs.Is(err, errs.Conflict) && !ran {
		return res, false, nil
	}
	return res, ran, err
}

// run takes the lease and, if due says so (nil = always), runs.
func (s *Syncer) run(ctx context.Context, due func(sqldb.FollowerSync, time.Time) bool) (SyncResult, bool, error) {
	const op = "followers.sync"
	start := s.opts.Now()
	st, ok, err := s.db.ClaimFollowerSync(ctx, s.opts.Owner, start, start.Add(s.opts.LeaseTTL))
	if err != nil {
		return SyncResult{}, false, err
	}
	if !ok {
		return SyncResult{}, false, errs.E(errs.Conflict, op, "another omo process (%s) is syncing followers; its lease ends at %s unless it renews it",
			st.LeaseOwner, st.LeaseUntil.UTC().Format(time.RFC3339))
	}
	if due != nil && !due(st, start) {
		return SyncResult{}, false, s.release(ctx)
	}
	r := &syncRun{s: s, ctx: ctx, start: start, renewed: start}
	res, err := r.run(st)
	return res, true, err
}

func (s *Syncer) release(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.db.ReleaseFollowerSync(ctx, s.opts.Owner, s.opts.Now())
}
