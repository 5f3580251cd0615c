package wechatsim

import (
	"bytes"
	"image/jpeg"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func qrBody(action string, expire int, scene map[string]any) map[string]any {
	b := map[string]any{"action_name": action, "action_info": map[string]any{"scene": scene}}
	if expire != 0 {
		b["expire_seconds"] = expire
	}
	return b
}

func TestQRCodeCreate(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		body       map[string]any
		want       int
		wantExpire any
	}{
		{"temp string", qrBody("QR_STR_SCENE", 604800, map[string]any{"scene_str": "ref:abc"}), 0, float64(604800)},
		{"temp id", qrBody("QR_SCENE", 0, map[string]any{"scene_id": 123}), 0, float64(60)},
		{"temp capped at 30 days", qrBody("QR_STR_SCENE", 9999999, map[string]any{"scene_str": "x"}), 0, float64(2592000)},
		{"permanent string", qrBody("QR_LIMIT_STR_SCENE", 0, map[string]any{"scene_str": "store:sh-001"}), 0, nil},
		{"permanent id", qrBody("QR_LIMIT_SCENE", 0, map[string]any{"scene_id": 100000}), 0, nil},
		{"permanent id too big", qrBody("QR_LIMIT_SCENE", 0, map[string]any{"scene_id": 100001}), 40053, nil},
		{"empty scene_str", qrBody("QR_STR_SCENE", 60, map[string]any{"scene_str": ""}), 40053, nil},
		{"65-char scene_str", qrBody("QR_LIMIT_STR_SCENE", 0, map[string]any{"scene_str": strings.Repeat("s", 65)}), 40053, nil},
		{"64-char scene_str", qrBody("QR_LIMIT_STR_SCENE", 0, map[string]any{"scene_str": strings.Repeat("s", 64)}), 0, nil},
		{"bad action", qrBody("QR_BOGUS", 0, map[string]any{"scene_str": "x"}), 40052, nil},
		{"no body", nil, 44002, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any = tt.body
			if tt.body == nil {
				body = ""
			}
			r := e.call("/cgi-bin/qrcode/create", body)
			if r.errcode() != tt.want {
				t.Fatalf("errcode = %d, want %d (%s)", r.errcode(), tt.want, r.body)
			}
			if tt.want != 0 {
				return
			}
			if r.str("ticket") == "" || !strings.HasPrefix(r.str("url"), "http://weixin.qq.com/q/") {
				t.Errorf("answer %s", r.body)
			}
			if got := r.json["expire_seconds"]; got != tt.wantExpire {
				t.Errorf("expire_seconds = %v, want %v", got, tt.wantExpire)
			}
		})
	}
	if got := len(e.sim.QRCodes(testApp)); got != 6 {
		t.Errorf("QRCodes = %d, want 6", got)
	}
}

func TestShowQRCode(t *testing.T) {
	e := newEnv(t)
	ticket := e.call("/cgi-bin/qrcode/create", qrBody("QR_STR_SCENE", 60, map[string]any{"scene_str": "ref:abc"})).str("ticket")
	if !strings.ContainsAny(ticket, "+/") {
		t.Fatalf("ticket %q has no characters that need URL-encoding", ticket)
	}
	r := e.get("/cgi-bin/showqrcode", url.Values{"ticket": {ticket}})
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/jpeg" {
		t.Fatalf("status %d, Content-Type %q", r.status, r.header.Get("Content-Type"))
	}
	if _, err := jpeg.Decode(bytes.NewReader(r.body)); err != nil {
		t.Errorf("not a JPEG: %v", err)
	}
	// A client that does not URL-encode the ticket loses its '+'.
	raw := e.get("/cgi-bin/showqrcode?ticket="+ticket, nil)
	if raw.status != http.StatusNotFound {
		t.Errorf("unencoded ticket: status %d, want 404", raw.status)
	}
	e.clk.Add(time.Minute)
	if r := e.get("/cgi-bin/showqrcode", url.Values{"ticket": {ticket}}); r.status != http.StatusNotFound {
		t.Errorf("expired ticket: status %d, want 404", r.status)
	}
}

func TestPermanentQRLimit(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.PermanentQRLimit = 2 })
	want := []int{0, 0, 45029}
	for i, w := range want {
		r := e.call("/cgi-bin/qrcode/create", qrBody("QR_LIMIT_SCENE", 0, map[string]any{"scene_id": i + 1}))
		if r.errcode() != w {
			t.Errorf("code %d: errcode %d, want %d", i, r.errcode(), w)
		}
	}
	if r := e.call("/cgi-bin/qrcode/create", qrBody("QR_SCENE", 60, map[string]any{"scene_id": 9})); r.errcode() != 0 {
		t.Errorf("temporary codes are not capped: errcode %d", r.errcode())
	}
}

func TestWxaCodeUnlimit(t *testing.T) {
	e := newEnv(t)
	e.sim.AddPages(testMP, "pages/index/index", "pages/referral/index")
	tok := e.token(testMP, testMPKey)
	tests := []struct {
		name string
		body any
		want int // -2 = image
	}{
		{"ok", map[string]any{"scene": "r=AbC123", "page": "pages/referral/index"}, -2},
		{"all allowed chars", map[string]any{"scene": "09azAZ!#$&'()*+,/:;=?@-._~"}, -2},
		{"32 chars", map[string]any{"scene": strings.Repeat("a", 32)}, -2},
		{"33 chars", map[string]any{"scene": strings.Repeat("a", 33)}, 40169},
		{"empty scene", map[string]any{"scene": ""}, 40169},
		{"not JSON", "scene=abc", 40169},
		{"space", map[string]any{"scene": "a b"}, 40129},
		{"percent", map[string]any{"scene": "a%20b"}, 40129},
		{"chinese", map[string]any{"scene": "中文"}, 40129},
		{"unknown page", map[string]any{"scene": "a", "page": "pages/nope"}, 41030},
		{"unknown page unchecked", map[string]any{"scene": "a", "page": "pages/nope", "check_path": false}, -2},
		{"leading slash", map[string]any{"scene": "a", "page": "/pages/index/index"}, 41030},
		{"bad env", map[string]any{"scene": "a", "env_version": "prod"}, 40097},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.post("/wxa/getwxacodeunlimit", at(tok), tt.body)
			ct := r.header.Get("Content-Type")
			if tt.want == -2 {
				if ct != "image/jpeg" {
					t.Fatalf("Content-Type %q, want image/jpeg exactly (%s)", ct, r.body)
				}
				if _, err := jpeg.Decode(bytes.NewReader(r.body)); err != nil {
					t.Errorf("not a JPEG: %v", err)
				}
				return
			}
			if !strings.HasPrefix(ct, "application/json") || r.errcode() != tt.want {
				t.Errorf("Content-Type %q errcode %d, want JSON %d", ct, r.errcode(), tt.want)
			}
		})
	}
	if got := len(e.sim.MiniCodes(testMP)); got != 4 {
		t.Errorf("MiniCodes = %d, want 4", got)
	}
}

func TestURLLink(t *testing.T) {
	e := newEnv(t)
	tok := e.token(testMP, testMPKey)
	r := e.post("/wxa/generate_urllink", at(tok), map[string]any{"path": "pages/index/index", "query": "omo_c=x"})
	if r.errcode() != 0 || !strings.HasPrefix(r.str("url_link"), "https://wxaurl.cn/") {
		t.Fatalf("answer %s", r.body)
	}
	links := e.sim.URLLinks(testMP)
	if len(links) != 1 || links[0].Query != "omo_c=x" || links[0].URLLink != r.str("url_link") {
		t.Errorf("URLLinks = %+v", links)
	}
}
