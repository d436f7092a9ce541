package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestNoSecretLeaks runs a scenario touching every secret the service
// holds — tenant keys, the admin key, a target's provider key, a pool key,
// a webhook signing secret and RapidAPI's proxy secret — through sync and
// async calls, a webhook, an upstream error, a 429, an open breaker and
// refused keys. Then every response, log line, the /metrics page, every
// webhook delivery and every Redis key and value is searched for them.
func TestNoSecretLeaks(t *testing.T) {
	t.Parallel()
	const canary = "LEAKCANARY"
	hookKey := base64.StdEncoding.EncodeToString([]byte(canary + "-webhook-signing-key-32B"))
	secrets := map[string]string{
		"TENANT_KEY":   "tk-" + canary + "-tenant-7f3a",
		"LIMITED_KEY":  "tk-" + canary + "-limited-19c2",
		"ADMIN_KEY":    "adm-" + canary + "-5e1d",
		"HOOK_SECRET":  "whsec_" + hookKey,
		"PROXY_SECRET": "rp-" + canary + "-proxy-ab12",
	}
	// The worker reads provider and pool keys from its own environment.
	prefix := "RELIAPI_TEST_LEAK_"
	for name, v := range map[string]string{"PROVIDER": "sk-" + canary + "-provider-88aa", "POOL": "sk-" + canary + "-pool-4b4b"} {
		os.Setenv(prefix+name, v)
		t.Cleanup(func() { os.Unsetenv(prefix + name) })
	}
	hooks := newReceiver(t, "503")
	s := newStack(t, stackOptions{env: secrets, authYAML: `
auth: {admin_key: "${ADMIN_KEY}"}
tenants:
  acme:
    tier: pro
    api_keys: [{key: "${TENANT_KEY}"}]
  tight:
    tier: pro
    limits: {rpm: 1}
    api_keys: [{key: "${LIMITED_KEY}"}]
rapidapi: {proxy_secret: "${PROXY_SECRET}"}
webhooks:
  allow_private_networks: true
  timeout_s: 1
  schedule_s: [0, 0, 0]
  secrets: {acme: ["${HOOK_SECRET}"]}
provider_key_pools:
  pooled:
    keys: [{id: k1, api_key: "env:` + prefix + `POOL"}]
`, extraTargets: `
secured:
  base_url: "%UP%"
  auth: {type: bearer_env, env_var: ` + prefix + `PROVIDER}
fragile:
  base_url: "%UP%"
  circuit: {error_threshold: 1, cooldown_s: 60}
  retry_matrix: {"5xx": {attempts: 1}}
pooled:
  base_url: "%UP%"
`})
	var seen []string // every response, headers and body
	keep := func(r response) response {
		seen = append(seen, fmt.Sprint(r.status, r.header), string(r.raw))
		return r
	}
	acme := []string{"X-API-Key", secrets["TENANT_KEY"]}
	proxy := func(target, path string, headers ...string) response {
		return keep(s.do("POST", "/v1/proxy/http", map[string]any{"target": target, "method": "GET", "path": path}, headers...))
	}
	expect := func(what string, r response, status int) {
		t.Helper()
		if r.status != status {
			t.Errorf("%s: %d, want %d: %.300s", what, r.status, status, r.raw)
		}
	}

	expect("sync call with the provider key", proxy("secured", "/status/200", acme...), 200)
	expect("pooled call", proxy("pooled", "/status/200", acme...), 200)
	job := keep(s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "webhook": map[string]any{"url": hooks.srv.URL},
		"request": map[string]any{"target": "secured", "method": "GET", "path": "/status/200"}}, acme...))
	expect("async job with a webhook", job, 202)
	if id, _ := job.body["id"].(string); id != "" {
		keep(s.waitJob(id, acme...))
		eventually(t, "the webhook is delivered", func() bool {
			return get(keep(s.do("GET", "/v1/jobs/"+id, nil, acme...)).body, "webhook", "status") == "delivered"
		})
	}
	expect("upstream error", proxy("up", "/status/500", acme...), 500)
	expect("first call of the tight tenant", proxy("up", "/status/200", "X-API-Key", secrets["LIMITED_KEY"]), 200)
	expect("second call of the tight tenant", proxy("up", "/status/200", "X-API-Key", secrets["LIMITED_KEY"]), 429)
	expect("breaker trips", proxy("fragile", "/status/503", acme...), 503)
	r := proxy("fragile", "/status/503", acme...)
	if get(r.body, "error", "code") != "CIRCUIT_OPEN" {
		t.Errorf("breaker open: %s", r.raw)
	}
	expect("RapidAPI caller", keep(s.do("GET", "/v1/rapidapi/status", nil, "X-RapidAPI-Proxy-Secret", secrets["PROXY_SECRET"], "X-RapidAPI-User", "u1")), 200)
	expect("wrong key", proxy("up", "/get", "X-API-Key", "tk-"+canary+"-wrong"), 401)
	expect("admin key without X-Tenant", proxy("up", "/get", "X-API-Key", secrets["ADMIN_KEY"]), 401)
	expect("admin key for a tenant", keep(s.do("GET", "/v1/jobs", nil, "X-API-Key", secrets["ADMIN_KEY"], "X-Tenant", "acme")), 200)
	expect("tenant key on /metrics", keep(s.raw("GET", "/metrics", acme...)), 403)
	expect("key list", keep(s.do("GET", "/v1/targets", nil, acme...)), 200)
	expect("usage", keep(s.do("GET", "/v1/usage", nil, acme...)), 200)
	metrics := keep(s.raw("GET", "/metrics", "X-API-Key", secrets["ADMIN_KEY"]))
	expect("/metrics with the admin key", metrics, 200)
	s.worker.Stop() // its last log lines are in

	places := map[string]string{
		"responses":  strings.Join(seen, "\n"),
		"logs":       s.logs.String(),
		"/metrics":   string(metrics.raw),
		"redis":      dumpRedis(s),
		"deliveries": fmt.Sprint(hooks.deliveries()),
	}
	needles := []string{canary, hookKey}
	for place, text := range places {
		for _, needle := range needles {
			if i := strings.Index(text, needle); i >= 0 {
				t.Errorf("a secret is in the %s: …%s…", place, text[max(0, i-200):min(len(text), i+100)])
			}
		}
	}
	if !strings.Contains(places["redis"], "reliapi:job:") || !strings.Contains(places["logs"], `"request"`) {
		t.Fatal("the scan saw no jobs or no logs: it would find nothing")
	}
}

// dumpRedis renders every key and value of the stack's Redis as text.
func dumpRedis(s *stack) string {
	s.t.Helper()
	ctx := context.Background()
	rdb := s.rdb
	var b strings.Builder
	for _, key := range s.keys("*") {
		var v any
		switch rdb.Type(ctx, key).Val() {
		case "string":
			v = rdb.Get(ctx, key).Val()
		case "hash":
			v = rdb.HGetAll(ctx, key).Val()
		case "list":
			v = rdb.LRange(ctx, key, 0, -1).Val()
		case "set":
			v = rdb.SMembers(ctx, key).Val()
		case "zset":
			v = rdb.ZRangeWithScores(ctx, key, 0, -1).Val()
		case "stream":
			v = rdb.XRange(ctx, key, "-", "+").Val()
		}
		fmt.Fprintf(&b, "%s = %v\n", key, v)
	}
	return b.String()
}
