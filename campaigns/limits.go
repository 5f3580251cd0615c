package campaigns

import "time"

// History is what storage knows of a campaign and one follower.
type History struct {
	Fired     int       // times the follower triggered the campaign
	LastFired time.Time // zero if never
}

// Refusal says why limits stop a campaign; "" means they allow it.
type Refusal string

// The refusals a campaign's limits give.
const (
	Allowed            Refusal = ""
	RefusedPerFollower Refusal = "per_follower"
	RefusedCooldown    Refusal = "cooldown"
	RefusedBudget      Refusal = "budget"
)

// Allow decides the per-follower limits for a firing at now. The budget is
// decided by storage (a conditional increment), not here.
func (l *Limits) Allow(h History, now time.Time) Refusal {
	if l.PerFollower > 0 && h.Fired >= l.PerFollower {
		return RefusedPerFollower
	}
	if l.Cooldown > 0 && !h.LastFired.IsZero() && now.Before(h.LastFired.Add(l.Cooldown)) {
		return RefusedCooldown
	}
	return Allowed
}

// SendAt returns when a send due at t may go out: t itself, or the end of
// the quiet hours t falls in, in loc. Quiet hours delay sends; they never
// drop them.
func (q *QuietHours) SendAt(t time.Time, loc *time.Location) time.Time {
	if q == nil {
		return t
	}
	lt := t.In(loc)
	y, m, d := lt.Date()
	// Wall-clock time of day, not time elapsed since midnight: on a
	// daylight-saving day the two differ by an hour.
	since := time.Duration(lt.Hour())*time.Hour + time.Duration(lt.Minute())*time.Minute +
		time.Duration(lt.Second())*time.Second + time.Duration(lt.Nanosecond())
	// A span that crosses midnight (22:00-08:00) is two pieces of one day.
	if q.From < q.To {
		if since >= q.From && since < q.To {
			return at(y, m, d, q.To, loc)
		}
		return t
	}
	switch {
	case since >= q.From: // evening part: ends tomorrow at To
		return at(y, m, d+1, q.To, loc)
	case since < q.To: // morning part
		return at(y, m, d, q.To, loc)
	}
	return t
}

// at is the wall-clock time off after midnight on day y-m-d in loc. When
// the clocks skip that time (daylight saving starts), it is the moment the
// skip ends, the first wall-clock time after it.
func at(y int, m time.Month, d int, off time.Duration, loc *time.Location) time.Time {
	h, min := int(off/time.Hour), int(off%time.Hour/time.Minute)
	t := time.Date(y, m, d, h, min, 0, 0, loc)
	if t.Hour() == h && t.Minute() == min {
		return t
	}
	// time.Date moved the skipped time across the skip, one way or the
	// other: the skip is the bound of t's zone period nearest to t (the
	// other bound is months away).
	start, end := t.ZoneBounds()
	if end.Sub(t) < t.Sub(start) {
		return end
	}
	return start
}
