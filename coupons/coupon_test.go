package coupons

import (
	"strings"
	"testing"
	"time"

	"github.com/omohq/omo/errs"
)

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != CodeLength {
			t.Fatalf("len(%q) = %d, want %d", c, len(c), CodeLength)
		}
		for _, r := range c {
			if !strings.ContainsRune(Alphabet, r) {
				t.Fatalf("code %q has %q, not in the alphabet", c, r)
			}
		}
		if seen[c] {
			t.Fatalf("duplicate code %q after %d", c, i)
		}
		seen[c] = true
	}
	for _, r := range "0O1IL2Z5S8BUV" {
		if strings.ContainsRune(Alphabet, r) {
			t.Errorf("alphabet has look-alike %q", r)
		}
	}
}

func TestMask(t *testing.T) {
	if got := Mask("ABCDEFGHJKMNPQRT"); got != "ABCD************" {
		t.Errorf("Mask = %q", got)
	}
	if got := Mask("AB"); got != "****" {
		t.Errorf("Mask short = %q", got)
	}
}

func TestCheckRedeem(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		c    Coupon
		want errs.Kind
	}{
		{"issued", Coupon{State: Issued, ExpiresAt: now.Add(time.Hour)}, errs.Other},
		{"redeemed", Coupon{State: Redeemed, ExpiresAt: now.Add(time.Hour)}, errs.Conflict},
		{"past expiry", Coupon{State: Issued, ExpiresAt: now}, errs.Expired},
		{"revoked", Coupon{State: Revoked, ExpiresAt: now.Add(time.Hour)}, errs.Gone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.CheckRedeem(now)
			if tt.want == errs.Other {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if got := errs.KindOf(err); got != tt.want {
				t.Fatalf("kind = %v, want %v (%v)", got, tt.want, err)
			}
		})
	}
}
