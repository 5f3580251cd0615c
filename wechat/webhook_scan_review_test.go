package wechat

import (
	"encoding/xml"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReviewScanPushTricky: inputs a reviewer picked at the edges of what
// the fast path accepts; whatever it accepts must read as encoding/xml
// reads it.
func TestReviewScanPushTricky(t *testing.T) {
	for _, in := range []string{
		`<xml><Content>a</Content><Content>b</Content></xml>`,
		`<xml><Content><![CDATA[]]></Content></xml>`,
		`<xml><Content><![CDATA[a]]><![CDATA[b]]>c</Content></xml>`,
		`<xml><Content>a]]</Content></xml>`,
		`<xml><Content><![CDATA[a]]]]>></Content></xml>`,
		`<xml><Content><![CDATA[]]]]><![CDATA[>]]></Content></xml>`,
		"<xml>\n\t</xml>\n",
		`<xml><MsgId>1</MsgId><MsgID>2</MsgID></xml>`,
		`<xml><a.b-c>x</a.b-c><Content>y</Content></xml>`,
		`<xml><xml>x</xml><Content>y</Content></xml>`,
		`<xml><Content>` + "\uFFFD\U0010FFFF\uE000" + `</Content></xml>`,
		`<xml><Content>` + "\uFFFE" + `</Content></xml>`,
		`<xml><Content>` + "\xed\xa0\x80" + `</Content></xml>`,
		`<xml><SubscribeMsgPopupEvent></SubscribeMsgPopupEvent></xml>`,
		`<xml><List><TemplateId>t</TemplateId></List></xml>`,
		`<xml><Content></Content ></xml>`,
		`<xml><Content>x</Content></xml><xml></xml>`,
		`<xml><content>x</content><CONTENT>y</CONTENT></xml>`,
		`<xml><Content>a<![CDATA[]]>b</Content></xml>`,
		`<xml><Content>a` + "\t" + `b</Content></xml>`,
		` <xml><Content>x</Content></xml>`,
		"\ufeff<xml><Content>x</Content></xml>",
	} {
		var fast pushXML
		if !scanPush([]byte(in), &fast) {
			continue
		}
		var slow pushXML
		if err := xml.Unmarshal([]byte(in), &slow); err != nil {
			t.Errorf("scanPush accepted %q, which encoding/xml refuses: %v", in, err)
			continue
		}
		if d := cmp.Diff(slow, fast); d != "" {
			t.Errorf("scanPush(%q) differs from encoding/xml (-xml +scan):\n%s", in, d)
		}
	}
}
