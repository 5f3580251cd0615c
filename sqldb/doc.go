// Package sqldb keeps omo's state in SQLite or PostgreSQL through sqlx, with
// the same SQL on both (bind variables are rebound per driver).
//
// Every write goes through DB.Write, a group committer: one goroutine takes
// whatever write functions are waiting, runs them in one transaction and
// commits once. One failing function does not undo the others: the batch is
// then rolled back and run again with each function inside its own savepoint
// (savepoints cost too much to pay for when nothing fails), so a function
// may be called twice and must act only through its Tx. On SQLite this is
// also the single writer that makes SQLITE_BUSY impossible (its WAL is
// checkpointed in the background, not inside its commits); on both it turns
// N fsyncs into one. A function passed to Write must be quick and must not
// call the network.
//
// It stores and returns the domain's own types (followers.Follower,
// coupons.Coupon, referral.Referral and referral.Code, outbox.Item, the
// Stats of campaigns, stores and referral); the few types declared here
// (Tx, InboundEvent, MPUser, QRCode) are storage's own records.
//
// Times are stored in UTC, truncated to microseconds (PostgreSQL's
// precision), so a value read back equals the value written.
package sqldb
