package main

import (
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
)

// The scale-out test: two `omo serve` and two `omo worker` processes (the
// real binary) on one PostgreSQL database and one redis-server, WeChat
// played by the simulator. Its figures are logged (go test -v -run
// TestScaleOut ./cmd/omo).

// firstFifty adds to the welcome set a campaign that gives a free coffee to
// the first 50 followers only: the stock that must hold under the load.
const firstFifty = `---
kind: CouponPool
id: first-50
title: "A free coffee, first 50 only"
discount: {amount_fen: 1800}
stock: 50
per_follower: 1
valid_for: 720h
---
kind: Campaign
id: first-50
on: {event: subscribe, scene_prefix: "store:"}
do:
  - issue_coupon: {pool: first-50}
`

const (
	scaleFirstLoad = 300 // follows, each to one serve and its 3 retries to the other
	scaleKillLoad  = 200 // follows during which a serve and a worker are killed
	scaleKillAt    = 60  // the kill comes once this many of them have started
	scaleStock     = 50  // first-50's stock
	scaleInFlight  = 16  // follows pushed at once
	// scaleInFlightSends is how many template sends must be waiting for
	// WeChat's answer when the kill comes: with 4 workers sharing the
	// queue, each of the two killed ones holds some of them.
	scaleInFlightSends = 24
)

// TestScaleOut runs omo as it is deployed at scale and checks the
// guarantees that must hold across processes:
//
// First load: each follow goes to one serve and, at the same moment, its
// three retries (the same signed body, as WeChat resends it) to the other.
// Every push acts once (one inbound event, one firing of each campaign per
// follower, every copy answered with the same passive reply), every send
// goes out once (one template per follower at the simulator, client_msg_id
// unique, no call repeated), and the coupon stock holds (first-50 issues
// exactly 50 of its 50, no code twice).
//
// Second load: half the follows go to serve A alone, retried on serve B
// only if A does not answer 200 (as WeChat retries after its 5 s); the
// other half go to B with three concurrent retries to A. Mid-load, A and
// worker 1 are SIGKILLed; worker 1 is restarted at once (as its supervisor
// would), A is not (the load balancer routes around it). Every follow A
// acknowledged before it died is stored and its message sent by the
// workers that live (the tasks the dead processes had leased come back
// through asynq's recoverer, ~61 s after the kill), and still nothing is
// sent twice.
func TestScaleOut(t *testing.T) {
	t.Parallel()
	began := time.Now()
	bin := buildOmo(t)
	dbURL := testenv.Postgres(t)
	rds := testenv.Redis(t)
	sim, simURL, slow := newSlowSim(t)
	env := setEnv(campaignEnv(t, simURL, dbURL, rds.URL(), welcomeSet(100000, 0)+firstFifty),
		"OMO_LOG_LEVEL=info")
	rig := &scaleRig{sim: sim, db: openStore(t, dbURL), sql: openSQL(t, dbURL), client: pushClient()}

	// The first serve migrates the database and applies the campaign set;
	// the others find both done.
	serveA := startProcess(t, bin, env)
	serveB := startProcess(t, bin, env)
	worker1 := startWorkerProcess(t, bin, env)
	startWorkerProcess(t, bin, env) // worker 2
	t.Logf("2 serve and 2 worker processes up %v after the start", time.Since(began).Round(100*time.Millisecond))

	// First load: every push to both serves at once.
	start := time.Now()
	first := rig.load("o-a", scaleFirstLoad, func(i int, p sealedPush) follow {
		one, other := serveA.URL, serveB.URL
		if i%2 == 1 {
			one, other = other, one
		}
		return rig.fanOut(p, one, other, other, other)
	}, nil)
	for _, f := range first {
		if len(f.failed) > 0 || len(f.acked) != 4 {
			t.Errorf("%s: %d of 4 copies answered %q; failures: %v", f.openid, len(f.acked), welcomeReply, f.failed)
		}
	}
	t.Logf("first load: %d follows, %d pushes answered in %v", len(first), 4*len(first), time.Since(start).Round(time.Millisecond))
	rig.waitSettled(t, scaleFirstLoad, 60*time.Second)
	t.Logf("first load settled %v after it began", time.Since(start).Round(time.Millisecond))
	rig.checkOnce(t, first, scaleFirstLoad)
	if calls, sends := sim.CallCount(templateSend), len(sim.Templates(testAppID)); calls != sends {
		t.Errorf("template/send calls = %d for %d sends: no call may be repeated while every process lives", calls, sends)
	}

	rig.logMetrics(t, "first load", serveB.URL)

	// Second load, with the kills. WeChat now takes 1.5 s to answer a
	// template send it has already accepted, so that the killed processes
	// die with sends in flight that WeChat has and omo never heard of.
	slow.after.Store(int64(1500 * time.Millisecond))
	start = time.Now()
	kill := make(chan struct{})
	loaded := make(chan []follow, 1)
	go func() {
		loaded <- rig.load("o-b", scaleKillLoad, func(i int, p sealedPush) follow {
			if i%2 == 0 { // to A alone; WeChat retries on B only if A fails
				f := rig.fanOut(p, serveA.URL)
				for try := 0; len(f.acked) == 0 && try < 3; try++ {
					f.merge(rig.fanOut(p, serveB.URL))
				}
				return f
			}
			return rig.fanOut(p, serveB.URL, serveA.URL, serveA.URL, serveA.URL)
		}, func(started int) {
			if started == scaleKillAt {
				close(kill)
			}
		})
	}()
	<-kill
	waitFor(t, 20*time.Second, "template sends in flight at WeChat", func() (bool, error) {
		return slow.inFlight.Load() >= scaleInFlightSends, nil
	})
	inFlight := slow.inFlight.Load()
	serveA.kill(t)
	worker1.kill(t)
	killed := time.Now()
	startWorkerProcess(t, bin, env) // worker 1 again
	t.Logf("killed serve A (pid %d) and worker 1 (pid %d) %v into the second load, %d template sends in flight; worker 1 restarted in %v",
		serveA.cmd.Process.Pid, worker1.cmd.Process.Pid, killed.Sub(start).Round(time.Millisecond), inFlight, time.Since(killed).Round(time.Millisecond))
	second := <-loaded
	t.Logf("second load: %d follows answered in %v", len(second), time.Since(start).Round(time.Millisecond))

	onlyA := 0
	for _, f := range second {
		if len(f.acked) == 0 {
			t.Errorf("%s: no copy acknowledged (failures: %v); B was alive throughout", f.openid, f.failed)
		}
		if f.ackedOnlyBy(serveA.URL) {
			onlyA++
		}
	}
	t.Logf("%d follows of the second load were acknowledged by serve A alone, before it died", onlyA)
	if onlyA == 0 {
		t.Errorf("no follow was acknowledged by serve A alone: the kill came too early to test anything")
	}
	all := append(append([]follow(nil), first...), second...)
	rig.waitSettled(t, scaleFirstLoad+scaleKillLoad, 100*time.Second)
	t.Logf("second load settled %v after the kill", time.Since(killed).Round(time.Millisecond))
	rig.checkOnce(t, all, scaleFirstLoad+scaleKillLoad)
	calls, sends := sim.CallCount(templateSend), len(sim.Templates(testAppID))
	t.Logf("template/send: %d calls for %d sends; %d repeated by a recovered task and refused by WeChat's client_msg_id guard",
		calls, sends, calls-sends)
	if calls == sends {
		// The sends in flight at the kill belonged to the survivors this time
		// (serve B runs workers too): nothing to recover, which the checks
		// above hold to just the same.
		t.Logf("no template send was repeated: the kill caught no send of worker 1 that WeChat had accepted")
	}
	rig.logMetrics(t, "second load", serveB.URL)
	t.Logf("TestScaleOut took %v", time.Since(began).Round(100*time.Millisecond))
}
