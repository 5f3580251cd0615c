// Package mpsession issues and checks the session tokens of the
// mini-program API (DESIGN.md §3). After POST /mp/v1/login the mini-program
// sends its token as `Authorization: Bearer <token>` on every other /mp/v1
// call; the token says which mini-program user is calling and until when.
//
// A token is base64url(payload) "." base64url(HMAC-SHA256(secret, first
// part)), both without padding. The payload is a small JSON object with the
// openid, the unionid and the expiry in Unix seconds. Nothing is stored on
// the server: a token is valid exactly when its MAC checks out under the
// configured secret and its expiry is in the future, so changing the secret
// logs everyone out. The payload is signed, not encrypted: it holds nothing
// the mini-program does not know already.
//
// This package imports no HTTP, SQL or WeChat package.
package mpsession

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/omohq/omo/errs"
)

// Session is what a token vouches for.
type Session struct {
	OpenID  string    // the mini-program openid of the logged-in user; never empty in a valid token
	UnionID string    // "" unless the mini-program is bound to an Open Platform account
	Expires time.Time // the token is refused from this instant on (whole seconds, UTC)
}

// MaxTokenLen bounds what Parse looks at; real tokens are about 150 bytes.
const MaxTokenLen = 1024

// MinSecretLen is the shortest secret Parse accepts: with less, anyone
// could guess it and sign tokens.
const MinSecretLen = 16

// payload is the signed part. Short keys keep tokens compact; the field
// order is fixed by the struct, so Issue is deterministic.
type payload struct {
	OpenID  string `json:"o"`
	UnionID string `json:"u,omitempty"`
	Expires int64  `json:"e"`
}

var enc = base64.RawURLEncoding.Strict()

// Issue returns the token of s signed with secret. The expiry is kept to
// the second. Issue does not check s or secret; Parse refuses tokens with
// an empty openid and any token when the secret is shorter than
// MinSecretLen, so such tokens are useless.
func Issue(secret []byte, s Session) string {
	b, _ := json.Marshal(payload{OpenID: s.OpenID, UnionID: s.UnionID, Expires: s.Expires.Unix()}) // cannot fail: strings and an int
	body := enc.EncodeToString(b)
	return body + "." + enc.EncodeToString(sign(secret, body))
}

// Parse checks token against secret at now and returns its session. Any
// token not made by Issue with the same secret (forged, tampered, cut
// short, garbage, empty), and any token whose expiry is not after now, is
// an errs.Unauthorized error; the message says only "invalid" or
// "expired" (the latter only for a token whose MAC is good).
func Parse(secret []byte, token string, now time.Time) (Session, error) {
	const op = "mpsession.Parse"
	invalid := errs.E(errs.Unauthorized, op, "session token is invalid; log in again")
	if len(secret) < MinSecretLen || len(token) > MaxTokenLen || !wellFormed(token) {
		return Session{}, invalid
	}
	body, mac, _ := strings.Cut(token, ".")
	got, err := enc.DecodeString(mac)
	if err != nil || !hmac.Equal(got, sign(secret, body)) { // constant time
		return Session{}, invalid
	}
	raw, err := enc.DecodeString(body)
	if err != nil {
		return Session{}, invalid
	}
	var p payload
	if err := json.Unmarshal(raw, &p); err != nil || p.OpenID == "" {
		return Session{}, invalid
	}
	s := Session{OpenID: p.OpenID, UnionID: p.UnionID, Expires: time.Unix(p.Expires, 0).UTC()}
	if !now.Before(s.Expires) {
		return Session{}, errs.E(errs.Unauthorized, op, "session token expired; log in again")
	}
	return s, nil
}

// DeriveSecret returns the session secret used when none is configured:
// HMAC-SHA256 keyed with the mini-program's app secret over the label
// "omo-session". Every omo process with the same app secret derives the
// same key, and the app secret itself never signs anything.
func DeriveSecret(appSecret string) []byte {
	return sign([]byte(appSecret), "omo-session")
}

func sign(secret []byte, body string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(body))
	return m.Sum(nil)
}

// wellFormed reports whether token is two non-empty runs of base64url
// characters joined by one dot. The decoder alone is not enough: it skips
// CR and LF, so without this check "a\nb" would be accepted for "ab".
func wellFormed(token string) bool {
	dots := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		switch {
		case c == '.':
			if dots++; dots > 1 || i == 0 || i == len(token)-1 {
				return false
			}
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 1
}
