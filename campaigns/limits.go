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
	midnight := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
	since := lt.Sub(midnight)
	// A span that crosses midnight (22:00-08:00) is two pieces of one day.
	if q.From < q.To {
		if since >= q.From && since < q.To {
			return at(midnight, q.To, loc)
		}
		return t
	}
	switch {
	case since >= q.From: // evening part: ends tomorrow at To
		return at(midnight.AddDate(0, 0, 1), q.To, loc)
	case since < q.To: // morning part
		return at(midnight, q.To, loc)
	}
	return t
}

// at is day's midnight plus an offset as wall-clock time, correct across
// daylight-saving changes.
func at(midnight time.Time, off time.Duration, loc *time.Location) time.Time {
	h, m := int(off/time.Hour), int(off%time.Hour/time.Minute)
	return time.Date(midnight.Year(), midnight.Month(), midnight.Day(), h, m, 0, 0, loc)
}
