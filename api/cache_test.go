package api_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

const cachedTarget = `
cached:
  base_url: "%UP%"
  cache: {ttl_s: 60}
  retry_matrix: {"5xx": {attempts: 1}}
`

func (s *stack) get(path string, extra map[string]any, headers ...string) response {
	s.t.Helper()
	body := map[string]any{"target": "cached", "method": "GET", "path": path}
	for k, v := range extra {
		body[k] = v
	}
	return s.do("POST", "/v1/proxy/http", body, headers...)
}

func (s *stack) jobCount() int {
	s.t.Helper()
	return len(s.do("GET", "/v1/jobs?limit=100", nil).body["data"].([]any))
}

func TestCacheHitIsAnsweredWithoutAJob(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraTargets: cachedTarget})
	first := s.get("/uuid", nil)
	if first.status != 200 || get(first.body, "meta", "cache_hit") != false || first.header.Get("X-Cache-Hit") != "false" {
		t.Fatalf("first: %d %v %s", first.status, first.header, first.raw)
	}
	hit := s.get("/uuid", nil, "Prefer", "respond-async")
	if hit.status != 200 || get(hit.body, "meta", "cache_hit") != true || hit.header.Get("X-Cache-Hit") != "true" ||
		hit.header.Get("Age") == "" || get(hit.body, "meta", "job_id") != nil {
		t.Fatalf("hit: %d %v %s", hit.status, hit.header, hit.raw)
	}
	if fmt.Sprint(hit.body["data"]) != fmt.Sprint(first.body["data"]) {
		t.Fatalf("the hit answers %v, the first call %v", hit.body["data"], first.body["data"])
	}
	if n := s.upstream.Calls("/uuid"); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
	if n := s.jobCount(); n != 1 {
		t.Fatalf("jobs = %d, want 1: a hit creates no job", n)
	}
	if v, _ := testenv.Metric(t, s.url+"/metrics", `reliapi_cache_hits_total{result="hit",target="cached"}`); v != 1 {
		t.Error("the hit is not counted")
	}
}

func TestCacheRules(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraTargets: cachedTarget})
	tests := []struct {
		name      string
		path      string
		first     map[string]any
		second    map[string]any
		headers   [2][]string
		wantCalls int
	}{
		{"cache 0 disables it", "/anything/zero", map[string]any{"cache": 0}, map[string]any{"cache": 0}, [2][]string{}, 2},
		{"errors are not cached", "/status/500", nil, nil, [2][]string{}, 2},
		{"4xx are not cached", "/status/404", nil, nil, [2][]string{}, 2},
		{"another Accept is another entry", "/anything/accept",
			map[string]any{"headers": map[string]string{"Accept": "application/json"}},
			map[string]any{"headers": map[string]string{"Accept": "text/plain"}}, [2][]string{}, 2},
		{"another query is another entry", "/anything/q", map[string]any{"query": map[string]any{"a": "1"}}, map[string]any{"query": map[string]any{"a": "2"}}, [2][]string{}, 2},
		{"a non-vary header is the same entry", "/anything/trace",
			map[string]any{"headers": map[string]string{"X-Trace": "1"}},
			map[string]any{"headers": map[string]string{"X-Trace": "2"}}, [2][]string{}, 1},
		{"the same query in another order is the same entry", "/anything/order?b=2&a=1", nil, map[string]any{"path": "/anything/order?a=1&b=2"}, [2][]string{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.path
			before := s.upstream.Total()
			s.get(p, tt.first)
			s.get(p, tt.second)
			if n := s.upstream.Total() - before; n != tt.wantCalls {
				t.Fatalf("upstream calls = %d, want %d", n, tt.wantCalls)
			}
		})
	}
	// POST is never cached.
	before := s.upstream.Total()
	for range 2 {
		s.do("POST", "/v1/proxy/http", map[string]any{"target": "cached", "method": "POST", "path": "/anything/post"})
	}
	if n := s.upstream.Total() - before; n != 2 {
		t.Fatalf("POST upstream calls = %d, want 2", n)
	}
}

func TestCacheTTLOverride(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraTargets: cachedTarget})
	s.get("/anything/short", map[string]any{"cache": 1})
	if r := s.get("/anything/short", map[string]any{"cache": 1}); get(r.body, "meta", "cache_hit") != true {
		t.Fatalf("second call within the TTL: %s", r.raw)
	}
	// After one second the entry is gone and the upstream is called again.
	eventually(t, "the 1 s entry to expire", func() bool {
		return get(s.get("/anything/short", map[string]any{"cache": 1}).body, "meta", "cache_hit") == false
	})
	if n := s.upstream.Calls("/anything/short"); n != 2 {
		t.Fatalf("upstream calls = %d, want 2", n)
	}
}

// TestConcurrentIdenticalGetsCollapse: 100 identical GETs while the first
// is in flight make one upstream call; all get its answer.
func TestConcurrentIdenticalGetsCollapse(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraTargets: cachedTarget})
	arrived, release := blockUpstream(s, "/slow-get")
	const n = 100
	results := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i] = s.get("/slow-get", nil) })
	}
	<-arrived
	// Release once every other request has joined the call in flight.
	eventually(t, "the other 99 requests to collapse onto the first", func() bool {
		v, _ := testenv.Metric(t, s.url+"/metrics", `reliapi_cache_hits_total{result="collapsed",target="cached"}`)
		return v == n-1
	})
	release()
	wg.Wait()
	if c := s.upstream.Calls("/slow-get"); c != 1 {
		t.Fatalf("upstream calls = %d, want 1", c)
	}
	for i, r := range results {
		if r.status != 200 || get(r.body, "data", "body", "released") != true {
			t.Fatalf("result %d: %d %s", i, r.status, r.raw)
		}
	}
	if r := s.get("/slow-get", nil); get(r.body, "meta", "cache_hit") != true {
		t.Fatalf("a repeat is not a hit: %s", r.raw)
	}
	if n := s.jobCount(); n != 1 {
		t.Fatalf("jobs = %d, want 1", n)
	}
}

// TestCancelingALeaderReleasesTheEntry: identical calls do not wait on a
// canceled job.
func TestCancelingALeaderReleasesTheEntry(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraTargets: cachedTarget, noWorker: true})
	first := s.get("/uuid", nil, "Prefer", "respond-async")
	id := first.body["id"].(string)
	if c := s.do("POST", "/v1/jobs/"+id+"/cancel", nil); c.body["status"] != "canceled" {
		t.Fatalf("cancel: %s", c.raw)
	}
	second := s.get("/uuid", nil, "Prefer", "respond-async")
	if second.status != 202 || second.body["id"] == id {
		t.Fatalf("after the cancel: %d %s", second.status, second.raw)
	}
}

// TestEndedLeadersClaimIsTakenOver: a claim that still names a job
// already over without an answer (its release on its way from another
// node of a Cluster, or lost) is taken over by the next identical call,
// which runs its own job instead of taking the ended one's outcome.
func TestEndedLeadersClaimIsTakenOver(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraTargets: cachedTarget, noWorker: true})
	first := s.get("/uuid", nil, "Prefer", "respond-async")
	id := first.body["id"].(string)
	claims := s.keys("reliapi:cache:*:inflight")
	if len(claims) != 1 {
		t.Fatalf("in-flight claims = %v, want the first call's", claims)
	}
	if c := s.do("POST", "/v1/jobs/"+id+"/cancel", nil); c.body["status"] != "canceled" {
		t.Fatalf("cancel: %s", c.raw)
	}
	// The cancel released the claim; put it back, as a release still on
	// its way would leave it.
	if err := s.rdb.Set(t.Context(), claims[0], id, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	second := s.get("/uuid", nil, "Prefer", "respond-async")
	if second.status != 202 || second.body["id"] == id {
		t.Fatalf("past the ended leader: %d %s", second.status, second.raw)
	}
	if got := s.rdb.Get(t.Context(), claims[0]).Val(); got != second.body["id"] {
		t.Fatalf("the claim names %q, want the second call's job", got)
	}
}

// TestKeyedOrHookedCallsRunTheirOwnJob: a call with an idempotency key or
// a webhook of its own is never answered from the cache (a hit has no job
// to hold the key or fire the webhook), so the key still names its
// request and the webhook is delivered.
func TestKeyedOrHookedCallsRunTheirOwnJob(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{extraTargets: cachedTarget, extraYAML: webhookYAML})
	if r := s.get("/uuid", nil); r.status != 200 {
		t.Fatalf("filling the cache: %d %s", r.status, r.raw)
	}
	keyed := s.get("/uuid", nil, "Idempotency-Key", "K")
	if keyed.status != 200 || get(keyed.body, "meta", "cache_hit") != false || get(keyed.body, "meta", "job_id") == nil {
		t.Fatalf("a keyed call answered from the cache: %d %s", keyed.status, keyed.raw)
	}
	if r := s.get("/get", nil, "Idempotency-Key", "K"); r.status != 409 || get(r.body, "error", "code") != "IDEMPOTENCY_CONFLICT" {
		t.Errorf("the key reused for another request: %d %s", r.status, r.raw)
	}
	if r := s.get("/uuid", nil, "Idempotency-Key", "K"); get(r.body, "meta", "idempotent_hit") != true || fmt.Sprint(r.body["data"]) != fmt.Sprint(keyed.body["data"]) {
		t.Errorf("the key's repeat is not its replay: %s", r.raw)
	}
	rcv := newReceiver(t)
	hooked := s.get("/uuid", map[string]any{"webhook": map[string]any{"url": rcv.srv.URL}})
	if hooked.status != 200 || get(hooked.body, "meta", "cache_hit") != false {
		t.Fatalf("a call with a webhook answered from the cache: %d %s", hooked.status, hooked.raw)
	}
	if job := s.waitWebhook(get(hooked.body, "meta", "job_id").(string)); get(job.body, "webhook", "status") != "delivered" {
		t.Fatalf("its webhook: %s", job.raw)
	}
	if n := s.upstream.Calls("/uuid"); n != 3 {
		t.Errorf("upstream calls = %d, want 3 (the first, the keyed, the hooked)", n)
	}
}
