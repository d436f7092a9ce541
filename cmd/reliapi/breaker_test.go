package main

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// TestSharedCircuitBreaker runs three worker processes against an upstream
// that answers 503: the breaker opens after the threshold, and over a 10 s
// open period under continuous traffic the upstream sees at most one probe
// per cooldown across all workers while the jobs fail fast with
// CIRCUIT_OPEN; once the upstream heals, one probe closes it and traffic
// flows again.
func TestSharedCircuitBreaker(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Parallel()
	const cooldown = 2 * time.Second
	c := startCluster(t, 1, 3, func(cfg *testenv.Config) {
		cfg.Targets["fragile"] = testenv.Section{
			"base_url":     cfg.Targets["up"]["base_url"],
			"circuit":      "{error_threshold: 3, cooldown_s: 2}",
			"retry_matrix": `{"5xx": {attempts: 1}}`,
		}
	})
	var (
		mu      sync.Mutex
		calls   []time.Time
		healthy atomic.Bool
	)
	c.upstream.Handle("/svc", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, time.Now())
		mu.Unlock()
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	})
	client := &http.Client{Timeout: 10 * time.Second}
	var circuitOpen, served atomic.Int64
	// Continuous traffic from 6 clients until ctx ends.
	traffic := func(ctx context.Context) *sync.WaitGroup {
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				for ctx.Err() == nil {
					status, body := call(t, client, "POST", c.apis[0]+"/v1/proxy/http",
						map[string]any{"target": "fragile", "method": "GET", "path": "/svc"})
					switch {
					case status == 200:
						served.Add(1)
					case status == 503 && body["error"].(map[string]any)["code"] == "CIRCUIT_OPEN":
						circuitOpen.Add(1)
					}
				}
			})
		}
		return &wg
	}

	ctx, stop := context.WithCancel(t.Context())
	wg := traffic(ctx)
	waitFor(t, "the breaker to open", func() bool { return circuitOpen.Load() > 0 })
	mu.Lock()
	openedAt := calls[len(calls)-1]
	failures := len(calls)
	mu.Unlock()
	// Hold the breaker open under traffic for 10 s (waiting on a timer is
	// the point of this test, not a guess at readiness).
	<-time.After(10 * time.Second)
	stop()
	wg.Wait()

	mu.Lock()
	probes := calls[failures:]
	mu.Unlock()
	if failures < 3 || failures > 3+5 { // the threshold, plus calls already in flight when it tripped
		t.Errorf("the upstream saw %d calls before the breaker opened, want about 3", failures)
	}
	// One probe per cooldown at most: 10 s of 2 s cooldowns is at most 5,
	// and no two probes closer than a cooldown.
	if len(probes) > 5 {
		t.Errorf("the upstream saw %d probes in 10 s with a %v cooldown", len(probes), cooldown)
	}
	last := openedAt
	for i, p := range probes {
		if gap := p.Sub(last); gap < cooldown-100*time.Millisecond {
			t.Errorf("probe %d came %v after the previous call, before the %v cooldown", i, gap, cooldown)
		}
		last = p
	}
	if circuitOpen.Load() < 100 {
		t.Errorf("only %d calls failed fast with CIRCUIT_OPEN during 10 s of traffic", circuitOpen.Load())
	}
	t.Logf("open for 10 s: %d fast failures, %d probes", circuitOpen.Load(), len(probes))

	// Heal: the next probe closes the breaker and traffic flows.
	healthy.Store(true)
	ctx, stop = context.WithCancel(t.Context())
	wg = traffic(ctx)
	waitFor(t, "traffic to flow again", func() bool { return served.Load() >= 50 })
	stop()
	wg.Wait()
}
