package main

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// TestCacheCollapsesAcrossAPIs sends 100 concurrent identical GETs over two
// api processes: the upstream is called once; a repeat is answered from the
// cache with no new job.
func TestCacheCollapsesAcrossAPIs(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Parallel()
	c := startCluster(t, 2, 3, func(cfg *testenv.Config) {
		cfg.Targets["cached"] = testenv.Section{"base_url": cfg.Targets["up"]["base_url"], "cache": "{ttl_s: 60}"}
	})
	arrived, release := c.upstream.Block("/item")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128}, Timeout: 30 * time.Second}
	body := map[string]any{"target": "cached", "method": "GET", "path": "/item"}
	const n = 100
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			statuses[i], _ = call(t, client, "POST", c.apis[i%2]+"/v1/proxy/http", body)
		})
	}
	<-arrived
	waitFor(t, "the other 99 requests to join the call in flight", func() bool {
		const series = `reliapi_cache_hits_total{result="collapsed",target="cached"}`
		a, _ := testenv.Metric(t, c.apis[0]+"/metrics", series)
		b, _ := testenv.Metric(t, c.apis[1]+"/metrics", series)
		return a+b == n-1
	})
	release()
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("request %d: status %d", i, s)
		}
	}
	if calls := c.upstream.Calls("/item"); calls != 1 {
		t.Fatalf("upstream calls = %d, want 1", calls)
	}
	status, hit := call(t, client, "POST", c.apis[1]+"/v1/proxy/http", body)
	if status != 200 || hit["meta"].(map[string]any)["cache_hit"] != true || c.upstream.Calls("/item") != 1 {
		t.Fatalf("repeat: %d %v", status, hit)
	}
	_, list := call(t, client, "GET", c.apis[0]+"/v1/jobs", nil)
	if jobs := list["data"].([]any); len(jobs) != 1 {
		t.Fatalf("jobs = %d, want 1", len(jobs))
	}
}
