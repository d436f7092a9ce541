package config

import (
	"testing"
)

func TestTargetRetry(t *testing.T) {
	t.Parallel()
	def := func(attempts int) RetryPolicy {
		return RetryPolicy{Attempts: attempts, Backoff: BackoffExpJitter, BaseS: 1, MaxS: 60}
	}
	given := map[string]RetryPolicy{
		"429": {Attempts: 4, Backoff: BackoffLinear, BaseS: 0.5, MaxS: 10},
		"net": {Attempts: 1}, // hand-built: zero fields take defaults
	}
	tests := []struct {
		name   string
		matrix map[string]RetryPolicy
		class  string
		want   RetryPolicy
		wantOK bool
	}{
		{"no matrix 429", nil, "429", def(3), true},
		{"no matrix 5xx", nil, "5xx", def(2), true},
		{"no matrix net", nil, "net", def(2), true},
		{"no matrix timeout", nil, "timeout", def(2), true},
		{"no matrix unknown class", nil, "permanent", RetryPolicy{}, false},
		{"empty matrix is no matrix", map[string]RetryPolicy{}, "5xx", def(2), true},
		{"given 429", given, "429", RetryPolicy{Attempts: 4, Backoff: BackoffLinear, BaseS: 0.5, MaxS: 10}, true},
		{"given net with defaults", given, "net", def(1), true},
		{"given matrix omits 5xx", given, "5xx", RetryPolicy{}, false},
		{"given matrix omits timeout", given, "timeout", RetryPolicy{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := &Target{RetryMatrix: tt.matrix}
			got, ok := target.Retry(tt.class)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Retry(%q) = %+v, %v; want %+v, %v", tt.class, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
