// Package referral holds the referral program's rules (DESIGN.md §5): who
// may be attributed to whom, when an invitee qualifies, and how many
// rewards a referrer has earned. Referral is where people cheat, so every
// rule is a pure function here, tested on its own, and every refusal has a
// named reason that is recorded.
//
// A person is known by a key: "u:<unionid>" when WeChat gave one (the OA
// follower and the mini-program user are then the same person), else
// "oa:<openid>" or "mp:<openid>".
//
// This package imports no HTTP, queue, WeChat or SQL package.
package referral
