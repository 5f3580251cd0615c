package campaigns

import (
	"slices"
	"testing"
	"time"
)

func TestSlots(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	c := campaignFrom(t, `{event: schedule, cron: "0 10 * * *"}`, "")
	after := time.Date(2026, 12, 3, 9, 0, 0, 0, sh)
	got := c.Slots(after, 3)
	want := []time.Time{time.Date(2026, 12, 3, 10, 0, 0, 0, sh), time.Date(2026, 12, 4, 10, 0, 0, 0, sh), time.Date(2026, 12, 5, 10, 0, 0, 0, sh)}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("Slots = %v, want %v (10:00 Asia/Shanghai, not 10:00 UTC)", got, want)
	}
	once := campaignFrom(t, `{event: schedule, at: 2026-12-03T10:00:00+08:00}`, "")
	if got := once.Slots(after, 3); len(got) != 1 || !got[0].Equal(want[0]) {
		t.Errorf("at: Slots = %v, want just %v", got, want[0])
	}
	if got := once.Slots(want[0], 3); len(got) != 0 {
		t.Errorf("at: Slots after the at = %v, want none", got)
	}
}

func TestDueSlots(t *testing.T) {
	sh, _ := time.LoadLocation("Asia/Shanghai")
	at := func(h, m int) time.Time { return time.Date(2026, 12, 3, h, m, 0, 0, sh) }
	F, M := SlotFire, SlotMissed
	tests := []struct {
		name       string
		on         string
		since, now time.Time
		slots      []time.Time
		verdicts   []SlotVerdict
	}{
		{"on time", `{event: schedule, cron: "0 * * * *"}`, at(9, 59), at(10, 0), []time.Time{at(10, 0)}, []SlotVerdict{F}},
		{"not yet", `{event: schedule, cron: "0 * * * *"}`, at(9, 0), at(9, 59), nil, []SlotVerdict{}},
		{"late, skip", `{event: schedule, cron: "0 * * * *"}`, at(9, 0), at(10, 30), []time.Time{at(10, 0)}, []SlotVerdict{M}},
		{"late, once", `{event: schedule, cron: "0 * * * *", catch_up: once}`, at(9, 0), at(10, 30), []time.Time{at(10, 0)}, []SlotVerdict{F}},
		{"down three hours, once: newest within max_lateness fires", `{event: schedule, cron: "0 * * * *", catch_up: once}`, at(6, 30), at(9, 30),
			[]time.Time{at(7, 0), at(8, 0), at(9, 0)}, []SlotVerdict{M, M, F}},
		{"down three hours, skip: all missed", `{event: schedule, cron: "0 * * * *"}`, at(6, 30), at(9, 30),
			[]time.Time{at(7, 0), at(8, 0), at(9, 0)}, []SlotVerdict{M, M, M}},
		{"past max_lateness, once: missed", `{event: schedule, cron: "0 * * * *", catch_up: once, max_lateness: 20m}`, at(8, 30), at(9, 30),
			[]time.Time{at(9, 0)}, []SlotVerdict{M}},
		{"on time slot after missed ones", `{event: schedule, cron: "*/30 * * * *", catch_up: once}`, at(8, 0), at(9, 0),
			[]time.Time{at(8, 30), at(9, 0)}, []SlotVerdict{M, F}},
		{"at, late past max_lateness", `{event: schedule, at: 2026-12-03T06:00:00+08:00, catch_up: once}`, at(5, 0), at(9, 0),
			[]time.Time{at(6, 0)}, []SlotVerdict{M}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := campaignFrom(t, tt.on, "")
			slots, verdicts := c.DueSlots(tt.since, tt.now, 10)
			if !slices.EqualFunc(slots, tt.slots, time.Time.Equal) || !slices.Equal(verdicts, tt.verdicts) {
				t.Errorf("DueSlots = %v %v, want %v %v", slots, verdicts, tt.slots, tt.verdicts)
			}
		})
	}
}
