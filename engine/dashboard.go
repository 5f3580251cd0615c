package engine

import (
	"context"
	"math"
	"time"

	"github.com/omohq/omo/errs"
)

// The dashboard's figures (issue 11): every one is computed here from the
// database, for the JSON endpoints under /admin/v1/dashboard that the page
// draws. Days are Asia/Shanghai days (UTC+8 all year), as WeChat's Data
// Assistant counts them.

// DefaultDashboardDays is how many days the overview shows when not asked.
const DefaultDashboardDays = 30

// MaxDashboardDays is the most days the overview or a funnel shows.
const MaxDashboardDays = 366

// dayBounds returns the midnights (Asia/Shanghai) that bound the n days
// ending with the day of now (today included): n+1 times, ascending.
func dayBounds(now time.Time, n int) []time.Time {
	today := startOfDay(now)
	out := make([]time.Time, n+1)
	for i := range out {
		out[i] = today.AddDate(0, 0, i-n+1)
	}
	return out
}

// dayName is the Asia/Shanghai date of midnight t.
func dayName(t time.Time) string { return t.In(beijing).Format(time.DateOnly) }

// checkDays refuses a day count outside 1..MaxDashboardDays.
func checkDays(op string, n int) error {
	if n < 1 || n > MaxDashboardDays {
		return errs.E(errs.Invalid, op, "days must be 1-%d", MaxDashboardDays)
	}
	return nil
}

// SourceCounts splits follows by where they came from.
type SourceCounts struct {
	Store    int `json:"store"`    // a store QR code (scene store:...)
	Referral int `json:"referral"` // a referral QR code (scene ref:...)
	Search   int `json:"search"`   // no scene: search, name card, article...
	Other    int `json:"other"`    // another QR scene
}

// OverviewDay is one day of follower growth.
type OverviewDay struct {
	Date      string       `json:"date"` // YYYY-MM-DD, Asia/Shanghai
	Follows   int          `json:"follows"`
	Unfollows int          `json:"unfollows"`
	Net       int          `json:"net"`
	BySource  SourceCounts `json:"by_source"` // of follows
}

// DayTotals is one day's growth without the split.
type DayTotals struct {
	Date      string `json:"date"`
	Follows   int    `json:"follows"`
	Unfollows int    `json:"unfollows"`
	Net       int    `json:"net"`
}

// Changes are yesterday's figures against an earlier day's, in percent of
// the earlier day's; nil when that was 0.
type Changes struct {
	Follows   *float64 `json:"follows"`
	Unfollows *float64 `json:"unfollows"`
	Net       *float64 `json:"net"`
}

// Comparison is yesterday against the day before, a week before and a
// month (30 days) before, as the Data Assistant shows it; today so far is
// there too.
type Comparison struct {
	Today       DayTotals `json:"today"`
	Yesterday   DayTotals `json:"yesterday"`
	DayBefore   DayTotals `json:"day_before"`
	WeekBefore  DayTotals `json:"week_before"`
	MonthBefore DayTotals `json:"month_before"`
	Change      struct {
		DayBefore   Changes `json:"day_before"`
		WeekBefore  Changes `json:"week_before"`
		MonthBefore Changes `json:"month_before"`
	} `json:"change"`
}

// Overview is the dashboard's first page.
type Overview struct {
	FollowersNow int           `json:"followers_now"` // subscribed now, as omo knows them
	Timezone     string        `json:"timezone"`
	Days         []OverviewDay `json:"days"` // oldest first, today last
	Compare      Comparison    `json:"compare"`
}

// compareSpan is how many days back the comparison reaches: the day 30
// days before yesterday.
const compareSpan = 32

// DashboardOverview returns the followers now and the growth of the last
// days days (today included), with yesterday compared; Invalid for days
// outside 1..MaxDashboardDays.
func (e *Engine) DashboardOverview(ctx context.Context, days int) (Overview, error) {
	const op = "engine.DashboardOverview"
	if err := checkDays(op, days); err != nil {
		return Overview{}, err
	}
	o := Overview{Timezone: "Asia/Shanghai"}
	_, subscribed, err := e.db.CountFollowers(ctx)
	if err != nil {
		return o, err
	}
	o.FollowersNow = subscribed
	span := max(days, compareSpan)
	bounds := dayBounds(e.now(), span)
	counts, err := e.db.FollowsByDay(ctx, bounds)
	if err != nil {
		return o, err
	}
	totals := func(back int) DayTotals { // back: 0 = today
		i := span - 1 - back
		c := counts[i]
		return DayTotals{Date: dayName(bounds[i]), Follows: c.Follows, Unfollows: c.Unfollows, Net: c.Follows - c.Unfollows}
	}
	for i := span - days; i < span; i++ {
		c := counts[i]
		o.Days = append(o.Days, OverviewDay{Date: dayName(bounds[i]), Follows: c.Follows, Unfollows: c.Unfollows,
			Net: c.Follows - c.Unfollows, BySource: SourceCounts{Store: c.Store, Referral: c.Referral, Search: c.Search, Other: c.Other}})
	}
	cmp := &o.Compare
	cmp.Today, cmp.Yesterday, cmp.DayBefore, cmp.WeekBefore, cmp.MonthBefore = totals(0), totals(1), totals(2), totals(8), totals(31)
	cmp.Change.DayBefore = changes(cmp.Yesterday, cmp.DayBefore)
	cmp.Change.WeekBefore = changes(cmp.Yesterday, cmp.WeekBefore)
	cmp.Change.MonthBefore = changes(cmp.Yesterday, cmp.MonthBefore)
	return o, nil
}

func changes(now, then DayTotals) Changes {
	return Changes{Follows: percent(now.Follows, then.Follows), Unfollows: percent(now.Unfollows, then.Unfollows), Net: percent(now.Net, then.Net)}
}

// percent is (now-then)/|then| in percent, one decimal; nil when then is 0.
func percent(now, then int) *float64 {
	if then == 0 {
		return nil
	}
	v := math.Round(float64(now-then)/math.Abs(float64(then))*1000) / 10
	return &v
}

// ratio is n/of to four decimals; nil when of is 0.
func ratio(n, of int) *float64 {
	if of == 0 {
		return nil
	}
	v := math.Round(float64(n)/float64(of)*10000) / 10000
	return &v
}
