package lifecycle

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi/internal/luascript"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/tasks"
)

// TestTaskIsAsynqs: a task written by scheduleTask is one asynq's
// inspector reads with every field asynq's client would give it, and
// asynq's server runs when it comes due; dropTask removes it while it
// waits. A webhook delivery written by addDelivery is one asynq reads as
// pending, and is written once. Should an upgrade of asynq change its key layout or message, this
// fails.
func TestTaskIsAsynqs(t *testing.T) {
	t.Parallel()
	rdb := testenv.StartRedis(t).Client(t)
	m, err := New(Config{Redis: rdb})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	payload := tasks.Payload{JobID: "job_1", Tenant: "t", Target: "up", HTTP: &tasks.HTTPRequest{Method: "GET", Path: "/"}}
	write := func(id string, due time.Time) *asynq.Task {
		at := tasks.Placement{Queue: "async-1", TaskID: id, Timeout: time.Minute}
		task, err := tasks.New(payload, at)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := luascript.Pipelined(ctx, rdb, func(p redis.Pipeliner) error {
			m.scheduleTask(ctx, p, task, at, due)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return task
	}
	due := time.Now().Add(time.Hour).Truncate(time.Second)
	task := write("task-later", due)
	ins := asynq.NewInspectorFromRedisClient(rdb)
	info, err := ins.GetTaskInfo("async-1", "task-later")
	switch {
	case err != nil:
		t.Fatal(err)
	case info.Type != task.Type() || string(info.Payload) != string(task.Payload()) || info.Queue != "async-1" ||
		info.MaxRetry != tasks.MaxRetry || info.Timeout != time.Minute+tasks.RecordMargin ||
		info.State != asynq.TaskStateScheduled || !info.NextProcessAt.Equal(due) || !info.Deadline.IsZero():
		t.Fatalf("asynq reads the task as %+v", info)
	}
	drop(t, rdb, "task-later")
	if _, err := ins.GetTaskInfo("async-1", "task-later"); !errors.Is(err, asynq.ErrTaskNotFound) {
		t.Fatalf("after dropTask: %v", err)
	}

	wp := tasks.WebhookPayload{JobID: "job_1", Tenant: "t", CreatedMS: 1}
	for i, want := range []int64{1, 0} { // queued, then already there
		var queued *redis.Cmd
		if _, err := luascript.Pipelined(ctx, rdb, func(p redis.Pipeliner) (err error) {
			queued, err = m.addDelivery(ctx, p, wp, false)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if n, err := queued.Int64(); err != nil || n != want {
			t.Fatalf("delivery %d: queued %d, %v", i+1, n, err)
		}
	}
	hook, err := tasks.NewWebhook(wp, 1)
	if err != nil {
		t.Fatal(err)
	}
	switch info, err := ins.GetTaskInfo(wp.Queue(1), tasks.WebhookTaskID(wp)); {
	case err != nil:
		t.Fatal(err)
	case info.Type != tasks.TypeWebhook || string(info.Payload) != string(hook.Payload()) ||
		info.MaxRetry != tasks.WebhookMaxRetry || info.Timeout != tasks.WebhookTimeout || info.State != asynq.TaskStatePending:
		t.Fatalf("asynq reads the delivery as %+v", info)
	}

	// One due now runs on asynq's server, with its payload.
	write("task-now", time.Now())
	ran := make(chan []byte, 1)
	srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
		Queues: map[string]int{"async-1": 1}, TaskCheckInterval: 10 * time.Millisecond,
		DelayedTaskCheckInterval: 50 * time.Millisecond, LogLevel: asynq.FatalLevel,
	})
	mux := asynq.NewServeMux()
	mux.HandleFunc(tasks.TypeHTTP, func(_ context.Context, t *asynq.Task) error {
		ran <- t.Payload()
		return nil
	})
	if err := srv.Start(mux); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	select {
	case got := <-ran:
		if string(got) != string(task.Payload()) {
			t.Fatalf("asynq ran the task with %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("asynq did not run the task")
	}
}

func drop(t *testing.T, rdb *redis.Client, id string) {
	t.Helper()
	if _, err := luascript.Pipelined(t.Context(), rdb, func(p redis.Pipeliner) error {
		dropTask(t.Context(), p, "async-1", id)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
