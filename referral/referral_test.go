package referral

import (
	"strings"
	"testing"
)

func TestDecide(t *testing.T) {
	base := Attempt{InviteeOA: "oB", ReferrerOA: "oA", ReferrerMP: "mA", ReferrerUnion: "uA", PerReferrerDay: 3}
	tests := []struct {
		name   string
		change func(*Attempt)
		want   Reason
	}{
		{"new invitee", func(*Attempt) {}, ""},
		{"same OA openid", func(a *Attempt) { a.InviteeOA = "oA" }, ReasonSelf},
		{"same mini-program openid", func(a *Attempt) { a.InviteeMP = "mA" }, ReasonSelf},
		{"same unionid", func(a *Attempt) { a.InviteeUnion = "uA" }, ReasonSelf},
		{"empty ids are not the same", func(a *Attempt) { a.ReferrerMP, a.ReferrerUnion = "", "" }, ""},
		{"seen before", func(a *Attempt) { a.SeenBefore = true }, ReasonNotNew},
		{"already referred", func(a *Attempt) { a.AlreadyReferred = true; a.SeenBefore = true }, ReasonAttributed},
		{"loop wins over already referred", func(a *Attempt) { a.ReferredByInvitee = true; a.AlreadyReferred = true }, ReasonLoop},
		{"daily cap reached", func(a *Attempt) { a.TodayByReferrer = 3 }, ReasonDailyCap},
		{"under the cap", func(a *Attempt) { a.TodayByReferrer = 2 }, ""},
		{"no cap", func(a *Attempt) { a.PerReferrerDay = 0; a.TodayByReferrer = 1000 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			tt.change(&a)
			if got := Decide(a); got != tt.want {
				t.Errorf("Decide = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRewardsDue(t *testing.T) {
	tests := []struct {
		qualified, every, max, given, want int
	}{
		{2, 3, 10, 0, 0},
		{3, 3, 10, 0, 1},
		{5, 3, 10, 1, 0},
		{6, 3, 10, 1, 1},
		{7, 3, 10, 0, 2}, // two earned, none given yet
		{90, 3, 10, 9, 1},
		{90, 3, 10, 10, 0}, // max reached
		{4, 0, 0, 0, 4},    // every 0 means every 1
		{100, 1, 0, 40, 60},
	}
	for _, tt := range tests {
		if got := RewardsDue(tt.qualified, tt.every, tt.max, tt.given); got != tt.want {
			t.Errorf("RewardsDue(%d qualified, every %d, max %d, given %d) = %d, want %d", tt.qualified, tt.every, tt.max, tt.given, got, tt.want)
		}
	}
}

func TestKey(t *testing.T) {
	if got := Key("u1", "o1", "m1"); got != "u:u1" {
		t.Errorf("Key with unionid = %q", got)
	}
	if got := Key("", "o1", "m1"); got != "oa:o1" {
		t.Errorf("Key without unionid = %q", got)
	}
	if got := Key("", "", "m1"); got != "mp:m1" {
		t.Errorf("Key of a mini-program user = %q", got)
	}
}

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != CodeLength || len("ref:"+c) > 32 {
			t.Fatalf("code %q: length %d", c, len(c))
		}
		for _, r := range c {
			if !strings.ContainsRune(CodeAlphabet, r) {
				t.Fatalf("code %q has %q", c, r)
			}
		}
		if seen[c] {
			t.Fatalf("duplicate code %q", c)
		}
		seen[c] = true
	}
}

func TestSeenHash(t *testing.T) {
	a, b := SeenHash([]byte("salt1"), "oa:x"), SeenHash([]byte("salt2"), "oa:x")
	if a == b || a != SeenHash([]byte("salt1"), "oa:x") || strings.Contains(a, "x") {
		t.Errorf("SeenHash not a salted, stable hash: %s %s", a, b)
	}
}
