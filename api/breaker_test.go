package api_test

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/reliapi/reliapi/internal/testenv"
)

// TestCircuitBreaker drives one target through closed → open → half-open
// → closed through the api and the worker.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraTargets: `
fragile:
  base_url: "%UP%"
  circuit: {error_threshold: 2, cooldown_s: 5}
  retry_matrix: {"5xx": {attempts: 1}}
`})
	var healthy atomic.Bool
	s.upstream.Handle("/svc", func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})
	call := func() response {
		return s.do("POST", "/v1/proxy/http", map[string]any{"target": "fragile", "method": "GET", "path": "/svc"})
	}
	for range 2 {
		if r := call(); get(r.body, "error", "code") != "SERVER_ERROR" {
			t.Fatalf("failing call: %d %s", r.status, r.raw)
		}
	}
	// Open: refused without touching the upstream. The cooldown is long
	// enough that a slow run (the cluster suite under -race) cannot see it
	// end before this call.
	r := call()
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); r.status != 503 || get(r.body, "error", "code") != "CIRCUIT_OPEN" || ra < 1 || ra > 5 {
		t.Fatalf("call while open: %d %v %s", r.status, r.header, r.raw)
	}
	if n := s.upstream.Calls("/svc"); n != 2 {
		t.Fatalf("upstream calls = %d, want 2", n)
	}
	targets := s.do("GET", "/v1/targets", nil)
	if st := targetState(targets.body, "fragile"); st != "open" {
		t.Fatalf("targets: %s", targets.raw)
	}
	if v, _ := testenv.Metric(t, s.url+"/metrics", `reliapi_circuit_breaker_state{target="fragile"}`); v != 2 {
		t.Error("metrics do not show the open breaker")
	}

	// The upstream heals; after the cooldown one probe closes the breaker.
	healthy.Store(true)
	eventually(t, "the breaker to let a probe through", func() bool { return call().status == 200 })
	if st := targetState(s.do("GET", "/v1/targets", nil).body, "fragile"); st != "closed" {
		t.Fatalf("after the probe: %s", st)
	}
	if r := call(); r.status != 200 {
		t.Fatalf("after closing: %d %s", r.status, r.raw)
	}
}

func targetState(body map[string]any, name string) any {
	data, _ := body["data"].([]any)
	for _, d := range data {
		if get(d, "name") == name {
			return get(d, "circuit", "state")
		}
	}
	return nil
}

// TestSlowCallsOpenTheBreaker: with circuit.slow_call_ms, successful but
// slow answers count as failures for the breaker (the calls themselves
// succeed).
func TestSlowCallsOpenTheBreaker(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraTargets: `
sluggish:
  base_url: "%UP%"
  cache: {enabled: false}
  circuit: {error_threshold: 2, cooldown_s: 60, slow_call_ms: 50}
`})
	call := func() response {
		return s.do("POST", "/v1/proxy/http", map[string]any{"target": "sluggish", "method": "GET", "path": "/delay/100"})
	}
	for i := range 2 {
		if r := call(); r.status != 200 {
			t.Fatalf("slow call %d: %d %s", i, r.status, r.raw)
		}
	}
	if r := call(); get(r.body, "error", "code") != "CIRCUIT_OPEN" {
		t.Fatalf("after two slow calls: %d %s", r.status, r.raw)
	}
}
