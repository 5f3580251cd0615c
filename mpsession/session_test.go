package mpsession_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omohq/omo/errs"
	"github.com/omohq/omo/mpsession"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	other  = []byte("fedcba9876543210fedcba9876543210")
	now    = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	alice  = mpsession.Session{OpenID: "mp-alice", UnionID: "u-alice", Expires: now.Add(time.Hour)}
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		s    mpsession.Session
	}{
		{"with unionid", alice},
		{"without unionid", mpsession.Session{OpenID: "mp-bob", Expires: now.Add(168 * time.Hour)}},
		{"sub-second expiry is cut", mpsession.Session{OpenID: "mp-carol", Expires: now.Add(time.Minute + 500*time.Millisecond)}},
		{"odd characters", mpsession.Session{OpenID: `o-"<&>\.`, UnionID: "联合", Expires: now.Add(time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := mpsession.Issue(secret, tt.s)
			got, err := mpsession.Parse(secret, tok, now)
			if err != nil {
				t.Fatalf("Parse(Issue()) = %v", err)
			}
			want := tt.s
			want.Expires = tt.s.Expires.Truncate(time.Second).UTC()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("session (-want +got):\n%s", diff)
			}
			if again := mpsession.Issue(secret, got); again != tok {
				t.Errorf("Issue is not deterministic: %q then %q", tok, again)
			}
			if strings.ContainsAny(tok, "=+/ \n") || strings.Count(tok, ".") != 1 {
				t.Errorf("token %q is not compact base64url.base64url", tok)
			}
		})
	}
}

// forge signs body (raw payload bytes) with key the way Issue does.
func forge(key []byte, body string) string {
	b := base64.RawURLEncoding.EncodeToString([]byte(body))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(b))
	return b + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestParseRefuses(t *testing.T) {
	good := mpsession.Issue(secret, alice)
	body, mac, _ := strings.Cut(good, ".")
	flip := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	tests := []struct {
		name    string
		secret  []byte
		token   string
		at      time.Time
		wantMsg string
	}{
		{"empty", secret, "", now, "invalid"},
		{"garbage", secret, "not a token", now, "invalid"},
		{"no dot", secret, body + mac, now, "invalid"},
		{"two dots", secret, body + "." + mac + ".x", now, "invalid"},
		{"dot first", secret, "." + mac, now, "invalid"},
		{"dot last", secret, body + ".", now, "invalid"},
		{"body only", secret, body, now, "invalid"},
		{"truncated mac", secret, good[:len(good)-1], now, "invalid"},
		{"truncated body", secret, body[1:] + "." + mac, now, "invalid"},
		{"tampered body", secret, flip(body, 5) + "." + mac, now, "invalid"},
		{"tampered mac", secret, body + "." + flip(mac, 0), now, "invalid"},
		{"newline inside", secret, body[:4] + "\n" + body[4:] + "." + mac, now, "invalid"},
		{"padding added", secret, body + "." + mac + "=", now, "invalid"},
		{"std base64 alphabet", secret, strings.ReplaceAll(strings.ReplaceAll(good, "-", "+"), "_", "/") + "+", now, "invalid"},
		{"other secret", other, good, now, "invalid"},
		{"empty secret", nil, mpsession.Issue(nil, alice), now, "invalid"},
		{"short secret", []byte("short"), mpsession.Issue([]byte("short"), alice), now, "invalid"},
		{"forged with another key", secret, forge(other, `{"o":"mp-alice","e":9999999999}`), now, "invalid"},
		{"signed, not JSON", secret, forge(secret, `mp-alice`), now, "invalid"},
		{"signed, no openid", secret, forge(secret, `{"u":"u-alice","e":9999999999}`), now, "invalid"},
		{"too long", secret, strings.Repeat("A", mpsession.MaxTokenLen) + "." + mac, now, "invalid"},
		{"expired at the instant", secret, good, alice.Expires, "expired"},
		{"expired later", secret, good, alice.Expires.Add(time.Hour), "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mpsession.Parse(tt.secret, tt.token, tt.at)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tt.token, s)
			}
			if !errs.Is(err, errs.Unauthorized) {
				t.Errorf("kind = %v, want unauthorized", errs.KindOf(err))
			}
			if msg := errs.Message(err); !strings.Contains(msg, tt.wantMsg) {
				t.Errorf("message %q, want it to say %q", msg, tt.wantMsg)
			}
			if s != (mpsession.Session{}) {
				t.Errorf("session %+v returned with an error", s)
			}
		})
	}
	// Just before expiry the token still works.
	if _, err := mpsession.Parse(secret, good, alice.Expires.Add(-time.Second)); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
}

func TestDeriveSecret(t *testing.T) {
	a, b := mpsession.DeriveSecret("app-secret-1"), mpsession.DeriveSecret("app-secret-2")
	if len(a) < mpsession.MinSecretLen || hmac.Equal(a, b) || !hmac.Equal(a, mpsession.DeriveSecret("app-secret-1")) {
		t.Fatalf("DeriveSecret: %x, %x", a, b)
	}
	m := hmac.New(sha256.New, []byte("app-secret-1"))
	m.Write([]byte("omo-session"))
	if !hmac.Equal(a, m.Sum(nil)) {
		t.Errorf("DeriveSecret is not HMAC-SHA256(app_secret, \"omo-session\")")
	}
	tok := mpsession.Issue(a, alice)
	if _, err := mpsession.Parse(b, tok, now); err == nil {
		t.Error("a token signed under one app secret passed under another")
	}
}

// FuzzParse: Parse never panics, and accepts nothing but a token Issue
// makes with the same secret: whatever it accepts, Issue gives back
// byte for byte. Mutations of a valid token therefore fail unless they
// leave it unchanged.
func FuzzParse(f *testing.F) {
	good := mpsession.Issue(secret, alice)
	f.Add(good)
	f.Add(mpsession.Issue(secret, mpsession.Session{OpenID: "mp-bob", Expires: now.Add(time.Minute)}))
	f.Add(mpsession.Issue(other, alice))
	f.Add(good + "=")
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("")
	f.Add(".")
	f.Add("e30.AAAA")
	f.Fuzz(func(t *testing.T, token string) {
		s, err := mpsession.Parse(secret, token, now)
		if err != nil {
			if !errs.Is(err, errs.Unauthorized) {
				t.Fatalf("Parse(%q): kind %v, want unauthorized", token, errs.KindOf(err))
			}
			return
		}
		if again := mpsession.Issue(secret, s); again != token {
			t.Fatalf("Parse accepted %q, which Issue did not make (it makes %q)", token, again)
		}
		if token != good && s.OpenID == alice.OpenID && s.Expires.Equal(alice.Expires) && s.UnionID == alice.UnionID {
			t.Fatalf("a second token %q for alice's session", token)
		}
		if _, err := mpsession.Parse(other, token, now); err == nil {
			t.Fatalf("%q passed under two secrets", token)
		}
	})
}
