package config

import (
	"reflect"
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
		{"server.run_sync_calls", c.Server.SyncRunSlots(), 64},
		{"redis.url", c.Redis.URL, ""},
		{"worker.concurrency", c.Worker.Concurrency, 64},
		{"worker.task_check_interval", c.Worker.TaskCheckInterval.Duration, time.Second},
		{"worker.delayed_task_check_interval", c.Worker.DelayedTaskCheckInterval.Duration, time.Second},
		{"worker.shutdown_timeout", c.Worker.ShutdownTimeout.Duration, 25 * time.Second},
		{"worker.metrics_listen", c.Worker.MetricsListen, ""}, // DefaultMetricsListen, or a free port when taken
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
	// The dump lists targets sorted by name: their order is the file's.
	back.TargetOrder = c.TargetOrder
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip changed the config:\n%s", out)
	}
}

// TestRunSyncCallsZeroKept: server.run_sync_calls: 0 (every sync call
// through the workers) is kept, not taken for "unset" and defaulted.
func TestRunSyncCallsZeroKept(t *testing.T) {
	c, err := Parse([]byte("server: {run_sync_calls: 0}\n"), "config.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Server.SyncRunSlots(); n != 0 {
		t.Errorf("run_sync_calls: 0 reads as %d", n)
	}
}
