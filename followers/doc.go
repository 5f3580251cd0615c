// Package followers holds the rules for a follower of the Official Account:
// who they are (openid, and the unionid that links them to the mini-program),
// whether they follow now, when they followed and unfollowed, and the first
// QR scene through which omo ever saw them (that scene never changes: it is
// how a store or a referrer gets the credit). Apply folds one event into a
// follower; Reconcile folds in what the follower sync read from WeChat's
// follower list; storage is someone else's job.
package followers
