package config

import "testing"

func TestParsePrefix(t *testing.T) {
	t.Parallel()
	if p, _ := ParsePrefix("10.1.2.3"); p.Bits() != 32 {
		t.Errorf("a single address is a /32, got %v", p)
	}
}
