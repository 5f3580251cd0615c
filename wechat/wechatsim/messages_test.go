package wechatsim

import (
	"encoding/xml"
	"testing"
	"time"
)

// parsed mirrors the field names WeChat uses (and silenceper's
// message.MixMessage reads).
type parsed struct {
	ToUserName   string  `xml:"ToUserName"`
	FromUserName string  `xml:"FromUserName"`
	CreateTime   int64   `xml:"CreateTime"`
	MsgType      string  `xml:"MsgType"`
	Event        string  `xml:"Event"`
	EventKey     string  `xml:"EventKey"`
	Ticket       string  `xml:"Ticket"`
	Latitude     string  `xml:"Latitude"`
	Longitude    string  `xml:"Longitude"`
	Precision    string  `xml:"Precision"`
	MenuID       string  `xml:"MenuId"`
	MsgID        int64   `xml:"MsgId"`
	TemplateID   int64   `xml:"MsgID"`
	Status       string  `xml:"Status"`
	Content      string  `xml:"Content"`
	LocationX    float64 `xml:"Location_X"`
	LocationY    float64 `xml:"Location_Y"`
	Scale        int     `xml:"Scale"`
	Label        string  `xml:"Label"`
	PicURL       string  `xml:"PicUrl"`
	MediaID      string  `xml:"MediaId"`
	Popup        []struct {
		TemplateID string `xml:"TemplateId"`
		Status     string `xml:"SubscribeStatusString"`
		Scene      int    `xml:"PopupScene"`
	} `xml:"SubscribeMsgPopupEvent>List"`
}

func TestMessageGolden(t *testing.T) {
	at := time.Unix(1700000000, 0)
	got := string(Subscribe("gh_1", "o1", at, "store:sh-001").XML())
	want := "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName>" +
		"<CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>" +
		"<EventKey><![CDATA[qrscene_store:sh-001]]></EventKey><Ticket><![CDATA[" + standInTicket("store:sh-001") + "]]></Ticket></xml>"
	if got != want {
		t.Errorf("Subscribe XML\n got %s\nwant %s", got, want)
	}
}

func TestMessageFields(t *testing.T) {
	at := time.Unix(1700000000, 0)
	tests := []struct {
		name  string
		m     Message
		check func(p parsed) bool
	}{
		{"plain subscribe", Subscribe("gh", "o", at, ""), func(p parsed) bool {
			return p.Event == "subscribe" && p.EventKey == "" && p.Ticket == ""
		}},
		{"unsubscribe", Unsubscribe("gh", "o", at), func(p parsed) bool { return p.Event == "unsubscribe" }},
		{"scan", Scan("gh", "o", at, "ref:abc"), func(p parsed) bool {
			return p.Event == "SCAN" && p.EventKey == "ref:abc" && p.Ticket != ""
		}},
		{"location event", Location("gh", "o", at, 31.2304, 121.4737, 30), func(p parsed) bool {
			return p.Event == "LOCATION" && p.Latitude == "31.230400" && p.Longitude == "121.473700" && p.Precision == "30.000000"
		}},
		{"click", Click("gh", "o", at, "MENU_COUPON"), func(p parsed) bool { return p.Event == "CLICK" && p.EventKey == "MENU_COUPON" }},
		{"view", View("gh", "o", at, "https://x.cn/?a=1&b=2", "401"), func(p parsed) bool {
			return p.Event == "VIEW" && p.EventKey == "https://x.cn/?a=1&b=2" && p.MenuID == "401"
		}},
		{"view mini-program", ViewMiniprogram("gh", "o", at, "pages/index/index", "402"), func(p parsed) bool {
			return p.Event == "view_miniprogram" && p.EventKey == "pages/index/index" && p.MenuID == "402"
		}},
		{"job finish", TemplateSendJobFinish("gh", "o", at, 200163836, "failed:user block"), func(p parsed) bool {
			return p.Event == "TEMPLATESENDJOBFINISH" && p.TemplateID == 200163836 && p.Status == "failed:user block"
		}},
		{"popup with two items", SubscribeMsgPopupEvent("gh", "o", at, []PopupItem{
			{TemplateId: "T1", SubscribeStatusString: "accept", PopupScene: 2},
			{TemplateId: "T2", SubscribeStatusString: "reject", PopupScene: 2}}), func(p parsed) bool {
			return p.Event == "subscribe_msg_popup_event" && len(p.Popup) == 2 &&
				p.Popup[0].TemplateID == "T1" && p.Popup[1].Status == "reject" && p.Popup[1].Scene == 2
		}},
		{"text with CDATA end", Text("gh", "o", at, "a]]>b <c> & 中文", 6054768590064713728), func(p parsed) bool {
			return p.MsgType == "text" && p.Content == "a]]>b <c> & 中文" && p.MsgID == 6054768590064713728
		}},
		{"location message", LocationMsg("gh", "o", at, 23.134521, 113.358803, 20, "广州", 42), func(p parsed) bool {
			return p.MsgType == "location" && p.LocationX == 23.134521 && p.LocationY == 113.358803 &&
				p.Scale == 20 && p.Label == "广州" && p.MsgID == 42
		}},
		{"image", Image("gh", "o", at, "http://mmbiz/x.jpg", "MEDIA", 43), func(p parsed) bool {
			return p.MsgType == "image" && p.PicURL == "http://mmbiz/x.jpg" && p.MediaID == "MEDIA" && p.MsgID == 43
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.m.XML()
			var p parsed
			if err := xml.Unmarshal(b, &p); err != nil {
				t.Fatalf("unmarshal: %v\n%s", err, b)
			}
			if p.ToUserName != "gh" || p.FromUserName != "o" || p.CreateTime != 1700000000 {
				t.Errorf("envelope %+v", p)
			}
			if !tt.check(p) {
				t.Errorf("fields wrong: %+v\n%s", p, b)
			}
		})
	}
}
