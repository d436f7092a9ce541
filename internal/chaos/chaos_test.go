package chaos_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

// full runs the scenarios at their full length (`make chaos`); without it
// they run short, for `make test`.
var full = flag.Bool("full", false, "run the full scenarios and print the table")

// row is one scenario's outcome, a line of the table.
type row struct {
	scenario                                     string
	accepted, completed, clearErrors, lost, dups int
	notes                                        string
}

// tally counts a job that ended with status (as jobStatus reads it) in
// the row, and reports whether it was lost: not ended, or gone.
func (r *row) tally(status string) (lost bool) {
	switch status {
	case "succeeded":
		r.completed++
	case "failed":
		r.clearErrors++
	default:
		r.lost++
		return true
	}
	return false
}

var (
	rowsMu sync.Mutex
	rows   []row
)

func record(r row) {
	rowsMu.Lock()
	rows = append(rows, r)
	rowsMu.Unlock()
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	testenv.RemoveBinary()
	if len(rows) > 0 {
		fmt.Println("\n| scenario | accepted | completed | failed with a clear error | lost | duplicate upstream | notes |")
		fmt.Println("|---|---:|---:|---:|---:|---:|---|")
		for _, r := range rows {
			fmt.Printf("| %s | %d | %d | %d | %d | %d | %s |\n", r.scenario, r.accepted, r.completed, r.clearErrors, r.lost, r.dups, r.notes)
		}
	}
	os.Exit(code)
}

// length is a fault's duration: 10 s in full, 3 s short.
func length() time.Duration {
	if *full {
		return 10 * time.Second
	}
	return 3 * time.Second
}

// faultFor injects a fault, keeps it for d — the scenario's length, not a
// wait for anything — and heals it.
func faultFor(d time.Duration, inject, heal func()) {
	inject()
	defer heal()
	<-time.After(d)
}

// sized is short in `make test`, full in `make chaos`.
func sized(short, long int) int {
	if *full {
		return long
	}
	return short
}

// submitAll submits n async calls, body(i) each, and returns their jobs.
func submitAll(t *testing.T, c *testenv.Client, n int, body func(i int) map[string]any) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		a := send(c, body(i), "Prefer", "respond-async")
		if a.status != http.StatusAccepted {
			t.Fatalf("submit %d: %+v", i, a)
		}
		ids[i] = a.id
	}
	return ids
}

// answer is one call's result as the client saw it.
type answer struct {
	status int
	code   string // error.code of an error envelope
	id     string // the job's id
	took   time.Duration
}

// send posts one proxy call and reads what came back; a transport error
// is status 0.
func send(c *testenv.Client, body map[string]any, headers ...string) answer {
	start := time.Now()
	r, err := c.Send(context.Background(), "POST", "/v1/proxy/http", body, headers...)
	if err != nil {
		return answer{took: time.Since(start)}
	}
	id, _ := r.Body["id"].(string)
	if meta, ok := r.Body["meta"].(map[string]any); ok && id == "" {
		id, _ = meta["job_id"].(string) // a synchronous answer's job
	}
	return answer{status: r.Status, code: errorCode(r.Body), id: id, took: time.Since(start)}
}

// errorCode is the code of an error envelope, "" for any other answer.
func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// clients runs n clients, each calling call over and over, until the
// returned stop is called; stop waits for the calls under way to return.
func clients(n int, call func()) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				call()
			}
		})
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// acceptance is an async job the api accepted: its id, its idempotency
// key, and when the 202 came back.
type acceptance struct {
	id, key string
	at      time.Time
}

// asyncLoad submits async jobs (POST /work on target "up", each with an
// idempotency key) from 8 clients until end, and keeps every answer:
// accepted, refused as 503 REDIS_UNAVAILABLE, or unclear.
type asyncLoad struct {
	stop func()

	mu       sync.Mutex
	accepted []acceptance
	refused  int
	unclear  []answer
}

// startAsyncLoad starts the load; keys are prefix-1, prefix-2, …
func startAsyncLoad(client *testenv.Client, prefix string) *asyncLoad {
	l := &asyncLoad{}
	var n atomic.Int64
	l.stop = clients(8, func() {
		i := n.Add(1)
		key := fmt.Sprintf("%s-%d", prefix, i)
		a := send(client, map[string]any{"target": "up", "method": "POST", "path": "/work", "body": map[string]any{"i": i},
			"idempotency_key": key}, "Prefer", "respond-async")
		at := time.Now()
		l.mu.Lock()
		defer l.mu.Unlock()
		switch {
		case a.status == http.StatusAccepted:
			l.accepted = append(l.accepted, acceptance{a.id, key, at})
		case a.status == http.StatusServiceUnavailable && a.code == "REDIS_UNAVAILABLE":
			l.refused++
		default:
			l.unclear = append(l.unclear, a)
		}
	})
	return l
}

// since counts the jobs accepted after t.
func (l *asyncLoad) since(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := 0
	for _, a := range l.accepted {
		if a.at.After(t) {
			c++
		}
	}
	return c
}

// before counts the jobs accepted before t.
func (l *asyncLoad) before(t time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := 0
	for _, a := range l.accepted {
		if a.at.Before(t) {
			c++
		}
	}
	return c
}

// end stops the load and returns its answers.
func (l *asyncLoad) end() (accepted []acceptance, refused int, unclear []answer) {
	l.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.accepted, l.refused, l.unclear
}

// orphanBound is how long a scenario waits for its accepted jobs once the
// fault is over. A job orphaned by a cut connection or a crash (dequeued
// in Redis, but the worker never heard) waits for asynq's recoverer: its
// lease (30 s) expires, a scan every minute finds it 30 s after that, so up
// to 2 min, then a retry delay. Such a job is late, not lost.
const orphanBound = 3 * time.Minute

// jobStatus long-polls a job until it ends, turns out not to exist
// ("gone"), or bound passes ("unfinished"). It asks at least once, so a
// job that has ended is read as such even when bound is already spent.
func jobStatus(c *testenv.Client, id string, bound time.Duration) (status, code string) {
	deadline := time.Now().Add(bound)
	for {
		wait := int(max(min(time.Until(deadline), 5*time.Second), 0) / time.Second)
		if r, err := c.Send(context.Background(), "GET", fmt.Sprintf("/v1/jobs/%s?wait=%d", id, wait), nil); err == nil {
			if r.Status == http.StatusNotFound {
				return "gone", ""
			}
			switch st, _ := r.Body["status"].(string); st {
			case "succeeded", "failed", "canceled", "expired":
				return st, errorCode(r.Body)
			}
		}
		if !time.Now().Before(deadline) {
			return "unfinished", ""
		}
	}
}

// goroutines reads the api's go_goroutines.
func goroutines(t *testing.T, url string) int {
	n, ok := testenv.Metric(t, url+"/metrics", "go_goroutines")
	if !ok {
		t.Fatal("no go_goroutines in /metrics")
	}
	return int(n)
}

// TestRedisUnreachable: Redis stops answering (connections cut, new ones
// refused, data intact) while clients keep submitting jobs. Each submit
// during the outage is refused with 503 REDIS_UNAVAILABLE within 2 s; when
// Redis is back the service recovers by itself, every accepted job
// completes, none runs twice, and the api has not leaked goroutines.
func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2, nil, "")
	client := f.client(10 * time.Second)
	before := goroutines(t, f.url)

	var (
		mu       sync.Mutex
		accepted []string
		refused  int
		slowest  time.Duration
		unclear  []answer
		n        atomic.Int64
	)
	var inOutage atomic.Bool
	stop := clients(8, func() {
		i := n.Add(1)
		a := send(client, map[string]any{"target": "up", "method": "POST", "path": "/work", "body": map[string]any{"i": i},
			"idempotency_key": fmt.Sprintf("k%d", i)}, "Prefer", "respond-async")
		mu.Lock()
		switch {
		case a.status == http.StatusAccepted:
			accepted = append(accepted, a.id)
		case a.status == http.StatusServiceUnavailable && a.code == "REDIS_UNAVAILABLE":
			refused++
			if inOutage.Load() {
				slowest = max(slowest, a.took)
			}
		default:
			unclear = append(unclear, a)
		}
		mu.Unlock()
	})
	// Load before the fault, and after it.
	loaded := func(more int64) {
		target := n.Load() + more
		testenv.Eventually(t, 30*time.Second, "clients to make calls", func() bool { return n.Load() >= target })
	}
	loaded(50)
	inOutage.Store(true)
	f.proxy.outage(context.Background(), length())
	inOutage.Store(false)
	testenv.Eventually(t, 30*time.Second, "the api to be ready again", func() bool {
		resp, err := http.Get(f.url + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	loaded(50)
	stop()

	r := row{scenario: fmt.Sprintf("Redis unreachable %v", length()), accepted: len(accepted), clearErrors: refused}
	deadline := time.Now().Add(orphanBound)
	for _, id := range accepted {
		st, _ := jobStatus(client, id, time.Until(deadline))
		r.tally(st)
	}
	r.lost += len(unclear)
	r.dups = f.up.Duplicates()
	var after int
	testenv.Eventually(t, 30*time.Second, "the api's goroutines to settle", func() bool {
		after = goroutines(t, f.url)
		return after <= before+20
	})
	r.notes = fmt.Sprintf("refusals answered in ≤ %v; api goroutines %d before, %d after", slowest.Round(time.Millisecond), before, after)
	if len(unclear) > 0 {
		r.notes += fmt.Sprintf("; unclear answers: %v", unclear[:min(3, len(unclear))])
	}
	record(r)

	if r.lost > 0 || r.dups > 0 || slowest > 2*time.Second || refused == 0 {
		t.Errorf("%+v (unclear answers: %v)", r, unclear)
	}
}

// fsyncWindow is how much of what Redis acknowledged just before a crash
// its append-only file may lack with `appendfsync everysec`. Redis fsyncs
// the file once a second, and while an fsync is slow it postpones even
// writing to the file, for up to 2 s (INFO's aof_delayed_fsync counts
// those), replying to clients meanwhile. A crash of the machine loses what
// was not fsynced yet, a crash of redis-server alone what was not written
// yet: about the last second of acknowledged writes, up to 2 s.
const fsyncWindow = 2 * time.Second

// TestRedisRestartAOF: Redis with an append-only file (appendfsync
// everysec) is SIGKILLed while clients submit jobs and workers run them,
// and started again on the same port and data directory, so it replays
// the file. Submits while it is down are refused with 503
// REDIS_UNAVAILABLE. Every job accepted (202) before the fsync window that
// precedes the kill, or after the restart, ends; a job accepted inside the
// window may be lost, and is counted apart. A duplicate at the upstream
// (same Idempotency-Key) is allowed: a crash may lose the record of a call
// made inside the window, and at-least-once is the contract.
func TestRedisRestartAOF(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2, testenv.Section{"cache": "{enabled: false}"}, "", "--appendonly", "yes", "--appendfsync", "everysec")
	f.up.SetDelay(20 * time.Millisecond) // jobs are in flight when Redis dies
	client := f.client(10 * time.Second)
	outage := time.Duration(sized(1, 5)) * time.Second

	load := startAsyncLoad(client, "aof")
	// Before the kill, enough jobs accepted earlier than the fsync window
	// that precedes it: they must survive, so the scenario can fail.
	before := sized(100, 1000)
	testenv.Eventually(t, time.Minute, fmt.Sprintf("%d jobs accepted more than %v ago", before, fsyncWindow), func() bool {
		return load.before(time.Now().Add(-fsyncWindow)) >= before
	})

	var killed, restarting, back time.Time
	faultFor(outage, func() {
		killed = time.Now()
		f.redis.Stop()
	}, func() {
		restarting = time.Now()
		f.redis.Restart(t) // same port and directory: it replays the AOF before answering
		back = time.Now()
	})
	testenv.Eventually(t, 30*time.Second, "the api to accept jobs again", func() bool { return load.since(back) > 0 })
	testenv.Eventually(t, time.Minute, "jobs accepted after the restart", func() bool { return load.since(back) >= sized(100, 1000) })
	accepted, refused, unclear := load.end()

	deadline := time.Now().Add(orphanBound)
	windowStart := killed.Add(-fsyncWindow)
	r := row{scenario: fmt.Sprintf("Redis SIGKILLed, down %v, restarted replaying its AOF (everysec)", outage),
		accepted: len(accepted), clearErrors: refused}
	var inWindow, lostInWindow, gone int
	var why []string             // what Redis holds of the first lost jobs
	var reaccepted time.Duration // from the restart to the first 202 after it
	for _, a := range accepted {
		if a.at.After(back) && (reaccepted == 0 || a.at.Sub(back) < reaccepted) {
			reaccepted = a.at.Sub(back)
		}
		// A 202 comes after the job's record and task are written, so a job
		// whose writes the crash lost was accepted inside the window. One
		// accepted before it had both written in time: if it does not end,
		// something else lost it (the lost notes say what Redis holds).
		window := !a.at.Before(windowStart) && a.at.Before(back)
		if window {
			inWindow++
		}
		if st, _ := jobStatus(client, a.id, time.Until(deadline)); r.tally(st) {
			if st == "gone" {
				gone++
			}
			if window {
				lostInWindow++
			}
			if len(why) < 10 {
				why = append(why, fmt.Sprintf("%s accepted at kill%+.3fs (inside the window: %t), upstream answered it %d times, %s",
					a.id, a.at.Sub(killed).Seconds(), window, f.up.Succeeded(a.key), f.whereIs(a.id)))
			}
		}
	}
	ended := time.Since(back)
	lostOutside := r.lost - lostInWindow
	r.lost += len(unclear)
	r.dups = f.up.Duplicates()
	r.notes = fmt.Sprintf("lost inside the %v fsync window before the kill: %d of the %d accepted there (allowed); lost outside it: %d; "+
		"%d submits refused (503 REDIS_UNAVAILABLE) while down; restart with AOF replay %v, api accepting again %v after it; every job settled within %v of the restart",
		fsyncWindow, lostInWindow, inWindow, lostOutside, refused, back.Sub(restarting).Round(time.Millisecond), reaccepted.Round(time.Millisecond), ended.Round(time.Second))
	if gone > 0 {
		r.notes += fmt.Sprintf("; %d lost jobs had no record left", gone)
	}
	if len(unclear) > 0 {
		r.notes += fmt.Sprintf("; unclear answers: %v", unclear[:min(3, len(unclear))])
	}
	if len(why) > 0 {
		r.notes += "; lost (the first 10): " + strings.Join(why, "; ")
	}
	record(r)

	if lostOutside > 0 || len(unclear) > 0 || refused == 0 {
		t.Errorf("%+v (unclear answers: %v)", r, unclear)
	}
}

// TestUpstreamStorm: the upstream answers 503 to everything for a while,
// then recovers. Calls fail with clear errors — SERVER_ERROR, then
// CIRCUIT_OPEN without reaching it once the breaker is open, one probe per
// cooldown — and succeed again once it is back.
func TestUpstreamStorm(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2, testenv.Section{
		"circuit":      "{error_threshold: 5, cooldown_s: 1}",
		"cache":        "{enabled: false}",
		"retry_matrix": `{"5xx": {attempts: 1}}`,
	}, "")
	client := f.client(30 * time.Second)
	var (
		mu                  sync.Mutex
		ok, serverErr, open int
		unclear             []answer
	)
	stop := clients(4, func() {
		a := send(client, map[string]any{"target": "up", "method": "GET", "path": "/work"})
		mu.Lock()
		switch {
		case a.status == 200:
			ok++
		case a.code == "SERVER_ERROR":
			serverErr++
		case a.code == "CIRCUIT_OPEN":
			open++
		default:
			unclear = append(unclear, a)
		}
		mu.Unlock()
	})
	testenv.Eventually(t, 30*time.Second, "calls to succeed before the storm", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return ok >= 20
	})
	startCalls := f.up.Total()
	faultFor(length(), func() { f.up.SetStatus(http.StatusServiceUnavailable) }, func() { f.up.SetStatus(0) })
	stormCalls := f.up.Total() - startCalls
	mu.Lock()
	okBefore := ok
	mu.Unlock()
	testenv.Eventually(t, 30*time.Second, "calls to succeed again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return ok > okBefore+10
	})
	stop()

	// At most the threshold's failures (and what was in flight when the
	// breaker opened), then one probe per cooldown.
	allowed := 5 + 4 + int(length()/time.Second) + 2
	r := row{scenario: fmt.Sprintf("upstream 503 for %v", length()), accepted: ok + serverErr + open + len(unclear),
		completed: ok, clearErrors: serverErr + open, lost: len(unclear),
		notes: fmt.Sprintf("%d calls reached the upstream during the storm (≤ %d allowed), %d answered CIRCUIT_OPEN without reaching it", stormCalls, allowed, open)}
	record(r)
	if r.lost > 0 || open == 0 || stormCalls > allowed {
		t.Errorf("%+v (unclear: %v)", r, unclear)
	}
}

// TestLatencySpike: the upstream answers slower than the target's
// timeout_ms for a while. Each call that meets the spike fails as TIMEOUT
// after exactly the attempts its retry matrix gives timeouts (2), and calls
// succeed again once it passes.
func TestLatencySpike(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2, testenv.Section{
		"timeout_ms":   "200",
		"cache":        "{enabled: false}",
		"circuit":      "{error_threshold: 100000}",
		"retry_matrix": `{"timeout": {attempts: 2, backoff: fixed, base_s: 0.05}}`,
	}, "")
	client := f.client(30 * time.Second)
	type call struct {
		id string
		a  answer
	}
	var (
		mu    sync.Mutex
		calls []call
		n     atomic.Int64
	)
	stop := clients(4, func() {
		id := fmt.Sprint(n.Add(1))
		a := send(client, map[string]any{"target": "up", "method": "GET", "path": "/work", "headers": map[string]any{"X-Call": id}})
		mu.Lock()
		calls = append(calls, call{id, a})
		mu.Unlock()
	})
	testenv.Eventually(t, 30*time.Second, "calls before the spike", func() bool { return n.Load() >= 20 })
	faultFor(length(), func() { f.up.SetDelay(400 * time.Millisecond) }, func() { f.up.SetDelay(0) })
	mu.Lock()
	before := len(calls)
	mu.Unlock()
	testenv.Eventually(t, 30*time.Second, "calls to succeed again", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range calls[before:] {
			if c.a.status == 200 {
				return true
			}
		}
		return false
	})
	stop()

	r := row{scenario: fmt.Sprintf("upstream slower than timeout_ms for %v", length())}
	wrongTries := 0
	for _, c := range calls {
		r.accepted++
		switch {
		case c.a.status == 200:
			r.completed++
		case c.a.code == "TIMEOUT":
			r.clearErrors++
			if f.up.KeyCalls(c.id) != 2 {
				wrongTries++
			}
		default:
			r.lost++
		}
	}
	r.notes = "every TIMEOUT after exactly 2 attempts"
	if wrongTries > 0 {
		r.notes = fmt.Sprintf("%d TIMEOUTs after other than 2 attempts", wrongTries)
	}
	record(r)
	if r.lost > 0 || r.clearErrors == 0 || wrongTries > 0 {
		t.Errorf("%+v", r)
	}
}

// TestFlappingReceiver: a webhook receiver that fails (503) a random 0 to
// 3 first attempts at each delivery. Every job's webhook is delivered — at
// least once, under one webhook-id for all its attempts.
func TestFlappingReceiver(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		seen  = map[string]map[string]bool{} // job ID → webhook-ids seen
		ok    = map[string]int{}             // job ID → 2xx answers
		fails = map[string]int{}             // job ID → failures still to give
		hits  int
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Data struct{ ID string } }
		json.NewDecoder(r.Body).Decode(&body)
		id := body.Data.ID
		mu.Lock()
		hits++
		if seen[id] == nil {
			seen[id] = map[string]bool{}
			fails[id] = rand.IntN(4)
		}
		seen[id][r.Header.Get("webhook-id")] = true
		down := fails[id] > 0
		if down {
			fails[id]--
		} else {
			ok[id]++
		}
		mu.Unlock()
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	f := startFleet(t, 2, nil, `webhooks:
  allow_private_networks: true
  timeout_s: 2
  schedule_s: [0, 0, 1, 1, 1]
  secrets: {default: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}`)
	client := f.client(30 * time.Second)
	jobs := sized(100, 500)
	ids := submitAll(t, client, jobs, func(i int) map[string]any {
		return map[string]any{"target": "up", "method": "GET", "path": fmt.Sprintf("/work?i=%d", i), "webhook": map[string]any{"url": rcv.URL}}
	})
	r := row{scenario: "webhook receiver failing 0-3 first attempts (503)", accepted: jobs}
	for _, id := range ids {
		if st, _ := jobStatus(client, id, time.Minute); st == "succeeded" {
			r.completed++
		}
	}
	delivered := 0
	testenv.Eventually(t, 40*time.Second, "every webhook to be delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		delivered = 0
		for _, id := range ids {
			if ok[id] > 0 {
				delivered++
			}
		}
		return delivered == jobs
	})
	mu.Lock()
	defer mu.Unlock()
	extra, idsChanged := 0, 0
	for _, id := range ids {
		extra += ok[id] - 1
		if len(seen[id]) != 1 {
			idsChanged++
		}
	}
	r.lost = jobs - delivered
	r.notes = fmt.Sprintf("%d webhooks delivered in %d attempts; %d delivered more than once; %d with more than one webhook-id", delivered, hits, extra, idsChanged)
	record(r)
	if r.lost > 0 || idsChanged > 0 || r.completed != jobs {
		t.Errorf("%+v", r)
	}
}

// TestWorkerKilled: one of two workers is SIGKILLed while it runs jobs.
// Its jobs complete on the other once their claims lapse (within
// claimLease, 5 s) and their asynq tasks take them over; the time until
// every job has ended is the recovery time, at most killRecovery in
// `make chaos`. None is lost; a call the dead worker had made but not yet
// recorded is made again, with the same Idempotency-Key, so the upstream
// can tell (the table counts those).
func TestWorkerKilled(t *testing.T) {
	t.Parallel()
	f := startFleet(t, 2, testenv.Section{"cache": "{enabled: false}"}, "")
	f.up.SetDelay(100 * time.Millisecond) // jobs are in flight when the worker dies
	client := f.client(30 * time.Second)
	jobs := sized(200, 1000)
	ids := submitAll(t, client, jobs, func(i int) map[string]any {
		return map[string]any{"target": "up", "method": "POST", "path": "/work", "body": map[string]any{"i": i}, "idempotency_key": fmt.Sprintf("kill-%d", i)}
	})
	testenv.Eventually(t, time.Minute, "a quarter of the jobs to reach the upstream", func() bool {
		return f.up.Total() >= jobs/4
	})
	killed := time.Now()
	f.workers[0].Kill()

	r := row{scenario: "a worker SIGKILLed mid-run", accepted: jobs}
	codes := map[string]int{} // why jobs failed, for the error below
	for _, id := range ids {
		st, code := jobStatus(client, id, 4*time.Minute)
		if r.tally(st); st == "failed" {
			codes[code]++
		}
	}
	recovery := time.Since(killed)
	r.dups = f.up.Duplicates()
	r.notes = fmt.Sprintf("all jobs ended %v after the kill (the dead worker's claims lapse, its jobs' asynq tasks take them over); "+
		"a duplicate is a call the dead worker had made but not recorded, sent again with the same Idempotency-Key (at least once)", recovery.Round(100*time.Millisecond))
	record(r)
	if r.lost > 0 || r.completed != jobs {
		t.Errorf("%+v; failed jobs by code: %v", r, codes)
	}
	if *full && recovery > killRecovery {
		t.Errorf("the jobs ended %v after the kill, want at most %v", recovery, killRecovery)
	}
}

// killRecovery bounds, in `make chaos`, how long after a worker's SIGKILL
// every job has ended: the dead worker's claims lapse, its jobs' asynq
// tasks find them lapsed (they look again when the claim would lapse) and
// run them, and the surviving worker drains what was queued.
const killRecovery = 10 * time.Second
