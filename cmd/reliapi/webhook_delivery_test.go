package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/hibiken/asynq"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/reliapi/reliapi/internal/testenv"
	"github.com/reliapi/reliapi/tasks"
)

// TestWebhookSurvivesWorkerKill: a worker SIGKILLed after its job ended
// but before the job's webhook went out loses nothing: the delivery is
// queued work, and another worker delivers it, signed, with the
// webhook-id it always had. (A worker killed before even queuing it is
// covered in api: TestWebhookAfterCrashBeforeEnqueue.)
func TestWebhookSurvivesWorkerKill(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	var (
		mu  sync.Mutex
		got []*http.Request
		raw [][]byte
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, raw = append(got, r), append(raw, body)
		mu.Unlock()
		w.WriteHeader(204)
	}))
	t.Cleanup(rcv.Close)
	// The first attempt waits 2 s after the job's end: the window in which
	// the worker dies.
	c := startCluster(t, 1, 1, func(cfg *testenv.Config) {
		cfg.Extra = `
webhooks:
  allow_private_networks: true
  schedule_s: [2, 0, 0]
  secrets: {default: ["` + secret + `"]}
`
	})
	status, job := call(t, http.DefaultClient, "POST", c.apis[0]+"/v1/proxy/http",
		map[string]any{"target": "up", "method": "GET", "path": "/get", "webhook": map[string]any{"url": rcv.URL + "/hook"}})
	if status != 200 {
		t.Fatalf("%d %v", status, job)
	}
	id := job["meta"].(map[string]any)["job_id"].(string)

	insp := asynq.NewInspectorFromRedisClient(c.redis.Client(t))
	waitFor(t, "the delivery to wait for its first attempt", func() bool {
		waiting, err := insp.ListRetryTasks(tasks.QueueWebhooks)
		return err == nil && len(waiting) == 1
	})
	old := c.workers[0]
	old.Kill()
	mu.Lock()
	early := len(got)
	mu.Unlock()
	if early != 0 {
		t.Fatalf("the receiver got %d deliveries before the kill; the test's window is gone", early)
	}

	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	fresh := startProc(t, "worker-2", c.env, "worker", "--config", c.cfg, "--metrics-listen", addr)
	testenv.WaitReady(t, "http://"+addr+"/readyz", fresh)
	waitFor(t, "the webhook to be delivered by the new worker", func() bool {
		_, j := call(t, http.DefaultClient, "GET", c.apis[0]+"/v1/jobs/"+id, nil)
		w, _ := j["webhook"].(map[string]any)
		return w != nil && w["status"] == "delivered"
	})
	mu.Lock()
	defer mu.Unlock()
	ref, _ := standardwebhooks.NewWebhook(secret)
	if len(got) != 1 || got[0].Header.Get("webhook-id") != "msg_"+id[len("job_"):] || ref.Verify(raw[0], got[0].Header) != nil {
		t.Fatalf("deliveries: %d, webhook-id %q", len(got), got[0].Header.Get("webhook-id"))
	}
}
