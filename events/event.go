package events

import (
	"strconv"
	"strings"
	"time"
)

// Type is what happened: for pushed messages the MsgType ("text",
// "location", "image", ...), for pushed events the Event name as WeChat
// spells it ("subscribe", "SCAN", "LOCATION", ...).
type Type string

// The types omo understands. Others are stored and otherwise ignored.
const (
	Subscribe             Type = "subscribe"
	Unsubscribe           Type = "unsubscribe"
	Scan                  Type = "SCAN"
	Location              Type = "LOCATION"
	Click                 Type = "CLICK"
	View                  Type = "VIEW"
	ViewMiniprogram       Type = "view_miniprogram"
	TemplateSendJobFinish Type = "TEMPLATESENDJOBFINISH"
	MassSendJobFinish     Type = "MASSSENDJOBFINISH"
	SubscribeMsgPopup     Type = "subscribe_msg_popup_event"
	Text                  Type = "text"
	LocationMsg           Type = "location"
	Image                 Type = "image"
)

// Event is one push from the Official Account, message or event.
type Event struct {
	IsMessage bool      // true for MsgType != event (MsgID is then set)
	Type      Type      // see the constants
	ToUser    string    // the OA's original id (gh_...)
	OpenID    string    // FromUserName: the follower
	CreatedAt time.Time // CreateTime, whole seconds
	MsgID     int64     // messages, TEMPLATESENDJOBFINISH (the send's msgid), MASSSENDJOBFINISH (its msg_id)

	EventKey string // raw EventKey (qrscene_<scene> on a subscribe through a QR code)
	Ticket   string // QR code ticket

	Content string // text

	Lat, Lng  float64 // LOCATION event (Latitude/Longitude) or location message (Location_X/Location_Y); GCJ-02
	Precision float64 // LOCATION event
	Scale     int     // location message
	Label     string  // location message

	PicURL, MediaID string // image

	MenuID string // VIEW / view_miniprogram

	Status string // TEMPLATESENDJOBFINISH: success, failed:user block, failed: system failed; MASSSENDJOBFINISH: send success, send fail, err(N)

	// MASSSENDJOBFINISH: openids in the send, those left after WeChat's
	// filters (refusals, the monthly cap), and of those sent and failed.
	TotalCount, FilterCount, SentCount, ErrorCount int

	Popups []Popup // subscribe_msg_popup_event: every List item
}

// Popup is one item of a subscribe_msg_popup_event: the follower's answer to
// one subscribe-notification template.
type Popup struct {
	TemplateID string
	Status     string // accept | reject
	Scene      int    // PopupScene: 0 on a web page, 1 in a message, 2 in the mini-program... as WeChat sends it
}

// DedupeKey identifies the push across WeChat's retries: the MsgId for
// messages, FromUserName+CreateTime+Event+EventKey for events (DESIGN.md §4).
func (e *Event) DedupeKey() string {
	if e.IsMessage && e.MsgID != 0 {
		return "m:" + strconv.FormatInt(e.MsgID, 10)
	}
	var b strings.Builder
	b.Grow(len(e.OpenID) + len(e.Type) + len(e.EventKey) + 24)
	b.WriteString("e:")
	b.WriteString(e.OpenID)
	b.WriteByte('|')
	b.WriteString(strconv.FormatInt(e.CreatedAt.Unix(), 10))
	b.WriteByte('|')
	b.WriteString(string(e.Type))
	b.WriteByte('|')
	b.WriteString(e.EventKey)
	if e.Type == TemplateSendJobFinish || e.Type == MassSendJobFinish {
		// Two sends finishing in the same second have the same key otherwise.
		b.WriteByte('|')
		b.WriteString(strconv.FormatInt(e.MsgID, 10))
	}
	return b.String()
}

// Scene is the QR scene the event came through: the EventKey without the
// qrscene_ prefix on a subscribe, the bare EventKey on a SCAN, "" otherwise.
func (e *Event) Scene() string {
	switch e.Type {
	case Subscribe:
		return strings.TrimPrefix(e.EventKey, "qrscene_")
	case Scan:
		return e.EventKey
	}
	return ""
}
