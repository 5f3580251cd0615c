package bench

import (
	"fmt"
	mrand "math/rand/v2"
	"net/url"
	"strconv"
	"time"

	"github.com/omohq/omo/wechat/wechatsim"
)

// pusher builds signed subscribe pushes, each a new event: its openid is
// unique to the run, the worker and the sequence number, so its dedupe key
// (FromUserName+CreateTime+Event+EventKey) was never seen before. One pusher
// belongs to one worker; it reuses its buffer, so a request is valid only
// until the next call.
type pusher struct {
	opts   *Options
	path   string // URL path plus the target's own query, if any
	sep    byte   // '?' or '&' before the signed query
	host   string
	prefix string // openid prefix: run id + worker
	seq    uint64
	rng    *mrand.Rand
	buf    []byte
}

func newPusher(o *Options, u *url.URL, runID string, worker int) *pusher {
	p := &pusher{opts: o, path: u.EscapedPath(), sep: '?', host: u.Host,
		prefix: fmt.Sprintf("o%s%s_%s_", o.OpenIDPrefix, runID, strconv.FormatInt(int64(worker), 36)),
		rng:    mrand.New(mrand.NewPCG(mrand.Uint64(), uint64(worker))),
		buf:    make([]byte, 0, 2048)}
	if p.path == "" {
		p.path = "/"
	}
	if u.RawQuery != "" {
		p.path += "?" + u.RawQuery
		p.sep = '&'
	}
	return p
}

// next returns the next push as a complete HTTP/1.1 request, signed (and in
// safe mode encrypted) the way WeChat does it at time now.
func (p *pusher) next(now time.Time) ([]byte, error) {
	p.seq++
	openid := p.prefix + strconv.FormatUint(p.seq, 36)
	msg := wechatsim.Subscribe(p.opts.ToUser, openid, now, p.opts.Scene).XML()
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := strconv.FormatUint(p.rng.Uint64N(1e10), 10)

	b := append(p.buf[:0], "POST "...)
	b = append(b, p.path...)
	b = append(b, p.sep)
	b = append(b, "signature="...)
	b = append(b, wechatsim.Signature(p.opts.Token, ts, nonce)...)
	b = append(b, "&timestamp="...)
	b = append(b, ts...)
	b = append(b, "&nonce="...)
	b = append(b, nonce...)
	b = append(b, "&openid="...)
	b = append(b, url.QueryEscape(openid)...)
	body := msg
	if p.opts.AESKey != "" {
		var random [16]byte
		for i := 0; i < 16; i += 8 {
			v := p.rng.Uint64()
			for j := range 8 {
				random[i+j] = byte(v >> (8 * j))
			}
		}
		enc, err := wechatsim.Encrypt(p.opts.AESKey, p.opts.AppID, random[:], msg)
		if err != nil {
			return nil, err
		}
		b = append(b, "&encrypt_type=aes&msg_signature="...)
		b = append(b, wechatsim.MsgSignature(p.opts.Token, ts, nonce, enc)...)
		body = make([]byte, 0, len(enc)+len(p.opts.ToUser)+96)
		body = append(body, "<xml><ToUserName><![CDATA["...)
		body = append(body, p.opts.ToUser...)
		body = append(body, "]]></ToUserName><Encrypt><![CDATA["...)
		body = append(body, enc...)
		body = append(body, "]]></Encrypt></xml>"...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, p.host...)
	b = append(b, "\r\nUser-Agent: Mozilla/4.0\r\nAccept: */*\r\nContent-Type: text/xml\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, body...)
	p.buf = b
	return b, nil
}
