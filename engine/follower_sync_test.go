package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/errs"
)

// fakeList is a FollowerSource over a list in memory, paged pageSize at a
// time in openid order (WeChat's own paging is tested against the
// simulator in cmd/omo).
type fakeList struct {
	mu       sync.Mutex
	pageSize int
	infos    map[string]engine.FollowerInfo
	tags     map[int]string
	pages    []string      // the cursor of every FollowerPage call
	fail     map[int]error // FollowerPage call number (1-based) → its error
	onPage   func(call int)
}

func newFakeList(pageSize int) *fakeList {
	return &fakeList{pageSize: pageSize, infos: map[string]engine.FollowerInfo{}, tags: map[int]string{}, fail: map[int]error{}}
}

func (l *fakeList) FollowerPage(_ context.Context, next string) (engine.FollowerPage, error) {
	l.mu.Lock()
	l.pages = append(l.pages, next)
	call := len(l.pages)
	err, hook := l.fail[call], l.onPage
	var ids []string
	for id := range l.infos {
		if id > next {
			ids = append(ids, id)
		}
	}
	total := len(l.infos)
	l.mu.Unlock()
	if hook != nil {
		hook(call)
	}
	if err != nil {
		return engine.FollowerPage{}, err
	}
	slices.Sort(ids)
	ids = ids[:min(len(ids), l.pageSize)]
	p := engine.FollowerPage{Total: total, OpenIDs: ids}
	if len(ids) > 0 {
		p.Next = ids[len(ids)-1]
	}
	return p, nil
}

func (l *fakeList) FollowerInfo(_ context.Context, openids []string) ([]engine.FollowerInfo, error) {
	if len(openids) > engine.MaxFollowerInfo {
		return nil, fmt.Errorf("%d openids", len(openids))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []engine.FollowerInfo
	for _, id := range openids {
		in, ok := l.infos[id]
		if !ok {
			in = engine.FollowerInfo{OpenID: id} // unfollowed since the page was read
		}
		out = append(out, in)
	}
	return out, nil
}

func (l *fakeList) TagNames(context.Context) (map[int]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]string{}
	for id, name := range l.tags {
		out[id] = name
	}
	return out, nil
}

func (l *fakeList) pageCalls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.pages)
}

func (l *fakeList) remove(openid string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.infos, openid)
}

// seed fills l with n followers f0000.. following since at; every third
// has tag 100 (vip), every fifth came through store:sh-002.
func (l *fakeList) seed(n int, at time.Time) {
	l.tags = map[int]string{100: "vip"}
	for i := range n {
		in := engine.FollowerInfo{OpenID: fmt.Sprintf("f%04d", i), UnionID: fmt.Sprintf("u%04d", i), Following: true, SubscribedAt: at}
		if i%3 == 0 {
			in.TagIDs = []int{100}
		}
		if i%5 == 0 {
			in.QRScene = "store:sh-002"
		}
		l.infos[in.OpenID] = in
	}
}

func (e *env) syncer(src engine.FollowerSource, owner string) *engine.Syncer {
	return engine.NewSyncer(e.db, src, engine.SyncOptions{Owner: owner, Now: func() time.Time { return e.now }, Log: discard})
}

func TestResumeAt(t *testing.T) {
	now := time.Date(2026, 12, 1, 17, 30, 20, 0, time.UTC) // 01:30:20 on Dec 2 in Beijing
	tests := []struct {
		r    engine.Resume
		want time.Time
	}{
		{engine.ResumeSoon, now.Add(time.Minute)},
		{engine.ResumeNextMinute, time.Date(2026, 12, 1, 17, 31, 0, 0, time.UTC)},
		{engine.ResumeTomorrow, time.Date(2026, 12, 2, 16, 5, 0, 0, time.UTC)}, // 00:05 Dec 3, Beijing
		{engine.ResumeAfterFix, now.Add(time.Hour)},
	}
	for _, tt := range tests {
		if got := engine.ResumeAt(tt.r, now); !got.Equal(tt.want) {
			t.Errorf("ResumeAt(%d) = %v, want %v", tt.r, got.UTC(), tt.want)
		}
	}
}

func TestSyncerResumesAndUnfollows(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		since := e.now.Add(-90 * 24 * time.Hour)
		l := newFakeList(1000)
		l.seed(2500, since)
		quota := &engine.SourceError{Code: 45009, Msg: "WeChat 45009: daily quota", Resume: engine.ResumeTomorrow}
		l.fail[2] = quota
		// Known from the webhook before the sync: someone WeChat no longer lists.
		e.handle(t, subscribe("gone", since, ""))

		s := e.syncer(l, "a")
		_, err := s.Run(ctx)
		var stopped *engine.SyncStopped
		if !errors.As(err, &stopped) || !errors.Is(err, quota) || stopped.Pages != 1 || stopped.Stored != 1000 {
			t.Fatalf("first run = %v, want stopped by 45009 after 1 page of 1000", err)
		}
		st, _ := e.db.FollowerSync(ctx)
		if st.NextOpenID != "f0999" || !st.Running || st.LeaseOwner != "" || st.RetryAt == nil || st.LastError == "" {
			t.Errorf("state after the quota stop = %+v", st)
		}
		if _, ran, err := s.RunIfDue(ctx, time.Hour); ran || err != nil {
			t.Errorf("RunIfDue before the quota resets: ran %v, %v", ran, err)
		}

		res, err := s.Run(ctx) // the operator asks again at once
		if err != nil {
			t.Fatal(err)
		}
		if !res.Resumed || res.From != "f0999" || res.BeforeStored != 1000 || res.Stored != 1500 || !res.Completed || res.Unfollowed != 1 {
			t.Errorf("resumed run = %+v", res)
		}
		if want := []string{"", "f0999", "f0999", "f1999", "f2499"}; !slices.Equal(l.pageCalls(), want) {
			t.Errorf("page cursors = %v, want %v (the first page fetched once)", l.pageCalls(), want)
		}
		all, subscribed, _ := e.db.CountFollowers(ctx)
		if all != 2501 || subscribed != 2500 {
			t.Errorf("followers %d (%d following), want 2501 (2500)", all, subscribed)
		}
		f, err := e.db.Follower(ctx, "f0005")
		if err != nil || f.UnionID != "u0005" || f.HomeStore != "sh-002" || !f.SubscribedAt.Equal(since) {
			t.Errorf("f0005 = %+v, %v", f, err)
		}

		// Second pass: two unfollowed without omo hearing of it, one more
		// while the pass runs (the webhook tells omo), and someone new
		// follows through the webhook after the pass began: not in the
		// list omo reads, but not unfollowed either.
		l.remove("f0001")
		l.remove("f2400")
		l.mu.Lock()
		l.fail, l.pages = map[int]error{}, nil
		l.mu.Unlock()
		l.onPage = func(call int) {
			if call == 2 {
				e.handle(t, subscribe("newcomer", e.now, "store:sh-001"))
				e.handle(t, unsubscribe("f0003", e.now))
			}
		}
		e.now = e.now.Add(2 * time.Hour)
		res, ran, err := s.RunIfDue(ctx, time.Hour)
		if err != nil || !ran || res.Pass != 2 || res.Resumed || res.Unfollowed != 2 {
			t.Fatalf("second pass = %+v, ran %v, %v; want pass 2 unfollowing f0001 and f2400", res, ran, err)
		}
		for id, want := range map[string]bool{"f0001": false, "f2400": false, "f0003": false, "newcomer": true, "f0002": true} {
			f, err := e.db.Follower(ctx, id)
			if err != nil {
				t.Errorf("%s: %v", id, err)
			} else if f.Subscribed != want {
				t.Errorf("%s following = %v, want %v", id, f.Subscribed, want)
			}
		}
		if _, ran, _ := s.RunIfDue(ctx, time.Hour); ran {
			t.Error("RunIfDue right after a completed pass ran again")
		}
	})
}

func TestSyncerInterrupted(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		l := newFakeList(500)
		l.seed(1200, e.now.Add(-time.Hour))
		ctx, cancel := context.WithCancel(t.Context())
		l.onPage = func(call int) {
			if call == 2 {
				cancel() // SIGTERM while the second page is being read
			}
		}
		s := e.syncer(l, "a")
		_, err := s.Run(ctx)
		var stopped *engine.SyncStopped
		if !errors.As(err, &stopped) || stopped.Stored != 500 {
			t.Fatalf("interrupted run = %v, want stopped after 500", err)
		}
		st, _ := e.db.FollowerSync(t.Context())
		if st.NextOpenID != "f0499" || st.RetryAt != nil || st.LeaseOwner != "" {
			t.Errorf("state after the interruption = %+v, want cursor f0499, no retry time, no lease", st)
		}
		l.onPage = nil
		res, err := e.syncer(l, "b").Run(t.Context())
		if err != nil || res.Stored != 700 || !res.Completed {
			t.Errorf("resumed by another process = %+v, %v", res, err)
		}
	})
}

func TestSyncerLease(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		l := newFakeList(100)
		l.seed(150, e.now.Add(-time.Hour))
		inPage, release := make(chan struct{}), make(chan struct{})
		l.onPage = func(call int) {
			if call == 1 {
				close(inPage)
				<-release
			}
		}
		a, b := e.syncer(l, "a"), e.syncer(l, "b")
		done := make(chan error, 1)
		go func() { _, err := a.Run(context.Background()); done <- err }()
		<-inPage
		if _, err := b.Run(t.Context()); !errs.Is(err, errs.Conflict) {
			t.Errorf("second syncer's Run while the first runs = %v, want Conflict", err)
		}
		if _, ran, err := b.RunIfDue(t.Context(), time.Hour); ran || err != nil {
			t.Errorf("second syncer's RunIfDue = ran %v, %v; want skipped quietly", ran, err)
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(l.pageCalls()); n != 3 {
			t.Errorf("%d page calls, want 3 (one syncer ran)", n)
		}
	})
}
