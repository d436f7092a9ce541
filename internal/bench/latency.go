package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// syncRow is one concurrency level of the sync latency table.
type syncRow struct {
	conc           int
	direct, proxed stats
	cpu            *cpuUsage // per proxied call; nil without /proc
	split          breakdown
}

// breakdown is where a proxied call's time goes, as means over a run, read
// from the jobs' timestamps. Those are whole milliseconds of Redis time, so
// only means over many calls are meaningful.
type breakdown struct {
	// queued is created_at → started_at: enqueue, wait in the queue and
	// the worker's pickup (task_check_interval polling).
	queued time.Duration
	// running is started_at → completed_at: the worker's upstream call and
	// recording the result.
	running time.Duration
	// rest is the client's mean latency minus both: HTTP to and from the
	// api, validation, creating the job record, and the completion's trip
	// back through pub/sub to the waiting api.
	rest time.Duration
}

// warmUp sends n direct and n proxied requests at concurrency 32: it opens
// the keep-alive connections the measured runs reuse and gets every process
// past its first-call costs (lazy init, pool growth, Lua script loading).
func (e *env) warmUp(ctx context.Context, n int) error {
	if _, err := runLoad(ctx, n, 32, func(ctx context.Context, _ int) error { return e.direct(ctx, "warmup") }); err != nil {
		return err
	}
	_, err := runLoad(ctx, n, 32, func(ctx context.Context, _ int) error {
		_, err := e.proxySync(ctx, "warmup")
		return err
	})
	return err
}

// measureSync measures n direct calls, then n synchronous proxy calls, at
// concurrency conc, and checks that every proxied call reached the upstream
// exactly once.
func (e *env) measureSync(ctx context.Context, n, conc int) (syncRow, error) {
	phase := fmt.Sprintf("sync-c%d", conc)
	direct, err := runLoad(ctx, n, conc, func(ctx context.Context, _ int) error { return e.direct(ctx, "direct") })
	if err != nil {
		return syncRow{}, err
	}
	ids := make([]string, n)
	cpu := e.startCPU()
	proxied, err := runLoad(ctx, n, conc, func(ctx context.Context, i int) (err error) {
		ids[i], err = e.proxySync(ctx, phase)
		return err
	})
	if err != nil {
		return syncRow{}, err
	}
	row := syncRow{conc: conc, direct: summarize(direct), proxed: summarize(proxied), cpu: cpu.perCall(n)}
	if got := e.upstream.calls(phase); got != n {
		return syncRow{}, fmt.Errorf("%d sync proxy calls reached the upstream %d times, want %d", n, got, n)
	}
	// Read back after the measurement, so these reads do not disturb it.
	row.split, err = e.split(ctx, ids, row.proxed.mean)
	return row, err
}

// split reads the jobs of a run and divides their mean latency into
// breakdown's parts.
func (e *env) split(ctx context.Context, ids []string, mean time.Duration) (breakdown, error) {
	var mu sync.Mutex
	var queued, running time.Duration
	_, err := runLoad(ctx, len(ids), 32, func(ctx context.Context, i int) error {
		j, err := e.getJob(ctx, ids[i])
		if err != nil {
			return err
		}
		if j.CreatedAt == nil || j.StartedAt == nil || j.CompletedAt == nil {
			return fmt.Errorf("job %s lacks timestamps", ids[i])
		}
		mu.Lock()
		defer mu.Unlock()
		queued += j.StartedAt.Sub(*j.CreatedAt)
		running += j.CompletedAt.Sub(*j.StartedAt)
		return nil
	})
	n := time.Duration(len(ids))
	b := breakdown{queued: queued / n, running: running / n}
	b.rest = mean - b.queued - b.running
	return b, err
}

// direct calls the upstream itself, as a client without ReliAPI would.
func (e *env) direct(ctx context.Context, phase string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.upstream.url+"/get?phase="+phase, nil)
	if err != nil {
		return err
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("direct GET /get answered %d", resp.StatusCode)
	}
	return nil
}

// proxyEnvelope is the part of a proxy answer the bench checks.
type proxyEnvelope struct {
	Success bool `json:"success"`
	Meta    struct {
		JobID    string `json:"job_id"`
		CacheHit bool   `json:"cache_hit"`
	} `json:"meta"`
}

// proxySync makes one synchronous proxy call (no Prefer header), checks
// that it succeeded through the worker, not from a cache, and returns its
// job ID.
func (e *env) proxySync(ctx context.Context, phase string) (string, error) {
	status, body, _, err := e.proxy(ctx, phase, "")
	if err != nil {
		return "", err
	}
	var ans proxyEnvelope
	if err := json.Unmarshal(body, &ans); err != nil || status != http.StatusOK || !ans.Success || ans.Meta.CacheHit || ans.Meta.JobID == "" {
		return "", fmt.Errorf("sync proxy call answered %d %s", status, body)
	}
	return ans.Meta.JobID, nil
}

// proxy POSTs the benchmark call to /v1/proxy/http with the given Prefer
// header (none when empty) and returns the status, body and Location.
func (e *env) proxy(ctx context.Context, phase, prefer string) (int, []byte, string, error) {
	return e.proxyWith(ctx, phase, prefer, "")
}

// proxyWith is proxy with a webhook at hookURL (none when empty).
func (e *env) proxyWith(ctx context.Context, phase, prefer, hookURL string) (int, []byte, string, error) {
	body := fmt.Sprintf(`{"target":"bench","method":"GET","path":"/get","query":{"phase":%q}}`, phase)
	if hookURL != "" {
		body = fmt.Sprintf(`{"target":"bench","method":"GET","path":"/get","query":{"phase":%q},"webhook":{"url":%q}}`, phase, hookURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.apiURL+"/v1/proxy/http", bytes.NewBufferString(body))
	if err != nil {
		return 0, nil, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if prefer != "" {
		req.Header.Set("Prefer", prefer)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header.Get("Location"), err
}
