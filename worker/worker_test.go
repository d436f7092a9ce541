package worker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/config"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/jobs"
	"github.com/reliapi/reliapi/tasks"
	"github.com/reliapi/reliapi/worker"
)

// bundle is a running worker on a private Redis in front of a fake
// upstream, with the store and queue client a test drives it through.
type bundle struct {
	rdb      *redis.Client
	upstream *testenv.Upstream
	store    *jobs.Store
	queue    *asynq.Client
	reg      *prometheus.Registry
}

func setup(t *testing.T) *bundle {
	t.Helper()
	r := testenv.StartRedis(t)
	b := &bundle{rdb: r.Client(t), upstream: testenv.StartUpstream(t), reg: prometheus.NewRegistry()}
	settings, err := config.Parse([]byte(fmt.Sprintf(`
worker: {concurrency: 4, task_check_interval: 1ms, shutdown_timeout: 1s}
targets:
  up:
    base_url: %q
    retry_matrix: {"5xx": {attempts: 2, backoff: fixed, base_s: 0.01}}
`, b.upstream.URL)), "test.yaml", func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	w, err := worker.New(worker.Config{Redis: b.rdb, Settings: settings.ForWorker(), Registerer: b.reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	b.store = jobs.NewStore(b.rdb, jobs.Config{})
	b.queue = asynq.NewClientFromRedisClient(b.rdb)
	return b
}

// submit creates a job for target and path and enqueues its task, as the
// api does.
func (b *bundle) submit(t *testing.T, target, path string, timeout time.Duration) (id, taskID string) {
	t.Helper()
	id = fmt.Sprintf("job_%032x", time.Now().UnixNano())
	taskID = "task-" + id
	if _, _, err := b.store.Create(t.Context(), jobs.New{ID: id, Tenant: "t", Kind: reliapi.KindHTTP, Target: target, Queue: tasks.QueueAsync, TaskID: taskID}, nil); err != nil {
		t.Fatal(err)
	}
	b.enqueue(t, id, target, path, taskID, timeout)
	return id, taskID
}

func (b *bundle) enqueue(t *testing.T, id, target, path, taskID string, timeout time.Duration) {
	t.Helper()
	task, err := tasks.New(tasks.Payload{JobID: id, Tenant: "t", Target: target, HTTP: &tasks.HTTPRequest{Method: "GET", Path: path}},
		tasks.Placement{Queue: tasks.QueueAsync, TaskID: taskID, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.queue.Enqueue(task); err != nil {
		t.Fatal(err)
	}
}

// finished waits (bounded) until the job is terminal.
func (b *bundle) finished(t *testing.T, id string) *reliapi.Job {
	t.Helper()
	var j *reliapi.Job
	testenv.Eventually(t, 10*time.Second, "job "+id+" to finish", func() bool {
		j, _ = b.store.Get(t.Context(), "t", id)
		return j != nil && j.Status.Terminal()
	})
	return j
}

// drained waits (bounded) until asynq holds no pending or active task.
func (b *bundle) drained(t *testing.T) {
	t.Helper()
	ins := asynq.NewInspectorFromRedisClient(b.rdb)
	testenv.Eventually(t, 10*time.Second, "the queue to drain", func() bool {
		q, err := ins.GetQueueInfo(tasks.QueueAsync)
		return err == nil && q.Pending == 0 && q.Active == 0
	})
}

func TestJobOutcomesAndMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ok, _ := b.submit(t, "up", "/get", time.Minute)
	bad, _ := b.submit(t, "up", "/status/500", time.Minute)
	gone, _ := b.submit(t, "removed", "/get", time.Minute)

	if j := b.finished(t, ok); j.Status != reliapi.JobSucceeded || j.Attempts != 1 || !strings.Contains(string(j.Result.Data), `"status_code":200`) {
		t.Errorf("ok job: %+v %s", j, j.Result.Data)
	}
	if j := b.finished(t, bad); j.Status != reliapi.JobFailed || j.Result.Error.Code != reliapi.CodeServerError || j.Result.Meta.Retries != 1 {
		t.Errorf("failing job: %+v %+v", j, j.Result)
	}
	if j := b.finished(t, gone); j.Status != reliapi.JobFailed || j.Result.Error.Code != reliapi.CodeNotFound {
		t.Errorf("job for an unconfigured target: %+v %+v", j, j.Result)
	}
	// A worker counts an end just after recording it: the last job's
	// record can be read a moment before its count.
	err := testenv.Poll(t.Context(), 10*time.Second, "the metrics to count every end", func(context.Context) error {
		checks := map[string][2]float64{
			"succeeded jobs": {counter(t, b.reg, "reliapi_jobs_total", "succeeded"), 1},
			"failed jobs":    {counter(t, b.reg, "reliapi_jobs_total", "failed"), 2},
			"ok attempts":    {counter(t, b.reg, "reliapi_upstream_attempts_total", "ok", "up"), 1},
			"5xx attempts":   {counter(t, b.reg, "reliapi_upstream_attempts_total", "5xx", "up"), 2},
			"upstream /get":  {float64(b.upstream.Calls("/get")), 1},
			"upstream /500":  {float64(b.upstream.Calls("/status/500")), 2},
		}
		var wrong []string
		for name, c := range checks {
			if c[0] != c[1] {
				wrong = append(wrong, fmt.Sprintf("%s = %v, want %v", name, c[0], c[1]))
			}
		}
		if len(wrong) > 0 {
			return errors.New(strings.Join(wrong, "; "))
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// counter reads one series of a counter family from reg; 0 when absent.
func counter(t *testing.T, reg *prometheus.Registry, name string, labelValues ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i, l := range m.GetLabel() {
				if i >= len(labelValues) || l.GetValue() != labelValues[i] {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestDeliveriesThatMustNotRun: canceled jobs, stale tasks and undecodable
// payloads never reach the upstream.
func TestDeliveriesThatMustNotRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A canceled job whose task is still queued.
	canceled := fmt.Sprintf("job_%032x", 1)
	b.store.Create(t.Context(), jobs.New{ID: canceled, Tenant: "t", Kind: reliapi.KindHTTP, Target: "up", TaskID: "task-1"}, nil)
	if _, err := b.store.Cancel(t.Context(), "t", canceled); err != nil {
		t.Fatal(err)
	}
	b.enqueue(t, canceled, "up", "/anything/canceled", "task-1", time.Minute)
	// A task from an earlier incarnation of a job: its task ID is not the
	// job's.
	current := fmt.Sprintf("job_%032x", 2)
	b.store.Create(t.Context(), jobs.New{ID: current, Tenant: "t", Kind: reliapi.KindHTTP, Target: "up", TaskID: "task-current"}, nil)
	b.enqueue(t, current, "up", "/anything/stale", "task-stale", time.Minute)
	// Garbage.
	if _, err := b.queue.Enqueue(asynq.NewTask(tasks.TypeHTTP, []byte(`{"v":99}`)), asynq.Queue(tasks.QueueAsync)); err != nil {
		t.Fatal(err)
	}
	b.drained(t)
	if n := b.upstream.Total(); n != 0 {
		t.Fatalf("upstream called %d times", n)
	}
	if j, _ := b.store.Get(t.Context(), "t", current); j.Status != reliapi.JobQueued || j.Attempts != 0 {
		t.Fatalf("job touched by a stale task: %+v", j)
	}
	ins := asynq.NewInspectorFromRedisClient(b.rdb)
	if q, err := ins.GetQueueInfo(tasks.QueueAsync); err != nil || q.Archived != 1 {
		t.Fatalf("undecodable task not archived: %+v %v", q, err)
	}
}

// TestRedeliveryRunsAgain: after a lost lease asynq delivers the same task
// again; a job still "running" under that task runs again (at least once).
func TestRedeliveryRunsAgain(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := fmt.Sprintf("job_%032x", 3)
	b.store.Create(t.Context(), jobs.New{ID: id, Tenant: "t", Kind: reliapi.KindHTTP, Target: "up", TaskID: "task-3"}, nil)
	if _, run, err := b.store.Start(t.Context(), id, jobs.Claim{TaskID: "task-3"}, nil); !run || err != nil {
		t.Fatalf("first start: %v %v", run, err)
	}
	b.enqueue(t, id, "up", "/get", "task-3", time.Minute)
	if j := b.finished(t, id); j.Status != reliapi.JobSucceeded || j.Attempts != 2 {
		t.Fatalf("redelivered job: %+v", j)
	}
}

// TestJobDeadline: a job whose upstream outlives the task's timeout fails
// with TIMEOUT before asynq's deadline, instead of being retried by asynq.
func TestJobDeadline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.upstream.Handle("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	id, _ := b.submit(t, "up", "/hang", 3*time.Second)
	j := b.finished(t, id)
	if j.Status != reliapi.JobFailed || j.Result.Error.Code != reliapi.CodeTimeout {
		t.Fatalf("job: %+v %+v", j, j.Result)
	}
	// It may use its 3 s, not the margin asynq keeps beyond them.
	if took := j.CompletedAt.Sub(j.StartedAt); took > 3*time.Second+tasks.RecordMargin/2 {
		t.Fatalf("the job ran %v, into the margin past its 3 s", took)
	}
}
