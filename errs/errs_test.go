package errs

import (
	"errors"
	"testing"
)

func TestKindNames(t *testing.T) {
	if len(kindNames) != int(WindowClosed)+1 {
		t.Fatalf("%d kind names for %d kinds", len(kindNames), int(WindowClosed)+1)
	}
	for k := Other; k <= WindowClosed; k++ {
		if kindNames[k] == "" {
			t.Errorf("kind %d has no name", int(k))
		}
	}
	if got := Kind(-1).String(); got != "kind(-1)" {
		t.Errorf("Kind(-1) = %q, want kind(-1)", got)
	}
	if got := Throttled.String(); got != "throttled" {
		t.Errorf("Throttled = %q", got)
	}
}

func TestKindOfLooksThroughOther(t *testing.T) {
	inner := Wrap(QuotaSpent, "", errors.New("errcode=45009"))
	tests := []struct {
		name string
		err  error
		want Kind
	}{
		{"nil", nil, Other},
		{"plain", errors.New("x"), Other},
		{"kinded", inner, QuotaSpent},
		{"Other around a kind", Wrap(Other, "op", inner), QuotaSpent},
		{"a kind around a kind", Wrap(Gone, "op", inner), Gone},
	}
	for _, tt := range tests {
		if got := KindOf(tt.err); got != tt.want {
			t.Errorf("KindOf(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
