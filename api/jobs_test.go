package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reliapi/reliapi/internal/testenv"
)

func TestCreateAndListJobs(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	var ids []string
	for i := range 5 {
		path := "/get"
		if i%2 == 1 {
			path = "/status/500"
		}
		r := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": path}})
		if r.status != 202 || r.header.Get("Location") != "/v1/jobs/"+r.body["id"].(string) || r.body["kind"] != "http" {
			t.Fatalf("create: %d %s", r.status, r.raw)
		}
		ids = append(ids, r.body["id"].(string))
	}
	for _, id := range ids {
		s.waitJob(id)
	}

	// Newest first, two per page, every job exactly once.
	var seen []string
	cursor := ""
	for range 10 {
		r := s.do("GET", "/v1/jobs?limit=2&cursor="+cursor, nil)
		if r.status != 200 || r.body["object"] != "list" {
			t.Fatalf("list: %d %s", r.status, r.raw)
		}
		for _, j := range r.body["data"].([]any) {
			seen = append(seen, get(j, "id").(string))
		}
		next, _ := r.body["next_cursor"].(string)
		if (next != "") != (r.body["has_more"] == true) {
			t.Fatalf("has_more and next_cursor disagree: %s", r.raw)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	want := []string{ids[4], ids[3], ids[2], ids[1], ids[0]}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("listed %v, want %v", seen, want)
	}

	failed := s.do("GET", "/v1/jobs?status=failed", nil)
	data := failed.body["data"].([]any)
	if len(data) != 2 {
		t.Fatalf("failed jobs: %s", failed.raw)
	}
	for _, j := range data {
		if get(j, "status") != "failed" || get(j, "error", "code") != "SERVER_ERROR" || get(j, "result", "success") != false {
			t.Errorf("failed job: %v", j)
		}
	}
}

// TestJobKeyAtTheTopLevel: POST /v1/jobs takes its idempotency key at the
// top level as well as in a header or inside request; the same key names
// the same job whichever way it comes, and two keys that differ are a 400.
func TestJobKeyAtTheTopLevel(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true})
	call := map[string]any{"target": "up", "method": "GET", "path": "/get"}
	top := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": call, "idempotency_key": "top"})
	header := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": call}, "Idempotency-Key", "top")
	if top.status != 202 || top.body["idempotency_key"] != "top" || header.body["id"] != top.body["id"] {
		t.Fatalf("top-level key: %d %s; header key: %s", top.status, top.raw, header.raw)
	}
	inner := map[string]any{"target": "up", "method": "GET", "path": "/get", "idempotency_key": "inner"}
	if r := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": inner, "idempotency_key": "top"}); r.status != 400 || !strings.Contains(string(r.raw), "differ") {
		t.Fatalf("two keys that differ: %d %s", r.status, r.raw)
	}
}

func TestCancelQueuedJobNeverRuns(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true})
	r := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get"}})
	id := r.body["id"].(string)
	c := s.do("POST", "/v1/jobs/"+id+"/cancel", nil)
	if c.status != 200 || c.body["status"] != "canceled" || c.body["completed_at"] == nil || get(c.body, "error", "code") != "JOB_CANCELED" {
		t.Fatalf("cancel: %d %s", c.status, c.raw)
	}
	again := s.do("POST", "/v1/jobs/"+id+"/cancel", nil)
	if again.status != 200 || again.body["status"] != "canceled" {
		t.Fatalf("second cancel: %d %s", again.status, again.raw)
	}
	// A worker arriving now finds nothing to run.
	s.startWorker()
	marker := s.do("POST", "/v1/jobs", map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/uuid"}})
	s.waitJob(marker.body["id"].(string))
	if n := s.upstream.Calls("/get"); n != 0 {
		t.Fatalf("canceled job reached the upstream %d times", n)
	}
	if got := s.do("GET", "/v1/jobs/"+id, nil); got.body["status"] != "canceled" || got.body["started_at"] != nil {
		t.Fatalf("job after worker start: %s", got.raw)
	}
}

func TestCancelRunningJobInterruptsIt(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	interrupted := make(chan struct{})
	arrived := make(chan struct{})
	s.upstream.Handle("/hang", func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		select {
		case <-r.Context().Done():
			close(interrupted)
		case <-time.After(30 * time.Second):
		}
	})
	r := s.proxy("GET", "/hang", "Prefer", "respond-async")
	id := r.body["id"].(string)
	<-arrived
	c := s.do("POST", "/v1/jobs/"+id+"/cancel", nil)
	if c.status != 200 || c.body["status"] != "canceled" {
		t.Fatalf("cancel: %d %s", c.status, c.raw)
	}
	select {
	case <-interrupted:
	case <-time.After(10 * time.Second):
		t.Fatal("the running upstream call was not interrupted")
	}
	// The worker's late outcome does not overwrite the cancellation, and a
	// synchronous replay reports it.
	eventually(t, "worker to let go of the job", func() bool {
		return strings.Contains(s.logs.String(), "outcome dropped")
	})
	if got := s.do("GET", "/v1/jobs/"+id, nil); got.body["status"] != "canceled" {
		t.Fatalf("job: %s", got.raw)
	}
	if n := s.upstream.Calls("/hang"); n != 1 {
		t.Fatalf("upstream calls = %d", n)
	}
}

func TestCanceledJobReplaysAsConflict(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{noWorker: true})
	body := map[string]any{"target": "up", "method": "GET", "path": "/get", "idempotency_key": "k-cancel"}
	r := s.do("POST", "/v1/proxy/http", body, "Prefer", "respond-async")
	s.do("POST", "/v1/jobs/"+r.body["id"].(string)+"/cancel", nil)
	replay := s.do("POST", "/v1/proxy/http", body)
	if replay.status != 409 || get(replay.body, "error", "code") != "JOB_CANCELED" || get(replay.body, "meta", "idempotent_hit") != true {
		t.Fatalf("replay: %d %s", replay.status, replay.raw)
	}
}

func TestLongPollReturnsWhenJobFinishes(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	arrived, release := blockUpstream(s, "/slow")
	r := s.proxy("GET", "/slow", "Prefer", "respond-async")
	id := r.body["id"].(string)
	<-arrived
	pending := s.do("GET", "/v1/jobs/"+id, nil)
	if pending.body["status"] != "running" || pending.header.Get("Retry-After") != "1" || pending.body["started_at"] == nil {
		t.Fatalf("running job: %v %s", pending.header, pending.raw)
	}
	done := make(chan response)
	go func() { done <- s.do("GET", "/v1/jobs/"+id+"?wait=10", nil) }()
	release()
	got := <-done
	if got.body["status"] != "succeeded" || got.body["attempts"] != 1.0 {
		t.Fatalf("long poll: %s", got.raw)
	}
}

func TestRedisOutage(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	s.needOneServer()
	if r := s.proxy("GET", "/get"); r.status != 200 {
		t.Fatalf("before outage: %d %s", r.status, r.raw)
	}
	s.redis.Stop()
	for _, path := range []string{"/v1/proxy/http", "/v1/jobs", "/readyz"} {
		start := time.Now()
		var r response
		switch path {
		case "/readyz":
			r = s.do("GET", path, nil)
		case "/v1/jobs":
			r = s.do("POST", path, map[string]any{"kind": "http", "request": map[string]any{"target": "up", "method": "GET", "path": "/get"}})
		default:
			r = s.proxy("GET", "/get")
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s took %v to answer during the outage", path, took)
		}
		if r.status != 503 || get(r.body, "error", "code") != "REDIS_UNAVAILABLE" || r.header.Get("Retry-After") == "" {
			t.Errorf("%s during outage: %d %v %s", path, r.status, r.header, r.raw)
		}
	}
	if s := s.do("GET", "/livez", nil); s.status != 200 {
		t.Errorf("livez during outage: %d", s.status)
	}
	// A scrape still answers, without the series read from Redis.
	if text := testenv.Scrape(t, s.url+"/metrics"); !strings.Contains(text, "reliapi_requests_total") || strings.Contains(text, "reliapi_queue_depth{") {
		t.Errorf("metrics during the outage:\n%s", text)
	}

	s.redis.Restart(t)
	eventually(t, "readyz after Redis returns", func() bool { return s.do("GET", "/readyz", nil).status == 200 })
	eventually(t, "a call to succeed after Redis returns", func() bool {
		return s.proxy("GET", "/get", "Prefer", "wait=5").status == 200
	})
}

func TestHealthAndMetrics(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	for path, status := range map[string]string{"/healthz": "healthy", "/livez": "alive", "/readyz": "ready", "/health": "ok"} {
		if r := s.do("GET", path, nil); r.status != 200 || r.body["status"] != status {
			t.Errorf("%s: %d %s", path, r.status, r.raw)
		}
	}
	s.proxy("GET", "/get")
	s.proxy("GET", "/status/503")
	s.proxy("GET", "/get", "Prefer", "respond-async")
	text := testenv.Scrape(t, s.url+"/metrics")
	for _, want := range []string{
		`reliapi_requests_total{mode="sync",status="200",target="up"} 1`,
		`reliapi_requests_total{mode="sync",status="503",target="up"} 1`,
		`reliapi_requests_total{mode="async",status="202",target="up"} 1`,
		`reliapi_request_duration_seconds_bucket{mode="sync"`,
		`reliapi_queue_depth{queue="sync",tenant_tier="free"} 0`,
		`reliapi_queue_depth{queue="async",tenant_tier="enterprise"}`,
		`reliapi_queue_tasks{queue="sync"}`,
		`reliapi_queue_tasks{queue="webhooks"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
