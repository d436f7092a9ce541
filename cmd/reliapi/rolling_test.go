package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// TestRollingRestart restarts every process of a running fleet in turn —
// each of three workers, then each of two apis, SIGTERM and a fresh
// process on the same address — while 2,000 jobs keep arriving. Clients
// that find an api gone send the same request (same idempotency key) to
// the other. Afterwards every accepted job has succeeded and the upstream
// saw each idempotency key exactly once.
func TestRollingRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Parallel()
	c := startCluster(t, 2, 3, nil)
	// A call takes a while: restarts catch some running. The upstream
	// counts each idempotency key's successes.
	c.upstream.Handle("/charge", testenv.Answer(5*time.Millisecond, `{"ok":true}`))
	var apiMu sync.RWMutex // held for writing while an api is swapped
	apiURL := func(i int) string {
		apiMu.RLock()
		defer apiMu.RUnlock()
		return c.apis[i%len(c.apis)]
	}

	const jobs = 2000
	ids := make([]string, jobs)
	var next, accepted atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 30 * time.Second}
	submit := &testenv.Client{APIKey: testAPIKey, HTTP: client}
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= jobs {
					return
				}
				body := map[string]any{"target": "up", "method": "POST", "path": "/charge", "body": map[string]any{"n": i}, "idempotency_key": fmt.Sprintf("order-%d", i)}
				// An api going away refuses the connection or answers 503
				// while draining: the client tries the other, bounded.
				for try := 0; ; try++ {
					status, job := tryCall(submit, apiURL(i+try), body)
					if status == http.StatusAccepted {
						ids[i], _ = job["id"].(string)
						accepted.Add(1)
						break
					}
					if try == 1000 {
						t.Errorf("job %d: not accepted after %d tries (last %d %v)", i, try, status, job)
						return
					}
				}
			}
		})
	}

	restart := func(p *testenv.Process, args ...string) *testenv.Process {
		terminate(t, p)
		return startProc(t, p.Name+"'", c.env, args...)
	}
	for i := range c.workers {
		waitFor(t, "more jobs to arrive", func() bool { return accepted.Load() >= int64(200*(i+1)) })
		c.workers[i] = restart(c.workers[i], "worker", "--config", c.cfg, "--metrics-listen", strings.TrimPrefix(c.metrics[i], "http://"))
		testenv.WaitReady(t, c.metrics[i]+"/readyz", c.workers[i])
	}
	for i := range c.apiProcs {
		waitFor(t, "more jobs to arrive", func() bool { return accepted.Load() >= int64(800+200*i) })
		apiMu.Lock()
		c.apiProcs[i] = restart(c.apiProcs[i], "api", "--config", c.cfg, "--listen", strings.TrimPrefix(c.apis[i], "http://"))
		apiMu.Unlock()
		testenv.WaitReady(t, c.apis[i]+"/readyz", c.apiProcs[i])
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if accepted.Load() < jobs*9/10 {
		t.Fatalf("only %d jobs accepted during the restarts", accepted.Load())
	}
	for i, id := range ids {
		if id == "" {
			continue
		}
		status, job := call(t, client, "GET", c.apis[i%2]+"/v1/jobs/"+id+"?wait=30", nil)
		if status != 200 || job["status"] != "succeeded" {
			t.Fatalf("job %d (%s): %d %v", i, id, status, job)
		}
	}
	for i, id := range ids {
		if n := c.upstream.Succeeded(fmt.Sprintf("order-%d", i)); id != "" && n != 1 {
			t.Errorf("idempotency key order-%d reached the upstream %d times", i, n)
		}
	}
}

// tryCall submits one async call; a connection error is status 0.
func tryCall(c *testenv.Client, url string, body any) (int, map[string]any) {
	r, err := c.Send(context.Background(), "POST", url+"/v1/proxy/http", body, "Prefer", "respond-async")
	if err != nil {
		return 0, nil
	}
	return r.Status, r.Body
}
