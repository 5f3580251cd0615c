package outbox

import (
	"net/url"
	"strings"
	"time"
)

// MessageState is where a message is in its life.
type MessageState string

// The message states. failed is final: a render error, a follower who is
// gone or refused, retries used up, or WeChat reporting it undelivered.
const (
	MsgPending   MessageState = "pending"
	MsgSent      MessageState = "sent"
	MsgDelivered MessageState = "delivered"
	MsgFailed    MessageState = "failed"
)

// Message is a rendered message to one follower: everything the worker
// needs to send it, fixed when the event that caused it committed.
type Message struct {
	ToUser     string            `json:"touser"`
	TemplateID string            `json:"template_id,omitempty"`
	Page       string            `json:"page,omitempty"` // page?query with omo_c and omo_m
	Data       map[string]string `json:"data,omitempty"`
	Text       string            `json:"text,omitempty"`
	Card       *Card             `json:"card,omitempty"`
	Fallback   *Message          `json:"fallback,omitempty"` // send_custom: the template send used instead
	Campaign   string            `json:"campaign,omitempty"`
	RateN      int               `json:"rate_n,omitempty"` // the campaign's rate: at most RateN sends per RatePerMS
	RatePerMS  int64             `json:"rate_per_ms,omitempty"`
}

// Card is a mini-program card.
type Card struct {
	Title        string `json:"title"`
	ThumbMediaID string `json:"thumb_media_id"`
}

// MessageRow is a stored message.
type MessageRow struct {
	ID          string       `db:"id"`
	CampaignID  string       `db:"campaign_id"`
	OpenID      string       `db:"openid"`
	Kind        Kind         `db:"kind"`
	Payload     []byte       `db:"payload"` // JSON Message
	State       MessageState `db:"state"`
	Errcode     int          `db:"errcode"`
	Reason      string       `db:"reason"`
	Warnings    string       `db:"warnings"`
	WeChatMsgID *int64       `db:"wechat_msgid"`
	CreatedAt   time.Time    `db:"created_at"`
	SentAt      *time.Time   `db:"sent_at"`
	DeliveredAt *time.Time   `db:"delivered_at"`
	OpenedAt    *time.Time   `db:"opened_at"`
	Variant     string       `db:"variant"` // the split variant that sent it; "" without split
}

// DeepLink returns page with query and the tracking parameters omo_c
// (campaign) and omo_m (message) appended, URL-encoded. keys gives the
// order of query's keys; tracking keys in query are replaced.
func DeepLink(page string, keys []string, query map[string]string, campaign, message string) string {
	v := make([]string, 0, len(keys)+2)
	for _, k := range keys {
		if k == "omo_c" || k == "omo_m" {
			continue
		}
		v = append(v, escape(k)+"="+escape(query[k]))
	}
	v = append(v, "omo_c="+escape(campaign), "omo_m="+escape(message))
	return page + "?" + strings.Join(v, "&")
}

// escape is query escaping with spaces as %20, which both Go and the
// mini-program's decodeURIComponent read back as a space ("+" would stay "+").
func escape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// Prepared is a recipient of a schedule campaign's firing made ready to
// send: the message to deliver, or why the recipient gets nothing, or
// when to try again.
type Prepared struct {
	Message   *MessageRow // nil when skipped, failed to render, or nothing to send
	Skipped   string      // why the recipient gets nothing
	NotBefore time.Time   // quiet hours: not before this
	Mass      bool        // the recipient waits for its batch's mass send
}

// MassRequest is one message/mass/send call: a text or an uploaded article
// (mpnews media id) to 2..10,000 openids.
type MassRequest struct {
	ToUsers       []string
	Text          string
	MediaID       string
	IgnoreReprint bool
	ClientMsgID   string // WeChat sends a repeat within 24 h once
}
