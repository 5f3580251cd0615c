package main

import (
	"fmt"
	"os"
	"time"
)

// expiringScanEvery is how often every omo serve, worker and demo looks for
// coupons entering a coupon_expiring campaign's window (engine.RunExpiring).
// Each coupon is claimed once across all of them, so more processes do not
// mean more reminders.
const expiringScanEvery = 5 * time.Second

// scheduleTickEvery is how often every omo serve looks for due slots of
// schedule campaigns (engine.RunSchedules); a slot fires within this of its
// time, and campaigns.SlotGrace (a minute) is far above it.
const scheduleTickEvery = 2 * time.Second

// winnerTickEvery is how often every omo serve judges the A/B splits of
// the running set (engine.RunWinners): a winner is declared within this of
// the data allowing it. Each round counts every undecided split's
// messages, so it is slower than the schedule tick.
const winnerTickEvery = 30 * time.Second

// instanceName names this process in the slot rows it claims.
func instanceName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d", host, os.Getpid())
}
