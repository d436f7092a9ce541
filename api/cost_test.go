package api_test

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

const cappedTargets = `
hard:
  base_url: "FAKE/openai/v1"
  llm: {provider: openai, default_model: gpt-4o, hard_cost_cap_usd: 0.0001}
  auth: {type: bearer_env, env_var: ENV}
soft:
  base_url: "FAKE/openai/v1"
  llm: {provider: openai, default_model: gpt-4o, max_tokens: 1000, soft_cost_cap_usd: 0.001}
  auth: {type: bearer_env, env_var: ENV}
house:
  base_url: "FAKE/openai/v1"
  llm: {provider: openai, default_model: llama-3, soft_cost_cap_usd: 1}
  auth: {type: bearer_env, env_var: ENV}
`

func metaFloat(r response, key string) float64 {
	v, _ := get(r.body, "meta", key).(float64)
	return v
}

func TestCostIsReported(t *testing.T) {
	t.Parallel()
	s, _ := llmStackWith(t, "", cappedTargets)
	r := s.llm(map[string]any{"target": "oai"})
	usage := get(r.body, "data", "usage").(map[string]any)
	want := (usage["prompt_tokens"].(float64)*0.15 + usage["completion_tokens"].(float64)*0.60) / 1e6
	if r.status != 200 || math.Abs(metaFloat(r, "cost_usd")-want) > 1e-12 || get(r.body, "meta", "cost_policy_applied") != "none" || metaFloat(r, "cost_estimate_usd") <= 0 {
		t.Fatalf("cost of a gpt-4o-mini call (want $%g): %s", want, r.raw)
	}
	// Spend is recorded without any cap configured, by the time the call
	// is answered: its finish settles it first. On a Cluster the ledger's
	// node may answer after the job's, which announced the end.
	var u response
	spentNow := func() bool {
		u = s.do("GET", "/v1/usage", nil)
		spent, _ := get(u.body, "day", "spent_usd").(float64)
		return math.Abs(spent-metaFloat(r, "cost_usd")) <= 1e-9
	}
	if onCluster {
		testenv.Eventually(t, 5*time.Second, "the call's spend to be settled", spentNow)
	}
	if !spentNow() || get(u.body, "day", "cap_usd") != nil {
		t.Fatalf("usage %s, want spent %g", u.raw, metaFloat(r, "cost_usd"))
	}
	// And in the workers' metrics, by target.
	m := s.raw("GET", "/metrics")
	if !strings.Contains(string(m.raw), fmt.Sprintf(`reliapi_llm_cost_usd_total{target="oai"} %g`, metaFloat(r, "cost_usd"))) {
		t.Errorf("no reliapi_llm_cost_usd_total for oai of %g in /metrics", metaFloat(r, "cost_usd"))
	}
}

func TestCostCaps(t *testing.T) {
	t.Parallel()
	s, fake := llmStackWith(t, "", cappedTargets)
	before := fake.Calls()
	hard := s.llm(map[string]any{"target": "hard", "max_tokens": 100})
	if hard.status != 400 || get(hard.body, "error", "code") != "BUDGET_EXCEEDED" || get(hard.body, "error", "type") != "budget_error" ||
		get(hard.body, "error", "details", "hard_cost_cap_usd") != 0.0001 || get(hard.body, "error", "details", "cost_estimate_usd") == nil ||
		!strings.HasPrefix(get(hard.body, "error", "message").(string), "Estimated cost $") {
		t.Fatalf("hard cap: %d %s", hard.status, hard.raw)
	}
	// Nor does the HTTP route, which would price nothing, reach it.
	r := s.do("POST", "/v1/proxy/http", map[string]any{"target": "hard", "method": "POST", "path": "/chat/completions",
		"body": map[string]any{"model": "gpt-4o", "max_tokens": 100000, "messages": []map[string]string{{"role": "user", "content": "Hello"}}}})
	if r.status != 400 || get(r.body, "error", "code") != "INVALID_TARGET" {
		t.Fatalf("HTTP route to a capped LLM target: %d %s", r.status, r.raw)
	}
	if fake.Calls() != before {
		t.Fatal("a call over its hard cap reached the provider")
	}
	// At $10 per 1M output tokens a $0.001 cap leaves room for under 100.
	soft := s.llm(map[string]any{"target": "soft", "messages": []map[string]string{{"role": "user", "content": strings.Repeat("many words ", 100)}}})
	orig, _ := get(soft.body, "meta", "original_max_tokens").(float64)
	if soft.status != 200 || get(soft.body, "meta", "cost_policy_applied") != "soft_cap_throttled" || get(soft.body, "meta", "max_tokens_reduced") != true ||
		orig != 1000 || metaFloat(soft, "cost_estimate_usd") > 0.001 || get(soft.body, "data", "finish_reason") != "length" {
		t.Fatalf("soft cap: %d %s", soft.status, soft.raw)
	}
	// A capped target with an unpriced model is refused, not let through.
	house := s.llm(map[string]any{"target": "house"})
	if house.status != 400 || get(house.body, "error", "code") != "PRICE_UNKNOWN" {
		t.Fatalf("unpriced model: %d %s", house.status, house.raw)
	}
}

func TestUnknownModelAllowed(t *testing.T) {
	t.Parallel()
	s, _ := llmStackWith(t, "budget: {unknown_model: allow}", cappedTargets)
	r := s.llm(map[string]any{"target": "house"})
	if r.status != 200 || get(r.body, "meta", "cost_usd") != nil {
		t.Fatalf("allowed unpriced model: %d %s", r.status, r.raw)
	}
}

// TestTenantBudget: the daily budget admits calls while their estimates
// fit; what is spent is what the calls actually cost.
func TestTenantBudget(t *testing.T) {
	t.Parallel()
	// gpt-4o-mini with max_tokens 1000: an estimate just over $0.0006; a
	// budget of $0.003 admits four calls at a time.
	s, _ := llmStackWith(t, "budget: {daily_usd: 0.003}", "")
	var spent float64
	admitted, refused := 0, 0
	for range 8 {
		r := s.llm(map[string]any{"target": "oai", "max_tokens": 1000})
		switch {
		case r.status == 200:
			admitted++
			spent += metaFloat(r, "cost_usd")
		case get(r.body, "error", "code") == "BUDGET_EXCEEDED":
			refused++
			if get(r.body, "error", "details", "window") != "day" {
				t.Fatalf("refusal: %s", r.raw)
			}
		default:
			t.Fatalf("call: %d %s", r.status, r.raw)
		}
	}
	// Settled calls cost far less than their estimates, so all eight fit.
	if admitted != 8 || refused != 0 {
		t.Fatalf("admitted %d, refused %d", admitted, refused)
	}
	u := s.do("GET", "/v1/usage", nil)
	if got := get(u.body, "day", "spent_usd").(float64); math.Abs(got-spent) > 1e-9 || get(u.body, "day", "held_usd") != 0.0 || get(u.body, "day", "cap_usd") != 0.003 {
		t.Fatalf("usage %s, want spent %g", u.raw, spent)
	}
}

// TestBudgetHoldsBlockConcurrentCalls: 20 concurrent slow calls against a
// budget that holds four estimates: four run, sixteen are refused.
func TestBudgetHoldsBlockConcurrentCalls(t *testing.T) {
	t.Parallel()
	s, fake := llmStackWith(t, "budget: {daily_usd: 0.003}", "")
	before := fake.Calls()
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for range 20 {
		wg.Go(func() {
			r := s.llm(map[string]any{"target": "oai", "max_tokens": 1000, "messages": []map[string]string{{"role": "user", "content": "slow:300 hi"}}})
			code, _ := get(r.body, "error", "code").(string)
			if r.status == 200 {
				code = "ok"
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes["ok"] != 4 || codes["BUDGET_EXCEEDED"] != 16 || fake.Calls()-before != 4 {
		t.Fatalf("outcomes %v, provider calls %d; want 4 ok and 16 refused", codes, fake.Calls()-before)
	}
}
