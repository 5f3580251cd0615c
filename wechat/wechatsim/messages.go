package wechatsim

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Event and message type names as WeChat writes them in MsgType and Event.
const (
	MsgTypeEvent    = "event"
	MsgTypeText     = "text"
	MsgTypeLocation = "location"
	MsgTypeImage    = "image"

	EventSubscribe       = "subscribe"
	EventUnsubscribe     = "unsubscribe"
	EventScan            = "SCAN"
	EventLocation        = "LOCATION"
	EventClick           = "CLICK"
	EventView            = "VIEW"
	EventViewMiniprogram = "view_miniprogram"
	EventTemplateJob     = "TEMPLATESENDJOBFINISH"
	EventSubscribePopup  = "subscribe_msg_popup_event"
)

// Message is one message or event as WeChat pushes it to an OA webhook.
// Build one with the constructors below (Subscribe, Text, ...); XML renders
// it field for field as WeChat does. Fields that do not belong to the
// message's type are ignored.
type Message struct {
	ToUserName   string // the OA's original ID (gh_...)
	FromUserName string // the follower's openid
	CreateTime   time.Time
	MsgType      string
	Event        string

	EventKey string // subscribe (qrscene_...), SCAN, CLICK, VIEW, view_miniprogram
	Ticket   string // subscribe through a QR code, SCAN
	MenuID   string // VIEW, view_miniprogram

	Latitude, Longitude, Precision float64 // LOCATION event

	MsgID  int64  // MsgId of a user message; MsgID of TEMPLATESENDJOBFINISH and MASSSENDJOBFINISH
	Status string // TEMPLATESENDJOBFINISH, MASSSENDJOBFINISH

	Mass *MassCounts // MASSSENDJOBFINISH

	Content string // text

	LocationX, LocationY float64 // location message
	Scale                int
	Label                string

	PicURL, MediaID string // image

	Popup []PopupItem // subscribe_msg_popup_event
}

// PopupItem is one <List> of a subscribe_msg_popup_event: the follower's
// answer for one template.
type PopupItem struct {
	TemplateId            string
	SubscribeStatusString string // accept or reject
	PopupScene            int    // 1 = H5 page, 2 = article
}

func event(oa, openid string, at time.Time, name string) Message {
	return Message{ToUserName: oa, FromUserName: openid, CreateTime: at, MsgType: MsgTypeEvent, Event: name}
}

// Subscribe is a follow. With a scene it is a follow through a parametric QR
// code: EventKey qrscene_<scene> plus a Ticket (a stand-in derived from the
// scene; Sim.ScanQRCode puts in the real one).
func Subscribe(oa, openid string, at time.Time, scene string) Message {
	m := event(oa, openid, at, EventSubscribe)
	if scene != "" {
		m.EventKey = "qrscene_" + scene
		m.Ticket = standInTicket(scene)
	}
	return m
}

// Unsubscribe is an unfollow.
func Unsubscribe(oa, openid string, at time.Time) Message {
	return event(oa, openid, at, EventUnsubscribe)
}

// Scan is an existing follower scanning a parametric QR code: the bare scene
// as EventKey plus a Ticket (a stand-in derived from the scene).
func Scan(oa, openid string, at time.Time, scene string) Message {
	m := event(oa, openid, at, EventScan)
	m.EventKey = scene
	m.Ticket = standInTicket(scene)
	return m
}

// Location is the LOCATION event (GCJ-02 coordinates, precision in metres).
func Location(oa, openid string, at time.Time, lat, lng, precision float64) Message {
	m := event(oa, openid, at, EventLocation)
	m.Latitude, m.Longitude, m.Precision = lat, lng, precision
	return m
}

// Click is a tap on a menu button of type click.
func Click(oa, openid string, at time.Time, key string) Message {
	m := event(oa, openid, at, EventClick)
	m.EventKey = key
	return m
}

// View is a tap on a menu button that opens url.
func View(oa, openid string, at time.Time, url, menuID string) Message {
	m := event(oa, openid, at, EventView)
	m.EventKey, m.MenuID = url, menuID
	return m
}

// ViewMiniprogram is a tap on a menu button that opens a mini-program page.
func ViewMiniprogram(oa, openid string, at time.Time, pagepath, menuID string) Message {
	m := event(oa, openid, at, EventViewMiniprogram)
	m.EventKey, m.MenuID = pagepath, menuID
	return m
}

// TemplateSendJobFinish reports the delivery of template message msgID;
// status is success, "failed:user block" or "failed: system failed".
func TemplateSendJobFinish(oa, openid string, at time.Time, msgID int64, status string) Message {
	m := event(oa, openid, at, EventTemplateJob)
	m.MsgID, m.Status = msgID, status
	return m
}

// SubscribeMsgPopupEvent is the follower's answer to a subscribe-notification
// pop-up, one <List> per template, as WeChat sends several.
func SubscribeMsgPopupEvent(oa, openid string, at time.Time, items []PopupItem) Message {
	m := event(oa, openid, at, EventSubscribePopup)
	m.Popup = append([]PopupItem(nil), items...)
	return m
}

// Text is a text message typed by the follower.
func Text(oa, openid string, at time.Time, content string, msgID int64) Message {
	return Message{ToUserName: oa, FromUserName: openid, CreateTime: at, MsgType: MsgTypeText,
		Content: content, MsgID: msgID}
}

// LocationMsg is a location the follower sends as a message (x = latitude,
// y = longitude, GCJ-02).
func LocationMsg(oa, openid string, at time.Time, x, y float64, scale int, label string, msgID int64) Message {
	return Message{ToUserName: oa, FromUserName: openid, CreateTime: at, MsgType: MsgTypeLocation,
		LocationX: x, LocationY: y, Scale: scale, Label: label, MsgID: msgID}
}

// Image is a picture the follower sends.
func Image(oa, openid string, at time.Time, picURL, mediaID string, msgID int64) Message {
	return Message{ToUserName: oa, FromUserName: openid, CreateTime: at, MsgType: MsgTypeImage,
		PicURL: picURL, MediaID: mediaID, MsgID: msgID}
}

// XML renders the message as WeChat pushes it: <xml> root, CDATA for
// strings, bare numbers, CreateTime in unix seconds.
func (m Message) XML() []byte {
	w := &xmlWriter{}
	w.b.WriteString("<xml>")
	w.cdata("ToUserName", m.ToUserName)
	w.cdata("FromUserName", m.FromUserName)
	w.raw("CreateTime", strconv.FormatInt(m.CreateTime.Unix(), 10))
	w.cdata("MsgType", m.MsgType)
	switch m.MsgType {
	case MsgTypeEvent:
		m.writeEvent(w)
	case MsgTypeText:
		w.cdata("Content", m.Content)
		w.raw("MsgId", strconv.FormatInt(m.MsgID, 10))
	case MsgTypeLocation:
		w.raw("Location_X", coord(m.LocationX))
		w.raw("Location_Y", coord(m.LocationY))
		w.raw("Scale", strconv.Itoa(m.Scale))
		w.cdata("Label", m.Label)
		w.raw("MsgId", strconv.FormatInt(m.MsgID, 10))
	case MsgTypeImage:
		w.cdata("PicUrl", m.PicURL)
		w.cdata("MediaId", m.MediaID)
		w.raw("MsgId", strconv.FormatInt(m.MsgID, 10))
	}
	w.b.WriteString("</xml>")
	return w.b.Bytes()
}

func (m Message) writeEvent(w *xmlWriter) {
	w.cdata("Event", m.Event)
	switch m.Event {
	case EventSubscribe, EventScan:
		// A plain follow carries an empty EventKey, as live traffic shows.
		w.cdata("EventKey", m.EventKey)
		if m.Ticket != "" {
			w.cdata("Ticket", m.Ticket)
		}
	case EventUnsubscribe:
		w.cdata("EventKey", m.EventKey)
	case EventLocation:
		w.raw("Latitude", coord(m.Latitude))
		w.raw("Longitude", coord(m.Longitude))
		w.raw("Precision", coord(m.Precision))
	case EventClick:
		w.cdata("EventKey", m.EventKey)
	case EventView, EventViewMiniprogram:
		w.cdata("EventKey", m.EventKey)
		w.raw("MenuId", m.MenuID)
	case EventTemplateJob:
		w.raw("MsgID", strconv.FormatInt(m.MsgID, 10))
		w.cdata("Status", m.Status)
	case EventMassJob:
		m.writeMassJob(w)
	case EventSubscribePopup:
		w.b.WriteString("<SubscribeMsgPopupEvent>")
		for _, it := range m.Popup {
			w.b.WriteString("<List>")
			w.cdata("TemplateId", it.TemplateId)
			w.cdata("SubscribeStatusString", it.SubscribeStatusString)
			w.raw("PopupScene", strconv.Itoa(it.PopupScene))
			w.b.WriteString("</List>")
		}
		w.b.WriteString("</SubscribeMsgPopupEvent>")
	default:
		if m.EventKey != "" {
			w.cdata("EventKey", m.EventKey)
		}
	}
}

// coord formats a coordinate the way WeChat does: six decimals.
func coord(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }

type xmlWriter struct{ b bytes.Buffer }

// cdata writes <name><![CDATA[v]]></name>, splitting any "]]>" in v so the
// section stays well formed.
func (w *xmlWriter) cdata(name, v string) {
	w.b.WriteString("<" + name + "><![CDATA[")
	w.b.WriteString(strings.ReplaceAll(v, "]]>", "]]]]><![CDATA[>"))
	w.b.WriteString("]]></" + name + ">")
}

// raw writes <name>v</name> with v escaped as XML text.
func (w *xmlWriter) raw(name, v string) {
	w.b.WriteString("<" + name + ">")
	w.b.WriteString(xmlEscaper.Replace(v))
	w.b.WriteString("</" + name + ">")
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// standInTicket derives a ticket-shaped string from a scene, for events built
// without a real qrcode/create call.
func standInTicket(scene string) string {
	sum := sha1.Sum([]byte(scene))
	return "gQ" + base64.StdEncoding.EncodeToString(sum[:15])
}
