package wechat_test

import (
	"strings"
	"testing"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
	"github.com/omohq/omo/wechat"
)

// massJobFinish is a MASSSENDJOBFINISH in the shape WeChat documents, with
// the copyright-check block omo does not read.
const massJobFinish = `<xml>
<ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>
<FromUserName><![CDATA[oMassAssistant]]></FromUserName>
<CreateTime>1764554400</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[MASSSENDJOBFINISH]]></Event>
<MsgID>1000001625</MsgID>
<Status><![CDATA[send success]]></Status>
<TotalCount>10000</TotalCount>
<FilterCount> 9990 </FilterCount>
<SentCount>9980</SentCount>
<ErrorCount>10</ErrorCount>
<CopyrightCheckResult><Count>0</Count><ResultList></ResultList><CheckState>1</CheckState></CopyrightCheckResult>
</xml>`

func TestParseMassSendJobFinish(t *testing.T) {
	ev, err := wechat.ParseEvent([]byte(massJobFinish))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != events.MassSendJobFinish || ev.MsgID != 1000001625 || ev.Status != "send success" ||
		ev.TotalCount != 10000 || ev.FilterCount != 9990 || ev.SentCount != 9980 || ev.ErrorCount != 10 || ev.IsMessage {
		t.Errorf("ParseEvent = %+v", ev)
	}
	for _, field := range []string{"TotalCount", "FilterCount", "SentCount", "ErrorCount"} {
		bad := strings.Replace(massJobFinish, "<"+field+">", "<"+field+">x", 1)
		if _, err := wechat.ParseEvent([]byte(bad)); !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s not a number: err = %v, want Invalid naming the field", field, err)
		}
	}
}
