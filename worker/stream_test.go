package worker_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/internal/fakellm"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/tasks"
	"github.com/reliapi/reliapi/worker"
)

// TestStreamRedelivery: a streamed job delivered again after its worker
// stopped mid-answer does not call the provider again once the earlier
// run's answer had begun (callers hold part of it); its stream ends with
// UPSTREAM_STREAM_INTERRUPTED. One that had not begun runs normally.
func TestStreamRedelivery(t *testing.T) {
	t.Parallel()
	fake := fakellm.New()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	os.Setenv("RELIAPI_TEST_STREAM_REDELIVERY_KEY", "sk-fake")
	t.Cleanup(func() { os.Unsetenv("RELIAPI_TEST_STREAM_REDELIVERY_KEY") })
	rdb := testenv.StartRedis(t).Client(t)
	settings, err := config.Parse(fmt.Appendf(nil, `
worker: {concurrency: 2, task_check_interval: 1ms, shutdown_timeout: 1s}
targets:
  llm:
    base_url: %q
    llm: {provider: openai, default_model: gpt-4o-mini}
    auth: {type: bearer_env, env_var: RELIAPI_TEST_STREAM_REDELIVERY_KEY}
`, srv.URL+"/openai/v1"), "test.yaml", os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{Redis: rdb, Settings: settings.ForWorker(), Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	store := jobs.NewStore(rdb, jobs.Config{})
	queue := asynq.NewClientFromRedisClient(rdb)

	// redeliver makes a job look like one whose first delivery started and
	// stopped (begun: after writing part of its answer), and delivers it
	// again.
	redeliver := func(n int, begun bool) *reliapi.Job {
		id, taskID := fmt.Sprintf("job_%032x", n), fmt.Sprintf("task-%d", n)
		store.Create(t.Context(), jobs.New{ID: id, Tenant: "t", Kind: reliapi.KindLLM, Target: "llm", TaskID: taskID}, nil)
		if _, run, err := store.Start(t.Context(), id, jobs.Claim{TaskID: taskID}, nil); !run || err != nil {
			t.Fatalf("first start: %v %v", run, err)
		}
		if begun {
			store.AppendEvents(t.Context(), id,
				jobs.NewEvent("", jobs.EventMeta, jobs.StreamMeta{JobID: id}),
				jobs.NewEvent("", jobs.EventChunk, jobs.StreamChunk{Delta: "echo: "}))
		}
		req := &reliapi.ChatRequest{Model: "gpt-4o-mini", Messages: []reliapi.Message{{Role: "user", Content: "Hello"}}, Stream: true}
		task, err := tasks.New(tasks.Payload{JobID: id, Tenant: "t", Target: "llm", LLM: req},
			tasks.Placement{Queue: tasks.QueueAsync, TaskID: taskID, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := queue.Enqueue(task); err != nil {
			t.Fatal(err)
		}
		var j *reliapi.Job
		testenv.Eventually(t, 10*time.Second, "job "+id+" to finish", func() bool {
			j, _ = store.Get(t.Context(), "t", id)
			return j != nil && j.Status.Terminal()
		})
		return j
	}

	j := redeliver(1, true)
	if j.Status != reliapi.JobFailed || j.Result.Error.Code != reliapi.CodeStreamInterrupted || fake.Calls() != 0 {
		t.Fatalf("begun stream delivered again: %s %+v, %d provider calls", j.Status, j.Result.Error, fake.Calls())
	}
	testenv.Eventually(t, 10*time.Second, "the stream's error event", func() bool {
		evs, _ := store.Events(t.Context(), j.ID, "0", 0)
		return len(evs) == 3 && evs[2].Type == jobs.EventError
	})

	j = redeliver(2, false)
	if j.Status != reliapi.JobSucceeded || fake.Calls() != 1 {
		t.Fatalf("stream not begun, delivered again: %s %+v, %d provider calls", j.Status, j.Result, fake.Calls())
	}
}
