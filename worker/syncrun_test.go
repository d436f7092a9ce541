package worker_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/lifecycle"
	"github.com/reliapi/reliapi/tasks"
	"github.com/reliapi/reliapi/worker"
)

// syncRunner is a worker's SyncRunner on f's Redis, stopped when the test
// ends; no worker serves the queues.
func (f *laneFleet) syncRunner(t *testing.T) *worker.SyncRunner {
	t.Helper()
	w, err := worker.New(worker.Config{Redis: f.rdb, Settings: f.settings, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	r := w.SyncRunner(4)
	t.Cleanup(w.Stop)
	return r
}

// syncCall submits sync call n (GET /anything/<n>) for run to take: it is
// handed the job's Run before the round trip that creates the job goes
// out, and returns once it let that round trip go.
func (f *laneFleet) syncCall(t *testing.T, n int, run func(*lifecycle.Run)) string {
	t.Helper()
	id := fmt.Sprintf("job_%032x", n)
	_, err := f.m.Submit(t.Context(), lifecycle.Submission{
		ID: id, Tenant: "t", RequestHash: "h", Queue: tasks.QueueSync, Run: run,
		Payload: tasks.Payload{Tenant: "t", Target: "up", HTTP: &tasks.HTTPRequest{Method: "GET", Path: fmt.Sprintf("/anything/%d", n)}},
	})
	if err != nil {
		t.Fatalf("submitting call %d: %v", n, err)
	}
	return id
}

// TestSyncRunnerRunsCallsHere: a sync call an api replica runs itself
// succeeds once, with no worker about, and tells its caller's wait of its
// end itself; once a call has seen its target's breaker closed, the next
// one's call goes out before its job's record is written.
func TestSyncRunnerRunsCallsHere(t *testing.T) {
	t.Parallel()
	f := newLaneFleet(t, time.Minute)
	r := f.syncRunner(t)
	ended := make(chan *reliapi.Job, 2)
	take := func(run *lifecycle.Run) {
		if !r.Take() {
			t.Fatal("no free slot")
		}
		run.Delivery.Ended = func(j *reliapi.Job) { ended <- j }
		r.Run(run)
	}
	for n, early := range []bool{false, true} {
		id := f.syncCall(t, n, func(run *lifecycle.Run) {
			take(run)
			if early {
				// Its record is not written until this returns.
				testenv.Eventually(t, 5*time.Second, "the call to reach the upstream before its job exists", func() bool {
					return f.upstream.Calls(fmt.Sprintf("/anything/%d", n)) == 1
				})
			}
		})
		select {
		case j := <-ended:
			if j.ID != id || j.Status != reliapi.JobSucceeded || j.Result == nil {
				t.Fatalf("call %d: its run told %+v, want job %s succeeded with its result", n, j, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d: its run told nothing", n)
		}
		f.ranOnce(t, []string{id}, 5*time.Second)
	}
	if n := f.upstream.Calls("/anything/0") + f.upstream.Calls("/anything/1"); n != 2 {
		t.Errorf("the upstream got %d calls, want 2", n)
	}
}

// TestSyncRunnerReadsAnOpenBreakerFirst: a call whose job's round trip
// found the target's breaker open stops the next call from going out
// before its own read: that one fails fast, without calling the upstream.
func TestSyncRunnerReadsAnOpenBreakerFirst(t *testing.T) {
	t.Parallel()
	f := newLaneFleet(t, time.Minute)
	r := f.syncRunner(t)
	take := func(run *lifecycle.Run) {
		if !r.Take() {
			t.Fatal("no free slot")
		}
		r.Run(run)
	}
	f.ranOnce(t, []string{f.syncCall(t, 0, take)}, 5*time.Second) // the breaker seen closed
	if err := f.rdb.HSet(t.Context(), "reliapi:breaker:{up}", "state", "open", "opened_at", time.Now().UnixMilli(), "gen", 7).Err(); err != nil {
		t.Fatal(err)
	}
	// Went out on the closed read before its own, which finds it open.
	second := f.syncCall(t, 1, take)
	third := f.syncCall(t, 2, take)
	testenv.Eventually(t, 10*time.Second, "both calls to end", func() bool {
		a, _ := f.m.Store().Get(t.Context(), "t", second)
		b, _ := f.m.Store().Get(t.Context(), "t", third)
		return a != nil && b != nil && a.Status.Terminal() && b.Status.Terminal()
	})
	j, _ := f.m.Store().Get(t.Context(), "t", third)
	if j.Status != reliapi.JobFailed || j.Result == nil || j.Result.Error == nil || j.Result.Error.Code != reliapi.CodeCircuitOpen {
		t.Errorf("the call after the open read ended %s %+v, want failed CIRCUIT_OPEN", j.Status, j.Result)
	}
	if n := f.upstream.Calls("/anything/2"); n != 0 {
		t.Errorf("the call after the open read called the upstream %d times, want none", n)
	}
}

// TestSyncRunDiesTakenOver: the api replica running a sync call dies
// before its run ends (here: the run is never started); a worker takes the
// job over once its claim lapses, and runs it once more.
func TestSyncRunDiesTakenOver(t *testing.T) {
	t.Parallel()
	f := newLaneFleet(t, time.Second)
	id := f.syncCall(t, 0, func(*lifecycle.Run) {})
	if s := f.rdb.HGet(t.Context(), "reliapi:job:{"+id+"}", "status").Val(); s != "running" {
		t.Fatalf("the job of a call run here is %s after its submit, want running", s)
	}
	f.startWorker(t)
	testenv.Eventually(t, 15*time.Second, "the job to succeed", func() bool {
		j, err := f.m.Store().Get(t.Context(), "t", id)
		return err == nil && j.Status == reliapi.JobSucceeded
	})
	if n := f.upstream.Calls("/anything/0"); n != 1 {
		t.Errorf("the job called the upstream %d times, want once (its dead run never did)", n)
	}
}

// TestSyncRunCanceled: a cancel stops a call run here while it waits for
// its upstream; the job stays canceled.
func TestSyncRunCanceled(t *testing.T) {
	t.Parallel()
	f := newLaneFleet(t, time.Minute)
	r := f.syncRunner(t)
	arrived, release := f.upstream.Block("/anything/0")
	defer release()
	id := f.syncCall(t, 0, func(run *lifecycle.Run) {
		if !r.Take() {
			t.Fatal("no free slot")
		}
		r.Run(run)
	})
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the call never reached the upstream")
	}
	if _, err := f.m.Cancel(t.Context(), "t", id); err != nil {
		t.Fatal(err)
	}
	// The run ends without the upstream's answer: its slot frees.
	testenv.Eventually(t, 10*time.Second, "the run to end and free its slot", func() bool {
		if !r.Take() {
			return false
		}
		r.Release()
		return true
	})
	if j, _ := f.m.Store().Get(t.Context(), "t", id); j == nil || j.Status != reliapi.JobCanceled {
		t.Errorf("after the cancel the job is %+v, want canceled", j)
	}
}

// TestSyncRunnerStopped: a runner stopped refuses slots, and a call handed
// to it after all is left to its asynq task, which a worker runs.
func TestSyncRunnerStopped(t *testing.T) {
	t.Parallel()
	f := newLaneFleet(t, time.Second)
	r := f.syncRunner(t)
	if !r.Take() {
		t.Fatal("no free slot")
	}
	r.Stop(time.Second)
	if r.Take() {
		t.Error("a stopped runner gave a slot")
	}
	id := f.syncCall(t, 0, r.Run)
	f.startWorker(t)
	testenv.Eventually(t, 15*time.Second, "the job to succeed", func() bool {
		j, err := f.m.Store().Get(t.Context(), "t", id)
		return err == nil && j.Status == reliapi.JobSucceeded
	})
}

// TestSyncRunCreateFails: a sync call whose job could not be created (its
// caller is answered that it failed) runs nothing when it waited for the
// record, and keeps no outcome when its call went out early; either way
// its slot frees.
func TestSyncRunCreateFails(t *testing.T) {
	t.Parallel()
	f := newLaneFleet(t, time.Minute)
	r := f.syncRunner(t)
	// Submits to a Redis that is not there: the create's round trip fails.
	dead, err := lifecycle.New(lifecycle.Config{Redis: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})})
	if err != nil {
		t.Fatal(err)
	}
	failing := func(n int) {
		t.Helper()
		_, err := dead.Submit(t.Context(), lifecycle.Submission{
			ID: fmt.Sprintf("job_%032x", n), Tenant: "t", RequestHash: "h", Queue: tasks.QueueSync,
			Run: func(run *lifecycle.Run) {
				if !r.Take() {
					t.Fatal("no free slot")
				}
				r.Run(run)
			},
			Payload: tasks.Payload{Tenant: "t", Target: "up", HTTP: &tasks.HTTPRequest{Method: "GET", Path: fmt.Sprintf("/anything/%d", n)}},
		})
		if err == nil {
			t.Fatalf("call %d: submitted to no Redis", n)
		}
	}
	allFree := func() bool {
		n := 0
		for r.Take() {
			n++
		}
		for range n {
			r.Release()
		}
		return n == 4
	}

	failing(10) // waits for its record: runs nothing
	testenv.Eventually(t, 10*time.Second, "the slot to free", allFree)
	if n := f.upstream.Calls("/anything/10"); n != 0 {
		t.Errorf("a call whose job was never created called the upstream %d times", n)
	}
	f.ranOnce(t, []string{f.syncCall(t, 0, func(run *lifecycle.Run) { r.Take(); r.Run(run) })}, 5*time.Second)
	failing(11) // goes out early, on call 0's breaker read
	testenv.Eventually(t, 10*time.Second, "the slot to free", allFree)
	if _, err := f.m.Store().Get(t.Context(), "t", fmt.Sprintf("job_%032x", 11)); !errors.Is(err, reliapi.ErrNotFound) {
		t.Errorf("the early call's job: %v, want none", err)
	}
	// Its call went out, as at-least-once allows (ARCHITECTURE, known gaps).
	if n := f.upstream.Calls("/anything/11"); n != 1 {
		t.Errorf("the early call reached the upstream %d times, want once", n)
	}
}
