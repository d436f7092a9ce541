package api_test

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

func TestSyncProxySuccess(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	r := s.proxy("GET", "/get?x=1", "X-Request-ID", "client-id-42")
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	checks := map[string][2]any{
		"success":            {r.body["success"], true},
		"data.status_code":   {get(r.body, "data", "status_code"), 200.0},
		"upstream saw query": {get(r.body, "data", "body", "args", "x"), []any{"1"}},
		"meta.request_id":    {get(r.body, "meta", "request_id"), "client-id-42"},
		"meta.target":        {get(r.body, "meta", "target"), "up"},
		"meta.retries":       {get(r.body, "meta", "retries"), 0.0},
		"meta.cache_hit":     {get(r.body, "meta", "cache_hit"), false},
		"meta.idempotent":    {get(r.body, "meta", "idempotent_hit"), false},
		"X-Request-ID":       {r.header.Get("X-Request-ID"), "client-id-42"},
		"X-Retries":          {r.header.Get("X-Retries"), "0"},
		"X-Cache-Hit":        {r.header.Get("X-Cache-Hit"), "false"},
	}
	for name, c := range checks {
		if !reflect.DeepEqual(c[0], c[1]) {
			t.Errorf("%s = %#v, want %#v", name, c[0], c[1])
		}
	}
	if r.header.Get("X-Duration-MS") == "" || get(r.body, "meta", "duration_ms") == nil {
		t.Error("duration missing")
	}

	// The job's result is exactly the synchronous body.
	id, _ := get(r.body, "meta", "job_id").(string)
	job := s.do("GET", "/v1/jobs/"+id, nil)
	if job.status != 200 || job.body["status"] != "succeeded" || job.header.Get("Retry-After") != "" {
		t.Fatalf("job: %d %s", job.status, job.raw)
	}
	if !reflect.DeepEqual(job.body["result"], r.body) {
		t.Fatalf("job result differs from the sync body:\n job %v\nsync %v", job.body["result"], r.body)
	}
	if got := s.upstream.Calls("/get"); got != 1 {
		t.Fatalf("upstream calls = %d, want 1", got)
	}
}

func TestSyncProxyGeneratesRequestID(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	for _, sent := range []string{"", "bad id with spaces"} {
		r := s.proxy("GET", "/get", "X-Request-ID", sent)
		id := r.header.Get("X-Request-ID")
		if !strings.HasPrefix(id, "req_") || len(id) != 20 || get(r.body, "meta", "request_id") != id {
			t.Errorf("sent %q: request id %q, meta %v", sent, id, get(r.body, "meta", "request_id"))
		}
	}
}

func TestUpstreamOutcomes(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	tests := []struct {
		name        string
		path        string
		wantStatus  int
		wantSuccess bool
		wantCode    any
		wantRetries float64
		wantCalls   int
	}{
		{"4xx is a result", "/status/404", 200, true, nil, 0, 1},
		{"flaky recovers", "/flaky?fail=2&key=outcomes", 200, true, nil, 2, 3},
		{"5xx exhausted", "/status/503", 503, false, "SERVER_ERROR", 2, 3},
		{"429 exhausted", "/status/429", 429, false, "CLIENT_ERROR", 2, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.upstream.Calls(strings.Split(tt.path, "?")[0])
			r := s.proxy("GET", tt.path)
			if r.status != tt.wantStatus || r.body["success"] != tt.wantSuccess || get(r.body, "error", "code") != tt.wantCode {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			if get(r.body, "meta", "retries") != tt.wantRetries || r.header.Get("X-Retries") != fmt.Sprint(tt.wantRetries) {
				t.Errorf("retries = %v / %q, want %v", get(r.body, "meta", "retries"), r.header.Get("X-Retries"), tt.wantRetries)
			}
			if got := s.upstream.Calls(strings.Split(tt.path, "?")[0]) - before; got != tt.wantCalls {
				t.Errorf("upstream calls = %d, want %d", got, tt.wantCalls)
			}
			if !tt.wantSuccess {
				if r.header.Get("Retry-After") == "" || get(r.body, "error", "retryable") != true || get(r.body, "error", "source") != "upstream" {
					t.Errorf("error envelope: %s, Retry-After %q", r.raw, r.header.Get("Retry-After"))
				}
			}
		})
	}
}

func TestUnreachableAndSlowTargets(t *testing.T) {
	t.Parallel()
	closed := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	s := newStack(t, stackOptions{extraTargets: `
down:
  base_url: "` + closed + `"
  retry_matrix: {"net": {attempts: 2, backoff: fixed, base_s: 0.01}}
slow:
  base_url: "%UP%"
  timeout_ms: 100
  retry_matrix: {"timeout": {attempts: 2, backoff: fixed, base_s: 0.01}}
`})
	tests := []struct {
		target, path string
		status       int
		code         string
	}{
		{"down", "/get", 502, "NETWORK_ERROR"},
		{"slow", "/delay/2000", 504, "TIMEOUT"},
	}
	for _, tt := range tests {
		r := s.do("POST", "/v1/proxy/http", map[string]any{"target": tt.target, "method": "GET", "path": tt.path})
		if r.status != tt.status || get(r.body, "error", "code") != tt.code || get(r.body, "meta", "retries") != 1.0 ||
			get(r.body, "error", "retryable") != true || get(r.body, "error", "target") != tt.target {
			t.Errorf("%s: %d %s", tt.target, r.status, r.raw)
		}
		if msg, _ := get(r.body, "error", "message").(string); strings.Contains(msg, "127.0.0.1") {
			t.Errorf("%s: message leaks an address: %q", tt.target, msg)
		}
	}
}

func TestUpstreamRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	start := time.Now()
	r := s.proxy("GET", "/flaky?fail=1&key=ra&retry_after=1")
	if r.status != 200 || get(r.body, "meta", "retries") != 1.0 {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("retried after %v, before the upstream's Retry-After of 1s", waited)
	}
}

func TestRespondAsync(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	r := s.proxy("GET", "/delay/200", "Prefer", "respond-async")
	if r.status != 202 || r.header.Get("Preference-Applied") != "respond-async" {
		t.Fatalf("got %d %v %s", r.status, r.header, r.raw)
	}
	id, _ := r.body["id"].(string)
	if r.header.Get("Location") != "/v1/jobs/"+id || r.body["object"] != "job" || r.header.Get("Retry-After") == "" {
		t.Fatalf("202 answer: %v %s", r.header, r.raw)
	}
	if st := r.body["status"]; st != "queued" && st != "running" {
		t.Fatalf("status = %v", st)
	}
	done := s.waitJob(id)
	if done.body["status"] != "succeeded" || get(done.body, "result", "data", "status_code") != 200.0 {
		t.Fatalf("job: %s", done.raw)
	}
	// A repeat whose key names a job already ended answers its result:
	// respond-async was not applied, and the answer does not say it was.
	if r := s.proxy("GET", "/get", "Idempotency-Key", "async-done"); r.status != 200 {
		t.Fatalf("keyed call: %d %s", r.status, r.raw)
	}
	r = s.proxy("GET", "/get", "Idempotency-Key", "async-done", "Prefer", "respond-async")
	if r.status != 200 || get(r.body, "meta", "idempotent_hit") != true || r.header.Get("Preference-Applied") != "" {
		t.Fatalf("async repeat of an ended job: %d %v %s", r.status, r.header, r.raw)
	}
}

// blockUpstream makes path block until release is called (or the request
// is canceled), and signals each arrival on the returned channel.
func blockUpstream(s *stack, path string) (arrived <-chan struct{}, release func()) {
	arrived, release = s.upstream.Block(path)
	// Released before the stack's worker stops, which waits for its jobs.
	s.t.Cleanup(release)
	return arrived, release
}

func TestPreferWaitHandsOffWithoutRunningTwice(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	arrived, release := blockUpstream(s, "/slow")
	r := s.proxy("GET", "/slow", "Prefer", "wait=1")
	if r.status != 202 || r.header.Get("Preference-Applied") != "wait=1" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	<-arrived
	release()
	done := s.waitJob(r.body["id"].(string))
	if done.body["status"] != "succeeded" || get(done.body, "result", "data", "body", "released") != true {
		t.Fatalf("job: %s", done.raw)
	}
	if n := s.upstream.Calls("/slow"); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
}

func TestSyncTimeoutHandsOff(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{syncTimeout: "1s"})
	arrived, release := blockUpstream(s, "/slow")
	r := s.proxy("GET", "/slow")
	if r.status != 202 || r.header.Get("Location") == "" || r.header.Get("Preference-Applied") != "" {
		t.Fatalf("got %d %v %s", r.status, r.header, r.raw)
	}
	<-arrived
	release()
	if done := s.waitJob(r.body["id"].(string)); done.body["status"] != "succeeded" {
		t.Fatalf("job: %s", done.raw)
	}
	if n := s.upstream.Calls("/slow"); n != 1 {
		t.Fatalf("upstream calls = %d, want 1: the hand-off must not run the work twice", n)
	}
}

func TestPreferWaitReturnsResultWhenFast(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	r := s.proxy("GET", "/get", "Prefer", "wait=5")
	if r.status != 200 || r.body["success"] != true || r.header.Get("Preference-Applied") != "wait=5" {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	body := map[string]any{"target": "up", "method": "POST", "path": "/anything", "body": map[string]any{"amount": 5}}
	first := s.do("POST", "/v1/proxy/http", body, "Idempotency-Key", "order-1")
	if first.status != 200 || get(first.body, "meta", "idempotent_hit") != false {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	if got := get(first.body, "data", "body", "headers", "Idempotency-Key"); got != "order-1" {
		t.Errorf("upstream Idempotency-Key = %v", got)
	}
	if got := get(first.body, "data", "body", "json", "amount"); got != 5.0 {
		t.Errorf("upstream body = %v", get(first.body, "data", "body"))
	}
	// The same key from another source replays the same job.
	body["idempotency_key"] = "order-1"
	again := s.do("POST", "/v1/proxy/http", body)
	if again.status != 200 || get(again.body, "meta", "idempotent_hit") != true ||
		get(again.body, "meta", "job_id") != get(first.body, "meta", "job_id") ||
		!reflect.DeepEqual(again.body["data"], first.body["data"]) {
		t.Fatalf("replay: %d %s", again.status, again.raw)
	}
	if n := s.upstream.Calls("/anything"); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}

	// Same key, different request: conflict, nothing runs.
	body["body"] = map[string]any{"amount": 6}
	conflict := s.do("POST", "/v1/proxy/http", body)
	if conflict.status != 409 || get(conflict.body, "error", "code") != "IDEMPOTENCY_CONFLICT" ||
		get(conflict.body, "error", "details", "job_id") != get(first.body, "meta", "job_id") {
		t.Fatalf("conflict: %d %s", conflict.status, conflict.raw)
	}
	// Two different keys in one request.
	mismatch := s.do("POST", "/v1/proxy/http", body, "X-Idempotency-Key", "order-2")
	if mismatch.status != 400 || get(mismatch.body, "error", "code") != "INVALID_REQUEST" {
		t.Fatalf("mismatch: %d %s", mismatch.status, mismatch.raw)
	}
	if n := s.upstream.Calls("/anything"); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
}

func TestConcurrentIdempotentRequestsRunOnce(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	arrived, release := blockUpstream(s, "/charge")
	const n = 50
	results := make([]response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = s.do("POST", "/v1/proxy/http",
				map[string]any{"target": "up", "method": "POST", "path": "/charge", "body": "x"},
				"Idempotency-Key", "same-key")
		})
	}
	<-arrived
	release()
	wg.Wait()
	if c := s.upstream.Calls("/charge"); c != 1 {
		t.Fatalf("upstream calls = %d, want exactly 1", c)
	}
	hits := 0
	for i, r := range results {
		if r.status != 200 || !reflect.DeepEqual(r.body["data"], results[0].body["data"]) ||
			get(r.body, "meta", "job_id") != get(results[0].body, "meta", "job_id") {
			t.Fatalf("result %d differs: %d %s", i, r.status, r.raw)
		}
		if get(r.body, "meta", "idempotent_hit") == true {
			hits++
		}
	}
	if hits != n-1 {
		t.Fatalf("idempotent hits = %d, want %d", hits, n-1)
	}
}

func TestNonIdempotentMethodsRetryOnlyWithKey(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	noKey := s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "POST", "path": "/flaky?fail=1&key=nokey"})
	if noKey.status != 503 || get(noKey.body, "meta", "retries") != 0.0 {
		t.Fatalf("POST without key: %d %s", noKey.status, noKey.raw)
	}
	withKey := s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "POST", "path": "/flaky?fail=1&key=withkey"}, "Idempotency-Key", "k")
	if withKey.status != 200 || get(withKey.body, "meta", "retries") != 1.0 {
		t.Fatalf("POST with key: %d %s", withKey.status, withKey.raw)
	}
	put := s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "PUT", "path": "/flaky?fail=1&key=put"})
	if put.status != 200 || get(put.body, "meta", "retries") != 1.0 {
		t.Fatalf("PUT: %d %s", put.status, put.raw)
	}
}

func TestTargetAuthIsInjectedAndNeverStored(t *testing.T) {
	t.Parallel()
	const secret = "sk-live-test-secret-9f8e7d"
	// A variable only this test reads, so the test can run in parallel.
	envVar := "RELIAPI_TEST_AUTH_" + strings.ReplaceAll(t.Name(), "/", "_")
	t.Cleanup(func() { os.Unsetenv(envVar) })
	os.Setenv(envVar, secret)
	s := newStack(t, stackOptions{targetYAML: "auth: {type: bearer_env, env_var: " + envVar + "}"})

	r := s.proxy("GET", "/headers", "Prefer", "wait=5")
	if r.status != 200 {
		t.Fatalf("got %d %s", r.status, r.raw)
	}
	// The upstream got the credential…
	if got := get(r.body, "data", "body", "headers", "Authorization"); got != "Bearer "+secret {
		t.Fatalf("upstream Authorization = %v", got)
	}
	// …but our own record of the call never names it (the echoed upstream
	// body aside, which is the upstream's choice): not in Redis, not in logs.
	if strings.Contains(s.logs.String(), secret) {
		t.Error("secret found in logs")
	}
	for _, k := range s.keys("reliapi:*") {
		if typ := s.rdb.Type(t.Context(), k).Val(); typ == "hash" {
			for f, v := range s.rdb.HGetAll(t.Context(), k).Val() {
				if f != "result" && strings.Contains(v, secret) {
					t.Errorf("secret stored in %s.%s", k, f)
				}
			}
		}
	}
	for _, k := range s.keys("asynq:*") {
		if s.rdb.Type(t.Context(), k).Val() == "hash" {
			for _, v := range s.rdb.HGetAll(t.Context(), k).Val() {
				if strings.Contains(v, secret) {
					t.Errorf("secret stored in asynq key %s", k)
				}
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	big := strings.Repeat("x", 70000)
	tests := []struct {
		name      string
		method    string
		path      string
		body      string
		status    int
		code      string
		msgSubstr string
	}{
		{"not json", "POST", "/v1/proxy/http", `{"target":`, 400, "INVALID_REQUEST", "not valid JSON"},
		{"empty", "POST", "/v1/proxy/http", ``, 400, "INVALID_REQUEST", "empty"},
		{"array", "POST", "/v1/proxy/http", `[]`, 400, "INVALID_REQUEST", "JSON object"},
		{"wrong type", "POST", "/v1/proxy/http", `{"target":1}`, 400, "INVALID_REQUEST", `"target" must be a string`},
		{"wrong nested type", "POST", "/v1/proxy/http", `{"target":"up","method":"GET","path":"/","headers":{"a":1}}`, 400, "INVALID_REQUEST", `headers`},
		{"unknown field", "POST", "/v1/proxy/http", `{"target":"up","methd":"GET"}`, 400, "INVALID_REQUEST", `"methd"`},
		{"trailing data", "POST", "/v1/proxy/http", `{"target":"up"} {}`, 400, "INVALID_REQUEST", "single JSON object"},
		{"missing target", "POST", "/v1/proxy/http", `{"method":"GET","path":"/"}`, 400, "INVALID_REQUEST", `"target" is required`},
		{"missing path", "POST", "/v1/proxy/http", `{"target":"up","method":"GET"}`, 400, "INVALID_REQUEST", `"path" is required`},
		{"bad method", "POST", "/v1/proxy/http", `{"target":"up","method":"TRACE","path":"/"}`, 400, "INVALID_REQUEST", `"method"`},
		{"unknown target", "POST", "/v1/proxy/http", `{"target":"nope","method":"GET","path":"/"}`, 404, "NOT_FOUND", `"nope"`},
		{"bad query value", "POST", "/v1/proxy/http", `{"target":"up","method":"GET","path":"/","query":{"a":{"b":1}}}`, 400, "INVALID_REQUEST", `"a"`},
		{"bad header", "POST", "/v1/proxy/http", `{"target":"up","method":"GET","path":"/","headers":{"X-A":"a\r\nb"}}`, 400, "INVALID_REQUEST", `"X-A"`},
		{"negative cache", "POST", "/v1/proxy/http", `{"target":"up","method":"GET","path":"/","cache":-1}`, 400, "INVALID_REQUEST", `"cache"`},
		{"huge cache", "POST", "/v1/proxy/http", `{"target":"up","method":"GET","path":"/","cache":1e30}`, 400, "INVALID_REQUEST", `"cache" must be a whole number within range, not 1e30`},
		{"fractional cache", "POST", "/v1/proxy/http", `{"target":"up","method":"GET","path":"/","cache":1.5}`, 400, "INVALID_REQUEST", `"cache" must be a whole number within range, not 1.5`},
		{"too large", "POST", "/v1/proxy/http", `{"target":"up","method":"POST","path":"/","body":"` + big + `"}`, 413, "PAYLOAD_TOO_LARGE", "65536"},
		{"unknown route", "GET", "/v1/nothing", ``, 404, "NOT_FOUND", "/v1/nothing"},
		{"wrong method", "GET", "/v1/proxy/http", ``, 405, "METHOD_NOT_ALLOWED", "GET"},
		{"bad job id", "GET", "/v1/jobs/../../etc", ``, 404, "NOT_FOUND", ""},
		{"unknown job", "GET", "/v1/jobs/job_00000000000000000000000000000000", ``, 404, "JOB_NOT_FOUND", "expired"},
		{"bad wait", "GET", "/v1/jobs/job_00000000000000000000000000000000?wait=x", ``, 400, "INVALID_REQUEST", "wait"},
		{"bad status filter", "GET", "/v1/jobs?status=done", ``, 400, "INVALID_REQUEST", "canceled, expired"},
		{"bad limit", "GET", "/v1/jobs?limit=1000", ``, 400, "INVALID_REQUEST", "limit"},
		{"bad cursor", "GET", "/v1/jobs?cursor=notacursor", ``, 400, "INVALID_REQUEST", "cursor"},
		{"unknown job kind", "POST", "/v1/jobs", `{"kind":"grpc","request":{}}`, 400, "INVALID_REQUEST", "kind"},
		{"llm job without target", "POST", "/v1/jobs", `{"kind":"llm","request":{}}`, 400, "INVALID_REQUEST", "target"},
		{"job without request", "POST", "/v1/jobs", `{"kind":"http"}`, 400, "INVALID_REQUEST", "request"},
		{"deadline not a time", "POST", "/v1/jobs", `{"kind":"http","request":{"target":"up","method":"GET","path":"/"},"deadline":"yesterday"}`, 400, "INVALID_REQUEST", `"deadline" must be an RFC 3339 time`},
		{"deadline a number", "POST", "/v1/jobs", `{"kind":"http","request":{"target":"up","method":"GET","path":"/"},"deadline":12}`, 400, "INVALID_REQUEST", `"deadline" must be a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := s.do(tt.method, tt.path, tt.body)
			if r.status != tt.status || get(r.body, "error", "code") != tt.code || r.body["success"] != false {
				t.Fatalf("got %d %s", r.status, r.raw)
			}
			msg, _ := get(r.body, "error", "message").(string)
			if !strings.Contains(msg, tt.msgSubstr) {
				t.Errorf("message %q does not mention %q", msg, tt.msgSubstr)
			}
			if get(r.body, "meta", "request_id") == nil || get(r.body, "error", "status_code") != float64(tt.status) {
				t.Errorf("envelope incomplete: %s", r.raw)
			}
			if strings.Contains(string(r.raw), "json:") || strings.Contains(string(r.raw), `"detail"`) {
				t.Errorf("leaks Go error text or uses a detail wrapper: %s", r.raw)
			}
		})
	}
	if n := s.upstream.Total(); n != 0 {
		t.Fatalf("bad input reached the upstream %d times", n)
	}
}

func TestPathCannotEscapeTarget(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	for _, path := range []string{
		"@evil.com", "//evil.com", "//evil.com/x", "http://evil.com/", "https:evil.com",
		"/../secret", "/a/../../b", "/%2e%2e/x", "/..%2fx", "/\\evil.com", "evil.com",
	} {
		r := s.do("POST", "/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": path})
		if r.status != 400 || get(r.body, "error", "code") != "INVALID_REQUEST" {
			t.Errorf("path %q: got %d %s", path, r.status, r.raw)
		}
	}
	if n := s.upstream.Total(); n != 0 {
		t.Fatalf("escaping paths reached the upstream %d times", n)
	}
}

// TestHeadIsGetWithoutBody: HEAD works wherever GET does (health probes,
// a job), with GET's status and headers and no body.
func TestHeadIsGetWithoutBody(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true})
	job := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get"}})
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/v1/jobs/" + job.body["id"].(string): 200, "/v1/jobs/job_00000000000000000000000000000000": 404} {
		r := s.raw("HEAD", path)
		if r.status != want || len(r.raw) != 0 || r.header.Get("Content-Type") == "" {
			t.Errorf("HEAD %s: %d, %d bytes, Content-Type %q; want %d, no body", path, r.status, len(r.raw), r.header.Get("Content-Type"), want)
		}
	}
}
