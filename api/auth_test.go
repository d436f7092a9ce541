package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

func sha(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

// tenantsYAML configures two tenants, A (pro, with a revoked second key)
// and B (enterprise), and an admin key.
var tenantsYAML = fmt.Sprintf(`
auth:
  admin_key_sha256: %s
tenants:
  a:
    tier: pro
    api_keys:
      - {id: current, sha256: %s}
      - {id: old, sha256: %s, revoked: true}
  b:
    tier: enterprise
    api_keys: [{sha256: %s}]
`, sha("admin-key"), sha("key-a"), sha("key-a-old"), sha("key-b"))

func TestAuthMatrix(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{authYAML: tenantsYAML})
	call := map[string]any{"target": "up", "method": "GET", "path": "/get"}
	for _, tt := range []struct {
		name    string
		headers []string
		status  int
		message string
	}{
		{"no key", nil, 401, "Missing API key"},
		{"unknown key", []string{"X-API-Key", "key-c"}, 401, "Invalid API key"},
		{"revoked key", []string{"X-API-Key", "key-a-old"}, 401, "revoked"},
		{"basic auth is not a key", []string{"Authorization", "Basic a2V5LWE6"}, 401, "Missing API key"},
		{"admin key without a tenant", []string{"X-API-Key", "admin-key"}, 401, "X-Tenant"},
		{"admin key for a tenant", []string{"X-API-Key", "admin-key", "X-Tenant", "a"}, 200, ""},
		{"X-API-Key", []string{"X-API-Key", "key-a"}, 200, ""},
		{"Bearer", []string{"Authorization", "Bearer key-b"}, 200, ""},
		{"bearer, any case", []string{"Authorization", "bearer key-b"}, 200, ""},
	} {
		r := s.do("POST", "/v1/proxy/http", call, tt.headers...)
		if r.status != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, r.status, tt.status, r.raw)
			continue
		}
		if tt.status == 401 {
			msg, _ := get(r.body, "error", "message").(string)
			if get(r.body, "error", "code") != "UNAUTHORIZED" || !strings.Contains(msg, tt.message) || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: %s (WWW-Authenticate %q)", tt.name, r.raw, r.header.Get("WWW-Authenticate"))
			}
		}
	}
	if r := s.do("GET", "/v1/jobs", nil); r.status != 401 {
		t.Errorf("job list without a key: %d", r.status)
	}

	// Health is open; /metrics and the admin routes need the admin key.
	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		if r := s.do("GET", path, nil); r.status != 200 {
			t.Errorf("%s without a key: %d", path, r.status)
		}
	}
	enable := "/v1/targets/up/keys/k1/enable"
	for _, tt := range []struct {
		method, path string
		headers      []string
		status       int
	}{
		{"GET", "/metrics", nil, 401},
		{"GET", "/metrics", []string{"X-API-Key", "key-b"}, 403},
		{"GET", "/metrics", []string{"Authorization", "Bearer admin-key"}, 200},
		{"POST", enable, nil, 401},
		{"POST", enable, []string{"X-API-Key", "key-a"}, 403},
		{"POST", enable, []string{"X-API-Key", "admin-key"}, 404}, // past the guard: "up" has no key pool
	} {
		req := s.raw(tt.method, tt.path, tt.headers...)
		if req.status != tt.status {
			t.Errorf("%s %s %v: %d, want %d: %.200s", tt.method, tt.path, tt.headers, req.status, tt.status, req.raw)
		}
	}
	if logs := s.logs.String(); strings.Contains(logs, "key-a") || strings.Contains(logs, "admin-key") {
		t.Error("a key is in the logs")
	}
}

// TestAdminRoutesWithoutAdminKey: with keys but no admin key, the admin
// routes are refused to every tenant, and /metrics is open.
func TestAdminRoutesWithoutAdminKey(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true, authYAML: fmt.Sprintf("tenants:\n  a:\n    api_keys: [{sha256: %s}]\n", sha("key-a"))})
	if r := s.raw("POST", "/v1/targets/up/keys/k1/enable", "X-API-Key", "key-a"); r.status != 403 || !strings.Contains(string(r.raw), "auth.admin_key") {
		t.Errorf("admin route: %d %s", r.status, r.raw)
	}
	if r := s.raw("GET", "/metrics"); r.status != 200 {
		t.Errorf("/metrics: %d", r.status)
	}
}

// TestTenantIsolation: a tenant never sees another's jobs, results,
// idempotency records or cache entries, and another tenant's job is 404,
// as if it did not exist.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{authYAML: tenantsYAML, extraTargets: "cached:\n  base_url: %UP%\n  cache: {enabled: true, ttl_s: 60}"})
	a, b := []string{"X-API-Key", "key-a"}, []string{"X-API-Key", "key-b"}

	job := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/delay/200"}}, a...)
	if job.status != 202 {
		t.Fatalf("submit: %d %s", job.status, job.raw)
	}
	id := job.body["id"].(string)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/v1/jobs/" + id},
		{"GET", "/v1/jobs/" + id + "?wait=1"},
		{"POST", "/v1/jobs/" + id + "/cancel"},
		{"POST", "/v1/jobs/" + id + "/webhook/replay"},
	} {
		r := s.do(tt.method, tt.path, nil, b...)
		if r.status != 404 || get(r.body, "error", "code") != "JOB_NOT_FOUND" {
			t.Errorf("tenant b: %s %s: %d %s", tt.method, tt.path, r.status, r.raw)
		}
	}
	if r := s.raw("GET", "/v1/jobs/"+id+"/events", b...); r.status != 404 {
		t.Errorf("tenant b: events: %d %s", r.status, r.raw)
	}
	if r := s.do("GET", "/v1/jobs", nil, b...); len(r.body["data"].([]any)) != 0 {
		t.Errorf("tenant b lists a's jobs: %s", r.raw)
	}
	if r := s.waitJob(id, a...); r.body["status"] != "succeeded" {
		t.Errorf("tenant a's job: %s", r.raw)
	}

	// One idempotency key, one request, two tenants: two jobs, two calls.
	idem := map[string]any{"target": "up", "method": "POST", "path": "/anything", "body": map[string]any{"n": 1}, "idempotency_key": "order-1"}
	ra := s.do("POST", "/v1/proxy/http", idem, a...)
	rb := s.do("POST", "/v1/proxy/http", idem, b...)
	if ra.status != 200 || rb.status != 200 || get(ra.body, "meta", "job_id") == get(rb.body, "meta", "job_id") || get(rb.body, "meta", "idempotent_hit") == true {
		t.Errorf("idempotency shared across tenants:\n%s\n%s", ra.raw, rb.raw)
	}
	// The same cacheable GET: each tenant's first call misses.
	for _, who := range [][]string{a, b} {
		r := s.do("POST", "/v1/proxy/http", map[string]any{"target": "cached", "method": "GET", "path": "/get?isolation=1"}, who...)
		if r.status != 200 || get(r.body, "meta", "cache_hit") == true {
			t.Errorf("%s: first cacheable call: %s", who[1], r.raw)
		}
	}
	// b's repeat hits b's entry. On a Cluster the fill lands on another
	// node than the finish that answered b, moments later at most
	// (docs/ARCHITECTURE.md, known gaps): b repeats until it hits.
	testenv.Eventually(t, 5*time.Second, "b's repeat to be a cache hit", func() bool {
		r := s.do("POST", "/v1/proxy/http", map[string]any{"target": "cached", "method": "GET", "path": "/get?isolation=1"}, b...)
		return r.status == 200 && get(r.body, "meta", "cache_hit") == true
	})
}
