package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/omohq/omo/config"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
	"github.com/omohq/omo/worker"
)

// sendResult is the send phase's figures.
type sendResult struct {
	Target        int            `json:"send_rate"` // 0 = no limit
	Concurrency   int            `json:"concurrency"`
	WarmupSeconds float64        `json:"warmup_seconds"`
	Seconds       float64        `json:"seconds"`
	Sends         int64          `json:"sends"` // in the measured seconds
	Rate          float64        `json:"sends_per_sec"`
	DeviationPct  float64        `json:"deviation_pct"` // from Target
	PerSecond     []int          `json:"per_second"`
	P50           int            `json:"p50_per_sec"`
	Min           int            `json:"min_per_sec"`
	Max           int            `json:"max_per_sec"`
	TotalSends    int64          `json:"total_sends"` // warm-up included
	Errors        int            `json:"wechat_errors"`
	ErrorKinds    map[string]int `json:"wechat_error_kinds,omitempty"`
	Repeats       int            `json:"repeats"`            // followers who got the message more than once
	Exhausted     bool           `json:"audience_exhausted"` // everyone was sent to before the end
	OK            bool           `json:"ok"`                 // no errors but token refreshes, no repeats, some sends
}

func (s *sendResult) rateNote() string {
	spread := fmt.Sprintf("per second p50 %d, min %d, max %d", s.P50, s.Min, s.Max)
	if s.Exhausted {
		spread += "; the audience ran out"
	}
	if s.Target == 0 {
		return "(no limit; " + spread + ")"
	}
	return fmt.Sprintf("(-send-rate %d: %+.1f %%; %s)", s.Target, s.DeviationPct, spread)
}

// send runs the workers on the planned firing against an in-process
// simulator that knows the same followers, and counts per second the
// template sends it accepted, after the warm-up, in whole seconds.
func (b *benchFanout) send(ctx context.Context, audience int64) (*sendResult, error) {
	fmt.Fprintf(b.env.stderr, "send: seeding the simulator with %s followers...\n", group(int64(b.followers)))
	sim := wechatsim.New(wechatsim.Options{})
	defer sim.Close()
	sim.AddApp(demoOAAppID, demoOASecret)
	sim.SeedFollowers(demoOAAppID, b.followers)
	simURL, stopSim, err := serveLoopback(sim)
	if err != nil {
		return nil, err
	}
	defer stopSim()
	wx, err := wechat.NewClient(wechat.Config{APIBase: simURL, Timeout: config.Default().WeChat.Timeout,
		OAAppID: demoOAAppID, OAAppSecret: demoOASecret}, b.rds.Client, b.log)
	if err != nil {
		return nil, err
	}
	sender := wechat.NewSender(wx, "")
	srv := worker.NewServer(b.rds.Client, b.db, sender, sender, worker.Options{Concurrency: b.conc, AppID: demoOAAppID,
		SendRate: b.sendRate, Fanout: b.eng}, b.log)
	fmt.Fprintf(b.env.stderr, "send: %s warm-up, then %s at -send-rate %d...\n", b.warmup, b.sendFor, b.sendRate)
	start := time.Now()
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start workers: %w", err)
	}
	from := start.Add(b.warmup).Truncate(time.Second).Add(time.Second) // whole seconds, as the rate limiter's windows
	to := from.Add(b.sendFor)
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(to) + 250*time.Millisecond):
	}
	sends, calls := sim.Templates(demoOAAppID), sim.Calls(fanoutSendPath)
	srv.Shutdown()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return sendFigures(b, sends, calls, from, to, audience), nil
}

func sendFigures(b *benchFanout, sends []wechatsim.TemplateSend, calls []wechatsim.Call, from, to time.Time, audience int64) *sendResult {
	res := &sendResult{Target: b.sendRate, Concurrency: b.conc, WarmupSeconds: b.warmup.Seconds(), Seconds: to.Sub(from).Seconds(),
		PerSecond: make([]int, int(to.Sub(from)/time.Second)), TotalSends: int64(len(sends))}
	per := map[string]int{}
	for _, s := range sends {
		per[s.ToUser]++
		if per[s.ToUser] == 2 {
			res.Repeats++
		}
		if !s.At.Before(from) && s.At.Before(to) {
			res.PerSecond[int(s.At.Sub(from)/time.Second)]++
			res.Sends++
		}
	}
	refused := 0 // errors other than a stale token (one an earlier run cached in Redis), which omo refreshes and retries
	for _, c := range calls {
		if c.Status != 200 || c.Errcode != 0 {
			res.Errors++
			if c.Errcode != 40001 && c.Errcode != 40014 && c.Errcode != 42001 {
				refused++
			}
			if res.ErrorKinds == nil {
				res.ErrorKinds = map[string]int{}
			}
			res.ErrorKinds[fmt.Sprintf("http %d errcode %d", c.Status, c.Errcode)]++
		}
	}
	res.Rate = float64(res.Sends) / res.Seconds
	if res.Target > 0 {
		res.DeviationPct = (res.Rate - float64(res.Target)) / float64(res.Target) * 100
	}
	sorted := slices.Sorted(slices.Values(res.PerSecond))
	if len(sorted) > 0 {
		res.P50, res.Min, res.Max = sorted[(len(sorted)-1)/2], sorted[0], sorted[len(sorted)-1]
	}
	res.Exhausted = res.TotalSends >= audience
	res.OK = refused == 0 && res.Repeats == 0 && res.Sends > 0
	return res
}
