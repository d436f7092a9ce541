package config

import (
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func ptr[T any](v T) *T { return &v }

// env returns a getenv that reads vars.
func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestLoadSeedConfig(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/seed-config.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(c.Targets) != 3 {
		t.Fatalf("got %d targets, want 3", len(c.Targets))
	}
	openai, anthropic, payments := c.Targets["openai"], c.Targets["anthropic"], c.Targets["payments_api"]
	if openai == nil || anthropic == nil || payments == nil {
		t.Fatalf("targets = %v, want openai, anthropic and payments_api", c.Targets)
	}
	anthropic429, _ := anthropic.Retry("429")
	openai5xx, _ := openai.Retry("5xx")
	_, anthropicNet := anthropic.Retry("net")
	_, openaiTimeout := openai.Retry("timeout")

	tests := []struct {
		name      string
		got, want any
	}{
		{"openai timeout_ms", openai.TimeoutMS, 20000},
		{"openai Timeout", openai.Timeout(), 20 * time.Second},
		{"openai circuit", openai.Circuit, Circuit{ErrorThreshold: 5, CooldownS: 60, WindowS: 60, MinCalls: 20}},
		{"openai cache ttl", openai.Cache.TTLS, 60},
		{"openai cache enabled", openai.Cache.IsEnabled(), true},
		{"openai llm", *openai.LLM, LLM{Provider: "openai", DefaultModel: "gpt-4o-mini", MaxTokens: ptr(1024),
			Temperature: ptr(0.7), SoftCostCapUSD: ptr(0.01), HardCostCapUSD: ptr(0.05)}},
		{"openai auth", *openai.Auth, Auth{Type: AuthBearerEnv, EnvVar: "OPENAI_API_KEY", HeaderName: "Authorization", Prefix: ptr("Bearer ")}},
		{"openai fallbacks (commented out)", openai.FallbackTargets, []string(nil)},
		{"openai retry classes", len(openai.RetryMatrix), 3},
		{"openai 5xx max_s defaulted", openai5xx, RetryPolicy{Attempts: 2, Backoff: BackoffExpJitter, BaseS: 1, MaxS: 60}},
		{"openai timeout not retried", openaiTimeout, false},
		{"anthropic timeout_ms", anthropic.TimeoutMS, 25000},
		{"anthropic 429", anthropic429, RetryPolicy{Attempts: 3, Backoff: BackoffExpJitter, BaseS: 2, MaxS: 60}},
		{"anthropic net not retried", anthropicNet, false},
		{"anthropic max_tokens", *anthropic.LLM.MaxTokens, 2048},
		{"payments_api", *payments, Target{
			BaseURL:   "https://api.payments.example.com",
			TimeoutMS: 12000,
			Circuit:   Circuit{ErrorThreshold: 3, CooldownS: 30, WindowS: 60, MinCalls: 20},
			Cache:     Cache{Enabled: ptr(true), TTLS: 300},
			Auth:      &Auth{Type: AuthAPIKey, EnvVar: "PAYMENTS_API_KEY", HeaderName: "X-API-Key", Prefix: ptr("")},
			RetryMatrix: map[string]RetryPolicy{
				"429": {Attempts: 3, Backoff: BackoffExpJitter, BaseS: 1, MaxS: 60},
				"5xx": {Attempts: 2, Backoff: BackoffExpJitter, BaseS: 1, MaxS: 60},
			},
		}},
		{"server defaults", c.Server, Default().Server},
		{"worker defaults", c.Worker, Default().Worker},
		{"jobs defaults", c.Jobs, Default().Jobs},
		{"redis default", c.Redis.URL, ""},
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

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/no-such-file.yaml")
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "loading config: ") ||
		!strings.Contains(err.Error(), "testdata/no-such-file.yaml") {
		t.Fatalf("Load: got %v, want a not-exist error naming the file", err)
	}
}

func TestDefault(t *testing.T) {
	t.Parallel()
	c := Default()
	tests := []struct {
		name      string
		got, want any
	}{
		{"server.listen", c.Server.Listen, ":8000"},
		{"server.sync_timeout", c.Server.SyncTimeout.Duration, 30 * time.Second},
		{"server.max_wait", c.Server.MaxWait.Duration, 60 * time.Second},
		{"server.max_body_bytes", c.Server.MaxBodyBytes, int64(10 << 20)},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout.Duration, 30 * time.Second},
		{"redis.url", c.Redis.URL, ""},
		{"worker.concurrency", c.Worker.Concurrency, 64},
		{"worker.task_check_interval", c.Worker.TaskCheckInterval.Duration, time.Millisecond},
		{"worker.delayed_task_check_interval", c.Worker.DelayedTaskCheckInterval.Duration, 100 * time.Millisecond},
		{"worker.shutdown_timeout", c.Worker.ShutdownTimeout.Duration, 25 * time.Second},
		{"worker.metrics_listen", c.Worker.MetricsListen, ":9091"},
		{"jobs.retention", c.Jobs.Retention.Duration, 24 * time.Hour},
		{"jobs.timeout", c.Jobs.Timeout.Duration, 10 * time.Minute},
		{"jobs.max_result_bytes", c.Jobs.MaxResultBytes, int64(10 << 20)},
		{"targets", c.Targets, map[string]*Target{}},
		{"valid", c.Validate(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %#v, want %#v", tt.got, tt.want)
			}
		})
	}
}

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

func TestAuthHeader(t *testing.T) {
	t.Parallel()
	vars := env(map[string]string{"KEY": "s3cret"})
	tests := []struct {
		name                string
		auth                *Auth
		wantName, wantValue string
		wantOK              bool
	}{
		{"bearer defaults", &Auth{Type: AuthBearerEnv, EnvVar: "KEY"}, "Authorization", "Bearer s3cret", true},
		{"api_key defaults", &Auth{Type: AuthAPIKey, EnvVar: "KEY"}, "Authorization", "s3cret", true},
		{"api_key header", &Auth{Type: AuthAPIKey, EnvVar: "KEY", HeaderName: "X-API-Key"}, "X-API-Key", "s3cret", true},
		{"explicit prefix", &Auth{Type: AuthAPIKey, EnvVar: "KEY", Prefix: ptr("Token ")}, "Authorization", "Token s3cret", true},
		{"explicit empty prefix", &Auth{Type: AuthBearerEnv, EnvVar: "KEY", Prefix: ptr("")}, "Authorization", "s3cret", true},
		{"empty env var", &Auth{Type: AuthBearerEnv, EnvVar: "UNSET"}, "", "", false},
		{"unknown type", &Auth{Type: "basic", EnvVar: "KEY"}, "", "", false},
		{"nil auth", nil, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name, value, ok := tt.auth.header(vars)
			if name != tt.wantName || value != tt.wantValue || ok != tt.wantOK {
				t.Errorf("header() = %q, %q, %v; want %q, %q, %v", name, value, ok, tt.wantName, tt.wantValue, tt.wantOK)
			}
		})
	}
}

// TestAuthHeaderReadsEnvironment is not parallel: it sets an environment
// variable, and Header must read it at call time.
func TestAuthHeaderReadsEnvironment(t *testing.T) {
	a := &Auth{Type: AuthBearerEnv, EnvVar: "RELIAPI_CONFIG_TEST_KEY"}
	t.Setenv("RELIAPI_CONFIG_TEST_KEY", "")
	if _, _, ok := a.Header(); ok {
		t.Fatal("Header() ok with the variable empty")
	}
	t.Setenv("RELIAPI_CONFIG_TEST_KEY", "rotated")
	name, value, ok := a.Header()
	if name != "Authorization" || value != "Bearer rotated" || !ok {
		t.Fatalf("Header() = %q, %q, %v; want Authorization, Bearer rotated, true", name, value, ok)
	}
}

// TestMarshalRoundTrip checks that a loaded config, written back as YAML,
// parses to the same config: the dump is a faithful "effective config".
func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := Load("testdata/seed-config.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	c.Targets["openai"].Cache.Enabled = ptr(false)
	c.Worker.DelayedTaskCheckInterval = Duration{1500 * time.Microsecond}
	out, err := yaml.Marshal(c)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	back, err := Parse(out, "dump.yaml", env(nil))
	if err != nil {
		t.Fatalf("Parse(dump): %v\n%s", err, out)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip changed the config:\n%s", out)
	}
}
