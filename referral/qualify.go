package referral

import "time"

// Facts are what is known of a held attribution when it is decided: at the
// end of its hold, or at the invitee's first redemption.
type Facts struct {
	// Unfollowed: the invitee is an OA follower who no longer follows. An
	// invitee who only ever used the mini-program never unfollowed.
	Unfollowed bool
	// UnionIDPending: the invitee's user/info lookup has not answered yet,
	// so their unionid, which may show who they are, is still unknown.
	UnionIDPending bool
	// SameAsReferrer: with the ids known now (the unionid may have arrived
	// since the follow), the invitee is the referrer.
	SameAsReferrer bool
	// SeenBeforeArrival: the invitee's unionid was known (a mini-program
	// user) before they arrived through the code.
	SeenBeforeArrival bool
}

// Qualify decides a held attribution from f: Qualified with no reason, or
// Cancelled with the reason. wait means it cannot be decided yet (s and
// reason are then empty): decide again later, when the unionid is known.
// The order makes the reason the most telling one.
func Qualify(f Facts) (s State, reason Reason, wait bool) {
	switch {
	case f.Unfollowed:
		return Cancelled, ReasonUnfollowed, false
	case f.UnionIDPending:
		return "", "", true
	case f.SameAsReferrer:
		return Cancelled, ReasonSelf, false
	case f.SeenBeforeArrival:
		return Cancelled, ReasonNotNew, false
	}
	return Qualified, "", false
}

// UnfollowCancels reports whether the invitee unfollowing at now cancels
// their held attribution made at created, under a program that holds it
// for hold or, with untilRedeem, until the invitee's first redemption.
// Within the hold it does; after it, a program qualifying on redemption
// still does, while one qualifying on the follow leaves the decision to
// Qualify (which cancels it too, as the invitee no longer follows).
func UnfollowCancels(created time.Time, hold time.Duration, untilRedeem bool, now time.Time) bool {
	return untilRedeem || now.Before(created.Add(hold))
}
