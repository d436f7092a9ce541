package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/reliapi/reliapi/internal/testenv"
)

// decision is the headers of a RouteLLM decision, in the order the test
// stack's do takes them.
func decision(kv ...string) []string {
	names := map[string]string{
		"provider": "X-RouteLLM-Provider", "model": "X-RouteLLM-Model", "id": "X-RouteLLM-Decision-ID",
		"route": "X-RouteLLM-Route-Name", "reason": "X-RouteLLM-Reason",
	}
	var h []string
	for i := 0; i+1 < len(kv); i += 2 {
		h = append(h, names[kv[i]], kv[i+1])
	}
	return h
}

// TestRouteLLMOverrides: a provider override picks the first target of the
// provider in config order (any case), else the target of that name; a
// model override replaces the model; the decision is echoed in X-ReliAPI-*
// headers and meta whenever one exists, kept on the job, and counted with
// bounded labels.
func TestRouteLLMOverrides(t *testing.T) {
	t.Parallel()
	s, fake := llmStackWith(t, "routellm: {route_names: [cheap]}\n", "")
	tests := []struct {
		name                  string
		headers               []string
		target, provider, mdl string
	}{
		{"provider", decision("provider", "Anthropic", "id", "d-1", "route", "cheap", "reason", "short prompt"), "ant", "anthropic", "claude-3-5-haiku-20241022"},
		{"model", decision("model", "gpt-4o", "id", "d-2"), "oai", "openai", "gpt-4o"},
		{"both", decision("provider", "mistral", "model", "mistral-small-latest", "route", "some-new-route"), "mis", "mistral", "mistral-small-latest"},
		{"target named", decision("provider", "ant", "id", "d-4"), "ant", "anthropic", "claude-3-5-haiku-20241022"},
		{"no override", decision("id", "d-5", "route", "cheap"), "oai", "openai", "gpt-4o-mini"},
		{"unknown provider", decision("provider", "nosuch", "model", "my-own-model"), "oai", "openai", "my-own-model"},
	}
	for _, tt := range tests {
		r := s.llm(map[string]any{"target": "oai"}, tt.headers...)
		h := map[string]string{}
		for i := 0; i+1 < len(tt.headers); i += 2 {
			h[tt.headers[i]] = tt.headers[i+1]
		}
		switch {
		case r.status != 200 || get(r.body, "meta", "target") != tt.target || get(r.body, "meta", "provider") != tt.provider || get(r.body, "data", "model") != tt.mdl:
			t.Errorf("%s: %d %s", tt.name, r.status, r.raw)
		case r.header.Get("X-ReliAPI-Provider") != tt.provider || r.header.Get("X-ReliAPI-Model") != tt.mdl ||
			r.header.Get("X-ReliAPI-Decision-ID") != h["X-RouteLLM-Decision-ID"]:
			t.Errorf("%s: response headers %v", tt.name, r.header)
		case get(r.body, "meta", "routellm_decision_id") != orNil(h["X-RouteLLM-Decision-ID"]) ||
			get(r.body, "meta", "routellm_route_name") != orNil(h["X-RouteLLM-Route-Name"]) ||
			get(r.body, "meta", "routellm_provider_override") != orNil(h["X-RouteLLM-Provider"]) ||
			get(r.body, "meta", "routellm_model_override") != orNil(h["X-RouteLLM-Model"]):
			t.Errorf("%s: meta %v", tt.name, r.body["meta"])
		}
	}

	// A call without a decision says nothing of one.
	if r := s.llm(map[string]any{"target": "oai"}); r.header.Get("X-ReliAPI-Provider") != "" || get(r.body, "meta", "routellm_decision_id") != nil {
		t.Errorf("no decision: %v %s", r.header, r.raw)
	}

	// The decision is kept on the job: polling shows it.
	a := s.llm(map[string]any{"target": "oai"}, append(decision("provider", "anthropic", "id", "d-async"), "Prefer", "respond-async")...)
	if a.status != 202 || a.header.Get("X-ReliAPI-Decision-ID") != "d-async" {
		t.Fatalf("async: %d %v %s", a.status, a.header, a.raw)
	}
	done := s.waitJob(a.body["id"].(string))
	if get(done.body, "target") != "ant" || get(done.body, "result", "meta", "routellm_decision_id") != "d-async" ||
		get(done.body, "result", "meta", "routellm_provider_override") != "anthropic" {
		t.Errorf("polled job: %s", done.raw)
	}

	// The decision is part of the request an idempotency key names.
	before := fake.Calls()
	body := map[string]any{"target": "oai", "idempotency_key": "routed-1"}
	if r := s.llm(body, decision("id", "d-7", "model", "gpt-4o")...); r.status != 200 {
		t.Fatalf("keyed: %d %s", r.status, r.raw)
	}
	if r := s.llm(body, decision("id", "d-7", "model", "gpt-4o")...); r.status != 200 || get(r.body, "meta", "idempotent_hit") != true {
		t.Errorf("keyed repeat: %d %s", r.status, r.raw)
	}
	if r := s.llm(body, decision("id", "d-8", "model", "gpt-4o")...); r.status != 409 || get(r.body, "error", "code") != "IDEMPOTENCY_CONFLICT" {
		t.Errorf("keyed repeat with another decision: %d %s", r.status, r.raw)
	}
	if n := fake.Calls() - before; n != 1 {
		t.Errorf("keyed calls reached the provider %d times", n)
	}

	// Header values are bounded.
	if r := s.llm(map[string]any{"target": "oai"}, decision("reason", strings.Repeat("x", 300))...); r.status != 400 || get(r.body, "error", "code") != "INVALID_REQUEST" {
		t.Errorf("long reason: %d %s", r.status, r.raw)
	}

	metrics := testenv.Scrape(t, s.url+"/metrics")
	for series, want := range map[string]float64{
		`reliapi_routellm_decisions_total{model="default",provider="anthropic",route_name="cheap"}`:   1,
		`reliapi_routellm_decisions_total{model="default",provider="anthropic",route_name="unknown"}`: 2,
		`reliapi_routellm_decisions_total{model="gpt-4o",provider="default",route_name="unknown"}`:    4,
		`reliapi_routellm_decisions_total{model="other",provider="mistral",route_name="other"}`:       1,
		`reliapi_routellm_decisions_total{model="other",provider="other",route_name="unknown"}`:       1,
		`reliapi_routellm_decisions_total{model="default",provider="default",route_name="cheap"}`:     1,
		`reliapi_routellm_overrides_total{override_type="provider"}`:                                  3,
		`reliapi_routellm_overrides_total{override_type="model"}`:                                     4,
		`reliapi_routellm_overrides_total{override_type="both"}`:                                      2,
	} {
		if got, _ := testenv.Metric(t, s.url+"/metrics", series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if strings.Contains(metrics, "some-new-route") || strings.Contains(metrics, "my-own-model") || strings.Contains(metrics, "nosuch") {
		t.Errorf("a caller's value became a label:\n%s", metrics)
	}
}

// orNil is s, or nil for "" (a field left out of the JSON).
func orNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestRouteLLMChatAndStream: the OpenAI-compatible route and streams take
// the decision too; a model that routes nowhere is placed by the provider
// override.
func TestRouteLLMChatAndStream(t *testing.T) {
	t.Parallel()
	s, _ := llmStack(t)
	chat := map[string]any{"model": "router-auto", "messages": []map[string]string{{"role": "user", "content": "Hello"}}}
	if r := s.do("POST", "/v1/chat/completions", chat); r.status != 404 {
		t.Errorf("unrouted model without a decision: %d %s", r.status, r.raw)
	}
	r := s.do("POST", "/v1/chat/completions", chat, decision("provider", "anthropic", "model", "claude-3-haiku-20240307", "id", "d-chat")...)
	if r.status != 200 || r.body["model"] != "claude-3-haiku-20240307" || r.header.Get("X-ReliAPI-Provider") != "anthropic" || r.header.Get("X-ReliAPI-Decision-ID") != "d-chat" {
		t.Errorf("chat with a decision: %d %v %s", r.status, r.header, r.raw)
	}

	st := s.openStream("/v1/proxy/llm", streamBody("oai", "one two"), decision("provider", "anthropic", "id", "d-stream")...)
	if st.resp.Header.Get("X-ReliAPI-Provider") != "anthropic" || st.resp.Header.Get("X-ReliAPI-Decision-ID") != "d-stream" {
		t.Errorf("stream headers: %v", st.resp.Header)
	}
	events := st.rest()
	if got := text(events); got != "echo: one two" || events[0].data["provider"] != "anthropic" {
		t.Errorf("stream: %s %v", got, events[0].data)
	}
	oa := s.openStream("/v1/chat/completions", map[string]any{"model": "oai", "stream": true, "messages": []map[string]string{{"role": "user", "content": "hi"}}},
		decision("provider", "mistral", "model", "mistral-small-latest")...)
	if oa.resp.Header.Get("X-ReliAPI-Provider") != "mistral" || oa.resp.Header.Get("X-ReliAPI-Model") != "mistral-small-latest" {
		t.Errorf("OpenAI stream headers: %v", oa.resp.Header)
	}
	oa.rest()
}

// TestRouteLLMTierLimits: the override is applied before the tier's
// checks, so a decision cannot take a free tenant to a model its tier
// does not allow.
func TestRouteLLMTierLimits(t *testing.T) {
	t.Parallel()
	auth := fmt.Sprintf(`
tenants:
  freebie:
    limits: {rpm: 0, burst: 0, ip_rpm: 0, fingerprint_rpm: 0}
    api_keys: [{sha256: %s}]
`, sha("key-free"))
	s, fake := llmStackOpts(t, stackOptions{authYAML: auth}, "")
	free := []string{"X-API-Key", "key-free"}
	if r := s.llm(map[string]any{"target": "oai", "model": "gpt-4o-mini"}, free...); r.status != 200 {
		t.Fatalf("free tier, gpt-4o-mini: %d %s", r.status, r.raw)
	}
	before := fake.Calls()
	r := s.llm(map[string]any{"target": "oai", "model": "gpt-4o-mini"}, append(free, decision("model", "gpt-4o", "id", "d-up")...)...)
	if r.status != 403 || get(r.body, "error", "code") != "MODEL_NOT_ALLOWED" || r.header.Get("X-ReliAPI-Model") != "gpt-4o" {
		t.Errorf("free tier overridden to gpt-4o: %d %v %s", r.status, r.header, r.raw)
	}
	if n := fake.Calls() - before; n != 0 {
		t.Errorf("the refused call reached the provider %d times", n)
	}
}
