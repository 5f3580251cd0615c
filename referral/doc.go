// Package referral holds the referral program's rules and types (DESIGN.md
// §5): who may be attributed to whom (Decide, when someone arrives through
// a Code), when a held Referral qualifies or is cancelled (Qualify at the
// end of the hold or at the first redemption, UnfollowCancels when the
// invitee leaves), and how many rewards a referrer has earned (RewardsDue).
// Referral is where people cheat, so every rule is a pure function here,
// tested on its own, and every refusal has a named Reason that is recorded
// and counted in the program's Stats.
//
// The program itself is read from YAML by package campaigns; the engine
// runs it: it gathers an Attempt or the Facts from storage, asks the rule
// here, records the decision and gives the rewards. Storage keeps and
// returns the Referral and Code values declared here.
//
// A person is known by a key: "u:<unionid>" when WeChat gave one (the OA
// follower and the mini-program user are then the same person), else
// "oa:<openid>" or "mp:<openid>".
//
// This package imports no HTTP, queue, WeChat or SQL package.
package referral
