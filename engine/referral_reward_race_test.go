package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/internal/testenv"
)

// giftCampaign issues the invitee's pool (friend-10, one a follower) to
// whoever texts "gift".
const giftCampaign = `kind: Campaign
id: gift
on: {event: keyword, text: gift}
do: [{issue_coupon: {pool: friend-10}}]
`

// TestRewardAndCampaignIssueOnePerFollower: process 1 qualifies a referral
// (the invitee's reward: a friend-10 coupon) while process 2's batch fires
// a campaign that issues friend-10 to the same invitee. The pool allows
// one a follower, and each issue counts what the follower holds under the
// follower's lock, so the second waits for the first and finds the coupon:
// the invitee ends with one, never two.
func TestRewardAndCampaignIssueOnePerFollower(t *testing.T) {
	t.Parallel()
	url := testenv.Postgres(t) // two processes: PostgreSQL
	envOn := func() *env {
		db := openProcess(t, url)
		e := &env{db: db, queue: &recorder{}, now: t0}
		e.eng = engine.New(db, e.queue, func() time.Time { return e.now }, discard)
		e.startReferrals(t, program("subscribe", 1, 10, 0, giftCampaign))
		return e
	}
	e1, e2 := envOn(), envOn()
	code := e1.referrer(t, "alice")
	e1.followVia(t, "oa-x", code)
	e1.finishUserInfo(t) // WeChat knows no unionid for oa-x: nothing to wait for
	items := e1.qualifyItems(t)
	if len(items) != 1 {
		t.Fatalf("qualify items = %d, want 1", len(items))
	}
	id := referralID(t, items[0])
	e1.now, e2.now = t0.Add(hold+time.Minute), t0.Add(hold+time.Minute)

	// Process 1 qualifies while process 2's batch, whose prefetch read the
	// coupons the invitee holds, handles the invitee's "gift".
	duringBatch(t, e2.db, func(ctx context.Context) error {
		return e1.eng.Qualify(ctx, id)
	}, func(ctx context.Context) error {
		_, err := e2.eng.Handle(ctx, text("oa-x", e2.now, "gift", 777), []byte("<xml/>"))
		return err
	})
	if cps, _ := e1.rewards(t, "oa-x", inviteePool); len(cps) != 1 {
		t.Errorf("the invitee holds %d coupons of %s, which allows one a follower", len(cps), inviteePool)
	}
}
