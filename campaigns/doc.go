// Package campaigns holds the rules marketers write in YAML (DESIGN.md §5):
// coupon pools, campaigns (a trigger, an audience, limits and actions) and
// referral programs.
//
// Load parses and validates a whole set of files at once (a pool named by a
// campaign may live in another file); a set with any error is refused
// whole, with every error listed as `file:line: field: why`. A valid Set is
// immutable and safe for concurrent use; the running set is swapped
// atomically when a valid change arrives.
//
// Match decides whether a campaign fires for an event and a follower; the
// limits (per follower, cooldown, budget, quiet hours, rate) are decided by
// the engine with counts from storage, using the pure functions here.
//
// A campaign with split: is an A/B test: Split.Assign gives each follower a
// stable variant from a hash of (campaign, openid), and WinnerRule.Decide
// runs the two-proportion z-test that ends it; the engine records the
// winner once and then runs the winner's do: for everyone. This package
// imports no HTTP, queue, WeChat or SQL package.
package campaigns
