package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseEmptyDocument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
	}{
		{"empty", ""},
		{"blank lines", "\n\n"},
		{"only comments", "# ReliAPI\n# nothing configured yet\n"},
		{"document marker", "---\n"},
		{"document marker and comment", "---\n# nothing\n"},
		{"null", "~\n"},
		{"empty sections", "server:\nworker: {}\ntargets:\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.doc), "config.yaml", env(nil))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(c, Default()) {
				t.Errorf("got %+v, want Default()", c)
			}
		})
	}
}

// target returns a document with a valid target "b" and a target "a" whose
// body is the given block-style YAML, with a base_url unless it has one.
func target(body string) string {
	if !strings.Contains(body, "base_url") {
		body = "base_url: https://api.openai.com/v1\n" + body
	}
	return "targets:\n  b:\n    base_url: https://b.example.com\n  a:\n    " +
		strings.ReplaceAll(strings.TrimSpace(body), "\n", "\n    ") + "\n"
}

func TestParseExpandsEnvironment(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"BASE":    "https://api.example.com",
		"TIMEOUT": "1500",
		"SECRET":  `a: b # c "d" 'e' {f} [g] & * ! | > % ${BASE}`,
		"WAIT":    "90",
		"OFF":     "false",
		"NESTED":  "${BASE}",
		"NUMBER":  "123",
		"B":       "b",
		"EMPTY":   "",
	}
	a := func(c *Config) *Target { return c.Targets["a"] }
	tests := []struct {
		name string
		body string
		get  func(c *Config) any
		want any
	}{
		{"string", `base_url: ${BASE}`, func(c *Config) any { return a(c).BaseURL }, "https://api.example.com"},
		{"inside text", `base_url: "${BASE}/v1"`, func(c *Config) any { return a(c).BaseURL }, "https://api.example.com/v1"},
		{"integer", `timeout_ms: ${TIMEOUT}`, func(c *Config) any { return a(c).TimeoutMS }, 1500},
		{"plain boolean", "cache:\n  enabled: ${OFF}", func(c *Config) any { return a(c).Cache.IsEnabled() }, false},
		{"default when unset", `timeout_ms: ${UNSET:-2500}`, func(c *Config) any { return a(c).TimeoutMS }, 2500},
		{"default when empty", `timeout_ms: ${EMPTY:-2500}`, func(c *Config) any { return a(c).TimeoutMS }, 2500},
		{"value beats default", `timeout_ms: ${TIMEOUT:-2500}`, func(c *Config) any { return a(c).TimeoutMS }, 1500},
		{"unset plain value means the default", `timeout_ms: ${UNSET}`, func(c *Config) any { return a(c).TimeoutMS }, 20000},
		{"empty quoted default", "llm:\n  default_model: \"${UNSET:-}\"", func(c *Config) any { return a(c).LLM.DefaultModel }, ""},
		{"special characters survive", "llm:\n  default_model: ${SECRET}", func(c *Config) any { return a(c).LLM.DefaultModel }, vars["SECRET"]},
		{"special characters quoted", "llm:\n  default_model: '${SECRET}'", func(c *Config) any { return a(c).LLM.DefaultModel }, vars["SECRET"]},
		{"special characters in a default", "llm:\n  default_model: \"${UNSET:-x: y # z}\"", func(c *Config) any { return a(c).LLM.DefaultModel }, "x: y # z"},
		{"number as a string", "llm:\n  default_model: ${NUMBER}", func(c *Config) any { return a(c).LLM.DefaultModel }, "123"},
		{"not expanded twice", "llm:\n  default_model: ${NESTED}", func(c *Config) any { return a(c).LLM.DefaultModel }, "${BASE}"},
		{"lone dollar", "llm:\n  default_model: costs $5 and $", func(c *Config) any { return a(c).LLM.DefaultModel }, "costs $5 and $"},
		{"double dollar", "llm:\n  default_model: pa$$word", func(c *Config) any { return a(c).LLM.DefaultModel }, "pa$$word"},
		{"escaped reference", "llm:\n  default_model: $${BASE}", func(c *Config) any { return a(c).LLM.DefaultModel }, "${BASE}"},
		{"list item", "fallback_targets:\n  - ${B}", func(c *Config) any { return a(c).FallbackTargets }, []string{"b"}},
		{"float", "retry_matrix:\n  \"429\":\n    max_s: ${WAIT}", func(c *Config) any { return a(c).RetryMatrix["429"].MaxS }, 90.0},
		{"quoted boolean", "cache:\n  enabled: \"${OFF}\"", func(c *Config) any { return a(c).Cache.IsEnabled() }, false},
		{"quoted integer", `timeout_ms: "${TIMEOUT}"`, func(c *Config) any { return a(c).TimeoutMS }, 1500},
		{"quoted unset value means the default", `timeout_ms: "${UNSET}"`, func(c *Config) any { return a(c).TimeoutMS }, 20000},
		{"quoted number without a reference", "llm:\n  temperature: '0.5'", func(c *Config) any { return *a(c).LLM.Temperature }, 0.5},
		{"unset section means the default", `circuit: ${UNSET}`, func(c *Config) any { return a(c).Circuit }, Circuit{ErrorThreshold: 5, CooldownS: 60, WindowS: 60, MinCalls: 20}},
		{"keys are not expanded", "auth:\n  type: api_key\n  env_var: ${B}\n  header: X-${B}", func(c *Config) any { return *a(c).Auth }, Auth{Type: AuthAPIKey, EnvVar: "b", HeaderName: "X-b", Prefix: ptr("")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := target(tt.body)
			c, err := Parse([]byte(doc), "config.yaml", env(vars))
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, doc)
			}
			if got := tt.get(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseExpandsInServerSections(t *testing.T) {
	t.Parallel()
	doc := `
server:
  listen: ${LISTEN:-:8080}
  sync_timeout: ${SYNC}
redis:
  url: ${REDIS_URL}
worker:
  concurrency: ${CONCURRENCY}
`
	vars := map[string]string{"SYNC": "2.5", "REDIS_URL": "redis://:p@ss#word@cache:6379/1", "CONCURRENCY": "8"}
	c, err := Parse([]byte(doc), "config.yaml", env(vars))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"listen", c.Server.Listen, ":8080"},
		{"sync_timeout", c.Server.SyncTimeout.Duration, 2500 * time.Millisecond},
		{"redis url", c.Redis.URL, vars["REDIS_URL"]},
		{"concurrency", c.Worker.Concurrency, 8},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestParseKeysAreNotExpanded(t *testing.T) {
	t.Parallel()
	doc := "${SECTION}:\n  listen: \":1\"\n"
	_, err := Parse([]byte(doc), "config.yaml", env(map[string]string{"SECTION": "server"}))
	want := "config.yaml: ${SECTION}: unknown field (line 1); known fields: server, redis, worker, jobs, reliability, targets, provider_key_pools, client_profiles, budget, pricing, models, webhooks, auth, tenants, tiers, rapidapi, routellm"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

// TestParseErrors checks that decoding errors name the file, the dotted
// path and the line.
func TestParseErrors(t *testing.T) {
	t.Parallel()
	vars := env(map[string]string{"TIMEOUT": "soon"})
	tests := []struct {
		name string
		doc  string
		want string
	}{
		// Unknown keys, at every depth.
		{"unknown top-level key", "servr:\n  listen: x\n",
			"config.yaml: servr: unknown field (line 1); known fields: server, redis, worker, jobs, reliability, targets, provider_key_pools, client_profiles, budget, pricing, models, webhooks, auth, tenants, tiers, rapidapi, routellm"},
		{"seed section not in the schema", "routes: {}\n",
			"config.yaml: routes: unknown field (line 1); known fields: server, redis, worker, jobs, reliability, targets, provider_key_pools, client_profiles, budget, pricing, models, webhooks, auth, tenants, tiers, rapidapi, routellm"},
		{"unknown server key", "server:\n  listn: \":1\"\n",
			"config.yaml: server.listn: unknown field (line 2); known fields: listen, sync_timeout, max_wait, max_body_bytes, shutdown_timeout, trusted_proxies, cors_origins, run_sync_calls"},
		{"unknown target key", target("circut:\n  error_threshold: 3"),
			"config.yaml: targets.a.circut: unknown field (line 6); known fields: base_url, timeout_ms, circuit, cache, llm, auth, fallback_targets, retry_matrix, webhook"},
		{"unknown circuit key", target("circuit:\n  treshold: 3"),
			"config.yaml: targets.a.circuit.treshold: unknown field (line 7); known fields: error_threshold, cooldown_s, failure_rate, window_s, min_calls, slow_call_ms"},
		{"unknown cache key", target("cache:\n  ttl: 3"),
			"config.yaml: targets.a.cache.ttl: unknown field (line 7); known fields: enabled, ttl_s"},
		{"unknown llm key", target("llm:\n  model: x"),
			"config.yaml: targets.a.llm.model: unknown field (line 7); known fields: provider, default_model, max_tokens, temperature, soft_cost_cap_usd, hard_cost_cap_usd"},
		{"unknown auth key", target("auth:\n  key: x"),
			"config.yaml: targets.a.auth.key: unknown field (line 7); known fields: type, env_var, header, prefix"},
		{"unknown retry policy key", target("retry_matrix:\n  \"429\":\n    max_attempts: 3"),
			"config.yaml: targets.a.retry_matrix.429.max_attempts: unknown field (line 8); known fields: attempts, backoff, base_s, max_s"},

		// Wrong types.
		{"string as integer", target("timeout_ms: abc"),
			`config.yaml: targets.a.timeout_ms: cannot use "abc" as an integer (line 6)`},
		{"fraction as integer", target("timeout_ms: 1.5"),
			`config.yaml: targets.a.timeout_ms: cannot use "1.5" as an integer (line 6)`},
		{"huge integer", "server:\n  max_body_bytes: 99999999999999999999\n",
			`config.yaml: server.max_body_bytes: cannot use "99999999999999999999" as an integer (line 2)`},
		{"string as number", target("llm:\n  temperature: warm"),
			`config.yaml: targets.a.llm.temperature: cannot use "warm" as a number (line 7)`},
		{"string as boolean", target("cache:\n  enabled: maybe"),
			`config.yaml: targets.a.cache.enabled: cannot use "maybe" as a boolean (true or false) (line 7)`},
		{"list as string", target("base_url: [a, b]"),
			`config.yaml: targets.a.base_url: expected a string, got a list (line 5)`},
		{"mapping as string", target("fallback_targets:\n  - {name: b}"),
			`config.yaml: targets.a.fallback_targets[0]: expected a string, got a mapping (line 7)`},
		{"scalar as list", target("fallback_targets: b"),
			`config.yaml: targets.a.fallback_targets: expected a list, got "b" (line 6)`},
		{"scalar as struct", target("circuit: 5"),
			`config.yaml: targets.a.circuit: expected a mapping, got "5" (line 6)`},
		{"tagged string as integer", target("timeout_ms: !!str 5"),
			`config.yaml: targets.a.timeout_ms: cannot use "5" as an integer (line 6)`},
		{"empty string as integer", target(`timeout_ms: ""`),
			`config.yaml: targets.a.timeout_ms: cannot use "" as an integer (line 6)`},
		{"mapping as duration", "jobs:\n  timeout: {minutes: 5}\n",
			`config.yaml: jobs.timeout: expected a duration, got a mapping (line 2)`},
		{"list as boolean", target("cache:\n  enabled: [true]"),
			`config.yaml: targets.a.cache.enabled: expected a boolean (true or false), got a list (line 7)`},
		{"expanded value as a section is not quoted back", target("circuit: ${TIMEOUT}"),
			`config.yaml: targets.a.circuit: expected a mapping, got "${TIMEOUT}" (line 6)`},
		{"list as map", "targets:\n  - name: a\n",
			`config.yaml: targets: expected a mapping, got a list (line 2)`},
		{"list document", "- a\n- b\n",
			`config.yaml: expected a mapping, got a list (line 1)`},
		{"bad duration", "jobs:\n  timeout: 5 minutes\n",
			`config.yaml: jobs.timeout: cannot use "5 minutes" as a duration: write a Go duration such as "30s" or "100ms", or a number of seconds (line 2)`},
		{"negative duration", "jobs:\n  timeout: -1m\n",
			`config.yaml: jobs.timeout: cannot use "-1m" as a duration: must not be negative (line 2)`},
		{"expanded value is not quoted back", target("timeout_ms: ${TIMEOUT}"),
			`config.yaml: targets.a.timeout_ms: cannot use the value of "${TIMEOUT}" as an integer (line 6)`},

		// Expansion.
		{"unterminated reference", target("base_url: ${BASE"),
			`config.yaml: targets.a.base_url: unterminated "${BASE": write ${VAR} or ${VAR:-default}, or $${ for a literal ${ (line 5)`},
		{"invalid variable name", target("base_url: ${1BASE}"),
			`config.yaml: targets.a.base_url: invalid reference "${1BASE}": write ${VAR} or ${VAR:-default}, where VAR is letters, digits and _ (line 5)`},
		{"shell default without colon", target("base_url: ${BASE-x}"),
			`config.yaml: targets.a.base_url: invalid reference "${BASE-x}": write ${VAR} or ${VAR:-default}, where VAR is letters, digits and _ (line 5)`},
		{"nested reference", target("base_url: \"${A:-${B}}\""),
			`config.yaml: targets.a.base_url: invalid reference "${A:-${B}": a default cannot hold another reference (line 5)`},

		// Document structure.
		{"duplicate key", "targets:\n  a:\n    base_url: https://x\n  a:\n    base_url: https://y\n",
			"config.yaml: targets.a: duplicate key (line 4); first at line 2"},
		{"duplicate field", target("timeout_ms: 1\ntimeout_ms: 2"),
			"config.yaml: targets.a.timeout_ms: duplicate key (line 7); first at line 6"},
		{"merge key", "base: &base\n  listen: \":1\"\nserver:\n  <<: *base\n",
			"config.yaml: base: unknown field (line 1); known fields: server, redis, worker, jobs, reliability, targets, provider_key_pools, client_profiles, budget, pricing, models, webhooks, auth, tenants, tiers, rapidapi, routellm\n" +
				"config.yaml: server: merge keys (<<) are not supported (line 4)"},
		{"complex key", "server:\n  ? [a]\n  : 1\n",
			"config.yaml: server: keys must be plain strings, got a list (line 2)"},
		{"two documents", "server: {}\n---\nworker: {}\n",
			"config.yaml: only one YAML document is allowed"},
		{"syntax error", "server:\n  listen: [\n",
			"config.yaml: line 2: did not find expected node content"},
		{"tab indentation", "server:\n\tlisten: x\n",
			"config.yaml: line 2: found character that cannot start any token"},
		{"every decoding error at once", "server:\n  listn: x\n  max_wait: forever\njobs: []\n",
			"config.yaml: server.listn: unknown field (line 2); known fields: listen, sync_timeout, max_wait, max_body_bytes, shutdown_timeout, trusted_proxies, cors_origins, run_sync_calls\n" +
				`config.yaml: server.max_wait: cannot use "forever" as a duration: write a Go duration such as "30s" or "100ms", or a number of seconds (line 3)` + "\n" +
				"config.yaml: jobs: expected a mapping, got a list (line 4)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.doc), "config.yaml", vars)
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q\n%s", tt.want, tt.doc)
			}
			if err.Error() != tt.want {
				t.Errorf("got  %s\nwant %s\ndocument:\n%s", err, tt.want, tt.doc)
			}
			if c != nil {
				t.Errorf("got a config with the error")
			}
		})
	}
}

func TestParseAliases(t *testing.T) {
	t.Parallel()
	doc := `
targets:
  a:
    base_url: ${BASE}/a
    retry_matrix: &retry
      "429": {attempts: 5, base_s: 0.5}
      "5xx": {attempts: 4}
  b:
    base_url: ${BASE}/b
    retry_matrix: *retry
`
	c, err := Parse([]byte(doc), "config.yaml", env(map[string]string{"BASE": "https://x.example.com"}))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := map[string]RetryPolicy{
		"429": {Attempts: 5, Backoff: BackoffExpJitter, BaseS: 0.5, MaxS: 60},
		"5xx": {Attempts: 4, Backoff: BackoffExpJitter, BaseS: 1, MaxS: 60},
	}
	for _, name := range []string{"a", "b"} {
		if got := c.Targets[name].RetryMatrix; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: retry_matrix = %+v, want %+v", name, got, want)
		}
	}
	c.Targets["a"].RetryMatrix["net"] = RetryPolicy{}
	if _, ok := c.Targets["b"].RetryMatrix["net"]; ok {
		t.Error("targets decoded from one alias share a map")
	}
}

func TestParseIsPure(t *testing.T) {
	t.Parallel()
	doc := []byte(target("timeout_ms: ${T}"))
	for _, tt := range []struct {
		value string
		want  int
	}{{"100", 100}, {"200", 200}} {
		c, err := Parse(doc, "config.yaml", env(map[string]string{"T": tt.value}))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if got := c.Targets["a"].TimeoutMS; got != tt.want {
			t.Errorf("T=%s: timeout_ms = %d, want %d", tt.value, got, tt.want)
		}
	}
	if !strings.Contains(string(doc), "${T}") {
		t.Error("Parse changed its input")
	}
}

// TestParseAliasBudget checks that aliases cannot multiply a small file into
// an unbounded amount of work.
func TestParseAliasBudget(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("targets:\n  t0: &t\n    base_url: https://x\n    retry_matrix:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "      k%d: {attempts: 1}\n", i)
	}
	for i := 1; i < 1000; i++ {
		fmt.Fprintf(&b, "  t%d: *t\n", i)
	}
	_, err := Parse([]byte(b.String()), "config.yaml", env(nil))
	if err == nil || !strings.Contains(err.Error(), "document too large (more than 1000000 values after aliases)") {
		t.Fatalf("got %.300v, want a document-too-large error", err)
	}
	if n := strings.Count(err.Error(), "\n"); n != 0 {
		t.Errorf("got %d more errors after the budget ran out, want none", n)
	}
}

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/seed-config.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	for _, doc := range []string{
		"",
		"# comment\n",
		target("timeout_ms: ${T:-5}\ncache:\n  enabled: false"),
		target("base_url: $${X}\nfallback_targets: [b, b, a]\nretry_matrix: {x: {}}"),
		"a: &a [*a]\n",
		"targets: &t {a: *t}\n",
		"server: {<<: {listen: x}}\n",
		"worker:\n  task_check_interval: 0.001\n  concurrency: ${N}\n",
		"targets:\n  a: &x {base_url: 'http://h'}\n  b: *x\n",
		"---\n---\n",
		"? [a]\n: b\n",
	} {
		f.Add([]byte(doc))
	}
	getenv := env(map[string]string{"T": "7", "N": "3", "X": "a: b # c", "EMPTY": ""})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml", getenv)
		if err != nil {
			if c != nil {
				t.Fatal("got a config with an error")
			}
			if !strings.HasPrefix(err.Error(), "fuzz.yaml: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
		if c.Targets == nil || c.Worker.Concurrency == 0 || c.Server.Listen == "" {
			t.Fatalf("defaults not applied: %+v", c)
		}
	})
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/no-such-file.yaml")
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "loading config: ") ||
		!strings.Contains(err.Error(), "testdata/no-such-file.yaml") {
		t.Fatalf("Load: got %v, want a not-exist error naming the file", err)
	}
}
