package worker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/lifecycle"
	"github.com/reliapi/reliapi/tasks"
	"github.com/reliapi/reliapi/worker"
)

// laneFleet is a private Redis and upstream, a lifecycle manager that
// submits jobs as the api does (with the given lane grace), and workers
// started on demand.
type laneFleet struct {
	rdb      *redis.Client
	upstream *testenv.Upstream
	m        *lifecycle.Manager
	settings *config.WorkerSettings
}

func newLaneFleet(t *testing.T, grace time.Duration) *laneFleet {
	return newLaneFleetWith(t, grace, "")
}

// newLaneFleetWith is newLaneFleet with more configuration (YAML, top
// level keys other than worker and targets).
func newLaneFleetWith(t *testing.T, grace time.Duration, extraYAML string) *laneFleet {
	t.Helper()
	f := &laneFleet{rdb: testenv.StartRedis(t).Client(t), upstream: testenv.StartUpstream(t)}
	settings, err := config.Parse(fmt.Appendf(nil, `
worker: {concurrency: 16, task_check_interval: 5ms, delayed_task_check_interval: 50ms, shutdown_timeout: 2s}
targets:
  up: {base_url: %q}
%s`, f.upstream.URL, extraYAML), "test.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	f.settings = settings.ForWorker()
	if f.m, err = lifecycle.New(lifecycle.Config{Redis: f.rdb, LaneGrace: grace}); err != nil {
		t.Fatal(err)
	}
	return f
}

// startWorker starts one more worker process's worth of worker.
func (f *laneFleet) startWorker(t *testing.T) {
	t.Helper()
	w, err := worker.New(worker.Config{Redis: f.rdb, Settings: f.settings, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
}

// submit submits n jobs, 16 at a time; job i calls /anything/<i>.
func (f *laneFleet) submit(t *testing.T, n int) []string {
	return f.submitHooked(t, n, nil)
}

// submitHooked is submit with each job's end delivered to hook (nil:
// none).
func (f *laneFleet) submitHooked(t *testing.T, n int, hook *reliapi.Subscription) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ids[i] = fmt.Sprintf("job_%032x", i+1)
			_, err := f.m.Submit(t.Context(), lifecycle.Submission{
				ID: ids[i], Tenant: "t", RequestHash: "h", Queue: tasks.QueueAsync, Webhook: hook,
				Payload: tasks.Payload{Tenant: "t", Target: "up", HTTP: &tasks.HTTPRequest{Method: "GET", Path: fmt.Sprintf("/anything/%d", i)}},
			})
			if err != nil {
				t.Errorf("submitting job %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	return ids
}

// ranOnce waits (bounded) until every job succeeded, then checks that each
// called the upstream exactly once and was started once.
func (f *laneFleet) ranOnce(t *testing.T, ids []string, bound time.Duration) {
	t.Helper()
	testenv.Eventually(t, bound, "every job to succeed", func() bool {
		for _, id := range ids {
			if j, err := f.m.Store().Get(t.Context(), "t", id); err != nil || j.Status != reliapi.JobSucceeded {
				return false
			}
		}
		return true
	})
	for i, id := range ids {
		if n := f.upstream.Calls(fmt.Sprintf("/anything/%d", i)); n != 1 {
			t.Errorf("job %d called the upstream %d times, want once", i, n)
		}
		if j, _ := f.m.Store().Get(t.Context(), "t", id); j.Attempts != 1 {
			t.Errorf("job %d was started %d times, want once", i, j.Attempts)
		}
	}
}

// TestLaneAndFallbackRace: with the fallback due at once, the lane and
// asynq deliver every job at the same moment, to two workers; each job
// still runs exactly once.
func TestLaneAndFallbackRace(t *testing.T) {
	t.Parallel()
	n := 10000
	if testing.Short() {
		n = 1000
	}
	f := newLaneFleet(t, -1)
	f.startWorker(t)
	f.startWorker(t)
	f.ranOnce(t, f.submit(t, n), 3*time.Minute)
}

// TestPoppedJobRunsViaFallback: a job popped from the lane by a worker
// that died before claiming it runs once, when its asynq task comes due.
func TestPoppedJobRunsViaFallback(t *testing.T) {
	t.Parallel()
	f := newLaneFleet(t, time.Second)
	ids := f.submit(t, 1)
	if e, err := lane.NewPopper(f.rdb, time.Second, tasks.QueueAsync).Pop(t.Context(), 1); len(e) != 1 || err != nil {
		t.Fatalf("popping the job as the dead worker did: %v %v", e, err)
	}
	f.startWorker(t)
	f.ranOnce(t, ids, 10*time.Second)
}

// TestLaneKeyLost: the lane's key is lost (a failover) after the jobs were
// submitted; every job still runs, once, from its asynq task.
func TestLaneKeyLost(t *testing.T) {
	t.Parallel()
	f := newLaneFleet(t, time.Second)
	ids := f.submit(t, 50)
	lost, err := f.rdb.Keys(t.Context(), "reliapi:lane:*").Result()
	if err != nil || len(lost) == 0 {
		t.Fatalf("the lane's keys: %v %v", lost, err)
	}
	if err := f.rdb.Del(t.Context(), lost...).Err(); err != nil {
		t.Fatal(err)
	}
	f.startWorker(t)
	f.ranOnce(t, ids, 15*time.Second)
}

// TestHandedJobRunsViaFallback: a job the push started as it handed it to
// a waiting worker that then died runs once, when that claim lapses and
// the job's asynq task takes it over.
func TestHandedJobRunsViaFallback(t *testing.T) {
	t.Parallel()
	f := newLaneFleet(t, time.Second)
	p := lane.NewPopper(f.rdb, 10*time.Second, tasks.QueueAsync)
	popped := make(chan []lane.Entry, 1)
	go func() {
		e, _ := p.Pop(context.WithoutCancel(t.Context()), 1)
		popped <- e
	}()
	testenv.Eventually(t, 5*time.Second, "the doomed popper to wait", func() bool {
		return f.rdb.ZCard(t.Context(), "reliapi:lane:{lane-0}:waiters").Val() == 1
	})
	ids := f.submit(t, 1)
	select {
	case e := <-popped:
		if len(e) != 1 || e[0].Started == nil {
			t.Fatalf("the waiting popper got %+v, want the job started by its push", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting popper got nothing")
	}
	f.startWorker(t)
	testenv.Eventually(t, 15*time.Second, "the job to succeed", func() bool {
		j, err := f.m.Store().Get(t.Context(), "t", ids[0])
		return err == nil && j.Status == reliapi.JobSucceeded
	})
	if n := f.upstream.Calls("/anything/0"); n != 1 {
		t.Errorf("the job called the upstream %d times, want once", n)
	}
	if j, _ := f.m.Store().Get(t.Context(), "t", ids[0]); j.Attempts != 2 {
		t.Errorf("the job was started %d times, want twice (the push's, the takeover)", j.Attempts)
	}
}

// TestLateHandedEntryConfirmsItsClaim: a job the push started as it handed
// it to a worker that died waiting (its registration still counted) is
// popped late by another worker, which confirms the push's claim and runs
// the job at once, not after that claim lapses.
func TestLateHandedEntryConfirmsItsClaim(t *testing.T) {
	t.Parallel()
	f := newLaneFleet(t, time.Minute)
	until := time.Now().Add(time.Minute).UnixMilli()
	f.rdb.ZAdd(t.Context(), "reliapi:lane:{lane-0}:waiters", redis.Z{Score: float64(until), Member: "dead"})
	ids := f.submit(t, 1)
	if s := f.rdb.HGet(t.Context(), "reliapi:job:{"+ids[0]+"}", "status").Val(); s != "running" {
		t.Fatalf("the job handed to the dead popper is %s, want started by its push", s)
	}
	f.startWorker(t)
	f.ranOnce(t, ids, 4*time.Second)
}

// TestDeadlineJobNotStartedByItsPush: a job with a deadline expires unless
// a worker starts it in time, so its push does not start it, even for a
// waiting worker: a start there is no proof that a worker received it.
func TestDeadlineJobNotStartedByItsPush(t *testing.T) {
	t.Parallel()
	f := newLaneFleet(t, time.Minute)
	until := time.Now().Add(time.Minute).UnixMilli()
	f.rdb.ZAdd(t.Context(), "reliapi:lane:{lane-0}:waiters", redis.Z{Score: float64(until), Member: "dead"})
	_, err := f.m.Submit(t.Context(), lifecycle.Submission{
		ID: "job_d", Tenant: "t", RequestHash: "h", Queue: tasks.QueueAsync, Deadline: time.Now().Add(time.Minute),
		Payload: tasks.Payload{Tenant: "t", Target: "up", HTTP: &tasks.HTTPRequest{Method: "GET", Path: "/anything/d"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.rdb.LLen(t.Context(), "reliapi:lane:{lane-0}:async:handoff").Val(); n != 1 {
		t.Fatalf("%d entries handed off, want the job's", n)
	}
	if s := f.rdb.HGet(t.Context(), "reliapi:job:{job_d}", "status").Val(); s != "queued" {
		t.Fatalf("a job with a deadline is %s after its push, want queued", s)
	}
}
