package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// completionTimeout bounds the wait for the last job of a throughput run.
const completionTimeout = time.Minute

// asyncResult is one row of the async throughput table.
type asyncResult struct {
	jobs      int
	wall      time.Duration // first submit to last completion
	perSecond float64
	submit    stats     // latency of one submit (202) or enqueue
	redeliver int       // jobs that ran more than once (attempts > 1)
	cpu       *cpuUsage // per job; nil without /proc
}

// measureAsyncOurs submits jobs calls c with Prefer: respond-async from
// conc goroutines and measures from the first submit until the last job's
// completed_at. It waits on the upstream's call count (cheap, in-process)
// and then reads every job back to check that each one succeeded.
func (e *env) measureAsyncOurs(ctx context.Context, c call, jobs, conc int) (asyncResult, error) {
	return e.measureAsync(ctx, c, jobs, conc, nil)
}

// measureAsync is measureAsyncOurs that runs during, when not nil, once
// every job is submitted and before it waits for them: other work made
// while these jobs are queued.
func (e *env) measureAsync(ctx context.Context, c call, jobs, conc int, during func(context.Context) error) (asyncResult, error) {
	ids := make([]string, jobs)
	cpu := e.startCPU()
	start := time.Now()
	sub, err := runLoad(ctx, jobs, conc, func(ctx context.Context, i int) error {
		id, err := e.submit(ctx, c)
		ids[i] = id
		return err
	})
	if err != nil {
		return asyncResult{}, err
	}
	if during != nil {
		if err := during(ctx); err != nil {
			return asyncResult{}, err
		}
	}
	if err := e.awaitUpstream(ctx, c.phase, jobs); err != nil {
		return asyncResult{}, err
	}
	// Taken before the jobs are read back, which costs the api CPU too.
	cpuPerJob := cpu.perCall(jobs)
	last, redelivered, err := e.checkJobs(ctx, c.key, ids, conc)
	if err != nil {
		return asyncResult{}, err
	}
	if got := e.upstream.KeyCalls(c.phase); got != jobs {
		return asyncResult{}, fmt.Errorf("%d async jobs called the upstream %d times", jobs, got)
	}
	wall := last.Sub(start)
	return asyncResult{jobs: jobs, wall: wall, perSecond: float64(jobs) / wall.Seconds(), submit: summarize(sub), redeliver: redelivered, cpu: cpuPerJob}, nil
}

// asyncRound is one round of the throughput runs, made one after the
// other: ours, raw asynq, raw asynq with the same GET.
type asyncRound struct {
	ours, raw, rawHTTP asyncResult
}

// ratio is the round's jobs/s of ours over raw asynq's with the same GET.
func (r asyncRound) ratio() float64 { return r.ours.perSecond / r.rawHTTP.perSecond }

// medianRound is the round of median ratio (the lower middle one of an
// even count).
func medianRound(rounds []asyncRound) asyncRound {
	sorted := slices.Clone(rounds)
	slices.SortFunc(sorted, func(a, b asyncRound) int { return cmp.Compare(a.ratio(), b.ratio()) })
	return sorted[(len(sorted)-1)/2]
}

// jobView is the part of a job resource the bench checks.
type jobView struct {
	Status      string     `json:"status"`
	CreatedAt   *time.Time `json:"created_at"`
	StartedAt   *time.Time `json:"started_at"`
	CompletedAt *time.Time `json:"completed_at"`
	Attempts    int        `json:"attempts"`
	Result      *struct {
		Success bool `json:"success"`
	} `json:"result"`
}

// checkJobs reads every job of the tenant whose API key is key (long-polling
// any that is not finished yet) and fails unless all succeeded. It returns
// the latest completed_at and how many jobs were delivered more than once.
func (e *env) checkJobs(ctx context.Context, key string, ids []string, conc int) (time.Time, int, error) {
	var (
		mu          sync.Mutex
		last        time.Time
		redelivered int
	)
	_, err := runLoad(ctx, len(ids), conc, func(ctx context.Context, i int) error {
		j, err := e.getJobOf(ctx, key, ids[i])
		if err != nil {
			return err
		}
		if j.Status != "succeeded" || j.Result == nil || !j.Result.Success || j.CompletedAt == nil {
			return fmt.Errorf("job %s ended %q, want succeeded", ids[i], j.Status)
		}
		mu.Lock()
		defer mu.Unlock()
		if j.CompletedAt.After(last) {
			last = *j.CompletedAt
		}
		if j.Attempts > 1 {
			redelivered++
		}
		return nil
	})
	return last, redelivered, err
}

// getJob reads a job of the default tenant, waiting up to 10 s for it to
// finish.
func (e *env) getJob(ctx context.Context, id string) (*jobView, error) {
	return e.getJobOf(ctx, "", id)
}

// getJobOf is getJob for the tenant whose API key is key ("": the
// default tenant).
func (e *env) getJobOf(ctx context.Context, key, id string) (*jobView, error) {
	r, err := e.clientFor(key).Send(ctx, http.MethodGet, "/v1/jobs/"+id+"?wait=10", nil)
	if err != nil {
		return nil, err
	}
	var j jobView
	if err := json.Unmarshal(r.Raw, &j); err != nil || r.Status != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/jobs/%s answered %d (%v)", id, r.Status, err)
	}
	return &j, nil
}

// rawPayload is about the size of a reliapi task payload, so that both
// throughput runs move similar bytes through Redis.
var rawPayload = []byte(`{"v":1,"job_id":"job_0123456789abcdef0123456789abcdef","tenant":"default","target":"bench","http":{"method":"GET","path":"/get","query":{"phase":["raw"]}}}`)

// measureAsyncRaw is the baseline: plain asynq on the same Redis, with the
// worker's concurrency and task check interval, a separate queue and a
// handler that does nothing — or, with callUpstream, makes the same GET to
// the upstream that a reliapi job makes, so that the two HTTP hops every
// proxy pays can be told apart from what reliapi adds. It measures from
// the first enqueue to the last handler call.
func (e *env) measureAsyncRaw(ctx context.Context, jobs, conc, workers int, interval time.Duration, callUpstream bool) (asyncResult, error) {
	queue, taskType, phase := "bench_raw", "bench:noop", "raw"
	if callUpstream {
		queue, taskType, phase = "bench_raw_http", "bench:get", "rawhttp"
	}
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer httpClient.CloseIdleConnections()
	upstreamURL := e.upstream.URL + "/get?phase=" + phase
	// One client per process, like reliapi (cmd/reliapi/redis.go uses 128).
	rdb := redis.NewClient(&redis.Options{Addr: e.redis.Addr, PoolSize: 128})
	defer rdb.Close()

	counter := newRawCounter(jobs)
	mux := asynq.NewServeMux()
	mux.HandleFunc(taskType, func(ctx context.Context, _ *asynq.Task) error {
		if callUpstream {
			if err := get(ctx, httpClient, upstreamURL); err != nil {
				return err
			}
		}
		counter.handled()
		return nil
	})
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Concurrency:       workers,
		Queues:            map[string]int{queue: 1},
		TaskCheckInterval: interval,
		LogLevel:          asynq.WarnLevel,
	})
	if err := srv.Start(mux); err != nil {
		return asyncResult{}, fmt.Errorf("starting raw asynq server: %w", err)
	}
	// Stopped before the next phase so that its idle polling does not count
	// as reliapi's Redis traffic.
	defer srv.Shutdown()

	client := asynq.NewClientFromRedisClient(rdb)
	cpu := e.startCPU()
	start := time.Now()
	sub, err := runLoad(ctx, jobs, conc, func(ctx context.Context, _ int) error {
		_, err := client.EnqueueContext(ctx, asynq.NewTask(taskType, rawPayload), asynq.Queue(queue))
		return err
	})
	if err != nil {
		return asyncResult{}, fmt.Errorf("enqueueing raw asynq tasks: %w", err)
	}
	select {
	case <-counter.done:
	case <-ctx.Done():
		return asyncResult{}, ctx.Err()
	case <-time.After(completionTimeout):
		return asyncResult{}, fmt.Errorf("raw asynq handled %d of %d tasks in %v", counter.n.Load(), jobs, completionTimeout)
	}
	wall := time.Unix(0, counter.last.Load()).Sub(start)
	return asyncResult{jobs: jobs, wall: wall, perSecond: float64(jobs) / wall.Seconds(), submit: summarize(sub), cpu: cpu.perCall(jobs)}, nil
}

// rawCounter counts raw asynq's handled tasks and closes done at the
// jobs-th, noting when.
type rawCounter struct {
	jobs int64
	n    atomic.Int64
	last atomic.Int64 // UnixNano of the jobs-th handler call
	done chan struct{}
}

func newRawCounter(jobs int) *rawCounter {
	return &rawCounter{jobs: int64(jobs), done: make(chan struct{})}
}

func (c *rawCounter) handled() {
	if c.n.Add(1) == c.jobs {
		c.last.Store(time.Now().UnixNano())
		close(c.done)
	}
}

// get makes one GET and reads its answer away.
func get(ctx context.Context, client *http.Client, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}
