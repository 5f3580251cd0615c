package campaigns

import (
	"testing"
	"time"
)

// clock is the test's injected now: domain code never reads the time
// itself.
type fakeClock struct{ now time.Time }

func (c *fakeClock) advance(d time.Duration) time.Time { c.now = c.now.Add(d); return c.now }

func TestAllowPerFollower(t *testing.T) {
	l := Limits{PerFollower: 2}
	clk := &fakeClock{time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	var h History
	for i := range 2 {
		if got := l.Allow(h, clk.now); got != Allowed {
			t.Fatalf("firing %d: %q, want allowed", i+1, got)
		}
		h.Fired, h.LastFired = h.Fired+1, clk.now
		clk.advance(time.Hour)
	}
	if got := l.Allow(h, clk.advance(365*24*time.Hour)); got != RefusedPerFollower {
		t.Errorf("third firing a year later: %q, want %q", got, RefusedPerFollower)
	}
}

func TestAllowCooldown(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	l := Limits{Cooldown: 24 * time.Hour}
	h := History{Fired: 5, LastFired: start}
	tests := []struct {
		after time.Duration
		want  Refusal
	}{
		{0, RefusedCooldown},
		{time.Second, RefusedCooldown},
		{24*time.Hour - time.Second, RefusedCooldown},
		{24 * time.Hour, Allowed}, // the cooldown is over exactly then
		{25 * time.Hour, Allowed},
	}
	for _, tt := range tests {
		clk := &fakeClock{start}
		if got := l.Allow(h, clk.advance(tt.after)); got != tt.want {
			t.Errorf("%v after the last firing: %q, want %q", tt.after, got, tt.want)
		}
	}
	if got := l.Allow(History{}, start); got != Allowed {
		t.Errorf("never fired: %q, want allowed", got)
	}
}

func TestAllowBoth(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	l := Limits{PerFollower: 1, Cooldown: time.Hour}
	if got := l.Allow(History{Fired: 1, LastFired: now.Add(-time.Minute)}, now); got != RefusedPerFollower {
		t.Errorf("both exceeded: %q, want per_follower first", got)
	}
	if got := (&Limits{}).Allow(History{Fired: 1000, LastFired: now}, now); got != Allowed {
		t.Errorf("no limits: %q, want allowed", got)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Skipf("no time zone data for %s: %v", name, err)
	}
	return loc
}

func quiet(t *testing.T, s string) *QuietHours {
	t.Helper()
	q, err := parseQuiet(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestQuietHoursShanghai(t *testing.T) {
	sh := mustZone(t, "Asia/Shanghai")
	at := func(y int, m time.Month, d, hh, mm, ss int) time.Time { return time.Date(y, m, d, hh, mm, ss, 0, sh) }
	night := quiet(t, "22:00-08:00")
	noon := quiet(t, "12:00-14:00")
	tests := []struct {
		name string
		q    *QuietHours
		t    time.Time
		want time.Time
	}{
		{"23:30 waits for 08:00 tomorrow", night, at(2026, 12, 1, 23, 30, 0), at(2026, 12, 2, 8, 0, 0)},
		{"07:59 waits a minute", night, at(2026, 12, 2, 7, 59, 0), at(2026, 12, 2, 8, 0, 0)},
		{"12:00 goes at once", night, at(2026, 12, 2, 12, 0, 0), at(2026, 12, 2, 12, 0, 0)},
		{"22:00 is quiet", night, at(2026, 12, 1, 22, 0, 0), at(2026, 12, 2, 8, 0, 0)},
		{"21:59:59 is not", night, at(2026, 12, 1, 21, 59, 59), at(2026, 12, 1, 21, 59, 59)},
		{"00:00 is quiet", night, at(2026, 12, 2, 0, 0, 0), at(2026, 12, 2, 8, 0, 0)},
		{"08:00 is not", night, at(2026, 12, 2, 8, 0, 0), at(2026, 12, 2, 8, 0, 0)},
		{"across the year", night, at(2026, 12, 31, 23, 30, 0), at(2027, 1, 1, 8, 0, 0)},
		{"across February", night, at(2028, 2, 28, 22, 30, 0), at(2028, 2, 29, 8, 0, 0)},
		{"noon span before", noon, at(2026, 12, 1, 11, 59, 59), at(2026, 12, 1, 11, 59, 59)},
		{"noon span start", noon, at(2026, 12, 1, 12, 0, 0), at(2026, 12, 1, 14, 0, 0)},
		{"noon span inside", noon, at(2026, 12, 1, 13, 30, 0), at(2026, 12, 1, 14, 0, 0)},
		{"noon span end", noon, at(2026, 12, 1, 14, 0, 0), at(2026, 12, 1, 14, 0, 0)},
		{"noon span at night", noon, at(2026, 12, 1, 23, 0, 0), at(2026, 12, 1, 23, 0, 0)},
		{"no quiet hours", nil, at(2026, 12, 1, 23, 30, 0), at(2026, 12, 1, 23, 30, 0)},
		// A time given in UTC is judged in the campaign's zone: 15:30Z
		// is 23:30 in Shanghai.
		{"UTC input", night, time.Date(2026, 12, 1, 15, 30, 0, 0, time.UTC), time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)},
		{"UTC input, day in Shanghai", night, time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 4, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.q.SendAt(tt.t, sh)
			if !got.Equal(tt.want) {
				t.Errorf("SendAt(%s) = %s, want %s", tt.t.In(sh), got.In(sh), tt.want.In(sh))
			}
		})
	}
}

// TestQuietHoursDST: quiet hours are wall-clock hours. On the days New York
// changes its clocks, the end is still 08:00 local, and a send outside
// quiet hours is never held.
func TestQuietHoursDST(t *testing.T) {
	ny := mustZone(t, "America/New_York")
	at := func(m time.Month, d, hh, mm int) time.Time { return time.Date(2026, m, d, hh, mm, 0, 0, ny) }
	night := quiet(t, "22:00-08:00")
	tests := []struct {
		name string
		t    time.Time
		want time.Time
	}{
		// 2026-03-08 02:00 EST becomes 03:00 EDT.
		{"spring: the night before", at(3, 7, 23, 30), at(3, 8, 8, 0)},
		{"spring: 07:30 EDT", at(3, 8, 7, 30), at(3, 8, 8, 0)},
		{"spring: 08:30 EDT goes at once", at(3, 8, 8, 30), at(3, 8, 8, 30)},
		{"spring: 21:30 EDT goes at once", at(3, 8, 21, 30), at(3, 8, 21, 30)},
		{"spring: 22:30 EDT", at(3, 8, 22, 30), at(3, 9, 8, 0)},
		// 2026-11-01 02:00 EDT becomes 01:00 EST.
		{"fall: the night before", at(10, 31, 23, 30), at(11, 1, 8, 0)},
		{"fall: 07:30 EST", at(11, 1, 7, 30), at(11, 1, 8, 0)},
		{"fall: 21:30 EST goes at once", at(11, 1, 21, 30), at(11, 1, 21, 30)},
		{"fall: 22:00 EST", at(11, 1, 22, 0), at(11, 2, 8, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := night.SendAt(tt.t, ny)
			if !got.Equal(tt.want) {
				t.Errorf("SendAt(%s) = %s, want %s", tt.t, got.In(ny), tt.want)
			}
		})
	}
	if got := night.SendAt(at(3, 7, 23, 30), ny); got.Sub(at(3, 7, 23, 30)) != 7*time.Hour+30*time.Minute {
		t.Errorf("spring night: held %v, want 7h30m (an hour of the night does not exist)", got.Sub(at(3, 7, 23, 30)))
	}

	// Quiet hours that end at 02:30, a time New York skips on 8 March:
	// they end when the clocks jump to 03:00.
	skip := quiet(t, "01:00-02:30")
	if got, want := skip.SendAt(at(3, 8, 1, 45), ny), at(3, 8, 3, 0); !got.Equal(want) {
		t.Errorf("SendAt(01:45 on the skip day) = %s, want %s", got.In(ny), want)
	}
}

// TestQuietHoursProperties walks every 7 minutes through weeks around the
// clock changes: a send is held only when its wall-clock time is quiet, it
// goes out at the end of the quiet hours, never earlier than it was due.
func TestQuietHoursProperties(t *testing.T) {
	// Santiago changes its clocks at midnight, Lord Howe by half an hour.
	for _, zone := range []string{"Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "America/Santiago"} {
		loc := mustZone(t, zone)
		for _, span := range []string{"22:00-08:00", "12:00-14:00", "00:00-06:30", "01:30-02:30", "23:00-00:30"} {
			q := quiet(t, span)
			for _, from := range []time.Time{
				time.Date(2026, 3, 1, 12, 0, 0, 0, loc),
				time.Date(2026, 3, 25, 12, 0, 0, 0, loc),
				time.Date(2026, 4, 1, 12, 0, 0, 0, loc),
				time.Date(2026, 9, 1, 12, 0, 0, 0, loc),
				time.Date(2026, 9, 28, 12, 0, 0, 0, loc),
				time.Date(2026, 10, 24, 12, 0, 0, 0, loc),
			} {
				for tm := from; tm.Before(from.AddDate(0, 0, 14)); tm = tm.Add(7 * time.Minute) {
					got := q.SendAt(tm, loc)
					lt := tm.In(loc)
					wall := time.Duration(lt.Hour())*time.Hour + time.Duration(lt.Minute())*time.Minute
					inQuiet := q.From < q.To && wall >= q.From && wall < q.To ||
						q.From > q.To && (wall >= q.From || wall < q.To)
					switch {
					case got.Before(tm):
						t.Fatalf("%s %s: SendAt(%s) = %s, earlier than due", zone, span, lt, got.In(loc))
					case !inQuiet && !got.Equal(tm):
						t.Fatalf("%s %s: SendAt(%s) = %s, want at once", zone, span, lt, got.In(loc))
					case inQuiet && got.Sub(tm) > 25*time.Hour:
						t.Fatalf("%s %s: SendAt(%s) = %s, held too long", zone, span, lt, got.In(loc))
					case inQuiet && got.Equal(tm):
						t.Fatalf("%s %s: SendAt(%s) goes at once in quiet hours", zone, span, lt)
					case inQuiet:
						g := got.In(loc)
						start, _ := g.ZoneBounds()
						// The end of the quiet hours, or the end of a clock
						// skip that swallowed it.
						if time.Duration(g.Hour())*time.Hour+time.Duration(g.Minute())*time.Minute != q.To && !start.Equal(got) {
							t.Fatalf("%s %s: SendAt(%s) = %s, want the end of the quiet hours", zone, span, lt, g)
						}
					}
				}
			}
		}
	}
}

func TestParseQuiet(t *testing.T) {
	tests := []struct {
		in       string
		from, to time.Duration
		err      bool
	}{
		{"22:00-08:00", 22 * time.Hour, 8 * time.Hour, false},
		{" 8:30 - 9:45 ", 8*time.Hour + 30*time.Minute, 9*time.Hour + 45*time.Minute, false},
		{"00:00-23:59", 0, 23*time.Hour + 59*time.Minute, false},
		{"22:00", 0, 0, true},
		{"22:00-24:00", 0, 0, true},
		{"22-08", 0, 0, true},
		{"08:00-08:00", 0, 0, true},
		{"", 0, 0, true},
	}
	for _, tt := range tests {
		q, err := parseQuiet(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("parseQuiet(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && (q.From != tt.from || q.To != tt.to) {
			t.Errorf("parseQuiet(%q) = %v-%v, want %v-%v", tt.in, q.From, q.To, tt.from, tt.to)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want Rate
		err  bool
	}{
		{"100/s", Rate{100, time.Second}, false},
		{"5/m", Rate{5, time.Minute}, false},
		{" 5 / min ", Rate{5, time.Minute}, false},
		{"1000/h", Rate{1000, time.Hour}, false},
		{"0/s", Rate{}, true},
		{"-1/s", Rate{}, true},
		{"100", Rate{}, true},
		{"100/d", Rate{}, true},
		{"x/s", Rate{}, true},
	}
	for _, tt := range tests {
		got, err := parseRate(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseRate(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"90s", 90 * time.Second, false},
		{"720h", 720 * time.Hour, false},
		{"30d", 30 * 24 * time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"1.5h", 90 * time.Minute, false},
		{"1d12h", 0, true},
		{"30 days", 0, true},
		{"d", 0, true},
		{"3600", 0, true},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
