package api_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi/lane"
)

// limitedYAML: tenant "small" allows 3 calls a minute and 2 a second;
// tenant "free" allows 3 calls a minute per client IP and bans an IP after
// its second refusal.
var limitedYAML = fmt.Sprintf(`
tenants:
  small:
    tier: developer
    limits: {rpm: 3, burst: 2}
    api_keys: [{sha256: %s}]
  free:
    tier: free
    limits: {rpm: 100, burst: 0, ip_rpm: 3, fingerprint_rpm: 0, ban_after: 2, ban_window: 1m, ban_for: 30s}
    api_keys: [{sha256: %s}]
`, sha("key-small"), sha("key-free"))

func TestTenantLimits(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{authYAML: limitedYAML})
	key := []string{"X-API-Key", "key-small", "Prefer", "respond-async"}
	call := map[string]any{"target": "up", "method": "GET", "path": "/get"}

	// The per-second window refuses the third call in a row...
	var statuses []int
	var last response
	for range 3 {
		last = s.do("POST", "/v1/proxy/http", call, key...)
		statuses = append(statuses, last.status)
	}
	if statuses[0] != 202 || statuses[1] != 202 || statuses[2] != 429 {
		t.Fatalf("statuses %v, want 202 202 429", statuses)
	}
	if get(last.body, "error", "code") != "RATE_LIMIT_EXCEEDED" || get(last.body, "error", "details", "limit") != "tenant_burst" ||
		last.header.Get("Retry-After") != "1" || last.header.Get("X-RateLimit-Limit") != "2" || last.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("burst refusal: %v %s", last.header, last.raw)
	}
	// ...and once the second has passed, the per-minute window refuses the
	// fourth, for about a minute.
	eventually(t, "the per-second window has room", func() bool {
		last = s.do("POST", "/v1/proxy/http", call, key...)
		return get(last.body, "error", "details", "limit") != "tenant_burst"
	})
	if last.status != 202 || last.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("third call: %d %v %s", last.status, last.header, last.raw)
	}
	last = s.do("POST", "/v1/proxy/http", call, key...)
	ra, _ := strconv.Atoi(last.header.Get("Retry-After"))
	if last.status != 429 || get(last.body, "error", "details", "limit") != "tenant_rpm" || ra < 50 || ra > 60 ||
		last.header.Get("X-RateLimit-Limit") != "3" || last.header.Get("X-RateLimit-Reset") != last.header.Get("Retry-After") {
		t.Fatalf("fourth call: %d %v %s", last.status, last.header, last.raw)
	}
	if get(last.body, "error", "retry_after_s") == nil {
		t.Errorf("no retry_after_s in the envelope: %s", last.raw)
	}
	// Reading is not limited.
	if r := s.do("GET", "/v1/jobs", nil, key...); r.status != 200 {
		t.Errorf("listing jobs when over the limit: %d", r.status)
	}
}

// TestClientIPLimitAndBan: behind a trusted proxy each X-Forwarded-For
// client has its own IP window; an IP refused again and again is banned,
// and the ban is of that IP only.
func TestClientIPLimitAndBan(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{authYAML: limitedYAML, serverYAML: "trusted_proxies: [127.0.0.1/32]"})
	call := map[string]any{"target": "up", "method": "GET", "path": "/get"}
	from := func(ip string) response {
		return s.do("POST", "/v1/proxy/http", call, "X-API-Key", "key-free", "Prefer", "respond-async", "X-Forwarded-For", "198.51.100.7, "+ip)
	}
	var statuses []int
	for range 5 {
		statuses = append(statuses, from("203.0.113.1").status)
	}
	// 3 admitted, the 4th refused (violation 1), the 5th refused (violation
	// 2: banned from now on).
	if fmt.Sprint(statuses) != "[202 202 202 429 429]" {
		t.Fatalf("statuses %v", statuses)
	}
	r := from("203.0.113.1")
	ra, _ := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != 403 || get(r.body, "error", "code") != "ACCOUNT_BANNED" || get(r.body, "error", "details", "banned") != "ip" || ra < 25 || ra > 30 {
		t.Fatalf("banned IP: %d %v %s", r.status, r.header, r.raw)
	}
	// Another client of the same key, on another network, is not banned.
	if r := from("203.0.113.2"); r.status != 202 {
		t.Fatalf("another IP of the same key: %d %s", r.status, r.raw)
	}
}

// TestForwardedForIgnoredFromUntrustedPeers: without trusted proxies a
// client cannot pick its own IP with X-Forwarded-For.
func TestForwardedForIgnoredFromUntrustedPeers(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{authYAML: limitedYAML, noWorker: true})
	var statuses []int
	for i := range 4 {
		r := s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/get"},
			"X-API-Key", "key-free", "Prefer", "respond-async", "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1), "X-Real-IP", fmt.Sprintf("198.51.100.%d", i+1))
		statuses = append(statuses, r.status)
	}
	if fmt.Sprint(statuses) != "[202 202 202 429]" {
		t.Fatalf("statuses %v: forwarded headers from an untrusted peer changed the client IP", statuses)
	}
}

// TestTierFeatures: a free tenant's models, streaming and idempotency are
// its tier's; its retries and fallbacks are capped below the targets'.
func TestTierFeatures(t *testing.T) {
	t.Parallel()
	auth := fmt.Sprintf(`
tenants:
  freebie:
    limits: {rpm: 0, burst: 0, ip_rpm: 0, fingerprint_rpm: 0, max_retries: 0, max_fallbacks: 1}
    api_keys: [{sha256: %s}]
  paying:
    tier: pro
    api_keys: [{sha256: %s}]
`, sha("key-free"), sha("key-pro"))
	s, _ := llmStackOpts(t, stackOptions{authYAML: auth}, fallbackTargets)
	free, pro := []string{"X-API-Key", "key-free"}, []string{"X-API-Key", "key-pro"}

	if r := s.llm(map[string]any{"target": "oai", "model": "gpt-4o-mini"}, free...); r.status != 200 {
		t.Errorf("free tier, gpt-4o-mini: %d %s", r.status, r.raw)
	}
	for name, body := range map[string]map[string]any{
		"gpt-4o":      {"target": "oai", "model": "gpt-4o"},
		"streaming":   {"target": "oai", "stream": true},
		"idempotency": {"target": "oai", "idempotency_key": "k1"},
	} {
		r := s.llm(body, free...)
		want := "FEATURE_NOT_AVAILABLE"
		if name == "gpt-4o" {
			want = "MODEL_NOT_ALLOWED"
		}
		if r.status != 403 || get(r.body, "error", "code") != want {
			t.Errorf("free tier, %s: %d %s", name, r.status, r.raw)
		}
		body["messages"] = []map[string]string{{"role": "user", "content": "Hello"}}
		if r := s.request("POST", "/v1/proxy/llm", body, pro...); r.status != 200 {
			t.Errorf("pro tier, %s: %d %.300s", name, r.status, r.raw)
		}
	}
	if r := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get", "idempotency_key": "k2"}}, free...); r.status != 403 {
		t.Errorf("free tier, idempotent job: %d %s", r.status, r.raw)
	}

	// "up" retries 5xx twice; the free tier retries none.
	for _, tt := range []struct {
		key     []string
		retries float64
	}{{free, 0}, {pro, 2}} {
		path := "/status/503?who=" + tt.key[1]
		r := s.proxy("GET", path, tt.key...)
		if r.status != 503 || get(r.body, "meta", "retries") != tt.retries {
			t.Errorf("%s: %d retries %v, want %v: %s", tt.key[1], r.status, get(r.body, "meta", "retries"), tt.retries, r.raw)
		}
	}
	// "primary" falls back to also-down, then ant; the free tier tries only
	// the first fallback.
	if r := s.llm(map[string]any{"target": "primary"}, free...); r.status == 200 {
		t.Errorf("free tier used a second fallback: %s", r.raw)
	}
	if r := s.llm(map[string]any{"target": "primary"}, pro...); r.status != 200 || get(r.body, "meta", "fallback_target") != "ant" {
		t.Errorf("pro tier fallback: %d %s", r.status, r.raw)
	}
	// The HTTP route sees no model: it may not carry a tier with an
	// allow-list to an LLM target's provider; a tier without one may.
	chat := map[string]any{"target": "oai", "method": "POST", "path": "/chat/completions",
		"body": map[string]any{"model": "gpt-4o", "messages": []map[string]string{{"role": "user", "content": "Hello"}}}}
	if r := s.do("POST", "/v1/proxy/http", chat, free...); r.status != 400 || get(r.body, "error", "code") != "INVALID_TARGET" {
		t.Errorf("free tier, gpt-4o through the HTTP route: %d %s", r.status, r.raw)
	}
	if r := s.do("POST", "/v1/proxy/http", chat, pro...); r.status != 200 || get(r.body, "data", "status_code") != 200.0 {
		t.Errorf("pro tier, the HTTP route to an LLM target: %d %.300s", r.status, r.raw)
	}
	// "picky" falls back to pricey (gpt-4o), then ant: the free tier may
	// not use gpt-4o, so it skips pricey, and its one fallback is ant.
	if r := s.llm(map[string]any{"target": "picky"}, free...); r.status != 200 ||
		get(r.body, "meta", "fallback_target") != "ant" || get(r.body, "meta", "model") == "gpt-4o" {
		t.Errorf("free tier, fallback to a model it may not use: %d %s", r.status, r.raw)
	}
	if r := s.llm(map[string]any{"target": "picky"}, pro...); r.status != 200 ||
		get(r.body, "meta", "fallback_target") != "pricey" || get(r.body, "meta", "model") != "gpt-4o" {
		t.Errorf("pro tier, fallback to gpt-4o: %d %s", r.status, r.raw)
	}
}

// TestConcurrentJobsLimit: a tenant with max_concurrent_jobs 2 gets a
// third job only once one has ended (canceled or finished); attaching to
// an existing job by its idempotency key needs no slot.
func TestConcurrentJobsLimit(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true, authYAML: fmt.Sprintf(`
tenants:
  busy:
    tier: pro
    limits: {max_concurrent_jobs: 2}
    api_keys: [{sha256: %s}]
`, sha("key-busy"))})
	key := []string{"X-API-Key", "key-busy"}
	submit := func(idem string) response {
		req := map[string]any{"target": "up", "method": "GET", "path": "/get"}
		if idem != "" {
			req["idempotency_key"] = idem
		}
		return s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": req}, key...)
	}
	first, second := submit("one"), submit("")
	if first.status != 202 || second.status != 202 {
		t.Fatalf("two jobs: %d %d", first.status, second.status)
	}
	third := submit("")
	if third.status != 429 || get(third.body, "error", "code") != "TOO_MANY_CONCURRENT_JOBS" || third.header.Get("Retry-After") == "" ||
		third.header.Get("X-RateLimit-Limit") != "2" || third.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("third job: %d %v %s", third.status, third.header, third.raw)
	}
	if again := submit("one"); again.status != 202 || again.body["id"] != first.body["id"] {
		t.Fatalf("attaching to the first job: %d %s", again.status, again.raw)
	}
	if r := s.do("POST", "/v1/jobs/"+first.body["id"].(string)+"/cancel", nil, key...); r.status != 200 {
		t.Fatalf("cancel: %d %s", r.status, r.raw)
	}
	third = submit("")
	if third.status != 202 {
		t.Fatalf("third job after a cancel: %d %s", third.status, third.raw)
	}
	// Once the worker has run them, both slots are free again.
	s.startWorker()
	for _, id := range []any{second.body["id"], third.body["id"]} {
		if r := s.waitJob(id.(string), key...); r.body["status"] != "succeeded" {
			t.Fatalf("job %v: %s", id, r.raw)
		}
	}
	for range 2 {
		eventually(t, "finished jobs give their slots back", func() bool { return submit("").status == 202 })
	}
}

// TestPriority: a call's priority orders its tenant's queued jobs; a bad
// one, or one above the tier's max_priority, is refused before anything
// is queued.
func TestPriority(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true, authYAML: fmt.Sprintf(`
tenants:
  freebie:
    limits: {rpm: 0, burst: 0, ip_rpm: 0, fingerprint_rpm: 0}
    api_keys: [{sha256: %s}]
  paying:
    tier: pro
    api_keys: [{sha256: %s}]
`, sha("key-free"), sha("key-pro"))})
	free, pro := []string{"X-API-Key", "key-free"}, []string{"X-API-Key", "key-pro"}
	job := func(top, inner string, headers ...string) response {
		req := map[string]any{"target": "up", "method": "GET", "path": "/get?p=" + top + inner}
		if inner != "" {
			req["priority"] = inner
		}
		body := map[string]any{"kind": "http", "request": req}
		if top != "" {
			body["priority"] = top
		}
		return s.do("POST", "/v1/jobs", body, headers...)
	}
	for _, tt := range []struct {
		name, top, inner string
		headers          []string
		status           int
		code, message    string
	}{
		{"unknown priority", "urgent", "", pro, 400, "INVALID_REQUEST", `Field "priority" must be "high", "normal" or "low"`},
		{"fields differ", "high", "low", pro, 400, "INVALID_REQUEST", `Fields "priority" and "request.priority" differ`},
		{"unknown header", "", "", append([]string{"X-ReliAPI-Priority", "now"}, pro...), 400, "INVALID_REQUEST", `Header X-ReliAPI-Priority must be`},
		{"field and header differ", "high", "", append([]string{"X-ReliAPI-Priority", "low"}, pro...), 400, "INVALID_REQUEST", `and header X-ReliAPI-Priority ("low") differ`},
		{"free asks high", "", "high", free, 403, "FEATURE_NOT_AVAILABLE", `Priority "high" is not available on the free tier; the highest it allows is "normal"`},
		{"free asks high by header", "", "", append([]string{"X-ReliAPI-Priority", "high"}, free...), 403, "FEATURE_NOT_AVAILABLE", `not available on the free tier`},
	} {
		r := job(tt.top, tt.inner, tt.headers...)
		msg, _ := get(r.body, "error", "message").(string)
		if r.status != tt.status || get(r.body, "error", "code") != tt.code || !strings.Contains(msg, tt.message) {
			t.Errorf("%s: %d %s", tt.name, r.status, r.raw)
		}
	}
	if n := s.rdb.Exists(t.Context(), "reliapi:lane:{lane-0}:async:ready").Val(); n != 0 {
		t.Fatal("a refused call queued a job")
	}
	// pro's jobs, submitted low, normal, high, are taken high first; the
	// free tenant's low job is its own.
	ids := map[string]string{}
	for _, p := range []string{"low", "", "high"} {
		r := job("", p, pro...)
		if r.status != 202 {
			t.Fatalf("pro, priority %q: %d %s", p, r.status, r.raw)
		}
		ids[r.body["id"].(string)] = cmp.Or(p, "normal")
	}
	if r := job("low", "", free...); r.status != 202 {
		t.Fatalf("free, priority low: %d %s", r.status, r.raw)
	}
	var order []string
	popped, err := lane.NewPopper(s.rdb, time.Millisecond, "async").Pop(t.Context(), 4)
	if len(popped) != 4 || err != nil {
		t.Fatalf("popping: %v %v", popped, err)
	}
	for _, e := range popped {
		var p struct {
			JobID  string `json:"job_id"`
			Tenant string `json:"tenant"`
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.Tenant == "paying" {
			order = append(order, ids[p.JobID])
		}
	}
	if fmt.Sprint(order) != "[high normal low]" {
		t.Fatalf("pro's jobs came %v, want high, normal, low", order)
	}
}
