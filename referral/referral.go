package referral

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"math/big"
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

// States of an attribution.
const (
	Held      = "held"      // attributed, waiting for the hold or the first redemption
	Qualified = "qualified" // counts for the referrer
	Cancelled = "cancelled" // the invitee left within the hold, or turned out to be the referrer
)

// Reasons an attribution is refused or cancelled.
const (
	ReasonUnknownCode = "unknown_code"
	ReasonSelf        = "self_referral"
	ReasonNotNew      = "not_new"          // the invitee was a follower or mini-program user before
	ReasonAttributed  = "already_referred" // a person counts for their first referrer only
	ReasonLoop        = "loop"             // the referrer was invited by the invitee
	ReasonDailyCap    = "daily_cap"
	ReasonNoProgram   = "no_active_program"
	ReasonUnfollowed  = "unfollowed_within_hold"
)

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
func Decide(a Attempt) string {
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

// CodeAlphabet has no look-alike characters; codes are short enough to say
// aloud and fit a mini-program scene (≤ 32 characters).
const CodeAlphabet = "34679ACDEFGHJKMNPQRTWXY"

// CodeLength gives 23^8 ≈ 7.8e10 codes: unguessable enough for a code that
// only attributes, and short to share.
const CodeLength = 8

// NewCode returns a random referral code.
func NewCode() (string, error) {
	b := make([]byte, CodeLength)
	max := big.NewInt(int64(len(CodeAlphabet)))
	for i := range b {
		n, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		b[i] = CodeAlphabet[n.Int64()]
	}
	return string(b), nil
}

// SeenHash is the salted hash under which an identity ("oa:<openid>",
// "mp:<openid>", "u:<unionid>") is remembered after its data is gone.
func SeenHash(salt []byte, identity string) string {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(identity))
	return hex.EncodeToString(m.Sum(nil))
}
