package main

import "time"

// expiringScanEvery is how often every omo serve, worker and demo looks for
// coupons entering a coupon_expiring campaign's window (engine.RunExpiring).
// Each coupon is claimed once across all of them, so more processes do not
// mean more reminders.
const expiringScanEvery = 5 * time.Second
