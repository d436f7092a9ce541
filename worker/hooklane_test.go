package worker_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/reliapi/reliapi"
	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/lane"
	"github.com/reliapi/reliapi/lifecycle"
	"github.com/reliapi/reliapi/tasks"
)

// hookYAML lets the fleet's workers deliver webhooks to loopback
// receivers: attempts of at most a second, so that a delivery's fallback
// task comes due 3 s after its end (twice the timeout and a second).
const hookYAML = `
webhooks:
  allow_private_networks: true
  timeout_s: 1
  schedule_s: [0, 2]
  secrets: {t: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}
`

// hookReceiver answers deliveries with the statuses it is given, in turn,
// then 204, and notes for each whether the delivery's fallback task was
// still scheduled when it came.
type hookReceiver struct {
	*httptest.Server
	mu        sync.Mutex
	answers   []int
	got       []string // webhook-id of each delivery
	scheduled []int64  // the webhooks queue's scheduled tasks at each
}

func newHookReceiver(t *testing.T, f *laneFleet, answers ...int) *hookReceiver {
	r := &hookReceiver{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n, _ := f.rdb.ZCard(req.Context(), "asynq:{"+tasks.QueueWebhooks+"}:scheduled").Result()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, req.Header.Get("webhook-id"))
		r.scheduled = append(r.scheduled, n)
		status := http.StatusNoContent
		if len(r.answers) > 0 {
			status, r.answers = r.answers[0], r.answers[1:]
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) deliveries() (ids []string, scheduled []int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...), append([]int64(nil), r.scheduled...)
}

// webhookSettled waits (bounded) until the job's webhook is no longer
// pending and returns the job.
func (f *laneFleet) webhookSettled(t *testing.T, id string, bound time.Duration) *reliapi.Job {
	t.Helper()
	var job *reliapi.Job
	testenv.Eventually(t, bound, "the webhook of "+id+" to settle", func() bool {
		j, err := f.m.Store().Get(t.Context(), "t", id)
		job = j
		return err == nil && j.WebhookStatus != "" && j.WebhookStatus != reliapi.WebhookPending
	})
	return job
}

// noWebhookTasks waits up to bound until no delivery task is left: a lane
// delivery removes its fallback with its record (in the same round trip:
// a bound well under the fallback's 3 s tells it from asynq's run of it),
// asynq removes a task it ran just after its handler recorded the
// delivery.
func (f *laneFleet) noWebhookTasks(t *testing.T, bound time.Duration) {
	t.Helper()
	var left []string
	testenv.Eventually(t, bound, "no delivery task left", func() bool {
		var err error
		left, err = f.rdb.Keys(t.Context(), "asynq:{"+tasks.QueueWebhooks+"}:t:*").Result()
		return err == nil && len(left) == 0
	})
}

// TestWebhookLane: a job's first delivery goes through the webhook lane,
// its fallback task still scheduled while it is made, and the task is
// removed with the record of the attempt.
func TestWebhookLane(t *testing.T) {
	t.Parallel()
	f := newLaneFleetWith(t, time.Second, hookYAML)
	rcv := newHookReceiver(t, f)
	f.startWorker(t)
	ids := f.submitHooked(t, 1, &reliapi.Subscription{URL: rcv.URL})
	job := f.webhookSettled(t, ids[0], 10*time.Second)
	got, scheduled := rcv.deliveries()
	if job.WebhookStatus != reliapi.WebhookDelivered || len(got) != 1 || len(job.Deliveries) != 1 {
		t.Fatalf("webhook %s after %d deliveries (%d recorded), want delivered once", job.WebhookStatus, len(got), len(job.Deliveries))
	}
	if scheduled[0] != 1 {
		t.Errorf("the delivery came with %d scheduled delivery tasks, want its fallback's: not from the lane", scheduled[0])
	}
	f.noWebhookTasks(t, time.Second)
}

// TestWebhookLaneRetry: a lane delivery whose attempt fails hands the next
// one, due later than a worker waits inline, to its fallback task, moved
// to that time; the second attempt delivers.
func TestWebhookLaneRetry(t *testing.T) {
	t.Parallel()
	f := newLaneFleetWith(t, time.Second, hookYAML)
	rcv := newHookReceiver(t, f, http.StatusServiceUnavailable)
	f.startWorker(t)
	ids := f.submitHooked(t, 1, &reliapi.Subscription{URL: rcv.URL})
	job := f.webhookSettled(t, ids[0], 20*time.Second)
	got, _ := rcv.deliveries()
	if job.WebhookStatus != reliapi.WebhookDelivered || len(got) != 2 || len(job.Deliveries) != 2 ||
		job.Deliveries[0].StatusCode != http.StatusServiceUnavailable || got[0] != got[1] {
		t.Fatalf("webhook %s after deliveries %v (%d recorded), want delivered at the second, same webhook-id", job.WebhookStatus, got, len(job.Deliveries))
	}
	f.noWebhookTasks(t, 5*time.Second)
}

// endAsWorker ends the jobs ids as a worker's Finish does, with the webhook
// lane and their fallbacks due after fallback, while no worker runs.
func (f *laneFleet) endAsWorker(t *testing.T, fallback time.Duration, ids ...string) {
	t.Helper()
	ender, err := lifecycle.New(lifecycle.Config{Redis: f.rdb, WebhookLane: fallback})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		j, err := f.m.Store().Get(t.Context(), "t", id)
		if err != nil {
			t.Fatal(err)
		}
		d := lifecycle.Delivery{Payload: tasks.Payload{JobID: id, Tenant: "t"}, Claim: lifecycle.NewClaim(j.TaskID, time.Minute)}
		if j, _, err = ender.Begin(t.Context(), d); err != nil || j == nil {
			t.Fatalf("starting job %s: %v", id, err)
		}
		if err := ender.Finish(t.Context(), d, j, &reliapi.Result{Data: []byte(`{"status_code":200}`)}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPoppedWebhookDeliveredViaFallback: deliveries taken from the webhook
// lane by a worker that died before making them, or lost with the lane's
// key, are delivered once each by their fallback tasks.
func TestPoppedWebhookDeliveredViaFallback(t *testing.T) {
	t.Parallel()
	f := newLaneFleetWith(t, time.Second, hookYAML)
	rcv := newHookReceiver(t, f)
	ids := f.submitHooked(t, 3, &reliapi.Subscription{URL: rcv.URL})
	// The jobs end as a worker ends them, before any worker takes
	// deliveries.
	f.endAsWorker(t, 3*time.Second, ids...)
	queue := tasks.QueueWebhooks
	if got, err := lane.NewHookPopper(f.rdb, queue, time.Second).Pop(t.Context(), 1); len(got) != 1 || err != nil {
		t.Fatalf("popping a delivery as the dead worker did: %v %v", got, err)
	}
	if n, err := f.rdb.Del(t.Context(), lane.HookKey(queue)).Result(); n != 1 || err != nil {
		t.Fatalf("losing the lane's key: %d %v", n, err)
	}
	f.startWorker(t)
	for _, id := range ids {
		if job := f.webhookSettled(t, id, 20*time.Second); job.WebhookStatus != reliapi.WebhookDelivered || len(job.Deliveries) != 1 {
			t.Errorf("job %s: webhook %s after %d attempts, want delivered once", id, job.WebhookStatus, len(job.Deliveries))
		}
	}
	if got, _ := rcv.deliveries(); len(got) != len(ids) {
		t.Errorf("%d deliveries, want %d", len(got), len(ids))
	}
	f.noWebhookTasks(t, 5*time.Second)
}

// TestStaleWebhookLaneEntry: a delivery that waited in the webhook lane
// longer than an attempt may take (a backlog) is not made from the lane,
// whose attempt could outlast its fallback's due time; its fallback is
// made due at once instead, and delivers it.
func TestStaleWebhookLaneEntry(t *testing.T) {
	t.Parallel()
	f := newLaneFleetWith(t, time.Second, hookYAML)
	rcv := newHookReceiver(t, f)
	ids := f.submitHooked(t, 1, &reliapi.Subscription{URL: rcv.URL})
	// Ended as a worker ends it, its fallback due in an hour.
	f.endAsWorker(t, time.Hour, ids...)
	// Its entry, as if it had waited a minute behind others.
	key := lane.HookKey(tasks.QueueWebhooks)
	got, err := lane.NewHookPopper(f.rdb, tasks.QueueWebhooks, time.Second).Pop(t.Context(), 1)
	if len(got) != 1 || err != nil {
		t.Fatalf("taking the entry: %v %v", got, err)
	}
	got[0].At = time.Now().Add(-time.Minute)
	if err := f.rdb.RPush(t.Context(), key, got[0].Encode()).Err(); err != nil {
		t.Fatal(err)
	}
	f.startWorker(t)
	job := f.webhookSettled(t, ids[0], 20*time.Second)
	deliveries, scheduled := rcv.deliveries()
	if job.WebhookStatus != reliapi.WebhookDelivered || len(deliveries) != 1 {
		t.Fatalf("webhook %s after %d deliveries, want delivered once", job.WebhookStatus, len(deliveries))
	}
	if scheduled[0] != 0 {
		t.Errorf("delivered with %d delivery tasks still scheduled: from the lane, not by its fallback", scheduled[0])
	}
	f.noWebhookTasks(t, 5*time.Second)
}
