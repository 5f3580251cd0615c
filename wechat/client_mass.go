package wechat

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"github.com/omohq/omo/errs"
)

// WeChat's limits on one message/mass/send call to an openid list.
const (
	MinMassRecipients = 2     // fewer: WeChat answers 40130
	MaxMassRecipients = 10000 // more: WeChat refuses the list
	MaxClientMsgID    = 64    // bytes of clientmsgid
)

// MassMessage is one mass send to a list of followers: a text, or an
// article (mpnews) already uploaded to WeChat.
type MassMessage struct {
	ToUsers       []string // 2..10,000 openids
	Text          string   // msgtype text; exactly one of Text and MediaID
	MediaID       string   // msgtype mpnews: the media_id of an uploaded article
	IgnoreReprint bool     // send_ignore_reprint: go on if WeChat judges the article a reprint
	// ClientMsgID makes a repeat of the same send within 24 hours harmless:
	// WeChat sends nothing and answers 45065 with the first send's msg_id
	// (SendMass returns it). At most 64 bytes; "" = no guard.
	ClientMsgID string
}

// errClientMsgIDExist is WeChat's answer to a mass send whose clientmsgid
// it took within 24 hours ("clientmsgid exist", with that send's msg_id).
const errClientMsgIDExist = 45065

// massRequest is the body of POST /cgi-bin/message/mass/send, built here:
// silenceper's broadcast request has no clientmsgid.
type massRequest struct {
	ToUser  []string `json:"touser"`
	MsgType string   `json:"msgtype"`
	Text    *struct {
		Content string `json:"content"`
	} `json:"text,omitempty"`
	MPNews *struct {
		MediaID string `json:"media_id"`
	} `json:"mpnews,omitempty"`
	SendIgnoreReprint int    `json:"send_ignore_reprint"`
	ClientMsgID       string `json:"clientmsgid,omitempty"`
}

// SendMass sends m (POST /cgi-bin/message/mass/send) and returns WeChat's
// msg_id, which the MASSSENDJOBFINISH event quotes, and msg_data_id. An
// answer of errcode 0 means only that WeChat took the job; the outcome
// arrives later as that event. A message WeChat would refuse (fewer than 2
// or more than 10,000 openids, an empty openid, neither or both of Text and
// MediaID, a clientmsgid over 64 bytes) is an errs.Invalid error wrapping
// ErrInvalid, and nothing is sent. WeChat's refusals are *APIError: 45028 no mass-send quota
// (ClassQuota), 45011 too many calls this minute (ClassBackoff), 89504/89505
// mass-send protection (ClassConfig). A repeat of a ClientMsgID WeChat took
// within 24 hours is not an error: WeChat answers 45065 with the first
// send's msg_id, SendMass returns that msg_id (msgDataID 0: not quoted).
func (c *Client) SendMass(ctx context.Context, m MassMessage) (msgID, msgDataID int64, err error) {
	const op = "mass_send"
	req, err := massBody(m)
	if err != nil {
		return 0, 0, fail(op, &errs.Error{Kind: errs.Invalid, Op: "wechat." + op, Msg: err.Error(), Err: ErrInvalid})
	}
	var res struct {
		MsgID     int64 `json:"msg_id"`
		MsgDataID int64 `json:"msg_data_id"`
	}
	err = c.withToken(ctx, c.oaTok, op, func(ctx context.Context, token string) error {
		data, _, err := c.fetch(ctx, op, "https://api.weixin.qq.com/cgi-bin/message/mass/send?access_token="+url.QueryEscape(token), req)
		if err != nil {
			return err
		}
		err = decodeJSON(op, data, &res)
		if Code(err) == errClientMsgIDExist {
			// A repeat of a send WeChat took (a retry after an answer
			// that was lost): it sent nothing again and quotes the first
			// send's msg_id, which is what the caller records.
			if json.Unmarshal(data, &res) == nil && res.MsgID != 0 {
				return nil
			}
		}
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return res.MsgID, res.MsgDataID, nil
}

// massBody checks m against WeChat's rules and builds the request body.
func massBody(m MassMessage) (*massRequest, error) {
	if n := len(m.ToUsers); n < MinMassRecipients || n > MaxMassRecipients {
		return nil, fmt.Errorf("a mass send goes to %d-%d openids, got %d (WeChat answers 40130 below 2)", MinMassRecipients, MaxMassRecipients, n)
	}
	for i, o := range m.ToUsers {
		if o == "" {
			return nil, fmt.Errorf("touser[%d] is empty", i)
		}
	}
	if len(m.ClientMsgID) > MaxClientMsgID {
		return nil, fmt.Errorf("clientmsgid is %d bytes, WeChat takes at most %d", len(m.ClientMsgID), MaxClientMsgID)
	}
	req := &massRequest{ToUser: m.ToUsers, ClientMsgID: m.ClientMsgID}
	if m.IgnoreReprint {
		req.SendIgnoreReprint = 1
	}
	switch {
	case (m.Text == "") == (m.MediaID == ""):
		return nil, fmt.Errorf("a mass send is a text or an mpnews media_id, exactly one of them")
	case m.Text != "":
		req.MsgType = "text"
		req.Text = &struct {
			Content string `json:"content"`
		}{m.Text}
	default:
		req.MsgType = "mpnews"
		req.MPNews = &struct {
			MediaID string `json:"media_id"`
		}{m.MediaID}
	}
	return req, nil
}
