package wechat_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

func TestUserList(t *testing.T) {
	e := newEnv(t)
	const n = 10001
	e.sim.SeedFollowers(oaID, n)
	c := e.client(t)
	ctx := t.Context()

	var pages []wechat.UserPage
	next := ""
	for range 5 {
		p, err := c.UserList(ctx, next)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
		if len(p.OpenIDs) == 0 || p.Next == "" {
			break
		}
		next = p.Next
	}
	if len(pages) != 3 || len(pages[0].OpenIDs) != wechat.MaxUserPage || len(pages[1].OpenIDs) != 1 || len(pages[2].OpenIDs) != 0 {
		t.Fatalf("pages: %d, sizes %d/%d/...; want 10000, 1, then an empty page", len(pages), len(pages[0].OpenIDs), len(pages[1].OpenIDs))
	}
	if pages[0].Total != n || pages[0].Next != pages[0].OpenIDs[wechat.MaxUserPage-1] || pages[2].Next != "" {
		t.Errorf("total %d, next %q / %q", pages[0].Total, pages[0].Next, pages[2].Next)
	}
	calls := e.sim.Calls("/cgi-bin/user/get")
	if got := calls[1].Query.Get("next_openid"); got != pages[0].Next {
		t.Errorf("second call's next_openid = %q, want %q", got, pages[0].Next)
	}

	// An expired token is refreshed and the call made once more.
	e.sim.ExpireTokens(oaID)
	if _, err := c.UserList(ctx, ""); err != nil {
		t.Errorf("UserList after the token expired: %v", err)
	}
	for _, tc := range []struct {
		code int
		kind errs.Kind
	}{{45009, errs.QuotaSpent}, {45011, errs.Throttled}, {48001, errs.Invalid}} {
		e.sim.Inject("/cgi-bin/user/get", tc.code, 1)
		_, err := c.UserList(ctx, "")
		var ae *wechat.APIError
		if !errors.As(err, &ae) || ae.Code != tc.code || ae.Op != "user_get" || errs.KindOf(err) != tc.kind {
			t.Errorf("user/get answered %d: %v (kind %v), want %v", tc.code, err, errs.KindOf(err), tc.kind)
		}
	}
}

func TestBatchUserInfo(t *testing.T) {
	e := newEnv(t)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o1", UnionID: "u1", SubscribeTime: at,
		SubscribeScene: "ADD_SCENE_QR_CODE", QRSceneStr: "store:sh-001", TagIDs: []int{100, 101}})
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o2", SubscribeTime: at, QRScene: 3229})
	e.sim.AddFollower(oaID, wechatsim.Follower{OpenID: "o3", UnionID: "u3"})
	e.sim.Unfollow(oaID, "o3")
	c := e.client(t)
	ctx := t.Context()

	got, err := c.BatchUserInfo(ctx, []string{"o1", "o2", "o3"})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, e.sim, "/cgi-bin/user/info/batchget", "user_info_batchget")
	want := []wechat.UserInfo{
		{OpenID: "o1", UnionID: "u1", Subscribed: true, SubscribeTime: at, Scene: "ADD_SCENE_QR_CODE", QRScene: "store:sh-001", TagIDs: []int{100, 101}},
		{OpenID: "o2", Subscribed: true, SubscribeTime: at, Scene: "ADD_SCENE_OTHERS", QRScene: "3229", TagIDs: []int{}},
		{OpenID: "o3", UnionID: "u3"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("BatchUserInfo =\n%+v\nwant\n%+v", got, want)
	}

	var ids []string
	for i := range wechat.MaxBatchUserInfo + 1 {
		ids = append(ids, fmt.Sprintf("o%d", i))
	}
	before := e.sim.CallCount("/cgi-bin/user/info/batchget")
	for _, list := range [][]string{ids, nil} {
		if _, err := c.BatchUserInfo(ctx, list); !errors.Is(err, wechat.ErrInvalid) || errs.KindOf(err) != errs.Invalid {
			t.Errorf("BatchUserInfo(%d openids) = %v, want ErrInvalid", len(list), err)
		}
	}
	if n := e.sim.CallCount("/cgi-bin/user/info/batchget") - before; n != 0 {
		t.Errorf("%d calls for refused lists, want none", n)
	}
	if _, err := c.BatchUserInfo(ctx, []string{"o1", "o-stranger"}); wechat.Code(err) != 40003 {
		t.Errorf("BatchUserInfo with a stranger = %v, want 40003", err)
	}
	e.sim.ExpireTokens(oaID)
	if got, err := c.BatchUserInfo(ctx, []string{"o1"}); err != nil || len(got) != 1 {
		t.Errorf("BatchUserInfo after the token expired = %v, %v", got, err)
	}
	if !slices.Equal(got[0].TagIDs, []int{100, 101}) {
		t.Errorf("tags = %v", got[0].TagIDs)
	}
}
