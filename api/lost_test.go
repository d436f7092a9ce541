package api_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi/internal/testenv"
)

// TestLostJobFailsWhenRead: a job whose task Redis lost (a restart that
// replayed an append-only file without its last writes) fails with
// JOB_LOST when it is read past jobs.timeout, by a plain read or a long
// poll; a job whose task still waits in the queue is left alone.
func TestLostJobFailsWhenRead(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true, extraYAML: "jobs:\n  timeout: 1s"})
	submit := func() string {
		r := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get"}})
		if r.status != 202 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		return r.body["id"].(string)
	}
	lostPoll, lostWait, kept := submit(), submit(), submit()

	// Lose the first two jobs' tasks, as the restart did.
	ins := asynq.NewInspectorFromRedisClient(s.rdb)
	for _, id := range []string{lostPoll, lostWait} {
		f, err := s.rdb.HMGet(t.Context(), "reliapi:job:{"+id+"}", "queue", "task_id").Result()
		if err != nil || f[0] == nil || f[1] == nil {
			t.Fatalf("reading job %s's task: %v %v", id, f, err)
		}
		if err := ins.DeleteTask(f[0].(string), f[1].(string)); err != nil {
			t.Fatalf("deleting job %s's task: %v", id, err)
		}
	}
	// Before jobs.timeout has passed, a read does not look for the task.
	if r := s.do("GET", "/v1/jobs/"+lostPoll, nil); r.status != 200 || r.body["status"] != "queued" {
		t.Fatalf("lost job read early: %d %s", r.status, r.raw)
	}

	assertLost := func(r response) {
		t.Helper()
		if r.status != 200 || r.body["status"] != "failed" || r.body["completed_at"] == nil ||
			get(r.body, "error", "code") != "JOB_LOST" || get(r.body, "error", "retryable") != true ||
			get(r.body, "error", "details", "status") != "queued" ||
			get(r.body, "result", "success") != false || get(r.body, "result", "error", "code") != "JOB_LOST" {
			t.Fatalf("lost job: %d %s", r.status, r.raw)
		}
	}
	var last response
	testenv.Eventually(t, 30*time.Second, "the lost job to fail on a read", func() bool {
		last = s.do("GET", "/v1/jobs/"+lostPoll, nil)
		return last.body["status"] != "queued"
	})
	assertLost(last)
	testenv.Eventually(t, 30*time.Second, "the lost job to fail on a long poll", func() bool {
		last = s.do("GET", "/v1/jobs/"+lostWait+"?wait=1", nil)
		return last.body["status"] != "queued"
	})
	assertLost(last)

	// The job whose task still exists is as old, and stays queued.
	for _, path := range []string{"/v1/jobs/" + kept, "/v1/jobs/" + kept + "?wait=1"} {
		if r := s.do("GET", path, nil); r.status != 200 || r.body["status"] != "queued" || r.body["error"] != nil {
			t.Fatalf("GET %s of a job whose task exists: %d %s", path, r.status, r.raw)
		}
	}
	// Its task is still the one to end it: past its deadline, the worker
	// fails it with TIMEOUT, not JOB_LOST.
	s.startWorker()
	if r := s.waitJob(kept); r.body["status"] != "failed" || get(r.body, "error", "code") != "TIMEOUT" {
		t.Fatalf("kept job after a worker ran its task: %s", r.raw)
	}
	if n := s.upstream.Calls("/get"); n != 0 {
		t.Fatalf("upstream called %d times, want none (every job was past its deadline)", n)
	}
}
