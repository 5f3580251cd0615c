package events

import (
	"testing"
	"time"
)

func TestDedupeKey(t *testing.T) {
	at := time.Unix(1700000000, 0)
	tests := []struct {
		name string
		ev   Event
		want string
	}{
		{"message uses MsgId", Event{IsMessage: true, Type: Text, OpenID: "o1", CreatedAt: at, MsgID: 42}, "m:42"},
		{"event uses from+time+event+key", Event{Type: Subscribe, OpenID: "o1", CreatedAt: at, EventKey: "qrscene_store:sh-001"}, "e:o1|1700000000|subscribe|qrscene_store:sh-001"},
		{"event without key", Event{Type: Unsubscribe, OpenID: "o1", CreatedAt: at}, "e:o1|1700000000|unsubscribe|"},
		{"job finish adds msgid", Event{Type: TemplateSendJobFinish, OpenID: "o1", CreatedAt: at, MsgID: 7}, "e:o1|1700000000|TEMPLATESENDJOBFINISH||7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.ev.DedupeKey(); got != tt.want {
				t.Errorf("DedupeKey() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScene(t *testing.T) {
	tests := []struct {
		ev   Event
		want string
	}{
		{Event{Type: Subscribe, EventKey: "qrscene_store:sh-001"}, "store:sh-001"},
		{Event{Type: Subscribe}, ""},
		{Event{Type: Scan, EventKey: "ref:ABCD"}, "ref:ABCD"},
		{Event{Type: Click, EventKey: "menu_1"}, ""},
	}
	for _, tt := range tests {
		if got := tt.ev.Scene(); got != tt.want {
			t.Errorf("Scene(%+v) = %q, want %q", tt.ev, got, tt.want)
		}
	}
}
