package wechat_test

import (
	"encoding/xml"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/internal/testenv"
	"github.com/omohq/omo/wechat"
	"github.com/omohq/omo/wechat/wechatsim"
)

// WeChat's own WXBizMsgCrypt sample (the vector every port of the SDK tests).
const (
	vecToken  = "pamtest"
	vecKey    = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
	vecAppID  = "wxb11529c136998cb6"
	vecRandom = "aaaabbbbccccdddd"
	vecPlain  = "我是中文abcd123"
	vecCipher = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
)

// The OA the other tests play (testenv's).
const (
	hookToken = testenv.OAToken
	hookKey   = testenv.OAAESKey
	hookAppID = testenv.OAAppID
	oaGh      = testenv.OAOriginalID
)

func newCodec(t *testing.T, cfg wechat.WebhookConfig) *wechat.Codec {
	t.Helper()
	c, err := wechat.NewCodec(cfg)
	if err != nil {
		t.Fatalf("NewCodec(%+v): %v", cfg, err)
	}
	return c
}

func safeCodec(t *testing.T) *wechat.Codec {
	return newCodec(t, wechat.WebhookConfig{AppID: hookAppID, Token: hookToken, EncodingAESKey: hookKey})
}

// signed returns the query WeChat puts on a push: signature, timestamp, nonce.
func signed(token, ts, nonce string) url.Values {
	q := url.Values{}
	q.Set("signature", wechatsim.Signature(token, ts, nonce))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	return q
}

// sealed returns a safe-mode envelope of enc and its query.
func sealed(token, ts, nonce, enc string) (url.Values, []byte) {
	q := signed(token, ts, nonce)
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", wechatsim.MsgSignature(token, ts, nonce, enc))
	body := "<xml><ToUserName><![CDATA[" + oaGh + "]]></ToUserName><Encrypt><![CDATA[" + enc + "]]></Encrypt></xml>"
	return q, []byte(body)
}

func TestCodecOpensOfficialVector(t *testing.T) {
	// The simulator's independent AES must produce the vector too, so the
	// vector, the simulator and the codec all agree.
	enc, err := wechatsim.Encrypt(vecKey, vecAppID, []byte(vecRandom), []byte(vecPlain))
	if err != nil {
		t.Fatal(err)
	}
	if enc != vecCipher {
		t.Fatalf("wechatsim.Encrypt = %q, want the official %q", enc, vecCipher)
	}
	c := newCodec(t, wechat.WebhookConfig{AppID: vecAppID, Token: vecToken, EncodingAESKey: vecKey})
	q, body := sealed(vecToken, "1409304348", "xxxxxx", vecCipher)
	got, err := c.Open(q, body)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if string(got) != vecPlain {
		t.Errorf("Open = %q, want %q", got, vecPlain)
	}
}

func TestNewCodecRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  wechat.WebhookConfig
		want string // in the message
	}{
		{"no token", wechat.WebhookConfig{AppID: hookAppID}, "token"},
		{"short key", wechat.WebhookConfig{AppID: hookAppID, Token: "t", EncodingAESKey: "abc"}, "encoding_aes_key"},
		{"key not base64", wechat.WebhookConfig{AppID: hookAppID, Token: "t", EncodingAESKey: strings.Repeat("!", 43)}, "encoding_aes_key"},
		{"safe mode without appid", wechat.WebhookConfig{Token: "t", EncodingAESKey: hookKey}, "app_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := wechat.NewCodec(tt.cfg)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("NewCodec = %v, want an Invalid error", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not name %q", err, tt.want)
			}
		})
	}
}

func TestVerifyURL(t *testing.T) {
	c := newCodec(t, wechat.WebhookConfig{Token: hookToken})
	good := signed(hookToken, "1700000000", "123456")
	good.Set("echostr", "5837397363254947")
	got, err := c.VerifyURL(good)
	if err != nil || got != "5837397363254947" {
		t.Errorf("VerifyURL(good) = %q, %v; want the echostr, nil", got, err)
	}
	bad := map[string]url.Values{
		"wrong token":    signed("other", "1700000000", "123456"),
		"no signature":   {"timestamp": {"1700000000"}, "nonce": {"123456"}, "echostr": {"x"}},
		"tampered nonce": func() url.Values { q := signed(hookToken, "1700000000", "123456"); q.Set("nonce", "1"); return q }(),
		"empty query":    {},
		"upper-case hex": func() url.Values {
			q := signed(hookToken, "1", "2")
			q.Set("signature", strings.ToUpper(q.Get("signature")))
			return q
		}(),
	}
	for name, q := range bad {
		t.Run(name, func(t *testing.T) {
			got, err := c.VerifyURL(q)
			if !errs.Is(err, errs.Unauthorized) || got != "" {
				t.Errorf("VerifyURL = %q, %v; want \"\", Unauthorized", got, err)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	plain := wechatsim.Text(oaGh, "o-open", time.Unix(1700000000, 0), "hi", 1).XML()
	enc := func(key, appID string) string {
		s, err := wechatsim.Encrypt(key, appID, []byte("0123456789abcdef"), plain)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	goodQ, goodBody := sealed(hookToken, "1700000000", "42", enc(hookKey, hookAppID))
	tests := []struct {
		name  string
		codec *wechat.Codec
		q     url.Values
		body  []byte
		want  []byte    // when the push is accepted
		kind  errs.Kind // else
	}{
		{"plaintext", newCodec(t, wechat.WebhookConfig{Token: hookToken}), signed(hookToken, "1", "2"), plain, plain, 0},
		{"safe mode", safeCodec(t), goodQ, goodBody, plain, 0},
		{"bad signature", safeCodec(t), signed("nope", "1", "2"), plain, nil, errs.Unauthorized},
		{"bad signature in safe mode", safeCodec(t), func() url.Values {
			q, _ := sealed(hookToken, "1700000000", "42", enc(hookKey, hookAppID))
			q.Set("signature", wechatsim.Signature("nope", "1700000000", "42"))
			return q
		}(), goodBody, nil, errs.Unauthorized},
		{"bad msg_signature", safeCodec(t), func() url.Values {
			q, _ := sealed(hookToken, "1700000000", "42", enc(hookKey, hookAppID))
			q.Set("msg_signature", wechatsim.MsgSignature("nope", "1700000000", "42", enc(hookKey, hookAppID)))
			return q
		}(), goodBody, nil, errs.Unauthorized},
		{"missing msg_signature", safeCodec(t), func() url.Values {
			q, _ := sealed(hookToken, "1700000000", "42", enc(hookKey, hookAppID))
			q.Del("msg_signature")
			return q
		}(), goodBody, nil, errs.Unauthorized},
		{"Encrypt swapped after signing", safeCodec(t), goodQ,
			[]byte("<xml><Encrypt><![CDATA[" + enc(hookKey, "wxother") + "]]></Encrypt></xml>"), nil, errs.Unauthorized},
		{"encrypted for another appid", safeCodec(t), func() url.Values { q, _ := sealed(hookToken, "1", "2", enc(hookKey, "wxother")); return q }(),
			func() []byte { _, b := sealed(hookToken, "1", "2", enc(hookKey, "wxother")); return b }(), nil, errs.Invalid},
		{"encrypted with another key", safeCodec(t), func() url.Values { q, _ := sealed(hookToken, "1", "2", enc(vecKey, hookAppID)); return q }(),
			func() []byte { _, b := sealed(hookToken, "1", "2", enc(vecKey, hookAppID)); return b }(), nil, errs.Invalid},
		{"Encrypt not base64", safeCodec(t), func() url.Values { q, _ := sealed(hookToken, "1", "2", "%%%"); return q }(),
			func() []byte { _, b := sealed(hookToken, "1", "2", "%%%"); return b }(), nil, errs.Invalid},
		{"no Encrypt", safeCodec(t), func() url.Values { q, _ := sealed(hookToken, "1", "2", ""); return q }(),
			[]byte("<xml><ToUserName>gh</ToUserName></xml>"), nil, errs.Invalid},
		{"envelope not XML", safeCodec(t), goodQ, []byte("<xml><Encrypt>"), nil, errs.Invalid},
		{"safe-mode push to a plaintext codec", newCodec(t, wechat.WebhookConfig{Token: hookToken}), goodQ, goodBody, nil, errs.Invalid},
		// The signature does not cover the body: a safe-mode OA must not take
		// plaintext, or one leaked signed URL would carry any body.
		{"plaintext push to a safe-mode codec", safeCodec(t), signed(hookToken, "1", "2"), plain, nil, errs.Unauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.codec.Open(tt.q, tt.body)
			if tt.want != nil {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				if string(got) != string(tt.want) {
					t.Errorf("Open = %q, want %q", got, tt.want)
				}
				return
			}
			if !errs.Is(err, tt.kind) {
				t.Errorf("Open = %q, %v; want a %v error", got, err, tt.kind)
			}
		})
	}
}

// parseCase is one builder's message and the Event it must parse into.
type parseCase struct {
	name string
	msg  wechatsim.Message
	want events.Event
}

// parseCases covers every message and event type the simulator builds.
func parseCases() []parseCase {
	at := time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC)
	sub := wechatsim.Subscribe(oaGh, "o-sub", at, "store:sh-001")
	scan := wechatsim.Scan(oaGh, "o-scan", at, "ref:AB12CD")
	base := func(openid string, typ events.Type) events.Event {
		return events.Event{Type: typ, ToUser: oaGh, OpenID: openid, CreatedAt: at}
	}
	with := func(e events.Event, f func(*events.Event)) events.Event { f(&e); return e }
	popups := []wechatsim.PopupItem{
		{TemplateId: "tpl-accept", SubscribeStatusString: "accept", PopupScene: 2},
		{TemplateId: "tpl-reject", SubscribeStatusString: "reject", PopupScene: 1},
		{TemplateId: "tpl-zero", SubscribeStatusString: "accept", PopupScene: 0},
	}
	return []parseCase{
		{"subscribe plain", wechatsim.Subscribe(oaGh, "o-plain", at, ""), base("o-plain", events.Subscribe)},
		{"subscribe through QR code", sub, with(base("o-sub", events.Subscribe), func(e *events.Event) {
			e.EventKey, e.Ticket = "qrscene_store:sh-001", sub.Ticket
		})},
		{"unsubscribe", wechatsim.Unsubscribe(oaGh, "o-unsub", at), base("o-unsub", events.Unsubscribe)},
		{"SCAN", scan, with(base("o-scan", events.Scan), func(e *events.Event) {
			e.EventKey, e.Ticket = "ref:AB12CD", scan.Ticket
		})},
		{"LOCATION", wechatsim.Location(oaGh, "o-loc", at, 31.230416, 121.473701, 65), with(base("o-loc", events.Location), func(e *events.Event) {
			e.Lat, e.Lng, e.Precision = 31.230416, 121.473701, 65
		})},
		{"CLICK", wechatsim.Click(oaGh, "o-click", at, "MENU_COUPONS"), with(base("o-click", events.Click), func(e *events.Event) {
			e.EventKey = "MENU_COUPONS"
		})},
		{"VIEW", wechatsim.View(oaGh, "o-view", at, "https://example.com/a?b=1&c=2", "410000001"), with(base("o-view", events.View), func(e *events.Event) {
			e.EventKey, e.MenuID = "https://example.com/a?b=1&c=2", "410000001"
		})},
		{"view_miniprogram", wechatsim.ViewMiniprogram(oaGh, "o-mini", at, "pages/coupon/list", "410000002"), with(base("o-mini", events.ViewMiniprogram), func(e *events.Event) {
			e.EventKey, e.MenuID = "pages/coupon/list", "410000002"
		})},
		{"TEMPLATESENDJOBFINISH", wechatsim.TemplateSendJobFinish(oaGh, "o-job", at, 2907390112923893762, "failed:user block"), with(base("o-job", events.TemplateSendJobFinish), func(e *events.Event) {
			e.MsgID, e.Status = 2907390112923893762, "failed:user block"
		})},
		{"subscribe_msg_popup_event", wechatsim.SubscribeMsgPopupEvent(oaGh, "o-popup", at, popups), with(base("o-popup", events.SubscribeMsgPopup), func(e *events.Event) {
			e.Popups = []events.Popup{
				{TemplateID: "tpl-accept", Status: "accept", Scene: 2},
				{TemplateID: "tpl-reject", Status: "reject", Scene: 1},
				{TemplateID: "tpl-zero", Status: "accept", Scene: 0},
			}
		})},
		{"text", wechatsim.Text(oaGh, "o-text", at, " 优惠券 <&> ]]> ", 23456789012345), with(base("o-text", events.Text), func(e *events.Event) {
			e.IsMessage, e.Content, e.MsgID = true, " 优惠券 <&> ]]> ", 23456789012345
		})},
		{"location message", wechatsim.LocationMsg(oaGh, "o-locmsg", at, 39.908823, 116.39747, 15, "北京市东城区", 23456789012346), with(base("o-locmsg", events.LocationMsg), func(e *events.Event) {
			e.IsMessage, e.Lat, e.Lng, e.Scale, e.Label, e.MsgID = true, 39.908823, 116.39747, 15, "北京市东城区", 23456789012346
		})},
		{"image", wechatsim.Image(oaGh, "o-image", at, "http://mmbiz.qpic.cn/x.jpg", "media-1", 23456789012347), with(base("o-image", events.Image), func(e *events.Event) {
			e.IsMessage, e.PicURL, e.MediaID, e.MsgID = true, "http://mmbiz.qpic.cn/x.jpg", "media-1", 23456789012347
		})},
	}
}

func TestParseEventEveryType(t *testing.T) {
	for _, tt := range parseCases() {
		t.Run(tt.name, func(t *testing.T) {
			got, err := wechat.ParseEvent(tt.msg.XML())
			if err != nil {
				t.Fatalf("ParseEvent(%s): %v", tt.msg.XML(), err)
			}
			if diff := cmp.Diff(&tt.want, got); diff != "" {
				t.Errorf("ParseEvent(%s) mismatch (-want +got):\n%s", tt.msg.XML(), diff)
			}
		})
	}
}

func TestParseEventRejects(t *testing.T) {
	at := time.Unix(1700000000, 0)
	text := string(wechatsim.Text(oaGh, "o1", at, "hi", 1).XML())
	loc := string(wechatsim.Location(oaGh, "o1", at, 31.2, 121.4, 10).XML())
	locMsg := string(wechatsim.LocationMsg(oaGh, "o1", at, 31.2, 121.4, 15, "x", 2).XML())
	job := string(wechatsim.TemplateSendJobFinish(oaGh, "o1", at, 7, "success").XML())
	popup := string(wechatsim.SubscribeMsgPopupEvent(oaGh, "o1", at, []wechatsim.PopupItem{{TemplateId: "t", SubscribeStatusString: "accept", PopupScene: 2}}).XML())
	sub := string(wechatsim.Subscribe(oaGh, "o1", at, "").XML())
	tests := []struct {
		name, xml string
		field     string // named in the message
	}{
		{"empty", "", "malformed"},
		{"not XML", "hello", "malformed"},
		{"truncated", text[:len(text)-10], "malformed"},
		{"unclosed CDATA", "<xml><FromUserName><![CDATA[o1</FromUserName></xml>", "malformed"},
		{"missing FromUserName", strings.Replace(text, "<FromUserName><![CDATA[o1]]></FromUserName>", "", 1), "FromUserName"},
		{"empty FromUserName", strings.Replace(text, "<![CDATA[o1]]>", "", 1), "FromUserName"},
		{"missing MsgType", strings.Replace(text, "<MsgType><![CDATA[text]]></MsgType>", "", 1), "MsgType"},
		{"event without Event", strings.Replace(sub, "<Event><![CDATA[subscribe]]></Event>", "", 1), "Event"},
		{"missing CreateTime", strings.Replace(text, "<CreateTime>1700000000</CreateTime>", "", 1), "CreateTime"},
		{"bad CreateTime", strings.Replace(text, "1700000000", "17e8", 1), "CreateTime"},
		{"CreateTime overflows", strings.Replace(text, "1700000000", "99999999999999999999", 1), "CreateTime"},
		{"NaN latitude", strings.Replace(loc, "31.200000", "NaN", 1), "Latitude"},
		{"infinite longitude", strings.Replace(loc, "121.400000", "+Inf", 1), "Longitude"},
		{"bad precision", strings.Replace(loc, "10.000000", "ten", 1), "Precision"},
		{"NaN Location_X", strings.Replace(locMsg, "31.200000", "nan", 1), "Location_X"},
		{"bad Scale", strings.Replace(locMsg, "<Scale>15</Scale>", "<Scale>1.5</Scale>", 1), "Scale"},
		{"bad MsgId", strings.Replace(text, "<MsgId>1</MsgId>", "<MsgId>x1</MsgId>", 1), "MsgId"},
		{"bad MsgID of a job", strings.Replace(job, "<MsgID>7</MsgID>", "<MsgID>7a</MsgID>", 1), "MsgID"},
		{"bad PopupScene", strings.Replace(popup, "<PopupScene>2</PopupScene>", "<PopupScene>two</PopupScene>", 1), "PopupScene"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := wechat.ParseEvent([]byte(tt.xml))
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("ParseEvent(%q) = %+v, %v; want an Invalid error", tt.xml, ev, err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name %q", err, tt.field)
			}
		})
	}
}

func TestParseEventTrimsNumbers(t *testing.T) {
	x := "<xml><FromUserName>o1</FromUserName><CreateTime>\n 1700000000 \n</CreateTime><MsgType>text</MsgType><MsgId> 42 </MsgId></xml>"
	ev, err := wechat.ParseEvent([]byte(x))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ev.CreatedAt, time.Unix(1700000000, 0).UTC(); !got.Equal(want) || ev.MsgID != 42 {
		t.Errorf("CreatedAt, MsgID = %v, %d; want %v, 42", got, ev.MsgID, want)
	}
}

// reply is a decoded passive text reply.
type reply struct {
	ToUserName, FromUserName, MsgType, Content string
	CreateTime                                 int64
}

func TestTextReply(t *testing.T) {
	ev := &events.Event{Type: events.Text, ToUser: oaGh, OpenID: "o-reply", IsMessage: true, MsgID: 9}
	now := time.Date(2026, 12, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	text := "欢迎! <b>&amp; ]]> done"
	want := reply{ToUserName: "o-reply", FromUserName: oaGh, MsgType: "text", Content: text, CreateTime: now.Unix()}

	t.Run("plaintext", func(t *testing.T) {
		c := newCodec(t, wechat.WebhookConfig{Token: hookToken})
		out, err := c.TextReply(signed(hookToken, "1", "2"), ev, text, now)
		if err != nil {
			t.Fatal(err)
		}
		var got reply
		if err := xml.Unmarshal(out, &got); err != nil {
			t.Fatalf("reply %q is not XML: %v", out, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("reply mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("safe mode", func(t *testing.T) {
		c := safeCodec(t)
		q, _ := sealed(hookToken, "1700000000", "42", "x")
		out, err := c.TextReply(q, ev, text, now)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			XMLName                          xml.Name `xml:"xml"`
			Encrypt, MsgSignature, TimeStamp string
			Nonce                            string
		}
		if err := xml.Unmarshal(out, &env); err != nil {
			t.Fatalf("reply %q is not XML: %v", out, err)
		}
		if env.TimeStamp != strconv.FormatInt(now.Unix(), 10) || env.Nonce == "" {
			t.Errorf("TimeStamp, Nonce = %q, %q; want %d and a nonce", env.TimeStamp, env.Nonce, now.Unix())
		}
		if got, want := env.MsgSignature, wechatsim.MsgSignature(hookToken, env.TimeStamp, env.Nonce, env.Encrypt); got != want {
			t.Errorf("MsgSignature = %q, want %q", got, want)
		}
		plain, appID, err := wechatsim.Decrypt(hookKey, env.Encrypt)
		if err != nil {
			t.Fatalf("wechatsim.Decrypt: %v", err)
		}
		if appID != hookAppID {
			t.Errorf("appid in the ciphertext = %q, want %q", appID, hookAppID)
		}
		var got reply
		if err := xml.Unmarshal(plain, &got); err != nil {
			t.Fatalf("decrypted reply %q is not XML: %v", plain, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("decrypted reply mismatch (-want +got):\n%s", diff)
		}
		// Two replies use fresh randomness: same text, different ciphertext.
		out2, err := c.TextReply(q, ev, text, now)
		if err != nil {
			t.Fatal(err)
		}
		if string(out2) == string(out) {
			t.Errorf("two safe-mode replies are identical: %s", out)
		}
	})
}
