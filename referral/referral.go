package referral

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Key is the key of a person: their unionid if known, else their OA or
// mini-program openid.
func Key(unionid, oaOpenID, mpOpenID string) string {
	switch {
	case unionid != "":
		return "u:" + unionid
	case oaOpenID != "":
		return "oa:" + oaOpenID
	case mpOpenID != "":
		return "mp:" + mpOpenID
	}
	return ""
}

// SeenHash is the salted hash under which an identity ("oa:<openid>",
// "mp:<openid>", "u:<unionid>") is remembered after its data is gone.
func SeenHash(salt []byte, identity string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(identity))
	return hex.EncodeToString(m.Sum(nil))
}

// State is where an attribution is. The values are the strings stored in
// the database; a new one is appended, never renamed.
type State string

// States of an attribution.
const (
	Held      State = "held"      // attributed, waiting for the hold or the first redemption
	Qualified State = "qualified" // counts for the referrer
	Cancelled State = "cancelled" // the invitee left within the hold, or turned out to be the referrer
)

// Reason is why an attribution was refused or cancelled; "" for none. The
// values are recorded and counted in the stats, so they never change.
type Reason string

// Reasons an attribution is refused or cancelled.
const (
	ReasonUnknownCode Reason = "unknown_code"
	ReasonSelf        Reason = "self_referral"
	ReasonNotNew      Reason = "not_new"          // the invitee was a follower or mini-program user before
	ReasonAttributed  Reason = "already_referred" // a person counts for their first referrer only
	ReasonLoop        Reason = "loop"             // the referrer was invited by the invitee
	ReasonDailyCap    Reason = "daily_cap"
	ReasonNoProgram   Reason = "no_active_program"
	ReasonUnfollowed  Reason = "unfollowed_within_hold"
)

// Referral is an accepted attribution: the invitee (by key, and by the
// openids known when they arrived) counts for the owner of Code once it is
// Qualified.
type Referral struct {
	ID          int64      `db:"id"`
	ProgramID   string     `db:"program_id"`
	Code        string     `db:"code"`
	ReferrerKey string     `db:"referrer_key"`
	InviteeKey  string     `db:"invitee_key"`
	InviteeOA   string     `db:"invitee_oa"`
	InviteeMP   string     `db:"invitee_mp"`
	Via         string     `db:"via"` // qr | mp
	State       State      `db:"state"`
	Reason      Reason     `db:"reason"`
	CreatedAt   time.Time  `db:"created_at"`
	DecidedAt   *time.Time `db:"decided_at"`
}

// Attempt is what is known when someone arrives through a referral code.
type Attempt struct {
	InviteeOA, InviteeMP, InviteeUnion    string
	ReferrerOA, ReferrerMP, ReferrerUnion string
	SeenBefore                            bool // the invitee's openid or unionid was seen before this arrival
	AlreadyReferred                       bool
	ReferredByInvitee                     bool // the referrer's own attribution names the invitee as referrer
	TodayByReferrer                       int  // attributions of the referrer today, held or qualified
	PerReferrerDay                        int  // the program's cap; 0 = none
}

// Decide returns "" when the attempt may be attributed, else the reason it
// may not. The order makes the reason the most telling one.
func Decide(a Attempt) Reason {
	switch {
	case Self(a.InviteeOA, a.InviteeMP, a.InviteeUnion, a.ReferrerOA, a.ReferrerMP, a.ReferrerUnion):
		return ReasonSelf
	case a.ReferredByInvitee:
		return ReasonLoop
	case a.AlreadyReferred:
		return ReasonAttributed
	case a.SeenBefore:
		return ReasonNotNew
	case a.PerReferrerDay > 0 && a.TodayByReferrer >= a.PerReferrerDay:
		return ReasonDailyCap
	}
	return ""
}

// Self reports whether invitee and referrer are the same person: the same
// OA openid, mini-program openid or unionid.
func Self(invOA, invMP, invUnion, refOA, refMP, refUnion string) bool {
	same := func(a, b string) bool { return a != "" && a == b }
	return same(invOA, refOA) || same(invMP, refMP) || same(invUnion, refUnion)
}

// RewardsDue is how many referrer rewards qualified invitees have earned
// under one reward per every, at most max (0 = no max), minus those given.
func RewardsDue(qualified, every, max, given int) int {
	if every < 1 {
		every = 1
	}
	earned := qualified / every
	if max > 0 && earned > max {
		earned = max
	}
	if earned <= given {
		return 0
	}
	return earned - given
}
