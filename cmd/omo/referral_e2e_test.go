package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/coupons"
	"github.com/omohq/omo/internal/fixtures"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/mpsession"
	"github.com/omohq/omo/referral"
	"github.com/omohq/omo/sqldb"
	"github.com/omohq/omo/wechat/wechatsim"
)

// The referral program's integration tests (issue 4): the real `omo serve`
// with a ReferralProgram whose hold is short, the WeChat simulator over
// HTTP playing the mini-program logins, the QR codes and the followers, a
// real redis-server (the qualification after the hold is a scheduled asynq
// task) and each database. Every wait is bounded; nothing is timed.

const (
	refProgram   = "invite-friends"
	refCampaign  = "referral:" + refProgram // rewards are issued and sent under this campaign id
	refPool      = "invite-20"              // the referrer's reward
	friendPool   = "friend-10"              // the invitee's
	tplReferrer  = "TPL_REFERRER"
	tplInvitee   = "TPL_INVITEE"
	refHold      = time.Second // the hold of most tests: qualification follows within about 2 s
	sharePage    = "pages/index/index"
	qrCreatePath = "/cgi-bin/qrcode/create"
)

// referralSet is a campaign set with the referral program: qualify_on,
// the hold, the referrer rewarded every `every` qualified invitees up
// to max, at most perDay attributions per referrer and day (0 = no limit),
// and extra documents appended.
func referralSet(qualifyOn string, hold time.Duration, every, max, perDay int, extra string) string {
	return fixtures.ReferralProgram(qualifyOn, hold, every, max, perDay, extra)
}

// call makes an HTTP request to omo with the bearer token (none when "")
// and a JSON body (none when nil), and returns the status, the headers and
// the body.
func call(method, u, token string, body any) (int, http.Header, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// mustCall is call expecting status want, decoding the JSON answer into out
// (unless nil).
func (r *campaignRig) mustCall(t *testing.T, method, path, token string, body any, want int, out any) {
	t.Helper()
	status, _, b, err := call(method, r.omo.URL+path, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: answer %s: %v", method, path, b, err)
		}
	}
}

// login plays wx.login and POST /mp/v1/login for the mini-program user
// openid (with unionid, "" for none) and returns the session token.
func (r *campaignRig) login(t *testing.T, openid, unionid string) string {
	t.Helper()
	code := "code-" + openid + "-" + fmt.Sprint(time.Now().UnixNano())
	r.sim.AddLoginCode(testMPAppID, code, openid, unionid)
	var out struct {
		Token  string `json:"token"`
		OpenID string `json:"openid"`
	}
	r.mustCall(t, http.MethodPost, "/mp/v1/login", "", map[string]string{"code": code}, http.StatusOK, &out)
	if out.Token == "" || out.OpenID != openid {
		t.Fatalf("login of %s = %+v, want a token for %s", openid, out, openid)
	}
	return out.Token
}

// referralView is GET /mp/v1/referral's answer.
type referralView struct {
	Code      string    `json:"code"`
	SharePath string    `json:"share_path"`
	CodeImage string    `json:"code_image"`
	QRTicket  string    `json:"qr_ticket"`
	QRURL     string    `json:"qr_url"`
	QRImage   string    `json:"qr_image"`
	QRExpires time.Time `json:"qr_expires_at"`
}

func (r *campaignRig) myReferral(t *testing.T, token string) referralView {
	t.Helper()
	var v referralView
	r.mustCall(t, http.MethodGet, "/mp/v1/referral", token, nil, http.StatusOK, &v)
	return v
}

// acceptResult is POST /mp/v1/referral/accept's answer.
type acceptResult struct {
	Attributed bool            `json:"attributed"`
	Reason     referral.Reason `json:"reason"`
}

func (r *campaignRig) accept(t *testing.T, token, code string) acceptResult {
	t.Helper()
	var res acceptResult
	r.mustCall(t, http.MethodPost, "/mp/v1/referral/accept", token, map[string]string{"code": code}, http.StatusOK, &res)
	return res
}

// followScene pushes openid following the OA through scene ("" = none).
func (r *campaignRig) followScene(t *testing.T, openid, scene string) {
	t.Helper()
	pushOK(t, r.sim, wechatsim.Subscribe(r.sim.OriginalID(testAppID), openid, time.Now().Truncate(time.Second), scene))
}

func (r *campaignRig) unfollow(t *testing.T, openid string) {
	t.Helper()
	pushOK(t, r.sim, wechatsim.Unsubscribe(r.sim.OriginalID(testAppID), openid, time.Now().Truncate(time.Second)))
}

// scan plays openid, who does not follow, scanning the OA QR code with
// ticket: WeChat pushes a subscribe with EventKey qrscene_<scene>.
func (r *campaignRig) scan(t *testing.T, openid, ticket string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := r.sim.ScanQRCode(ctx, testAppID, openid, ticket)
	if err != nil || rep.Status != http.StatusOK || strings.TrimSpace(string(rep.Body)) != "success" {
		t.Fatalf("%s scanning %s: %v %+v, want 200 success", openid, ticket, err, rep)
	}
}

// customer makes name a customer of the brand: they follow the OA as
// o-name (WeChat's user/info gives omo their unionid u-name) and log in to
// the mini-program as mp-name. It returns their session token once omo
// has linked the two.
func (r *campaignRig) customer(t *testing.T, name string) string {
	t.Helper()
	r.sim.AddUser(testAppID, wechatsim.Follower{OpenID: "o-" + name, UnionID: "u-" + name})
	r.followScene(t, "o-"+name, "")
	waitFor(t, 10*time.Second, "unionid of o-"+name+" stored", hasUnionID(r.db, "o-"+name, "u-"+name))
	return r.login(t, "mp-"+name, "u-"+name)
}

func (r *campaignRig) refStats(t *testing.T) referral.Stats {
	t.Helper()
	var st referral.Stats
	r.mustCall(t, http.MethodGet, "/admin/v1/referral/"+refProgram+"/stats", adminToken, nil, http.StatusOK, &st)
	return st
}

// waitStats waits (bounded by d) until the program's stats satisfy ok.
func (r *campaignRig) waitStats(t *testing.T, d time.Duration, what string, ok func(referral.Stats) bool) referral.Stats {
	t.Helper()
	var st referral.Stats
	waitFor(t, d, what, func() (bool, error) {
		status, _, b, err := call(http.MethodGet, r.omo.URL+"/admin/v1/referral/"+refProgram+"/stats", adminToken, nil)
		if err != nil || status != http.StatusOK {
			return false, fmt.Errorf("stats: %d %s %v", status, b, err)
		}
		st = referral.Stats{}
		if err := json.Unmarshal(b, &st); err != nil {
			return false, err
		}
		return ok(st), fmt.Errorf("stats are %+v", st)
	})
	return st
}

// referralOf returns the attribution of the person with key, nil if none.
func (r *campaignRig) referralOf(t *testing.T, key string) *referral.Referral {
	t.Helper()
	var ref *referral.Referral
	err := r.db.Write(context.Background(), func(tx *sqldb.Tx) error {
		var err error
		ref, err = tx.ReferralOfInvitee(key)
		if err != nil {
			ref = nil
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (r *campaignRig) wantReferral(t *testing.T, key string, state referral.State, reason referral.Reason) {
	t.Helper()
	ref := r.referralOf(t, key)
	switch {
	case state == "" && ref != nil:
		t.Errorf("referral of %s = %s %q, want none", key, ref.State, ref.Reason)
	case state == "":
	case ref == nil:
		t.Errorf("referral of %s: none, want %s %q", key, state, reason)
	case ref.State != state || ref.Reason != reason:
		t.Errorf("referral of %s = %s %q, want %s %q", key, ref.State, ref.Reason, state, reason)
	}
}

// rewardsOf returns the coupons of pool openid holds and the template
// sends of tpl WeChat saw to openid.
func (r *campaignRig) rewardsOf(t *testing.T, openid, pool, tpl string) ([]coupons.Coupon, []wechatsim.TemplateSend) {
	t.Helper()
	var cps []coupons.Coupon
	for _, c := range r.couponsOf(t, openid) {
		if c.Pool == pool {
			cps = append(cps, c)
		}
	}
	var sends []wechatsim.TemplateSend
	for _, s := range r.sim.Templates(testAppID) {
		if s.ToUser == openid && s.TemplateID == tpl {
			sends = append(sends, s)
		}
	}
	return cps, sends
}

// wantRewards checks that openid holds n coupons of pool, issued by the
// referral program, and that WeChat saw n sends of tpl to them, each with
// its own message id.
func (r *campaignRig) wantRewards(t *testing.T, openid, pool, tpl string, n int) {
	t.Helper()
	cps, sends := r.rewardsOf(t, openid, pool, tpl)
	if len(cps) != n || len(sends) != n {
		t.Errorf("%s: %d coupons of %s, %d %s sends; want %d of each", openid, len(cps), pool, len(sends), tpl, n)
	}
	for _, c := range cps {
		if c.Campaign != refCampaign {
			t.Errorf("%s: coupon %s issued by %q, want %q", openid, c.Code, c.Campaign, refCampaign)
		}
	}
	ids := map[string]bool{}
	for _, s := range sends {
		if ids[s.ClientMsgID] {
			t.Errorf("%s: two sends with client_msg_id %s", openid, s.ClientMsgID)
		}
		ids[s.ClientMsgID] = true
	}
}

// TestReferralEndToEnd plays the referral program's journey: alice, who
// follows the OA and uses the mini-program, gets her code, its OA QR code
// (created once, then cached) and its mini-program code image; six friends
// scan her QR code and follow; after the hold each gets the welcome gift
// and its message once, and alice's reward (every: 3) comes with the 3rd
// and the 6th, not with the others.
func TestReferralEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			r := startCampaigns(t, d.URL, referralSet("subscribe", refHold, 3, 5, 0, ""))
			token := r.customer(t, "alice")

			before := time.Now()
			v := r.myReferral(t, token)
			if len(v.Code) != referral.CodeLength || strings.Trim(v.Code, referral.CodeAlphabet) != "" {
				t.Errorf("code %q: want %d characters of %s", v.Code, referral.CodeLength, referral.CodeAlphabet)
			}
			if want := sharePage + "?ref=" + v.Code; v.SharePath != want {
				t.Errorf("share_path = %q, want %q", v.SharePath, want)
			}
			qrs := r.sim.QRCodes(testAppID)
			if len(qrs) != 1 {
				t.Fatalf("QR codes created at WeChat = %+v, want one", qrs)
			}
			if qr := qrs[0]; qr.Scene != "ref:"+v.Code || qr.Ticket != v.QRTicket || qr.URL != v.QRURL || qr.Permanent || qr.ExpireSeconds != 30*24*3600 {
				t.Errorf("QR code = %+v\nwant a temporary one for 30 days with scene ref:%s, ticket %q, url %q", qr, v.Code, v.QRTicket, v.QRURL)
			}
			if v.QRExpires.Before(before.Add(29*24*time.Hour)) || !strings.Contains(v.QRImage, url.QueryEscape(v.QRTicket)) {
				t.Errorf("qr_expires_at %s, qr_image %q: want about 30 days from now, showing the ticket", v.QRExpires, v.QRImage)
			}

			status, h, img, err := call(http.MethodGet, r.omo.URL+v.CodeImage, token, nil)
			if err != nil || status != http.StatusOK || h.Get("Content-Type") != "image/jpeg" {
				t.Fatalf("GET %s = %d %s %v, want 200 image/jpeg", v.CodeImage, status, h.Get("Content-Type"), err)
			}
			if _, err := jpeg.Decode(bytes.NewReader(img)); err != nil {
				t.Errorf("mini-program code image (%d bytes) is no JPEG: %v", len(img), err)
			}
			if mcs := r.sim.MiniCodes(testMPAppID); len(mcs) != 1 || mcs[0].Scene != "ref:"+v.Code || mcs[0].Page != sharePage {
				t.Errorf("mini-program codes made at WeChat = %+v, want one with scene ref:%s, page %s", mcs, v.Code, sharePage)
			}

			again := r.myReferral(t, token)
			if again.Code != v.Code || again.QRTicket != v.QRTicket || !again.QRExpires.Equal(v.QRExpires) {
				t.Errorf("second GET /mp/v1/referral = %+v, want the same code and QR code as %+v", again, v)
			}
			if n := r.sim.CallCount(qrCreatePath); n != 1 || len(r.sim.QRCodes(testAppID)) != 1 {
				t.Errorf("qrcode/create calls after a second GET = %d, want 1 (cached)", n)
			}

			// Friends scan alice's QR code in rounds; after each round
			// all of them have qualified and every message is sent.
			invited := 0
			for _, round := range []struct{ friends, referrerRewards int }{{2, 0}, {1, 1}, {2, 1}, {1, 2}} {
				for range round.friends {
					invited++
					r.scan(t, fmt.Sprintf("o-friend%d", invited), v.QRTicket)
				}
				r.waitStats(t, 20*time.Second, fmt.Sprintf("%d friends qualified", invited),
					func(st referral.Stats) bool { return st.Qualified == invited })
				r.waitIdle(t, 15*time.Second)
				for i := 1; i <= invited; i++ {
					r.wantRewards(t, fmt.Sprintf("o-friend%d", i), friendPool, tplInvitee, 1)
				}
				if cps, sends := r.rewardsOf(t, "o-alice", refPool, tplReferrer); len(cps) != round.referrerRewards || len(sends) != round.referrerRewards {
					t.Errorf("after %d friends alice has %d coupons, %d sends; want %d", invited, len(cps), len(sends), round.referrerRewards)
				}
			}
			r.wantRewards(t, "o-alice", refPool, tplReferrer, 2)
			_, sends := r.rewardsOf(t, "o-alice", refPool, tplReferrer)
			var said []string
			for _, s := range sends {
				said = append(said, s.Data["thing1"])
				if !strings.HasPrefix(s.MiniProgram.PagePath, "pages/referral/index?omo_c="+url.QueryEscape(refCampaign)+"&omo_m=") {
					t.Errorf("referrer's message opens %q, want pages/referral/index tracked for %s", s.MiniProgram.PagePath, refCampaign)
				}
			}
			slices.Sort(said)
			if want := []string{"3 friends joined", "6 friends joined"}; !slices.Equal(said, want) {
				t.Errorf("referrer's messages say %q, want %q", said, want)
			}
			cps, fsends := r.rewardsOf(t, "o-friend1", friendPool, tplInvitee)
			if len(cps) == 1 && len(fsends) == 1 {
				want := "pages/coupon/detail?code=" + url.QueryEscape(cps[0].Code) + "&omo_c=" + url.QueryEscape(refCampaign) + "&omo_m=" + url.QueryEscape(fsends[0].ClientMsgID)
				if s := fsends[0]; s.MiniProgram.PagePath != want || s.MiniProgram.AppID != testMPAppID || s.Data["thing1"] != "¥10 welcome gift" {
					t.Errorf("invitee's message = %+v\nwant mini-program %s page %s, thing1 ¥10 welcome gift", s, testMPAppID, want)
				}
			}
			if n := r.sim.CallCount(templateSend); n != 8 {
				t.Errorf("template/send calls = %d, want 8 (6 friends, 2 rewards of alice)", n)
			}

			want := referral.Stats{Invites: 6, Qualified: 6, Rejected: map[referral.Reason]int{}, RewardsIssued: 2}
			if st := r.refStats(t); !sameRefStats(st, want) {
				t.Errorf("stats = %+v, want %+v", st, want)
			}
			var board struct {
				Program string                    `json:"program"`
				Leaders []referral.LeaderboardRow `json:"leaders"`
			}
			r.mustCall(t, http.MethodGet, "/admin/v1/referral/"+refProgram+"/leaderboard", adminToken, nil, http.StatusOK, &board)
			if len(board.Leaders) != 1 || board.Leaders[0].Code != v.Code || board.Leaders[0].Qualified != 6 || board.Program != refProgram {
				t.Errorf("leaderboard = %+v, want alice's code %s with 6 qualified", board, v.Code)
			}
			r.mustCall(t, http.MethodGet, "/admin/v1/referral/no-such-program/stats", adminToken, nil, http.StatusNotFound, nil)
			r.mustCall(t, http.MethodGet, "/admin/v1/referral/"+refProgram+"/stats", "", nil, http.StatusUnauthorized, nil)
		})
	}
}

func sameRefStats(a, b referral.Stats) bool {
	return a.Invites == b.Invites && a.Held == b.Held && a.Qualified == b.Qualified && a.Cancelled == b.Cancelled &&
		a.RewardsIssued == b.RewardsIssued && fmt.Sprint(a.Rejected) == fmt.Sprint(b.Rejected)
}

// TestReferralHoldEndToEnd: a friend who unfollows within the hold is
// cancelled and nobody is rewarded for them, even once the qualification
// runs; a friend who unfollows after qualifying keeps everything as it was.
func TestReferralHoldEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			// Bob's unfollow must come within the hold: 2 s leaves a margin.
			r := startCampaigns(t, d.URL, referralSet("subscribe", 2*time.Second, 1, 10, 0, ""))
			code := r.myReferral(t, r.customer(t, "alice")).Code

			// Bob follows and leaves at once; carol follows at the same time and stays.
			r.followScene(t, "o-bob", "ref:"+code)
			r.unfollow(t, "o-bob")
			r.wantReferral(t, "oa:o-bob", referral.Cancelled, referral.ReasonUnfollowed)
			r.followScene(t, "o-carol", "ref:"+code)
			r.waitStats(t, 20*time.Second, "carol qualified", func(st referral.Stats) bool { return st.Qualified == 1 })
			r.waitIdle(t, 15*time.Second) // both qualifications ran: bob's did nothing
			r.wantReferral(t, "oa:o-bob", referral.Cancelled, referral.ReasonUnfollowed)
			r.wantRewards(t, "o-bob", friendPool, tplInvitee, 0)
			want := referral.Stats{Invites: 2, Qualified: 1, Cancelled: 1, Rejected: map[referral.Reason]int{}, RewardsIssued: 1}
			if st := r.refStats(t); !sameRefStats(st, want) {
				t.Errorf("stats = %+v, want %+v", st, want)
			}

			// Carol leaves after qualifying: nothing changes.
			r.unfollow(t, "o-carol")
			r.waitIdle(t, 15*time.Second)
			r.wantReferral(t, "oa:o-carol", referral.Qualified, "")
			r.wantRewards(t, "o-carol", friendPool, tplInvitee, 1)
			r.wantRewards(t, "o-alice", refPool, tplReferrer, 1)
			if st := r.refStats(t); !sameRefStats(st, want) {
				t.Errorf("stats after carol left = %+v, want %+v", st, want)
			}
		})
	}
}

// TestReferralRefusalsEndToEnd plays the ways people cheat or slip, each
// refused at arrival with its reason recorded (the stats' rejected map) or,
// when only the unionid user/info brings later gives them away, cancelled
// at qualification: the referrer following through her own code, the same
// person under their mini-program identity (same unionid), a re-follow
// after an unfollow, an A→B→A loop, an unknown code, the daily cap; and the
// referrer's rewards stop at max.
func TestReferralRefusalsEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			cst := time.FixedZone("CST", 8*3600)
			day := time.Now().In(cst).Format(time.DateOnly)
			// Bob's unionid (user/info, at once) must be in before his
			// qualification: 2 s leaves a margin.
			r := startCampaigns(t, d.URL, referralSet("subscribe", 2*time.Second, 1, 2, 3, ""))
			alice := r.myReferral(t, r.customer(t, "alice"))

			// Alice unfollows and follows again through her own code.
			r.unfollow(t, "o-alice")
			r.scan(t, "o-alice", alice.QRTicket)
			// Bob takes his code in the mini-program and then follows
			// through it: omo learns his unionid only after the follow.
			r.sim.AddUser(testAppID, wechatsim.Follower{OpenID: "o-bob", UnionID: "u-bob"})
			bob := r.myReferral(t, r.login(t, "mp-bob", "u-bob"))
			r.scan(t, "o-bob", bob.QRTicket)
			// Carol followed once and left; now she follows through alice's code.
			r.followScene(t, "o-carol", "")
			r.unfollow(t, "o-carol")
			r.scan(t, "o-carol", alice.QRTicket)
			// Dave invites erin in the mini-program, then dave accepts erin's code.
			daveTok := r.login(t, "mp-dave", "u-dave")
			dave := r.myReferral(t, daveTok)
			erinTok := r.login(t, "mp-erin", "u-erin")
			if res := r.accept(t, erinTok, dave.Code); !res.Attributed {
				t.Fatalf("erin accepting dave's code = %+v, want attributed", res)
			}
			if res := r.accept(t, daveTok, r.myReferral(t, erinTok).Code); res.Attributed || res.Reason != referral.ReasonLoop {
				t.Errorf("dave accepting erin's code = %+v, want refused %s", res, referral.ReasonLoop)
			}
			// Frank follows through a code nobody has.
			r.followScene(t, "o-frank", "ref:ZZZZZZZZ")
			// Four friends through alice's code: the cap is 3 a day.
			for i := 1; i <= 4; i++ {
				r.scan(t, fmt.Sprintf("o-g%d", i), alice.QRTicket)
			}
			if time.Now().In(cst).Format(time.DateOnly) != day {
				t.Skip("the day changed in Beijing during the test: the daily cap started afresh")
			}

			st := r.refStats(t)
			wantRejected := map[referral.Reason]int{referral.ReasonSelf: 1, referral.ReasonNotNew: 1, referral.ReasonLoop: 1,
				referral.ReasonUnknownCode: 1, referral.ReasonDailyCap: 1}
			if fmt.Sprint(st.Rejected) != fmt.Sprint(wantRejected) {
				t.Errorf("rejected = %v, want %v", st.Rejected, wantRejected)
			}
			r.wantReferral(t, "u:u-alice", "", "")
			r.wantReferral(t, "oa:o-carol", "", "")
			r.wantReferral(t, "u:u-dave", "", "")
			r.wantReferral(t, "oa:o-frank", "", "")
			r.wantReferral(t, "oa:o-g4", "", "")
			r.wantReferral(t, "oa:o-bob", referral.Held, "")

			// After the hold: bob is found out by his unionid; erin and
			// three of alice's friends qualify; alice's rewards stop at 2.
			st = r.waitStats(t, 20*time.Second, "every attribution decided", func(st referral.Stats) bool { return st.Held == 0 })
			r.waitIdle(t, 15*time.Second)
			r.wantReferral(t, "oa:o-bob", referral.Cancelled, referral.ReasonSelf)
			want := referral.Stats{Invites: 5, Qualified: 4, Cancelled: 1, Rejected: wantRejected, RewardsIssued: 3}
			if st = r.refStats(t); !sameRefStats(st, want) {
				t.Errorf("stats = %+v, want %+v (alice 2 rewards, dave 1 with nobody on the OA to send it to)", st, want)
			}
			r.wantRewards(t, "o-alice", refPool, tplReferrer, 2)
			r.wantRewards(t, "o-bob", friendPool, tplInvitee, 0)
			r.wantRewards(t, "o-bob", refPool, tplReferrer, 0)
			for i := 1; i <= 3; i++ {
				r.wantRewards(t, fmt.Sprintf("o-g%d", i), friendPool, tplInvitee, 1)
			}
			for _, openid := range []string{"o-alice", "o-carol", "o-frank", "o-g4"} {
				r.wantRewards(t, openid, friendPool, tplInvitee, 0)
			}
		})
	}
}

// TestReferralConcurrentFollows has 50 friends follow through one code at
// once (every push waits at a start barrier): with every: 3 and max: 5 the
// referrer gets exactly 5 rewards and each friend exactly one, each coupon
// issued and each message sent once.
func TestReferralConcurrentFollows(t *testing.T) {
	t.Parallel()
	const friends, rewards = 50, 5
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			r := startCampaigns(t, d.URL, referralSet("subscribe", refHold, 3, rewards, 0, ""))
			code := r.myReferral(t, r.customer(t, "alice")).Code
			var msgs []wechatsim.Message
			for i := range friends {
				msgs = append(msgs, wechatsim.Subscribe(r.sim.OriginalID(testAppID), fmt.Sprintf("o-c%02d", i), time.Now().Truncate(time.Second), "ref:"+code))
			}
			for i, got := range pushAll(t, r.sim, msgs) {
				if got != "success" {
					t.Errorf("answer to %s = %q, want success", msgs[i].FromUserName, got)
				}
			}
			r.waitStats(t, 60*time.Second, "all friends qualified", func(st referral.Stats) bool { return st.Qualified == friends })
			r.waitIdle(t, 60*time.Second)

			want := referral.Stats{Invites: friends, Qualified: friends, Rejected: map[referral.Reason]int{}, RewardsIssued: rewards}
			if st := r.refStats(t); !sameRefStats(st, want) {
				t.Errorf("stats = %+v, want %+v", st, want)
			}
			r.wantRewards(t, "o-alice", refPool, tplReferrer, rewards)
			codes := map[string]string{}
			for _, m := range msgs {
				r.wantRewards(t, m.FromUserName, friendPool, tplInvitee, 1)
				for _, c := range r.couponsOf(t, m.FromUserName) {
					if other, ok := codes[c.Code]; ok {
						t.Errorf("coupon %s issued to %s and %s", c.Code, other, m.FromUserName)
					}
					codes[c.Code] = m.FromUserName
				}
			}
			if n := r.sim.CallCount(templateSend); n != friends+rewards {
				t.Errorf("template/send calls = %d, want %d", n, friends+rewards)
			}
			for pool, want := range map[string]int64{refPool: rewards, friendPool: friends} {
				if _, issued, err := r.db.PoolCounts(context.Background(), pool); err != nil || issued != want {
					t.Errorf("pool %s: %d issued, %v; want %d", pool, issued, err, want)
				}
			}
			if done, pending, failed := outboxCounts(t, r.db); pending != 0 || failed != 0 || done != 1+2*friends+friends+rewards {
				t.Errorf("outbox %d done, %d pending, %d failed; want %d done (user/info and qualification per friend, %d sends)",
					done, pending, failed, 1+2*friends+friends+rewards, friends+rewards)
			}
		})
	}
}

// TestReferralAcceptEndToEnd: a brand-new mini-program user who opened a
// shared link accepts its code and counts for the referrer; a second code
// is refused (first referrer only). A newcomer who also follows the OA gets
// the welcome gift there, and sees it among their coupons.
func TestReferralAcceptEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			r := startCampaigns(t, d.URL, referralSet("subscribe", refHold, 1, 10, 0, ""))
			alice := r.myReferral(t, r.customer(t, "alice")).Code
			bob := r.myReferral(t, r.login(t, "mp-bob", "u-bob")).Code

			ivy := r.login(t, "mp-ivy", "u-ivy")
			if res := r.accept(t, ivy, strings.ToLower(alice)); !res.Attributed || res.Reason != "" {
				t.Errorf("ivy accepting alice's code = %+v, want attributed", res)
			}
			if res := r.accept(t, ivy, bob); res.Attributed || res.Reason != referral.ReasonAttributed {
				t.Errorf("ivy accepting bob's code = %+v, want refused %s", res, referral.ReasonAttributed)
			}
			r.mustCall(t, http.MethodPost, "/mp/v1/referral/accept", ivy, map[string]string{"code": " "}, http.StatusBadRequest, nil)

			jack := r.customer(t, "jack")
			if res := r.accept(t, jack, alice); !res.Attributed {
				t.Errorf("jack accepting alice's code = %+v, want attributed", res)
			}

			r.waitStats(t, 20*time.Second, "ivy and jack qualified", func(st referral.Stats) bool { return st.Qualified == 2 })
			r.waitIdle(t, 15*time.Second)
			r.wantReferral(t, "u:u-ivy", referral.Qualified, "")
			r.wantReferral(t, "u:u-jack", referral.Qualified, "")
			r.wantRewards(t, "o-alice", refPool, tplReferrer, 2)
			r.wantRewards(t, "o-jack", friendPool, tplInvitee, 1)
			var mine struct {
				Coupons []struct {
					Pool, State string
				} `json:"coupons"`
			}
			r.mustCall(t, http.MethodGet, "/mp/v1/coupons", jack, nil, http.StatusOK, &mine)
			if len(mine.Coupons) != 1 || mine.Coupons[0].Pool != friendPool || mine.Coupons[0].State != "issued" {
				t.Errorf("jack's coupons in the mini-program = %+v, want the welcome gift", mine.Coupons)
			}
			want := referral.Stats{Invites: 2, Qualified: 2, Rejected: map[referral.Reason]int{referral.ReasonAttributed: 1}, RewardsIssued: 2}
			if st := r.refStats(t); !sameRefStats(st, want) {
				t.Errorf("stats = %+v, want %+v", st, want)
			}
		})
	}
}

// TestMPAuthEndToEnd: a login code WeChat refuses is a 4xx that says why;
// /mp/v1/referral without a valid session token is 401.
func TestMPAuthEndToEnd(t *testing.T) {
	t.Parallel()
	r := startCampaigns(t, testenv.SQLiteURL(t), referralSet("subscribe", refHold, 1, 10, 0, ""))
	r.sim.AddLoginCode(testMPAppID, "code-once", "mp-alice", "u-alice")
	r.mustCall(t, http.MethodPost, "/mp/v1/login", "", map[string]string{"code": "code-once"}, http.StatusOK, nil)
	token := r.login(t, "mp-alice", "u-alice")

	logins := []struct {
		name   string
		body   any
		status int
		says   string
	}{
		{"code WeChat never issued", map[string]string{"code": "no-such-code"}, http.StatusUnauthorized, "40029"},
		{"code used before", map[string]string{"code": "code-once"}, http.StatusUnauthorized, "40163"},
		{"empty code", map[string]string{"code": ""}, http.StatusBadRequest, "code is required"},
		{"no JSON", "code=abc", http.StatusBadRequest, "JSON"},
	}
	for _, tt := range logins {
		t.Run(tt.name, func(t *testing.T) {
			status, _, b, err := call(http.MethodPost, r.omo.URL+"/mp/v1/login", "", tt.body)
			var out struct {
				Error string `json:"error"`
			}
			if err != nil || status != tt.status || json.Unmarshal(b, &out) != nil || !strings.Contains(out.Error, tt.says) {
				t.Errorf("POST /mp/v1/login = %d %s %v, want %d with an error saying %q", status, b, err, tt.status, tt.says)
			}
		})
	}

	forged := mpsession.Issue([]byte("not the secret of this omo, but long enough"), mpsession.Session{OpenID: "mp-alice", UnionID: "u-alice", Expires: time.Now().Add(time.Hour)})
	tokens := []struct{ name, token string }{
		{"no token", ""},
		{"forged with another secret", forged},
		{"tampered: another openid under alice's MAC", swapOpenID(t, token, "mp-alice", "mp-mallory")},
		{"garbage", "not-a-token"},
	}
	for _, tt := range tokens {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/mp/v1/referral", "/mp/v1/referral/code.jpg"} {
				status, h, b, err := call(http.MethodGet, r.omo.URL+path, tt.token, nil)
				if err != nil || status != http.StatusUnauthorized || h.Get("WWW-Authenticate") == "" {
					t.Errorf("GET %s = %d %s %v, want 401 with WWW-Authenticate", path, status, b, err)
				}
			}
			status, _, _, err := call(http.MethodPost, r.omo.URL+"/mp/v1/referral/accept", tt.token, map[string]string{"code": "ABCDEFGH"})
			if err != nil || status != http.StatusUnauthorized {
				t.Errorf("POST /mp/v1/referral/accept = %d %v, want 401", status, err)
			}
		})
	}
	if n := r.sim.CallCount(qrCreatePath); n != 0 {
		t.Errorf("qrcode/create calls = %d, want none for refused requests", n)
	}
	r.myReferral(t, token) // the real token works
}

// swapOpenID replaces openid by other inside a session token's payload and
// keeps its MAC.
func swapOpenID(t *testing.T, token, openid, other string) string {
	t.Helper()
	body, mac, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || !strings.Contains(string(raw), openid) {
		t.Fatalf("token payload %q, %v: want one naming %s", raw, err, openid)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), openid, other, 1))) + "." + mac
}

// helloOnReferral gives everyone who follows through a referral code a
// coupon of their own at once, for them to redeem.
const helloOnReferral = `kind: CouponPool
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

// TestReferralFirstRedeemEndToEnd: under qualify_on: first_redeem the
// friend qualifies when the till redeems their first coupon, not before
// (no qualification is scheduled, whatever the hold), and only once.
func TestReferralFirstRedeemEndToEnd(t *testing.T) {
	t.Parallel()
	for _, d := range testenv.Databases(t) {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			r := startCampaigns(t, d.URL, referralSet("first_redeem", refHold, 1, 10, 0, helloOnReferral))
			code := r.myReferral(t, r.customer(t, "alice")).Code
			r.followScene(t, "o-bob", "ref:"+code)
			r.waitIdle(t, 15*time.Second)
			if done, pending, failed := outboxCounts(t, r.db); done != 2 || pending != 0 || failed != 0 {
				t.Errorf("outbox %d done, %d pending, %d failed; want 2 (user/info of alice and bob), no qualification", done, pending, failed)
			}
			r.wantReferral(t, "oa:o-bob", referral.Held, "")
			hello, _ := r.rewardsOf(t, "o-bob", "hello-5", "")
			if len(hello) != 1 {
				t.Fatalf("bob's hello coupons = %+v, want one", hello)
			}

			redeem := map[string]string{"code": hello[0].Code, "store_id": "sh-001"}
			r.mustCall(t, http.MethodPost, "/admin/v1/coupons/redeem", adminToken, redeem, http.StatusOK, nil)
			// Qualified in the redemption's own transaction.
			r.wantReferral(t, "oa:o-bob", referral.Qualified, "")
			r.waitIdle(t, 15*time.Second)
			r.wantRewards(t, "o-bob", friendPool, tplInvitee, 1)
			r.wantRewards(t, "o-alice", refPool, tplReferrer, 1)

			r.mustCall(t, http.MethodPost, "/admin/v1/coupons/redeem", adminToken, redeem, http.StatusConflict, nil)
			gift, _ := r.rewardsOf(t, "o-bob", friendPool, tplInvitee)
			if len(gift) == 1 {
				r.mustCall(t, http.MethodPost, "/admin/v1/coupons/redeem", adminToken,
					map[string]string{"code": gift[0].Code, "store_id": "sh-001"}, http.StatusOK, nil)
			}
			r.waitIdle(t, 15*time.Second)
			r.wantRewards(t, "o-alice", refPool, tplReferrer, 1)
			want := referral.Stats{Invites: 1, Qualified: 1, Rejected: map[referral.Reason]int{}, RewardsIssued: 1}
			if st := r.refStats(t); !sameRefStats(st, want) {
				t.Errorf("stats = %+v, want %+v", st, want)
			}
		})
	}
}
