package wechat

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/xml"
	"net/url"
	"strconv"
	"time"

	"github.com/silenceper/wechat/v2/util"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/events"
)

// WebhookConfig is what the OA webhook needs to check and open pushes.
type WebhookConfig struct {
	AppID          string // the OA app id; safe mode checks it inside every ciphertext
	Token          string // the token set in the OA admin console
	EncodingAESKey string // 43 characters; "" = plaintext mode only
}

// Codec checks, opens and answers the pushes WeChat sends to the OA webhook.
// It is safe for concurrent use.
type Codec struct {
	cfg WebhookConfig
}

// NewCodec returns a Codec, or an Invalid error naming the bad setting.
func NewCodec(cfg WebhookConfig) (*Codec, error) {
	const op = "wechat.NewCodec"
	if cfg.Token == "" {
		return nil, errs.E(errs.Invalid, op, "wechat.official_account.token is empty")
	}
	if cfg.EncodingAESKey != "" {
		if len(cfg.EncodingAESKey) != 43 {
			return nil, errs.E(errs.Invalid, op, "wechat.official_account.encoding_aes_key must be 43 characters, got %d", len(cfg.EncodingAESKey))
		}
		if _, err := util.EncryptMsg(make([]byte, 16), nil, cfg.AppID, cfg.EncodingAESKey); err != nil {
			return nil, errs.E(errs.Invalid, op, "wechat.official_account.encoding_aes_key is not valid base64: %v", err)
		}
		if cfg.AppID == "" {
			return nil, errs.E(errs.Invalid, op, "wechat.official_account.app_id is needed in safe mode")
		}
	}
	return &Codec{cfg: cfg}, nil
}

// VerifyURL answers WeChat's URL check (GET with echostr): it returns the
// echostr when the signature is right, an Unauthorized error otherwise.
func (c *Codec) VerifyURL(q url.Values) (string, error) {
	if err := c.checkSignature(q); err != nil {
		return "", err
	}
	return q.Get("echostr"), nil
}

func (c *Codec) checkSignature(q url.Values) error {
	want := util.Signature(c.cfg.Token, q.Get("timestamp"), q.Get("nonce"))
	if !equal(want, q.Get("signature")) {
		return errs.E(errs.Unauthorized, "wechat.signature", "signature does not match")
	}
	return nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// envelope is the outer XML of a safe-mode push.
type envelope struct {
	ToUserName string `xml:"ToUserName"`
	Encrypt    string `xml:"Encrypt"`
}

// Open checks a push's signature (and msg_signature in safe mode) and
// returns the plaintext XML. A bad signature is Unauthorized; a body that
// cannot be decrypted or is not XML is Invalid.
func (c *Codec) Open(q url.Values, body []byte) ([]byte, error) {
	const op = "wechat.open"
	if err := c.checkSignature(q); err != nil {
		return nil, err
	}
	if q.Get("encrypt_type") != "aes" {
		if c.cfg.EncodingAESKey != "" {
			// In safe (and compatible) mode WeChat always encrypts. The
			// signature does not cover the body, so accepting plaintext here
			// would let anyone who saw one signed URL post any body.
			return nil, errs.E(errs.Unauthorized, op, "plaintext push but safe mode is configured (encoding_aes_key is set)")
		}
		return body, nil
	}
	if c.cfg.EncodingAESKey == "" {
		return nil, errs.E(errs.Invalid, op, "encrypted push but wechat.official_account.encoding_aes_key is not set")
	}
	var env envelope
	if !scanEnvelope(body, &env) {
		env = envelope{}
		if err := xml.Unmarshal(body, &env); err != nil {
			return nil, errs.E(errs.Invalid, op, "malformed XML: %v", err)
		}
	}
	if env.Encrypt == "" {
		return nil, errs.E(errs.Invalid, op, "safe-mode push without <Encrypt>")
	}
	want := util.Signature(c.cfg.Token, q.Get("timestamp"), q.Get("nonce"), env.Encrypt)
	if !equal(want, q.Get("msg_signature")) {
		return nil, errs.E(errs.Unauthorized, "wechat.msg_signature", "msg_signature does not match")
	}
	_, plain, err := util.DecryptMsg(c.cfg.AppID, env.Encrypt, c.cfg.EncodingAESKey)
	if err != nil {
		return nil, errs.E(errs.Invalid, op, "cannot decrypt: %v", err)
	}
	return plain, nil
}

// textReply is a passive text reply.
type textReply struct {
	XMLName      xml.Name `xml:"xml"`
	ToUserName   cdata    `xml:"ToUserName"`
	FromUserName cdata    `xml:"FromUserName"`
	CreateTime   int64    `xml:"CreateTime"`
	MsgType      cdata    `xml:"MsgType"`
	Content      cdata    `xml:"Content"`
}

type encryptedReply struct {
	XMLName      xml.Name `xml:"xml"`
	Encrypt      cdata    `xml:"Encrypt"`
	MsgSignature cdata    `xml:"MsgSignature"`
	TimeStamp    int64    `xml:"TimeStamp"`
	Nonce        cdata    `xml:"Nonce"`
}

type cdata struct {
	Value string `xml:",cdata"`
}

// TextReply builds the passive reply to ev carrying text, encrypted when
// the push came in safe mode (q has encrypt_type=aes).
func (c *Codec) TextReply(q url.Values, ev *events.Event, text string, now time.Time) ([]byte, error) {
	plain, err := xml.Marshal(textReply{
		ToUserName:   cdata{ev.OpenID},
		FromUserName: cdata{ev.ToUser},
		CreateTime:   now.Unix(),
		MsgType:      cdata{"text"},
		Content:      cdata{text},
	})
	if err != nil {
		return nil, errs.Wrap(errs.Other, "wechat.reply", err)
	}
	if q.Get("encrypt_type") != "aes" {
		return plain, nil
	}
	var random [16]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, errs.Wrap(errs.Other, "wechat.reply", err)
	}
	enc, err := util.EncryptMsg(random[:], plain, c.cfg.AppID, c.cfg.EncodingAESKey)
	if err != nil {
		return nil, errs.Wrap(errs.Other, "wechat.reply", err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := strconv.FormatUint(uint64(random[0])<<24|uint64(random[1])<<16|uint64(random[2])<<8|uint64(random[3]), 10)
	return xml.Marshal(encryptedReply{
		Encrypt:      cdata{string(enc)},
		MsgSignature: cdata{util.Signature(c.cfg.Token, ts, nonce, string(enc))},
		TimeStamp:    now.Unix(),
		Nonce:        cdata{nonce},
	})
}
