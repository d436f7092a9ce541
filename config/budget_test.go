package config

import (
	"testing"
)

func TestPriceOf(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("pricing:\n  gpt-4o-mini: {input_per_1m: 1, output_per_1m: 2}\n  house-model: {input_per_1m: 3, output_per_1m: 4}\n"), "c.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		model string
		want  Price
		ok    bool
	}{
		{"gpt-4o", Price{2.50, 10}, true},
		{"gpt-4o-2024-08-06", Price{2.50, 10}, true},
		{"gpt-4o-mini-2024-07-18", Price{1, 2}, true}, // the config overrides, and the longer name wins
		{"claude-3-5-haiku-20241022", Price{0.80, 4}, true},
		{"mistral-large-latest", Price{2, 6}, true},
		{"house-model", Price{3, 4}, true},
		{"llama-3", Price{}, false},
	}
	for _, tt := range tests {
		if got, ok := c.PriceOf(tt.model); got != tt.want || ok != tt.ok {
			t.Errorf("PriceOf(%s) = %v, %v; want %v, %v", tt.model, got, ok, tt.want, tt.ok)
		}
	}
	if c.Budget.UnknownModel != "reject" {
		t.Errorf("unknown_model default = %q", c.Budget.UnknownModel)
	}
	if _, err := Parse([]byte("budget: {unknown_model: ignore}\n"), "c.yaml", env(nil)); err == nil {
		t.Error("a bad unknown_model policy was accepted")
	}
}
