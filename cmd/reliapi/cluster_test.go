package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/tasks"
)

// TestOnRedisCluster runs the service against a 3-master Redis Cluster
// (redis.mode: cluster): an api and two workers take async jobs, sync
// calls with retries, an idempotent repeat, a cache hit, a tenant's rate
// limit, a shared breaker and a key pool — every Lua script of ours and
// asynq's on a cluster, where a script's keys must share one slot.
func TestOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster and processes")
	}
	t.Parallel()
	cluster := testenv.StartCluster(t, 3)
	up := testenv.StartUpstream(t)
	settings := fleetConfig(up.URL)
	upURL := settings.Targets["up"]["base_url"]
	settings.Targets["cached"] = testenv.Section{"base_url": upURL, "cache": "{ttl_s: 60}"}
	settings.Targets["fragile"] = testenv.Section{"base_url": upURL, "circuit": "{error_threshold: 1, cooldown_s: 60}", "retry_matrix": `{"5xx": {attempts: 1}}`}
	settings.Targets["pooled"] = testenv.Section{"base_url": upURL}
	settings.Redis = testenv.Section{"mode": "cluster", "addrs": "[" + strings.Join(cluster.Addrs, ", ") + "]", "queue_shards": "4"}
	settings.Tenants = map[string]testenv.Section{
		"small": {"tier": "pro", "limits": "{rpm: 3, max_concurrent_jobs: 50}", "api_keys": `[{key: "${SMALL_KEY}"}]`},
	}
	settings.Extra = `
provider_key_pools:
  pooled:
    keys: [{id: a, api_key: "env:POOL_A"}, {id: b, api_key: "env:POOL_B"}]
`
	cfg := testenv.WriteConfig(t, settings)
	env := []string{"POOL_A=sk-a", "POOL_B=sk-b", "SMALL_KEY=small-key", "LOG_LEVEL=warn"}
	apiAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	api := startProc(t, "api", env, "api", "--config", cfg, "--listen", apiAddr)
	for i := range 2 {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		w := startProc(t, fmt.Sprintf("worker-%d", i), env, "worker", "--config", cfg, "--metrics-listen", addr)
		testenv.WaitReady(t, "http://"+addr+"/readyz", w)
	}
	base := "http://" + apiAddr
	testenv.WaitReady(t, base+"/readyz", api)
	client := &http.Client{Timeout: 30 * time.Second}

	// Async jobs, spread over the cluster's slots by their IDs.
	const jobs = 300
	ids := make([]string, jobs)
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Go(func() {
			status, job := call(t, client, "POST", base+"/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": fmt.Sprintf("/anything/%d", i)}, "Prefer", "respond-async")
			if status != 202 {
				t.Errorf("job %d: %d %v", i, status, job)
				return
			}
			ids[i], _ = job["id"].(string)
		})
	}
	wg.Wait()
	for i, id := range ids {
		if status, job := call(t, client, "GET", base+"/v1/jobs/"+id+"?wait=20", nil); status != 200 || job["status"] != "succeeded" {
			t.Fatalf("job %d: %d %v", i, status, job)
		}
	}
	// A sync call that needs a retry.
	if status, body := call(t, client, "POST", base+"/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": "/flaky?fail=1&key=cluster"}); status != 200 || body["meta"].(map[string]any)["retries"] != 1.0 {
		t.Errorf("sync call with a retry: %d %v", status, body)
	}
	// An idempotent repeat attaches to the first job.
	idem := map[string]any{"target": "up", "method": "POST", "path": "/anything/charge", "body": map[string]any{"n": 1}, "idempotency_key": "c-1"}
	_, first := call(t, client, "POST", base+"/v1/proxy/http", idem)
	_, again := call(t, client, "POST", base+"/v1/proxy/http", idem)
	if first["meta"].(map[string]any)["job_id"] != again["meta"].(map[string]any)["job_id"] || again["meta"].(map[string]any)["idempotent_hit"] != true {
		t.Errorf("idempotent repeat: %v / %v", first["meta"], again["meta"])
	}
	// A cache hit.
	cached := map[string]any{"target": "cached", "method": "GET", "path": "/get?c=1"}
	call(t, client, "POST", base+"/v1/proxy/http", cached)
	if _, hit := call(t, client, "POST", base+"/v1/proxy/http", cached); hit["meta"].(map[string]any)["cache_hit"] != true {
		t.Errorf("second cacheable call: %v", hit["meta"])
	}
	// A tenant's rate limit.
	var statuses []int
	for i := range 4 {
		s, _ := call(t, client, "POST", base+"/v1/proxy/http", map[string]any{"target": "up", "method": "GET", "path": fmt.Sprintf("/get?r=%d", i)}, "X-API-Key", "small-key", "Prefer", "respond-async")
		statuses = append(statuses, s)
	}
	if fmt.Sprint(statuses) != "[202 202 202 429]" {
		t.Errorf("rate limit of 3 a minute: %v", statuses)
	}
	// The breaker opens for every worker.
	call(t, client, "POST", base+"/v1/proxy/http", map[string]any{"target": "fragile", "method": "GET", "path": "/status/503"})
	if status, body := call(t, client, "POST", base+"/v1/proxy/http", map[string]any{"target": "fragile", "method": "GET", "path": "/status/503"}); status != 503 || body["error"].(map[string]any)["code"] != "CIRCUIT_OPEN" {
		t.Errorf("breaker: %d %v", status, body)
	}
	// The key pool leases keys.
	for range 4 {
		if status, body := call(t, client, "POST", base+"/v1/proxy/http", map[string]any{"target": "pooled", "method": "GET", "path": "/get"}); status != 200 {
			t.Errorf("pooled call: %d %v", status, body)
		}
	}
	if status, body := call(t, client, "GET", base+"/v1/targets", nil); status != 200 || !strings.Contains(fmt.Sprint(body), "closed") {
		t.Errorf("targets: %d %v", status, body)
	}
	// The jobs spread over the async queue's four shards (their asynq tasks
	// and wake-up lanes), so over slots.
	rdb := cluster.Client(t)
	perShard := map[string]int{}
	for _, id := range ids {
		q, err := rdb.HGet(t.Context(), "reliapi:job:{"+id+"}", "queue").Result()
		if err != nil {
			t.Fatalf("job %s's queue: %v", id, err)
		}
		perShard[q]++
	}
	for _, q := range tasks.ShardsOf(tasks.QueueAsync, 4) {
		if perShard[q] < jobs/10 {
			t.Errorf("queue %s had %d of %d jobs: %v", q, perShard[q], jobs, perShard)
		}
	}
}
