package wechatsim

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/internal/testenv"
)

const hookToken = testenv.OAToken

// fakeHook is a minimal OA webhook that checks what Pusher sends the way a
// real server must, and answers with reply (encrypted in safe mode unless
// plainReply).
type fakeHook struct {
	t          *testing.T
	key, appID string
	reply      string
	plainReply bool
	badSig     bool
	got        chan string // decrypted messages
}

func (h *fakeHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("signature") != Signature(hookToken, q.Get("timestamp"), q.Get("nonce")) {
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodGet {
		io.WriteString(w, q.Get("echostr"))
		return
	}
	body, _ := io.ReadAll(r.Body)
	msg := string(body)
	if h.key != "" {
		var env struct{ ToUserName, Encrypt string }
		xml.Unmarshal(body, &env)
		if q.Get("encrypt_type") != "aes" || q.Get("msg_signature") != MsgSignature(hookToken, q.Get("timestamp"), q.Get("nonce"), env.Encrypt) {
			http.Error(w, "bad msg_signature", http.StatusForbidden)
			return
		}
		plain, appID, err := Decrypt(h.key, env.Encrypt)
		if err != nil || appID != h.appID {
			http.Error(w, "bad cipher", http.StatusBadRequest)
			return
		}
		msg = string(plain)
	}
	if !strings.Contains(msg, "<FromUserName><![CDATA["+q.Get("openid")+"]]>") {
		http.Error(w, "openid mismatch", http.StatusBadRequest)
		return
	}
	h.got <- msg
	if h.key == "" || h.plainReply || h.reply == "success" {
		io.WriteString(w, h.reply)
		return
	}
	enc, _ := Encrypt(h.key, h.appID, []byte("0123456789abcdef"), []byte(h.reply))
	sig := MsgSignature(hookToken, "1700000000", "777", enc)
	if h.badSig {
		sig = strings.Repeat("0", 40)
	}
	fmt.Fprintf(w, "<xml><Encrypt><![CDATA[%s]]></Encrypt><MsgSignature><![CDATA[%s]]></MsgSignature><TimeStamp>1700000000</TimeStamp><Nonce><![CDATA[777]]></Nonce></xml>", enc, sig)
}

func TestPusher(t *testing.T) {
	const passive = "<xml><Content><![CDATA[welcome]]></Content></xml>"
	tests := []struct {
		name     string
		key      string
		reply    string
		plain    bool
		badSig   bool
		wantBody string
		wantErr  error
	}{
		{"plaintext mode", "", passive, false, false, passive, nil},
		{"safe mode encrypted reply", vecKey, passive, false, false, passive, nil},
		{"safe mode success", vecKey, "success", false, false, "success", nil},
		{"safe mode empty reply", vecKey, "", true, false, "", nil},
		{"safe mode plaintext reply", vecKey, passive, true, false, "", ErrBadReply},
		{"safe mode bad reply signature", vecKey, passive, false, true, "", ErrBadReply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &fakeHook{t: t, key: tt.key, appID: vecAppID, reply: tt.reply, plainReply: tt.plain,
				badSig: tt.badSig, got: make(chan string, 1)}
			srv := httptest.NewServer(h)
			defer srv.Close()
			p := &Pusher{URL: srv.URL + "/wechat/oa", Token: hookToken, EncodingAESKey: tt.key, AppID: vecAppID,
				Now: func() time.Time { return time.Unix(1700000000, 0) }}
			msg := Text("gh_1", "o1", time.Unix(1700000000, 0), "hi", 1).XML()
			rep, err := p.Push(context.Background(), msg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if rep == nil || rep.Status != http.StatusOK {
				t.Fatalf("reply %+v", rep)
			}
			if got := <-h.got; got != string(msg) {
				t.Errorf("webhook got %s", got)
			}
			if tt.wantErr == nil && string(rep.Body) != tt.wantBody {
				t.Errorf("Body = %q, want %q", rep.Body, tt.wantBody)
			}
		})
	}
}

func TestPusherVerifyAndStatus(t *testing.T) {
	h := &fakeHook{t: t, got: make(chan string, 1)}
	srv := httptest.NewServer(h)
	defer srv.Close()
	p := &Pusher{URL: srv.URL, Token: hookToken}
	if echo, err := p.Verify(context.Background()); err != nil || echo == "" {
		t.Errorf("Verify = %q, %v", echo, err)
	}
	bad := &Pusher{URL: srv.URL, Token: "wrong"}
	if _, err := bad.Verify(context.Background()); err == nil {
		t.Error("Verify with a wrong token succeeded")
	}
	rep, err := bad.Push(context.Background(), Click("gh", "o", time.Now(), "K").XML())
	if err != nil || rep.Status != http.StatusForbidden {
		t.Errorf("Push with a wrong token: %+v, %v; want status 403 and no error", rep, err)
	}
}
