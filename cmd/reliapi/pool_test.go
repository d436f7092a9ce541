package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// inFlight is how long after a refusal a call may still arrive with the
// refused key: it was leased before the refusal was known. Under the race
// detector, with the package's other multi-process tests running at the
// same time on two cores, such calls have been seen to arrive 185 ms
// late. A key that is not rested at all is called all through the run
// (seconds), so a wide margin still catches that.
const inFlight = 500 * time.Millisecond

// callsDuring returns the calls with key that arrived between from and to.
func callsDuring(log *testenv.KeyLog, key string, from, to time.Time) []time.Time {
	var out []time.Time
	for _, c := range log.Of(key) {
		if c.After(from) && c.Before(to) {
			out = append(out, c)
		}
	}
	return out
}

// submitAll submits n async jobs for target over the cluster's apis and
// waits until every one succeeded.
func submitAll(t *testing.T, c *cluster, target, path string, n int) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 60 * time.Second}
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				status, body := call(t, client, "POST", c.apis[i%len(c.apis)]+"/v1/proxy/http",
					map[string]any{"target": target, "method": "GET", "path": path}, "Prefer", "respond-async")
				if status != 202 {
					t.Errorf("submit %d: %d %v", i, status, body)
					return
				}
				ids[i], _ = body["id"].(string)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, id := range ids {
		for {
			status, job := call(t, client, "GET", c.apis[0]+"/v1/jobs/"+id+"?wait=30", nil)
			if status != 200 {
				t.Fatalf("job %d: %d %v", i, status, job)
			}
			if job["status"] == "queued" || job["status"] == "running" {
				continue
			}
			if job["status"] != "succeeded" {
				t.Fatalf("job %d ended %v: %v", i, job["status"], job["error"])
			}
			break
		}
	}
}

// TestKeyRateLimitAcrossWorkers: a key limited to 20 calls per second, 600
// jobs submitted at once over three workers: the upstream never sees more
// than 22 calls with that key in any one-second window, and every job
// succeeds.
func TestKeyRateLimitAcrossWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test (30 s)")
	}
	t.Parallel()
	c := startCluster(t, 2, 3, func(cfg *testenv.Config) {
		cfg.Targets["limited"] = testenv.Section{"base_url": cfg.Targets["up"]["base_url"], "cache": "{enabled: false}"}
		cfg.Extra = `
provider_key_pools:
  limited:
    keys:
      - {id: k20, api_key: "env:KEY_20", rate_limit: {max_qps: 20, burst_size: 1}}
`
	}, "KEY_20=sk-twenty")
	log := &testenv.KeyLog{}
	c.upstream.Handle("/limited", log.Handler(nil))
	start := time.Now()
	submitAll(t, c, "limited", "/limited", 600)
	calls := log.Of("sk-twenty")
	if len(calls) != 600 {
		t.Fatalf("upstream calls = %d, want 600", len(calls))
	}
	slices.SortFunc(calls, func(a, b time.Time) int { return a.Compare(b) })
	worst := 0
	for i := range calls {
		j := i
		for j < len(calls) && calls[j].Sub(calls[i]) < time.Second {
			j++
		}
		worst = max(worst, j-i)
	}
	if worst > 22 {
		t.Errorf("%d calls with the key in one second, limit 20", worst)
	}
	t.Logf("600 jobs in %v; busiest second: %d calls", time.Since(start).Round(time.Millisecond), worst)
}

// TestKeyFailoverAcrossWorkers: with three keys of which one answers 429
// with Retry-After: 2 and one answers 401, traffic over three workers moves
// to the good key: the 429 key gets no call for 2 s after its 429, the 401
// key is called once and never again, and no job fails.
func TestKeyFailoverAcrossWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Parallel()
	c := startCluster(t, 1, 3, func(cfg *testenv.Config) {
		cfg.Targets["pooled"] = testenv.Section{"base_url": cfg.Targets["up"]["base_url"], "cache": "{enabled: false}"}
		cfg.Extra = `
provider_key_pools:
  pooled:
    keys:
      - {id: throttled, api_key: "env:KEY_T"}
      - {id: revoked, api_key: "env:KEY_R"}
      - {id: good, api_key: "env:KEY_G"}
`
	}, "KEY_T=sk-throttled", "KEY_R=sk-revoked", "KEY_G=sk-good")
	log := &testenv.KeyLog{}
	c.upstream.Handle("/pooled", log.Handler(map[string]int{"sk-throttled": 429, "sk-revoked": 401}))
	submitAll(t, c, "pooled", "/pooled", 300)

	// Calls already under way with a key when its first refusal comes back
	// arrive within inFlight of it; after that, none until the key rests.
	refused429, refused401 := log.Refusals("sk-throttled"), log.Refusals("sk-revoked")
	for _, r := range refused429 {
		if late := callsDuring(log, "sk-throttled", r.Add(inFlight), r.Add(2*time.Second-inFlight)); len(late) > 0 {
			t.Errorf("the throttled key was called %v after a 429 with Retry-After: 2", late[0].Sub(r))
		}
	}
	if len(refused401) == 0 {
		t.Fatal("the revoked key was never called")
	}
	if late := callsDuring(log, "sk-revoked", refused401[0].Add(inFlight), time.Now()); len(late) > 0 {
		t.Errorf("the revoked key was called %d times after its first 401", len(late))
	}
	if n := len(log.Of("sk-good")); n < 250 {
		t.Errorf("the good key carried only %d of 300 calls", n)
	}
	t.Logf("calls: throttled %d (429s %d), revoked %d, good %d", len(log.Of("sk-throttled")), len(refused429), len(log.Of("sk-revoked")), len(log.Of("sk-good")))
	_, targets := call(t, http.DefaultClient, "GET", c.apis[0]+"/v1/targets", nil)
	if s := fmt.Sprint(targets); !strings.Contains(s, "id:revoked") || !strings.Contains(s, "status:quarantined") {
		t.Errorf("targets: %v", targets)
	}
}
