package api_test

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/reliapi/reliapi/internal/testenv"
)

// TestLostJobFailsWhenRead: a job whose task Redis lost (a restart that
// replayed an append-only file without its last writes) fails with
// JOB_LOST when it is read past jobs.timeout, by a plain read, a long
// poll, a list or a repeat of its call; a job whose task still waits in
// the queue is left alone.
func TestLostJobFailsWhenRead(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true, extraYAML: "jobs:\n  timeout: 1s"})
	create := func(key string) response {
		req := map[string]any{"target": "up", "method": "GET", "path": "/get"}
		if key != "" {
			req["idempotency_key"] = key
		}
		r := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": req})
		if r.status != 202 {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		return r
	}
	submit := func() string { return create("").body["id"].(string) }
	lostPoll, lostWait, lostList, lostRepeat, kept := submit(), submit(), submit(), create("lost-repeat").body["id"].(string), submit()

	// Lose four jobs' tasks, as the restart did.
	ins := asynq.NewInspectorFromRedisClient(s.rdb)
	for _, id := range []string{lostPoll, lostWait, lostList, lostRepeat} {
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

	// Repeating the call with its idempotency key fails it too (before any
	// list, which reads every job).
	testenv.Eventually(t, 30*time.Second, "the lost job to fail on a repeat", func() bool {
		last = create("lost-repeat")
		return last.body["status"] != "queued"
	})
	if last.body["id"] != lostRepeat || last.body["status"] != "failed" || get(last.body, "error", "code") != "JOB_LOST" {
		t.Fatalf("repeat of a lost job: %d %s", last.status, last.raw)
	}
	// So does a list read: the job leaves the queued ones, and the
	// unfiltered list shows it failed.
	listed := func(query, id string) map[string]any {
		r := s.do("GET", "/v1/jobs"+query, nil)
		if r.status != 200 {
			t.Fatalf("GET /v1/jobs%s: %d %s", query, r.status, r.raw)
		}
		for _, j := range r.body["data"].([]any) {
			if j := j.(map[string]any); j["id"] == id {
				return j
			}
		}
		return nil
	}
	if j := listed("?status=queued", lostList); j != nil {
		t.Fatalf("lost job still listed as queued: %v", j)
	}
	if listed("?status=queued", kept) == nil {
		t.Fatal("the job whose task exists is not listed as queued")
	}
	if j := listed("", lostList); j == nil || j["status"] != "failed" || get(j, "error", "code") != "JOB_LOST" {
		t.Fatalf("lost job in the list: %v", j)
	}

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

// TestOverdueJobExpiresWhenRead: a queued job whose deadline passes while
// no worker is free expires when it is read, not when a worker gets to
// it; its webhook is delivered once, and its task never calls upstream.
func TestOverdueJobExpiresWhenRead(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true, extraYAML: webhookYAML})
	rcv := newReceiver(t)
	deadline := time.Now().Add(300 * time.Millisecond)
	r := s.do("POST", "/v1/jobs", map[string]any{
		"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get"},
		"webhook": map[string]any{"url": rcv.srv.URL}, "deadline": deadline.Format(time.RFC3339Nano),
	})
	if r.status != 202 {
		t.Fatalf("submit: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	var last response
	testenv.Eventually(t, 10*time.Second, "the overdue job to expire on a read", func() bool {
		last = s.do("GET", "/v1/jobs/"+id, nil)
		return last.body["status"] != "queued"
	})
	if !time.Now().After(deadline) || last.body["status"] != "expired" || get(last.body, "error", "code") != "JOB_EXPIRED" || last.header.Get("Retry-After") != "" {
		t.Fatalf("overdue job: %s", last.raw)
	}
	// A worker that gets to its task finds it ended: no call, one webhook.
	s.startWorker()
	if job := s.waitWebhook(id); get(job.body, "webhook", "status") != "delivered" {
		t.Fatalf("webhook of the expired job: %s", job.raw)
	}
	if n := s.upstream.Calls("/get"); n != 0 {
		t.Fatalf("upstream calls = %d, want 0", n)
	}
	if n := len(rcv.deliveries()); n != 1 {
		t.Fatalf("webhook deliveries = %d, want 1", n)
	}
}
