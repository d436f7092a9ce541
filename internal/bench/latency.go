package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// The sweep measures, at each concurrency, a direct call to the upstream
// and then each mode of calling it through reliapi, one after the other on
// an otherwise quiet system. A mode's added latency is its percentile minus
// the direct call's at the same concurrency.
const (
	modeSync   = "sync"               // POST /v1/proxy/http, no Prefer: run by the api (server.run_sync_calls), or api → lane → worker → api
	modeCached = "cache hit"          // the same on a cached target, answered by the api from Redis
	modeReplay = "idempotent replay"  // a finished job's Idempotency-Key again: its stored result
	modeSubmit = "async submit (202)" // Prefer: respond-async, until the 202 (the job runs after)
)

// modes is the sweep's order, also the report's and the plot's.
var modes = []string{modeSync, modeCached, modeReplay, modeSubmit}

// level is one concurrency of the sweep.
type level struct {
	conc   int
	direct stats
	modes  map[string]stats
	// paired are, at concurrency 1, the direct calls made one for one
	// between each mode's calls: the baseline of that mode's added latency,
	// taken at the same moments of a shared, noisy machine.
	paired map[string]stats
	// cpus are each mode's CPU per call; nil values without /proc.
	cpus  map[string]*cpuUsage
	split breakdown // of the sync calls
}

// added is a mode's added latency at p (0.5, 0.9 or 0.99) over the direct
// call. Paired (concurrency 1), it is the mode's percentile minus that of
// the direct calls made between its calls, at the same moments of the
// machine. Otherwise the direct run is a moment of its own, a short one
// (3,000 calls take ~60 ms), whose tail one hiccup of the shared machine
// sets (a 20 ms p99 at concurrency 64 made added p99s negative): the
// mode's every percentile is then taken over the direct call's p50, which
// charges the machine's tail to reliapi rather than flatter it.
func (l level) added(mode string, p float64) time.Duration {
	m := l.modes[mode]
	d, paired := l.paired[mode]
	if !paired {
		d = l.direct
		d.p90, d.p99 = d.p50, d.p50
	}
	switch p {
	case 0.5:
		return m.p50 - d.p50
	case 0.9:
		return m.p90 - d.p90
	default:
		return m.p99 - d.p99
	}
}

// syncRow is the breakdown of where a sync call's time goes.
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

// prepareSweep makes the one call that fills the cache entry and the one
// job whose idempotency key the replays name.
func (e *env) prepareSweep(ctx context.Context) error {
	if _, err := e.cached(ctx, false); err != nil {
		return err
	}
	return e.replay(ctx, false)
}

// measureLevel measures n direct calls and then n calls of each mode at
// concurrency conc, and checks that each sync call and each submitted job
// reached the upstream exactly once, and no replay did.
func (e *env) measureLevel(ctx context.Context, n, conc int) (level, error) {
	l := level{conc: conc, modes: make(map[string]stats, len(modes)), paired: map[string]stats{}, cpus: map[string]*cpuUsage{}}
	direct, err := runLoad(ctx, n, conc, func(ctx context.Context, _ int) error { return e.direct(ctx, "direct") })
	if err != nil {
		return l, err
	}
	l.direct = summarize(direct)

	syncPhase, submitPhase := fmt.Sprintf("sync-c%d", conc), fmt.Sprintf("submit-c%d", conc)
	ids := make([]string, n)
	calls := map[string]func(ctx context.Context, i int) error{
		modeSync: func(ctx context.Context, i int) (err error) {
			ids[i], err = e.proxySync(ctx, syncPhase)
			return err
		},
		modeCached: func(ctx context.Context, _ int) error {
			_, err := e.cached(ctx, true)
			return err
		},
		modeReplay: func(ctx context.Context, _ int) error { return e.replay(ctx, true) },
		modeSubmit: func(ctx context.Context, _ int) error {
			_, err := e.submit(ctx, call{phase: submitPhase})
			return err
		},
	}
	for _, m := range modes {
		var s sample
		cpu := e.startCPU()
		if conc == 1 {
			var d sample
			d, s, err = runPaired(ctx, n, func(ctx context.Context) error { return e.direct(ctx, "direct") }, calls[m])
			l.paired[m] = summarize(d)
		} else {
			s, err = runLoad(ctx, n, conc, calls[m])
		}
		if err != nil {
			return l, fmt.Errorf("%s at concurrency %d: %w", m, conc, err)
		}
		l.modes[m] = summarize(s)
		l.cpus[m] = cpu.perCall(n)
		switch m {
		case modeSync:
			if got := e.upstream.KeyCalls(syncPhase); got != n {
				return l, fmt.Errorf("%d sync proxy calls reached the upstream %d times, want %d", n, got, n)
			}
		case modeSubmit:
			// The submitted jobs run after their 202s: let them finish
			// before anything else is measured.
			if err := e.awaitUpstream(ctx, submitPhase, n); err != nil {
				return l, err
			}
		}
	}
	if got := e.upstream.KeyCalls("replay"); got != 1 {
		return l, fmt.Errorf("the replayed job reached the upstream %d times, want once", got)
	}
	// Read back after the measurement, so these reads do not disturb it.
	l.split, err = e.split(ctx, ids, l.modes[modeSync].mean)
	return l, err
}

// awaitUpstream waits until n calls of phase have reached the upstream.
func (e *env) awaitUpstream(ctx context.Context, phase string, n int) error {
	return testenv.Poll(ctx, completionTimeout, fmt.Sprintf("%d %s calls to reach the upstream", n, phase), func(context.Context) error {
		for _, w := range e.workers() {
			if err := w.Exited(); err != nil {
				return testenv.Permanent(err)
			}
		}
		if got := e.upstream.KeyCalls(phase); got < n {
			return fmt.Errorf("%d of %d arrived", got, n)
		}
		return nil
	})
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.upstream.URL+"/get?phase="+phase, nil)
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

// call is one benchmark request to POST /v1/proxy/http: a GET of the
// upstream's /get, counted under phase.
type call struct {
	phase   string
	target  string // the target called; "bench" when empty
	key     string // the caller's API key; the default tenant's (benchAPIKey) when empty
	prefer  string // Prefer header; none when empty
	hookURL string // webhook; none when empty
	idemKey string // Idempotency-Key; none when empty
}

// proxySync makes one synchronous proxy call, checks that it succeeded
// through the worker, not from a cache, and returns its job ID.
func (e *env) proxySync(ctx context.Context, phase string) (string, error) {
	return e.syncCall(ctx, call{phase: phase})
}

// syncCall is proxySync for any call.
func (e *env) syncCall(ctx context.Context, c call) (string, error) {
	a, err := e.post(ctx, c)
	if err != nil {
		return "", err
	}
	if a.status != http.StatusOK || !a.Success || a.Meta.CacheHit || a.Meta.JobID == "" {
		return "", fmt.Errorf("sync proxy call answered %d %s", a.status, a.raw)
	}
	return a.Meta.JobID, nil
}

// replay repeats the sync call of the job with Idempotency-Key
// "bench-replay"; wantHit says whether it must be answered from that job
// (all but the first call).
func (e *env) replay(ctx context.Context, wantHit bool) error {
	a, err := e.post(ctx, call{phase: "replay", idemKey: "bench-replay"})
	if err != nil {
		return err
	}
	if a.status != http.StatusOK || !a.Success || a.Meta.IdempotentHit != wantHit {
		return fmt.Errorf("idempotent call answered %d %s (want idempotent_hit %v)", a.status, a.raw, wantHit)
	}
	return nil
}

// submit makes c asynchronously and returns its job ID. It reads what any
// client of the job API must, the status and Location, and discards the
// 202's body unparsed: on this 2-core box the load generator shares the
// CPU with the system it measures, and decoding every answer into a map
// was its cost, not the system's (raw asynq's client decodes nothing).
func (e *env) submit(ctx context.Context, c call) (string, error) {
	c.prefer = "respond-async"
	body, headers := c.request()
	resp, err := e.clientFor(c.key).Open(ctx, http.MethodPost, "/v1/proxy/http", body, headers...)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	loc := resp.Header.Get("Location")
	id, ok := strings.CutPrefix(loc, "/v1/jobs/")
	if resp.StatusCode != http.StatusAccepted || !ok {
		raw, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("async submit answered %d (Location %q) %s", resp.StatusCode, loc, raw)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", fmt.Errorf("async submit: reading the answer: %w", err)
	}
	return id, nil
}

// proxyRequest is the body of a benchmark call.
type proxyRequest struct {
	Target  string            `json:"target"`
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Query   map[string]string `json:"query"`
	Webhook *struct {
		URL string `json:"url"`
	} `json:"webhook,omitempty"`
}

// proxyAnswer is what the bench checks of a proxy call's answer.
type proxyAnswer struct {
	Success bool `json:"success"`
	Meta    struct {
		JobID         string `json:"job_id"`
		CacheHit      bool   `json:"cache_hit"`
		IdempotentHit bool   `json:"idempotent_hit"`
	} `json:"meta"`
}

// answer is a proxy call's status, the fields the bench checks, and the
// body as it came.
type answer struct {
	proxyAnswer
	status int
	raw    []byte
}

// post sends c and returns the answer. It decodes only the fields the
// bench checks, not the whole answer (the upstream's echo included) into
// maps: the load generator shares the box's CPU with what it measures.
func (e *env) post(ctx context.Context, c call) (answer, error) {
	body, headers := c.request()
	resp, err := e.clientFor(c.key).Open(ctx, http.MethodPost, "/v1/proxy/http", body, headers...)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode}
	if a.raw, err = io.ReadAll(resp.Body); err != nil {
		return answer{}, fmt.Errorf("proxy call: reading the answer: %w", err)
	}
	if err := json.Unmarshal(a.raw, &a.proxyAnswer); err != nil {
		return answer{}, fmt.Errorf("proxy call answered %d, not a JSON object: %s", a.status, a.raw)
	}
	return a, nil
}

// request is c's body and headers.
func (c call) request() (proxyRequest, []string) {
	pr := proxyRequest{Target: cmp.Or(c.target, "bench"), Method: http.MethodGet, Path: "/get", Query: map[string]string{"phase": c.phase}}
	if c.hookURL != "" {
		pr.Webhook = &struct {
			URL string `json:"url"`
		}{c.hookURL}
	}
	var headers []string
	if c.prefer != "" {
		headers = append(headers, "Prefer", c.prefer)
	}
	if c.idemKey != "" {
		headers = append(headers, "Idempotency-Key", c.idemKey)
	}
	return pr, headers
}
