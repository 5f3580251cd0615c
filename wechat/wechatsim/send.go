package wechatsim

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	// templateFieldMax is how many characters of a template field WeChat
	// keeps since May 2023; the rest is cut silently.
	templateFieldMax = 20
	// dedupeWindow is how long client_msg_id blocks a repeat to one openid.
	dedupeWindow = 10 * time.Minute
)

// MiniProgram is the mini-program page a message opens.
type MiniProgram struct {
	AppID    string `json:"appid"`
	PagePath string `json:"pagepath"`
}

// TemplateSend is one template message the Sim accepted.
type TemplateSend struct {
	MsgID       int64             `json:"msgid"`
	ToUser      string            `json:"touser"`
	TemplateID  string            `json:"template_id"`
	URL         string            `json:"url"`
	MiniProgram MiniProgram       `json:"miniprogram"`
	ClientMsgID string            `json:"client_msg_id"`
	Data        map[string]string `json:"data"` // field -> value as delivered (cut to 20 characters)
	At          time.Time         `json:"at"`
}

// SubscribeSend is one OA subscribe notification (bizsend) the Sim accepted.
type SubscribeSend struct {
	ToUser      string            `json:"touser"`
	TemplateID  string            `json:"template_id"`
	Page        string            `json:"page"`
	MiniProgram MiniProgram       `json:"miniprogram"`
	Data        map[string]string `json:"data"`
	At          time.Time         `json:"at"`
}

// CustomSend is one customer-service message the Sim accepted.
type CustomSend struct {
	ToUser          string          `json:"touser"`
	MsgType         string          `json:"msgtype"`
	Text            string          `json:"text"` // text.content
	MiniProgramPage MiniProgramPage `json:"miniprogrampage"`
	Raw             json.RawMessage `json:"raw"` // the whole request body
	At              time.Time       `json:"at"`
}

// MiniProgramPage is a customer-service mini-program card.
type MiniProgramPage struct {
	Title        string `json:"title"`
	AppID        string `json:"appid"`
	PagePath     string `json:"pagepath"`
	ThumbMediaID string `json:"thumb_media_id"`
}

type dataValue struct {
	Value string `json:"value"`
	Color string `json:"color,omitempty"`
}

// decode parses a JSON request body: 44002 when empty, 47001 when not JSON.
func decode(body []byte, v any) int {
	if len(body) == 0 {
		return 44002
	}
	if err := json.Unmarshal(body, v); err != nil {
		return 47001
	}
	return 0
}

// needTarget is the first check of a template or subscribe send: 40003
// without touser, 40037 without template_id.
func needTarget(toUser, templateID string) int {
	switch {
	case toUser == "":
		return 40003
	case templateID == "":
		return 40037
	}
	return 0
}

// handleTemplateSend is POST /cgi-bin/message/template/send.
func (s *Sim) handleTemplateSend(req *apiReq) reply {
	var in struct {
		ToUser      string               `json:"touser"`
		TemplateID  string               `json:"template_id"`
		URL         string               `json:"url"`
		MiniProgram MiniProgram          `json:"miniprogram"`
		ClientMsgID string               `json:"client_msg_id"`
		Data        map[string]dataValue `json:"data"`
	}
	if code := decode(req.body, &in); code != 0 {
		return errReply(code)
	}
	a := s.appLocked(req.appID)
	if code := needTarget(in.ToUser, in.TemplateID); code != 0 {
		return errReply(code)
	}
	if f, ok := s.followerLocked(a, in.ToUser); !ok || !f.subscribed {
		return errReply(43004)
	}
	key := in.ToUser + "\x00" + in.ClientMsgID
	if d, ok := a.dedupe[key]; ok && in.ClientMsgID != "" && req.now.Sub(d.at) < dedupeWindow {
		// WeChat documents only "one message per openid+client_msg_id for
		// 10 minutes"; the Sim answers the first send's msgid as success.
		r := jsonReply(map[string]any{"errcode": 0, "errmsg": "ok", "msgid": d.msgID})
		r.dedupe = true
		return r
	}
	s.msgID++
	send := TemplateSend{
		MsgID: s.msgID, ToUser: in.ToUser, TemplateID: in.TemplateID, URL: in.URL,
		MiniProgram: in.MiniProgram, ClientMsgID: in.ClientMsgID, Data: map[string]string{}, At: req.now,
	}
	for k, v := range in.Data {
		send.Data[k] = truncate(v.Value, templateFieldMax)
	}
	a.templates = append(a.templates, send)
	if in.ClientMsgID != "" {
		a.dedupe[key] = dedupeEntry{msgID: send.MsgID, at: req.now}
	}
	r := jsonReply(map[string]any{"errcode": 0, "errmsg": "ok", "msgid": send.MsgID})
	if a.webhook != nil && a.jobStatus != "" {
		p, oa, status := a.webhook, a.origID, a.jobStatus
		r.after = func() {
			s.async(func(ctx context.Context) {
				m := TemplateSendJobFinish(oa, send.ToUser, s.now(), send.MsgID, status)
				if _, err := p.Push(ctx, m.XML()); err != nil {
					s.log.Warn("wechatsim job-finish push failed", "app_id", req.appID, "msg_id", send.MsgID, "err", err)
				}
			})
		}
	}
	return r
}

// truncate keeps the first n characters (runes) of v.
func truncate(v string, n int) string {
	if utf8.RuneCountInString(v) <= n {
		return v
	}
	r := []rune(v)
	return string(r[:n])
}

// subscribeFieldMax is the length limit per subscribe-notification field
// type (the key's prefix); a longer value is refused with 47003, not cut.
func subscribeFieldMax(key string) (int, bool) {
	prefixes := []struct {
		p string
		n int
	}{
		{"character_string", 32}, {"phone_number", 17}, {"car_number", 8},
		{"thing", 20}, {"number", 32}, {"letter", 32}, {"symbol", 5},
		{"phrase", 5}, {"name", 10},
	}
	for _, x := range prefixes {
		if strings.HasPrefix(key, x.p) {
			return x.n, true
		}
	}
	return 0, false
}

// handleBizSend is POST /cgi-bin/message/subscribe/bizsend: one consent per
// send, 43101 when none is left.
func (s *Sim) handleBizSend(req *apiReq) reply {
	var in struct {
		ToUser      string               `json:"touser"`
		TemplateID  string               `json:"template_id"`
		Page        string               `json:"page"`
		MiniProgram MiniProgram          `json:"miniprogram"`
		Data        map[string]dataValue `json:"data"`
	}
	if code := decode(req.body, &in); code != 0 {
		return errReply(code)
	}
	a := s.appLocked(req.appID)
	if code := needTarget(in.ToUser, in.TemplateID); code != 0 {
		return errReply(code)
	}
	data := map[string]string{}
	for k, v := range in.Data {
		if n, ok := subscribeFieldMax(k); ok && utf8.RuneCountInString(v.Value) > n {
			return errReply(47003)
		}
		data[k] = v.Value
	}
	f, ok := a.followers[in.ToUser]
	if !ok || f.consents[in.TemplateID] <= 0 {
		return errReply(43101)
	}
	f.consents[in.TemplateID]--
	a.subSends = append(a.subSends, SubscribeSend{ToUser: in.ToUser, TemplateID: in.TemplateID,
		Page: in.Page, MiniProgram: in.MiniProgram, Data: data, At: req.now})
	return okReply()
}

// handleCustomSend is POST /cgi-bin/message/custom/send: 45015 unless the
// recipient follows and their customer-service window is open.
func (s *Sim) handleCustomSend(req *apiReq) reply {
	var in struct {
		ToUser          string                   `json:"touser"`
		MsgType         string                   `json:"msgtype"`
		Text            struct{ Content string } `json:"text"`
		MiniProgramPage MiniProgramPage          `json:"miniprogrampage"`
	}
	if code := decode(req.body, &in); code != 0 {
		return errReply(code)
	}
	a := s.appLocked(req.appID)
	if in.ToUser == "" {
		return errReply(40003)
	}
	switch in.MsgType {
	case "text", "miniprogrampage", "image", "voice", "video", "music", "news", "mpnews", "msgmenu", "wxcard", "mpnewsarticle":
	default:
		return errReply(40008)
	}
	if f, ok := s.followerLocked(a, in.ToUser); !ok || !f.subscribed || f.windowClosed {
		return errReply(45015)
	}
	a.customs = append(a.customs, CustomSend{ToUser: in.ToUser, MsgType: in.MsgType, Text: in.Text.Content,
		MiniProgramPage: in.MiniProgramPage, Raw: slices.Clone(req.body), At: req.now})
	return okReply()
}

// Templates returns the template messages appID sent, oldest first (dedupe
// repeats are not included; see Call.Dedupe).
func (s *Sim) Templates(appID string) []TemplateSend {
	var out []TemplateSend
	s.withApp(appID, func(a *app) {
		out = slices.Clone(a.templates)
		for i := range out {
			out[i].Data = maps.Clone(out[i].Data)
		}
	})
	return out
}

// SubscribeSends returns the subscribe notifications appID sent, oldest first.
func (s *Sim) SubscribeSends(appID string) []SubscribeSend {
	var out []SubscribeSend
	s.withApp(appID, func(a *app) {
		out = slices.Clone(a.subSends)
		for i := range out {
			out[i].Data = maps.Clone(out[i].Data)
		}
	})
	return out
}

// Customs returns the customer-service messages appID sent, oldest first.
func (s *Sim) Customs(appID string) []CustomSend {
	var out []CustomSend
	s.withApp(appID, func(a *app) { out = slices.Clone(a.customs) })
	return out
}
