package wechat

import (
	"encoding/xml"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
)

// pushXML is every field omo reads from a pushed message or event.
type pushXML struct {
	ToUserName   string `xml:"ToUserName"`
	FromUserName string `xml:"FromUserName"`
	CreateTime   string `xml:"CreateTime"`
	MsgType      string `xml:"MsgType"`
	Event        string `xml:"Event"`
	MsgID        string `xml:"MsgId"`
	TemplMsgID   string `xml:"MsgID"` // TEMPLATESENDJOBFINISH and MASSSENDJOBFINISH spell it MsgID
	EventKey     string `xml:"EventKey"`
	Ticket       string `xml:"Ticket"`
	Content      string `xml:"Content"`
	Latitude     string `xml:"Latitude"`
	Longitude    string `xml:"Longitude"`
	Precision    string `xml:"Precision"`
	LocationX    string `xml:"Location_X"`
	LocationY    string `xml:"Location_Y"`
	Scale        string `xml:"Scale"`
	Label        string `xml:"Label"`
	PicURL       string `xml:"PicUrl"`
	MediaID      string `xml:"MediaId"`
	MenuID       string `xml:"MenuId"`
	Status       string `xml:"Status"`
	TotalCount   string `xml:"TotalCount"`
	FilterCount  string `xml:"FilterCount"`
	SentCount    string `xml:"SentCount"`
	ErrorCount   string `xml:"ErrorCount"`
	Popups       []struct {
		TemplateID string `xml:"TemplateId"`
		Status     string `xml:"SubscribeStatusString"`
		Scene      string `xml:"PopupScene"`
	} `xml:"SubscribeMsgPopupEvent>List"`
}

// ParseEvent turns a plaintext push into an Event. Malformed XML, or a push
// without the fields every push has (FromUserName, CreateTime, MsgType), or a
// number that is not one, is an Invalid error that says which field.
func ParseEvent(plain []byte) (*events.Event, error) {
	const op = "wechat.parse"
	var p pushXML
	if !scanPush(plain, &p) {
		p = pushXML{}
		if err := xml.Unmarshal(plain, &p); err != nil {
			return nil, errs.E(errs.Invalid, op, "malformed XML: %v", err)
		}
	}
	if p.FromUserName == "" {
		return nil, errs.E(errs.Invalid, op, "FromUserName is missing")
	}
	if p.MsgType == "" {
		return nil, errs.E(errs.Invalid, op, "MsgType is missing")
	}
	ct, err := strconv.ParseInt(strings.TrimSpace(p.CreateTime), 10, 64)
	if err != nil {
		return nil, errs.E(errs.Invalid, op, "CreateTime %q is not a unix time", p.CreateTime)
	}
	ev := &events.Event{
		ToUser:    p.ToUserName,
		OpenID:    p.FromUserName,
		CreatedAt: time.Unix(ct, 0).UTC(),
		EventKey:  p.EventKey,
		Ticket:    p.Ticket,
		Content:   p.Content,
		Label:     p.Label,
		PicURL:    p.PicURL,
		MediaID:   p.MediaID,
		MenuID:    p.MenuID,
		Status:    p.Status,
	}
	n := numbers{op: op}
	if p.MsgType == "event" {
		if p.Event == "" {
			return nil, errs.E(errs.Invalid, op, "Event is missing")
		}
		ev.Type = events.Type(p.Event)
		ev.MsgID = n.int("MsgID", p.TemplMsgID)
		ev.Lat = n.float("Latitude", p.Latitude)
		ev.Lng = n.float("Longitude", p.Longitude)
		ev.Precision = n.float("Precision", p.Precision)
		ev.TotalCount = int(n.int("TotalCount", p.TotalCount))
		ev.FilterCount = int(n.int("FilterCount", p.FilterCount))
		ev.SentCount = int(n.int("SentCount", p.SentCount))
		ev.ErrorCount = int(n.int("ErrorCount", p.ErrorCount))
	} else {
		ev.IsMessage = true
		ev.Type = events.Type(p.MsgType)
		ev.MsgID = n.int("MsgId", p.MsgID)
		ev.Lat = n.float("Location_X", p.LocationX)
		ev.Lng = n.float("Location_Y", p.LocationY)
		ev.Scale = int(n.int("Scale", p.Scale))
	}
	for _, it := range p.Popups {
		ev.Popups = append(ev.Popups, events.Popup{
			TemplateID: it.TemplateID,
			Status:     it.Status,
			Scene:      int(n.int("PopupScene", it.Scene)),
		})
	}
	if n.err != nil {
		return nil, n.err
	}
	return ev, nil
}

// numbers parses optional numeric fields, keeping the first error.
type numbers struct {
	op  string
	err error
}

func (n *numbers) int(field, s string) int64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil && n.err == nil {
		n.err = errs.E(errs.Invalid, n.op, "%s %q is not an integer", field, s)
	}
	return v
}

func (n *numbers) float(field, s string) float64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
		err = errs.E(errs.Invalid, n.op, "not finite")
	}
	if err != nil && n.err == nil {
		n.err = errs.E(errs.Invalid, n.op, "%s %q is not a number", field, s)
	}
	return v
}
