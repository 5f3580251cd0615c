package campaigns

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// cronSchedule is a parsed 5-field cron expression (robfig/cron is used to
// parse and to compute the next slot only; omo's own ticker fires slots).
type cronSchedule interface{ Next(time.Time) time.Time }

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// parseCron parses a 5-field expression (minute hour day month weekday) or
// a descriptor such as @daily. Time zones come from the campaign's
// timezone, so CRON_TZ= and TZ= prefixes are refused.
func parseCron(expr string) (cronSchedule, error) {
	if len(expr) > 3 && (expr[:3] == "TZ=" || len(expr) > 8 && expr[:8] == "CRON_TZ=") {
		return nil, fmt.Errorf("write the zone in the campaign's timezone:, not in the expression")
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// NextSlot is the first slot of a schedule campaign strictly after after:
// the next cron time in the campaign's zone, or the at time once. Zero
// when there is none (an at already passed, or not a schedule campaign).
func (c *Campaign) NextSlot(after time.Time) time.Time {
	t := &c.On
	if t.Event != OnSchedule {
		return time.Time{}
	}
	if t.schedule == nil {
		if t.At.After(after) {
			return t.At
		}
		return time.Time{}
	}
	next := t.schedule.Next(after.In(c.Location))
	if !c.End.IsZero() && next.After(c.End) {
		return time.Time{}
	}
	return next
}

// Slots lists up to n slots of a schedule campaign after after, in order,
// skipping those before window.start.
func (c *Campaign) Slots(after time.Time, n int) []time.Time {
	var out []time.Time
	if !c.Start.IsZero() && after.Before(c.Start) {
		after = c.Start.Add(-time.Nanosecond)
	}
	for len(out) < n {
		next := c.NextSlot(after)
		if next.IsZero() {
			break
		}
		out = append(out, next)
		after = next
	}
	return out
}

// SlotVerdict is what to do with a due slot.
type SlotVerdict int

// The verdicts of DueSlots.
const (
	SlotFire   SlotVerdict = iota // fire it now
	SlotMissed                    // record it missed, never send it
)

// SlotGrace is how late a slot may be seen and still count as on time: the
// ticker looks every few seconds, so a slot later than this passed while no
// omo was ticking.
const SlotGrace = time.Minute

// DueSlots lists the slots of a schedule campaign in (since, now], oldest
// first, at most limit (the newest), each with its verdict. A slot seen
// within SlotGrace is on time and fires. A later one passed while no omo
// was running: with catch_up skip it is missed; with catch_up once the
// newest such slot fires once if it is no more than max_lateness late (and
// no on-time slot fires in the same call), every other one is missed. No
// slot is ever sent more than max_lateness late.
func (c *Campaign) DueSlots(since, now time.Time, limit int) (slots []time.Time, verdicts []SlotVerdict) {
	return c.DueSlotsTicking(since, now, now.Add(-SlotGrace), limit)
}

// DueSlotsTicking is DueSlots for a ticker that has been looking since
// ticking (the start of its previous tick): a slot at or after ticking is
// on time however long the tick took (a big plan in it), one before it
// passed while no omo ran.
func (c *Campaign) DueSlotsTicking(since, now, ticking time.Time, limit int) (slots []time.Time, verdicts []SlotVerdict) {
	for after := since; ; {
		next := c.NextSlot(after)
		if next.IsZero() || next.After(now) {
			break
		}
		after = next
		if !c.Start.IsZero() && next.Before(c.Start) {
			continue
		}
		slots = append(slots, next)
	}
	if len(slots) > limit {
		slots = slots[len(slots)-limit:]
	}
	late := c.On.MaxLateness
	if late <= 0 {
		late = DefaultMaxLateness
	}
	verdicts = make([]SlotVerdict, len(slots))
	caughtUp := false
	for i := len(slots) - 1; i >= 0; i-- {
		lateness := now.Sub(slots[i])
		switch {
		case !slots[i].Before(ticking) && lateness <= late:
			verdicts[i], caughtUp = SlotFire, true
		case c.On.CatchUp == CatchUpOnce && !caughtUp && lateness <= late:
			verdicts[i], caughtUp = SlotFire, true
		default:
			verdicts[i] = SlotMissed
		}
	}
	return slots, verdicts
}

// StaleAt lists the schedule campaigns whose at is already past at now:
// omo campaigns validate refuses them (a running omo keeps a past at, which
// fired or was recorded missed, so a hot reload does not check this).
func (s *Set) StaleAt(now time.Time) Problems {
	var ps Problems
	for _, c := range s.Campaigns {
		if c.On.Event == OnSchedule && c.On.schedule == nil && !c.On.At.IsZero() && !c.On.At.After(now) {
			ps = append(ps, Problem{File: c.Pos.File, Line: c.On.atLine, Field: "on.at",
				Why: fmt.Sprintf("%s is in the past: the campaign would never fire (it would be recorded missed)", c.On.At.Format(time.RFC3339))})
		}
	}
	return ps
}

// AudienceLine is where campaign c's when: field is written (the campaign's
// line when it is not), for problems found by evaluating the audience.
func (c *Campaign) AudienceLine(field string) int {
	if l := c.When.lines[field]; l > 0 {
		return l
	}
	return c.Pos.Line
}

// MassAction returns the campaign's send_mass action, nil if it has none.
func (c *Campaign) MassAction() *Mass {
	for _, a := range c.Do {
		if a.Kind == ActMass {
			return a.Mass
		}
	}
	return nil
}
