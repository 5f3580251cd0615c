// Package store keeps omo's state in SQLite or PostgreSQL through sqlx, with
// the same SQL on both (bind variables are rebound per driver).
//
// Every write goes through DB.Write, a group committer: one goroutine takes
// whatever write functions are waiting, runs them in one transaction (each
// inside its own savepoint, so one failing function does not undo the
// others), and commits once. On SQLite this is also the single writer that
// makes SQLITE_BUSY impossible; on both it turns N fsyncs into one. A
// function passed to Write must be quick and must not call the network.
//
// Times are stored in UTC, truncated to microseconds (PostgreSQL's
// precision), so a value read back equals the value written.
package store
