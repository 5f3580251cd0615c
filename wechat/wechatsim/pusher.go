package wechatsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxReplyBytes bounds how much of a webhook reply Push reads.
const maxReplyBytes = 4 << 20

// Pusher plays WeChat's side of an OA webhook: it signs and (in safe mode)
// encrypts messages and posts them to URL. It holds no state and is safe for
// concurrent use.
type Pusher struct {
	URL            string // the webhook, e.g. http://127.0.0.1:8080/wechat/oa
	Token          string // the OA's server token
	EncodingAESKey string // empty = plaintext mode; set = safe mode (encrypt_type=aes)
	AppID          string // the OA's appid, appended to every encrypted plaintext
	Client         *http.Client
	Now            func() time.Time
}

// Reply is what the webhook answered.
type Reply struct {
	Status int    // HTTP status
	Body   []byte // the reply message: decrypted plaintext XML in safe mode, Raw otherwise
	Raw    []byte // the body exactly as received
}

// ErrBadReply reports a safe-mode reply that WeChat would reject: not
// encrypted, a wrong msg_signature, undecryptable, or for another appid.
var ErrBadReply = errors.New("wechatsim: bad safe-mode reply")

func (p *Pusher) client() *http.Client {
	if p.Client != nil {
		return p.Client
	}
	return http.DefaultClient
}

func (p *Pusher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// signedQuery returns the query WeChat puts on every push: signature,
// timestamp and a numeric nonce.
func (p *Pusher) signedQuery() url.Values {
	ts := strconv.FormatInt(p.now().Unix(), 10)
	nonce := strconv.FormatUint(mrand.Uint64N(1e10), 10)
	q := url.Values{}
	q.Set("signature", Signature(p.Token, ts, nonce))
	q.Set("timestamp", ts)
	q.Set("nonce", nonce)
	return q
}

func (p *Pusher) endpoint(q url.Values) (string, error) {
	u, err := url.Parse(p.URL)
	if err != nil {
		return "", fmt.Errorf("wechatsim: webhook URL: %w", err)
	}
	orig := u.Query()
	for k, v := range q {
		orig[k] = v
	}
	u.RawQuery = orig.Encode()
	return u.String(), nil
}

// Verify performs WeChat's URL check: a signed GET with echostr. It returns
// the body the webhook answered; an error when the request fails, the
// status is not 200 or the body is not the echostr.
func (p *Pusher) Verify(ctx context.Context) (string, error) {
	q := p.signedQuery()
	want := strconv.FormatUint(mrand.Uint64(), 10)
	q.Set("echostr", want)
	u, err := p.endpoint(q)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("wechatsim: verify: %w", err)
	}
	resp, err := p.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("wechatsim: verify: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return "", fmt.Errorf("wechatsim: verify: %w", err)
	}
	echo := string(b)
	if resp.StatusCode != http.StatusOK {
		return echo, fmt.Errorf("wechatsim: verify: status %d", resp.StatusCode)
	}
	if echo != want {
		return echo, fmt.Errorf("wechatsim: verify: echoed %q, want %q", echo, want)
	}
	return echo, nil
}

// envelope is the few fields Push reads from the message it sends.
type envelope struct {
	ToUserName   string `xml:"ToUserName"`
	FromUserName string `xml:"FromUserName"`
}

// Push posts msg (a message's XML, see Message.XML) to the webhook the way
// WeChat does, with openid in the query. In safe mode it encrypts msg and,
// when the webhook replies with a message, checks the reply's msg_signature
// and decrypts it. A transport failure returns a nil Reply; a safe-mode reply
// WeChat would reject returns the Reply and an error wrapping ErrBadReply.
// A non-200 status is not an error: callers read Reply.Status.
func (p *Pusher) Push(ctx context.Context, msg []byte) (*Reply, error) {
	var env envelope
	if err := xml.Unmarshal(msg, &env); err != nil {
		return nil, fmt.Errorf("wechatsim: push: message is not XML: %w", err)
	}
	q := p.signedQuery()
	q.Set("openid", env.FromUserName)
	body := msg
	if p.EncodingAESKey != "" {
		var err error
		body, err = p.seal(q, env.ToUserName, msg)
		if err != nil {
			return nil, err
		}
	}
	u, err := p.endpoint(q)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("wechatsim: push: %w", err)
	}
	req.Header.Set("Content-Type", "text/xml")
	req.Header.Set("User-Agent", "Mozilla/4.0")
	resp, err := p.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("wechatsim: push: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return nil, fmt.Errorf("wechatsim: push: reading reply: %w", err)
	}
	r := &Reply{Status: resp.StatusCode, Body: raw, Raw: raw}
	if p.EncodingAESKey == "" || resp.StatusCode != http.StatusOK || isPlainAck(raw) {
		return r, nil
	}
	plain, err := p.open(raw)
	if err != nil {
		return r, err
	}
	r.Body = plain
	return r, nil
}

// seal encrypts msg into WeChat's safe-mode envelope and adds encrypt_type
// and msg_signature to q.
func (p *Pusher) seal(q url.Values, toUser string, msg []byte) ([]byte, error) {
	random := make([]byte, 16)
	if _, err := rand.Read(random); err != nil {
		return nil, fmt.Errorf("wechatsim: push: %w", err)
	}
	enc, err := Encrypt(p.EncodingAESKey, p.AppID, random, msg)
	if err != nil {
		return nil, err
	}
	q.Set("encrypt_type", "aes")
	q.Set("msg_signature", MsgSignature(p.Token, q.Get("timestamp"), q.Get("nonce"), enc))
	w := &xmlWriter{}
	w.b.WriteString("<xml>")
	w.cdata("ToUserName", toUser)
	w.cdata("Encrypt", enc)
	w.b.WriteString("</xml>")
	return w.b.Bytes(), nil
}

// isPlainAck reports a reply that means "no reply message": empty or success.
func isPlainAck(b []byte) bool {
	s := strings.TrimSpace(string(b))
	return s == "" || s == "success"
}

type sealedReply struct {
	Encrypt      string `xml:"Encrypt"`
	MsgSignature string `xml:"MsgSignature"`
	TimeStamp    string `xml:"TimeStamp"`
	Nonce        string `xml:"Nonce"`
}

// open checks and decrypts a safe-mode reply.
func (p *Pusher) open(raw []byte) ([]byte, error) {
	var s sealedReply
	if err := xml.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: not XML: %v", ErrBadReply, err)
	}
	if s.Encrypt == "" {
		return nil, fmt.Errorf("%w: no Encrypt element (plaintext reply in safe mode)", ErrBadReply)
	}
	want := MsgSignature(p.Token, s.TimeStamp, s.Nonce, s.Encrypt)
	if !equalSig(s.MsgSignature, want) {
		return nil, fmt.Errorf("%w: MsgSignature %q, want %q", ErrBadReply, s.MsgSignature, want)
	}
	plain, appID, err := Decrypt(p.EncodingAESKey, s.Encrypt)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	if appID != p.AppID {
		return nil, fmt.Errorf("%w: encrypted for appid %q, want %q", ErrBadReply, appID, p.AppID)
	}
	return plain, nil
}
