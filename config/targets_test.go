package config

import (
	"reflect"
	"testing"
	"time"
)

func TestTargetDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(`
targets:
  bare:
    base_url: https://example.com
  bearer:
    base_url: https://example.com
    auth: {type: bearer_env, env_var: KEY}
  no_prefix:
    base_url: https://example.com
    auth: {type: bearer_env, env_var: KEY, prefix: ""}
  api_key:
    base_url: https://example.com
    auth: {type: api_key, env_var: KEY}
  partial_policy:
    base_url: https://example.com
    retry_matrix:
      timeout: {attempts: 5}
`), "config.yaml", env(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"bare", *c.Targets["bare"], Target{BaseURL: "https://example.com", TimeoutMS: 20000,
			Circuit: Circuit{ErrorThreshold: 5, CooldownS: 60, WindowS: 60, MinCalls: 20}, Cache: Cache{Enabled: ptr(true), TTLS: 3600}}},
		{"bearer", *c.Targets["bearer"].Auth, Auth{Type: AuthBearerEnv, EnvVar: "KEY", HeaderName: "Authorization", Prefix: ptr("Bearer ")}},
		{"explicit empty prefix kept", *c.Targets["no_prefix"].Auth.Prefix, ""},
		{"api_key", *c.Targets["api_key"].Auth, Auth{Type: AuthAPIKey, EnvVar: "KEY", HeaderName: "Authorization", Prefix: ptr("")}},
		{"partial policy", c.Targets["partial_policy"].RetryMatrix["timeout"], RetryPolicy{Attempts: 5, Backoff: BackoffExpJitter, BaseS: 1, MaxS: 60}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %+v, want %+v", tt.got, tt.want)
			}
		})
	}
}

func TestCacheEnabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want bool
	}{
		{"explicit false is kept", "cache: {enabled: false}", false},
		{"explicit true", "cache: {enabled: true}", true},
		{"absent means true", "cache: {ttl_s: 5}", true},
		{"null means true", "cache: {enabled: ~}", true},
		{"no cache section", "timeout_ms: 5", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := "targets:\n  a:\n    base_url: https://example.com\n    " + tt.yaml + "\n"
			c, err := Parse([]byte(doc), "config.yaml", env(nil))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := c.Targets["a"].Cache.IsEnabled(); got != tt.want {
				t.Errorf("IsEnabled() = %v, want %v", got, tt.want)
			}
			if got := *c.Targets["a"].Cache.Enabled; got != tt.want {
				t.Errorf("*Enabled = %v, want %v", got, tt.want)
			}
		})
	}
	if !(Cache{}).IsEnabled() {
		t.Error("zero Cache: IsEnabled() = false, want true")
	}
}

func TestDurationsOfTarget(t *testing.T) {
	t.Parallel()
	target := &Target{TimeoutMS: 1500, Circuit: Circuit{CooldownS: 30}, Cache: Cache{TTLS: 90}}
	p := RetryPolicy{BaseS: 0.25, MaxS: 2.5}
	tests := []struct {
		name      string
		got, want time.Duration
	}{
		{"Timeout", target.Timeout(), 1500 * time.Millisecond},
		{"zero Timeout is the default", (&Target{}).Timeout(), 20 * time.Second},
		{"Cooldown", target.Circuit.Cooldown(), 30 * time.Second},
		{"TTL", target.Cache.TTL(), 90 * time.Second},
		{"Base", p.Base(), 250 * time.Millisecond},
		{"Max", p.Max(), 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}
