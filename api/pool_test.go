package api_test

import (
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/testenv"
)

// poolStack is a stack whose target "pooled" has the keys in keysYAML, each
// secret taken from a variable only this test sets.
func poolStack(t *testing.T, keysYAML, extra string, secrets map[string]string) *stack {
	t.Helper()
	prefix := "RELIAPI_TEST_" + strings.ReplaceAll(strings.ToUpper(t.Name()), "/", "_") + "_"
	for name, v := range secrets {
		os.Setenv(prefix+name, v)
		t.Cleanup(func() { os.Unsetenv(prefix + name) })
	}
	return newStack(t, stackOptions{
		extraYAML: strings.ReplaceAll("provider_key_pools:\n  pooled:\n"+keysYAML+"\n"+extra, "env:", "env:"+prefix),
		extraTargets: `
pooled:
  base_url: "%UP%"
  cache: {enabled: false}
  circuit: {error_threshold: 1000}
  retry_matrix: {"429": {attempts: 1}}
`,
	})
}

func (s *stack) pooled(headers ...string) response {
	s.t.Helper()
	return s.do("POST", "/v1/proxy/http", map[string]any{"target": "pooled", "method": "GET", "path": "/keyed"}, headers...)
}

func TestRateLimitedKeySwitchesAndRests(t *testing.T) {
	t.Parallel()
	s := poolStack(t, `    keys:
      - {id: a, api_key: "env:A"}
      - {id: b, api_key: "env:B"}`, "", map[string]string{"A": "sk-a", "B": "sk-b"})
	up := &testenv.KeyLog{}
	s.upstream.Handle("/keyed", up.Handler(map[string]int{"sk-a": 429}))

	first := s.pooled()
	if first.status != 200 || get(first.body, "data", "body", "key") != "sk-b" || get(first.body, "meta", "retries") != 0.0 {
		t.Fatalf("first call: %d %s", first.status, first.raw)
	}
	// While a rests (2 s from its 429), before the calls below use up that
	// time on a slow machine.
	targets := s.do("GET", "/v1/targets", nil)
	if !strings.Contains(string(targets.raw), `"id":"a","status":"cooling"`) || strings.Contains(string(targets.raw), "sk-a") {
		t.Fatalf("targets: %s", targets.raw)
	}
	metrics := testenv.Scrape(t, s.url+"/metrics")
	for _, want := range []string{
		`reliapi_key_switches_total{provider="pooled",reason="rate_limited"} 1`,
		`reliapi_key_pool_keys{provider="pooled",status="cooling"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	start := time.Now()
	for time.Since(start) < 1500*time.Millisecond {
		if r := s.pooled(); r.status != 200 {
			t.Fatalf("call while a rests: %d %s", r.status, r.raw)
		}
	}
	calls := up.Calls()
	if calls[0].Key != "sk-a" || calls[1].Key != "sk-b" {
		t.Fatalf("first calls used %v", calls[:2])
	}
	for _, c := range calls[1:] {
		if c.Key == "sk-a" && c.At.Sub(calls[0].At) < 2*time.Second {
			t.Fatalf("key a was used %v after its 429 with Retry-After: 2", c.At.Sub(calls[0].At))
		}
	}
	if strings.Contains(metrics, "sk-a") || strings.Contains(s.logs.String(), "sk-a") {
		t.Error("a key secret leaked into metrics or logs")
	}
}

// TestEveryKeyRateLimited: when every key of the pool answers 429 within
// one attempt, the call ends with the upstream's 429 (and Retry-After),
// for the retry matrix to handle, not with KEY_POOL_EXHAUSTED, which says
// every key is quarantined.
func TestEveryKeyRateLimited(t *testing.T) {
	t.Parallel()
	s := poolStack(t, `    keys:
      - {id: a, api_key: "env:A"}
      - {id: b, api_key: "env:B"}
    max_key_switches: 3`, "", map[string]string{"A": "sk-a", "B": "sk-b"})
	up := &testenv.KeyLog{}
	s.upstream.Handle("/keyed", up.Handler(map[string]int{"sk-a": 429, "sk-b": 429}))

	r := s.pooled()
	if r.status != http.StatusTooManyRequests || get(r.body, "error", "code") != string(reliapi.CodeClientError) || r.header.Get("Retry-After") == "" {
		t.Fatalf("every key rate limited: %d %v %s", r.status, r.header, r.raw)
	}
	if calls := up.Calls(); len(calls) != 2 || calls[0].Key == calls[1].Key {
		t.Errorf("calls %v, want one with each key", calls)
	}
}

func TestUnauthorizedKeyIsQuarantined(t *testing.T) {
	t.Parallel()
	s := poolStack(t, `    keys:
      - {id: bad, api_key: "env:BAD"}
      - {id: good, api_key: "env:GOOD"}`, "", map[string]string{"BAD": "sk-bad", "GOOD": "sk-good"})
	up := &testenv.KeyLog{}
	s.upstream.Handle("/keyed", up.Handler(map[string]int{"sk-bad": 401}))
	for range 5 {
		if r := s.pooled(); r.status != 200 || get(r.body, "data", "status_code") != 200.0 {
			t.Fatalf("call: %d %s", r.status, r.raw)
		}
	}
	bad := 0
	for _, c := range up.Calls() {
		if c.Key == "sk-bad" {
			bad++
		}
	}
	if bad != 1 {
		t.Fatalf("the 401 key was called %d times, want once", bad)
	}
	if !strings.Contains(string(s.do("GET", "/v1/targets", nil).raw), `"id":"bad","status":"quarantined"`) {
		t.Fatal("key not shown quarantined")
	}
	// An operator re-enables it: it is tried again.
	if r := s.do("POST", "/v1/targets/pooled/keys/bad/enable", nil); r.status != 200 {
		t.Fatalf("enable: %d %s", r.status, r.raw)
	}
	s.pooled()
	if n := len(up.Calls()); up.Calls()[n-2].Key != "sk-bad" {
		t.Fatalf("the re-enabled key was not tried: %v", up.Calls()[n-2:])
	}
	if r := s.do("POST", "/v1/targets/pooled/keys/nope/enable", nil); r.status != 404 {
		t.Fatalf("enable unknown key: %d", r.status)
	}
}

func TestKeyRateLimitSpacesCalls(t *testing.T) {
	t.Parallel()
	s := poolStack(t, `    keys:
      - {id: slow, api_key: "env:SLOW", rate_limit: {max_qps: 5, burst_size: 1}}`, "", map[string]string{"SLOW": "sk-slow"})
	up := &testenv.KeyLog{}
	s.upstream.Handle("/keyed", up.Handler(nil))
	const n = 10 // 2 s of work at 5/s: the last ones wait over a second, in the queue
	var wg sync.WaitGroup
	results := make([]response, n)
	for i := range n {
		wg.Go(func() { results[i] = s.pooled() })
	}
	wg.Wait()
	for i, r := range results {
		if r.status != 200 {
			t.Fatalf("job %d: %d %s", i, r.status, r.raw)
		}
	}
	// At 5 per second without burst no second holds more than 5 calls
	// (plus one at its edge); the 10 calls take at least 1.8 s.
	calls := up.Calls()
	for i := range calls {
		j := i
		for j < len(calls) && calls[j].At.Sub(calls[i].At) < time.Second {
			j++
		}
		if j-i > 6 {
			t.Fatalf("%d calls within one second from call %d, at 5/s", j-i, i)
		}
	}
	if span := calls[len(calls)-1].At.Sub(calls[0].At); span < 1700*time.Millisecond {
		t.Fatalf("10 calls at 5/s took only %v", span)
	}
	if v, _ := testenv.Metric(t, s.url+"/metrics", `reliapi_ratelimit_waits_total{bucket="provider_key"}`); v == 0 {
		t.Error("rate-limit waits not counted")
	}
}

func TestRateLimitPastTheDeadlineIs429(t *testing.T) {
	t.Parallel()
	s := poolStack(t, `    keys:
      - {id: rare, api_key: "env:RARE", qps_limit: 0.2}`, "jobs:\n  timeout: 2s", map[string]string{"RARE": "sk-rare"})
	up := &testenv.KeyLog{}
	s.upstream.Handle("/keyed", up.Handler(nil))
	if r := s.pooled(); r.status != 200 {
		t.Fatalf("first: %d %s", r.status, r.raw)
	}
	r := s.pooled()
	if r.status != 429 || get(r.body, "error", "code") != "RATE_LIMIT_RELIAPI" || r.header.Get("Retry-After") == "" {
		t.Fatalf("second: %d %v %s", r.status, r.header, r.raw)
	}
	if n := len(up.Calls()); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
}

// TestExhaustedKeyRests: a key whose answer says its window is used up
// (x-ratelimit-remaining-requests: 0) rests until the window resets, so
// the next calls go to the other key instead of drawing a 429.
func TestExhaustedKeyRests(t *testing.T) {
	t.Parallel()
	s := poolStack(t, `    keys:
      - {id: a, api_key: "env:A"}
      - {id: b, api_key: "env:B"}`, "", map[string]string{"A": "sk-a", "B": "sk-b"})
	up := &testenv.KeyLog{}
	keyed := up.Handler(nil)
	s.upstream.Handle("/keyed", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer sk-a" {
			w.Header().Set("X-Ratelimit-Remaining-Requests", "0")
			w.Header().Set("X-Ratelimit-Reset-Requests", "1m0s")
		}
		keyed(w, r)
	})
	for range 5 {
		if r := s.pooled(); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
	}
	var keys []string
	for _, c := range up.Calls() {
		keys = append(keys, c.Key)
	}
	if strings.Join(keys, ",") != "sk-a,sk-b,sk-b,sk-b,sk-b" {
		t.Fatalf("keys used: %v", keys)
	}
	targets := s.do("GET", "/v1/targets", nil)
	if !strings.Contains(string(targets.raw), `"id":"a","status":"cooling"`) {
		t.Fatalf("targets: %s", targets.raw)
	}
}
