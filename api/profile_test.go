package api_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// TestClientProfileLimits: a client profile's max_parallel_requests caps a
// tenant's calls running at once (the others wait, none fails), and its
// default_timeout_s is the attempt timeout of its calls.
func TestClientProfileLimits(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraYAML: `
client_profiles:
  narrow: {max_parallel_requests: 2, default_timeout_s: 1.5}
`})
	var inFlight, most atomic.Int32
	gate := make(chan struct{})
	s.upstream.Handle("/gated", func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		select {
		case <-gate:
		case <-r.Context().Done():
		}
		w.Write([]byte(`{}`))
	})
	var ids []string
	for range 4 {
		r := s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/gated"},
			"X-Client", "narrow", "Prefer", "respond-async")
		if r.status != 202 {
			t.Fatalf("submit: %d %s", r.status, r.raw)
		}
		ids = append(ids, r.body["id"].(string))
	}
	eventually(t, "two calls running and the others waiting for a slot", func() bool {
		m := s.raw("GET", "/metrics")
		return inFlight.Load() == 2 && strings.Contains(string(m.raw), `reliapi_ratelimit_waits_total{bucket="parallel"}`)
	})
	close(gate)
	for _, id := range ids {
		if r := s.waitJob(id); r.body["status"] != "succeeded" {
			t.Fatalf("job %s: %s", id, r.raw)
		}
	}
	if m := most.Load(); m != 2 {
		t.Errorf("at most %d calls ran at once, want 2", m)
	}

	// /delay/3000 outlasts the profile's 1.5 s, not the target's 5 s. (The
	// profile's timeout also bounds the gated calls above, which must
	// outlast the scrapes that watch them on a loaded machine.)
	if r := s.proxy("GET", "/delay/3000", "X-Client", "narrow"); r.status != 504 || get(r.body, "error", "code") != "TIMEOUT" {
		t.Errorf("narrow profile, slow call: %d %s", r.status, r.raw)
	}
	if r := s.proxy("GET", "/delay/500"); r.status != 200 {
		t.Errorf("default profile, slow call: %d %s", r.status, r.raw)
	}
}
