package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/internal/fixtures"
	"github.com/omohq/omo/referral"
)

// TestReferralHoldZero: with hold: 0s and qualify_on: subscribe the
// invitee qualifies in the very push (or accept) that attributes them: no
// referral:qualify task, both rewards in the same commit, once however
// often WeChat retries the push, and an unfollow right after changes
// nothing.
func TestReferralHoldZero(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, fixtures.ReferralProgram("subscribe", 0, 1, 10, 0, ""))
		alice := e.referrer(t, "alice")
		ev := subscribe("oa-bob", e.now, "ref:"+alice)
		if res := e.handle(t, ev); res.Duplicate {
			t.Fatal("bob's follow taken as a duplicate")
		}
		e.wantReferral(t, "oa:oa-bob", referral.Qualified, "")
		e.wantRewards(t, "oa-bob", inviteePool, "TPL_INVITEE", 1)
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 1)
		if items := e.qualifyItems(t); len(items) != 0 {
			t.Errorf("referral:qualify items = %d, want none: hold 0s qualifies at once", len(items))
		}
		_, msgs := e.rewards(t, "oa-bob", inviteePool)
		if len(msgs) == 1 && !e.enqueued(msgs[0].ID) {
			t.Errorf("the invitee's reward message %s was not handed to the queue after the push's commit", msgs[0].ID)
		}
		for range 3 { // WeChat's retries of the same push
			if res := e.handle(t, ev); !res.Duplicate {
				t.Fatal("retry of bob's follow not a duplicate")
			}
		}
		e.now = e.now.Add(time.Second)
		e.unfollow(t, "oa-bob")
		e.wantReferral(t, "oa:oa-bob", referral.Qualified, "")
		e.wantRewards(t, "oa-bob", inviteePool, "TPL_INVITEE", 1)
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 1)

		// A mini-program newcomer accepting the shared link qualifies at once too.
		e.now = e.now.Add(time.Minute)
		e.login(t, "mp-ivy", "u-ivy")
		if res := e.accept(t, "mp-ivy", "", alice); !res.Attributed {
			t.Fatalf("ivy's accept = %+v, want attributed", res)
		}
		e.wantReferral(t, "u:u-ivy", referral.Qualified, "")
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 2)
		// Refusals are still refusals: bob following again was referred already.
		e.now = e.now.Add(time.Minute)
		e.handle(t, subscribe("oa-bob", e.now, "ref:"+alice))
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 2)
		want := referral.Stats{Invites: 2, Qualified: 2, Rejected: map[referral.Reason]int{referral.ReasonAttributed: 1}, RewardsIssued: 2}
		if st := e.refStats(t); !sameStats(st, want) {
			t.Errorf("stats = %+v, want %+v", st, want)
		}
	})
}

// TestReferralHoldZeroFirstRedeem: qualify_on: first_redeem is unaffected
// by hold: 0s: the follow is held until the first redemption.
func TestReferralHoldZeroFirstRedeem(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, fixtures.ReferralProgram("first_redeem", 0, 1, 10, 0, welcomeOnReferral))
		alice := e.referrer(t, "alice")
		e.followVia(t, "oa-bob", alice)
		e.wantReferral(t, "oa:oa-bob", referral.Held, "")
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 0)
		hello, _ := e.rewards(t, "oa-bob", "hello-5")
		if len(hello) != 1 {
			t.Fatalf("bob holds %d hello coupons, want 1", len(hello))
		}
		if _, err := e.eng.Redeem(t.Context(), hello[0].Code, "sh-001"); err != nil {
			t.Fatalf("Redeem: %v", err)
		}
		e.wantReferral(t, "oa:oa-bob", referral.Qualified, "")
		e.wantRewards(t, "oa-bob", inviteePool, "TPL_INVITEE", 1)
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 1)
	})
}

// TestReferralHoldOmitted: a program that does not say hold keeps what it
// did before hold: 0s was allowed: the qualification is queued (the
// worker's run sees user/info's unionid first), not done in the push.
func TestReferralHoldOmitted(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		yaml := strings.Replace(fixtures.ReferralProgram("subscribe", 0, 1, 10, 0, ""), "hold: 0s\n", "", 1)
		if strings.Contains(yaml, "hold:") {
			t.Fatalf("fixture still sets hold:\n%s", yaml)
		}
		e.startReferrals(t, yaml)
		alice := e.referrer(t, "alice")
		e.handle(t, subscribe("oa-bob", e.now, "ref:"+alice))
		e.wantReferral(t, "oa:oa-bob", referral.Held, "")
		if items := e.qualifyItems(t); len(items) != 1 {
			t.Errorf("referral:qualify items = %d, want 1: no hold given queues the qualification", len(items))
		}
	})
}
