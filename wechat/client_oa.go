package wechat

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/silenceper/wechat/v2/officialaccount/message"
)

// UserInfo is what the Official Account knows about one of its users.
type UserInfo struct {
	OpenID        string
	UnionID       string // "" unless the OA is bound to an Open Platform account
	Subscribed    bool   // false: the user does not follow (any more); the rest is mostly empty
	SubscribeTime time.Time
	Scene         string // how they followed, e.g. ADD_SCENE_QR_CODE
	QRScene       string // the QR scene they followed through, if any
	TagIDs        []int
}

// UserInfo returns the OA's view of openid (GET /cgi-bin/user/info, through
// silenceper).
func (c *Client) UserInfo(ctx context.Context, openid string) (UserInfo, error) {
	var out UserInfo
	err := c.withToken(ctx, c.oaTok, "user_info", func(context.Context, string) error {
		// silenceper puts openid in the URL unescaped
		in, err := c.users.GetUserInfo(url.QueryEscape(openid))
		if err != nil {
			return err
		}
		out = UserInfo{
			OpenID: in.OpenID, UnionID: in.UnionID, Subscribed: in.Subscribe == 1,
			Scene: in.SubscribeScene, QRScene: in.QrSceneStr,
		}
		if in.SubscribeTime > 0 {
			out.SubscribeTime = time.Unix(int64(in.SubscribeTime), 0)
		}
		if out.QRScene == "" && in.QrScene != 0 { // a numeric scene omo did not make
			out.QRScene = strconv.Itoa(in.QrScene)
		}
		for _, id := range in.TagIDList {
			out.TagIDs = append(out.TagIDs, int(id))
		}
		return nil
	})
	return out, err
}

// MiniProgramLink is the mini-program page a message opens.
type MiniProgramLink struct {
	AppID    string
	PagePath string // page with query, e.g. pages/coupon/detail?code=X
}

// TemplateMessage is one template (service) message.
type TemplateMessage struct {
	ToUser      string
	TemplateID  string
	URL         string           // web page opened when there is no MiniProgram (or no WeChat support for it)
	MiniProgram *MiniProgramLink // nil: none
	Data        map[string]string
	ClientMsgID string // WeChat drops a repeat to the same user within 10 minutes
}

// SendTemplate sends a template message and returns WeChat's msgid, which
// the TEMPLATESENDJOBFINISH event quotes (POST /cgi-bin/message/template/send,
// through silenceper).
func (c *Client) SendTemplate(ctx context.Context, m TemplateMessage) (int64, error) {
	req := &message.TemplateMessage{
		ToUser: m.ToUser, TemplateID: m.TemplateID, URL: m.URL, ClientMsgID: m.ClientMsgID,
		Data: make(map[string]*message.TemplateDataItem, len(m.Data)),
	}
	for k, v := range m.Data {
		req.Data[k] = &message.TemplateDataItem{Value: v}
	}
	if m.MiniProgram != nil {
		req.MiniProgram.AppID, req.MiniProgram.PagePath = m.MiniProgram.AppID, m.MiniProgram.PagePath
	}
	var id int64
	err := c.withToken(ctx, c.oaTok, "template_send", func(context.Context, string) error {
		var err error
		id, err = c.tpl.Send(req)
		return err
	})
	return id, err
}

// SubscribeMessage is one OA subscribe notification (one-time consent: one
// send per consent).
type SubscribeMessage struct {
	ToUser      string
	TemplateID  string
	Page        string // web page opened when there is no MiniProgram
	MiniProgram *MiniProgramLink
	Data        map[string]string
}

// SendSubscribe sends an OA subscribe notification (POST
// /cgi-bin/message/subscribe/bizsend, through silenceper). 43101: the user
// refused or the consent is used up.
func (c *Client) SendSubscribe(ctx context.Context, m SubscribeMessage) error {
	req := &message.SubscribeMessage{
		ToUser: m.ToUser, TemplateID: m.TemplateID, Page: m.Page,
		Data: make(map[string]*message.SubscribeDataItem, len(m.Data)),
	}
	for k, v := range m.Data {
		req.Data[k] = &message.SubscribeDataItem{Value: v}
	}
	if m.MiniProgram != nil {
		req.MiniProgram.AppID, req.MiniProgram.PagePath = m.MiniProgram.AppID, m.MiniProgram.PagePath
	}
	return c.withToken(ctx, c.oaTok, "subscribe_send", func(context.Context, string) error {
		return c.subs.Send(req)
	})
}

// SendCustomText sends a customer-service text message (POST
// /cgi-bin/message/custom/send, through silenceper). It works only inside
// the window after the follower's own action; 45015/45047 mean it is closed.
func (c *Client) SendCustomText(ctx context.Context, openid, text string) error {
	return c.withToken(ctx, c.oaTok, "custom_send", func(context.Context, string) error {
		return c.custom.Send(message.NewCustomerTextMessage(openid, text))
	})
}

// MiniProgramCard is a customer-service mini-program card.
type MiniProgramCard struct {
	Title        string
	AppID        string
	PagePath     string
	ThumbMediaID string // an uploaded image's media id
}

// SendCustomMiniProgram sends a customer-service mini-program card; same
// window rules as SendCustomText.
func (c *Client) SendCustomMiniProgram(ctx context.Context, openid string, card MiniProgramCard) error {
	msg := message.NewCustomerMiniprogrampageMessage(openid, card.Title, card.AppID, card.PagePath, card.ThumbMediaID)
	return c.withToken(ctx, c.oaTok, "custom_send", func(context.Context, string) error {
		return c.custom.Send(msg)
	})
}

// QRCode is a parametric OA QR code.
type QRCode struct {
	Ticket    string        // exchange for the image with QRCodeImage
	URL       string        // what the code encodes
	ExpiresIn time.Duration // 0 for a permanent code
}

// maxQRExpire is WeChat's limit for temporary QR codes.
const maxQRExpire = 30 * 24 * time.Hour

// CreateQRCode makes an OA QR code for a string scene (1-64 characters):
// temporary (QR_STR_SCENE) for expire > 0, up to 30 days, permanent
// (QR_LIMIT_STR_SCENE, capped at 100,000 per account) for expire 0. Called
// here (POST /cgi-bin/qrcode/create): silenceper's request builder takes
// interface{} scenes and panics on int64.
func (c *Client) CreateQRCode(ctx context.Context, scene string, expire time.Duration) (QRCode, error) {
	const op = "qrcode_create"
	if n := len([]rune(scene)); n < 1 || n > 64 || expire < 0 || expire > maxQRExpire {
		return QRCode{}, fail(op, fmt.Errorf("%w: scene must be 1-64 characters and expiry 0 to 30 days (scene %q, expiry %v)", ErrInvalid, scene, expire))
	}
	type sceneStr struct {
		SceneStr string `json:"scene_str"`
	}
	req := struct {
		ExpireSeconds int64  `json:"expire_seconds,omitempty"`
		ActionName    string `json:"action_name"`
		ActionInfo    struct {
			Scene sceneStr `json:"scene"`
		} `json:"action_info"`
	}{ActionName: "QR_LIMIT_STR_SCENE"}
	req.ActionInfo.Scene.SceneStr = scene
	if expire > 0 {
		req.ActionName, req.ExpireSeconds = "QR_STR_SCENE", int64(math.Ceil(expire.Seconds()))
	}
	var res struct {
		Ticket        string `json:"ticket"`
		ExpireSeconds int64  `json:"expire_seconds"`
		URL           string `json:"url"`
	}
	err := c.withToken(ctx, c.oaTok, op, func(ctx context.Context, token string) error {
		return c.callJSON(ctx, op, "https://api.weixin.qq.com/cgi-bin/qrcode/create?access_token="+url.QueryEscape(token), req, &res)
	})
	if err != nil {
		return QRCode{}, err
	}
	return QRCode{Ticket: res.Ticket, URL: res.URL, ExpiresIn: time.Duration(res.ExpireSeconds) * time.Second}, nil
}

// QRCodeImage returns the image of a QR code ticket (GET
// mp.weixin.qq.com/cgi-bin/showqrcode; no token needed). Called here:
// silenceper's ShowQRCode only formats a URL and does not escape the ticket,
// which holds '+', '/' and '='.
func (c *Client) QRCodeImage(ctx context.Context, ticket string) ([]byte, error) {
	const op = "showqrcode"
	var img []byte
	err := c.noToken(ctx, true, op, func(ctx context.Context) error {
		var err error
		img, err = c.fetchImage(ctx, op, "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket="+url.QueryEscape(ticket), nil)
		return err
	})
	return img, err
}

// maxTagBatch is WeChat's limit of openids per tagging call.
const maxTagBatch = 50

// CreateTag creates a follower tag and returns its id (POST
// /cgi-bin/tags/create, through silenceper). 45157: the name exists.
func (c *Client) CreateTag(ctx context.Context, name string) (int, error) {
	var id int
	err := c.withToken(ctx, c.oaTok, "tag_create", func(context.Context, string) error {
		tag, err := c.users.CreateTag(name)
		if err == nil && tag != nil {
			id = int(tag.ID)
		}
		return err
	})
	return id, err
}

// Tags returns the OA's follower tags, name → id; with CreateTag it turns a
// campaign's tag name into the id TagFollowers needs. Called here (GET
// /cgi-bin/tags/get): silenceper's GetTag ignores errcode, so a 40001 would
// read as "no tags".
func (c *Client) Tags(ctx context.Context) (map[string]int, error) {
	const op = "tags_get"
	var res struct {
		Tags []struct {
			ID   int    `json:"id"`
			Name string `json:"name"`
		} `json:"tags"`
	}
	err := c.withToken(ctx, c.oaTok, op, func(ctx context.Context, token string) error {
		return c.callJSON(ctx, op, "https://api.weixin.qq.com/cgi-bin/tags/get?access_token="+url.QueryEscape(token), nil, &res)
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(res.Tags))
	for _, t := range res.Tags {
		out[t.Name] = t.ID
	}
	return out, nil
}

// TagFollowers puts tag tagID on openids, 50 per call (POST
// /cgi-bin/tags/members/batchtagging, through silenceper). On error some
// batches may already be tagged; tagging again is harmless.
func (c *Client) TagFollowers(ctx context.Context, tagID int, openids []string) error {
	return c.tagBatches(ctx, "tag_followers", tagID, openids, c.users.BatchTag)
}

// UntagFollowers removes tag tagID from openids, 50 per call (POST
// /cgi-bin/tags/members/batchuntagging, through silenceper).
func (c *Client) UntagFollowers(ctx context.Context, tagID int, openids []string) error {
	return c.tagBatches(ctx, "untag_followers", tagID, openids, c.users.BatchUntag)
}

func (c *Client) tagBatches(ctx context.Context, op string, tagID int, openids []string, call func([]string, int32) error) error {
	if c.users == nil {
		return fail(op, ErrNotConfigured)
	}
	for len(openids) > 0 {
		batch := openids[:min(len(openids), maxTagBatch)]
		openids = openids[len(batch):]
		err := c.withToken(ctx, c.oaTok, op, func(context.Context, string) error {
			return call(batch, int32(tagID))
		})
		if err != nil {
			return err
		}
	}
	return nil
}
