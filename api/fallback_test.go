package api_test

import "testing"

const fallbackTargets = `
primary:
  base_url: "FAKE/down/openai/v1"
  llm: {provider: openai, default_model: gpt-4o-mini}
  auth: {type: bearer_env, env_var: ENV}
  circuit: {error_threshold: 1, cooldown_s: 60}
  retry_matrix: {"5xx": {attempts: 1}}
  fallback_targets: [also-down, ant]
also-down:
  base_url: "FAKE/down/mistral/v1"
  llm: {provider: mistral, default_model: mistral-small-latest}
  auth: {type: bearer_env, env_var: ENV}
  retry_matrix: {"5xx": {attempts: 1}}
lonely:
  base_url: "FAKE/down/openai/v1"
  llm: {provider: openai, default_model: gpt-4o-mini}
  auth: {type: bearer_env, env_var: ENV}
  retry_matrix: {"5xx": {attempts: 1}}
  fallback_targets: [also-down]
picky:
  base_url: "FAKE/down/openai/v1"
  llm: {provider: openai, default_model: gpt-4o-mini}
  auth: {type: bearer_env, env_var: ENV}
  retry_matrix: {"5xx": {attempts: 1}}
  fallback_targets: [pricey, ant]
pricey:
  base_url: "FAKE/openai/v1"
  llm: {provider: openai, default_model: gpt-4o}
  auth: {type: bearer_env, env_var: ENV}
`

// TestFallbacks: a failing primary falls back in order to the first
// target that answers; once the primary's breaker is open, the fallback
// answers without the primary being called at all.
func TestFallbacks(t *testing.T) {
	t.Parallel()
	s, fake := llmStackWith(t, "", fallbackTargets)
	before := fake.Calls()
	r := s.llm(map[string]any{"target": "primary"})
	if r.status != 200 || get(r.body, "meta", "fallback_used") != true || get(r.body, "meta", "fallback_target") != "ant" ||
		get(r.body, "meta", "provider") != "anthropic" || get(r.body, "meta", "model") != "claude-3-5-haiku-20241022" ||
		get(r.body, "data", "content") != "echo: Hello" || get(r.body, "meta", "cost_usd") == nil {
		t.Fatalf("fallback: %d %s", r.status, r.raw)
	}
	if n := fake.Calls() - before; n != 3 { // primary, also-down, ant
		t.Fatalf("provider calls = %d, want 3", n)
	}
	// The primary's breaker is open now (threshold 1): it is skipped.
	before = fake.Calls()
	r = s.llm(map[string]any{"target": "primary"})
	if r.status != 200 || get(r.body, "meta", "fallback_target") != "ant" {
		t.Fatalf("fallback with the breaker open: %d %s", r.status, r.raw)
	}
	if n := fake.Calls() - before; n != 2 { // also-down, ant: not the primary
		t.Fatalf("provider calls = %d, want 2 (the primary's breaker is open)", n)
	}
	// When every fallback fails too, the primary's failure is the answer.
	r = s.llm(map[string]any{"target": "lonely"})
	if r.status != 503 || get(r.body, "error", "code") != "SERVER_ERROR" || get(r.body, "meta", "fallback_used") != nil {
		t.Fatalf("no working fallback: %d %s", r.status, r.raw)
	}
}

// TestFallbackKeepsItsLimits: a fallback is asked with its own max_tokens
// cap, and one whose model would cost more than the primary's hard cost
// cap is skipped.
func TestFallbackKeepsItsLimits(t *testing.T) {
	t.Parallel()
	s, fake := llmStackWith(t, "", `
capped:
  base_url: "FAKE/down/openai/v1"
  llm: {provider: openai, default_model: gpt-4o-mini, hard_cost_cap_usd: 0.001}
  auth: {type: bearer_env, env_var: ENV}
  retry_matrix: {"5xx": {attempts: 1}}
  fallback_targets: [dear, short]
dear:
  base_url: "FAKE/openai/v1"
  llm: {provider: openai, default_model: gpt-4o}
  auth: {type: bearer_env, env_var: ENV}
short:
  base_url: "FAKE/openai/v1"
  llm: {provider: openai, default_model: gpt-4o-mini, max_tokens: 2}
  auth: {type: bearer_env, env_var: ENV}
`)
	// 1,000 tokens of gpt-4o-mini output cost $0.0006, of gpt-4o $0.01.
	before := fake.Calls()
	r := s.llm(map[string]any{"target": "capped", "max_tokens": 1000,
		"messages": []map[string]string{{"role": "user", "content": "one two three four five six seven eight"}}})
	if r.status != 200 || get(r.body, "meta", "fallback_target") != "short" || get(r.body, "meta", "model") != "gpt-4o-mini" ||
		get(r.body, "data", "finish_reason") != "length" || get(r.body, "data", "usage", "completion_tokens") != 2.0 {
		t.Fatalf("fallback past a dear model, at its own max_tokens: %d %s", r.status, r.raw)
	}
	if n := fake.Calls() - before; n != 2 { // capped, short: never dear
		t.Fatalf("provider calls = %d, want 2 (the fallback over the hard cap is skipped)", n)
	}
}
