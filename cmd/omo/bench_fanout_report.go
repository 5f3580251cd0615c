package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/sqldb"
)

// fanoutReport is the -json output.
type fanoutReport struct {
	GOMAXPROCS    int          `json:"gomaxprocs"`
	Database      string       `json:"database"`
	Redis         string       `json:"redis"`
	RedisEmbedded bool         `json:"redis_embedded"`
	Followers     int          `json:"followers"`
	Audience      string       `json:"audience"` // the campaign's when:
	Recipients    int64        `json:"recipients"`
	SeedSeconds   float64      `json:"seed_seconds"`
	Plan          *planResult  `json:"plan"`
	Naive         *naiveResult `json:"naive,omitempty"`
	Send          *sendResult  `json:"send,omitempty"`
	Goals         fanoutGoals  `json:"goals"`
	OK            bool         `json:"ok"` // every check passed
}

// fanoutGoals says which goals were met; a goal not measured is false.
type fanoutGoals struct {
	PlanTime bool   `json:"plan_1m_under_60s"`
	PlanRSS  bool   `json:"plan_under_200mb"`
	SendRate bool   `json:"send_rate_within_5pct"`
	Note     string `json:"note,omitempty"`
}

// goals judges the run against the goals. Planning is judged by
// its rate (1M in 60 s is 16,667 recipients/s) when the audience is not 1M.
func (b *benchFanout) goals(rep *fanoutReport) fanoutGoals {
	p := rep.Plan
	g := fanoutGoals{
		PlanTime: p.OK && p.PerSec >= fanoutGoalRecipients/fanoutGoalTime.Seconds(),
		PlanRSS:  p.PeakRSS > 0 && p.PeakRSS < fanoutGoalRSS,
	}
	if s := rep.Send; s != nil && s.Target > 0 {
		g.SendRate = s.OK && !s.Exhausted && s.DeviationPct >= -fanoutGoalRateDev && s.DeviationPct <= fanoutGoalRateDev
	}
	var notes []string
	if rep.Recipients != fanoutGoalRecipients {
		notes = append(notes, fmt.Sprintf("the audience is %s, not 1,000,000: planning is judged by its rate", group(rep.Recipients)))
	}
	if s := rep.Send; s != nil && s.Exhausted {
		notes = append(notes, "every recipient was sent to before the send phase ended: raise -followers or lower -send-rate")
	}
	if b.db.Dialect() != sqldb.SQLite {
		notes = append(notes, "the goals are set for SQLite")
	}
	if rep.RedisEmbedded {
		notes = append(notes, "embedded Redis: run with a real redis-server for figures")
	}
	g.Note = strings.Join(notes, "; ")
	return g
}

func (b *benchFanout) header(rep *fanoutReport) {
	w := b.env.stdout
	fmt.Fprintf(w, "omo bench fanout: %s followers (home store %s or %s, half each), audience %s: %s recipients, GOMAXPROCS=%d\n",
		group(int64(rep.Followers)), fanoutStoreSH, fanoutStoreBJ, rep.Audience, group(rep.Recipients), rep.GOMAXPROCS)
	fmt.Fprintf(w, "  database %s; redis %s; seeded in %.1fs (not measured)\n\n", rep.Database, rep.Redis, rep.SeedSeconds)
}

func (b *benchFanout) table(w io.Writer, rep *fanoutReport) {
	p := rep.Plan
	fmt.Fprintf(w, "%-6s %-46s %10s %9s %11s\n", "phase", "what", "count", "time", "per second")
	fmt.Fprintf(w, "%-6s %-46s %10s %9s %11s\n", "plan", "ledger rows and outbox items committed", group(p.Recipients), secs(p.CommittedSeconds), group(int64(float64(p.Recipients)/max(p.CommittedSeconds, 1e-9))))
	fmt.Fprintf(w, "%-6s %-46s %10s %9s %11s\n", "", fmt.Sprintf("+ every batch task in Redis (%s tasks)", group(int64(p.Tasks))), group(p.Recipients), secs(p.Seconds), group(int64(p.PerSec)))
	fmt.Fprintf(w, "%-6s peak RSS %s (%s), %s at the start, %s at the end\n", "", mb(p.PeakRSS), p.PeakNote, mb(p.StartRSS), mb(p.EndRSS))
	if n := rep.Naive; n != nil {
		fmt.Fprintf(w, "%-6s %-46s %10s %9s %11s  -> %s recipients in %s\n", "naive", "one asynq enqueue per recipient (1 goroutine)",
			group(int64(n.Enqueued)), secs(n.Seconds), group(int64(n.PerSec)), group(rep.Recipients), time.Duration(n.ExtrapolatedSeconds*float64(time.Second)).Round(time.Second))
	}
	if s := rep.Send; s != nil {
		fmt.Fprintf(w, "%-6s %-46s %10s %9s %11.1f  %s\n", "send", "template sends the simulator saw", group(s.Sends), secs(s.Seconds), s.Rate, s.rateNote())
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "checks: "+b.checks(rep))
	fmt.Fprintln(w, "goals:  "+goalLine(rep))
}

// checks describes the verifications.
func (b *benchFanout) checks(rep *fanoutReport) string {
	p := rep.Plan
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "FAILED"
	}
	out := fmt.Sprintf("ledger %s rows for %s recipients, %s batches and %s tasks in Redis for ceil(%s/%d) = %s: %s",
		group(p.Ledger), group(rep.Recipients), group(int64(p.Batches)), group(int64(p.Tasks)), group(rep.Recipients), engine.BatchSize, group(int64(p.WantBatches)), verdict(p.OK))
	if s := rep.Send; s != nil {
		out += fmt.Sprintf("; send: %d WeChat errors%s, %d followers sent twice: %s", s.Errors, kinds(s.ErrorKinds), s.Repeats, verdict(s.OK))
	}
	return out
}

// kinds lists error kinds with their counts, in parentheses ("" if none).
func kinds(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return " (" + strings.Join(out, ", ") + ")"
}

func goalLine(rep *fanoutReport) string {
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	p, g := rep.Plan, rep.Goals
	line := fmt.Sprintf("plan 1M under 60 s: %s (%s/s, 1M in %s); under 200 MB: %s (%s)",
		met(g.PlanTime), group(int64(p.PerSec)), secs(fanoutGoalRecipients/max(p.PerSec, 1e-9)), met(g.PlanRSS), mb(p.PeakRSS))
	if s := rep.Send; s != nil && s.Target > 0 {
		line += fmt.Sprintf("; send rate within ±5 %%: %s (%+.1f %%)", met(g.SendRate), s.DeviationPct)
	}
	if g.Note != "" {
		line += "\n        (" + g.Note + ")"
	}
	return line
}

// group writes n with thousands separators.
func group(n int64) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		return "-" + s
	}
	return s
}

func secs(s float64) string { return fmt.Sprintf("%.2fs", s) }

func mb(bytes int64) string {
	if bytes <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f MB", float64(bytes)/(1<<20))
}
