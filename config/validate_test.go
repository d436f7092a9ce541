package config

import (
	"strings"
	"testing"
	"time"
)

// TestParseValidation checks each validation rule through Parse, with the
// error it must give.
func TestParseValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want string // "" when the document is valid
	}{
		// server
		{"listen without port", "server:\n  listen: \"8000\"\n", `server.listen: must be host:port, such as ":8000" (got "8000")`},
		{"listen port out of range", "server:\n  listen: \":99999\"\n", `server.listen: must be host:port, such as ":8000" (got ":99999")`},
		{"listen with host", "server:\n  listen: 127.0.0.1:8000\n", ""},
		{"negative body limit", "server:\n  max_body_bytes: -1\n", "server.max_body_bytes: must be > 0 (got -1)"},
		{"durations in seconds", "server:\n  sync_timeout: 0.5\n  max_wait: 120\n", ""},

		// redis
		{"redis url", "redis:\n  url: redis://:pw@redis.internal:6379/0\n", ""},
		{"rediss url", "redis:\n  url: rediss://cache.example.com:6380\n", ""},
		{"unix url", "redis:\n  url: unix:///run/redis.sock\n", ""},
		{"redis address without scheme", "redis:\n  url: redis.internal:6379\n", "redis.url: must be a redis://, rediss:// or unix:// URL"},
		{"http url for redis", "redis:\n  url: http://pw@redis.internal:6379\n", "redis.url: must be a redis://, rediss:// or unix:// URL"},
		{"unix url without path", "redis:\n  url: unix://\n", "redis.url: a unix:// URL needs a socket path, such as unix:///run/redis.sock"},
		{"unparsable redis url hides password", "redis:\n  url: \"redis://:s3cret@[::1\"\n", "redis.url: is not a valid URL"},

		// worker
		{"concurrency too low", "worker:\n  concurrency: -1\n", "worker.concurrency: must be 1 to 10000 (got -1)"},
		{"concurrency too high", "worker:\n  concurrency: 10001\n", "worker.concurrency: must be 1 to 10000 (got 10001)"},
		{"concurrency at the limit", "worker:\n  concurrency: 10000\n", ""},
		{"task check interval too long", "worker:\n  task_check_interval: 11s\n", "worker.task_check_interval: must be positive and at most 10s (got 11s)"},
		{"delayed check interval too long", "worker:\n  delayed_task_check_interval: 10.5\n", "worker.delayed_task_check_interval: must be positive and at most 10s (got 10.5s)"},
		{"check intervals at the limit", "worker:\n  task_check_interval: 10s\n  delayed_task_check_interval: 10s\n", ""},
		{"metrics listen", "worker:\n  metrics_listen: metrics\n", `worker.metrics_listen: must be host:port, such as ":8000" (got "metrics")`},

		// jobs
		{"retention too short", "jobs:\n  retention: 59s\n", "jobs.retention: must be at least 1m (got 59s)"},
		{"timeout too short", "jobs:\n  timeout: 500ms\n", "jobs.timeout: must be at least 1s (got 500ms)"},
		{"result limit", "jobs:\n  max_result_bytes: -5\n", "jobs.max_result_bytes: must be > 0 (got -5)"},
		{"job limits at the minimum", "jobs:\n  retention: 1m\n  timeout: 1\n", ""},
		{"retention shorter than a job's run", "jobs:\n  retention: 5m\n  timeout: 6m\n", "jobs.retention: must be at least jobs.timeout (6m0s): a job's record must outlive its run (got 5m0s)"},

		// reliability
		{"redis error policy", "reliability:\n  on_redis_error: closed\n", ""},
		{"bad redis error policy", "reliability:\n  on_redis_error: ignore\n", `reliability.on_redis_error: must be open or closed (got "ignore")`},

		// target names
		{"name with a space", "targets:\n  bad name:\n    base_url: https://x\n", "targets.bad name: invalid target name: use 1 to 64 letters, digits, '_', '.' or '-'"},
		{"name too long", "targets:\n  " + strings.Repeat("n", 65) + ":\n    base_url: https://x\n", "targets." + strings.Repeat("n", 65) + ": invalid target name: use 1 to 64 letters, digits, '_', '.' or '-'"},
		{"name at the limit", "targets:\n  " + strings.Repeat("n", 64) + ":\n    base_url: https://x\n", ""},
		{"name with every allowed character", "targets:\n  Api_v2.eu-1:\n    base_url: https://x\n", ""},
		{"empty target", "targets:\n  a:\n", "targets.a.base_url: required"},

		// base_url
		{"missing base_url", target("base_url: \"\""), "targets.a.base_url: required"},
		{"ftp base_url", target("base_url: ftp://x.example.com"), `targets.a.base_url: must be an absolute http:// or https:// URL (got "ftp://x.example.com")`},
		{"relative base_url", target("base_url: /v1"), `targets.a.base_url: must be an absolute http:// or https:// URL (got "/v1")`},
		{"base_url without host", target("base_url: https:///v1"), `targets.a.base_url: must have a host (got "https:///v1")`},
		{"base_url with query", target("base_url: https://x/v1?key=1"), `targets.a.base_url: must not have a query (got "https://x/v1?key=1")`},
		{"base_url with empty query", target("base_url: https://x/v1?"), `targets.a.base_url: must not have a query (got "https://x/v1?")`},
		{"base_url with fragment", target("base_url: https://x/v1#top"), `targets.a.base_url: must not have a fragment (got "https://x/v1#top")`},
		{"base_url with user info", target("base_url: https://user:s3cret@x/v1"), "targets.a.base_url: must not hold user info; put credentials in auth"},
		{"unparsable base_url", target("base_url: https://x:port/"), `targets.a.base_url: is not a valid URL: invalid port ":port" after host`},
		{"http base_url with port and path", target("base_url: http://127.0.0.1:8080/api/"), ""},

		// timeout, circuit, cache
		{"timeout too low", target("timeout_ms: -1"), "targets.a.timeout_ms: must be 1 to 300000 (got -1)"},
		{"timeout too high", target("timeout_ms: 300001"), "targets.a.timeout_ms: must be 1 to 300000 (got 300001)"},
		{"timeout at the limits", target("timeout_ms: 300000") + "  c:\n    base_url: https://c\n    timeout_ms: 1\n", ""},
		{"error threshold", target("circuit:\n  error_threshold: -1"), "targets.a.circuit.error_threshold: must be > 0 (got -1)"},
		{"cooldown", target("circuit:\n  cooldown_s: -1"), "targets.a.circuit.cooldown_s: must be > 0 (got -1)"},
		{"failure rate above 1", target("circuit:\n  failure_rate: 1.5"), "targets.a.circuit.failure_rate: must be between 0 (off) and 1 (got 1.5)"},
		{"failure rate window", target("circuit:\n  failure_rate: 0.5\n  window_s: -1"), "targets.a.circuit.window_s: must be > 0 (got -1)"},
		{"failure rate settings", target("circuit:\n  failure_rate: 0.5\n  window_s: 10\n  min_calls: 5\n  slow_call_ms: 800"), ""},
		{"slow call", target("circuit:\n  slow_call_ms: -1"), "targets.a.circuit.slow_call_ms: must be 0 (off) or more (got -1)"},
		{"cache ttl", target("cache:\n  ttl_s: -5"), "targets.a.cache.ttl_s: must be > 0 (got -5)"},

		// llm
		{"llm provider", target("llm:\n  provider: gpt"), `targets.a.llm.provider: must be one of openai, anthropic, mistral, or empty (got "gpt")`},
		{"llm provider from base_url", target("llm:\n  default_model: m"), ""},
		{"llm provider unknown", target("base_url: https://llm.internal\nllm:\n  default_model: m"), "targets.a.llm.provider: required: base_url names no known provider (openai, anthropic, mistral)"},
		{"zero max_tokens", target("llm:\n  max_tokens: 0"), "targets.a.llm.max_tokens: must be > 0 (got 0)"},
		{"temperature below 0", target("llm:\n  temperature: -0.1"), "targets.a.llm.temperature: must be 0 to 2 (got -0.1)"},
		{"temperature above 2", target("llm:\n  temperature: 2.1"), "targets.a.llm.temperature: must be 0 to 2 (got 2.1)"},
		{"temperature NaN", target("llm:\n  temperature: .nan"), "targets.a.llm.temperature: must be 0 to 2 (got NaN)"},
		{"temperature at the limits", target("llm:\n  temperature: 0") + "  c:\n    base_url: https://c\n    llm:\n      provider: mistral\n      temperature: 2\n", ""},
		{"negative soft cap", target("llm:\n  soft_cost_cap_usd: -1"), "targets.a.llm.soft_cost_cap_usd: must be >= 0 (got -1)"},
		{"negative hard cap", target("llm:\n  hard_cost_cap_usd: -1"), "targets.a.llm.hard_cost_cap_usd: must be >= 0 (got -1)"},
		{"hard cap below soft cap", target("llm:\n  soft_cost_cap_usd: 0.05\n  hard_cost_cap_usd: 0.01"), "targets.a.llm.hard_cost_cap_usd: must be >= soft_cost_cap_usd 0.05 (got 0.01)"},
		{"equal caps", target("llm:\n  soft_cost_cap_usd: 0.05\n  hard_cost_cap_usd: 0.05"), ""},
		{"zero caps", target("llm:\n  soft_cost_cap_usd: 0\n  hard_cost_cap_usd: 0"), ""},

		// auth
		{"auth without type", target("auth:\n  env_var: KEY"), "targets.a.auth.type: required: bearer_env or api_key"},
		{"unknown auth type", target("auth:\n  type: basic\n  env_var: KEY"), `targets.a.auth.type: must be one of bearer_env, api_key (got "basic")`},
		{"auth without env_var", target("auth:\n  type: bearer_env"), "targets.a.auth.env_var: required: the name of the environment variable holding the secret"},
		{"secret pasted as env_var", target("auth:\n  type: bearer_env\n  env_var: sk-live-123"), "targets.a.auth.env_var: must be an environment variable name (letters, digits and _), not the secret itself"},
		{"bad header name", target("auth:\n  type: api_key\n  env_var: KEY\n  header: \"X Key\""), `targets.a.auth.header: must be an HTTP header name (got "X Key")`},

		// fallback_targets
		{"fallback to a known target", target("fallback_targets: [b]"), ""},
		{"fallback to an unknown target", target("fallback_targets: [b, c]"), `targets.a.fallback_targets[1]: no target named "c"`},
		{"fallback to itself", target("fallback_targets: [a]"), "targets.a.fallback_targets[0]: a target cannot fall back to itself"},
		{"fallback listed twice", target("fallback_targets: [b, b]"), `targets.a.fallback_targets[1]: "b" is listed twice`},

		// retry_matrix
		{"unknown error class", target("retry_matrix:\n  4xx: {attempts: 2}"), "targets.a.retry_matrix.4xx: unknown error class: use 429, 5xx, net, timeout"},
		{"unquoted 429 key", target("retry_matrix:\n  429: {attempts: 2}"), ""},
		{"too many attempts", target("retry_matrix:\n  net: {attempts: 11}"), "targets.a.retry_matrix.net.attempts: must be 1 to 10 (got 11)"},
		{"negative attempts", target("retry_matrix:\n  net: {attempts: -1}"), "targets.a.retry_matrix.net.attempts: must be 1 to 10 (got -1)"},
		{"unknown backoff", target("retry_matrix:\n  5xx: {backoff: expo}"), `targets.a.retry_matrix.5xx.backoff: must be one of exp-jitter, exp, linear, fixed (got "expo")`},
		{"every backoff", target("retry_matrix:\n  429: {backoff: exp-jitter}\n  5xx: {backoff: exp}\n  net: {backoff: linear}\n  timeout: {backoff: fixed}"), ""},
		{"negative base", target("retry_matrix:\n  timeout: {base_s: -1}"), "targets.a.retry_matrix.timeout.base_s: must be > 0 (got -1)"},
		{"max below base", target("retry_matrix:\n  timeout: {base_s: 90}"), "targets.a.retry_matrix.timeout.max_s: must be >= base_s 90 (got 60)"},
		{"negative max", target("retry_matrix:\n  timeout: {max_s: -1}"), "targets.a.retry_matrix.timeout.max_s: must be > 0 (got -1)\n" +
			"config.yaml: targets.a.retry_matrix.timeout.max_s: must be >= base_s 1 (got -1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.doc), "config.yaml", env(nil))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v\n%s", err, tt.doc)
				}
				if c == nil {
					t.Fatal("Parse returned no config")
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse succeeded, want %q\n%s", tt.want, tt.doc)
			}
			if want := "config.yaml: " + tt.want; err.Error() != want {
				t.Errorf("got  %v\nwant %s", err, want)
			}
		})
	}
}

// TestParseReportsEveryProblemSorted checks that all validation problems come
// at once, sorted by path, so a user can fix a file in one pass.
func TestParseReportsEveryProblemSorted(t *testing.T) {
	t.Parallel()
	doc := `
worker:
  concurrency: 20000
targets:
  payments_api:
    base_url: https://api.payments.example.com
    retry_matrix:
      "5xx":
        backoff: expo
      "429":
        attempts: 0.5
  anthropic:
    base_url: api.anthropic.com
    timeout_ms: 999999
server:
  listen: "8000"
`
	_, err := Parse([]byte(doc), "config.yaml", env(nil))
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	// A decoding error hides validation: values may be half decoded.
	if want := `config.yaml: targets.payments_api.retry_matrix.429.attempts: cannot use "0.5" as an integer (line 11)`; err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}

	doc = strings.Replace(doc, "attempts: 0.5", "attempts: 50", 1)
	_, err = Parse([]byte(doc), "config.yaml", env(nil))
	want := strings.Join([]string{
		`config.yaml: server.listen: must be host:port, such as ":8000" (got "8000")`,
		`config.yaml: targets.anthropic.base_url: must be an absolute http:// or https:// URL (got "api.anthropic.com")`,
		`config.yaml: targets.anthropic.timeout_ms: must be 1 to 300000 (got 999999)`,
		`config.yaml: targets.payments_api.retry_matrix.429.attempts: must be 1 to 10 (got 50)`,
		`config.yaml: targets.payments_api.retry_matrix.5xx.backoff: must be one of exp-jitter, exp, linear, fixed (got "expo")`,
		`config.yaml: worker.concurrency: must be 1 to 10000 (got 20000)`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
}

// TestValidate checks rules that a YAML file cannot reach, because decoding
// rejects the value or defaults replace it, on configs built in code.
func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"default is valid", func(c *Config) {}, ""},
		{"negative sync timeout", func(c *Config) { c.Server.SyncTimeout.Duration = -time.Second }, "server.sync_timeout: must be positive (got -1s)"},
		{"zero max wait", func(c *Config) { c.Server.MaxWait.Duration = 0 }, "server.max_wait: must be positive (got 0s)"},
		{"zero server shutdown", func(c *Config) { c.Server.ShutdownTimeout.Duration = 0 }, "server.shutdown_timeout: must be positive (got 0s)"},
		{"zero worker shutdown", func(c *Config) { c.Worker.ShutdownTimeout.Duration = 0 }, "worker.shutdown_timeout: must be positive (got 0s)"},
		{"zero concurrency", func(c *Config) { c.Worker.Concurrency = 0 }, "worker.concurrency: must be 1 to 10000 (got 0)"},
		{"no sync calls run by the api", func(c *Config) { c.Server.RunSyncCalls = new(0) }, ""},
		{"negative sync calls run by the api", func(c *Config) { c.Server.RunSyncCalls = new(-1) }, "server.run_sync_calls: must be 0 to 10000 (got -1)"},
		{"zero task check interval", func(c *Config) { c.Worker.TaskCheckInterval.Duration = 0 }, "worker.task_check_interval: must be positive and at most 10s (got 0s)"},
		{"nil target", func(c *Config) { c.Targets["a"] = nil }, "targets.a: must not be empty"},
		{"zero timeout_ms", func(c *Config) { c.Targets["a"] = &Target{BaseURL: "https://x"} }, "targets.a.cache.ttl_s: must be > 0 (got 0)\n" +
			"targets.a.circuit.cooldown_s: must be > 0 (got 0)\n" +
			"targets.a.circuit.error_threshold: must be > 0 (got 0)\n" +
			"targets.a.timeout_ms: must be 1 to 300000 (got 0)"},
		{"empty header", func(c *Config) {
			c.Targets["a"] = &Target{BaseURL: "https://x", TimeoutMS: 1, Circuit: Circuit{ErrorThreshold: 1, CooldownS: 1}, Cache: Cache{TTLS: 1},
				Auth: &Auth{Type: AuthAPIKey, EnvVar: "K"}}
		}, `targets.a.auth.header: must be an HTTP header name (got "")`},
		{"infinite base", func(c *Config) {
			c.Targets["a"] = &Target{BaseURL: "https://x", TimeoutMS: 1, Circuit: Circuit{ErrorThreshold: 1, CooldownS: 1}, Cache: Cache{TTLS: 1},
				RetryMatrix: map[string]RetryPolicy{"net": {Attempts: 1, Backoff: BackoffExp, BaseS: 1, MaxS: inf()}}}
		}, "targets.a.retry_matrix.net.max_s: must be > 0 (got +Inf)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Default()
			tt.change(c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("got\n%v\nwant\n%s", err, tt.want)
			}
		})
	}
}

func inf() float64 {
	var zero float64
	return 1 / zero
}
