package main

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/fakellm"
	"github.com/reliapi/reliapi/internal/testenv"
)

// TestBudgetAcrossProcesses: a tenant budget that allows 10 calls, 100
// concurrent calls over two api processes and three workers: at most 10
// reach the provider, the rest get BUDGET_EXCEEDED, and the recorded spend
// is the sum of the actual costs.
func TestBudgetAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Parallel()
	fake := fakellm.New()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	// gpt-4o-mini with max_tokens 1000 is estimated at about $0.000602;
	// $0.0065 holds ten of them.
	c := startCluster(t, 2, 3, func(cfg *testenv.Config) {
		cfg.Targets["llm"] = testenv.Section{
			"base_url": fmt.Sprintf("%q", srv.URL+"/openai/v1"),
			"llm":      "{provider: openai, default_model: gpt-4o-mini}",
			"auth":     "{type: bearer_env, env_var: FAKE_KEY}",
		}
		cfg.Extra = "budget:\n  daily_usd: 0.0065\n"
	}, "FAKE_KEY=sk-fake")
	client := &http.Client{Timeout: 30 * time.Second}
	var (
		mu    sync.Mutex
		codes = map[string]int{}
		spent float64
		wg    sync.WaitGroup
	)
	for i := range 100 {
		wg.Go(func() {
			// Slow answers: every hold is taken before any is settled.
			status, body := call(t, client, "POST", c.apis[i%2]+"/v1/proxy/llm", map[string]any{
				"target": "llm", "max_tokens": 1000,
				"messages": []map[string]string{{"role": "user", "content": "slow:1000 hello"}},
			})
			mu.Lock()
			defer mu.Unlock()
			if status == 200 {
				codes["ok"]++
				spent += body["meta"].(map[string]any)["cost_usd"].(float64)
				return
			}
			code, _ := body["error"].(map[string]any)["code"].(string)
			codes[code]++
		})
	}
	wg.Wait()
	if codes["ok"] > 10 || codes["ok"]+codes["BUDGET_EXCEEDED"] != 100 || fake.Calls() > 10 {
		t.Fatalf("outcomes %v, provider calls %d; want at most 10 calls and the rest BUDGET_EXCEEDED", codes, fake.Calls())
	}
	if codes["ok"] < 9 {
		t.Errorf("only %d calls admitted within a budget of 10", codes["ok"])
	}
	_, usage := call(t, client, "GET", c.apis[1]+"/v1/usage", nil)
	day := usage["day"].(map[string]any)
	if got := day["spent_usd"].(float64); math.Abs(got-spent) > 1e-9 || day["held_usd"].(float64) != 0 {
		t.Fatalf("recorded spend %v (held %v), want the sum of actual costs %v", got, day["held_usd"], spent)
	}
	t.Logf("admitted %d, refused %d, spent $%.9f", codes["ok"], codes["BUDGET_EXCEEDED"], spent)
}
