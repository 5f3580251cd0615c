package randcode

import (
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for i := 0; i < 2000; i++ {
		c, err := New(Alphabet, 12)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 12 {
			t.Fatalf("len(%q) = %d, want 12", c, len(c))
		}
		for _, r := range c {
			if !strings.ContainsRune(Alphabet, r) {
				t.Fatalf("code %q has %q, not in the alphabet", c, r)
			}
			counts[r]++
		}
		if seen[c] {
			t.Fatalf("duplicate code %q", c)
		}
		seen[c] = true
	}
	if len(counts) != len(Alphabet) {
		t.Errorf("%d of the %d characters drawn in 24000", len(counts), len(Alphabet))
	}
	for _, r := range "0O1IL2Z5S8BUV" {
		if strings.ContainsRune(Alphabet, r) {
			t.Errorf("alphabet has look-alike %q", r)
		}
	}
}
