package engine_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/sqldb"
)

// batchSet exercises every write of the campaign path that the batch
// buffers or answers from what it read up front: per-follower limits (the
// firing history), a pool's per_follower (the coupons held), tags_none
// (tags) after a tag action, store visits, passive replies and sends.
const batchSet = `
kind: CouponPool
id: p1
title: "¥10 off"
discount: {amount_fen: 1000}
stock: 100
per_follower: 1
valid_for: 720h
---
kind: Campaign
id: welcome
window: {start: 2026-01-01T00:00:00+08:00, end: 2027-12-31T23:59:59+08:00}
on: {event: subscribe, scene_prefix: "store:s"}
when: {tags_none: [staff]}
limits: {per_follower: 1, budget: 100}
do:
  - reply: {text: "Welcome {{.Follower.OpenID}}"}
  - issue_coupon: {pool: p1}
  - send_template:
      template_id: "TPL"
      page: pages/coupon/detail
      query: {code: "{{.Coupon.Code}}"}
      data: {thing1: "{{.Coupon.Title}}"}
---
kind: Campaign
id: again
window: {start: 2026-01-01T00:00:00+08:00, end: 2027-12-31T23:59:59+08:00}
on: {event: subscribe, scene_prefix: "store:"}
limits: {cooldown: 1h}
do:
  - issue_coupon: {pool: p1}
  - send_template: {template_id: "TPL", page: pages/index, data: {thing1: "again"}}
---
kind: Campaign
id: staff
window: {start: 2026-01-01T00:00:00+08:00, end: 2027-12-31T23:59:59+08:00}
on: {event: subscribe, scene: "store:hq"}
do:
  - reply: {text: "tagged"}
  - tag: {name: staff}
`

func scanAt(openid string, at time.Time, scene string) *events.Event {
	return &events.Event{Type: events.Scan, ToUser: "gh_x", OpenID: openid, CreatedAt: at, EventKey: scene, Ticket: "gQticket"}
}

// batchPushes is a sequence in which later pushes depend on what earlier
// ones wrote: o1 follows twice (the second follow must see the first
// firing and the coupon held), a retry of o1's first follow, o4 is tagged
// staff by its first follow and then re-follows through a store (welcome
// must see the tag), o2 and o3 follow through a store and scan one.
func batchPushes() []*events.Event {
	return []*events.Event{
		subscribe("o1", t0, "store:s1"),
		subscribe("o2", t0, "store:s2"),
		unsubscribe("o1", t0.Add(time.Second)),
		subscribe("o1", t0.Add(2*time.Second), "store:s2"),
		subscribe("o1", t0, "store:s1"), // WeChat's retry of the first push
		subscribe("o4", t0.Add(3*time.Second), "store:hq"),
		scanAt("o2", t0.Add(3*time.Second), "store:s2"),
		unsubscribe("o4", t0.Add(4*time.Second)),
		subscribe("o4", t0.Add(5*time.Second), "store:s1"),
		subscribe("o3", t0.Add(5*time.Second), "store:s3"),
		scanAt("o3", t0.Add(6*time.Second), "store:s3"),
		unsubscribe("o2", t0.Add(7*time.Second)),
		subscribe("o2", t0.Add(8*time.Second), "store:s1"),
	}
}

type batchSizes struct {
	mu        sync.Mutex
	sizes     []int
	conflicts int // writes that lost a deadlock and ran again
}

func (o *batchSizes) Batch(size int, _, _ time.Duration) {
	o.mu.Lock()
	o.sizes = append(o.sizes, size)
	o.mu.Unlock()
}
func (o *batchSizes) Conflicts(n int) {
	o.mu.Lock()
	o.conflicts += n
	o.mu.Unlock()
}

// TestCampaignPathInOneBatch: the pushes of batchPushes handled in one
// group-commit batch leave exactly what they leave handled one at a time:
// the same replies (a retry answered like the first push), firings,
// coupons, messages, tags and store visits. The batch must run buffered to
// its end (no fall back to write by write), or the test checks nothing.
func TestCampaignPathInOneBatch(t *testing.T) {
	t.Parallel()
	dbs, other := testenv.Databases(t), testenv.Databases(t)
	for i, d := range dbs {
		t.Run(d.Name, func(t *testing.T) {
			oneByOne, _ := runBatchPushes(t, d.URL, false)
			batched, log := runBatchPushes(t, other[i].URL, true)
			if strings.Contains(log, "write by write") {
				t.Fatalf("the batch fell back to write by write:\n%s", log)
			}
			if oneByOne != batched {
				t.Errorf("one at a time:\n%s\nin one batch:\n%s", oneByOne, batched)
			}
			for _, want := range []string{
				"reply o1#0 dup=false \"Welcome o1\"", "reply o1#3 dup=false \"\"", "reply o1#4 dup=true \"Welcome o1\"",
				"reply o4#5 dup=false \"tagged\"", "reply o4#8 dup=false \"\"", "reply o2#12 dup=false \"\"",
				"coupons o1: p1/welcome/s1/issued\n", "tags o4: staff\n", "coupons o4: p1/again/hq/issued\n",
				"campaign welcome: fired 3 coupons 3", "campaign again: fired 4 coupons 1", "campaign staff: fired 1",
				"store s3: {Scans:1 Follows:1 NewFollowers:1 CouponsIssued:1", "store s2: {Scans:1 Follows:2 NewFollowers:1 CouponsIssued:1",
			} {
				if !strings.Contains(batched, want) {
					t.Errorf("state lacks %q:\n%s", want, batched)
				}
			}
		})
	}
}

// runBatchPushes handles batchPushes on a fresh database (in one batch, or
// one at a time) and returns what they left, as text, and the debug log.
func runBatchPushes(t *testing.T, url string, inOneBatch bool) (string, string) {
	t.Helper()
	var logBuf bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logBuf, &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db, err := sqldb.OpenWith(t.Context(), url, log, sqldb.Options{Committers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := &env{db: db, queue: &recorder{}, now: t0.Add(10 * time.Second)}
	e.eng = engine.New(db, e.queue, func() time.Time { return e.now }, discard)
	e.load(t, batchSet)
	pushes := batchPushes()
	results := make([]engine.Result, len(pushes))
	if !inOneBatch {
		for i, ev := range pushes {
			results[i] = e.handle(t, ev)
		}
	} else {
		obs := &batchSizes{}
		db.SetObserver(obs)
		release, running := make(chan struct{}), make(chan struct{})
		held := make(chan error, 1)
		go func() {
			held <- db.Write(context.Background(), func(*sqldb.Tx) error { close(running); <-release; return nil })
		}()
		<-running
		errc := make(chan error, len(pushes))
		for i, ev := range pushes {
			go func() {
				var err error
				results[i], err = e.eng.Handle(context.Background(), ev, []byte("<xml>"+string(ev.Type)+"</xml>"))
				errc <- err
			}()
			time.Sleep(30 * time.Millisecond) // queued in this order
		}
		close(release)
		if err := <-held; err != nil {
			t.Fatal(err)
		}
		for range pushes {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
		obs.mu.Lock()
		sizes := slices.Clone(obs.sizes)
		obs.mu.Unlock()
		if !slices.Contains(sizes, len(pushes)) {
			t.Fatalf("batch sizes %v: the %d pushes did not commit in one batch", sizes, len(pushes))
		}
	}
	var out strings.Builder
	for i, r := range results {
		fmt.Fprintf(&out, "reply %s#%d dup=%v %q\n", pushes[i].OpenID, i, r.Duplicate, r.Reply)
	}
	for _, o := range []string{"o1", "o2", "o3", "o4"} {
		out.WriteString(followerState(t, db, o))
	}
	out.WriteString(campaignState(t, e))
	logMu.Lock()
	defer logMu.Unlock()
	return out.String(), logBuf.String()
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// followerState is what the campaign path stored for openid, as text that
// does not depend on random codes or ids.
func followerState(t *testing.T, db *sqldb.DB, openid string) string {
	t.Helper()
	ctx := t.Context()
	var out strings.Builder
	cs, err := db.CouponsOf(ctx, openid)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range cs {
		lines = append(lines, fmt.Sprintf("%s/%s/%s/%s", c.Pool, c.Campaign, c.IssuedStore, c.State))
	}
	slices.Sort(lines)
	fmt.Fprintf(&out, "coupons %s: %s\n", openid, strings.Join(lines, ", "))
	ms, err := db.MessagesOf(ctx, "", openid)
	if err != nil {
		t.Fatal(err)
	}
	lines = nil
	for _, m := range ms {
		lines = append(lines, fmt.Sprintf("%s/%s/%s/%s", m.CampaignID, m.Kind, m.State, m.Reason))
	}
	slices.Sort(lines)
	fmt.Fprintf(&out, "messages %s: %s\n", openid, strings.Join(lines, ", "))
	var tags []string
	if err := db.Write(ctx, func(tx *sqldb.Tx) error { tags, err = tx.Tags(openid); return err }); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&out, "tags %s: %s\n", openid, strings.Join(tags, ", "))
	evs, err := db.EventsFor(ctx, openid)
	if err != nil {
		t.Fatal(err)
	}
	lines = nil
	for _, ev := range evs {
		lines = append(lines, fmt.Sprintf("%s:%q", ev.Type, ev.Reply))
	}
	fmt.Fprintf(&out, "events %s: %s\n", openid, strings.Join(lines, ", "))
	return out.String()
}

// campaignState is what the campaigns and stores of batchSet counted.
func campaignState(t *testing.T, e *env) string {
	t.Helper()
	var out strings.Builder
	for _, c := range []string{"welcome", "again", "staff"} {
		st := e.stats(t, c)
		fmt.Fprintf(&out, "campaign %s: fired %d coupons %d\n", c, st.Fired, st.CouponsIssued)
	}
	for _, s := range []string{"s1", "s2", "s3", "hq"} {
		st, err := e.db.StoreStats(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "store %s: %+v\n", s, st)
	}
	return out.String()
}

// TestPerFollowerLimitsAcrossProcesses: two engines on one PostgreSQL
// database (two omo serve), four committers each, handle different pushes
// of the same followers at the same moment: each follower follows, leaves
// and follows again through both. The batches read the firing history and
// the coupons held once, under the followers' locks; if another process
// could fire in between, welcome (per_follower: 1) would fire twice or p1
// (per_follower: 1) issue two coupons. And no transaction may deadlock for
// good: every push is acknowledged.
func TestPerFollowerLimitsAcrossProcesses(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t)
	var engines []*engine.Engine
	var first *sqldb.DB
	obs := &batchSizes{}
	for i := range 2 {
		db, err := sqldb.OpenWith(t.Context(), url, discard, sqldb.Options{Committers: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if i == 0 {
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			first = db
		}
		db.SetObserver(obs)
		e := &env{db: db, queue: &recorder{}, now: t0.Add(time.Hour)}
		e.eng = engine.New(db, e.queue, func() time.Time { return e.now }, discard)
		e.load(t, batchSet)
		engines = append(engines, e.eng)
	}
	const followers = 60
	var wg sync.WaitGroup
	errc := make(chan error, followers*8)
	for f := range followers {
		openid := fmt.Sprintf("p%03d", f)
		for p, eng := range engines {
			// Process p sends its own follow-leave-follow of openid,
			// seconds apart from the other's, all at once.
			base := t0.Add(time.Duration(p*10) * time.Second)
			for _, ev := range []*events.Event{
				subscribe(openid, base, fmt.Sprintf("store:s%d", p+1)),
				unsubscribe(openid, base.Add(time.Second)),
				subscribe(openid, base.Add(2*time.Second), "store:s3"),
			} {
				wg.Go(func() {
					if _, err := eng.Handle(context.Background(), ev, []byte("<xml/>")); err != nil {
						errc <- fmt.Errorf("%s %s: %w", ev.Type, ev.OpenID, err)
					}
				})
			}
		}
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	obs.mu.Lock()
	t.Logf("%d transactions, %d writes ran again after a deadlock", len(obs.sizes), obs.conflicts)
	obs.mu.Unlock()
	st := (&env{db: first, eng: engines[0]}).stats(t, "welcome")
	if st.Fired != followers || st.CouponsIssued != followers {
		t.Errorf("welcome fired %d times and issued %d coupons for %d followers, want %d and %d", st.Fired, st.CouponsIssued, followers, followers, followers)
	}
	for f := range followers {
		openid := fmt.Sprintf("p%03d", f)
		cs, err := first.CouponsOf(t.Context(), openid)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 1 {
			t.Errorf("%s holds %d coupons of p1 (per_follower: 1)", openid, len(cs))
		}
	}
}
