package engine_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/engine"
	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/internal/fixtures"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/outbox"
	"github.com/omohq/omo/referral"
	"github.com/omohq/omo/sqldb"
)

// The referral program's engine tests: attribution through a follow or a
// mini-program accept, the hold and its qualification (called here as the
// worker would once the item's run time has come, with the clock moved by
// hand), rewards, and every refusal with its recorded reason.

const (
	programID      = "invite-friends"
	rewardCampaign = "referral:" + programID // the campaign id rewards are issued and sent under
	referrerPool   = "invite-20"
	inviteePool    = "friend-10"
	hold           = time.Hour
)

// program is the campaign set of a referral program qualifying on qualifyOn
// after the hold, rewarding the referrer every `every` qualified invitees
// up to max, with at most perDay attributions per referrer and Beijing day
// (0 = no limit); extra is appended as further documents.
func program(qualifyOn string, every, max, perDay int, extra string) string {
	return fixtures.ReferralProgram(qualifyOn, hold, every, max, perDay, extra)
}

// startReferrals loads the engine's remembered-identity salt, as `omo
// serve` does, and the campaign set src.
func (e *env) startReferrals(t *testing.T, src string) {
	t.Helper()
	if err := e.eng.Init(t.Context()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	e.load(t, src)
}

// referrer makes name a customer who follows the OA (oa-name, whose unionid
// u-name user/info has told omo) and has logged in to the mini-program
// (mp-name), and returns their referral code.
func (e *env) referrer(t *testing.T, name string) string {
	t.Helper()
	e.handle(t, subscribe("oa-"+name, e.now, ""))
	e.setUnionID(t, "oa-"+name, "u-"+name)
	e.login(t, "mp-"+name, "u-"+name)
	return e.code(t, "mp-"+name, "u-"+name)
}

// code returns the referral code of the mini-program user mp.
func (e *env) code(t *testing.T, mp, unionid string) string {
	t.Helper()
	rc, err := e.eng.ReferralCodeFor(t.Context(), mp, unionid)
	if err != nil {
		t.Fatalf("ReferralCodeFor(%s): %v", mp, err)
	}
	return rc.Code
}

// followVia makes openid follow the OA through the QR code of a referral code.
func (e *env) followVia(t *testing.T, openid, code string) {
	t.Helper()
	e.handle(t, subscribe(openid, e.now, "ref:"+code))
}

func (e *env) unfollow(t *testing.T, openid string) {
	t.Helper()
	e.handle(t, unsubscribe(openid, e.now))
}

// accept plays the mini-program user mp accepting code and returns the result.
func (e *env) accept(t *testing.T, mp, unionid, code string) engine.AcceptResult {
	t.Helper()
	res, err := e.eng.Accept(t.Context(), mp, unionid, code)
	if err != nil {
		t.Fatalf("Accept(%s, %s): %v", mp, code, err)
	}
	return res
}

// referral returns the attribution of the person with key, nil if none.
func (e *env) referral(t *testing.T, key string) *referral.Referral {
	t.Helper()
	var r *referral.Referral
	err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		var err error
		r, err = tx.ReferralOfInvitee(key)
		if errs.Is(err, errs.NotFound) {
			r, err = nil, nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantReferral checks the attribution of key: its state and reason, or
// that there is none when state is "".
func (e *env) wantReferral(t *testing.T, key string, state referral.State, reason referral.Reason) *referral.Referral {
	t.Helper()
	r := e.referral(t, key)
	switch {
	case state == "" && r != nil:
		t.Errorf("referral of %s = %s (%s) by %s, want none", key, r.State, r.Reason, r.ReferrerKey)
	case state == "":
	case r == nil:
		t.Errorf("referral of %s: none, want %s %q", key, state, reason)
	case r.State != state || r.Reason != reason:
		t.Errorf("referral of %s = %s %q, want %s %q", key, r.State, r.Reason, state, reason)
	}
	return r
}

// qualifyItems returns the referral:qualify items handed to the queue.
func (e *env) qualifyItems(t *testing.T) []outbox.Item {
	t.Helper()
	e.queue.mu.Lock()
	defer e.queue.mu.Unlock()
	var out []outbox.Item
	for _, it := range e.queue.items {
		if it.Kind == outbox.ReferralQualify {
			out = append(out, it)
		}
	}
	return out
}

func referralID(t *testing.T, it outbox.Item) int64 {
	t.Helper()
	var p outbox.QualifyReferral
	if err := json.Unmarshal(it.Payload, &p); err != nil {
		t.Fatalf("referral:qualify payload %q: %v", it.Payload, err)
	}
	return p.ReferralID
}

// qualifyDue does what the worker does: it runs every referral:qualify item
// whose run time has come. Items that ran before run again, which must be
// harmless (asynq may deliver a task twice). The user/info lookups, which a
// worker finishes long before a hold ends, are finished first (no unionid).
func (e *env) qualifyDue(t *testing.T) {
	t.Helper()
	e.finishUserInfo(t)
	for _, it := range e.qualifyItems(t) {
		if it.RunAt.After(e.now) {
			continue
		}
		if err := e.eng.Qualify(t.Context(), referralID(t, it)); err != nil {
			t.Fatalf("Qualify(%d): %v", referralID(t, it), err)
		}
	}
}

// finishUserInfo marks every pending user/info lookup done, as a worker
// whose lookups found no unionid would.
func (e *env) finishUserInfo(t *testing.T) {
	t.Helper()
	items, err := e.db.PendingOutbox(t.Context(), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), "", 100000)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error {
		for _, it := range items {
			if it.Kind == outbox.UserInfo {
				if _, err := tx.FinishOutbox(it.ID, outbox.Done, "", e.now); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func (e *env) refStats(t *testing.T) referral.Stats {
	t.Helper()
	st, err := e.eng.ReferralStats(t.Context(), programID)
	if err != nil {
		t.Fatalf("ReferralStats: %v", err)
	}
	return st
}

// rewards returns the coupons of pool held by openid and the reward
// messages to openid.
func (e *env) rewards(t *testing.T, openid, pool string) ([]coupons.Coupon, []outbox.MessageRow) {
	t.Helper()
	all, err := e.db.CouponsOf(t.Context(), openid)
	if err != nil {
		t.Fatal(err)
	}
	var cps []coupons.Coupon
	for _, c := range all {
		if c.Pool == pool {
			cps = append(cps, c)
		}
	}
	return cps, e.messages(t, rewardCampaign, openid)
}

// wantRewards checks that openid holds n coupons of pool, all from the
// referral program, and was sent n reward messages of template tpl.
func (e *env) wantRewards(t *testing.T, openid, pool, tpl string, n int) {
	t.Helper()
	cps, msgs := e.rewards(t, openid, pool)
	if len(cps) != n || len(msgs) != n {
		t.Errorf("%s: %d coupons of %s, %d reward messages; want %d of each", openid, len(cps), pool, len(msgs), n)
	}
	for _, c := range cps {
		if c.Campaign != rewardCampaign {
			t.Errorf("%s: coupon %s issued by %q, want %q", openid, c.Code, c.Campaign, rewardCampaign)
		}
	}
	for _, m := range msgs {
		if p := payload(t, m); p.TemplateID != tpl || m.State != outbox.MsgPending {
			t.Errorf("%s: reward message %s template %q state %s, want %s pending", openid, m.ID, p.TemplateID, m.State, tpl)
		}
	}
}

// TestReferralQualifiesAfterHold follows one invitee from the follow
// through a referral code to the rewards: the follow is held and its
// qualification scheduled for the end of the hold; then the invitee gets
// their coupon and its message, the referrer (every: 1) theirs, once each
// however often the task runs.
func TestReferralQualifiesAfterHold(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("subscribe", 1, 10, 0, ""))
		code := e.referrer(t, "alice")
		followed := e.now
		e.followVia(t, "oa-bob", code)

		r := e.wantReferral(t, "oa:oa-bob", referral.Held, "")
		if r != nil && (r.ReferrerKey != "u:u-alice" || r.Code != code || r.Via != "qr" || r.InviteeOA != "oa-bob" || r.ProgramID != programID) {
			t.Errorf("referral = %+v, want oa-bob referred by u:u-alice through %s by qr", r, code)
		}
		items := e.qualifyItems(t)
		if len(items) != 1 || !items[0].RunAt.Equal(followed.Add(hold)) || r == nil || referralID(t, items[0]) != r.ID {
			t.Fatalf("referral:qualify items = %+v, want one for the referral at %s", items, followed.Add(hold))
		}
		e.now = e.now.Add(hold - time.Second)
		e.qualifyDue(t) // not due yet
		e.wantReferral(t, "oa:oa-bob", referral.Held, "")
		e.wantRewards(t, "oa-bob", inviteePool, "TPL_INVITEE", 0)

		e.now = followed.Add(hold)
		for range 3 { // a repeated task does nothing more
			e.qualifyDue(t)
		}
		e.wantReferral(t, "oa:oa-bob", referral.Qualified, "")
		e.wantRewards(t, "oa-bob", inviteePool, "TPL_INVITEE", 1)
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 1)
		if cps, msgs := e.rewards(t, "oa-bob", inviteePool); len(cps) == 1 && len(msgs) == 1 {
			p := payload(t, msgs[0])
			want := "pages/coupon/detail?code=" + url.QueryEscape(cps[0].Code) + "&omo_c=" + url.QueryEscape(rewardCampaign) + "&omo_m=" + url.QueryEscape(msgs[0].ID)
			if p.ToUser != "oa-bob" || p.Data["thing1"] != "¥10 welcome gift" || p.Page != want {
				t.Errorf("invitee message = %+v, want to oa-bob, thing1 ¥10 welcome gift, page %s", p, want)
			}
		}
		want := referral.Stats{Invites: 1, Qualified: 1, Rejected: map[referral.Reason]int{}, RewardsIssued: 1}
		if st := e.refStats(t); !sameStats(st, want) {
			t.Errorf("stats = %+v, want %+v", st, want)
		}
		rows, err := e.eng.Leaderboard(t.Context(), programID, 10)
		if err != nil || len(rows) != 1 || rows[0].ReferrerKey != "u:u-alice" || rows[0].Code != code || rows[0].Qualified != 1 {
			t.Errorf("Leaderboard = %+v, %v; want u:u-alice with 1 qualified", rows, err)
		}
		if _, err := e.eng.ReferralStats(t.Context(), "no-such-program"); !errs.Is(err, errs.NotFound) {
			t.Errorf("ReferralStats of an unknown program = %v, want NotFound", err)
		}
	})
}

func sameStats(a, b referral.Stats) bool {
	return a.Invites == b.Invites && a.Held == b.Held && a.Qualified == b.Qualified && a.Cancelled == b.Cancelled &&
		a.RewardsIssued == b.RewardsIssued && fmt.Sprint(a.Rejected) == fmt.Sprint(b.Rejected)
}

// TestReferrerRewardedEveryThird qualifies nine invitees one after the
// other under every: 3, max: 2: the referrer's reward comes with the 3rd
// and the 6th, each coupon and message once, and none with the 9th.
func TestReferrerRewardedEveryThird(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("subscribe", 3, 2, 0, ""))
		code := e.referrer(t, "alice")
		for i, want := range []int{0, 0, 1, 1, 1, 2, 2, 2, 2} {
			inv := fmt.Sprintf("oa-f%d", i+1)
			e.followVia(t, inv, code)
			e.now = e.now.Add(hold)
			e.qualifyDue(t)
			e.wantReferral(t, "oa:"+inv, referral.Qualified, "")
			e.wantRewards(t, inv, inviteePool, "TPL_INVITEE", 1)
			if cps, msgs := e.rewards(t, "oa-alice", referrerPool); len(cps) != want || len(msgs) != want {
				t.Errorf("after the %d. invitee the referrer has %d coupons, %d messages; want %d", i+1, len(cps), len(msgs), want)
			}
		}
		_, msgs := e.rewards(t, "oa-alice", referrerPool)
		var got []string
		for _, m := range msgs {
			got = append(got, payload(t, m).Data["thing1"])
		}
		slices.Sort(got)
		if want := []string{"3 friends joined", "6 friends joined"}; !slices.Equal(got, want) {
			t.Errorf("referrer messages say %q, want %q", got, want)
		}
		if st := e.refStats(t); st.Qualified != 9 || st.RewardsIssued != 2 {
			t.Errorf("stats = %+v, want 9 qualified, 2 rewards", st)
		}
	})
}

// TestReferralHold checks what following through the hold means: an
// unfollow within it cancels (also when the invitee comes back), an
// unfollow after it but before the qualification runs cancels there, and
// an unfollow after qualification changes nothing.
func TestReferralHold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		play   func(t *testing.T, e *env)
		state  referral.State
		reason referral.Reason
	}{
		{"still following", func(t *testing.T, e *env) {
			e.now = e.now.Add(hold)
			e.qualifyDue(t)
		}, referral.Qualified, ""},
		{"unfollow within the hold", func(t *testing.T, e *env) {
			e.now = e.now.Add(hold / 2)
			e.unfollow(t, "oa-bob")
			e.wantReferral(t, "oa:oa-bob", referral.Cancelled, referral.ReasonUnfollowed)
			e.now = e.now.Add(hold)
			e.qualifyDue(t)
		}, referral.Cancelled, referral.ReasonUnfollowed},
		{"unfollow and follow again within the hold", func(t *testing.T, e *env) {
			e.now = e.now.Add(time.Minute)
			e.unfollow(t, "oa-bob")
			e.now = e.now.Add(time.Minute)
			e.handle(t, subscribe("oa-bob", e.now, ""))
			e.now = e.now.Add(hold)
			e.qualifyDue(t)
		}, referral.Cancelled, referral.ReasonUnfollowed},
		{"unfollow after the hold, before the qualification runs", func(t *testing.T, e *env) {
			e.now = e.now.Add(hold + time.Minute)
			e.unfollow(t, "oa-bob")
			e.qualifyDue(t)
		}, referral.Cancelled, referral.ReasonUnfollowed},
		{"unfollow after qualification", func(t *testing.T, e *env) {
			e.now = e.now.Add(hold)
			e.qualifyDue(t)
			e.now = e.now.Add(time.Minute)
			e.unfollow(t, "oa-bob")
			e.now = e.now.Add(hold)
			e.qualifyDue(t)
		}, referral.Qualified, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachDB(t, func(t *testing.T, e *env) {
				e.startReferrals(t, program("subscribe", 1, 10, 0, ""))
				code := e.referrer(t, "alice")
				e.followVia(t, "oa-bob", code)
				tt.play(t, e)
				e.wantReferral(t, "oa:oa-bob", tt.state, tt.reason)
				n, cancelled := 0, 1
				if tt.state == referral.Qualified {
					n, cancelled = 1, 0
				}
				e.wantRewards(t, "oa-bob", inviteePool, "TPL_INVITEE", n)
				e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", n)
				want := referral.Stats{Invites: 1, Qualified: n, Cancelled: cancelled, Rejected: map[referral.Reason]int{}, RewardsIssued: n}
				if st := e.refStats(t); !sameStats(st, want) {
					t.Errorf("stats = %+v, want %+v", st, want)
				}
			})
		})
	}
}

// TestReferralRefusals plays every way an arrival through a referral code
// must not count. Refusals at arrival are recorded with their reason (the
// stats' rejected map) and leave no attribution; what can only be known
// later (the invitee's unionid comes from user/info after the follow) is
// cancelled at qualification with its reason. Nobody is rewarded.
func TestReferralRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// play acts after alice (oa-alice, mp-alice, u-alice) got her code
		// and returns the key of the invitee whose attribution is checked.
		play     func(t *testing.T, e *env, alice string) string
		rejected referral.Reason // the reason recorded at arrival, or ""
		state    referral.State  // the attribution afterwards ("" = none)
		reason   referral.Reason
	}{
		{"unknown code", func(t *testing.T, e *env, _ string) string {
			e.followVia(t, "oa-bob", "ZZZZZZZZ")
			return "oa:oa-bob"
		}, referral.ReasonUnknownCode, "", ""},
		{"the referrer follows again through their own code", func(t *testing.T, e *env, alice string) string {
			e.unfollow(t, "oa-alice")
			e.now = e.now.Add(time.Minute)
			e.followVia(t, "oa-alice", alice)
			return "u:u-alice"
		}, referral.ReasonSelf, "", ""},
		{"the referrer accepts their own code in the mini-program", func(t *testing.T, e *env, alice string) string {
			if res := e.accept(t, "mp-alice", "u-alice", alice); res.Attributed || res.Reason != referral.ReasonSelf {
				t.Errorf("Accept = %+v, want refused %s", res, referral.ReasonSelf)
			}
			return "u:u-alice"
		}, referral.ReasonSelf, "", ""},
		{"a mini-program user follows through their own code (same unionid)", func(t *testing.T, e *env, _ string) string {
			e.login(t, "mp-bob", "u-bob")
			bob := e.code(t, "mp-bob", "u-bob")
			e.followVia(t, "oa-bob", bob) // omo does not know oa-bob's unionid yet
			e.wantReferral(t, "oa:oa-bob", referral.Held, "")
			e.setUnionID(t, "oa-bob", "u-bob") // user/info
			e.now = e.now.Add(hold)
			e.qualifyDue(t)
			return "oa:oa-bob"
		}, "", referral.Cancelled, referral.ReasonSelf},
		{"a follower who unfollowed follows again through a code", func(t *testing.T, e *env, alice string) string {
			e.handle(t, subscribe("oa-carol", e.now, ""))
			e.now = e.now.Add(time.Hour)
			e.unfollow(t, "oa-carol")
			e.now = e.now.Add(24 * time.Hour)
			e.followVia(t, "oa-carol", alice)
			return "oa:oa-carol"
		}, referral.ReasonNotNew, "", ""},
		{"a mini-program user from before follows through a code", func(t *testing.T, e *env, alice string) string {
			e.login(t, "mp-dave", "u-dave")
			e.now = e.now.Add(48 * time.Hour)
			e.followVia(t, "oa-dave", alice)
			e.setUnionID(t, "oa-dave", "u-dave")
			e.now = e.now.Add(hold)
			e.qualifyDue(t)
			return "oa:oa-dave"
		}, "", referral.Cancelled, referral.ReasonNotNew},
		{"an old mini-program user accepts a code", func(t *testing.T, e *env, alice string) string {
			e.login(t, "mp-dave", "u-dave")
			e.now = e.now.Add(2 * time.Hour)
			if res := e.accept(t, "mp-dave", "u-dave", alice); res.Attributed || res.Reason != referral.ReasonNotNew {
				t.Errorf("Accept = %+v, want refused %s", res, referral.ReasonNotNew)
			}
			return "u:u-dave"
		}, referral.ReasonNotNew, "", ""},
		{"an old OA follower opens the mini-program for the first time and accepts a code", func(t *testing.T, e *env, alice string) string {
			e.handle(t, subscribe("oa-dave", e.now, ""))
			e.setUnionID(t, "oa-dave", "u-dave")
			e.now = e.now.Add(30 * 24 * time.Hour)
			e.login(t, "mp-dave", "u-dave")
			e.accept(t, "mp-dave", "u-dave", alice)
			return "u:u-dave"
		}, referral.ReasonNotNew, "", ""},
		{"A invites B, then B's code is used by A", func(t *testing.T, e *env, alice string) string {
			e.login(t, "mp-erin", "u-erin")
			if res := e.accept(t, "mp-erin", "u-erin", alice); !res.Attributed {
				t.Fatalf("erin's Accept of alice's code = %+v, want attributed", res)
			}
			erin := e.code(t, "mp-erin", "u-erin")
			if res := e.accept(t, "mp-alice", "u-alice", erin); res.Attributed || res.Reason != referral.ReasonLoop {
				t.Errorf("alice's Accept of erin's code = %+v, want refused %s", res, referral.ReasonLoop)
			}
			return "u:u-alice"
		}, referral.ReasonLoop, "", ""},
		{"A invites B by QR code, then A, new in the mini-program, accepts B's code", func(t *testing.T, e *env, _ string) string {
			e.login(t, "mp-kim", "u-kim") // kim's first login: she is new for an hour
			kim := e.code(t, "mp-kim", "u-kim")
			e.now = e.now.Add(5 * time.Minute)
			e.followVia(t, "oa-lee", kim) // attributed as oa:oa-lee
			e.setUnionID(t, "oa-lee", "u-lee")
			e.login(t, "mp-lee", "u-lee")
			lee := e.code(t, "mp-lee", "u-lee") // owned by u:u-lee
			e.now = e.now.Add(5 * time.Minute)
			if res := e.accept(t, "mp-kim", "u-kim", lee); res.Attributed || res.Reason != referral.ReasonLoop {
				t.Errorf("kim's Accept of lee's code = %+v, want refused %s", res, referral.ReasonLoop)
			}
			return "u:u-kim"
		}, referral.ReasonLoop, "", ""},
		{"a second code after the first", func(t *testing.T, e *env, alice string) string {
			e.login(t, "mp-bob", "u-bob")
			bob := e.code(t, "mp-bob", "u-bob")
			e.login(t, "mp-frank", "u-frank")
			if res := e.accept(t, "mp-frank", "u-frank", alice); !res.Attributed {
				t.Fatalf("first Accept = %+v, want attributed", res)
			}
			if res := e.accept(t, "mp-frank", "u-frank", bob); res.Attributed || res.Reason != referral.ReasonAttributed {
				t.Errorf("second Accept = %+v, want refused %s", res, referral.ReasonAttributed)
			}
			if r := e.referral(t, "u:u-frank"); r == nil || r.Code != alice {
				t.Errorf("frank's referral = %+v, want alice's", r)
			}
			// The first attribution stands and qualifies after the hold.
			e.now = e.now.Add(hold)
			e.qualifyDue(t)
			return "u:u-frank"
		}, referral.ReasonAttributed, referral.Qualified, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			eachDB(t, func(t *testing.T, e *env) {
				e.startReferrals(t, program("subscribe", 1, 10, 0, ""))
				alice := e.referrer(t, "alice")
				e.now = e.now.Add(time.Minute)
				key := tt.play(t, e, alice)
				e.wantReferral(t, key, tt.state, tt.reason)
				st := e.refStats(t)
				want := map[referral.Reason]int{}
				if tt.rejected != "" {
					want[tt.rejected] = 1
				}
				if fmt.Sprint(st.Rejected) != fmt.Sprint(want) {
					t.Errorf("rejected = %v, want %v", st.Rejected, want)
				}
				qualified := 0
				if tt.state == referral.Qualified {
					qualified = 1
				}
				if st.RewardsIssued != qualified {
					t.Errorf("rewards issued = %d, want %d", st.RewardsIssued, qualified)
				}
				if cps, _ := e.rewards(t, "oa-alice", referrerPool); len(cps) != qualified {
					t.Errorf("alice holds %d reward coupons, want %d", len(cps), qualified)
				}
			})
		})
	}
}

// TestReferralCrossChannel checks that a person counts for their first
// referrer only whichever way they arrive: through a follow, then a
// mini-program accept of another code, or the other way round.
func TestReferralCrossChannel(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("subscribe", 1, 10, 0, ""))
		alice := e.referrer(t, "alice")
		bob := e.referrer(t, "bob")

		// Gina follows through alice's code, then opens the mini-program
		// for the first time and accepts bob's.
		e.followVia(t, "oa-gina", alice)
		e.setUnionID(t, "oa-gina", "u-gina")
		e.now = e.now.Add(time.Minute)
		e.login(t, "mp-gina", "u-gina")
		if res := e.accept(t, "mp-gina", "u-gina", bob); res.Attributed {
			t.Errorf("gina's Accept of a second code = %+v, want refused", res)
		}
		// Hank accepts alice's code in the mini-program, then follows
		// through bob's.
		e.login(t, "mp-hank", "u-hank")
		if res := e.accept(t, "mp-hank", "u-hank", alice); !res.Attributed {
			t.Fatalf("hank's Accept = %+v, want attributed", res)
		}
		e.now = e.now.Add(time.Minute)
		e.followVia(t, "oa-hank", bob)
		e.setUnionID(t, "oa-hank", "u-hank")

		e.now = e.now.Add(hold + time.Minute)
		e.qualifyDue(t)
		rows, err := e.eng.Leaderboard(t.Context(), programID, 10)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, r := range rows {
			got[r.ReferrerKey] = r.Qualified
		}
		if got["u:u-alice"] != 2 || got["u:u-bob"] != 0 {
			t.Errorf("qualified per referrer = %v, want alice 2, bob none", got)
		}
		e.wantReferral(t, "oa:oa-hank", referral.Cancelled, referral.ReasonNotNew)
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 2)
		e.wantRewards(t, "oa-bob", referrerPool, "TPL_REFERRER", 0)
		e.wantRewards(t, "oa-gina", inviteePool, "TPL_INVITEE", 1)
	})
}

// TestAcceptNewcomer attributes mini-program newcomers: one who only uses
// the mini-program counts for the referrer once the hold is over (there is
// no OA follower to give a coupon to), one who also follows the OA (same
// unionid) gets the invitee's reward on the OA.
func TestAcceptNewcomer(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("subscribe", 1, 10, 0, ""))
		alice := e.referrer(t, "alice")

		if _, err := e.eng.Accept(t.Context(), "mp-never-logged-in", "", alice); !errs.Is(err, errs.NotFound) {
			t.Errorf("Accept without a login = %v, want NotFound", err)
		}
		e.now = e.now.Add(time.Minute)
		if p := e.login(t, "mp-ivy", "u-ivy"); !p.FirstLogin {
			t.Fatalf("ivy's login = %+v, want her first", p)
		}
		e.now = e.now.Add(time.Minute)
		if res := e.accept(t, "mp-ivy", "", alice); !res.Attributed || res.Reason != "" {
			t.Errorf("ivy's Accept = %+v, want attributed", res)
		}
		if r := e.wantReferral(t, "u:u-ivy", referral.Held, ""); r != nil && (r.Via != "mp" || r.InviteeMP != "mp-ivy" || r.InviteeOA != "") {
			t.Errorf("ivy's referral = %+v, want via mp, mini-program openid mp-ivy, no OA openid", r)
		}

		// Jack follows the OA, then opens the shared link in the mini-program.
		e.handle(t, subscribe("oa-jack", e.now, ""))
		e.setUnionID(t, "oa-jack", "u-jack")
		e.now = e.now.Add(time.Minute)
		e.login(t, "mp-jack", "u-jack")
		e.now = e.now.Add(time.Minute)
		if res := e.accept(t, "mp-jack", "u-jack", alice); !res.Attributed {
			t.Errorf("jack's Accept = %+v, want attributed", res)
		}
		if r := e.wantReferral(t, "u:u-jack", referral.Held, ""); r != nil && r.InviteeOA != "oa-jack" {
			t.Errorf("jack's referral = %+v, want his OA openid oa-jack", r)
		}

		e.now = e.now.Add(hold)
		e.qualifyDue(t)
		e.wantReferral(t, "u:u-ivy", referral.Qualified, "")
		e.wantReferral(t, "u:u-jack", referral.Qualified, "")
		e.wantRewards(t, "oa-jack", inviteePool, "TPL_INVITEE", 1)
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 2)
	})
}

// TestReferrerFollowsAfterSharing: a customer who took their code in the
// mini-program before following the OA gets their rewards on the OA once
// they follow.
func TestReferrerFollowsAfterSharing(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("subscribe", 1, 10, 0, ""))
		e.login(t, "mp-alice", "u-alice")
		code := e.code(t, "mp-alice", "u-alice")
		e.now = e.now.Add(time.Minute)
		e.handle(t, subscribe("oa-alice", e.now, ""))
		e.setUnionID(t, "oa-alice", "u-alice")

		e.followVia(t, "oa-bob", code)
		e.now = e.now.Add(hold)
		e.qualifyDue(t)
		e.wantReferral(t, "oa:oa-bob", referral.Qualified, "")
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 1)
	})
}

// TestReferralDailyCap holds the referrer to limits.per_referrer_per_day
// attributions per Beijing day: the next is refused daily_cap, a cancelled
// one frees its place, and the next day starts afresh.
func TestReferralDailyCap(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("subscribe", 1, 100, 3, ""))
		e.now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) // 18:00 in Beijing
		alice := e.referrer(t, "alice")
		for i := range 4 {
			e.followVia(t, fmt.Sprintf("oa-a%d", i), alice)
		}
		for i, want := range []referral.State{referral.Held, referral.Held, referral.Held, ""} {
			e.wantReferral(t, fmt.Sprintf("oa:oa-a%d", i), want, "")
		}
		e.now = e.now.Add(time.Minute)
		e.unfollow(t, "oa-a0") // within the hold: cancelled, no longer counts
		e.followVia(t, "oa-a4", alice)
		e.followVia(t, "oa-a5", alice)
		e.wantReferral(t, "oa:oa-a4", referral.Held, "")
		e.wantReferral(t, "oa:oa-a5", "", "")

		e.now = time.Date(2026, 12, 1, 15, 59, 0, 0, time.UTC) // 23:59 in Beijing
		e.followVia(t, "oa-a6", alice)
		e.wantReferral(t, "oa:oa-a6", "", "")
		e.now = time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC) // midnight in Beijing
		for i := 7; i < 11; i++ {
			e.followVia(t, fmt.Sprintf("oa-a%d", i), alice)
		}
		for i, want := range []referral.State{referral.Held, referral.Held, referral.Held, ""} {
			e.wantReferral(t, fmt.Sprintf("oa:oa-a%d", i+7), want, "")
		}
		e.qualifyDue(t)
		st := e.refStats(t)
		want := referral.Stats{Invites: 7, Qualified: 3, Held: 3, Cancelled: 1, Rejected: map[referral.Reason]int{referral.ReasonDailyCap: 4}, RewardsIssued: 3}
		if !sameStats(st, want) {
			t.Errorf("stats = %+v, want %+v", st, want)
		}
	})
}

// TestReferralOutsideWindow records arrivals when no program runs.
func TestReferralOutsideWindow(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		src := strings.Replace(program("subscribe", 1, 10, 0, ""), "qualify_on:",
			"window: {start: 2026-01-01T00:00:00+08:00, end: 2026-06-30T23:59:59+08:00}\nqualify_on:", 1)
		e.startReferrals(t, src)
		alice := e.referrer(t, "alice")
		e.followVia(t, "oa-bob", alice)
		e.wantReferral(t, "oa:oa-bob", "", "")
		st, err := e.eng.ReferralStats(t.Context(), "")
		if err != nil || st.Rejected[referral.ReasonNoProgram] != 1 {
			t.Errorf("refusals outside any program = %+v, %v; want %s 1", st, err, referral.ReasonNoProgram)
		}
	})
}

// TestReferralCapsUnderConcurrency has 50 people follow through one code at
// once and their qualifications run at once, each twice: with every: 3 and
// max: 5 the referrer gets exactly 5 rewards, every invitee exactly one; a
// daily cap of 20 admits exactly 20 of 50 concurrent follows.
func TestReferralCapsUnderConcurrency(t *testing.T) {
	t.Parallel()
	const n = 50
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("subscribe", 3, 5, 0, ""))
		alice := e.referrer(t, "alice")
		concurrently(t, n, func(i int) error { return e.followNow(t, fmt.Sprintf("oa-c%02d", i), alice) })
		var ids []int64
		for _, it := range e.qualifyItems(t) {
			ids = append(ids, referralID(t, it))
		}
		if len(ids) != n {
			t.Fatalf("%d referral:qualify items, want %d", len(ids), n)
		}
		e.now = e.now.Add(hold)
		e.finishUserInfo(t)
		concurrently(t, 2*n, func(i int) error { return e.eng.Qualify(t.Context(), ids[i%n]) })

		for i := range n {
			e.wantRewards(t, fmt.Sprintf("oa-c%02d", i), inviteePool, "TPL_INVITEE", 1)
		}
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 5)
		if st := e.refStats(t); st.Qualified != n || st.RewardsIssued != 5 {
			t.Errorf("stats = %+v, want %d qualified, 5 rewards", st, n)
		}
		for pool, want := range map[string]int64{referrerPool: 5, inviteePool: n} {
			if _, issued, err := e.db.PoolCounts(t.Context(), pool); err != nil || issued != want {
				t.Errorf("pool %s: %d issued, %v; want %d", pool, issued, err, want)
			}
		}
	})
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("subscribe", 3, 5, 20, ""))
		alice := e.referrer(t, "alice")
		concurrently(t, n, func(i int) error { return e.followNow(t, fmt.Sprintf("oa-c%02d", i), alice) })
		if st := e.refStats(t); st.Held != 20 || st.Rejected[referral.ReasonDailyCap] != n-20 {
			t.Errorf("stats = %+v, want 20 held, %d refused %s", st, n-20, referral.ReasonDailyCap)
		}
	})
}

// followNow is followVia for a goroutine: it returns the error.
func (e *env) followNow(t *testing.T, openid, code string) error {
	_, err := e.eng.Handle(t.Context(), subscribe(openid, e.now, "ref:"+code), []byte("<xml>subscribe</xml>"))
	return err
}

// concurrently runs f(0..n-1) at once, each goroutine waiting at a start
// barrier, and fails the test with the errors.
func concurrently(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	start := make(chan struct{})
	errc := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errc[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errc {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
}

// welcomeOnReferral gives everyone who follows through a referral code a
// coupon of their own at once, for them to redeem.
const welcomeOnReferral = `kind: CouponPool
id: hello-5
title: "¥5 hello"
discount: {amount_fen: 500}
stock: 100
per_follower: 1
valid_for: 720h
---
kind: Campaign
id: hello
on: {event: subscribe, scene_prefix: "ref:"}
do:
  - issue_coupon: {pool: hello-5}
`

// TestQualifyOnFirstRedeem: under qualify_on: first_redeem the invitee
// qualifies when they redeem their first coupon, whatever the hold, not
// before and only once; one who unfollows before redeeming never does.
func TestQualifyOnFirstRedeem(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("first_redeem", 1, 10, 0, welcomeOnReferral))
		alice := e.referrer(t, "alice")
		e.followVia(t, "oa-bob", alice)
		e.followVia(t, "oa-carol", alice)
		if items := e.qualifyItems(t); len(items) != 0 {
			t.Errorf("referral:qualify items = %d, want none: the redemption qualifies", len(items))
		}
		e.now = e.now.Add(3 * hold)
		e.wantReferral(t, "oa:oa-bob", referral.Held, "")
		e.unfollow(t, "oa-carol") // long after the hold, but before a redemption
		e.wantReferral(t, "oa:oa-carol", referral.Cancelled, referral.ReasonUnfollowed)

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

		// Redeeming the reward too changes nothing.
		gift, _ := e.rewards(t, "oa-bob", inviteePool)
		if len(gift) == 1 {
			if _, err := e.eng.Redeem(t.Context(), gift[0].Code, "sh-001"); err != nil {
				t.Fatalf("Redeem of the gift: %v", err)
			}
		}
		e.wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", 1)
		want := referral.Stats{Invites: 2, Qualified: 1, Cancelled: 1, Rejected: map[referral.Reason]int{}, RewardsIssued: 1}
		if st := e.refStats(t); !sameStats(st, want) {
			t.Errorf("stats = %+v, want %+v", st, want)
		}
	})
}

// TestQualifyWithoutProgram: a qualification whose program has left the
// running set is retried later (Unavailable), not decided.
func TestQualifyWithoutProgram(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("subscribe", 1, 10, 0, ""))
		alice := e.referrer(t, "alice")
		e.followVia(t, "oa-bob", alice)
		e.load(t, welcomeOnReferral)
		e.now = e.now.Add(hold)
		items := e.qualifyItems(t)
		if len(items) != 1 {
			t.Fatalf("%d referral:qualify items, want 1", len(items))
		}
		if err := e.eng.Qualify(t.Context(), referralID(t, items[0])); !errs.Is(err, errs.Unavailable) {
			t.Errorf("Qualify without its program = %v, want Unavailable", err)
		}
		e.wantReferral(t, "oa:oa-bob", referral.Held, "")
	})
}

// TestReferralCapsAcrossProcesses runs two engines on the same database,
// as `omo serve` and `omo worker` processes do (each with its own writer,
// so their transactions overlap on PostgreSQL): 50 follows through one
// code split between them admit exactly the daily cap of 20, and the 20
// qualifications, each run by both, give exactly the 6 rewards earned
// under every: 3 (no max, so a reward lost at a boundary would show).
func TestReferralCapsAcrossProcesses(t *testing.T) {
	t.Parallel()
	const n, perDay = 50, 20
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
			var envs [2]*env
			for i := range envs {
				db, err := sqldb.Open(t.Context(), d.URL, discard)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				if err := db.Migrate(t.Context()); err != nil {
					t.Fatal(err)
				}
				e := &env{db: db, queue: &recorder{}, now: now}
				e.eng = engine.New(db, e.queue, func() time.Time { return e.now }, discard)
				e.startReferrals(t, program("subscribe", 3, 100, perDay, ""))
				envs[i] = e
			}
			alice := envs[0].referrer(t, "alice")
			concurrently(t, n, func(i int) error { return envs[i%2].followNow(t, fmt.Sprintf("oa-c%02d", i), alice) })
			st := envs[0].refStats(t)
			if st.Held != perDay || st.Rejected[referral.ReasonDailyCap] != n-perDay {
				t.Errorf("after %d follows: %d held, %d refused %s; want %d, %d", n, st.Held, st.Rejected[referral.ReasonDailyCap], referral.ReasonDailyCap, perDay, n-perDay)
			}
			var ids []int64
			for _, e := range envs {
				for _, it := range e.qualifyItems(t) {
					ids = append(ids, referralID(t, it))
				}
			}
			for _, e := range envs {
				e.now = e.now.Add(hold)
			}
			envs[0].finishUserInfo(t)
			concurrently(t, 2*len(ids), func(i int) error { return envs[i%2].eng.Qualify(t.Context(), ids[i/2]) })
			st = envs[0].refStats(t)
			if st.Qualified != len(ids) || st.RewardsIssued != len(ids)/3 {
				t.Errorf("after qualifying: %d qualified, %d rewards; want %d, %d", st.Qualified, st.RewardsIssued, len(ids), len(ids)/3)
			}
			envs[0].wantRewards(t, "oa-alice", referrerPool, "TPL_REFERRER", len(ids)/3)
		})
	}
}

// TestScanOfReferralCodeByFollower: someone who already follows scans a
// referral QR code (WeChat sends SCAN): never attributed, and the refusal
// is recorded — not_new for a friend's code, self_referral for their own.
func TestScanOfReferralCodeByFollower(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("subscribe", 1, 10, 0, ""))
		code := e.referrer(t, "alice")
		e.handle(t, subscribe("oa-carol", e.now, ""))
		e.now = e.now.Add(time.Second)
		e.handle(t, &events.Event{Type: events.Scan, OpenID: "oa-carol", CreatedAt: e.now, EventKey: "ref:" + code})
		if _, err := e.eng.ReferralStats(t.Context(), programID); err != nil {
			t.Fatal(err)
		}
		st := e.refStats(t)
		if st.Invites != 0 || st.Rejected[referral.ReasonNotNew] != 1 {
			t.Errorf("stats after a follower's scan = %+v; want no invite and one not_new", st)
		}
	})
}

// TestQualifyWaitsForUnionID: while the invitee's user/info lookup is
// pending, the qualification is retried rather than decided, so a unionid
// that turns out to be the referrer's is still caught.
func TestQualifyWaitsForUnionID(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, e *env) {
		e.startReferrals(t, program("subscribe", 1, 10, 0, ""))
		code := e.referrer(t, "alice")
		e.followVia(t, "oa-alice-2", code) // Alice herself, under another OA openid
		items := e.qualifyItems(t)
		if len(items) != 1 {
			t.Fatalf("referral:qualify items = %d, want 1", len(items))
		}
		e.now = e.now.Add(hold)
		if err := e.eng.Qualify(t.Context(), referralID(t, items[0])); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("Qualify with user/info pending = %v, want Unavailable (retry)", err)
		}
		e.wantReferral(t, "oa:oa-alice-2", referral.Held, "")
		// user/info answers: it is Alice.
		if err := e.db.Write(t.Context(), func(tx *sqldb.Tx) error { return tx.SetUnionID("oa-alice-2", "u-alice") }); err != nil {
			t.Fatal(err)
		}
		e.finishUserInfo(t)
		if err := e.eng.Qualify(t.Context(), referralID(t, items[0])); err != nil {
			t.Fatal(err)
		}
		e.wantReferral(t, "oa:oa-alice-2", referral.Cancelled, referral.ReasonSelf)
	})
}
