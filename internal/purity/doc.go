// Package purity holds no code, only the test that keeps the domain
// packages pure (STYLE.md "Shape", DESIGN.md §1): campaigns, referral,
// coupons, stores, followers, events and outbox hold the rules, and
// nothing they import, directly or not, may be storage, the engine, the
// workers, the HTTP API, WeChat, the queue or Redis. The test asks
// `go list -deps` and names every offending import and who imports it.
package purity
