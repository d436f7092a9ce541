package main

import (
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// cluster is several reliapi api and worker processes on one Redis.
type cluster struct {
	redis    *testenv.Redis
	upstream *testenv.Upstream
	apis     []string // base URLs
	apiProcs []*testenv.Process
	workers  []*testenv.Process
	metrics  []string // worker metrics URLs
	// cfg and env start more processes like these.
	cfg string
	env []string
}

// startCluster starts nAPI api and nWorker worker processes on one Redis,
// with fleetConfig's target "up" changed by more (nil: as it is; a target
// on the same upstream copies up's base_url), and the extra environment
// variables env.
func startCluster(t *testing.T, nAPI, nWorker int, more func(cfg *testenv.Config), env ...string) *cluster {
	t.Helper()
	c := &cluster{redis: testenv.StartRedis(t), upstream: testenv.StartUpstream(t)}
	settings := fleetConfig(c.upstream.URL)
	if more != nil {
		more(&settings)
	}
	cfg := testenv.WriteConfig(t, settings)
	env = append(env, "REDIS_URL="+c.redis.URL(), "LOG_LEVEL=warn")
	c.cfg, c.env = cfg, env
	var apis []*testenv.Process
	for i := range nAPI {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		apis = append(apis, startProc(t, fmt.Sprintf("api-%d", i), env, "api", "--config", cfg, "--listen", addr))
		c.apis = append(c.apis, "http://"+addr)
	}
	for i := range nWorker {
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		c.workers = append(c.workers, startProc(t, fmt.Sprintf("worker-%d", i), env, "worker", "--config", cfg, "--metrics-listen", addr))
		c.metrics = append(c.metrics, "http://"+addr)
	}
	c.apiProcs = apis
	for i, url := range c.apis {
		testenv.WaitReady(t, url+"/readyz", apis[i])
	}
	for i, url := range c.metrics {
		testenv.WaitReady(t, url+"/readyz", c.workers[i])
	}
	return c
}

// TestDistributedJobsRunExactlyOnce submits 2,000 async jobs through two
// api processes to three worker processes, stops one worker gracefully
// half way, and checks that every job succeeded and reached the upstream
// exactly once.
func TestDistributedJobsRunExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Parallel()
	c := startCluster(t, 2, 3, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}

	const jobs = 2000
	ids := make([]string, jobs)
	var next atomic.Int64
	var submitted atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= jobs {
					return
				}
				status, body := call(t, client, "POST", c.apis[i%2]+"/v1/proxy/http",
					map[string]any{"target": "up", "method": "GET", "path": fmt.Sprintf("/anything/%d", i)},
					"Prefer", "respond-async")
				if status != 202 {
					t.Errorf("job %d: %d %v", i, status, body)
					return
				}
				ids[i], _ = body["id"].(string)
				submitted.Add(1)
			}
		})
	}
	// Half way through, one worker is asked to stop: it finishes what it
	// runs and leaves the rest to the others.
	waitFor(t, "half the jobs to be submitted", func() bool { return submitted.Load() >= jobs/2 })
	terminate(t, c.workers[2])
	wg.Wait()
	if t.Failed() {
		return
	}

	waitFor(t, "all jobs to reach the upstream", func() bool { return c.upstream.Total() >= jobs })
	for i, id := range ids {
		status, job := call(t, client, "GET", c.apis[(i+1)%2]+"/v1/jobs/"+id+"?wait=20", nil)
		if status != 200 || job["status"] != "succeeded" {
			t.Fatalf("job %d (%s): %d %v", i, id, status, job)
		}
	}
	for i := range jobs {
		if n := c.upstream.Calls(fmt.Sprintf("/anything/%d", i)); n != 1 {
			t.Errorf("job %d reached the upstream %d times", i, n)
		}
	}
	if n := c.upstream.Total(); n != jobs {
		t.Errorf("upstream saw %d calls, want %d", n, jobs)
	}

	// The two workers still running counted their share, never more than
	// all jobs (the stopped worker took its counts with it).
	var counted int
	for _, url := range c.metrics[:2] {
		n, _ := testenv.Metric(t, url+"/metrics", `reliapi_jobs_total{status="succeeded"}`)
		counted += int(n)
	}
	if counted == 0 || counted > jobs {
		t.Errorf("workers counted %d succeeded jobs of %d", counted, jobs)
	}
	var attempts int
	for _, url := range c.metrics[:2] {
		n, _ := testenv.Metric(t, url+"/metrics", `reliapi_upstream_attempts_total{outcome="ok",target="up"}`)
		attempts += int(n)
	}
	if attempts != counted {
		t.Errorf("workers counted %d successful upstream attempts for %d succeeded jobs", attempts, counted)
	}
	for _, w := range c.workers[:2] {
		terminate(t, w)
	}
}

// TestDistributedIdempotency sends 50 concurrent requests with one
// idempotency key, spread over two api processes: the upstream is called
// once and all 50 get the same result.
func TestDistributedIdempotency(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Parallel()
	c := startCluster(t, 2, 3, nil)
	arrived, release := c.upstream.Block("/charge")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	const n = 50
	type result struct {
		status int
		body   map[string]any
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			status, body := call(t, client, "POST", c.apis[i%2]+"/v1/proxy/http",
				map[string]any{"target": "up", "method": "POST", "path": "/charge", "body": map[string]any{"amount": 100}},
				"Idempotency-Key", "order-7")
			results[i] = result{status, body}
		})
	}
	<-arrived
	release()
	wg.Wait()
	if calls := c.upstream.Calls("/charge"); calls != 1 {
		t.Fatalf("upstream calls = %d, want exactly 1", calls)
	}
	for i, r := range results {
		if r.status != 200 || !reflect.DeepEqual(r.body["data"], results[0].body["data"]) {
			t.Fatalf("result %d: %d %v", i, r.status, r.body)
		}
	}
}

// waitFor polls cond until it holds (bounded).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, time.Minute, what, cond)
}
