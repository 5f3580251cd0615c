package wechat

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// WeChat's limits for reading the follower list.
const (
	MaxUserPage      = 10000 // openids in one user/get page
	MaxBatchUserInfo = 100   // openids in one user/info/batchget call
)

// UserPage is one page of the OA's follower list.
type UserPage struct {
	Total   int      // how many followers the OA has now
	OpenIDs []string // up to MaxUserPage, in WeChat's order
	// Next is WeChat's next_openid: pass it to UserList for the page after
	// this one. WeChat gives the page's last openid even on the last page
	// (the call after it answers no openids); "" means the list is done.
	Next string
}

// UserList returns the page of the OA's followers after next ("" = from
// the start): GET /cgi-bin/user/get, called here rather than through
// silenceper so that ctx cancels it midway (a sync is long and must stop
// promptly). WeChat allows 500 calls a day (45009 after that).
func (c *Client) UserList(ctx context.Context, next string) (UserPage, error) {
	const op = "user_get"
	var res struct {
		Total int `json:"total"`
		Count int `json:"count"`
		Data  struct {
			OpenID []string `json:"openid"`
		} `json:"data"`
		NextOpenID string `json:"next_openid"`
	}
	err := c.withToken(ctx, c.oaTok, op, func(ctx context.Context, token string) error {
		res.Data.OpenID = nil
		u := "https://api.weixin.qq.com/cgi-bin/user/get?access_token=" + url.QueryEscape(token) + "&next_openid=" + url.QueryEscape(next)
		return c.callJSON(ctx, op, u, nil, &res)
	})
	if err != nil {
		return UserPage{}, err
	}
	return UserPage{Total: res.Total, OpenIDs: res.Data.OpenID, Next: res.NextOpenID}, nil
}

// BatchUserInfo returns what the OA knows of up to MaxBatchUserInfo users,
// in the order WeChat answers (POST /cgi-bin/user/info/batchget, called
// here for the same reason as UserList). A user who unfollowed comes back with Subscribed false
// and little else; an openid that is not this OA's fails the whole call
// (40003). More than MaxBatchUserInfo openids, or none, is an ErrInvalid
// error and nothing is sent.
func (c *Client) BatchUserInfo(ctx context.Context, openids []string) ([]UserInfo, error) {
	const op = "user_info_batchget"
	if len(openids) == 0 || len(openids) > MaxBatchUserInfo {
		return nil, fail(op, fmt.Errorf("%w: %d openids, want 1 to %d", ErrInvalid, len(openids), MaxBatchUserInfo))
	}
	type user struct {
		OpenID string `json:"openid"`
		Lang   string `json:"lang"`
	}
	req := struct {
		UserList []user `json:"user_list"`
	}{UserList: make([]user, len(openids))}
	for i, id := range openids {
		req.UserList[i] = user{OpenID: id, Lang: "zh_CN"}
	}
	var res struct {
		List []batchUser `json:"user_info_list"`
	}
	err := c.withToken(ctx, c.oaTok, op, func(ctx context.Context, token string) error {
		res.List = nil
		return c.callJSON(ctx, op, "https://api.weixin.qq.com/cgi-bin/user/info/batchget?access_token="+url.QueryEscape(token), req, &res)
	})
	if err != nil {
		return nil, err
	}
	out := make([]UserInfo, len(res.List))
	for i, u := range res.List {
		out[i] = u.info()
	}
	return out, nil
}

// batchUser is one entry of a batchget answer.
type batchUser struct {
	Subscribe      int    `json:"subscribe"`
	OpenID         string `json:"openid"`
	UnionID        string `json:"unionid"`
	SubscribeTime  int64  `json:"subscribe_time"`
	SubscribeScene string `json:"subscribe_scene"`
	QRScene        int64  `json:"qr_scene"`
	QRSceneStr     string `json:"qr_scene_str"`
	TagIDList      []int  `json:"tagid_list"`
}

func (u batchUser) info() UserInfo {
	out := UserInfo{OpenID: u.OpenID, UnionID: u.UnionID, Subscribed: u.Subscribe == 1,
		Scene: u.SubscribeScene, QRScene: u.QRSceneStr, TagIDs: u.TagIDList}
	if u.SubscribeTime > 0 {
		out.SubscribeTime = time.Unix(u.SubscribeTime, 0)
	}
	if out.QRScene == "" && u.QRScene != 0 { // a numeric scene omo did not make
		out.QRScene = strconv.FormatInt(u.QRScene, 10)
	}
	return out
}
