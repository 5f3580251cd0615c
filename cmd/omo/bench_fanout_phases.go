package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/omohq/omo/campaigns"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/followers"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat/wechatsim"
	"github.com/omohq/omo/worker"
)

// The seeded followers' home stores: follower i has the first when i is
// even, the second when it is odd.
const (
	fanoutStoreSH = "sh-001"
	fanoutStoreBJ = "bj-001"
)

const (
	fanoutCampaignID = "bench-fanout"
	fanoutSeedPage   = 10_000 // followers per transaction when seeding
	// fanoutQueueStall is how long the plan phase waits for the queue to
	// grow before it gives up: past the relay's sweep (30 s old, every 5 s),
	// so an item the relay dropped would have been enqueued by then.
	fanoutQueueStall = 45 * time.Second
	naiveQueue       = "omo-bench-naive"
	naiveEmbedded    = 20_000 // -naive's default on the embedded Redis (miniredis slows down as it fills)
	naiveTaskType    = "bench:naive"
	fanoutSendPath   = "/cgi-bin/message/template/send"
)

func fanoutStore(i int) string {
	if i%2 == 0 {
		return fanoutStoreSH
	}
	return fanoutStoreBJ
}

// inAudience reports whether seeded follower i is in the campaign's audience.
func (b *benchFanout) inAudience(i int) bool { return b.store == "" || fanoutStore(i) == b.store }

// seed writes the followers, 10,000 per transaction, with the openids the
// simulator's SeedFollowers generates, so both sides know the same people.
// It returns how long it took.
func (b *benchFanout) seed(ctx context.Context) (float64, error) {
	start := time.Now()
	at := start.Add(-24 * time.Hour).UTC().Truncate(time.Second)
	page := make([]followers.Follower, 0, fanoutSeedPage)
	next := b.followers / 10
	for i := 0; i < b.followers; i += fanoutSeedPage {
		page = page[:0]
		for j := i; j < min(i+fanoutSeedPage, b.followers); j++ {
			s := fanoutStore(j)
			page = append(page, followers.Follower{OpenID: wechatsim.SeedOpenID(demoOAAppID, j), Subscribed: true, SubscribedAt: &at,
				FirstSeenAt: at, FirstScene: "store:" + s, HomeStore: s, LastEventAt: at})
		}
		if err := b.db.Write(ctx, func(tx *sqldb.Tx) error { return tx.SaveSyncedFollowers(page, 1) }); err != nil {
			return 0, fmt.Errorf("seed followers: %w", err)
		}
		if done := i + len(page); done >= next && b.followers >= 100_000 {
			fmt.Fprintf(b.env.stderr, "seeding: %s of %s followers, %.0f/s\n", group(int64(done)), group(int64(b.followers)), float64(done)/time.Since(start).Seconds())
			next += b.followers / 10
		}
	}
	return time.Since(start).Seconds(), nil
}

func (b *benchFanout) countFollowers(ctx context.Context) (int64, error) {
	a, err := b.db.CompileAudience(ctx, &campaigns.Audience{}, "", time.Now())
	if err != nil {
		return 0, err
	}
	return b.db.CountAudience(ctx, a)
}

// countAudience counts the campaign's audience as the database sees it.
func (b *benchFanout) countAudience(ctx context.Context) (int64, error) {
	var when campaigns.Audience
	if b.store != "" {
		when.Stores = []string{b.store}
	}
	a, err := b.db.CompileAudience(ctx, &when, fanoutCampaignID, time.Now())
	if err != nil {
		return 0, err
	}
	return b.db.CountAudience(ctx, a)
}

// fanoutCampaign is a schedule campaign firing once at at (to the
// followers of store, or to every follower) with a template message.
func fanoutCampaign(at time.Time, store string) (*campaigns.Set, []campaigns.File, error) {
	when := ""
	if store != "" {
		when = "when: {store: " + store + "}\n"
	}
	data := fmt.Sprintf(`kind: Campaign
id: %s
title: omo bench fanout
on: {event: schedule, at: %s}
%sdo:
  - send_template: {template_id: TPL_BENCH, page: pages/index/index, data: {thing1: "Double 11 starts now"}}
`, fanoutCampaignID, at.Format(time.RFC3339), when)
	files := []campaigns.File{{Name: "bench-fanout.yaml", Data: []byte(data)}}
	set, err := campaigns.Load(files)
	return set, files, err
}

// planResult is the plan phase's figures.
type planResult struct {
	Recipients       int64   `json:"recipients"`  // the slot's planned count
	Ledger           int64   `json:"ledger_rows"` // rows in its ledger
	Batches          int     `json:"batches"`     // the slot's batch count
	WantBatches      int     `json:"want_batches"`
	Tasks            int     `json:"tasks_in_redis"`
	CommittedSeconds float64 `json:"committed_seconds"` // until TickSchedules returned: ledger and outbox committed
	Seconds          float64 `json:"seconds"`           // until every batch task was in Redis too
	PerSec           float64 `json:"recipients_per_sec"`
	StartRSS         int64   `json:"start_rss_bytes"`
	PeakRSS          int64   `json:"peak_rss_bytes"` // VmHWM after the phase
	EndRSS           int64   `json:"end_rss_bytes"`
	PeakNote         string  `json:"peak_note"` // what the peak covers
	OK               bool    `json:"ok"`        // ledger = audience, tasks = batches = ceil(audience/500)
}

// plan fires the campaign at a slot a second or two ahead and measures
// from the TickSchedules call until the last batch task is in Redis.
func (b *benchFanout) plan(ctx context.Context, audience int64) (*planResult, error) {
	at := time.Now().Add(time.Second).Truncate(time.Second).Add(time.Second)
	set, files, err := fanoutCampaign(at, b.store)
	if err != nil {
		return nil, err
	}
	if err := b.eng.SetCampaigns(ctx, set, files); err != nil {
		return nil, err
	}
	res := &planResult{WantBatches: int((audience + engine.BatchSize - 1) / engine.BatchSize)}
	fmt.Fprintf(b.env.stderr, "plan: firing %s at %s...\n", fanoutCampaignID, at.Format(time.TimeOnly))
	for time.Now().Before(at) {
		time.Sleep(time.Until(at) + time.Millisecond)
	}
	runtime.GC()
	debug.FreeOSMemory() // the seeding's garbage is not the plan's
	res.PeakNote = "VmHWM, reset at the start of the phase"
	if !resetPeakRSS() {
		res.PeakNote = "the process's peak so far (seeding included): /proc/self/clear_refs is not writable"
	}
	if b.db.Dialect() != sqldb.SQLite {
		res.PeakNote += "; omo's process only, not the database server's"
	}
	_, res.StartRSS = memStatus()
	stopProfile, err := cpuProfile(b.cpuprofile)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	err = b.eng.TickSchedules(ctx, "omo-bench")
	res.CommittedSeconds = time.Since(start).Seconds()
	if err != nil {
		stopProfile()
		return nil, err
	}
	slots, err := b.db.Slots(ctx, fanoutCampaignID, 2)
	if err != nil || len(slots) != 1 {
		stopProfile()
		return nil, errors.Join(fmt.Errorf("omo bench fanout: the slot did not fire (%d slots)", len(slots)), err)
	}
	b.slot = &slots[0]
	res.Tasks, err = b.waitTasks(ctx, b.slot.Batches)
	res.Seconds = time.Since(start).Seconds()
	stopProfile()
	res.PeakRSS, res.EndRSS = memStatus()
	if err != nil {
		return nil, err
	}
	st, err := b.db.SlotStats(ctx, b.slot.ID)
	if err != nil {
		return nil, err
	}
	res.Recipients, res.Ledger, res.Batches = b.slot.Planned, st.Planned, b.slot.Batches
	res.PerSec = float64(res.Recipients) / res.Seconds
	res.OK = res.Ledger == audience && res.Recipients == audience && res.Batches == res.WantBatches && res.Tasks == res.WantBatches
	return res, nil
}

// waitTasks polls omo's queue until it holds want tasks, or it stops
// growing for fanoutQueueStall; it returns the size seen last.
func (b *benchFanout) waitTasks(ctx context.Context, want int) (int, error) {
	last, changed := -1, time.Now()
	for {
		n, err := b.queueSize(worker.Queue)
		if err != nil || n >= want {
			return n, err
		}
		if n != last {
			last, changed = n, time.Now()
		} else if time.Since(changed) > fanoutQueueStall {
			return n, nil
		}
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// naiveResult is the naive design's figures.
type naiveResult struct {
	Enqueued            int     `json:"enqueued"`
	Seconds             float64 `json:"seconds"`
	PerSec              float64 `json:"enqueues_per_sec"`
	ExtrapolatedSeconds float64 `json:"extrapolated_seconds"` // for the whole audience
}

// naivePhase enqueues one asynq task per recipient (task ID per recipient,
// payload the openid) from one goroutine into a queue of its own, then
// deletes that queue. The openids are generated, not read from the
// database: only the enqueues are timed.
func (b *benchFanout) naivePhase(ctx context.Context, audience int64) (*naiveResult, error) {
	n := int(min(int64(b.naive), audience))
	if err := b.dropQueue(naiveQueue); err != nil {
		return nil, err
	}
	client := asynq.NewClientFromRedisClient(b.rds.Client)
	defer client.Close()
	fmt.Fprintf(b.env.stderr, "naive: enqueueing %s tasks, one per recipient...\n", group(int64(n)))
	start := time.Now()
	for i, done := 0, 0; done < n; i++ {
		if !b.inAudience(i) {
			continue
		}
		t := asynq.NewTask(naiveTaskType, []byte(wechatsim.SeedOpenID(demoOAAppID, i)),
			asynq.TaskID("naive-"+strconv.Itoa(i)), asynq.Queue(naiveQueue))
		if _, err := client.EnqueueContext(ctx, t); err != nil {
			return nil, fmt.Errorf("naive enqueue %d: %w", done+1, err)
		}
		done++
	}
	el := time.Since(start).Seconds()
	res := &naiveResult{Enqueued: n, Seconds: el, PerSec: float64(n) / el}
	res.ExtrapolatedSeconds = float64(audience) / res.PerSec
	return res, b.dropQueue(naiveQueue)
}

// dropQueue deletes queue and its tasks, if it exists.
func (b *benchFanout) dropQueue(queue string) error {
	err := b.insp.DeleteQueue(queue, true)
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		return fmt.Errorf("delete queue %s: %w", queue, err)
	}
	return nil
}

// memStatus returns the process's peak resident set (VmHWM) and current
// one (VmRSS) in bytes from /proc/self/status; zeros where there is no
// such file (not Linux).
func memStatus() (peak, now int64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		if k == "VmHWM" {
			peak = kb << 10
		} else {
			now = kb << 10
		}
	}
	return peak, now
}

// resetPeakRSS sets VmHWM back to the current resident set; false when
// the kernel does not let this process (no /proc/self/clear_refs).
func resetPeakRSS() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// cpuProfile starts a CPU profile into path ("" = none) and returns what
// stops it.
func cpuProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
